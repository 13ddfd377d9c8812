"""``klt-slim``: the slimmable receiver's FLOPs grow with every width, a narrow configuration is
the first channels of the wide one, the search stays within budget and never narrows a task's
decoder when its preference rises, the sandwich training distils, and bad widths or budgets are
one-line errors."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

import channels
from semcomm.models import JSCCConfig
from semcomm.models.checkpoint import load_checkpoint, save_checkpoint
from semcomm.errors import FieldError
from semcomm.models.klt_slim import WIDTHS, KLTSlimJSCC, Widths, choose_widths, receiver_flops
from test_klt_refine import random_softcast

CONFIG = JSCCConfig.for_dataset("mnist", (20, 30, 40), arch="klt-slim", tasks="1:coarse2,recon;2:class,recon;3:class,recon",
                                width=8)


@pytest.fixture(scope="module")
def model() -> KLTSlimJSCC:
    torch.manual_seed(0)
    m = KLTSlimJSCC(CONFIG, random_softcast(CONFIG)).eval()
    with torch.no_grad():
        m.refiner.out.weight.normal_(0, 0.1)
    return m


def test_flops_grow_with_every_width(model: KLTSlimJSCC) -> None:
    tasks = model.decoder_tasks
    assert tasks == ["recon", "class", "coarse2"]
    flops = [receiver_flops(model, Widths(t, {task: 0.5 for task in tasks})) for t in WIDTHS]
    assert flops == sorted(flops) and len(set(flops)) == len(flops)
    for task in tasks:
        per = [receiver_flops(model, Widths(0.5, {**{t: 0.5 for t in tasks}, task: w})) for w in WIDTHS]
        assert per == sorted(per) and len(set(per)) == len(per), task


def test_a_narrow_configuration_is_the_first_channels_of_the_wide_one(model: KLTSlimJSCC) -> None:
    x = torch.rand((4, *CONFIG.image_shape), generator=torch.Generator().manual_seed(1))
    narrow = Widths(0.5, {"recon": 0.25, "class": 0.5, "coarse2": 0.75})
    model.set_widths(narrow)
    ref = model(x, channels.get("awgn"), 5.0, generator=torch.Generator().manual_seed(2))
    altered = KLTSlimJSCC(CONFIG, random_softcast(CONFIG)).eval()
    altered.load_state_dict(model.state_dict())
    with torch.no_grad():  # channels a narrow trunk never uses
        altered.refiner.inp.weight[4:].normal_()
        altered.refiner.low[0].conv1.weight[8:].normal_()
    altered.set_widths(narrow)
    out = altered(x, channels.get("awgn"), 5.0, generator=torch.Generator().manual_seed(2))
    assert all(torch.equal(a, b) for a, b in zip(ref.recon, out.recon))
    model.set_widths(Widths())
    wide = model(x, channels.get("awgn"), 5.0, generator=torch.Generator().manual_seed(2))
    assert not torch.equal(wide.recon[-1], ref.recon[-1])


def test_the_choice_fits_the_budget_and_follows_preferences(model: KLTSlimJSCC) -> None:
    table = {t: {task: {w: t * w for w in WIDTHS} for task in model.decoder_tasks} for t in WIDTHS}
    full = receiver_flops(model, Widths())
    for budget in (0.3 * full, 0.6 * full, full):
        for prefs in ({"recon": 1.0, "class": 0.2}, {"recon": 0.1, "class": 0.9, "coarse2": 0.5}):
            chosen = choose_widths(model, budget, prefs, table)
            assert receiver_flops(model, chosen) <= budget
    grid = [0.0, 0.3, 0.6, 1.0]
    for recon, cls in itertools.product(grid, grid):  # raising class's preference never narrows its decoder
        widths = [choose_widths(model, full, {"recon": recon, "class": p}, table).decoder("class") for p in grid if p >= cls]
        assert widths == sorted(widths)
    with pytest.raises(ValueError, match="below the smallest configuration"):
        choose_widths(model, 10.0, {"recon": 1.0}, table)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: Widths(0.3), "width 0.3 for trunk is not one of 0.25, 0.5, 0.75, 1"),
    (lambda: Widths(1.0, {"class": 2.0}), "width 2 for class is not one of"),
])
def test_bad_widths_are_one_line(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        call()


def test_bad_preferences_are_one_line(model: KLTSlimJSCC) -> None:
    with pytest.raises(ValueError, match="no decoder for task 'edges'"):
        choose_widths(model, 1e9, {"edges": 1.0}, {})
    with pytest.raises(ValueError, match=r"preference for class must lie in \[0, 1\], got 1.5"):
        choose_widths(model, 1e9, {"class": 1.5}, {})


def test_sandwich_training_distils_and_the_checkpoint_round_trips(tmp_path: Path) -> None:
    from semcomm.learn import TrainConfig
    from semcomm.learn.loop import batch_losses

    cfg = TrainConfig(dataset="mnist", ratios=(20 / 784, 30 / 784, 40 / 784), data_root="embedded", options={"width": 8},
                      arch="klt-slim", sample_layers=True, tasks=CONFIG.tasks)
    torch.manual_seed(0)
    net = KLTSlimJSCC(cfg.model_config(), random_softcast(CONFIG)).train()
    losses = batch_losses(net, torch.rand(12, 1, 28, 28), torch.arange(12) % 10, cfg, channels.get("awgn"),
                          torch.Generator().manual_seed(0))
    assert len(losses.extra) >= 3 and all(e.requires_grad for e in losses.extra)  # CI-KD of 3 narrow configurations
    sum(losses.extra).backward()
    assert net.refiner.inp.weight.grad is not None and net.refiner.inp.weight.grad.abs().sum() > 0
    assert net.widths == Widths(1.0, {t: 1.0 for t in net.decoder_tasks})  # back at full width
    save_checkpoint(tmp_path, net, {"model": cfg.model_config().to_dict()})
    loaded, _ = load_checkpoint(tmp_path)
    assert isinstance(loaded, KLTSlimJSCC)
    x = torch.rand(3, 1, 28, 28)
    net.eval()
    a = net(x, channels.get("awgn"), 3.0, generator=torch.Generator().manual_seed(4)).recon
    b = loaded(x, channels.get("awgn"), 3.0, generator=torch.Generator().manual_seed(4)).recon
    assert all(torch.equal(p, q) for p, q in zip(a, b))


def test_no_ci_kd_trains_by_the_sandwich_rule_alone_and_is_refused_elsewhere() -> None:
    from dataclasses import replace

    from semcomm.learn import TrainConfig, validate
    from semcomm.learn.loop import batch_losses

    common = dict(dataset="mnist", ratios=(20 / 784, 30 / 784, 40 / 784), data_root="embedded",
                  sample_layers=True, tasks=CONFIG.tasks)
    torch.manual_seed(0)
    cfg = TrainConfig(arch="klt-slim", options={"width": 8}, **common)
    net = KLTSlimJSCC(cfg.model_config(), random_softcast(CONFIG)).train()
    images, labels = torch.rand(12, 1, 28, 28), torch.arange(12) % 10

    def losses(**options: object):  # type: ignore[no-untyped-def]
        net.options = replace(net.options, **options)  # the architecture's options drive its training hook
        return batch_losses(net, images, labels, cfg, channels.get("awgn"), torch.Generator().manual_seed(0))

    with_kd, without = losses(ci_kd=True), losses(ci_kd=False)
    assert with_kd.extra and without.extra == []
    # the same sandwich draws: the task losses agree, only the distillation term is gone
    assert all(torch.allclose(a, b) for a, b in zip(with_kd.distortion, without.distortion))
    half = losses(ci_kd=True, ci_kd_weight=0.5)
    assert all(torch.allclose(h, 0.5 * e) for h, e in zip(half.extra, with_kd.extra))
    with pytest.raises(FieldError, match="architecture 'klt-refine' has no option ci_kd"):
        validate(TrainConfig(arch="klt-refine", options={"ci_kd": False}, **common))
    with pytest.raises(FieldError, match="architecture 'klt-refine' has no option ci_kd_weight"):
        validate(TrainConfig(arch="klt-refine", options={"ci_kd_weight": 0.5}, **common))
    with pytest.raises(FieldError, match="bad ci_kd_weight 0: it must be a number > 0"):
        validate(TrainConfig(arch="klt-slim", options={"ci_kd_weight": 0.0}, **common))


def test_ci_kd_is_relative_so_shrinking_every_feature_does_not_lower_it() -> None:
    from semcomm.models.klt_slim import ci_kd_loss

    g = torch.Generator().manual_seed(0)
    narrow = torch.randn(8, 16, generator=g, requires_grad=True)
    widest = torch.randn(8, 32, generator=g, requires_grad=True)
    base = ci_kd_loss(narrow, widest)
    for scale in (1e-3, 0.1, 10.0):  # a plain MSE falls as the scale falls: the collapse it caused
        assert torch.allclose(ci_kd_loss(scale * narrow, scale * widest), base, rtol=1e-5)
    assert float(ci_kd_loss(widest[:, :16].detach(), widest)) == 0.0
    expected = ((narrow - widest[:, :16]).square().sum(1) / widest[:, :16].square().sum(1)).mean().detach()
    assert torch.allclose(base, expected)
    base.backward()
    assert narrow.grad is not None and widest.grad is None  # the widest configuration is the teacher: detached
