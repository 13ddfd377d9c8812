"""Codec sizes, quality and speed on the embedded CIFAR-10 and MNIST test images.

Per dataset and codec, prints a Markdown table: mean payload bits, file bits and PSNR at four
ladder points, the smallest payload (mean over images of the lowest setting, and the overall
minimum), the time per image to encode one setting (from a whole ladder) and to decode one
(from the constant header and the payload), and of a ``fit`` once the ladder is cached (what
each further SNR point of a sweep costs), single-threaded, and the speed-up of a whole ladder
on two threads over one (> 1 where the library releases the GIL; needs idle cores to show).

    python benchmarks/codec_speed.py [--images 200] [--codecs jpeg,hevc] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from semcomm import codecs
from semcomm.data import load_sample
from semcomm.metrics import psnr


def mean_psnr(decoded: np.ndarray, target: np.ndarray) -> float:
    """Mean per-image PSNR (dB) of uint8 ``[B, H, W, C]`` images."""
    recon, ref = (torch.from_numpy(a).permute(0, 3, 1, 2).double() / 255.0 for a in (decoded, target))
    return float(psnr(recon, ref).mean())


def report(name: str, images: np.ndarray, threads: int) -> str:
    """One table row for codec ``name`` on ``images`` (uint8 ``[B, H, W, C]``)."""
    codec = codecs.get(name)
    q = len(codec.qualities)
    codec.header(images.shape[1:], codec.qualities[0])  # warm-up
    start = time.perf_counter()
    ladder = codec.ladder(images, workers=1)
    serial = time.perf_counter() - start
    fresh = codecs.get(name)
    start = time.perf_counter()
    fresh.ladder(images, workers=threads)
    parallel = time.perf_counter() - start
    points = []
    decode_time = 0.0
    for index in (0, q // 3, 2 * q // 3, q - 1):
        encoded = [codec.encode(image, codec.qualities[index]) for image in images]
        start = time.perf_counter()
        decoded = np.stack([codec.decode(e) for e in encoded])  # from the constant header and the payload
        decode_time += time.perf_counter() - start
        points.append(
            f"{codec.qualities[index]}: {ladder.payload_bits[:, index].mean():.0f} / "
            f"{ladder.file_bits[:, index].mean():.0f} / {mean_psnr(decoded, images):.2f}"
        )
    start = time.perf_counter()
    codec.fit(images, int(np.median(ladder.payload_bits)), workers=1)  # ladder cached: lookup and decode
    per_fit = (time.perf_counter() - start) / len(images) * 1e3
    per_encode = serial / len(images) / q * 1e3
    per_decode = decode_time / len(images) / 4 * 1e3
    smallest = f"{ladder.payload_bits[:, 0].mean():.0f} (min {ladder.payload_bits.min()})"
    return (
        f"| {name} | {' <br> '.join(points)} | {smallest} | {per_encode:.2f} | {per_decode:.2f} | "
        f"{per_fit:.2f} | {serial / parallel:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--codecs", default=",".join(codecs.codec_names()))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    for dataset in ("cifar10", "mnist"):
        images = np.ascontiguousarray(load_sample(dataset).images[: args.images].transpose(0, 2, 3, 1))
        print(f"\n{dataset}: {len(images)} embedded test images {images.shape[1:]}")
        print(
            "| codec | quality: payload / file bits / PSNR dB | smallest payload (bits) | "
            f"encode ms | decode ms | cached fit ms | {args.threads} threads speed-up |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for name in args.codecs.split(","):
            print(report(name, images, args.threads), flush=True)


if __name__ == "__main__":
    main()
