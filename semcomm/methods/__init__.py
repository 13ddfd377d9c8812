"""Methods a sweep compares: every one answers ``transmit(images, channel, snr_db, csi)``.

Registered by name: ``analog`` (uncoded analog transmission) and ``linear`` (the
multi-resolution linear analog reference, KLT + SoftCast + LMMSE, :class:`LinearMethod`); JSCC
models load from checkpoints (:func:`resolve_method` accepts both); SSCC baselines (codec +
digital link, :class:`SSCCMethod`) and ``linear`` (with the layer sizes of the sweep's first
JSCC model, or ``--ratio``) are built by :func:`sweep_methods` from ``--method sscc,linear``.
"""

from semcomm.methods.analog import UncodedAnalog
from semcomm.methods.base import LayerResult, Method
from semcomm.methods.jscc import JSCCMethod, load_method
from semcomm.methods.linear import LinearMethod
from semcomm.methods.registry import (
    METHODS,
    SSCCSpec,
    get_method,
    method_names,
    register,
    resolve_method,
    sweep_methods,
)
from semcomm.methods.sscc import SSCCMethod

__all__ = [
    "METHODS",
    "JSCCMethod",
    "LayerResult",
    "LinearMethod",
    "Method",
    "SSCCMethod",
    "SSCCSpec",
    "UncodedAnalog",
    "get_method",
    "load_method",
    "method_names",
    "register",
    "resolve_method",
    "sweep_methods",
]
