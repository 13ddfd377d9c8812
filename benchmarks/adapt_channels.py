"""Source-free channel adaptation, measured (not a timed test): a model trained on AWGN adapted to
Rician fading without CSI (K = 3: the line-of-sight part is all the receiver knows) and to TDL-C
with LS channel estimates, each evaluated before and after adaptation on the target channel and
on the source channel (AWGN, perfect CSI). Block Rayleigh without CSI, which the issue asked
for, is no target for this receiver: its LMMSE front end estimates every coefficient as 0 there
(the channel's mean gain is 0), so nothing reaches the part that adapts.

    python benchmarks/adapt_channels.py [--model cifar10-l3] [--steps 300] [--snr 10] [--seeds 0]
        [--n-images 2000] [--data-root ../shared/datasets] [--out-dir out/adapt] [--json FILE]

Per target: per-layer PSNR and accuracy before / after on the target and on the source, and the
adaptation time (300 steps: about 3 min per target and seed on 2 CPU cores; the whole run with
``--n-images 1000`` about 10 min per seed). With several ``--seeds`` each target is adapted once
per seed (the adaptation's draws: batches, SNRs, teacher passes) and each "after" cell is the
mean over seeds ± its 95 % Student-t half-width (:func:`semcomm.stats.mean_ci95`); the test
channel draws are the same for every seed and for "before", so the interval is the spread of the
adaptation alone. Adapted models go to ``<out-dir>/<model>-<channel>-<csi>-s<seed>/`` (an existing
one is reused), sweeps beside them (resumable). ``--json`` writes the table for the docs
(``docs/results/render.py``), with every seed's numbers under ``points``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import torch

from semcomm.learn.adapt import AdaptConfig, TargetLink, adapt, save_adapted
from semcomm.data import ImageDataset, load_images
from semcomm.methods import resolve_method
from semcomm.models.checkpoint import MODEL_FILE, load_checkpoint
from semcomm.stats import format_mean_ci95
from semcomm.sweep import KEY_FIELDS, ResultsFile, run_sweep
from table_file import write_table

#: (target channel, CSI mode) pairs.
TARGETS = [("rician", "none"), ("tdl-c", "ls")]
SOURCE = ("awgn", "perfect")


def sweep(source: str, images: ImageDataset, channel: str, csi: str, snr: float, path: Path) -> dict[int, dict[str, Any]]:
    method = resolve_method(source)
    results = ResultsFile(path, {"source": source, "n_images": len(images)}, 0, KEY_FIELDS)
    return {r["layer"]: r for r in run_sweep(method, images, [channel], [csi], [snr], results, batch_size=500)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cifar10-l3")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--snr", type=float, default=10.0, help="evaluation SNR (adaptation draws 0...20 dB)")
    parser.add_argument("--seeds", default="0", help="adaptation seeds, comma-separated (each target adapted once per seed)")
    parser.add_argument("--n-images", type=int, default=2000)
    parser.add_argument("--data-root", default=os.environ.get("SEMCOMM_DATA"))
    parser.add_argument("--out-dir", type=Path, default=Path("out/adapt"))
    parser.add_argument("--json", default=None, help="also write the table to this file, for the docs")
    args = parser.parse_args()
    try:
        seeds = sorted({int(v) for v in args.seeds.split(",")})
    except ValueError:
        parser.error(f"--seeds {args.seeds!r}: whole numbers separated by commas, e.g. 0,1,2")
    rows: list[list[str]] = []
    points: list[dict[str, Any]] = []
    net, meta = load_checkpoint(args.model)
    test = load_images(net.config.dataset, args.data_root, "test")
    images = test.first(args.n_images)
    sent = torch.from_numpy(load_images(net.config.dataset, args.data_root, "train").images)
    name = Path(args.model).name
    print(f"{args.model}: {len(images)} test images at {args.snr:g} dB; PSNR [dB] / accuracy [%] per layer; "
          f"seeds {', '.join(map(str, seeds))}")
    for channel, csi in TARGETS:
        seconds: list[float] = []
        after: dict[str, list[dict[int, dict[str, Any]]]] = {"target": [], "source": []}
        for seed in seeds:
            out = args.out_dir / f"{name}-{channel}-{csi}-s{seed}"
            cfg = AdaptConfig(channel=channel, csi=csi, snr=(0.0, 20.0), steps=args.steps, seed=seed)
            if not (out / MODEL_FILE).exists():
                t0 = time.perf_counter()
                adapted, history = adapt(net, TargetLink(net, sent, cfg), cfg)
                save_adapted(out, adapted, meta, cfg, history, args.model)
                seconds.append(time.perf_counter() - t0)
            for where, (ch, mode) in (("target", (channel, csi)), ("source", SOURCE)):
                after[where].append(sweep(str(out), images, ch, mode, args.snr, out / f"sweep-{ch}-{mode}.json"))
        took = f", adapted in {sum(seconds) / len(seconds):.0f} s per seed" if seconds else ""
        print(f"\n{channel} ({csi} CSI), {args.steps} steps{took}")
        changes: dict[str, dict[int, str]] = {}
        for where, (ch, mode) in (("target", (channel, csi)), ("source", SOURCE)):
            before = sweep(args.model, images, ch, mode, args.snr, args.out_dir / f"{name}-{ch}-{mode}-before.json")
            for layer in sorted(before):
                b = before[layer]
                psnrs = [per_seed[layer]["psnr"] for per_seed in after[where]]
                accs = [per_seed[layer]["accuracy"] for per_seed in after[where]]
                points += [{"target": f"{channel}/{csi}", "on": where, "layer": layer, "seed": seed,
                            "psnr_before": b["psnr"], "accuracy_before": b["accuracy"], "psnr": p, "accuracy": a}
                           for seed, p, a in zip(seeds, psnrs, accs)]
                text = (f"{b['psnr']:.2f} → {format_mean_ci95(psnrs, 2)} dB, "
                        f"{100 * b['accuracy']:.1f} → {format_mean_ci95([100 * a for a in accs], 1)} %")
                print(f"  {where:>6} L{layer}: {text}")
                changes.setdefault(where, {})[layer] = text
        for i, layer in enumerate(sorted(changes["target"])):
            rows.append([f"{channel}, {csi} CSI" if i == 0 else "", str(layer), changes["target"][layer],
                         changes["source"][layer], (f"{sum(seconds) / len(seconds):.0f} s" if seconds else "–") if i == 0 else ""])
    seeds_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"after: mean ± 95 % CI over seeds {', '.join(map(str, seeds))}"
    write_table(args.json, ["target", "layer", "on the target", "on the source (AWGN)", "adaptation"], rows, seed=seeds[0],
                config={"model": args.model, "steps": args.steps, "snr": args.snr, "n_images": len(images), "seeds": seeds},
                notes=[f"{args.model}, first {len(images):,} test images at {args.snr:g} dB; {args.steps} adaptation "
                       f"steps (SNR drawn in 0…20 dB); PSNR and accuracy before → after ({seeds_text}); adaptation "
                       "time per seed on 2 CPU cores."],
                extra={"points": points})


if __name__ == "__main__":
    main()
