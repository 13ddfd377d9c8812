"""The SSCC links' rate planning and delivery: the capacity bound against its closed forms."""

from __future__ import annotations

import math

import pytest
import torch

import channels
from semcomm.links import TARGET_LOSS, CapacityLink, get_link, scalar_snr


def test_capacity_on_awgn_is_shannon_and_never_loses() -> None:
    link = CapacityLink(n_uses=512)
    for snr_db in (-5.0, 0.0, 10.0, 20.0):
        plan = link.plan(channels.get("awgn"), snr_db, "perfect")
        assert plan.info_bits == math.floor(512 * math.log2(1 + 10 ** (snr_db / 10)))
        assert plan.loss == 0.0
        ok = link.send(torch.zeros(300, plan.info_bits, dtype=torch.uint8), plan, channels.get("awgn"), snr_db, "none")
        assert bool(ok.all())


def test_capacity_on_block_rayleigh_is_the_ten_percent_outage_rate() -> None:
    link, ch, snr_db = CapacityLink(n_uses=100), channels.get("rayleigh-block"), 10.0
    plan = link.plan(ch, snr_db, "perfect")
    # P(log2(1 + g snr) < R) = 0.1 with g ~ Exp(1): R = log2(1 + snr * ln(1/0.9)).
    exact = math.log2(1 + 10.0 * -math.log(1 - TARGET_LOSS))
    assert plan.rate == pytest.approx(exact, abs=0.06)
    ok = link.send(torch.zeros(20000, plan.info_bits, dtype=torch.uint8), plan, ch, snr_db, "perfect",
                   generator=torch.Generator().manual_seed(1))
    lost = 1 - ok.double().mean().item()
    assert lost == pytest.approx(plan.loss, abs=4 * math.sqrt(0.1 * 0.9 / 20000) + 0.01)
    assert lost <= TARGET_LOSS + 0.015


def test_capacity_on_fast_fading_approaches_the_ergodic_capacity() -> None:
    ergodic = channels.rayleigh_ergodic_capacity(10.0)
    plan = CapacityLink(n_uses=512).plan(channels.get("rayleigh-fast"), 10.0, "perfect")
    assert ergodic - 0.12 < plan.rate < ergodic


def test_capacity_refuses_no_csi_on_fading_and_links_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="perfect receiver CSI"):
        CapacityLink(64).plan(channels.get("rayleigh-block"), 10.0, "none")
    with pytest.raises(ValueError, match="unknown link 'turbo'; choose one of: capacity, ldpc"):
        get_link("turbo", n_uses=64)
    with pytest.raises(ValueError, match="n_uses >= 1"):
        CapacityLink(0)
    with pytest.raises(ValueError, match="one SNR for the whole batch"):
        scalar_snr(torch.tensor([1.0, 2.0]))
