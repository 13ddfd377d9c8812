"""``klt-rmn``: the recurrent modular receiver's routes are binary at evaluation, its routers learn
in training, a forced route is a plain module stack, the untrained model is the linear scheme,
layers stay causal, checkpoints round-trip, and the compute penalty is the expected route depth
and shortens the routes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import torch
import torch.nn.functional as F

import channels
from semcomm.errors import FieldError
from semcomm.models import JSCCConfig
from semcomm.models.checkpoint import load_checkpoint, save_checkpoint
from semcomm.models.klt_rmn import NUM_MODULES, KLTRoutedJSCC, expected_depth, gumbel_gates
from test_klt_refine import random_softcast

CONFIG = JSCCConfig.for_dataset("mnist", (20, 30, 40), arch="klt-rmn", tasks="1:coarse2,recon;2:class,recon;3:class,recon",
                                width=8)


def model_and_images() -> tuple[KLTRoutedJSCC, torch.Tensor]:
    torch.manual_seed(0)
    model = KLTRoutedJSCC(CONFIG, random_softcast(CONFIG))
    with torch.no_grad():
        model.refiner.out.weight.normal_(0, 0.1)
    return model, torch.rand((6, *CONFIG.image_shape), generator=torch.Generator().manual_seed(1))


def test_gates_are_binary_at_evaluation_and_straight_through_in_training() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5, -3.0], [-1.0, -2.0, -0.5, -4.0]], requires_grad=True)
    hard = gumbel_gates(logits, training=False)
    assert hard.tolist() == [[1, 0, 1, 0], [0, 0, 1, 0]]  # row 2: none open -> its largest logit
    soft = gumbel_gates(logits, training=True, generator=torch.Generator().manual_seed(0))
    values = soft.detach()
    assert torch.allclose(values, values.round(), atol=1e-6)  # 0/1 forward (up to the straight-through's rounding)
    (soft * torch.arange(4.0)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_routes_are_binary_at_evaluation_and_reported_per_task_and_layer() -> None:
    model, x = model_and_images()
    model.eval()
    symbols, scales = model.encode(x)
    c_hat = model.softcast.estimate(symbols, torch.tensor(0.1), scales, model.gains())
    report = model.routes(c_hat, torch.tensor(0.1))
    assert set(report) == {"recon", "class", "coarse2"}
    for task, layers in report.items():
        assert len(layers) == 3
        for entry in layers:
            assert len(entry["connections"]) == NUM_MODULES and 1 <= entry["depth"][0] <= NUM_MODULES
    model(x, channels.get("awgn"), 5.0)
    assert all(set(g.unique().tolist()) <= {0.0, 1.0} for g in model.last_gates.values())


def test_routers_receive_gradients_in_training() -> None:
    model, x = model_and_images()
    model.train()
    out = model(x, channels.get("awgn"), 5.0, generator=torch.Generator().manual_seed(2))
    loss = sum(F.mse_loss(r, x) for r in out.recon) + sum(F.cross_entropy(t["class"], torch.arange(6) % 10)
                                                         for t in out.tasks if "class" in t)
    loss.backward()
    assert model.refiner.router[0].weight.grad.abs().sum() > 0


def test_a_forced_route_is_a_plain_module_stack() -> None:
    model, x = model_and_images()
    model.eval()
    last = torch.zeros(NUM_MODULES)
    last[-1] = 1
    model.refiner.forced = {t: last for t in model.refiner.tasks}
    linear = torch.rand(6, *CONFIG.image_shape)
    cond = torch.randn(6, 6)
    combined, gates, _, _ = model.refiner.step(linear, cond, None, 0, None)
    h = model.refiner.stem(torch.cat([F.pixel_unshuffle(linear - 0.5, 2), cond[:, :, None, None].expand(-1, -1, 14, 14)], 1))
    h = model.refiner.mix(torch.cat([h, torch.zeros_like(h)], 1))
    for module in model.refiner.trunk:
        h = module(h)
    assert torch.allclose(combined["recon"], h, atol=1e-6) and torch.allclose(combined["class"], h, atol=1e-6)


def test_untrained_receiver_is_the_linear_scheme_and_layers_are_causal() -> None:
    torch.manual_seed(0)
    fresh = KLTRoutedJSCC(CONFIG, random_softcast(CONFIG)).eval()
    x = torch.rand((4, *CONFIG.image_shape), generator=torch.Generator().manual_seed(1))
    symbols, scales = fresh.encode(x)
    c_hat = fresh.softcast.estimate(symbols, torch.tensor(0.1), scales, fresh.gains())
    out = fresh.receive(c_hat, torch.tensor(0.1))
    for l, mask in enumerate(fresh.softcast.layer_masks()):
        assert torch.allclose(out.recon[l], fresh.softcast.synthesise(c_hat * mask).clamp(0, 1), atol=1e-5)
    model, _ = model_and_images()
    model.eval()
    c_hat = model.softcast.estimate(*model.encode(x)[:1], torch.tensor(0.1), model.encode(x)[1], model.gains())
    ref = model.receive(c_hat, torch.tensor(0.1))
    changed = c_hat.clone()
    changed[:, model.softcast.layer_of_coefficient > 0] += 3.0  # layers 2 and 3
    out = model.receive(changed, torch.tensor(0.1))
    assert torch.equal(out.recon[0], ref.recon[0]) and torch.equal(out.tasks[0]["coarse2"], ref.tasks[0]["coarse2"])
    assert not torch.equal(out.recon[1], ref.recon[1])


def test_checkpoint_round_trips(tmp_path: Path) -> None:
    model, x = model_and_images()
    model.eval()
    save_checkpoint(tmp_path, model, {"model": CONFIG.to_dict()})
    loaded, _ = load_checkpoint(tmp_path)
    assert isinstance(loaded, KLTRoutedJSCC)
    a = model(x, channels.get("awgn"), 3.0, generator=torch.Generator().manual_seed(4)).recon
    b = loaded(x, channels.get("awgn"), 3.0, generator=torch.Generator().manual_seed(4)).recon
    assert all(torch.equal(p, q) for p, q in zip(a, b))


def test_expected_depth_is_the_mean_depth_of_independent_gates() -> None:
    assert expected_depth(torch.tensor([[0.0, 0, 0, 1], [1, 0, 0, 0], [0.5, 0, 0, 0.5]])).tolist() == [4.0, 1.0, 2.25]
    probs = torch.tensor([0.7, 0.2, 0.4, 0.1])
    gates = torch.rand(200_000, NUM_MODULES, generator=torch.Generator().manual_seed(0)) < probs
    depth = (gates * torch.arange(1, NUM_MODULES + 1)).max(-1).values.float()  # the last open gate (0: none)
    assert abs(float(expected_depth(probs[None])[0]) - float(depth.mean())) < 4 * float(depth.std()) / 200_000 ** 0.5


def test_route_cost_shortens_the_routes_and_is_refused_elsewhere() -> None:
    from semcomm.learn import TrainConfig, validate
    from semcomm.learn.loop import batch_losses

    model, x = model_and_images()
    model.train()
    cfg = TrainConfig(dataset="mnist", ratios=(20 / 784, 30 / 784, 40 / 784), data_root="embedded", arch="klt-rmn",
                      options={"route_cost": 1.0, "width": 8}, sample_layers=True, tasks=CONFIG.tasks)
    labels = torch.arange(6) % 10
    g = torch.Generator().manual_seed(3)
    with_cost = replace(model.config, options=replace(model.config.options, route_cost=1.0))
    model.config, model.options = with_cost, with_cost.options  # the cost comes from the model's own options
    losses = batch_losses(model, x, labels, cfg, channels.get("awgn"), g)
    assert len(losses.extra) == 1 and torch.allclose(losses.extra[0], model.route_cost())
    opt = torch.optim.SGD(model.refiner.router.parameters(), lr=5.0)
    before = model.route_cost().item()
    for _ in range(20):
        opt.zero_grad()
        batch_losses(model, x, labels, cfg, channels.get("awgn"), g).extra[0].backward()
        opt.step()
    batch_losses(model, x, labels, cfg, channels.get("awgn"), g)
    assert model.route_cost().item() < before - 0.1  # the penalty alone pulls every route shorter
    model.options = replace(model.options, route_cost=0.0)
    assert batch_losses(model, x, labels, cfg, channels.get("awgn"), g).extra == []
    with pytest.raises(FieldError, match="architecture 'klt-refine' has no option route_cost"):
        validate(replace(cfg, arch="klt-refine"))
    with pytest.raises(FieldError, match="bad route_cost -1: it must be a number >= 0"):
        validate(replace(cfg, options={"route_cost": -1.0}))
