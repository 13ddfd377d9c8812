"""Checkpoints: safetensors weights with the JSON config inside (and beside) them.

A run directory holds
    - ``model.safetensors``: the weights; its metadata entry ``"semcomm"`` is the JSON of
      ``{"model": JSCCConfig, "train": TrainConfig, "epoch": int, "history": [...]}``;
    - ``config.json``: the same JSON, for people and tools;
    - ``train_state.pt``: optimiser, scheduler and RNG state for ``--resume``, plain tensors
      and numbers only, loaded with ``torch.load(weights_only=True)``.

Every file is written atomically. Nothing is ever unpickled.
Pretrained models ship in ``semcomm/pretrained/<name>.safetensors`` in the same format.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from torch import nn

from semcomm.atomic import replace_atomic, write_json_atomic
from semcomm.models.base import JSCCConfig, JSCCModel, build_model

__all__ = ["BEST_FILE", "MODEL_FILE", "CONFIG_FILE", "STATE_FILE", "save_checkpoint", "load_checkpoint", "load_checkpoint_with_digest", "pretrained_names", "resolve_checkpoint"]

MODEL_FILE = "model.safetensors"
BEST_FILE = "best.safetensors"
CONFIG_FILE = "config.json"
STATE_FILE = "train_state.pt"
_META_KEY = "semcomm"


def save_checkpoint(run_dir: str | Path, model: nn.Module, meta: dict[str, Any], name: str = MODEL_FILE) -> Path:
    """Write ``name`` (weights + ``meta`` as JSON metadata; default ``model.safetensors``) and,
    for the run's latest weights, ``config.json``.

    ``meta`` must hold ``"model"`` (a :class:`JSCCConfig` dict); ``"train"``, ``"epoch"`` and
    ``"history"`` are conventional.
    """
    run_dir = Path(run_dir)
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    blob = save(weights, metadata={_META_KEY: json.dumps(meta)})
    path = replace_atomic(run_dir / name, lambda f: f.write(blob), mode="wb")
    if name == MODEL_FILE:
        write_json_atomic(run_dir / CONFIG_FILE, meta)
    return path


def pretrained_names() -> list[str]:
    """Names of the pretrained models shipped with semcomm (e.g. ``"mnist-l3"``)."""
    folder = resources.files("semcomm").joinpath("pretrained")
    if not folder.is_dir():
        return []
    return sorted(p.name.removesuffix(".safetensors") for p in folder.iterdir() if p.name.endswith(".safetensors"))


def resolve_checkpoint(source: str | Path) -> Path:
    """A pretrained name, a run directory or a ``.safetensors`` file -> the weights file.

    Raises:
        ValueError: one line, if nothing matches.
    """
    if str(source) in pretrained_names():
        return Path(str(resources.files("semcomm").joinpath("pretrained", f"{source}.safetensors")))
    path = Path(source)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise ValueError(
            f"no checkpoint at {str(source)!r}: give a run directory, a .safetensors file or a pretrained "
            f"model ({', '.join(pretrained_names()) or 'none shipped'})"
        )
    return path


def load_checkpoint(source: str | Path, device: str | torch.device = "cpu") -> tuple[JSCCModel, dict[str, Any]]:
    """Load a model (in eval mode) and its metadata from a pretrained name, run directory or file.

    Raises:
        ValueError: one line, if the file is missing, not safetensors, not a semcomm model, or
            of an unknown architecture.
    """
    model, meta, _ = load_checkpoint_with_digest(source, device)
    return model, meta


def load_checkpoint_with_digest(source: str | Path, device: str | torch.device = "cpu"
                                ) -> tuple[JSCCModel, dict[str, Any], str]:
    """:func:`load_checkpoint`, and the sha256 of the very bytes the model was loaded from (the
    file is read once: a file replaced meanwhile cannot give one model and another's digest)."""
    import hashlib

    path = resolve_checkpoint(source)
    try:
        blob = path.read_bytes()
    except OSError as err:
        raise ValueError(f"{str(path)!r} cannot be read ({err.strerror or err})") from None
    try:
        raw = _metadata(blob).get(_META_KEY)
        weights = {k: v.to(device) for k, v in load(blob).items()}
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{str(path)!r} is not a safetensors checkpoint ({str(err).splitlines()[0]})") from None
    return (*_build(path, raw, weights, device), hashlib.sha256(blob).hexdigest())


def _metadata(blob: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file's bytes (its JSON header)."""
    if len(blob) < 8:
        raise ValueError("too short for a safetensors header")
    size = int.from_bytes(blob[:8], "little")
    if size > len(blob) - 8:
        raise ValueError("its header runs past the end of the file")
    try:
        header = json.loads(blob[8 : 8 + size])
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise ValueError(f"its header is not JSON ({err.__class__.__name__})") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return meta if isinstance(meta, dict) else {}


def _build(path: Path, raw: str | None, weights: dict[str, torch.Tensor], device: str | torch.device
           ) -> tuple[JSCCModel, dict[str, Any]]:
    """The model of a checkpoint's metadata JSON ``raw``, filled with ``weights``."""
    if raw is None:
        raise ValueError(f"{str(path)!r} is a safetensors file but not a semcomm model (no '{_META_KEY}' metadata)")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"{str(path)!r}: its '{_META_KEY}' metadata is not JSON ({err.msg})") from None
    except RecursionError:
        raise ValueError(f"{str(path)!r}: its '{_META_KEY}' metadata is nested too deeply to be a semcomm model's") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("model"), dict):
        raise ValueError(f"{str(path)!r}: its '{_META_KEY}' metadata has no 'model' configuration")
    try:
        config = JSCCConfig.from_dict(meta["model"])
    except (ValueError, TypeError, KeyError) as err:
        raise ValueError(f"{str(path)!r}: bad model configuration ({err})") from None
    declared = _declared(path, config)  # the shapes it declares, checked before anything is allocated
    if declared is not None:
        _check_weights(path, declared.state_dict(), declared.upgrade_state_dict(weights))
    model = build_model(config)
    weights = model.upgrade_state_dict(weights)
    _check_weights(path, model.state_dict(), weights)
    bad = next((k for k, v in weights.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:
        raise ValueError(f"{str(path)!r}: tensor {bad!r} holds NaN or infinite values (a training that diverged?): "
                         "refusing to load it")
    model.load_state_dict(weights)
    return model.to(device).eval(), meta


def _declared(path: Path, config: JSCCConfig) -> JSCCModel | None:
    """The model of ``config`` on the meta device (shapes, no memory), or None for an
    architecture that cannot be built there (it computes on its tensors while it is made).

    Raises:
        ValueError: one line, for a configuration whose model cannot be built (e.g. negative sizes).
    """
    try:
        with torch.device("meta"):
            return build_model(config)
    except (NotImplementedError, RuntimeError) as err:
        if "meta" in str(err):
            return None
        raise ValueError(f"{str(path)!r}: bad model configuration ({str(err).splitlines()[0]})") from None
    except (ValueError, TypeError, OverflowError) as err:
        raise ValueError(f"{str(path)!r}: bad model configuration ({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None


def _check_weights(path: Path, expected: dict[str, torch.Tensor], weights: dict[str, torch.Tensor]) -> None:
    """One line naming the first missing, unexpected or wrongly shaped tensor of ``weights``."""
    missing = [k for k in expected if k not in weights]
    if missing:
        raise ValueError(f"{str(path)!r} lacks the tensor {missing[0]!r} ({len(missing)} missing) of its architecture")
    extra = [k for k in weights if k not in expected]
    if extra:
        raise ValueError(f"{str(path)!r} has a tensor {extra[0]!r} its architecture does not have")
    for key, want in expected.items():
        if tuple(weights[key].shape) != tuple(want.shape):
            raise ValueError(f"{str(path)!r}: tensor {key!r} has shape {tuple(weights[key].shape)}, "
                             f"the configuration needs {tuple(want.shape)}")
