"""Source-free adversarial channel adaptation of a deployed receiver (after Chu et al., AAAI 2023,
"Adversarial Alignment for Source-Free Object Detection", A²SFOD).

A ``klt-refine`` model trained on one channel is deployed on another. Its transmitter stays as
it is; its receiver adapts from what it receives on the new (target) channel alone: no source
data, no images, no labels. The API makes that structural: :func:`adapt` takes the model and an
iterable of :class:`Received` batches, which hold what a receiver holds (its LMMSE
coefficients and the noise level it sees), nothing else; :class:`TargetLink` is the simulator's
side that makes them (it owns the images and the channel, and gives out only
:class:`Received`).

Each step, on a batch of received signals (one random layer decoded per example):

1. **Mean teacher.** The teacher is an exponential moving average of the student
   (``teacher <- ema * teacher + (1 - ema) * student`` over every receiver parameter, after
   each step; :func:`ema_update`); the transmitter's parameters stay as deployed.
2. **Variance split.** The teacher decodes the batch ``passes`` times, each with fresh
   Gaussian perturbations of the coefficients (std ``perturbation`` times the closed-form
   LMMSE error std of each coefficient: what the receiver knows of its own uncertainty). The
   examples whose class probabilities vary least across the passes (the ``similar`` fraction,
   default 20 %) form the *source-similar* part, the rest the *source-dissimilar* part
   (:func:`variance_split`).
3. **Self-training.** The student learns the teacher's pseudo-labels where the teacher's mean
   confidence exceeds ``threshold`` (cross-entropy) and the teacher's reconstruction of the
   unperturbed coefficients (MSE, the ``recon`` task). The mean of the perturbed passes'
   reconstructions is a blurred target: it cost 0.15 dB on the TDL-C target of
   ``benchmarks/adapt_channels.py`` in 300 steps, the unperturbed one nothing.
4. **Diversity.** Minus the entropy of the batch's mean class prediction
   (:func:`diversity_loss`, ``diversity``; SHOT's term, Liang et al. 2020). Without it
   self-training on a teacher that is confident where it is wrong collapses: on
   ``benchmarks/adapt_channels.py``'s Rician target (no CSI) the teacher passed the 0.9
   threshold on 68 % of the examples while classifying 47 % right, and 300 steps took the
   accuracy to 39 % (to 10 %, one class, when the discriminator was left to act alone).
5. **Adversarial alignment.** A discriminator on the student's pooled receiver features,
   behind a gradient-reversal layer, tells the two parts apart; the reversed gradient pushes
   the receiver to make the dissimilar part look like the similar one.

The adapted model is the teacher (the mean teacher's usual choice), saved as a normal checkpoint
whose metadata records the adaptation, so ``semcomm sweep`` evaluates it like any model.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import channels
from semcomm.errors import FieldError
from semcomm.models.checkpoint import save_checkpoint
from semcomm.models.klt_refine import KLTRefineJSCC

__all__ = ["AdaptConfig", "Received", "TargetLink", "adapt", "check_target", "diversity_loss", "ema_update", "receiver_parameters", "save_adapted",
           "variance_split"]


@dataclass(frozen=True)
class Received:
    """One batch of what the receiver has on the target channel, and nothing else.

    Attributes:
        c_hat: the LMMSE coefficients ``[B, m]`` (from the equalised symbols and the side
            information the transmitter sends with them).
        noise_var: the per-symbol error variance the receiver sees, broadcastable to ``[B, K]``.
    """

    c_hat: torch.Tensor
    noise_var: torch.Tensor


#: The most stochastic teacher passes per adaptation step (each is a full decode of the batch).
MAX_PASSES = 64
#: The most received examples per adaptation step.
MAX_BATCH = 4096


@dataclass(frozen=True)
class AdaptConfig:
    """The adaptation run.

    Attributes:
        channel, channel_kwargs, csi: the target channel and the receiver's CSI mode there.
        snr: ``(lo, hi)`` dB, each example's SNR uniform in it.
        steps, batch_size, lr: optimisation (Adam on the student's receiver and the
            discriminator).
        ema: the teacher's EMA decay.
        threshold: the teacher confidence above which a pseudo-label is used.
        passes: stochastic teacher passes for the variance split.
        perturbation: their coefficient noise, in LMMSE error standard deviations.
        similar: the fraction of each batch called source-similar.
        adversarial: weight of the discriminator loss.
        diversity: weight of the diversity term (minus the entropy of the batch's mean class
            prediction; SHOT's, Liang et al. 2020), which keeps self-training from collapsing
            onto one class.
        seed: the one seed.
    """

    channel: str
    csi: str
    snr: tuple[float, float]
    channel_kwargs: dict[str, Any] = field(default_factory=dict)
    steps: int = 300
    batch_size: int = 64
    lr: float = 1e-4
    ema: float = 0.99
    threshold: float = 0.9
    passes: int = 4
    perturbation: float = 0.5
    similar: float = 0.2
    adversarial: float = 0.1
    diversity: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise FieldError("lr", f"bad {{field}} {self.lr:g}: the learning rate must be a positive number, e.g. 1e-4")
        lo, hi = self.snr
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise FieldError("snr", f"bad {{field}} {lo:g}:{hi:g}: give lo:hi with lo <= hi, or one value")
        for name, value in (("ema", self.ema), ("similar", self.similar), ("threshold", self.threshold)):
            if not 0 < value < 1:
                raise FieldError(name, f"{{field}} must lie strictly between 0 and 1, got {value:g}")
        for name, value in (("adversarial", self.adversarial), ("diversity", self.diversity)):
            if not (math.isfinite(value) and value >= 0):
                raise FieldError(name, f"{{field}} must be a number >= 0, got {value:g}")
        if not 2 <= self.passes <= MAX_PASSES:
            raise FieldError("passes", f"{{field}} must be from 2 (a variance needs two passes) to {MAX_PASSES}, got {self.passes}")
        if self.batch_size > MAX_BATCH:
            raise FieldError("batch_size", f"{{field}} {self.batch_size} is too large: at most {MAX_BATCH} received examples per step")
        if self.steps < 1 or self.batch_size < 2:
            raise FieldError("steps", f"{{field}} must be >= 1 and {{batch}} >= 2, got {self.steps} and {self.batch_size}",
                             batch="batch_size")


class TargetLink:
    """The simulated target link: a deployed transmitter sends images over the target channel.

    Iterating it yields :class:`Received` batches forever (images drawn at random, SNR per
    example uniform in ``cfg.snr``); the images never leave this object.

    Args:
        model: the deployed model (its transmitter and fixed LMMSE front end are used).
        images: uint8 ``[N, C, H, W]`` that the transmitter sends (not the test set).
        cfg: the target channel, CSI, SNR range, batch size and seed.
    """

    def __init__(self, model: KLTRefineJSCC, images: torch.Tensor, cfg: AdaptConfig) -> None:
        self._model = model
        self._images = images
        self._cfg = cfg
        self._channel = channels.get(cfg.channel, **cfg.channel_kwargs).to(images.device)
        channels.check_csi(cfg.csi, self._channel)
        self._generator = torch.Generator(device=images.device).manual_seed(cfg.seed)

    def __iter__(self) -> Iterator[Received]:
        lo, hi = self._cfg.snr
        while True:
            g = self._generator
            idx = torch.randint(0, len(self._images), (self._cfg.batch_size,), generator=g, device=g.device)
            x = self._images[idx].float() / 255
            snr = lo + (hi - lo) * torch.rand(len(idx), generator=g, device=g.device)
            with torch.no_grad():
                sent = self._model.send(x, self._channel, snr, self._cfg.csi, g)
            yield Received(c_hat=sent.c_hat, noise_var=sent.noise_var)


def check_target(train: dict[str, Any], cfg: AdaptConfig) -> None:
    """One line if there is nothing to adapt to: the target is the channel the model was
    trained on (``train``: its checkpoint's training config) with the same CSI mode and
    options, or the receiver's LMMSE front end gets no signal there (no CSI on a channel whose
    mean gain is 0, such as Rayleigh: every coefficient's estimate is 0)."""
    same = (train.get("channel", "awgn"), train.get("csi", "perfect"), train.get("channel_kwargs", {})) == (
        cfg.channel, cfg.csi, cfg.channel_kwargs)
    if same:
        raise FieldError("channel", f"the model was trained on {cfg.channel} with CSI {cfg.csi} and these options: adapting "
                         "it there changes nothing; give another {field}, {csi} or channel option", csi="csi")
    channel = channels.get(cfg.channel, **cfg.channel_kwargs)
    channels.check_csi(cfg.csi, channel)
    if cfg.csi == "none" and abs(channel.mean_gain) == 0:
        raise FieldError("csi", f"with {{field}} none on {cfg.channel} (mean gain 0) the receiver's LMMSE estimate of every "
                         "coefficient is 0: there is nothing to adapt from; give a CSI mode or a channel with a "
                         "line-of-sight part (rician)")


def receiver_parameters(model: KLTRefineJSCC) -> list[nn.Parameter]:
    """What adaptation changes: every parameter but the transmitter's (its residual CNN and
    gains stay as deployed)."""
    frozen = {id(p) for p in [*model.tx_residual.parameters(), model.gain_log]}
    return [p for p in model.parameters() if id(p) not in frozen]


@torch.no_grad()
def ema_update(teacher: Iterable[torch.Tensor], student: Iterable[torch.Tensor], decay: float) -> None:
    """``t <- decay * t + (1 - decay) * s`` for each pair of tensors (the receiver's parameters)."""
    for t, s in zip(teacher, student, strict=True):
        t.mul_(decay).add_(s, alpha=1 - decay)


def variance_split(variance: torch.Tensor, fraction: float) -> torch.Tensor:
    """Bool ``[B]``: the ``ceil(fraction * B)`` examples of lowest ``variance`` ``[B]`` (ties by
    index): the source-similar part."""
    count = max(1, math.ceil(fraction * variance.shape[0]))
    order = torch.argsort(variance, stable=True)
    mask = torch.zeros_like(variance, dtype=torch.bool)
    mask[order[:count]] = True
    return mask


def diversity_loss(logits: torch.Tensor) -> torch.Tensor:
    """Minus the entropy of the batch's mean class prediction (logits ``[B, classes]``): from 0
    when every example is put in one class to ``-log(classes)`` when the batch's predictions
    spread evenly over the classes (SHOT's diversity term, Liang et al. 2020)."""
    mean = logits.softmax(-1).mean(0)
    return (mean * mean.clamp_min(1e-12).log()).sum()


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return -grad


def _decode(model: KLTRefineJSCC, batch: Received, layer: torch.Tensor, noise: torch.Tensor | None = None
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images ``[B, C, H, W]``, logits ``[B, classes]`` and features ``[B, F]`` of each example's
    ``layer`` (coefficients plus ``noise`` if given)."""
    c_hat = batch.c_hat if noise is None else batch.c_hat + noise
    out = model.receive(c_hat, batch.noise_var, layer)
    order = torch.cat([torch.nonzero(layer == l).flatten() for l in range(model.config.num_layers)])
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(len(order), device=order.device)
    logits = torch.cat([tasks["class"] for tasks in out.tasks])
    return torch.cat(out.recon)[inverse], logits[inverse], torch.cat(out.features)[inverse]


def _error_std(model: KLTRefineJSCC, batch: Received) -> torch.Tensor:
    """Closed-form LMMSE error std per coefficient ``[B, m]`` at the batch's noise levels."""
    sc = model.softcast
    half = sc._per_coefficient(batch.noise_var, batch.c_hat.shape[0]) / 2
    g2 = model.gains().square()
    return (sc.eigvals * half / (g2 * sc.eigvals + half)).sqrt()


def adapt(
    model: KLTRefineJSCC,
    received: Iterable[Received],
    cfg: AdaptConfig,
    progress: Callable[[int, dict[str, float]], None] | None = None,
) -> tuple[KLTRefineJSCC, list[dict[str, float]]]:
    """Adapt ``model``'s receiver to the channel ``received`` comes from; returns the adapted
    model (the teacher, in eval mode) and per-step statistics. ``model`` is not modified.

    Args:
        model: the deployed ``klt-refine`` model.
        received: batches of :class:`Received` from the target channel (no images, no labels).
        cfg: the run.
        progress: called after each step with the step and its statistics.
    """
    if not isinstance(model, KLTRefineJSCC):
        raise ValueError(f"adapt needs a klt-refine model, not {type(model).__name__}")
    if any("class" not in tasks for tasks in model.layout.layers):
        raise ValueError("adapt self-trains the class head of every layer: the model must serve class at each layer")
    torch.manual_seed(cfg.seed)
    device = model.gain_log.device
    g = torch.Generator(device=device).manual_seed(cfg.seed + 1)
    student, teacher = copy.deepcopy(model).train(), copy.deepcopy(model).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    width = student.task_heads["class"][0].in_features
    discriminator = nn.Sequential(nn.Linear(width, 64), nn.PReLU(), nn.Linear(64, 1)).to(device)
    opt = torch.optim.Adam([*receiver_parameters(student), *discriminator.parameters()], lr=cfg.lr)
    history = []
    for step, batch in zip(range(cfg.steps), received):
        t0 = time.perf_counter()
        n, L = batch.c_hat.shape[0], model.config.num_layers
        layer = torch.randint(0, L, (n,), generator=g, device=device)
        with torch.no_grad():
            std = _error_std(teacher, batch)
            passes = [_decode(teacher, batch, layer, cfg.perturbation * std * torch.randn(std.shape, generator=g, device=device))
                      for _ in range(cfg.passes)]
            probs = torch.stack([p[1].softmax(-1) for p in passes])  # [T, B, classes]
            recon_target = _decode(teacher, batch, layer)[0]
            mean_probs = probs.mean(0)
            confidence, pseudo = mean_probs.max(-1)
            similar = variance_split(probs.var(0, correction=0).sum(-1), cfg.similar)
        recon, logits, features = _decode(student, batch, layer)
        keep = confidence > cfg.threshold
        ce = F.cross_entropy(logits[keep], pseudo[keep]) if keep.any() else logits.new_zeros(())
        rec = F.mse_loss(recon, recon_target)
        adv = F.binary_cross_entropy_with_logits(discriminator(_Reverse.apply(features)).squeeze(-1), similar.float())
        loss = ce + rec + cfg.adversarial * adv + cfg.diversity * diversity_loss(logits)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if not torch.isfinite(loss.detach()):
            raise FieldError("lr", f"adaptation diverged at step {step + 1}: the loss is not finite ({float(loss.detach())}); nothing "
                             f"was written. Likely cause: {{field}} {cfg.lr:g} or a loss weight too large: lower it")
        opt.step()
        ema_update(receiver_parameters(teacher), receiver_parameters(student), cfg.ema)
        if not all(torch.isfinite(p).all() for p in receiver_parameters(teacher)):
            raise FieldError("lr", f"adaptation diverged at step {step + 1}: a weight is not finite; nothing was written. "
                             f"Likely cause: {{field}} {cfg.lr:g} too large: lower it")
        stats = {"ce": ce.item(), "recon_mse": rec.item(), "discriminator": adv.item(),
                 "pseudo_labelled": float(keep.float().mean()), "seconds": time.perf_counter() - t0}
        history.append(stats)
        if progress is not None:
            progress(step + 1, stats)
    return teacher.eval(), history


def save_adapted(run_dir: str | Path, model: KLTRefineJSCC, source_meta: dict[str, Any], cfg: AdaptConfig,
                 history: list[dict[str, float]], source: str) -> Path:
    """Write the adapted model as a checkpoint in ``run_dir``; its metadata keeps the source
    model's and adds ``adapted``: the config, the source model and the time spent."""
    meta = {**source_meta, "adapted": {"from": source, "config": asdict(cfg) | {"snr": list(cfg.snr)},
                                       "seconds": round(sum(h["seconds"] for h in history), 1),
                                       "final": history[-1] if history else {}}}
    return save_checkpoint(run_dir, model, meta)
