"""Speed of a shipped model's SNR sweep (every layer): the sweep path against the per-point path
of semcomm 0.1's v4 sweep, measured in the same run (not a timed test).

Both evaluate the same images at the same SNRs over AWGN with the same draws; per model it prints
images/s (image-points: one image at one SNR, all layers decoded), the GFLOP/s that means (FLOPs
of one image-point counted by ``torch.utils.flop_counter``), the ratio of the two paths, and the
time of the full grid (the whole test set x 11 SNRs) extrapolated from the measured subset.

- ``v4``: every point runs the model's ``forward`` on contiguous (NCHW) tensors: the encoder at
  every SNR;
- ``sweep``: :class:`semcomm.methods.JSCCMethod` as a sweep runs it: the SNR-agnostic encoder
  once per batch of images (reused at every SNR), convolutions in channels-last layout.

    python benchmarks/sweep_speed.py [--models cifar10-l3,mnist-l3] [--n-images 1000] [--snrs 0,10,20]
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

import channels
from semcomm.data import load_sample
from semcomm.methods import resolve_method
from semcomm.metrics import psnr

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


def run(model_name: str, n_images: int, snrs: list[float], batch: int) -> None:
    method = resolve_method(model_name)
    v4 = copy.deepcopy(method.model)  # contiguous weights, forward per point
    v4.to(memory_format=torch.contiguous_format)
    images = load_sample(method.dataset)
    x_all = torch.from_numpy(images.images[:n_images]).float() / 255
    awgn = channels.get("awgn")

    def v4_path() -> float:
        total = 0.0
        with torch.inference_mode():
            for snr in snrs:
                g = torch.Generator().manual_seed(0)
                for start in range(0, len(x_all), batch):
                    x = x_all[start : start + batch]
                    out = v4(x, awgn, snr, generator=g)
                    total += float(psnr(out.recon[-1], x).sum())
        return total

    def sweep_path() -> float:
        total = 0.0
        for snr in snrs:
            g = torch.Generator().manual_seed(0)
            for start in range(0, len(x_all), batch):
                x = x_all[start : start + batch]
                layers = method.transmit(x, awgn, snr, "perfect", g)
                total += float(psnr(layers[-1].recon, x).sum())
        return total

    enc, rec = flops_per_image_point(v4, tuple(x_all.shape[1:]))
    points = len(x_all) * len(snrs)
    results = {}
    for name, fn, flops in (("v4", v4_path, enc + rec), ("sweep", sweep_path, enc / len(snrs) + rec)):
        fn()  # warm-up (allocations, the sweep path's encodings are dropped below)
        method._encoded.clear()
        start = time.perf_counter()
        psnr_sum = fn()
        seconds = time.perf_counter() - start
        results[name] = (points / seconds, flops, psnr_sum / points)
    base = results["v4"][0]
    print(f"\n{model_name}: {len(x_all)} images x {len(snrs)} SNRs, every layer; FLOPs per image-point: encoder "
          f"{enc / 1e9:.3f} G, receiver (all layers) {rec / 1e9:.3f} G")
    print(f"{'path':>6} {'images/s':>9} {'GFLOP/s':>8} {'x v4':>6} {'full grid':>10} {'top PSNR':>9}")
    for name, (rate, flops, mean_psnr) in results.items():
        grid = GRID_IMAGES * GRID_SNRS / rate
        print(f"{name:>6} {rate:9.0f} {rate * flops / 1e9:8.1f} {rate / base:6.2f} {grid / 60:8.1f} min {mean_psnr:9.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="cifar10-l3,mnist-l3")
    parser.add_argument("--n-images", type=int, default=1000, help="embedded sample images measured")
    parser.add_argument("--snrs", default="0,10,20")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name in args.models.split(","):
        run(name, args.n_images, [float(s) for s in args.snrs.split(",")], args.batch_size)


if __name__ == "__main__":
    main()
