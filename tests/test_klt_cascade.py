"""The ``klt-cascade`` architecture: untrained it is the linear scheme, layer ``l`` ignores later
layers even though it reads the earlier stages' features, it costs about a third of ``klt-refine``
for every layer, its classifier path equals the full receiver's head, and ``train --init-from``
copies a ``klt-refine`` model's transmitter."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import channels
from semcomm.errors import FieldError
from semcomm.learn.loop import initialise_from
from semcomm.models import JSCCConfig
from semcomm.models.checkpoint import load_checkpoint, save_checkpoint
from semcomm.models.klt_cascade import KLTCascadeJSCC
from semcomm.models.klt_refine import KLTRefineJSCC
from test_klt_refine import assert_causal, random_softcast

CONFIG = JSCCConfig.for_dataset("mnist", (20, 30, 40), arch="klt-cascade", tasks="1:coarse2,recon;2:coarse4,recon;3:class,recon",
                                width=8, receiver_width=8, trunk_width=16, layer_power="softcast")


def model_and_images(config: JSCCConfig = CONFIG, stirred: bool = True) -> tuple[KLTCascadeJSCC, torch.Tensor]:
    """The model on a random backbone (``stirred``: every stage's zero-initialised output made
    non-zero, so that tests of the learned parts bite) and 5 images."""
    torch.manual_seed(0)
    model = KLTCascadeJSCC(config, random_softcast(config)).eval()
    if stirred:
        with torch.no_grad():
            for stage in model.refiner.stages:
                stage.out.weight.normal_(0, 0.1)
    return model, torch.rand((5, *config.image_shape), generator=torch.Generator().manual_seed(1))


def test_untrained_model_is_the_linear_scheme() -> None:
    model, x = model_and_images(stirred=False)
    out = model(x, channels.get("awgn"), 5.0, generator=torch.Generator().manual_seed(3))
    sc = model.softcast
    symbols, scales, _ = sc.transmit(x)
    rx = channels.receive(channels.get("awgn")(symbols, 5.0, generator=torch.Generator().manual_seed(3)), "perfect")
    c_hat = sc.estimate(rx.x_hat, rx.noise_var, scales)
    for layer, mask in enumerate(sc.layer_masks()):
        assert torch.allclose(out.recon[layer], sc.synthesise(c_hat * mask, CONFIG.image_shape).clamp(0, 1), atol=1e-5)


def test_layer_l_output_ignores_later_layers_but_uses_earlier_stages() -> None:
    model, x = model_and_images()
    symbols, scales = model.encode(x)
    noise = torch.full(symbols.shape, 0.1)
    c_hat = model.softcast.estimate(symbols, noise, scales, model.gains())
    ref = model.receive(c_hat, noise)
    assert [sorted(t) for t in ref.tasks] == [["coarse2"], ["coarse4"], ["class"]]
    assert_causal(model, c_hat, noise)
    # the carry is real: zeroing stage 1's carried features changes layer 3 and not layer 1
    with torch.no_grad():
        for p in (*model.refiner.stages[1].carry_high.parameters(), *model.refiner.stages[1].carry_low.parameters()):
            p.zero_()
    cut = model.receive(c_hat, noise)
    assert torch.equal(cut.recon[0], ref.recon[0]) and not torch.equal(cut.recon[2], ref.recon[2])


def test_chosen_layers_are_refused_in_one_line() -> None:
    model, x = model_and_images()
    with pytest.raises(ValueError, match="decodes every layer"):
        model(x, channels.get("awgn"), 5.0, decode_layers=torch.zeros(5, dtype=torch.long))


def test_classify_noiseless_is_the_full_receivers_top_head() -> None:
    """The down path of the last stage gives the head exactly what the full receiver does at
    the classifier's noise level, with every symbol received without noise."""
    model, x = model_and_images()
    symbols, scales, tiling = model._encode(x)
    c_hat = model.softcast.estimate(symbols, torch.full((), 1e-10), scales, model.gains())
    full = model.receive(c_hat, torch.full((), 10.0 ** (-2.0))).tasks[-1]["class"]
    assert torch.allclose(model.classify_noiseless(x), full, atol=1e-6)


def test_every_learned_part_gets_a_gradient() -> None:
    model, x = model_and_images()
    out = model(x, channels.get("awgn"), 10.0, generator=torch.Generator().manual_seed(0))
    loss = sum(((r - x) ** 2).mean() for r in out.recon) + out.tasks[-1]["class"].logsumexp(-1).mean()
    loss.backward()
    receiver = [n for n, _ in model.named_parameters() if n.startswith(("refiner.", "task_heads.class."))]
    assert any(".carry_low." in n for n in receiver) and any(".carry_high." in n for n in receiver)
    for name in (*receiver, "gain_log", "tx_residual.out.weight"):  # the transmitter CNN's inside starts behind a zero
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_every_layer_costs_about_a_third_of_klt_refines() -> None:
    """The shipped sizes on CIFAR-10 images: decoding every layer with the cascade costs under a
    35 % of ``klt-refine``'s ``L`` refiner passes (FLOPs counted by torch)."""
    flops = {}
    for arch in ("klt-refine", "klt-cascade"):
        config = JSCCConfig.for_dataset("cifar10", (171, 171, 171), arch=arch, width=64, layer_power="softcast")
        model = (KLTRefineJSCC if arch == "klt-refine" else KLTCascadeJSCC)(config, random_softcast(config)).eval()
        sent = model.channel_input(torch.rand(1, 3, 32, 32))
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model.from_channel_input(sent, channels.get("awgn"), 10.0)
        flops[arch] = counter.get_total_flops()
    assert flops["klt-cascade"] < 0.35 * flops["klt-refine"]  # 0.294 against 0.867 GFLOP


def test_init_from_copies_the_transmitter_of_a_klt_refine_model(tmp_path: Path) -> None:
    refine_config = JSCCConfig.for_dataset("mnist", (20, 30, 40), arch="klt-refine", width=8, layer_power="softcast",
                                           tasks="1:coarse2,recon;2:coarse4,recon;3:class,recon")
    torch.manual_seed(1)
    source = KLTRefineJSCC(refine_config, random_softcast(refine_config, seed=4))
    with torch.no_grad():
        source.gain_log.normal_()
    save_checkpoint(tmp_path, source, {"model": refine_config.to_dict()})
    model, x = model_and_images()
    copied, total = initialise_from(model, str(tmp_path))
    assert 0 < copied < total
    state = model.state_dict()
    for key, value in source.state_dict().items():
        if key.startswith(("tx_residual.", "softcast.", "gain_log")):
            assert torch.equal(state[key], value), key
    assert torch.equal(model.encode(x)[0], source.encode(x)[0])  # the same transmitter, symbol for symbol
    with pytest.raises(FieldError, match="no checkpoint"):
        initialise_from(model, str(tmp_path / "missing"))


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    model, x = model_and_images()
    save_checkpoint(tmp_path, model, {"model": CONFIG.to_dict()})
    loaded, _ = load_checkpoint(tmp_path)
    g = lambda: torch.Generator().manual_seed(2)  # noqa: E731
    a = model(x, channels.get("rayleigh-block"), 3.0, generator=g())
    b = loaded(x, channels.get("rayleigh-block"), 3.0, generator=g())
    assert all(torch.equal(p, q) for p, q in zip(a.recon, b.recon))
