"""Speed of a shipped model's SNR sweep (every layer), against the v4 models and the v4 sweep
path measured in the same run (not a timed test).

Every path evaluates the same images at the same SNRs over AWGN; per model it prints images/s
(image-points: one image at one SNR, all layers decoded), the GFLOP/s that means (FLOPs of one
image-point counted by ``torch.utils.flop_counter``), the ratio to the first row, and the time of
the full grid (the whole test set x 11 SNRs) extrapolated from the measured subset:

- ``v4 model, v4 path``: the architecture of semcomm 0.1's shipped model for the dataset
  (``klt-refine``, width 64 for CIFAR-10, 32 for MNIST, the model's layers and KLT; the speed
  does not depend on the weights), its ``forward`` at every point on contiguous (NCHW) tensors:
  the encoder at every SNR, one refiner pass per layer;
- ``model, v4 path``: the model given, the same way;
- ``model, sweep``: :class:`semcomm.methods.JSCCMethod` as a sweep runs it: the SNR-agnostic
  encoder once per batch of images (reused at every SNR), convolutions in channels-last layout;
- ``model, sweep, bf16``: the same with ``--precision bf16`` (the CNNs in bfloat16; fast only on
  a CPU with bfloat16 units, which the header says), its top-layer PSNR next to float32's.

    python benchmarks/sweep_speed.py [--models cifar10-l3,mnist-l3] [--n-images 1000] [--snrs 0,10,20]
        [--json FILE]

``--json`` writes the rows of every model as one table for the docs (``docs/results/render.py``).
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

import channels
from semcomm.data import load_sample
from semcomm.methods import resolve_method
from semcomm.metrics import psnr
from semcomm.models import JSCCConfig
from semcomm.methods.jscc import JSCCMethod
from semcomm.models.klt_refine import KLTRefineJSCC
from semcomm.models.precision import cpu_has_bf16
from table_file import write_table

#: The full grid a user sweeps: the whole test set at 11 SNRs.
GRID_IMAGES, GRID_SNRS = 10_000, 11


def flops_per_image_point(model: torch.nn.Module, shape: tuple[int, ...]) -> tuple[float, float]:
    """(encoder FLOPs, receiver FLOPs for every layer) of one image."""
    x = torch.rand(1, *shape)
    with torch.no_grad():
        with FlopCounterMode(display=False) as counter:
            sent = model.channel_input(x)
        encoder = counter.get_total_flops()
        with FlopCounterMode(display=False) as counter:
            model.from_channel_input(sent, channels.get("awgn"), 10.0)
        receiver = counter.get_total_flops()
    return float(encoder), float(receiver)


#: The shipped v4 models' architecture options per dataset (semcomm 0.1).
V4_OPTIONS = {"cifar10": {"width": 64, "layer_power": "softcast"}, "mnist": {"width": 32, "layer_power": "softcast"}}


def v4_model(model: torch.nn.Module) -> torch.nn.Module:
    """A ``klt-refine`` model of the v4 shipped model's size for ``model``'s dataset and layers,
    on ``model``'s KLT backbone (random receiver: the speed does not depend on the weights)."""
    config = model.config
    v4_config = JSCCConfig("klt-refine", config.dataset, config.image_shape, config.layer_symbols, config.class_names,
                           config.tasks, V4_OPTIONS[config.dataset])
    torch.manual_seed(0)
    return KLTRefineJSCC(v4_config, copy.deepcopy(model.softcast)).eval()


def run(model_name: str, n_images: int, snrs: list[float], batch: int) -> list[list[str]]:
    """Measure and print every path for one model; its table rows."""
    method = resolve_method(model_name)
    images = load_sample(method.dataset)
    x_all = torch.from_numpy(images.images[:n_images]).float() / 255
    awgn = channels.get("awgn")

    def v4_path(net: torch.nn.Module) -> Callable[[], float]:
        net = copy.deepcopy(net).to(memory_format=torch.contiguous_format)  # contiguous weights, forward per point

        def path() -> float:
            total = 0.0
            with torch.inference_mode():
                for snr in snrs:
                    g = torch.Generator().manual_seed(0)
                    for start in range(0, len(x_all), batch):
                        x = x_all[start : start + batch]
                        out = net(x, awgn, snr, generator=g)
                        total += float(psnr(out.recon[-1], x).sum())
            return total

        return path

    def sweep_path(method: JSCCMethod = method) -> float:
        total = 0.0
        for snr in snrs:
            g = torch.Generator().manual_seed(0)
            for start in range(0, len(x_all), batch):
                x = x_all[start : start + batch]
                layers = method.transmit(x, awgn, snr, "perfect", g)
                total += float(psnr(layers[-1].recon, x).sum())
        return total

    shape = tuple(x_all.shape[1:])
    reference = v4_model(method.model)
    ref_enc, ref_rec = flops_per_image_point(reference, shape)
    enc, rec = flops_per_image_point(method.model, shape)
    points = len(x_all) * len(snrs)
    results = {}
    reduced = resolve_method(model_name, precision="bf16")
    paths = (("v4 model, v4 path", v4_path(reference), ref_enc + ref_rec),
             ("model, v4 path", v4_path(method.model), enc + rec),
             ("model, sweep", sweep_path, enc / len(snrs) + rec),
             ("model, sweep, bf16", lambda: sweep_path(reduced), enc / len(snrs) + rec))
    for name, fn, flops in paths:
        fn()  # warm-up (allocations, the sweep path's encodings are dropped below)
        method._encoded.clear()
        reduced._encoded.clear()
        start = time.perf_counter()
        psnr_sum = fn()
        seconds = time.perf_counter() - start
        results[name] = (points / seconds, flops, psnr_sum / points)
    base = results[paths[0][0]][0]
    print(f"\n{model_name} ({method.model.config.arch}): {len(x_all)} images x {len(snrs)} SNRs, every layer; FLOPs per "
          f"image-point: encoder {enc / 1e9:.3f} G, receiver (all layers) {rec / 1e9:.3f} G (v4 model: {ref_enc / 1e9:.3f} G, "
          f"{ref_rec / 1e9:.3f} G)")
    print(f"{'path':>18} {'images/s':>9} {'GFLOP/s':>8} {'x first':>8} {'full grid':>10} {'top PSNR':>9}")
    rows = []
    for name, (rate, flops, mean_psnr) in results.items():
        grid = GRID_IMAGES * GRID_SNRS / rate
        print(f"{name:>18} {rate:9.0f} {rate * flops / 1e9:8.1f} {rate / base:8.2f} {grid / 60:8.1f} min {mean_psnr:9.3f}")
        rows.append([f"`{model_name}`", name, f"{rate:.0f}", f"{flops / 1e9:.3f}", f"{rate / base:.2f}×",
                     f"{grid / 60:.1f} min", f"{mean_psnr:.3f}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="cifar10-l3,mnist-l3")
    parser.add_argument("--n-images", type=int, default=1000, help="embedded sample images measured")
    parser.add_argument("--snrs", default="0,10,20")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--json", default=None, help="also write the table to this file, for the docs")
    args = parser.parse_args()
    header = f"torch {torch.__version__}, {torch.get_num_threads()} threads, bfloat16 units on this CPU: {cpu_has_bf16()}"
    print(header)
    snrs = [float(s) for s in args.snrs.split(",")]
    rows = [row for name in args.models.split(",") for row in run(name, args.n_images, snrs, args.batch_size)]
    write_table(args.json, ["model", "path", "images/s", "GFLOP per image-point", "× first row", "full grid (10,000 × 11)",
                            "top-layer PSNR [dB]"], rows, seed=0,
                config={"models": args.models, "n_images": args.n_images, "snrs": snrs, "batch_size": args.batch_size},
                notes=[f"{header}; {args.n_images} embedded images × {len(snrs)} SNRs per path, every layer decoded; the "
                       "full grid extrapolated from the measured rate."])


if __name__ == "__main__":
    main()
