"""Multi-resolution SSCC: the scalable JPEG 2000 stream (prefixes, chunk budgets, lost layers)
and the oracle and scalable layered methods."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import channels
from semcomm.codecs.layered_jpeg2000 import LayeredJPEG2000, chunk_capacity, length_bits
from semcomm.data import load_sample
from semcomm.methods.layered_sscc import OracleSSCC, ScalableSSCC
from semcomm.methods.sscc import SSCCMethod
from semcomm.seeding import point_generator


def _images(n: int) -> np.ndarray:
    return np.ascontiguousarray(load_sample("cifar10").images[:n].transpose(0, 2, 3, 1))  # [n, 32, 32, 3]


def _psnr(decoded: np.ndarray, image: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / np.mean((decoded.astype(float) - image) ** 2)))


def test_chunks_fit_their_layers_and_each_prefix_refines() -> None:
    codec = LayeredJPEG2000()
    budgets = [600, 900, 1500]
    for image in _images(8):
        encoding = codec.encode(image, budgets)
        assert all(len(c) <= chunk_capacity(b) for c, b in zip(encoding.chunks, budgets))
        assert encoding.quality_layers == 3 and all(encoding.chunks)
        quality = [_psnr(codec.decode(encoding, [True] * 3, l), image) for l in (1, 2, 3)]
        assert quality[0] < quality[1] < quality[2], quality
        # The stream spends most of its budget: within 12 % of the three capacities.
        assert sum(map(len, encoding.chunks)) > 0.88 * sum(chunk_capacity(b) for b in budgets)


def test_a_lost_layer_cuts_the_layers_above_it() -> None:
    codec = LayeredJPEG2000()
    image = _images(1)[0]
    encoding = codec.encode(image, [600, 900, 1500])
    first = codec.decode(encoding, [True, True, True], 1)
    assert np.array_equal(codec.decode(encoding, [True, False, True], 3), first)  # chunk 3 is useless without 2
    assert codec.decode(encoding, [False, True, True], 3) is None  # nothing usable: the fallback
    two = codec.decode(encoding, [True, True, False], 3)
    assert np.array_equal(two, codec.decode(encoding, [True, True, True], 2))


def test_a_layer_too_small_for_any_chunk_sends_nothing_and_the_next_carries_the_start() -> None:
    codec = LayeredJPEG2000()
    image = _images(1)[0]
    encoding = codec.encode(image, [0, 40, 1500])
    assert encoding.chunks[0] == b"" and encoding.chunks[1] == b"" and encoding.quality_layers == 1
    assert _psnr(codec.decode(encoding, [False, False, True], 3), image) > 20


def test_stream_bits_carry_the_length_then_the_chunk() -> None:
    codec = LayeredJPEG2000()
    budgets = [600, 900, 1500]
    encoding = codec.encode(_images(1)[0], budgets)
    for chunk, budget, bits in zip(encoding.chunks, budgets, codec.stream_bits(encoding, budgets)):
        n = length_bits(budget)
        assert bits.size == budget and int("".join(map(str, bits[:n])), 2) == len(chunk)
        assert np.packbits(bits[n : n + 8 * len(chunk)]).tobytes() == chunk and not bits[n + 8 * len(chunk) :].any()


def test_oracle_layer_l_is_the_single_stream_at_the_cumulative_budget() -> None:
    images = torch.from_numpy(_images(16)).permute(0, 3, 1, 2).float() / 255
    oracle = OracleSSCC("jpeg", "capacity", "cifar10", (171 / 3072,) * 3)
    channel = channels.get("awgn")
    layers = oracle.transmit(images, channel, 10.0, "perfect", point_generator(0, 10.0))
    g = point_generator(0, 10.0)
    for layer, uses in zip(layers, (171, 342, 513)):
        single = SSCCMethod("jpeg", "capacity", "cifar10", uses / 3072).transmit(images, channel, 10.0, "perfect", g)[0]
        assert layer.ratio == single.ratio == uses / 3072 and torch.equal(layer.recon, single.recon)
    assert oracle.name == "jpeg+capacity/oracle"


def test_scalable_sscc_layers_rise_and_design_snrs_set_the_rates() -> None:
    images = torch.from_numpy(_images(24)).permute(0, 3, 1, 2).float() / 255
    method = ScalableSSCC("capacity", "cifar10", (171 / 3072,) * 3)
    channel = channels.get("awgn")
    layers = method.transmit(images, channel, 15.0, "perfect", point_generator(0, 15.0))
    mse = [float((r.recon - images).square().mean()) for r in layers]
    assert mse[0] > mse[1] > mse[2] and [r.ratio for r in layers] == [171 / 3072, 342 / 3072, 513 / 3072]
    assert all(r.extras["decoded"] > 0.7 and r.extras["bits"] <= r.extras["budget_bits"] for r in layers)
    # Designed for 25 dB, a 15 dB receiver loses (nearly) every chunk and gets the fallback.
    high = method.designed_for([25.0, 25.0, 25.0]).transmit(images, channel, 15.0, "perfect", point_generator(0, 15.0))
    assert high[2].extras["budget_bits"] > layers[2].extras["budget_bits"] and high[2].extras["decoded"] < 0.1
    with pytest.raises(ValueError, match="give 3 design SNRs"):
        method.designed_for([10.0])
