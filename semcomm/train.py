"""Training of multi-resolution JSCC models (``semcomm train``).

One seed fixes every random draw (initialisation, shuffling, augmentation, SNRs, channel gains
and noise); a resumed run continues the same random streams, so an interrupted and resumed
run gives the same weights as an uninterrupted one.

Under ``torchrun --nproc-per-node N -m semcomm train ...`` (:mod:`semcomm.distributed`) the
same trainer runs in every process with DistributedDataParallel: each epoch's permutation comes
from ``(seed, epoch)`` and is sharded across the processes (global batch ``N * batch_size``),
each process draws its own noise (rank 0's stream is the single-process one), gradients and
the epoch statistics are averaged over all of them, and rank 0 alone validates, checkpoints
and reports progress.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

import channels
from semcomm import distributed
from semcomm.data import EMBEDDED, ENV_VAR, load_images
from semcomm.models.checkpoint import BEST_FILE, MODEL_FILE, STATE_FILE, load_checkpoint, save_checkpoint
from semcomm.models.multires_jscc import DATASET_SHAPES, JSCCConfig, symbols_for_ratio
from semcomm.models.registry import ARCHITECTURES, build_model
from semcomm.models.softcast import LAYER_POWERS
from semcomm.registry import check_choice
from semcomm.seeding import check_seed, point_generator
from semcomm.mtl import WEIGHTINGS, LossWeighting, TaskLosses, get_weighting
from semcomm.tasks import RECON, ProxyTask, TaskLayout, get_task, parse_layout
from semcomm.atomic import replace_atomic
from semcomm.sweep.results_io import first_difference

__all__ = ["TrainConfig", "make_optimizer", "train", "psnr_from_mse"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (stored in the checkpoint).

    Attributes:
        dataset: ``"mnist"`` or ``"cifar10"``.
        ratios: bandwidth ratio ``k_l / n`` of each layer (``len(ratios)`` = number of layers).
        data_root: data root (or ``"embedded"`` for the packaged sample; smoke tests only).
        channel, channel_kwargs, csi: the training channel and receiver CSI mode.
        snr_train: ``(lo, hi)`` dB; each example draws its SNR uniformly from it (lo == hi: fixed).
        epochs, batch_size, lr: optimisation (Adam, cosine decay to lr/100).
        width: conv width of the model.
        arch: the architecture (:data:`semcomm.models.registry.ARCHITECTURES`).
        layer_power: the split of the frame's power across layers
            (:data:`semcomm.models.softcast.LAYER_POWERS`; ``"softcast"`` needs ``klt-refine``).
        tasks: the receiver-side tasks of each layer, a ``--tasks`` string
            (:func:`semcomm.tasks.parse_layout`); None: ``recon`` and ``class`` at every layer.
            Layer ``l``'s distortion loss is its ``recon`` (zero without it), its semantic loss
            the sum of its other tasks' losses.
        proxy_attention: the layout's proxy cues feed the other heads through uncertainty-aware
            gates (:mod:`semcomm.tasks.proxy_attention`; needs a proxy task and ``klt-refine``).
        proxy_weight: with ``proxy_attention``, the weight of each proxy branch's loss.
        sample_layers: decode one random layer per example and step instead of all ``L``
            (``L`` times cheaper per step; needs an architecture that supports it). None: the
            architecture's default (on for ``klt-refine``, off for ``conv``).
        ci_kd: a slimmable receiver (``klt-slim``) distils each narrow sandwich configuration's
            pooled trunk feature towards the widest one's (CI-KD, Aich et al.); False trains it
            by the sandwich rule alone (the ablation). Slimmable architectures only.
        ci_kd_weight: the weight of the CI-KD term (:func:`ci_kd_loss`) against the task losses.
        route_cost: weight of the routed receiver's (``klt-rmn``) compute penalty: the expected
            trunk depth of the routes as a fraction of the trunk
            (:meth:`semcomm.models.rmn.KLTRoutedJSCC.route_cost`, in ``extra``); 0: none.
        distortion: the reconstruction loss of each layer: ``"mse"`` (the batch MSE) or
            ``"log-mse"`` (the batch mean of ``log10`` of each image's MSE, i.e. minus the mean
            per-image PSNR / 10: the metric itself, and every SNR of the range weighs alike,
            where the MSE is dominated by the noisiest examples).
        val: training images held out (the last ``val`` of the split) to validate on after every
            epoch; the best epoch's weights are kept as ``best.safetensors``. 0: none.
        weighting, weighting_kwargs: loss weighting (:mod:`semcomm.mtl`).
        limit: use only the first ``limit`` training images (None: all).
        seed: the one seed.
    """

    dataset: str
    ratios: tuple[float, ...]
    data_root: str | None = None
    channel: str = "awgn"
    channel_kwargs: dict[str, Any] = field(default_factory=dict)
    csi: str = "perfect"
    snr_train: tuple[float, float] = (0.0, 20.0)
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    width: int = 64
    arch: str = "conv"
    layer_power: str = "equal"
    tasks: str | None = None
    proxy_attention: bool = False
    proxy_weight: float = 0.1
    sample_layers: bool | None = False
    ci_kd: bool = True
    ci_kd_weight: float = 1.0
    route_cost: float = 0.0
    distortion: str = "mse"
    val: int = 0
    weighting: str = "fixed"
    weighting_kwargs: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.sample_layers is None:
            object.__setattr__(self, "sample_layers", self.arch != "conv")
        if self.dataset in DATASET_SHAPES:  # the ratios the model uses: whole channel uses per layer
            object.__setattr__(self, "ratios", used_ratios(self.dataset, self.ratios))

    def model_config(self) -> JSCCConfig:
        n = math.prod(DATASET_SHAPES[self.dataset][0])
        return JSCCConfig(self.dataset, tuple(symbols_for_ratio(r, n) for r in self.ratios), self.width, self.arch,
                          self.layer_power, self.tasks, self.proxy_attention, self.proxy_weight)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"ratios": list(self.ratios), "snr_train": list(self.snr_train)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        legacy = {"proxy_weight": 1.0} if d.get("proxy_attention") else {}  # proxy attention before the key: unweighted
        return cls(**{**legacy, **d, "ratios": tuple(d["ratios"]), "snr_train": tuple(d["snr_train"])})


#: Reconstruction losses: ``(recon, target) -> scalar``, and the PSNR (dB) a mean value means.
DISTORTIONS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": F.mse_loss,
    "log-mse": lambda r, x: torch.log10((r - x).square().flatten(1).mean(1) + 1e-10).mean(),
}
_LOSS_TO_PSNR: dict[str, Callable[[float], float]] = {
    "mse": lambda v: psnr_from_mse(v),
    "log-mse": lambda v: -10.0 * v,
}


def used_ratios(dataset: str, ratios: tuple[float, ...]) -> tuple[float, ...]:
    """The bandwidth ratios a model of ``dataset`` really uses: ``k_l / n`` with ``k_l`` the
    whole number of complex channel uses of layer ``l`` (e.g. 1/18 of CIFAR-10's 3072 values:
    171 uses, 171/3072)."""
    n = math.prod(DATASET_SHAPES[dataset][0])
    return tuple(symbols_for_ratio(r, n) / n for r in ratios)


def psnr_from_mse(mse: float) -> float:
    """PSNR in dB of images in [0, 1] with mean squared error ``mse``."""
    return 10 * math.log10(1 / max(mse, 1e-10))


def validate(cfg: TrainConfig) -> None:
    """Raise a one-line ValueError for a configuration that cannot train."""
    if cfg.data_root is None and not os.environ.get(ENV_VAR):
        raise ValueError(
            f"no training data: pass --data-root DIR (or set {ENV_VAR}); '--data-root embedded' trains on the "
            "small packaged sample, for smoke tests only"
        )
    check_seed(cfg.seed)
    if cfg.dataset not in DATASET_SHAPES:
        raise ValueError(f"unknown dataset {cfg.dataset!r}; choose one of: {', '.join(DATASET_SHAPES)}")
    check_choice("JSCC architecture", cfg.arch, ARCHITECTURES.names())
    if cfg.sample_layers and cfg.arch == "conv":
        raise ValueError("--sample-layers needs an architecture that decodes chosen layers (klt-refine), not 'conv'")
    check_choice("layer power split", cfg.layer_power, LAYER_POWERS)
    if cfg.layer_power != "equal" and cfg.arch == "conv":
        raise ValueError(f"--layer-power {cfg.layer_power} needs an architecture with a SoftCast backbone (klt-refine), not 'conv'")
    layout = TaskLayout.default(len(cfg.ratios)) if cfg.tasks is None else parse_layout(cfg.tasks, len(cfg.ratios))
    if layout != TaskLayout.default(len(cfg.ratios)) and cfg.arch == "conv":
        raise ValueError("--tasks needs an architecture with task heads (klt-refine), not 'conv'")
    if cfg.proxy_attention and not any(isinstance(get_task(t, cfg.dataset), ProxyTask) for t in layout.head_tasks()):
        raise ValueError("--proxy-attention gates proxy cues: give one in --tasks (edges, thumb or colour), "
                         "e.g. '1:class,recon;2:class,recon;3:class,edges,recon'")
    if not (math.isfinite(cfg.proxy_weight) and cfg.proxy_weight > 0):
        raise ValueError(f"bad --proxy-weight {cfg.proxy_weight:g}: it must be a number > 0")
    if cfg.proxy_weight != TrainConfig.proxy_weight and not cfg.proxy_attention:
        raise ValueError("--proxy-weight weighs the proxy branches of --proxy-attention: give that too")
    if cfg.proxy_attention and cfg.arch == "conv":
        raise ValueError("--proxy-attention needs an architecture with task heads (klt-refine), not 'conv'")
    if not cfg.ci_kd and cfg.arch != "klt-slim":
        raise ValueError(f"--no-ci-kd switches off the slimmable receiver's distillation: it needs klt-slim, not {cfg.arch!r}")
    if not (math.isfinite(cfg.ci_kd_weight) and cfg.ci_kd_weight > 0):
        raise ValueError(f"bad --ci-kd-weight {cfg.ci_kd_weight:g}: it must be a number > 0 (--no-ci-kd leaves CI-KD out)")
    if cfg.ci_kd_weight != TrainConfig.ci_kd_weight and cfg.arch != "klt-slim":
        raise ValueError(f"--ci-kd-weight weighs the slimmable receiver's distillation: it needs klt-slim, not {cfg.arch!r}")
    if not (math.isfinite(cfg.route_cost) and cfg.route_cost >= 0):
        raise ValueError(f"bad --route-cost {cfg.route_cost:g}: it must be a number >= 0, e.g. 0.05")
    if cfg.route_cost and cfg.arch != "klt-rmn":
        raise ValueError(f"--route-cost penalises the depth of the routed receiver's routes: it needs klt-rmn, not {cfg.arch!r}")
    check_choice("distortion loss", cfg.distortion, DISTORTIONS)
    if not (math.isfinite(cfg.lr) and cfg.lr > 0):
        raise ValueError(f"bad --lr {cfg.lr:g}: the learning rate must be a positive number, e.g. 1e-3")
    check_choice("loss weighting", cfg.weighting, WEIGHTINGS.names())
    if cfg.weighting == "gradsplit" and cfg.arch == "conv":
        raise ValueError("--weighting gradsplit splits the refiner's convolutions by task: it needs klt-refine, not 'conv'")
    try:
        weighting = get_weighting(cfg.weighting, len(cfg.ratios), **cfg.weighting_kwargs)
    except TypeError:
        flags = {"semantic": "--semantic-weight", "relation": "--gradsplit-relation"}
        options = ", ".join(flags.get(k, f"--weighting-opt {k}") for k in cfg.weighting_kwargs)
        raise ValueError(f"--weighting {cfg.weighting} takes no {options}") from None
    if distributed.is_distributed() and _combines_gradients(weighting):
        raise ValueError(f"--weighting {cfg.weighting} combines the per-task gradients itself, which bypasses "
                         "DistributedDataParallel's gradient averaging, so it cannot train under torchrun: use one that "
                         f"weights the losses ({', '.join(_loss_weightings(len(cfg.ratios)))}) or train in one process")
    if weighting.needs_positive_losses and cfg.distortion == "log-mse":
        raise ValueError(f"--weighting {cfg.weighting} takes ratios of task losses, which must be >= 0: "
                         "use --distortion mse, not log-mse")
    bare = [l + 1 for l, tasks in enumerate(layout.layers) if RECON not in tasks or len(tasks) == 1]
    if weighting.needs_positive_losses and bare:
        raise ValueError(f"--weighting {cfg.weighting} takes ratios of task losses, but layer {bare[0]} has no "
                         "recon or no other task (a loss that is always 0): give every layer both")
    if cfg.val < 0:
        raise ValueError(f"--val must be >= 0 images, got {cfg.val}")
    channels.check_csi(cfg.csi, channels.get(cfg.channel, **cfg.channel_kwargs))
    lo, hi = cfg.snr_train
    if hi < lo:
        raise ValueError(f"SNR range {lo:g}:{hi:g} has its upper end below the lower one")


def _combines_gradients(weighting: LossWeighting) -> bool:
    """Whether ``weighting`` fills the gradients itself (PCGrad, GradNorm, Jacobian descent,
    GradSplit: it overrides :meth:`LossWeighting.backward`) rather than back-propagating one total."""
    return type(weighting).backward is not LossWeighting.backward


def _loss_weightings(num_layers: int) -> list[str]:
    """The weightings that back-propagate one weighted total (those that train under torchrun);
    a weighting that cannot be built here (an optional extra missing) is left out."""
    names = []
    for name in WEIGHTINGS.names():
        try:
            weighting = get_weighting(name, num_layers)
        except ValueError:
            continue
        if not _combines_gradients(weighting):
            names.append(name)
    return names


class _TrainStep(nn.Module):
    """One training step's losses as a module, so that DistributedDataParallel can wrap it: the
    model, the loss weighting (whose parameters train with the model's) and the channel.

    Args:
        model: the JSCC model.
        weighting: the loss weighting, attached to ``model``.
        channel: the training channel.
        cfg: the run.
    """

    def __init__(self, model: nn.Module, weighting: LossWeighting, channel: channels.Channel, cfg: TrainConfig) -> None:
        super().__init__()
        self.model, self.weighting, self.channel, self.cfg = model, weighting, channel, cfg
        self.shared = model.shared_parameters()

    def losses(self, images: torch.Tensor, labels: torch.Tensor, g: torch.Generator) -> TaskLosses:
        """Each layer's losses on the batch ``images`` ``[B, C, H, W]`` in [0, 1] with ``labels``
        ``[B]`` (:func:`_batch_losses`)."""
        return _batch_losses(self.model, images, labels, self.cfg, self.channel, g)

    def forward(self, images: torch.Tensor, labels: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, TaskLosses]:
        """The weighted total (a scalar, to back-propagate) and the task losses of one batch."""
        losses = self.losses(images, labels, g)
        return self.weighting.total(losses, self.shared), losses


def _noise_generator(seed: int, rank: int, device: torch.device) -> torch.Generator:
    """The generator of process ``rank``'s draws (shuffling without torchrun, flips, SNRs,
    layers, channel gains and noise): rank 0's, the only one of a single-process run, is seeded
    with ``seed``; rank ``r`` > 0's with a key derived from ``(seed, r)``."""
    g = torch.Generator(device=device)
    if rank == 0:
        return g.manual_seed(seed)
    key = np.random.SeedSequence([seed, rank]).generate_state(1, dtype=np.uint64)[0]
    return g.manual_seed(int(key >> np.uint64(1)))


def ci_kd_loss(narrow: torch.Tensor, widest: torch.Tensor) -> torch.Tensor:
    """Configuration-invariant distillation of a narrow configuration's pooled trunk feature
    ``[B, F_n]`` towards the widest one's ``[B, F]`` (detached; its first ``F_n`` channels): the
    squared error relative to the target's energy, ``||f_n - w||² / ||w||²`` per example, averaged.

    Relative, so scaling every feature by one factor leaves it unchanged: a plain MSE is lowest
    when all features shrink to zero, and (measured: ``benchmarks/mtl_compare.py``'s ``slim`` run,
    MNIST) pulled the whole receiver there within an epoch (chance accuracy, a constant image).
    """
    target = widest[:, : narrow.shape[1]].detach()
    error = (narrow - target).square().sum(1)
    return (error / target.square().sum(1).clamp_min(1e-8)).mean()


def _batch_losses(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig,
                  channel: channels.Channel, g: torch.Generator) -> TaskLosses:
    """Each layer's distortion (its ``recon``, 0 without) and semantic loss (the sum of its
    head tasks' losses, 0 without) on one batch; with ``cfg.sample_layers`` every example
    decodes one random layer and each layer's losses are over its examples. A slimmable model
    (one with ``sandwich``) decodes the same received signals in each of the step's sandwich
    configurations; the losses are their mean, and each narrow configuration's pooled trunk
    feature is distilled towards the widest one's (CI-KD, in ``extra``; none without
    ``cfg.ci_kd``). A routed model (``klt-rmn``) adds its compute penalty,
    ``cfg.route_cost`` times its expected route depth, to ``extra``."""
    lo, hi = cfg.snr_train
    snr = lo + (hi - lo) * torch.rand(images.shape[0], generator=g, device=images.device)
    L = model.config.num_layers
    layer = torch.randint(0, L, (images.shape[0],), generator=g, device=images.device) if cfg.sample_layers else None
    picked = [torch.ones_like(labels, dtype=torch.bool)] * L if layer is None else [layer == l for l in range(L)]
    sandwich = getattr(model, "sandwich", None)
    if sandwich is None:
        chosen = {} if layer is None else {"decode_layers": layer}  # conv decodes every layer
        out = model(images, channel, snr, csi=cfg.csi, generator=g, **chosen)
        losses = _layer_losses(model, out, images, labels, picked, cfg)
        if cfg.route_cost:
            losses.extra.append(cfg.route_cost * model.route_cost())
        return losses
    c_hat, noise_var, _ = model.send(images, channel, snr, cfg.csi, g)
    total: TaskLosses | None = None
    widest: list[torch.Tensor] = []
    configurations = sandwich(g)
    for widths in configurations:
        model.set_widths(widths)
        out = model.receive(c_hat, noise_var, layer, generator=g)
        losses = _layer_losses(model, out, images, labels, picked, cfg)
        if total is None:
            total, widest = losses, [f.detach() for f in out.features]
            continue
        total.distortion = [a + b for a, b in zip(total.distortion, losses.distortion)]
        total.semantic = [a + b for a, b in zip(total.semantic, losses.semantic)]
        if cfg.ci_kd:
            total.extra += [cfg.ci_kd_weight * ci_kd_loss(f, w) for f, w in zip(out.features, widest) if f.numel()]
    model.set_widths(configurations[0])  # back to the widest
    assert total is not None
    n = len(configurations)  # the mean over the configurations: losses on the scale of one model's
    return TaskLosses([d / n for d in total.distortion], [s / n for s in total.semantic], [e / n for e in total.extra])


def _layer_losses(model: torch.nn.Module, out: Any, images: torch.Tensor, labels: torch.Tensor,
                  picked: list[torch.Tensor], cfg: TrainConfig) -> TaskLosses:
    """Each layer's losses from the model's outputs ``out`` for the examples ``picked[l]``."""
    distortion = DISTORTIONS[cfg.distortion]
    zero = images.new_zeros(())
    layout = model.config.layout()
    tasks = {name: get_task(name, cfg.dataset) for name in layout.head_tasks()}
    losses = TaskLosses(distortion=[], semantic=[])
    for l, names in enumerate(layout.layers):
        x, y = images[picked[l]], labels[picked[l]]
        present = bool(y.numel())
        losses.distortion.append(distortion(out.recon[l], x) if present and RECON in names else zero)
        heads = [model.task_loss(n, out.tasks[l][n], tasks[n].target(x, y)) for n in names if n != RECON] if present else []
        losses.semantic.append(torch.stack(heads).sum() if heads else zero)
    return losses


def validation_snrs(cfg: TrainConfig) -> list[float]:
    """The SNRs the held-out split is scored at: the ends and the middle of the training range."""
    lo, hi = cfg.snr_train
    return sorted({lo, (lo + hi) / 2, hi})


@torch.no_grad()
def _validate(model: torch.nn.Module, images: torch.Tensor, cfg: TrainConfig, channel: channels.Channel) -> dict[str, Any]:
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
    """Train (or, with ``resume``, continue) a model into ``run_dir``; checkpoint every epoch.

    An epoch's checkpoint is one unit: the training state goes to ``train_state-e<epoch>.pt``
    first, then ``best.safetensors`` (when the epoch is the best so far), and last
    ``model.safetensors``, whose metadata names the epoch; the older states are removed after
    it. A run killed at any point therefore resumes from the last epoch whose weights were
    written, with that epoch's state.

    Under torchrun (``WORLD_SIZE`` > 1, :mod:`semcomm.distributed`) every process calls this:
    each trains on its shard of every epoch with its own noise stream, DistributedDataParallel
    averages the gradients (so the global batch is ``WORLD_SIZE * cfg.batch_size``), the epoch
    statistics are averaged over all processes (what the weighting and the history see), the
    processes' weights are checked to agree after every epoch, and rank 0 alone validates,
    writes the checkpoint (with every process's random streams) and calls ``progress`` and
    ``note``. ``resume`` needs the same number of processes.

    Args:
        cfg: the run.
        run_dir: output folder (``model.safetensors``, ``config.json``, ``train_state-e*.pt``).
        resume: continue the run found in ``run_dir`` (its config must equal ``cfg``).
        force: start afresh in a ``run_dir`` that already holds a run, overwriting it.
        extend: with ``resume``, let ``cfg.epochs`` exceed the run's planned epochs (the only
            field that may differ): the cosine learning-rate schedule then spans the new
            total, as if planned so from the start, so it rises again where the old one ended.
        note: called with a one-line remark for the user (e.g. ``--limit`` above the data size).
        progress: called as ``progress(description, done_steps, total_steps)``.
        download: fetch missing dataset files first (official URLs, md5-checked).
        device: where the model, the data and every random draw live (``"cpu"``, ``"cuda"``;
            under torchrun ``"cuda"`` means ``cuda:LOCAL_RANK``). Random streams differ between
            devices, so a run is reproducible on the device it ran on; checkpoints are always
            saved from CPU tensors.

    Returns:
        The per-epoch history (loss, per-layer train PSNR and accuracy, seconds).
    """
    validate(cfg)
    run_dir = Path(run_dir)
    if resume and not (run_dir / MODEL_FILE).exists():
        raise ValueError(f"--resume: {str(run_dir)!r} holds no run to continue; drop --resume to start one")
    if not resume and not force and ((run_dir / MODEL_FILE).exists() or _state_files(run_dir)):
        raise ValueError(f"{str(run_dir)!r} already holds a run: --resume continues it, --force overwrites it, "
                         "or choose another --out")
    main = distributed.rank() == 0
    with distributed.process_group(torch.device(device)) as device:
        return _fit(cfg, run_dir, resume, extend, download, device, progress if main else None, note if main else None)


def _fit(cfg: TrainConfig, run_dir: Path, resume: bool, extend: bool, download: bool, device: torch.device,
         progress: Callable[[str, int, int], None] | None, note: Callable[[str], None] | None) -> list[dict[str, Any]]:
    """The training of :func:`train` in this process, one of several under torchrun (there only
    rank 0 gets ``progress`` and ``note``, validates and checkpoints)."""
    world, main = distributed.world_size(), distributed.rank() == 0
    # The embedded sample holds test images only; training on it is for smoke tests.
    with distributed.main_first():  # rank 0 downloads first
        data = load_images(cfg.dataset, cfg.data_root, "test" if cfg.data_root == EMBEDDED else "train", download)
    if cfg.limit is not None and cfg.limit > len(data.images) and note is not None:
        note(f"--limit {cfg.limit} is above the {len(data.images)} training images: all {len(data.images)} are used")
    images = torch.from_numpy(data.images[: cfg.limit]).to(device)
    labels = torch.from_numpy(data.labels[: cfg.limit]).to(device)
    if cfg.val >= len(images):
        raise ValueError(f"--val {cfg.val} holds out every one of the {len(images)} training images")
    val_images = images[len(images) - cfg.val :] if cfg.val else images[:0]
    images, labels = images[: len(images) - cfg.val], labels[: len(labels) - cfg.val]
    n = images.shape[0]
    # Under torchrun each epoch's permutation of the n images comes from (seed, epoch), padded by
    # repeating its first images to a multiple of the process count, each process taking every
    # world-th one; a single process draws its permutation from its generator.
    sampler = DistributedSampler(range(n), world, distributed.rank(), seed=cfg.seed) if world > 1 else None
    shard = n if sampler is None else sampler.num_samples  # images per process and epoch
    steps_per_epoch = math.ceil(shard / cfg.batch_size)

    torch.manual_seed(cfg.seed)
    g = _noise_generator(cfg.seed, distributed.rank(), device)
    with distributed.main_first():  # rank 0 fits and caches a KLT first
        model = build_model(cfg.model_config(), cfg.data_root, fresh=True).to(device)
    weighting = get_weighting(cfg.weighting, model.config.num_layers, **cfg.weighting_kwargs)
    weighting.attach(model)
    opt = make_optimizer(model, weighting, cfg.lr)
    sched = _cosine_schedule(opt, cfg.epochs * steps_per_epoch)
    channel = channels.get(cfg.channel, **cfg.channel_kwargs)
    history: list[dict[str, Any]] = []
    start_epoch = 0
    if resume:
        start_epoch, history = _restore(run_dir, cfg, model, weighting, opt, sched, g, extend)
    step = _TrainStep(model, weighting, channel, cfg)
    # find_unused_parameters: a step may leave parts unused (a sampled layer no example drew).
    ddp = None if world == 1 else DistributedDataParallel(
        step, device_ids=[device] if device.type == "cuda" else None, find_unused_parameters=True)

    to_psnr = _LOSS_TO_PSNR[cfg.distortion]
    L = model.config.num_layers
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        t0 = time.perf_counter()
        if sampler is None:
            perm = torch.randperm(n, generator=g, device=device)
        else:
            sampler.set_epoch(epoch)
            perm = torch.tensor(list(sampler), device=device)
        sums = torch.zeros(1 + 2 * model.config.num_layers, dtype=torch.float64)
        for step_index in range(steps_per_epoch):
            idx = perm[step_index * cfg.batch_size : (step_index + 1) * cfg.batch_size]
            x = images[idx].float() / 255
            if cfg.dataset == "cifar10":  # random horizontal flips
                flip = torch.rand(x.shape[0], generator=g, device=device) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            if ddp is None:
                losses = step.losses(x, labels[idx], g)
                opt.zero_grad(set_to_none=True)
                total = weighting.backward(losses, step.shared)
            else:  # the weighting only weights losses (validate): DDP averages the total's gradients
                total, losses = ddp(x, labels[idx], g)
                opt.zero_grad(set_to_none=True)
                total.backward()
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
            history[-1] |= _validate(model, val_images, cfg, channel)
        streams = distributed.gather_objects((g.get_state(), torch.get_rng_state()))
        if main:
            _save(run_dir, cfg, model, weighting, opt, sched, streams, epoch + 1, history)
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


def state_file(epoch: int) -> str:
    """The training state written after ``epoch``: ``train_state-e0007.pt``."""
    return f"{Path(STATE_FILE).stem}-e{epoch:04d}.pt"


def _state_files(run_dir: Path) -> list[Path]:
    """Training states in ``run_dir``, including a single ``train_state.pt`` of older runs."""
    return sorted(run_dir.glob(f"{Path(STATE_FILE).stem}-e*.pt")) + [p for p in [run_dir / STATE_FILE] if p.exists()]


def _save(run_dir: Path, cfg: TrainConfig, model: torch.nn.Module, weighting: torch.nn.Module,
          opt: torch.optim.Optimizer, sched: Any, streams: list[tuple[torch.Tensor, torch.Tensor]], epoch: int,
          history: list[dict[str, Any]]) -> None:
    """Write the epoch's checkpoint (see :func:`train`); ``streams`` holds every process's
    ``(generator state, torch RNG state)`` in rank order (one pair without torchrun)."""
    state = {
        "epoch": epoch,
        "optimizer": opt.state_dict(),
        "scheduler": {k: v for k, v in sched.state_dict().items() if k != "lr_lambdas"},
        "weighting": weighting.state_dict(),
        "generator": streams[0][0],
        "torch_rng": streams[0][1],
        "world_size": len(streams),
    }
    if len(streams) > 1:  # torchrun: every process's streams, in rank order
        state["generators"] = [generator for generator, _ in streams]
        state["torch_rngs"] = [rng for _, rng in streams]
    replace_atomic(run_dir / state_file(epoch), lambda f: torch.save(state, f), mode="wb")
    meta = {"model": model.config.to_dict(), "train": cfg.to_dict(), "epoch": epoch, "history": history}
    scores = [h["val_score"] for h in history if "val_score" in h]
    if scores and scores[-1] >= max(scores):
        save_checkpoint(run_dir, model, meta, name=BEST_FILE)
    save_checkpoint(run_dir, model, meta)  # the commit point: its metadata names the epoch
    for old in _state_files(run_dir):
        if old.name != state_file(epoch):
            old.unlink(missing_ok=True)


def _load_state(path: Path) -> dict[str, Any]:
    """A training state, loaded without unpickling anything but plain tensors and containers."""
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError:
        raise ValueError(f"--resume: {str(path)!r} is missing") from None
    except Exception as err:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise ValueError(f"--resume: {str(path)!r} is not a semcomm training state of plain tensors "
                         f"({err.__class__.__name__}); it was not loaded. Start the run afresh with --force") from None
    if not isinstance(state, dict) or not {"epoch", "optimizer", "scheduler", "weighting", "generator"} <= set(state):
        raise ValueError(f"--resume: {str(path)!r} is not a semcomm training state (fields missing)")
    return state


def _restore(run_dir: Path, cfg: TrainConfig, model: torch.nn.Module, weighting: torch.nn.Module,
             opt: torch.optim.Optimizer, sched: Any, g: torch.Generator, extend: bool) -> tuple[int, list[dict[str, Any]]]:
    saved, meta = load_checkpoint(run_dir)
    try:
        old = TrainConfig.from_dict(meta.get("train", {}))
    except (TypeError, KeyError) as err:
        raise ValueError(f"--resume: {str(run_dir)!r} has no readable training configuration ({err})") from None
    differs = first_difference(old.to_dict(), cfg.to_dict())
    if differs is not None:
        longer = differs.startswith("epochs:") and first_difference(old.to_dict(), {**cfg.to_dict(), "epochs": old.epochs}) is None
        if not longer:
            raise ValueError(f"--resume: {str(run_dir)!r} was trained with a different configuration ({differs})")
        if not extend:
            raise ValueError(f"--resume: {str(run_dir)!r} was planned for {old.epochs} epochs, not {cfg.epochs}; "
                             "add --extend to train it longer")
        if cfg.epochs < meta["epoch"]:
            raise ValueError(f"--extend: {str(run_dir)!r} has already trained {meta['epoch']} epochs, more than --epochs {cfg.epochs}")
    wanted = run_dir / state_file(meta["epoch"])
    legacy = run_dir / STATE_FILE  # runs written before the per-epoch state files
    state = _load_state(legacy if legacy.exists() and not wanted.exists() else wanted)
    if state["epoch"] != meta["epoch"]:
        raise ValueError(f"--resume: weights (epoch {meta['epoch']}) and training state (epoch {state['epoch']}) disagree")
    trained_by, world = state.get("world_size", 1), distributed.world_size()
    if trained_by != world:
        how = "without torchrun" if trained_by == 1 else f"under torchrun with {trained_by} processes in all (--nnodes x --nproc-per-node)"
        raise ValueError(f"--resume: {str(run_dir)!r} was trained by {_processes(trained_by)}, not {_processes(world)}: "
                         f"resume it {how}")
    model.load_state_dict(saved.state_dict())
    opt.load_state_dict(state["optimizer"])
    sched.last_epoch = state["scheduler"]["last_epoch"]
    sched._step_count = state["scheduler"].get("_step_count", sched.last_epoch + 1)
    weighting.load_state_dict(state["weighting"])
    g.set_state(state.get("generators", [state["generator"]])[distributed.rank()])
    torch.set_rng_state(state.get("torch_rngs", [state["torch_rng"]])[distributed.rank()])
    return meta["epoch"], list(meta["history"])


def _processes(count: int) -> str:
    """``"1 process"``, ``"2 processes"``."""
    return f"{count} process" if count == 1 else f"{count} processes"
