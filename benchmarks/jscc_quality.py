"""Quality of the shipped JSCC models against the linear analog reference and the project's
requirements (not a timed test).

Evaluates each model and the ``linear`` method with the model's own layers (KLT + SoftCast +
LMMSE, the same per-example power constraint and side information, accuracy from the model's
own top-layer head over a noiseless link) on the test set over AWGN with perfect CSI, and prints
per layer and SNR: ours, linear, the gap, accuracy; then PASS/FAIL for each requirement. The
linear reference splits power equally across layers; a model that splits it otherwise
(``layer_power="softcast"``) is also compared with the linear scheme of its own split (column
``lin-own``), and "the gain" is over the better of the two.

- every layer >= linear (each split) at every SNR (CIFAR-10 and MNIST);
- CIFAR-10, L = 3: top layer >= 30 dB at 10 dB (stretch: >= 31.9 dB, the published CNN
  DeepJSCC figure); accuracy rising layer by layer at 10 dB;
- MNIST, L = 3: top-layer accuracy >= 98 % at 10 dB; accuracy and PSNR rising with layer;
- with ``--single`` (a single-resolution model of the same total ratio, ``cifar10-l1``): the
  top layer within 0.5 dB of it at every SNR, and each layer's gap to it;
- with ``--reference CARD`` (a model card's JSON, e.g. the v4 ``semcomm/pretrained/cifar10-l3.json``
  from git history, or a pretrained name): every layer at every SNR within 0.1 dB of the card's
  test records or better (a retrained model holding the quality of the one it replaces).

    python benchmarks/jscc_quality.py cifar10-l3 mnist-l3 --single cifar10-l1 [--reference CARD] \
        [--data-root ../shared/datasets] [--snr=-5,0,5,10,15,20] [--n-images N] [--out-dir out/quality]
        [--precision fp32|bf16]

Results go to ``<out-dir>/<name>-<weights sha256[:12]>.json`` (and ``...-linear.json``), so a
rerun resumes and a changed model never mixes with an old one's points.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path
from typing import Any

from semcomm.cli.parsing import parse_snr_list
from semcomm.data import ImageDataset, load_images
from semcomm.methods import resolve_method
from semcomm.methods.base import Method
from semcomm.methods.jscc import JSCCMethod
from semcomm.methods.linear import LinearMethod
from semcomm.models.checkpoint import resolve_checkpoint
from semcomm.sweep import KEY_FIELDS, ResultsFile, run_sweep

Records = dict[tuple[float, int], dict[str, Any]]


def _sweep(method: Method, images: ImageDataset, snrs: list[float], path: Path, config: dict[str, Any]) -> Records:
    results = ResultsFile(path, config | {"n_images": len(images)}, 0, KEY_FIELDS)
    records = run_sweep(method, images, ["awgn"], ["perfect"], snrs, results, batch_size=500)
    return {(r["snr_db"], r["layer"]): r for r in records}


def evaluate(source: str, data_root: str | None, snrs: list[float], n_images: int | None, out_dir: Path,
             precision: str = "fp32") -> tuple[JSCCMethod, Records, dict[str, Records]]:
    """The model's records and the matching linear schemes' (by power split: ``"equal"`` and the
    model's own), by (SNR, layer)."""
    model = resolve_method(source, precision=precision)
    assert isinstance(model, JSCCMethod)
    images = load_images(model.dataset, data_root, "test")
    if n_images is not None:
        images = images.first(n_images)
    digest = hashlib.sha256(resolve_checkpoint(source).read_bytes()).hexdigest()[:12]
    stem = f"{Path(source).name}-{digest}"
    tag = "" if precision == "fp32" else f"-{precision}"
    ours = _sweep(model, images, snrs, out_dir / f"{stem}{tag}.json",
                  {"source": source, "sha256": digest} | ({"precision": precision} if tag else {}))
    lin = {}
    for power in dict.fromkeys(["equal", model.model.config.options.layer_power]):
        linear = LinearMethod(model.dataset, model.model.config.layer_symbols, data_root,
                              classifier=model.classify, classifier_name=source, layer_power=power)
        suffix = "linear" if power == "equal" else f"linear-{power}"
        lin[power] = _sweep(linear, images, snrs, out_dir / f"{stem}-{suffix}.json",
                            {"linear_for": source, "sha256": digest, "layer_power": power})
    return model, ours, lin


def best_linear(lin: dict[str, Records]) -> Records:
    """Per (SNR, layer), the record of the linear split with the higher PSNR."""
    return {key: max((records[key] for records in lin.values()), key=lambda r: r["psnr"]) for key in lin["equal"]}


def table(source: str, ours: Records, lin: dict[str, Records], single: Records | None) -> None:
    n = next(iter(ours.values()))["n_images"]
    own = [p for p in lin if p != "equal"]
    best = best_linear(lin)
    print(f"\n{source}: {n} test images, AWGN, perfect CSI; PSNR = mean of per-image PSNR on 8-bit output")
    head = (f"{'SNR':>5} {'layer':>5} {'ratio':>7} {'ours':>7} {'linear':>7}" + (f" {'lin-own':>7}" if own else "")
            + f" {'gain':>6} {'acc.':>7} {'lin acc.':>8}")
    print(head + (f" {'single':>7} {'vs single':>9}" if single else ""))
    for (snr, layer), r in sorted(ours.items()):
        li = best[snr, layer]
        row = (f"{snr:5g} {layer:5d} {r['ratio']:7.4f} {r['psnr']:7.2f} {lin['equal'][snr, layer]['psnr']:7.2f}"
               + "".join(f" {lin[p][snr, layer]['psnr']:7.2f}" for p in own)
               + f" {r['psnr'] - li['psnr']:+6.2f} {100 * r['accuracy']:6.2f}% {100 * li['accuracy']:7.2f}%")
        if single:
            s = single[snr, 1]["psnr"]
            row += f" {s:7.2f} {r['psnr'] - s:+9.2f}"
        print(row)


def check(name: str, ok: bool, detail: str) -> bool:
    print(f"  [{'PASS' if ok else 'FAIL'}] {name}: {detail}")
    return ok


def requirements(dataset: str, ours: Records, lin: dict[str, Records], snrs: list[float], single: Records | None) -> bool:
    layers = sorted({layer for _, layer in ours})
    top = layers[-1]
    print(f"requirements ({dataset}, {len(layers)} layers):")
    best = best_linear(lin)
    gaps = {key: ours[key]["psnr"] - best[key]["psnr"] for key in ours}
    worst = min(gaps, key=gaps.get)
    ok = check(f"every layer >= linear ({', '.join(lin)} power split) at every SNR", gaps[worst] >= 0,
               f"smallest gain {gaps[worst]:+.2f} dB (layer {worst[1]}, {worst[0]:g} dB)")
    if 10.0 in snrs:
        psnrs = [ours[10.0, layer]["psnr"] for layer in layers]
        accs = [ours[10.0, layer]["accuracy"] for layer in layers]
        if dataset == "cifar10":
            ok &= check("top layer >= 30 dB at 10 dB", psnrs[-1] >= 30.0, f"{psnrs[-1]:.2f} dB")
            check("(stretch) top layer >= 31.9 dB at 10 dB", psnrs[-1] >= 31.9, f"{psnrs[-1]:.2f} dB")
            ok &= check("accuracy rises layer by layer at 10 dB", all(b > a for a, b in zip(accs, accs[1:])),
                        " -> ".join(f"{100 * a:.2f}" for a in accs))
        else:
            ok &= check("top-layer accuracy >= 98 % at 10 dB", accs[-1] >= 0.98, f"{100 * accs[-1]:.2f} %")
            ok &= check("accuracy non-decreasing with layer at 10 dB", all(b >= a for a, b in zip(accs, accs[1:])),
                        " -> ".join(f"{100 * a:.2f}" for a in accs))
        ok &= check("PSNR rises with layer at 10 dB", all(b > a for a, b in zip(psnrs, psnrs[1:])),
                    " -> ".join(f"{p:.2f}" for p in psnrs))
    if single is not None:
        gap = {snr: single[snr, 1]["psnr"] - ours[snr, top]["psnr"] for snr in snrs}
        ok &= check("top layer within 0.5 dB of the single-resolution model at every SNR", max(gap.values()) <= 0.5,
                    ", ".join(f"{snr:g} dB: {g:.2f}" for snr, g in gap.items()))
    return ok


def reference_records(card: str) -> Records:
    """The test records of a model card (a JSON path, or a pretrained model's card), by (SNR, layer)."""
    import json

    path = Path(card) if card.endswith(".json") else resolve_checkpoint(card).with_suffix(".json")
    records = json.loads(path.read_text())["test_results"]["records"]
    return {(r["snr_db"], r["layer"]): r for r in records}


def against_reference(name: str, ours: Records, ref: Records, tolerance_db: float = 0.1) -> bool:
    """Each layer and SNR against the reference card's: the difference, and PASS when none is
    below ``-tolerance_db``."""
    common = sorted(set(ours) & set(ref))
    diffs = {key: ours[key]["psnr"] - ref[key]["psnr"] for key in common}
    print(f"\n{name} against the reference card ({len(common)} points): PSNR difference [dB], accuracy difference [%]")
    for (snr, layer) in common:
        acc = 100 * (ours[snr, layer]["accuracy"] - ref[snr, layer]["accuracy"])
        print(f"  {snr:5g} dB layer {layer}: {diffs[snr, layer]:+6.2f} dB  {acc:+6.2f} %")
    worst = min(diffs, key=diffs.get)
    return check(f"every layer within {tolerance_db} dB of the reference or better", diffs[worst] >= -tolerance_db,
                 f"worst {diffs[worst]:+.2f} dB (layer {worst[1]}, {worst[0]:g} dB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="pretrained names or run directories")
    parser.add_argument("--single", help="single-resolution CIFAR-10 model of the same total ratio")
    parser.add_argument("--data-root", default=os.environ.get("SEMCOMM_DATA"))
    parser.add_argument("--snr", default="-5,0,5,10,15,20")
    parser.add_argument("--n-images", type=int, default=None, help="first N test images only (default: all)")
    parser.add_argument("--out-dir", type=Path, default=Path("out/quality"))
    parser.add_argument("--reference", help="a model card (JSON path or pretrained name) every model must hold within 0.1 dB")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                        help="the models' precision (bf16: their CNNs in bfloat16; the linear references stay float32)")
    args = parser.parse_args()
    snrs = parse_snr_list(args.snr)
    single = None
    if args.single:
        _, single, single_lin = evaluate(args.single, args.data_root, snrs, args.n_images, args.out_dir)
        table(args.single, single, single_lin, None)
        requirements("cifar10", single, single_lin, snrs, None)
    passed = True
    for source in args.models:
        model, ours, lin = evaluate(source, args.data_root, snrs, args.n_images, args.out_dir, args.precision)
        table(source, ours, lin, single if model.dataset == "cifar10" else None)
        passed &= requirements(model.dataset, ours, lin, snrs, single if model.dataset == "cifar10" else None)
        if args.reference:
            passed &= against_reference(source, ours, reference_records(args.reference))
    print(f"\n{'ALL PASS' if passed else 'SOME REQUIREMENTS FAIL'}")


if __name__ == "__main__":
    main()
