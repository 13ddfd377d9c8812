"""Quality of multi-resolution JSCC models against the goals of the project (not a timed test).

Evaluates each model on the full test set over AWGN (perfect CSI) at the given SNRs and prints
per-layer PSNR, SSIM and accuracy, then checks the goals:

- MNIST, L=3, 10 dB: top-layer accuracy >= 98 %, accuracy non-decreasing and PSNR rising with layer;
- CIFAR-10, L=3, total ratio 1/6, 10 dB: top-layer PSNR >= 26 dB; PSNR and accuracy rise with layer;
  and, given a single-resolution model (``--single``) of the same total ratio, the gap of the top
  layer to it (goal: within 1 dB);
- every layer: PSNR rises with SNR.

    python benchmarks/jscc_quality.py mnist-l3 cifar10-l3 [--single runs/cifar10-l1] \
        [--data-root ../shared/datasets] [--snr 0,10,20] [--out-dir out/quality]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from semcomm.data import load_images
from semcomm.methods import resolve_method
from semcomm.sweep import KEY_FIELDS, ResultsFile, parse_snr_list, run_sweep


def evaluate(source: str, data_root: str | None, snrs: list[float], out_dir: Path) -> list[dict[str, Any]]:
    method = resolve_method(source)
    images = load_images(method.dataset, data_root, "test")
    name = Path(source).name
    results = ResultsFile(out_dir / f"{name}.json", {"source": source, "n_images": len(images)}, 0, KEY_FIELDS)
    return run_sweep(method, images, ["awgn"], ["perfect"], snrs, results, batch_size=500)


def table(source: str, records: list[dict[str, Any]]) -> None:
    print(f"\n{source}: {records[0]['n_images']} test images, AWGN, perfect CSI")
    print(f"{'SNR':>5} {'layer':>5} {'ratio':>7} {'PSNR [dB]':>14} {'SSIM':>7} {'accuracy':>9}")
    for r in records:
        print(f"{r['snr_db']:5g} {r['layer']:5d} {r['ratio']:7.4f} {r['psnr']:8.2f} ± {r['psnr_ci95']:.2f} "
              f"{r['ssim']:7.4f} {100 * r['accuracy']:8.2f}%")


def at(records: list[dict[str, Any]], snr: float) -> list[dict[str, Any]]:
    return sorted((r for r in records if r["snr_db"] == snr), key=lambda r: r["layer"])


def check(name: str, ok: bool, detail: str) -> None:
    print(f"  [{'PASS' if ok else 'FAIL'}] {name}: {detail}")


def goals(records: list[dict[str, Any]], snrs: list[float], single: list[dict[str, Any]] | None) -> None:
    dataset = records[0]["dataset"]
    ten = at(records, 10.0)
    psnrs, accs = [r["psnr"] for r in ten], [r["accuracy"] for r in ten]
    print(f"goals ({dataset}):")
    if dataset == "mnist":
        check("top-layer accuracy >= 98 % at 10 dB", accs[-1] >= 0.98, f"{100 * accs[-1]:.2f} %")
        check("accuracy non-decreasing with layer at 10 dB", all(b >= a for a, b in zip(accs, accs[1:])),
              " -> ".join(f"{100 * a:.2f}" for a in accs))
    else:
        check("top-layer PSNR >= 26 dB at 10 dB", psnrs[-1] >= 26.0, f"{psnrs[-1]:.2f} dB")
        check("accuracy rises with layer at 10 dB", all(b > a for a, b in zip(accs, accs[1:])),
              " -> ".join(f"{100 * a:.2f}" for a in accs))
    check("PSNR rises with layer at 10 dB", all(b > a for a, b in zip(psnrs, psnrs[1:])),
          " -> ".join(f"{p:.2f}" for p in psnrs))
    for layer in sorted({r["layer"] for r in records}):
        curve = [next(r["psnr"] for r in records if r["layer"] == layer and r["snr_db"] == s) for s in snrs]
        check(f"layer {layer} PSNR rises with SNR", all(b > a for a, b in zip(curve, curve[1:])),
              " -> ".join(f"{p:.2f}" for p in curve))
    if single is not None:
        gap = at(single, 10.0)[-1]["psnr"] - psnrs[-1]
        check("top layer within 1 dB of the single-resolution model at 10 dB", gap <= 1.0, f"gap {gap:.2f} dB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="pretrained names or run directories")
    parser.add_argument("--single", help="single-resolution model of the same total ratio (CIFAR-10 goal)")
    parser.add_argument("--data-root", default=os.environ.get("SEMCOMM_DATA"))
    parser.add_argument("--snr", default="0,10,20")
    parser.add_argument("--out-dir", type=Path, default=Path("out/quality"))
    args = parser.parse_args()
    snrs = parse_snr_list(args.snr)
    single = evaluate(args.single, args.data_root, snrs, args.out_dir) if args.single else None
    if single is not None:
        table(args.single, single)
    for source in args.models:
        records = evaluate(source, args.data_root, snrs, args.out_dir)
        table(source, records)
        goals(records, snrs, single if records[0]["dataset"] == "cifar10" else None)


if __name__ == "__main__":
    main()
