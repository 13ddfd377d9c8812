"""Methods a sweep compares: every one answers ``transmit(images, channel, snr_db, csi)``.

Registered by name: ``analog`` (uncoded analog transmission); JSCC models load from checkpoints
(:func:`resolve_method` accepts both).
"""

from semcomm.methods.analog import UncodedAnalog
from semcomm.methods.base import LayerResult, Method
from semcomm.methods.jscc import JSCCMethod, load_method
from semcomm.methods.registry import METHODS, get_method, method_names, register, resolve_method

__all__ = [
    "METHODS",
    "JSCCMethod",
    "LayerResult",
    "Method",
    "UncodedAnalog",
    "get_method",
    "load_method",
    "method_names",
    "register",
    "resolve_method",
]
