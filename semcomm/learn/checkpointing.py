"""A training run's files: one checkpoint per epoch, committed atomically, and its resumption.

A run directory holds ``model.safetensors`` (the latest epoch's weights and the run's configs:
:mod:`semcomm.models.checkpoint`), ``best.safetensors`` (the best validated epoch's),
``config.json``, and ``train_state-e<epoch>.pt``: optimiser, scheduler, weighting and every
random stream, plain tensors only (loaded with ``torch.load(weights_only=True)``).

An epoch's checkpoint is one unit: the training state is written first, then
``best.safetensors`` (when the epoch is the best so far), and last ``model.safetensors``,
whose metadata names the epoch; the older states are removed after it. A run killed at any
point therefore resumes from the last epoch whose weights were written, with that epoch's state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from semcomm.atomic import replace_atomic
from semcomm.errors import FieldError
import semcomm.learn.distributed as distributed
from semcomm.learn.config import TrainConfig
from semcomm.models.checkpoint import BEST_FILE, STATE_FILE, load_checkpoint, save_checkpoint
from semcomm.sweep.results_io import first_difference

__all__ = ["restore", "save_epoch", "state_file", "state_files", "weights_digest"]


def state_file(epoch: int) -> str:
    """The training state written after ``epoch``: ``train_state-e0007.pt``."""
    return f"{Path(STATE_FILE).stem}-e{epoch:04d}.pt"


def state_files(run_dir: Path) -> list[Path]:
    """Training states in ``run_dir``, including a single ``train_state.pt`` of older runs."""
    return sorted(run_dir.glob(f"{Path(STATE_FILE).stem}-e*.pt")) + [p for p in [run_dir / STATE_FILE] if p.exists()]


def save_epoch(run_dir: Path, cfg: TrainConfig, model: torch.nn.Module, weighting: torch.nn.Module,
               opt: torch.optim.Optimizer, sched: Any, streams: list[tuple[torch.Tensor, torch.Tensor]], epoch: int,
               history: list[dict[str, Any]]) -> None:
    """Write the epoch's checkpoint (module doc); ``streams`` holds every process's
    ``(generator state, torch RNG state)`` in rank order (one pair without torchrun)."""
    state = {
        "epoch": epoch,
        "optimizer": opt.state_dict(),
        "scheduler": {k: v for k, v in sched.state_dict().items() if k != "lr_lambdas"},
        "weighting": weighting.state_dict(),
        "generator": streams[0][0],
        "torch_rng": streams[0][1],
        "world_size": len(streams),
        "weights_blake2b": weights_digest(model.state_dict()),
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
    for old in state_files(run_dir):
        if old.name != state_file(epoch):
            old.unlink(missing_ok=True)


def weights_digest(weights: dict[str, torch.Tensor]) -> str:
    """A digest of a model's tensors (names, dtypes, shapes, values): what ties a training state
    to the weights it was written with."""
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    for name in sorted(weights):
        tensor = weights[name].detach().cpu().contiguous()
        h.update(f"{name} {tensor.dtype} {tuple(tensor.shape)}".encode())
        h.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return h.hexdigest()


def _load_state(path: Path) -> dict[str, Any]:
    """A training state, loaded without unpickling anything but plain tensors and containers."""
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError:
        raise FieldError("resume", f"{{field}}: {str(path)!r} is missing") from None
    except Exception as err:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise FieldError("resume", f"{{field}}: {str(path)!r} is not a semcomm training state of plain tensors "
                         f"({err.__class__.__name__}); it was not loaded. Start the run afresh with {{force}}",
                         force="force") from None
    if not isinstance(state, dict) or not {"epoch", "optimizer", "scheduler", "weighting", "generator"} <= set(state):
        raise FieldError("resume", f"{{field}}: {str(path)!r} is not a semcomm training state (fields missing)")
    return state


def restore(run_dir: Path, cfg: TrainConfig, model: torch.nn.Module, weighting: torch.nn.Module,
            opt: torch.optim.Optimizer, sched: Any, g: torch.Generator, extend: bool) -> tuple[int, list[dict[str, Any]]]:
    """Load the run found in ``run_dir`` into the freshly built objects; returns the epoch it
    reached and its history.

    Raises:
        ValueError: one line, for a run of another configuration (naming the first field that
            differs), a longer run without ``extend``, weights and state of different epochs,
            or another process count.
    """
    saved, meta = load_checkpoint(run_dir)
    try:
        old = TrainConfig.from_dict(meta.get("train", {}))
    except (TypeError, KeyError) as err:
        raise FieldError("resume", f"{{field}}: {str(run_dir)!r} has no readable training configuration ({err})") from None
    differs = first_difference(old.to_dict(), cfg.to_dict())
    if differs is not None:
        longer = differs.startswith("epochs:") and first_difference(old.to_dict(), {**cfg.to_dict(), "epochs": old.epochs}) is None
        if not longer:
            raise FieldError("resume", f"{{field}}: {str(run_dir)!r} was trained with a different configuration ({differs})")
        if not extend:
            raise FieldError("resume", f"{{field}}: {str(run_dir)!r} was planned for {old.epochs} epochs, not {cfg.epochs}; "
                             "add {extend} to train it longer", extend="extend")
        if cfg.epochs < meta["epoch"]:
            raise FieldError("extend", f"{{field}}: {str(run_dir)!r} has already trained {meta['epoch']} epochs, more than "
                             f"{{epochs}} {cfg.epochs}", epochs="epochs")
    wanted = run_dir / state_file(meta["epoch"])
    legacy = run_dir / STATE_FILE  # runs written before the per-epoch state files
    state = _load_state(legacy if legacy.exists() and not wanted.exists() else wanted)
    if state["epoch"] != meta["epoch"]:
        raise FieldError("resume", f"{{field}}: weights (epoch {meta['epoch']}) and training state (epoch {state['epoch']}) disagree")
    if "weights_blake2b" in state and state["weights_blake2b"] != weights_digest(saved.state_dict()):
        raise FieldError("resume", f"{{field}}: {str(wanted.name)!r} in {str(run_dir)!r} was written with other weights than "
                         "the run's model.safetensors (a state of another run or seed?): it was not used. Start the run "
                         "afresh with {force}", force="force")
    trained_by, world = state.get("world_size", 1), distributed.world_size()
    if trained_by != world:
        how = "without torchrun" if trained_by == 1 else f"under torchrun with {trained_by} processes in all (--nnodes x --nproc-per-node)"
        raise FieldError("resume", f"{{field}}: {str(run_dir)!r} was trained by {_processes(trained_by)}, not "
                         f"{_processes(world)}: resume it {how}")
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
