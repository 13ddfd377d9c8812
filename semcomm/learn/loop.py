"""The training loop of multi-resolution JSCC models (``semcomm train``).

It knows no architecture, dataset or task by name: the model's own training-loss hook
(:meth:`semcomm.models.JSCCModel.training_losses`) turns a batch into losses keyed by (task,
layer) through the run's :class:`~semcomm.learn.objective.Objective`, a loss weighting
(:mod:`semcomm.mtl`) turns them into the step's total, and the training set
(:mod:`semcomm.learn.data`) gives each step's images.

One seed fixes every random draw (initialisation, shuffling, augmentation, SNRs, channel gains
and noise); a resumed run continues the same random streams, so an interrupted and resumed
run gives the same weights as an uninterrupted one.

Under ``torchrun --nproc-per-node N -m semcomm train ...`` (:mod:`semcomm.learn.distributed`)
the same trainer runs in every process with DistributedDataParallel: each epoch's permutation
comes from ``(seed, epoch)`` and is sharded across the processes (global batch
``N * batch_size``), each process draws its own noise (rank 0's stream is the single-process
one), gradients and the epoch statistics are averaged over all of them, and rank 0 alone
validates, checkpoints and reports progress.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

import channels
from semcomm.atomic import folder_lock
from semcomm.errors import FieldError
import semcomm.learn.distributed as distributed
from semcomm.learn.checkpointing import restore, save_epoch, state_files
from semcomm.learn.config import TrainConfig, validate
from semcomm.learn.data import training_set
from semcomm.learn.objective import LOSS_TO_PSNR, Objective
from semcomm.models.base import JSCCModel, build_model
from semcomm.models.checkpoint import MODEL_FILE
from semcomm.mtl import LossWeighting, TaskLosses, get_weighting
from semcomm.seeding import point_generator

__all__ = ["batch_losses", "initialise_from", "make_optimizer", "train", "validation_snrs"]


class _TrainStep(nn.Module):
    """One training step's losses as a module, so that DistributedDataParallel can wrap it: the
    model, the loss weighting (whose parameters train with the model's), the channel and the
    objective.

    Args:
        model: the JSCC model.
        weighting: the loss weighting, attached to ``model``.
        channel: the training channel.
        objective: each (task, layer) loss of the model's outputs.
        cfg: the run.
    """

    def __init__(self, model: JSCCModel, weighting: LossWeighting, channel: channels.Channel, objective: Objective,
                 cfg: TrainConfig) -> None:
        super().__init__()
        self.model, self.weighting, self.channel, self.cfg = model, weighting, channel, cfg
        self.objective = objective
        self.shared = model.shared_parameters()

    def losses(self, images: torch.Tensor, labels: torch.Tensor | None, g: torch.Generator) -> TaskLosses:
        """The (task, layer) losses of the batch (:func:`batch_losses`)."""
        return batch_losses(self.model, images, labels, self.cfg, self.channel, g, self.objective)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None, g: torch.Generator) -> tuple[torch.Tensor, TaskLosses]:
        """The weighted total (a scalar, to back-propagate) and the task losses of one batch."""
        losses = self.losses(images, labels, g)
        return self.weighting.total(losses, self.shared), losses


def batch_losses(model: JSCCModel, images: torch.Tensor, labels: torch.Tensor | None, cfg: TrainConfig,
                 channel: channels.Channel, g: torch.Generator, objective: Objective | None = None) -> TaskLosses:
    """The (task, layer) losses of one training batch ``images`` ``[B, C, H, W]`` in [0, 1]
    (``labels`` ``[B]`` or None): each example draws its SNR from ``cfg.snr_train`` and, with
    ``cfg.sample_layers``, the layer it decodes; the model's
    :meth:`~semcomm.models.JSCCModel.training_losses` does the rest (``objective``: the run's,
    else one built for the model's layout)."""
    lo, hi = cfg.snr_train
    snr = lo + (hi - lo) * torch.rand(images.shape[0], generator=g, device=images.device)
    L = model.config.num_layers
    layer = torch.randint(0, L, (images.shape[0],), generator=g, device=images.device) if cfg.sample_layers else None
    objective = objective or Objective(cfg.distortion, model.layout, model.config.dataset_info())
    return model.training_losses(images, labels, channel, snr, cfg.csi, layer, g, objective)


def diverged(cfg: TrainConfig, run_dir: Path, epoch: int, step: int, loss: float, what: str = "the loss") -> FieldError:
    """The one-line error of a run whose loss or weights stopped being finite at (0-based)
    ``epoch`` and ``step``: what was kept, and the likely cause (the learning rate, a weight)."""
    kept = (f"the last finite checkpoint, of epoch {epoch}, is kept in {str(run_dir)!r}" if epoch > 0
            else "no checkpoint was written")
    value = "" if what != "the loss" else f" ({loss})"
    weights = ", ".join(f"{k}={v}" for k, v in cfg.weighting_kwargs.items()).replace("{", "{{").replace("}", "}}")
    kept = kept.replace("{", "{{").replace("}", "}}")
    return FieldError("lr", f"training diverged at epoch {epoch + 1}, step {step + 1}: {what} is not finite{value}; "
                      f"{kept}. Likely cause: {{field}} {cfg.lr:g} or a task weight ({cfg.weighting}"
                      f"{': ' + weights if weights else ''}) too large: lower it")


def initialise_from(model: JSCCModel, source: str) -> tuple[int, int]:
    """Copy into ``model`` every tensor of the checkpoint ``source`` (a pretrained name, run
    directory or file) whose name and shape match one of the model's; return (copied, the
    model's tensors). Only safetensors are read.

    Raises:
        FieldError: one line, if ``source`` is not a checkpoint or shares no tensor with the model.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from semcomm.models.checkpoint import resolve_checkpoint

    try:
        weights = model.upgrade_state_dict(load_file(str(resolve_checkpoint(source))))
    except (ValueError, SafetensorError, OSError) as err:
        raise FieldError("init_from", f"{{field}} {source!r}: {str(err).splitlines()[0]}") from None
    own = model.state_dict()
    matching = {k: v for k, v in weights.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if not matching:
        raise FieldError("init_from", f"{{field}} {source!r} has no tensor of the model's names and shapes")
    with torch.no_grad():
        for key, value in matching.items():
            own[key].copy_(value)
    return len(matching), len(own)


def _noise_generator(seed: int, rank: int, device: torch.device) -> torch.Generator:
    """The generator of process ``rank``'s draws (shuffling without torchrun, augmentation,
    SNRs, layers, channel gains and noise): rank 0's, the only one of a single-process run, is
    seeded with ``seed``; rank ``r`` > 0's with a key derived from ``(seed, r)``."""
    g = torch.Generator(device=device)
    if rank == 0:
        return g.manual_seed(seed)
    key = np.random.SeedSequence([seed, rank]).generate_state(1, dtype=np.uint64)[0]
    return g.manual_seed(int(key >> np.uint64(1)))


def validation_snrs(cfg: TrainConfig) -> list[float]:
    """The SNRs the held-out split is scored at: the ends and the middle of the training range."""
    lo, hi = cfg.snr_train
    return sorted({lo, (lo + hi) / 2, hi})


@torch.no_grad()
def _validate(model: JSCCModel, images: torch.Tensor, cfg: TrainConfig, channel: channels.Channel) -> dict[str, Any]:
    """Mean PSNR per layer (on 8-bit outputs) of the held-out images at :func:`validation_snrs`,
    with fixed draws (the same every epoch), and their mean, the score that picks "best"."""
    from semcomm.metrics import psnr  # metrics imports pytorch_msssim; keep it out of import time

    model.eval()
    per_snr = {}
    for snr in validation_snrs(cfg):
        g = point_generator(cfg.seed, snr, "val", device=images.device)
        sums = torch.zeros(model.config.num_layers, dtype=torch.float64)
        for start in range(0, len(images), 500):
            x = images[start : start + 500].float() / 255
            out = model(x, channel, snr, csi=cfg.csi, generator=g)
            sums += torch.stack([psnr(r, x).sum() for r in out.recon]).cpu()
        per_snr[f"{snr:g}"] = [round(v, 3) for v in (sums / len(images)).tolist()]
    model.train()
    score = sum(sum(v) for v in per_snr.values()) / (len(per_snr) * model.config.num_layers)
    return {"val_psnr": per_snr, "val_score": round(score, 4)}


def train(
    cfg: TrainConfig,
    run_dir: str | Path,
    resume: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    force: bool = False,
    download: bool = False,
    device: str | torch.device = "cpu",
    extend: bool = False,
    note: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Train (or, with ``resume``, continue) a model into ``run_dir``; checkpoint every epoch
    (:mod:`semcomm.learn.checkpointing`).

    Under torchrun (``WORLD_SIZE`` > 1, :mod:`semcomm.learn.distributed`) every process calls
    this: each trains on its shard of every epoch with its own noise stream,
    DistributedDataParallel averages the gradients (so the global batch is
    ``WORLD_SIZE * cfg.batch_size``), the epoch statistics are averaged over all processes (what
    the weighting and the history see), the processes' weights are checked to agree after every
    epoch, and rank 0 alone validates, writes the checkpoint (with every process's random
    streams) and calls ``progress`` and ``note``. ``resume`` needs the same number of processes.

    Args:
        cfg: the run.
        run_dir: output folder (``model.safetensors``, ``config.json``, ``train_state-e*.pt``).
        resume: continue the run found in ``run_dir`` (its config must equal ``cfg``).
        force: start afresh in a ``run_dir`` that already holds a run, overwriting it.
        extend: with ``resume``, let ``cfg.epochs`` exceed the run's planned epochs (the only
            field that may differ): the cosine learning-rate schedule then spans the new
            total, as if planned so from the start, so it rises again where the old one ended.
        note: called with a one-line remark for the user (e.g. ``limit`` above the data size).
        progress: called as ``progress(description, done_steps, total_steps)``.
        download: fetch missing dataset files first (official URLs, md5-checked).
        device: where the model, the data and every random draw live (``"cpu"``, ``"cuda"``;
            under torchrun ``"cuda"`` means ``cuda:LOCAL_RANK``). Random streams differ between
            devices, so a run is reproducible on the device it ran on; checkpoints are always
            saved from CPU tensors.

    Returns:
        The per-epoch history (loss, per-layer train PSNR and semantic loss, seconds).
    """
    validate(cfg)
    run_dir = Path(run_dir)
    if distributed.rank() != 0:
        return _train_checked(cfg, run_dir, resume, progress, force, download, device, extend, note)
    with folder_lock(run_dir, "a training"):
        return _train_checked(cfg, run_dir, resume, progress, force, download, device, extend, note)


def _train_checked(cfg: TrainConfig, run_dir: Path, resume: bool, progress: Callable[[str, int, int], None] | None,
                   force: bool, download: bool, device: str | torch.device, extend: bool,
                   note: Callable[[str], None] | None) -> list[dict[str, Any]]:
    """:func:`train` once the run folder is locked."""
    if resume and not (run_dir / MODEL_FILE).exists():
        raise FieldError("resume", f"{{field}}: {str(run_dir)!r} holds no run to continue; drop {{field}} to start one")
    if not resume and not force and ((run_dir / MODEL_FILE).exists() or state_files(run_dir)):
        raise FieldError("run_dir", f"{str(run_dir)!r} already holds a run: {{resume}} continues it, {{force}} overwrites it, "
                         "or choose another {field}", resume="resume", force="force")
    main = distributed.rank() == 0
    with distributed.process_group(torch.device(device)) as device:
        return _fit(cfg, run_dir, resume, extend, download, device, progress if main else None, note if main else None)


def _fit(cfg: TrainConfig, run_dir: Path, resume: bool, extend: bool, download: bool, device: torch.device,
         progress: Callable[[str, int, int], None] | None, note: Callable[[str], None] | None) -> list[dict[str, Any]]:
    """The training of :func:`train` in this process, one of several under torchrun (there only
    rank 0 gets ``progress`` and ``note``, validates and checkpoints)."""
    world, main = distributed.world_size(), distributed.rank() == 0
    with distributed.main_first():  # rank 0 downloads first
        data = training_set(cfg, device, download)
    if cfg.limit is not None and cfg.limit > data.n + cfg.val and note is not None:
        note(f"--limit {cfg.limit} is above the {data.n + cfg.val} training images: all {data.n + cfg.val} are used")
    n = data.n
    # Under torchrun each epoch's permutation of the n images comes from (seed, epoch), padded by
    # repeating its first images to a multiple of the process count, each process taking every
    # world-th one; a single process draws its permutation from its generator.
    sampler = DistributedSampler(range(n), world, distributed.rank(), seed=cfg.seed) if world > 1 else None
    shard = n if sampler is None else sampler.num_samples  # images per process and epoch
    steps_per_epoch = math.ceil(shard / cfg.batch_size)

    torch.manual_seed(cfg.seed)
    g = _noise_generator(cfg.seed, distributed.rank(), device)
    with distributed.main_first():  # rank 0 fits and caches a KLT first
        model = build_model(cfg.model_config(), data.fit, fresh=True).to(device)
    weighting = get_weighting(cfg.weighting, model.config.num_layers, **cfg.weighting_kwargs)
    weighting.attach(model)
    opt = make_optimizer(model, weighting, cfg.lr)
    sched = _cosine_schedule(opt, cfg.epochs * steps_per_epoch)
    channel = channels.get(cfg.channel, **cfg.channel_kwargs)
    history: list[dict[str, Any]] = []
    start_epoch = 0
    if resume:
        start_epoch, history = restore(run_dir, cfg, model, weighting, opt, sched, g, extend)
    elif cfg.init_from is not None:
        copied, total = initialise_from(model, cfg.init_from)
        if note is not None:
            note(f"--init-from {cfg.init_from}: {copied} of the model's {total} tensors start from its weights")
    step = _TrainStep(model, weighting, channel, Objective(cfg.distortion, model.layout, data.info), cfg)
    # find_unused_parameters: a step may leave parts unused (a sampled layer no example drew).
    ddp = None if world == 1 else DistributedDataParallel(
        step, device_ids=[device] if device.type == "cuda" else None, find_unused_parameters=True)

    to_psnr = LOSS_TO_PSNR[cfg.distortion]
    L = model.config.num_layers
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        t0 = time.perf_counter()
        if sampler is None:
            perm = torch.randperm(n, generator=g, device=device)
        else:
            sampler.set_epoch(epoch)
            perm = torch.tensor(list(sampler), device=device)
        sums = torch.zeros(1 + 2 * L, dtype=torch.float64)
        for step_index in range(steps_per_epoch):
            idx = perm[step_index * cfg.batch_size : (step_index + 1) * cfg.batch_size]
            x, labels = data.batch(idx, g)
            if ddp is None:
                losses = step.losses(x, labels, g)
                opt.zero_grad(set_to_none=True)
                total = weighting.backward(losses, step.shared)
            else:  # the weighting only weights losses (validate): DDP averages the total's gradients
                total, losses = ddp(x, labels, g)
                opt.zero_grad(set_to_none=True)
                total.backward()
            if not torch.isfinite(total.detach()).all():
                raise diverged(cfg, run_dir, epoch, step_index, float(total.detach()))
            opt.step()
            sched.step()
            with torch.no_grad():
                sums += torch.stack([total.detach(), *[d.detach() for d in losses.distortion],
                                     *[s.detach() for s in losses.semantic]]).double().cpu() * len(idx)
            if progress is not None:
                seen = min((step_index + 1) * cfg.batch_size, shard)
                running = " ".join(f"{to_psnr(v / seen):.2f}" for v in sums[1 : 1 + L].tolist())
                progress(f"epoch {epoch + 1}/{cfg.epochs} train PSNR {running} dB", epoch * steps_per_epoch + step_index + 1,
                         cfg.epochs * steps_per_epoch)
        means = (distributed.all_reduce_sum(sums) / (shard * world)).tolist()  # over every process's images
        weighting.end_epoch(means[1:])
        history.append({
            "epoch": epoch + 1,
            "loss": means[0],
            "train_psnr": [round(to_psnr(m), 3) for m in means[1 : 1 + L]],
            "train_ce": [round(c, 4) for c in means[1 + L :]],
            "seconds": round(time.perf_counter() - t0, 1),
            "weights": weighting.current_weights(),
        })
        distributed.check_same_weights(step.named_parameters(), f"after epoch {epoch + 1}")
        if cfg.val and main:
            history[-1] |= _validate(model, data.val_images, cfg, channel)
        if not all(torch.isfinite(p).all() for p in model.parameters()):
            raise diverged(cfg, run_dir, epoch, steps_per_epoch - 1, math.nan, "a weight")
        streams = distributed.gather_objects((g.get_state(), torch.get_rng_state()))
        if main:
            save_epoch(run_dir, cfg, model, weighting, opt, sched, streams, epoch + 1, history)
    return history


def make_optimizer(model: torch.nn.Module, weighting: LossWeighting, lr: float) -> torch.optim.Adam:
    """Adam over the model's and the weighting's parameters at ``lr``; a weighting with its own
    ``lr`` (only the schemes with parameters take one) gets a second parameter group at that rate
    (the cosine schedule scales both)."""
    if weighting.lr is None:
        return torch.optim.Adam([*model.parameters(), *weighting.parameters()], lr=lr)
    return torch.optim.Adam([{"params": list(model.parameters())}, {"params": list(weighting.parameters()), "lr": weighting.lr}],
                            lr=lr)


def _cosine_schedule(opt: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Cosine decay of every learning rate from ``lr`` to ``lr / 100`` over ``total_steps`` (closed
    form of the step count, so a run extended to more steps follows the longer cosine)."""
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(t, total_steps) / total_steps)))
