"""Reduced-precision evaluation of a JSCC model's learned networks (``--precision bf16``).

An architecture names the networks that may run in bfloat16
(:meth:`~semcomm.models.JSCCModel.reduced_precision_modules`: its CNNs); :func:`set_precision`
runs each one's ``forward`` under ``torch.autocast`` and hands its floating outputs back in
float32, so everything else (the power normalisation, the linear backbone, the channel, the
metrics) stays float32. Measured on ``cifar10-l3``: every layer within 0.005 dB of float32 at
−5…20 dB (full test set), 2.5× faster on a CPU with bfloat16 units (AMX / AVX512-BF16); on a CPU without them
bfloat16 is emulated and slower (:func:`cpu_has_bf16` tells).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["PRECISIONS", "check_precision", "cpu_has_bf16", "set_precision"]

#: ``--precision`` values: name -> autocast dtype (None: float32 throughout).
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}


def check_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else a one-line ``ValueError``."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown --precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    return precision


def _to_float32(out: Any) -> Any:
    """``out`` with every floating tensor (in tuples, lists, named tuples) back in float32."""
    if isinstance(out, torch.Tensor):
        return out.float() if out.is_floating_point() else out
    if isinstance(out, tuple) and hasattr(out, "_fields"):
        return type(out)(*(_to_float32(o) for o in out))
    if isinstance(out, (tuple, list)):
        return type(out)(_to_float32(o) for o in out)
    return out


class _AutocastForward:
    """A module's own ``forward`` under autocast to ``dtype`` on the module's device, outputs in
    float32 (an object, not a closure, so the model still pickles for Dask workers)."""

    def __init__(self, module: nn.Module, dtype: torch.dtype) -> None:
        self.module, self.dtype = module, dtype

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        device = next(self.module.parameters()).device.type
        with torch.autocast(device, dtype=self.dtype):
            out = type(self.module).forward(self.module, *args, **kwargs)
        return _to_float32(out)


def set_precision(model: nn.Module, precision: str) -> None:
    """Run ``model``'s reduced-precision networks at ``precision`` (``"fp32"``: as trained).

    Raises:
        ValueError: one line, for an unknown precision or an architecture that names no
            network that may run in reduced precision.
    """
    dtype = PRECISIONS[check_precision(precision)]
    declared = getattr(model, "reduced_precision_modules", None)
    modules: list[nn.Module] = declared() if declared is not None else []
    if dtype is not None and not modules:
        arch = getattr(getattr(model, "config", None), "arch", type(model).__name__)
        raise ValueError(f"--precision {precision}: architecture {arch!r} runs in float32 only (it names no network "
                         "that may run in reduced precision)")
    for module in modules:
        if dtype is None:
            module.__dict__.pop("forward", None)
        else:
            module.forward = _AutocastForward(module, dtype)  # type: ignore[method-assign]


@functools.cache
def cpu_has_bf16() -> bool | None:
    """Whether this CPU has bfloat16 units (AMX-BF16 or AVX512-BF16; None where it cannot be
    told, off Linux)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    return "amx_bf16" in flags or "avx512_bf16" in flags
