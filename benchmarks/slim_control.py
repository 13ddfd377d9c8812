"""Controllability of the slimmable receiver (``klt-slim``, after Aich et al., ICCV 2023): each
task's metric across receiver FLOPs budgets and task preferences, with and without CI-KD (not a
timed test).

The two models are ``benchmarks/mtl_compare.py``'s runs ``slim`` (sandwich rule + CI-KD) and
``slim-nokd`` (sandwich rule alone), trained here at that script's budget if they are missing
(same out-dir, so a model trained by either script serves both). For each model:

1. the performance table of :func:`semcomm.models.klt_slim.measure_table` is measured once on
   held-out training images (the last ``--n-val`` of the split, which ``--limit`` leaves unused):
   top-layer PSNR (``recon``) and accuracy (``class``) at ``--snr`` dB over AWGN, for every trunk
   and decoder width;
2. for each budget (a fraction of the full receiver's FLOPs) and each preference,
   :func:`~semcomm.models.klt_slim.choose_widths` picks the configuration, which is evaluated on the
   first ``--n-images`` test images (same channel draws for every configuration).

Controllability shows as: accuracy rising from recon-first to class-first at a fixed budget
(PSNR falling), and both rising with the budget. Each model's ``feature_spread`` is the share of its
pooled trunk feature's energy that varies across test images (:func:`semcomm.stats.varying_share`):
CI-KD's target comes from the same shared weights, so a feature that ignores the image meets it,
and a spread near 0 shows the class head was left nothing to read.

    python benchmarks/slim_control.py [--dataset mnist] [--epochs E] [--limit N]
        [--snr 10] [--n-images 2000] [--n-val 2000] [--data-root ../shared/datasets] [--out-dir out/mtl]
        [--json FILE]

``--json`` writes the table for the docs (``docs/results/render.py``): a row per budget and
preference, per model the widths chosen, their FLOPs and the scores.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
from pathlib import Path
from typing import Any

import torch

import channels
from mtl_compare import BUDGETS as TRAIN_BUDGETS, config, train_run
from table_file import write_table
from semcomm.data import ImageDataset, load_images
from semcomm.metrics import correct, psnr
from semcomm.methods import resolve_method
from semcomm.models.klt_slim import (WIDTHS, KLTSlimJSCC, Table, Widths, choose_widths, measure_table, preference_score,
                                     receiver_flops)
from semcomm.stats import varying_share
from semcomm.sweep.spec import first_images
from semcomm.tasks import RECON

#: Receiver budgets, as fractions of the full-width receiver's FLOPs.
BUDGETS = (0.3, 0.5, 0.75, 1.0)
#: Task preferences (each in [0, 1]; a decoder's width follows its task's preference).
PREFERENCES = {
    "recon-first": {RECON: 1.0, "class": 0.25},
    "balanced": {RECON: 0.5, "class": 0.5},
    "class-first": {RECON: 0.25, "class": 1.0},
}
RUNS = {"slim": "CI-KD", "slim-nokd": "no CI-KD"}


def top_layer_scores(model: KLTSlimJSCC, images: ImageDataset, snr_db: float, seed: int = 0,
                     batch_size: int = 500) -> dict[str, float]:
    """Mean top-layer PSNR (8-bit, per image) and accuracy of ``model`` as configured, over AWGN
    at ``snr_db`` with perfect CSI; the channel draws depend on ``seed`` only."""
    awgn = channels.get("awgn")
    generator = torch.Generator().manual_seed(seed)
    total_psnr, total_correct = 0.0, 0
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(images.images[start : start + batch_size]).float() / 255.0  # [B, C, H, W]
        labels = torch.from_numpy(images.labels[start : start + batch_size])  # [B]
        with torch.inference_mode():
            out = model(x, awgn, snr_db, csi="perfect", generator=generator)
        total_psnr += float(psnr(out.recon[-1], x).sum())
        total_correct += int(correct(out.tasks[-1]["class"], labels).sum())
    return {RECON: total_psnr / len(images), "class": total_correct / len(images)}


def feature_spread(model: KLTSlimJSCC, images: ImageDataset, snr_db: float, seed: int = 0) -> float:
    """:func:`~semcomm.stats.varying_share` of the top layer's pooled trunk feature (what the class
    head reads) at full width over AWGN at ``snr_db``, on the first 500 of ``images``: near 0 where
    the feature is the same for every image (collapsed: the head can only guess)."""
    x = torch.from_numpy(images.images[:500]).float() / 255.0  # [B, C, H, W]
    before = model.widths
    model.set_widths(Widths())
    with torch.inference_mode():
        out = model(x, channels.get("awgn"), snr_db, csi="perfect", generator=torch.Generator().manual_seed(seed))
    model.set_widths(before)
    return varying_share(out.features[-1])


def best_within(model: KLTSlimJSCC, budget: float, preferences: dict[str, float], table: Table,
                flops: dict[tuple[Any, ...], int]) -> Widths | None:
    """The oracle: among every trunk and decoder width (not only the decoder widths the
    preferences give) that fits ``budget`` FLOPs, the one with the best preference score on
    ``table`` (measured on the test images); None if none fits. ``flops`` caches
    :func:`receiver_flops` per configuration."""
    tasks = model.decoder_tasks
    configs = [Widths(trunk, dict(zip(tasks, ws))) for trunk in WIDTHS for ws in itertools.product(WIDTHS, repeat=len(tasks))]
    def key(w: Widths) -> tuple[Any, ...]:
        return (w.trunk, *sorted(w.decoders.items()))

    for w in configs:
        if key(w) not in flops:
            flops[key(w)] = receiver_flops(model, w)
    fitting = [w for w in configs if flops[key(w)] <= budget]
    return max(fitting, key=lambda w: preference_score(model, w, preferences, table)) if fitting else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "cifar10"])
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default: mtl_compare's for the dataset)")
    parser.add_argument("--limit", type=int, default=None, help="training images per epoch (default: mtl_compare's)")
    parser.add_argument("--snr", type=float, default=10.0, help="AWGN SNR [dB] of the table and the evaluation")
    parser.add_argument("--n-images", type=int, default=2000, help="test images to evaluate on")
    parser.add_argument("--n-val", type=int, default=2000, help="held-out training images the table is measured on")
    parser.add_argument("--data-root", default=os.environ.get("SEMCOMM_DATA"))
    parser.add_argument("--out-dir", type=Path, default=Path("out/mtl"))
    parser.add_argument("--json", default=None, help="also write the table to this file, for the docs")
    args = parser.parse_args()
    args.epochs = TRAIN_BUDGETS[args.dataset]["epochs"] if args.epochs is None else args.epochs
    args.limit = TRAIN_BUDGETS[args.dataset]["limit"] if args.limit is None else args.limit
    cells: dict[tuple[float, str], dict[str, str]] = {}
    points: list[dict[str, Any]] = []
    spread: dict[str, float] = {}
    train_split = load_images(args.dataset, args.data_root, "train")
    if args.limit + args.n_val > len(train_split):
        parser.error(f"--limit {args.limit} + --n-val {args.n_val} exceed the {len(train_split)} training images")
    val = dataclasses.replace(train_split, images=train_split.images[-args.n_val :],
                              labels=train_split.labels[-args.n_val :])
    test = first_images(load_images(args.dataset, args.data_root, "test"), args.n_images)

    print(f"{args.dataset}: top layer at {args.snr:g} dB (AWGN), {len(test)} test images; table measured on "
          f"{len(val)} held-out training images")
    print(f"{'model':>9} {'budget':>6} {'preference':>12} {'trunk':>5} {'recon':>5} {'class':>5} "
          f"{'FLOPs':>6} {'PSNR':>6} {'acc. %':>6}")
    for run, label in RUNS.items():
        run_dir = args.out_dir / args.dataset / f"{run}-s0"  # mtl_compare's run of seed 0 (TrainGridPlan.folder)
        train_run(config(run, args.dataset, args.epochs, args.limit, args.data_root), run_dir)
        model = resolve_method(str(run_dir)).model
        table = measure_table(model, lambda m: top_layer_scores(m, val, args.snr))
        test_table = measure_table(model, lambda m: top_layer_scores(m, test, args.snr))  # for the oracle
        full = receiver_flops(model, Widths())
        spread[run] = feature_spread(model, test, args.snr)
        print(f"{label:>9}: {100 * spread[run]:.1f} % of the pooled trunk feature's energy varies across images")
        flops_cache: dict[tuple[Any, ...], int] = {}
        for budget in BUDGETS:
            for name, preferences in PREFERENCES.items():
                try:
                    widths = choose_widths(model, budget * full, preferences, table)
                except ValueError as err:  # a budget below the narrowest trunk with these decoders
                    print(f"{label:>9} {budget:6.2f} {name:>12}  -- {err}")
                    cells.setdefault((budget, name), {})[run] = "below the narrowest configuration"
                    continue
                model.set_widths(widths)
                scores = top_layer_scores(model, test, args.snr)
                flops = receiver_flops(model, widths) / full
                print(f"{label:>9} {budget:6.2f} {name:>12} {widths.trunk:5.2f} {widths.decoder(RECON):5.2f} "
                      f"{widths.decoder('class'):5.2f} {flops:6.2f} {scores[RECON]:6.2f} {100 * scores['class']:6.2f}",
                      flush=True)
                cells.setdefault((budget, name), {})[run] = (
                    f"{widths.trunk:.2f} / {widths.decoder(RECON):.2f} / {widths.decoder('class'):.2f}: "
                    f"{flops:.2f} FLOPs, {scores[RECON]:.2f} dB, {100 * scores['class']:.1f} %")
                best = best_within(model, budget * full, preferences, test_table, flops_cache)
                assert best is not None  # the pick fits, so something does
                share = (preference_score(model, widths, preferences, test_table)
                         / preference_score(model, best, preferences, test_table))
                best_scores = {t: test_table[best.trunk][t][best.decoder(t)] for t in (RECON, "class")}
                best_flops = receiver_flops(model, best) / full
                cells[(budget, name)][f"{run} best"] = (
                    f"{best.trunk:.2f} / {best.decoder(RECON):.2f} / {best.decoder('class'):.2f}: "
                    f"{best_scores[RECON]:.2f} dB, {100 * best_scores['class']:.1f} % ({100 * share:.1f} %)")
                points.append({"model": run, "budget": budget, "preference": name, "trunk": widths.trunk,
                               "recon_width": widths.decoder(RECON), "class_width": widths.decoder("class"),
                               "flops": flops, "psnr": scores[RECON], "accuracy": scores["class"],
                               "best": {"trunk": best.trunk, "recon_width": best.decoder(RECON),
                                        "class_width": best.decoder("class"), "flops": best_flops, "psnr": best_scores[RECON],
                                        "accuracy": best_scores["class"]}, "share_of_best": share})
        model.set_widths(Widths())
    columns = [f"{label}: {what}" for label in RUNS.values()
               for what in ("trunk / recon / class width: FLOPs, PSNR, accuracy",
                            "best within the budget: widths: PSNR, accuracy (pick's score / best's)")]
    write_table(args.json, ["budget", "preference", *columns],
                [[f"{budget:.2f}", name, *(by_run.get(key, "–") for run in RUNS for key in (run, f"{run} best"))]
                 for (budget, name), by_run in cells.items()],
                seed=0, config=vars(args) | {"out_dir": str(args.out_dir)},
                notes=[f"{args.dataset}, top layer at {args.snr:g} dB over AWGN, first {len(test):,} test images; "
                       f"widths chosen from a table measured on {len(val):,} held-out training images; FLOPs as a "
                       "fraction of the full receiver's. Best within the budget: the configuration (any trunk and "
                       "decoder widths) with the highest preference score on the test images, an oracle the controller "
                       "does not have; in brackets the pick's preference score as a share of the best's."],
                extra={"points": points, "feature_spread": spread})


if __name__ == "__main__":
    main()
