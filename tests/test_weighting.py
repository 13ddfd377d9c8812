"""The adaptive loss weightings, each against the property that defines it, on small synthetic
problems where the right answer is known; and their use in training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from semcomm.mtl import DynamicWeightAverage, GradNorm, JacobianDescent, PCGrad, TaskLosses, UncertaintyWeighting
from semcomm.learn import TrainConfig, make_optimizer, train


def _losses(values: list[torch.Tensor]) -> TaskLosses:
    half = len(values) // 2
    return TaskLosses.from_layers(distortion=values[:half], semantic=values[half:])


def test_uncertainty_learns_a_larger_variance_for_the_noisier_task() -> None:
    """Two regression tasks on one shared estimate, noise std 0.2 and 1.0: at the optimum
    exp(s_k) equals the task's mean loss, so the noisier task's variance rises above the other's."""
    torch.manual_seed(0)
    theta = nn.Parameter(torch.zeros(2))
    weighting = UncertaintyWeighting(num_layers=1)
    opt = torch.optim.Adam([theta, *weighting.parameters()], lr=0.05)
    for _ in range(1500):
        targets = torch.randn(64, 2) * torch.tensor([0.2, 1.0])
        mse = (theta - targets).square().mean(dim=0)
        opt.zero_grad()
        weighting.backward(_losses([mse[0], mse[1]]), [theta])
        opt.step()
    variance = weighting.log_var.detach().exp()
    assert variance[1] > 10 * variance[0]
    assert variance[0] == pytest.approx(0.04, rel=0.5) and variance[1] == pytest.approx(1.0, rel=0.5)


@pytest.mark.parametrize("scheme", ["uncertainty", "gradnorm"])
def test_a_learned_weighting_gets_its_own_learning_rate(scheme: str) -> None:
    """Losses 200x apart (an MSE of 0.005 next to a cross-entropy of 1): in 300 steps at the
    model's rate (1e-3) the log-variances move by < 0.3, far from their balance exp(s_k) = L_k;
    at their own rate 0.1 they reach it. GradNorm's weights train in their own group too."""
    model = nn.Linear(1, 1)
    weighting = UncertaintyWeighting(1, lr=0.1) if scheme == "uncertainty" else GradNorm(1, lr=0.1)
    opt = make_optimizer(model, weighting, 1e-3)
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 0.1]
    assert [len(g["params"]) for g in opt.param_groups] == [2, 1]
    assert len(make_optimizer(model, GradNorm(1), 1e-3).param_groups) == 1  # no lr: one group, as before
    if scheme == "gradnorm":
        return
    slow = UncertaintyWeighting(1)
    for w in (weighting, slow):
        opt = make_optimizer(model, w, 1e-3)
        for _ in range(300):
            opt.zero_grad()
            zero = 0 * model.weight.sum()
            w.backward(_losses([torch.tensor(0.005) + zero, torch.tensor(1.0) + zero]), list(model.parameters()))
            opt.step()
    balance = torch.tensor([0.005, 1.0]).log()
    assert torch.allclose(weighting.log_var.detach(), balance, atol=0.1)
    assert (slow.log_var.detach() - balance).abs().max() > 4
    with pytest.raises(ValueError, match="uncertainty: lr must be a number > 0"):
        UncertaintyWeighting(1, lr=0.0)


def test_dwa_weights_follow_the_formula_on_a_scripted_loss_sequence() -> None:
    weighting = DynamicWeightAverage(num_layers=1, temperature=2.0)
    epochs = [[1.0, 2.0], [0.5, 1.8], [0.4, 1.0]]
    assert weighting.current_weights() == {"distortion": [1.0], "semantic": [1.0]}
    weighting.end_epoch(epochs[0])
    assert weighting.weights.tolist() == [1.0, 1.0]  # the first two epochs weigh alike
    for t in (1, 2):
        weighting.end_epoch(epochs[t])
        r = torch.tensor([epochs[t][k] / epochs[t - 1][k] for k in range(2)], dtype=torch.float64)
        expected = 2 * torch.exp(r / 2) / torch.exp(r / 2).sum()
        assert torch.allclose(weighting.weights, expected)
    total = weighting(_losses([torch.tensor(3.0), torch.tensor(5.0)]))
    assert float(total) == pytest.approx(float(3 * weighting.weights[0] + 5 * weighting.weights[1]))
    restored = DynamicWeightAverage(num_layers=1)
    restored.load_state_dict(weighting.state_dict())
    assert torch.equal(restored.weights, weighting.weights) and torch.equal(restored.history, weighting.history)


def test_gradnorm_equalises_the_task_gradient_norms_on_the_shared_parameters() -> None:
    """Two tasks whose gradients on a shared vector differ 30-fold; with alpha = 0 GradNorm
    drives the weighted gradient norms to one value."""
    torch.manual_seed(0)
    shared = nn.Parameter(torch.randn(8))
    weighting = GradNorm(num_layers=1, alpha=0.0)
    opt = torch.optim.Adam([*weighting.parameters()], lr=0.02)  # the weights only: a fixed problem
    a, b = torch.randn(8), torch.randn(8)
    for _ in range(400):
        losses = _losses([30 * (shared @ a).square(), (shared @ b).square()])
        opt.zero_grad()
        shared.grad = None
        weighting.backward(losses, [shared])
        opt.step()
    w = weighting.normalised().detach()
    with torch.no_grad():
        norms = [w[0] * 30 * 2 * (shared @ a).abs() * a.norm(), w[1] * 2 * (shared @ b).abs() * b.norm()]
    assert float(norms[0] / norms[1]) == pytest.approx(1.0, rel=0.05)
    assert float(w.sum()) == pytest.approx(2.0)


def test_pcgrad_projects_conflicting_gradients_as_the_formula_says() -> None:
    g1, g2 = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])
    combined = PCGrad.project([g1, g2], [[0, 1], [1, 0]])
    p1 = g1 - (g1 @ g2) / (g2 @ g2) * g2  # [0.5, 0.5]
    p2 = g2 - (g2 @ g1) / (g1 @ g1) * g1  # [0, 1]
    assert torch.allclose(combined, p1 + p2) and torch.allclose(combined, torch.tensor([0.5, 1.5]))
    assert float(p1 @ g2) >= -1e-7 and float(p2 @ g1) >= -1e-7
    # Through backward: the shared gradient is the projected sum, the rest the plain sum's.
    shared, head = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.ones(()))
    losses = _losses([shared @ g1 + head, shared @ g2 + 2 * head])
    PCGrad(num_layers=1).backward(losses, [shared])
    assert torch.allclose(shared.grad, torch.tensor([0.5, 1.5])) and float(head.grad) == 3.0
    # Gradients that agree are left alone.
    assert torch.allclose(PCGrad.project([g1, g1], [[0, 1], [1, 0]]), 2 * g1)


def test_upgrad_direction_conflicts_with_no_task_and_is_the_sum_without_conflict() -> None:
    upgrad = JacobianDescent(num_layers=1, aggregator="upgrad")
    agree = torch.tensor([[1.0, 0.2, 0.0], [0.3, 1.0, 0.5]])
    assert torch.allclose(upgrad.direction(agree), agree.sum(0), atol=1e-5)  # no conflict: the plain sum
    g = torch.Generator().manual_seed(0)
    for _ in range(50):  # random Jacobians with conflicts: J d >= 0 for every task, up to the 1e-4 that
        # torchjd's solver adds to the (normalised) Gramian's diagonal
        jac = torch.randn(4, 6, generator=g, dtype=torch.float64)
        d = upgrad.direction(jac.float()).double()
        assert ((jac @ d) / (jac.norm(dim=1) * d.norm()) >= -5e-3).all(), jac @ d
    conflict = torch.tensor([[1.0, 0.0], [-2.0, 0.5]])
    assert float(conflict[0] @ conflict.sum(0)) < 0  # the plain sum would raise task 1's loss
    d = upgrad.direction(conflict)
    assert (conflict @ d >= -1e-6).all() and not torch.allclose(d, conflict.sum(0))


def test_imtl_g_direction_projects_equally_on_every_task() -> None:
    imtl = JacobianDescent(num_layers=1, aggregator="imtl-g")
    jac = torch.tensor([[2.0, 0.0, 0.0], [-1.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
    d = imtl.direction(jac)
    projections = (jac / jac.norm(dim=1, keepdim=True)) @ d
    assert torch.allclose(projections, projections[0].expand(3), rtol=1e-4) and projections[0] > 0


def test_jacobian_descent_fills_the_shared_gradient_with_the_direction() -> None:
    shared, head = nn.Parameter(torch.tensor([1.0, -2.0])), nn.Parameter(torch.tensor(0.5))
    losses = _losses([(shared * torch.tensor([1.0, 0.0])).sum() * 3 + head, (shared * torch.tensor([-1.0, 1.0])).sum()])
    upgrad = JacobianDescent(num_layers=1, aggregator="upgrad")
    upgrad.backward(losses, [shared])
    jac = torch.tensor([[3.0, 0.0], [-1.0, 1.0]])
    assert torch.allclose(shared.grad, upgrad.direction(jac)) and float(head.grad) == 1.0


@pytest.mark.parametrize("name", ["uncertainty", "dwa", "gradnorm", "pcgrad", "upgrad", "imtl-g", "gradsplit"])
def test_each_weighting_trains_and_resumes_exactly(name: str, tmp_path: Path) -> None:
    cfg = TrainConfig(dataset="mnist", ratios=(1 / 49, 2 / 49), data_root="embedded", epochs=2, batch_size=64, options={"width": 8},
                      limit=128, arch="klt-refine", sample_layers=False, distortion="mse", weighting=name)
    whole = train(cfg, tmp_path / "whole")
    assert all(len(h["weights"]["semantic"]) == 2 for h in whole)

    class Killed(Exception):
        pass

    def kill_in_the_last_epoch(desc: str, done: int, total: int) -> None:
        if done == total - 1:
            raise Killed

    with pytest.raises(Killed):
        train(cfg, tmp_path / "part", progress=kill_in_the_last_epoch)
    resumed = train(cfg, tmp_path / "part", resume=True)
    assert resumed[-1]["loss"] == whole[-1]["loss"] and resumed[-1]["weights"] == whole[-1]["weights"]


def test_weighting_options_and_losses_are_checked_in_one_line(semcomm_cli, tmp_path: Path) -> None:
    base = ["train", "--data-root", "embedded", "--out", str(tmp_path / "r")]
    cases = [
        (["--weighting", "uncertainty"], "--weighting uncertainty takes ratios of task losses"),
        (["--weighting", "dwa", "--distortion", "mse", "--weighting-opt", "alpha=2"], "--weighting dwa takes no --weighting-opt alpha"),
        (["--weighting", "gradnorm", "--distortion", "mse", "--weighting-opt", "alpha"], "bad --weighting-opt 'alpha'"),
        (["--weighting", "dwa", "--distortion", "mse", "--weighting-opt", "temperature=0"], "temperature must be > 0"),
        (["--weighting", "gradsplit", "--gradsplit-relation", "1,0;0,1;1,1"], "--gradsplit-relation must be 2 x 2"),
        (["--weighting", "gradsplit", "--gradsplit-relation", "1;x"], "bad --gradsplit-relation '1;x'"),
        (["--weighting", "fixed", "--gradsplit-relation", "1,0;0,1"], "--weighting fixed takes no --gradsplit-relation"),
        (["--weighting", "gradsplit", "--arch", "conv"], "splits the convolutions a model declares (split_modules): 'conv' declares none"),
    ]
    for args, message in cases:
        result = semcomm_cli(*base, *args)
        lines = result.error_lines()
        assert result.returncode == 2 and len(lines) == 1 and message in lines[0], (args, result.stderr)


def test_jacobian_descent_without_torchjd_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchjd" else real(name, *a))
    with pytest.raises(ValueError, match=r'^--weighting upgrad needs torchjd .*pip install "semcomm\[mtl\]"$'):
        JacobianDescent(num_layers=1, aggregator="upgrad")


class _TwoHeads(nn.Module):
    """A shared conv (split by GradSplit), a shared PReLU (not split) and one head per task type."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.act = nn.PReLU(4)
        self.recon_head = nn.Conv2d(4, 2, 1)
        self.class_head = nn.Linear(4, 3)

    def split_modules(self) -> list[nn.Conv2d]:
        return [self.conv]

    def shared_parameters(self) -> list[nn.Parameter]:
        return [*self.conv.parameters(), *self.act.parameters()]

    def losses(self, x: torch.Tensor, live: str) -> TaskLosses:
        f = self.act(self.conv(x))
        recon = (self.recon_head(f) - x).square().mean()
        ce = nn.functional.cross_entropy(self.class_head(f.mean((2, 3))), torch.tensor([0, 2]))
        zero = torch.zeros(())
        return _losses([recon if live != "semantic" else zero, ce if live != "recon" else zero])


@pytest.mark.parametrize(("relation", "live", "updated"), [
    ({}, "recon", {0}), ({}, "semantic", {1}),  # own task only
    ({"relation": [[1, 1], [0, 1]]}, "recon", {0, 1}), ({"relation": [[1, 1], [0, 1]]}, "semantic", {1}),  # asymmetric
    ({"relation": [[1, 0], [1, 1]]}, "semantic", {0, 1}), ({"relation": [[1, 0], [1, 1]]}, "recon", {0}),
])
def test_gradsplit_gradient_of_a_task_on_a_disallowed_group_is_exactly_zero(
        relation: dict[str, float], live: str, updated: set[int]) -> None:
    from semcomm.mtl import GradSplit

    model = _TwoHeads()
    split = GradSplit(num_layers=1, semantic=0.5, **relation)
    split.attach(model)
    x = torch.randn(2, 2, 5, 5, generator=torch.Generator().manual_seed(1))
    for p in model.parameters():
        p.grad = None
    split.backward(model.losses(x, live), model.shared_parameters())
    for group, rows in enumerate((slice(0, 2), slice(2, 4))):  # 4 output channels, 2 task types
        weight, bias = model.conv.weight.grad[rows], model.conv.bias.grad[rows]
        if group in updated:
            assert weight.abs().sum() > 0 and bias.abs().sum() > 0, (group, live)
        else:
            assert torch.equal(weight, torch.zeros_like(weight)) and torch.equal(bias, torch.zeros_like(bias)), (group, live)
    assert model.act.weight.grad.abs().sum() > 0  # not split: the plain gradient
    # Both tasks live: each group gets exactly its allowed tasks' gradients, the rest the sum.
    both = _TwoHeads()
    split.backward(both.losses(x, "both"), both.shared_parameters())
    plain = _TwoHeads()
    recon, ce = plain.losses(x, "both").flat()
    grads = {name: torch.autograd.grad(loss, [plain.conv.weight], retain_graph=True)[0]
             for name, loss in (("recon", recon), ("semantic", 0.5 * ce))}
    rel = split.relation
    for group, rows in enumerate((slice(0, 2), slice(2, 4))):
        expected = rel[0][group] * grads["recon"][rows] + rel[1][group] * grads["semantic"][rows]
        assert torch.allclose(both.conv.weight.grad[rows], expected, atol=1e-6)


def test_gradsplit_options_are_checked() -> None:
    from semcomm.mtl import GradSplit

    with pytest.raises(ValueError, match=r"--gradsplit-relation must be 2 x 2 \(rows and columns: recon, semantic\), got 3 rows"):
        GradSplit(num_layers=2, relation=[[1, 0], [0, 1], [1, 1]])
    with pytest.raises(ValueError, match="entries must be 0 or 1"):
        GradSplit(num_layers=2, relation=[[1, 0.5], [0, 1]])
    with pytest.raises(ValueError, match="needs a model that declares its split convolutions"):
        GradSplit(num_layers=1).attach(nn.Linear(2, 2))
