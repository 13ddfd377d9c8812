"""Multi-task training compared at one budget: every loss weighting, deep supervision with
intermediate concepts, and uncertainty-aware proxy tasks (not a timed test).

Each run trains the same ``klt-refine`` model (L = 3, the shipped model's layers, one random
layer per example and step, per-example SNR uniform in -5...20 dB over AWGN, seed 0) for the
same epochs on the same images, then is swept on the first ``--n-images`` test images. The
distortion loss is the shipped models' per-image log-MSE, and the ``fixed`` semantic weights
theirs (MNIST 0.1 / 0.2 / 0.4, CIFAR-10 0.02); ``uncertainty``, ``dwa`` and ``gradnorm`` weigh
ratios of losses and need a positive one, so they train on the MSE, next to ``equal-mse``,
their like-for-like baseline. One table: the linear analog scheme with the same layers (what
every run is before training: each learned part starts at zero) and, per run, each layer's PSNR
and accuracy at 0 / 10 / 20 dB, each layer's accuracy on the coarse concepts at 0 and 10 dB
(``coarse2`` from the layer's finest label head) and the training time; a second table, every
run's top-layer accuracy at 10 dB on two channels no run trained on (block Rayleigh with perfect
CSI, TDL-C over OFDM with LMMSE-estimated CSI); then the routes the ``klt-rmn`` runs learned.

Runs:
    weightings   fixed, equal, pcgrad, upgrad, imtl-g, gradsplit (the fixed weights, own task
                 only); on the MSE: equal-mse, uncertainty, dwa, gradnorm (uncertainty and gradnorm
                 learn their weights at their own rate, 0.05); recon + class at every layer
    ds           deep supervision, "1:coarse2,recon;2:coarse4,recon;3:class,recon" (fixed)
    proxy-attn   edges + colour cues at every layer behind uncertainty-aware gates (fixed; each
                 proxy branch's loss at --proxy-weight 0.1, the default)
    proxy-unc    the same cues, no gates, plain `uncertainty` weighting instead
    rmn          the ds layout on the recurrent modular receiver (klt-rmn, routed per task and layer)
    rmn-cost     the same with the compute penalty on the routes' depth (--route-cost 0.05)
    slim         the slimmable receiver (klt-slim, sandwich rule + CI-KD at weight 0.1), evaluated at
                 full width (at weight 1 the class heads collapsed to chance at batches of 128, and
                 at 32 learned slower: cross-entropy 1.75 after 3 epochs against 1.60 at 0.1)
    slim-nokd    the same trained by the sandwich rule alone (--no-ci-kd: the CI-KD ablation)

    python benchmarks/mtl_compare.py [--dataset mnist|cifar10] [--epochs E] [--limit N] [--seeds 0,1,2]
        [--runs fixed,ds,...] [--data-root ../shared/datasets] [--out-dir out/mtl]
        [--json FILE] [--unseen-json FILE] [--records FILE.json.gz]
        [--executor dask --workers 2 | --scheduler ADDR] [--quick]

With several ``--seeds`` every run is trained once per seed (``<out-dir>/<dataset>/<run>-s<seed>/``)
and each cell is the mean over seeds ± the half-width of its 95 % Student-t interval
(:func:`semcomm.stats.mean_ci95`). ``--json`` and ``--unseen-json`` write the two tables for the
docs (``docs/results/render.py``); ``--records`` every seed's records, which the docs' ``mtl`` views
turn into tables with intervals, rankings against ``fixed`` and figures.

Budgets (:data:`BUDGETS`, the same for every run of a dataset, in batches of 32):

- MNIST: 3 epochs of 10,000 images (about 940 steps), width 32: one seed of all 17 runs in about
  33 minutes on 2 CPU cores, one training at a time;
- CIFAR-10: 6 epochs of the first 5,000 images (940 steps), width 32: about 70 minutes per seed
  of all 17 runs, so three seeds in about 3.5 hours, resumable.

On one 2-core machine run the trainings one at a time (the default executor): two Dask workers of
one thread each took 1.6× as long for the MNIST table (5,483 s of training loop against about
3,400 s of core time for one two-thread process; measured 2026-12-07).

Steps, not images, are what the class heads need: at batches of 128 (282 steps) they had barely
left chance on MNIST (cross-entropy 2.28 after the first epoch and 1.24 after the third, 60 % at
10 dB; ``fixed``, 12,000 images per epoch, measured); at 32 the same run's cross-entropy was 1.64,
then 0.49, then 0.35. Runs and sweeps resume: a finished run is not trained again
(``<out-dir>/<dataset>/<run>-s<seed>/``; the records in ``<out-dir>/<dataset>-compare.json``).
The trainings are the points of a :class:`~semcomm.learn.grid.TrainGridPlan`: ``--executor dask``
runs them on a Dask cluster, one training per worker at a time (for a cluster, not for the cores
of one small machine).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from pathlib import Path
from typing import Any

import torch

import channels
from semcomm.data import ImageDataset, load_images
from semcomm.methods import resolve_method
from semcomm.methods.linear import LinearMethod
from semcomm.models.checkpoint import MODEL_FILE
from semcomm.sweep import KEY_FIELDS, ResultsFile, run_sweep
from semcomm.sweep.spec import first_images
from semcomm.learn import TrainConfig, train
from semcomm.learn.grid import Evaluation, TrainGridPlan
from semcomm.execute import run_plan
from semcomm.cli.execution import parse_executor
from semcomm.results import concept_accuracy
from semcomm.stats import format_mean_ci95
from semcomm.atomic import finite_json, replace_atomic, write_json_atomic
from semcomm.sweep.results_io import provenance, read_json
from table_file import command_line, write_table

#: The default layers of each dataset (the shipped models').
RATIOS = {"mnist": (3 / 98,) * 3, "cifar10": (1 / 18,) * 3}
#: The ``fixed`` weighting's semantic weight per layer (the shipped models').
SEMANTIC_WEIGHTS = {"mnist": [0.1, 0.2, 0.4], "cifar10": [0.02, 0.02, 0.02]}
PROXIES = "1:class,edges,colour,recon;2:class,edges,colour,recon;3:class,edges,colour,recon"
#: The learning rate of the learned weightings' own parameters (uncertainty, GradNorm): at the
#: model's 1e-3 Kendall's log-variances moved by 0.15 in 282 steps (distortion weight 0.54 -> 0.58,
#: measured), where an MSE of 0.005 next to a cross-entropy of 1 balances at a weight ratio of 200.
WEIGHTING_LR = 0.05
#: run name -> TrainConfig fields that differ from the common recipe.
RUNS: dict[str, dict[str, Any]] = {
    **{w: {"weighting": w} for w in ("fixed", "equal", "pcgrad", "upgrad", "imtl-g", "gradsplit")},
    "equal-mse": {"weighting": "equal", "distortion": "mse"},
    "dwa": {"weighting": "dwa", "distortion": "mse"},
    **{w: {"weighting": w, "distortion": "mse", "weighting_kwargs": {"lr": WEIGHTING_LR}} for w in ("uncertainty", "gradnorm")},
    "ds": {"weighting": "fixed", "tasks": "1:coarse2,recon;2:coarse4,recon;3:class,recon"},
    "proxy-attn": {"weighting": "fixed", "tasks": PROXIES, "proxy_attention": True},
    "proxy-unc": {"weighting": "uncertainty", "distortion": "mse", "tasks": PROXIES, "weighting_kwargs": {"lr": WEIGHTING_LR}},
    "rmn": {"weighting": "fixed", "arch": "klt-rmn", "tasks": "1:coarse2,recon;2:coarse4,recon;3:class,recon"},
    "rmn-cost": {"weighting": "fixed", "arch": "klt-rmn", "tasks": "1:coarse2,recon;2:coarse4,recon;3:class,recon",
                 "route_cost": 0.05},
    "slim": {"weighting": "fixed", "arch": "klt-slim", "ci_kd_weight": 0.1},
    "slim-nokd": {"weighting": "fixed", "arch": "klt-slim", "ci_kd": False},
}
#: Images per training step of every run.
BATCH = 32
#: The default budget of each dataset: epochs, training images per epoch (the first ones) and the
#: receiver's width, the same for every run. CIFAR-10: 6 epochs of 5,000 images (940 steps, as many as
#: MNIST's) on the fast width-32 model, so that 17 runs x 3 seeds fit in about 3.5 hours on 2 CPU
#: cores: `fixed` trains 8 epochs in 185 s (0.15 s a step; width 64 costs 2.5x as much), and the
#: 17 runs take about 30x `fixed` (MNIST, measured).
BUDGETS: dict[str, dict[str, int]] = {"mnist": {"epochs": 3, "limit": 10000, "width": 32},
                                      "cifar10": {"epochs": 6, "limit": 5000, "width": 32}}
#: ``--quick``: the code path at a toy budget (what the tests run).
QUICK = {"epochs": 1, "limit": 256, "n_images": 100}
SNRS = [0.0, 10.0, 20.0]
#: SNRs of the coarse-concept columns: do coarse concepts survive at lower SNR?
COARSE_SNRS = [0.0, 10.0]
#: Channels no run trained on: (name, CSI mode).
UNSEEN = [("rayleigh-block", "perfect"), ("tdl-c", "lmmse")]


#: The keys of :data:`RUNS` that are options of the run's architecture (``TrainConfig.options``).
OPTION_KEYS = ("proxy_attention", "route_cost", "ci_kd", "ci_kd_weight")


def config(run: str, dataset: str, epochs: int, limit: int, data_root: str | None, seed: int = 0) -> TrainConfig:
    fields = {"arch": "klt-refine", "distortion": "log-mse", **RUNS[run]}
    options = {"width": BUDGETS[dataset]["width"]} | {k: fields.pop(k) for k in OPTION_KEYS if k in fields}
    if fields.get("weighting") in ("fixed", "gradsplit"):
        fields["weighting_kwargs"] = {"semantic": SEMANTIC_WEIGHTS[dataset]}
    return TrainConfig(dataset=dataset, ratios=RATIOS[dataset], data_root=data_root, snr_train=(-5.0, 20.0), epochs=epochs,
                       batch_size=BATCH, lr=1e-3, options=options, sample_layers=True,
                       val=0, limit=limit, seed=seed, **fields)


def linear_records(dataset: str, data_root: str | None, images: ImageDataset, out_dir: Path
                   ) -> dict[tuple[str, str, float, int], dict[str, Any]]:
    """The linear analog scheme with the runs' layers (equal split, no classifier) over AWGN at
    :data:`SNRS`: every run's starting point."""
    layers = config("fixed", dataset, 1, 1, data_root).model_config().layer_symbols
    method = LinearMethod(dataset, layers, data_root)
    results = ResultsFile(out_dir / f"{dataset}-linear.json", {"n_images": len(images), "layers": list(layers)}, 0,
                          KEY_FIELDS)
    return {(r["channel"], r["csi"], r["snr_db"], r["layer"]): r
            for r in run_sweep(method, images, ["awgn"], ["perfect"], SNRS, results, batch_size=500)}


def train_run(cfg: TrainConfig, run_dir: Path) -> float:
    """Train (or finish) the run; its training-loop seconds."""
    done = (run_dir / MODEL_FILE).exists()
    history = train(cfg, run_dir, resume=done)
    return sum(h["seconds"] for h in history)


def plan_for(runs: list[str], seeds: list[int], dataset: str, epochs: int, limit: int, data_root: str | None,
             n_images: int, out_dir: Path) -> TrainGridPlan:
    """Every run × seed as one :class:`~semcomm.learn.grid.TrainGridPlan`: AWGN at :data:`SNRS` and
    the :data:`UNSEEN` channels at 10 dB, for every run."""
    evaluations = [Evaluation(("awgn",), ("perfect",), tuple(SNRS))]
    evaluations += [Evaluation((c,), (m,), (10.0,)) for c, m in UNSEEN]
    return TrainGridPlan({run: config(run, dataset, epochs, limit, data_root) for run in runs}, seeds, out_dir / dataset,
                         n_images, evaluations)


Records = dict[tuple[str, str, float, int], dict[str, Any]]


def cell(values: list[float | None], scale: float = 1.0, digits: int = 2) -> str:
    """The mean over seeds (± the 95 % half-width with several seeds) of the known values times
    ``scale``, ``–`` where none is known."""
    return format_mean_ci95([scale * v for v in values if v is not None], digits)


def table(rows: dict[str, tuple[list[Records], list[float]]], dataset: str, n: int, json_path: str | None,
          unseen_path: str | None, seeds: list[int], budget: dict[str, Any]) -> None:
    """Print (and with paths, write) the comparison and the unseen-channel table: per run and
    layer, PSNR and accuracy at :data:`SNRS`, coarse2 accuracy at :data:`COARSE_SNRS`, the
    top layer's accuracy on :data:`UNSEEN` channels, training seconds; over ``seeds``."""
    columns = ["run", *(f"PSNR L1 / L2 / L3 [dB], {s:g} dB" for s in SNRS),
               *(f"accuracy L1 / L2 / L3 [%], {s:g} dB" for s in SNRS),
               *(f"coarse2 L1 / L2 / L3 [%], {s:g} dB" for s in COARSE_SNRS), "train s"]
    out, unseen_rows = [], []
    for run, (per_seed, seconds) in rows.items():
        def layers(metric: Any, snr: float, scale: float = 1.0, digits: int = 2) -> str:
            return " / ".join(cell([metric(r["awgn", "perfect", snr, l]) for r in per_seed], scale, digits)
                              for l in (1, 2, 3))
        out.append([f"`{run}`", *(layers(lambda r: r["psnr"], s) for s in SNRS),
                    *(layers(lambda r: r["accuracy"], s, 100, 1) for s in SNRS),
                    *(layers(lambda r: concept_accuracy(r, "coarse2"), s, 100, 1) for s in COARSE_SNRS),
                    cell(list(seconds), digits=0) if seconds else "–"])
        if any(("awgn", "perfect", 10.0, 3) in r and all((c, m, 10.0, 3) in r for c, m in UNSEEN) for r in per_seed):
            accs = [[r[key]["accuracy"] for r in per_seed]
                    for key in [("awgn", "perfect", 10.0, 3), *((c, m, 10.0, 3) for c, m in UNSEEN)]]
            drops = [[u - a for u, a in zip(unseen, accs[0])] for unseen in accs[1:]]
            unseen_rows.append([f"`{run}`", *(cell(a, 100, 1) + " %" for a in accs),
                                " / ".join(cell(d, 100, 1) for d in drops)])
    seeds_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"mean ± 95 % CI over seeds {', '.join(map(str, seeds))}"
    print(f"\n{dataset}: {n} test images, {seeds_text}; per layer (L1 / L2 / L3)")
    unseen_columns = ["run", "AWGN", *(f"{c} ({m})" for c, m in UNSEEN), "drop [%], " + " / ".join(c for c, _ in UNSEEN)]
    for head, body in ((columns, out), (unseen_columns, unseen_rows)):
        print("\n" + "\n".join("| " + " | ".join(row) + " |" for row in [head, *body]))
    config = {"dataset": dataset, "n_images": n, "seeds": seeds, **budget}
    note = (f"{dataset}, first {n:,} test images, AWGN with perfect CSI unless named; {seeds_text}; "
            f"{budget['epochs']} epochs × {budget['limit']:,} images per run, batches of {BATCH}.")
    write_table(json_path, columns, out, seed=seeds[0], config=config, notes=[note])
    write_table(unseen_path, unseen_columns, unseen_rows, seed=seeds[0], config=config,
                notes=[note + " Top layer at 10 dB."])


def routes(run_dir: Path, images: ImageDataset, cache: Path, snr_db: float = 10.0, n: int = 500) -> dict[str, Any]:
    """Print and return the routes a ``klt-rmn`` run learned: per task and layer, each module's
    connection rate and the trunk depth the task runs, on the first ``n`` test images over AWGN at
    ``snr_db`` (``{"snr_db", "n_images", "tasks": {task: [{"connections": [M], "depth": [1]}, ...]}}``).

    Measured from the run's model where its folder holds one, and kept in ``cache`` (a JSON file
    beside the results, by folder name); where the folder is gone (a grid resumed elsewhere from
    its results files) the cached routes are used."""
    known: dict[str, Any] = read_json(cache) if cache.exists() else {}
    if (run_dir / MODEL_FILE).exists():
        model = resolve_method(str(run_dir)).model
        x = torch.from_numpy(images.images[:n]).float() / 255.0  # [n, C, H, W]
        with torch.inference_mode():
            sent = model.send(x, channels.get("awgn"), snr_db, generator=torch.Generator().manual_seed(0))
            known[run_dir.name] = {"snr_db": snr_db, "n_images": x.shape[0],
                                   "tasks": model.routes(sent.c_hat, sent.noise_var)}
        write_json_atomic(cache, known)
    elif run_dir.name not in known:
        raise SystemExit(f"error: no model in {run_dir} and no routes of it in {cache}: train it again "
                         "(remove its records from the results file)")
    result = known[run_dir.name]
    print(f"\n{run_dir.name}: learned routes at {result['snr_db']:g} dB ({result['n_images']} test images): per layer, "
          "the rate at which each of the 4 modules feeds the task's decoder, and the trunk depth it runs [modules]")
    for task, layers in result["tasks"].items():
        cells = "   ".join(f"L{l + 1}: {' '.join(f'{c:.2f}' for c in r['connections'])} (depth {r['depth'][0]:.2f})"
                           for l, r in enumerate(layers))
        print(f"{task:>8}  {cells}")
    return result


def write_records(path: str | None, records: list[dict[str, Any]], linear: Records, route_reports: dict[str, Any],
                  config: dict[str, Any]) -> None:
    """Write the comparison's per-seed records for the docs (``docs/results/render.py``, views
    ``mtl`` and ``mtl-unseen``): every training's sweep records (``run``, ``seed``, ``train_s``
    and the metrics), the linear scheme's, the routes of the ``klt-rmn`` runs (seed 0) and what
    made them (provenance, the command line); gzipped where ``path`` ends in ``.gz``."""
    if path is None:
        return
    body = provenance(config, config["seeds"][0]) | {"command": command_line(), "records": records,
                                                     "linear": list(linear.values()), "routes": route_reports}
    text = json.dumps(finite_json(body), indent=1, allow_nan=False)
    if path.endswith(".gz"):
        replace_atomic(path, lambda f: f.write(gzip.compress(text.encode(), mtime=0)), mode="wb")
    else:
        replace_atomic(path, lambda f: f.write(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", choices=sorted(RATIOS))
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default: the dataset's, BUDGETS)")
    parser.add_argument("--limit", type=int, default=None,
                        help="training images per epoch, the first ones (default: the dataset's, BUDGETS)")
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated, from: {', '.join(RUNS)}")
    parser.add_argument("--n-images", type=int, default=2000, help="test images to evaluate on")
    parser.add_argument("--data-root", default=os.environ.get("SEMCOMM_DATA"))
    parser.add_argument("--out-dir", type=Path, default=Path("out/mtl"))
    parser.add_argument("--seeds", default="0", help="training seeds, comma-separated (each run trained once per seed)")
    parser.add_argument("--json", default=None, help="also write the comparison table to this file, for the docs")
    parser.add_argument("--unseen-json", default=None, help="also write the unseen-channel table to this file")
    parser.add_argument("--records", default=None,
                        help="also write every training's records (per seed), the linear scheme's and the learned "
                             "routes to this file (.json or .json.gz), for the docs' mtl views")
    parser.add_argument("--executor", default="local", help="where the trainings run: local or dask")
    parser.add_argument("--workers", default=None, help="with --executor dask: a LocalCluster of this many processes")
    parser.add_argument("--scheduler", default=None, help="with --executor dask: a running scheduler's address")
    parser.add_argument("--quick", action="store_true",
                        help=f"the code path at a toy budget: {QUICK['epochs']} epoch of {QUICK['limit']} images, "
                             f"{QUICK['n_images']} test images (minutes, not a measurement)")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.limit, args.n_images = QUICK["epochs"], QUICK["limit"], QUICK["n_images"]
    args.epochs = BUDGETS[args.dataset]["epochs"] if args.epochs is None else args.epochs
    args.limit = BUDGETS[args.dataset]["limit"] if args.limit is None else args.limit
    try:
        seeds = sorted({int(v) for v in args.seeds.split(",")})
    except ValueError:
        parser.error(f"--seeds {args.seeds!r}: whole numbers separated by commas, e.g. 0,1,2")
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = [r for r in runs if r not in RUNS]
    if unknown:
        parser.error(f"unknown run {unknown[0]!r}; choose from: {', '.join(RUNS)}")
    test = load_images(args.dataset, args.data_root, "test")
    images = first_images(test, args.n_images)
    plan = plan_for(runs, seeds, args.dataset, args.epochs, args.limit, args.data_root, len(images), args.out_dir)
    results = ResultsFile(args.out_dir / f"{args.dataset}-compare.json", plan.config, plan.seed, plan.key_fields)
    t0 = time.perf_counter()
    with parse_executor(args.executor, args.workers, args.scheduler).create() as executor:
        records = run_plan(plan, results, executor)
    print(f"{len(plan.points)} trainings ({len(runs)} runs x {len(seeds)} seeds) done in {time.perf_counter() - t0:.0f} s "
          f"(finished ones are read from {results.path})")
    linear = linear_records(args.dataset, args.data_root, images, args.out_dir)
    rows: dict[str, tuple[list[Records], list[float]]] = {"linear": ([linear], [])}
    for run in runs:
        per_seed = [{(r["channel"], r["csi"], r["snr_db"], r["layer"]): r for r in records
                     if r["run"] == run and r["seed"] == seed} for seed in seeds]
        seconds = [next(r["train_s"] for r in records if r["run"] == run and r["seed"] == seed) for seed in seeds]
        rows[run] = (per_seed, seconds)
    budget = {"epochs": args.epochs, "limit": args.limit, "batch_size": BATCH, "width": BUDGETS[args.dataset]["width"]}
    table(rows, args.dataset, len(images), args.json, args.unseen_json, seeds, budget)
    route_reports = {run: routes(plan.folder((run, seeds[0])), images, args.out_dir / f"{args.dataset}-routes.json")
                     for run in runs
                     if RUNS[run].get("arch") == "klt-rmn"}
    write_records(args.records, records, linear, route_reports,
                  {"dataset": args.dataset, "n_images": len(images), "seeds": seeds, "runs": runs, **budget})


if __name__ == "__main__":
    main()
