"""Sweep scaling: one CIFAR-10 sweep on the local executor and on a Dask LocalCluster.

The sweep: cifar10-l3 + linear + jpeg+ldpc, the first 1,000 CIFAR-10 test images x 11 SNRs
(0:20:2 dB) x {awgn, rayleigh-block} = 66 points (154 records), built once as a SweepPlan and
run into two results files: locally (one process, torch's default threads) and on a
LocalCluster of ``--workers`` processes (cores // workers threads each). Prints both walls, the
speed-up, the cluster's start-up and Dask's overhead per point, measured on ``--empty``
near-empty points (analog, one image) run both ways; and checks that the two files hold the
same records up to float rounding (the workers run fewer torch threads than the local process,
which changes the last bits of a convolution's sums: |ΔPSNR| ~ 1e-5 dB). Times are printed,
never asserted.

    SEMCOMM_DATA=../shared/datasets python benchmarks/sweep_scaling.py [--n-images 1000] [--snr 0:20:2]
        [--workers 2] [--empty 200] [--json FILE]

``--json`` writes the walls as a table for the docs (``docs/results/render.py``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from table_file import write_table

from semcomm.cli.parsing import parse_count, parse_snr_list
from semcomm.data import load_images
from semcomm.execute import Executor, LocalExecutor, Plan, run_plan
from semcomm.execute.dask_executor import DaskExecutor
from semcomm.methods import SSCCSpec
from semcomm.methods.analog import UncodedAnalog
from semcomm.sweep import MethodsSpec, ResultsFile, SweepPlan
from semcomm.sweep.spec import first_images

CHANNELS = ["awgn", "rayleigh-block"]
METHODS = MethodsSpec(("cifar10-l3",), ("linear", "sscc"), SSCCSpec(["jpeg"], ["ldpc"]))


def timed_run(plan: Plan[Any], path: Path, executor: Executor) -> tuple[float, list[dict[str, Any]]]:
    """Wall time of ``plan`` run into a new results file at ``path``, and the file's records."""
    start = time.perf_counter()
    run_plan(plan, ResultsFile(path, plan.config, plan.seed, plan.key_fields), executor)
    return time.perf_counter() - start, json.loads(path.read_text())["records"]


def largest_difference(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> float | None:
    """The largest difference between two files' numbers, field by field (None where the records
    differ otherwise: keys, names, counts)."""
    if len(a) != len(b):
        return None
    largest = 0.0
    for x, y in zip(a, b):
        if x.keys() != y.keys():
            return None
        for key, value in x.items():
            other = y[key]
            if isinstance(value, float) and isinstance(other, float):
                largest = max(largest, abs(value - other))
            elif isinstance(value, dict) and isinstance(other, dict):
                inner = largest_difference([value], [other])
                if inner is None:
                    return None
                largest = max(largest, inner)
            elif value != other:
                return None
    return largest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", default="1000", help="CIFAR-10 test images per point")
    parser.add_argument("--snr", default="0:20:2", help="SNR list in dB")
    parser.add_argument("--workers", default="2", help="worker processes of the LocalCluster")
    parser.add_argument("--empty", default="200", help="near-empty points that measure Dask's overhead")
    parser.add_argument("--data-root", default=None, help="data root (default $SEMCOMM_DATA)")
    parser.add_argument("--json", default=None, help="also write the walls as a table to this file, for the docs")
    args = parser.parse_args()
    workers, empty = parse_count(args.workers, "--workers"), parse_count(args.empty, "--empty")
    snrs = parse_snr_list(args.snr)
    plan = SweepPlan.from_spec(METHODS, CHANNELS, ["perfect"], snrs, seed=0, batch_size=250,
                               data_root=args.data_root, n_images=parse_count(args.n_images, "--n-images"))
    tiny = first_images(load_images("cifar10", args.data_root, "test"), 1)
    near_empty = SweepPlan([UncodedAnalog("cifar10")], tiny, ["awgn"], ["perfect"], [i / 10 for i in range(empty)])
    print(f"sweep: {', '.join(plan.method_names)} x {len(CHANNELS)} channels x {len(snrs)} SNRs on {plan.n_images} "
          f"CIFAR-10 images = {len(plan.points)} points")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        local_s, local = timed_run(plan, out / "local.json", LocalExecutor())
        empty_local_s, _ = timed_run(near_empty, out / "empty-local.json", LocalExecutor())
        start = time.perf_counter()
        with DaskExecutor(workers=workers) as dask:
            startup_s = time.perf_counter() - start
            dask_s, remote = timed_run(plan, out / "dask.json", dask)
            empty_dask_s, _ = timed_run(near_empty, out / "empty-dask.json", dask)
    points = len(plan.points)
    print(f"{'executor':<40} {'wall [s]':>10} {'per point [s]':>14}")
    print(f"{f'local (1 process, {torch.get_num_threads()} torch threads)':<40} {local_s:>10.1f} {local_s / points:>14.3f}")
    print(f"{f'Dask LocalCluster ({workers} workers)':<40} {dask_s:>10.1f} {dask_s / points:>14.3f}"
          f"   (+{startup_s:.1f} s start-up)")
    print(f"speed-up: {local_s / dask_s:.2f}x")
    print(f"Dask overhead: {1000 * (empty_dask_s - empty_local_s) / empty:.1f} ms per point "
          f"({empty} near-empty points: {empty_dask_s:.2f} s on Dask, {empty_local_s:.2f} s locally)")
    largest = largest_difference(local, remote)
    same = largest is not None and largest < 1e-3
    agreement = ("identical" if largest == 0 else f"the same up to float rounding (largest difference {largest:.1e})"
                 if same else "DIFFERENT")
    print(f"records: {agreement} ({len(local)} records)")
    overhead_ms = 1000 * (empty_dask_s - empty_local_s) / empty
    write_table(args.json, ["executor", "wall", "per point"], [
        [f"local (1 process, {torch.get_num_threads()} torch threads)", f"{local_s:.0f} s", f"{local_s / points:.2f} s"],
        [f"Dask LocalCluster ({workers} workers)", f"{dask_s:.0f} s (+{startup_s:.1f} s start-up)",
         f"{dask_s / points:.2f} s"]], seed=plan.seed,
        config={"n_images": plan.n_images, "snrs": snrs, "channels": CHANNELS, "workers": workers, "empty": empty},
        notes=[f"{points} points ({len(local)} records) of {plan.n_images:,} CIFAR-10 images; speed-up "
               f"{local_s / dask_s:.2f}×; Dask's own overhead {overhead_ms:.1f} ms per point ({empty} near-empty "
               f"points: {empty_dask_s:.2f} s on Dask, {empty_local_s:.2f} s locally); the two results files hold "
               f"{agreement} records."])
    if not same:
        raise SystemExit("the Dask results file differs from the local one")


if __name__ == "__main__":  # Dask's worker processes import this module again
    main()
