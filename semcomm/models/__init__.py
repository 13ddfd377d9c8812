"""JSCC models: the contract every architecture follows (:mod:`semcomm.models.base`), shared
layers, one module per built-in architecture (named after its key), the linear backbone, and
checkpoints.

Built-in architectures: ``conv`` (:mod:`~semcomm.models.conv`), ``klt-refine``
(:mod:`~semcomm.models.klt_refine`), ``klt-rmn`` (:mod:`~semcomm.models.klt_rmn`), ``klt-slim``
(:mod:`~semcomm.models.klt_slim`): every module of this package is imported on the registry's
first look-up, so a new one is one module with a registered class. More come from installed
plugins (entry point group ``semcomm.architectures``).
"""

from semcomm.models.base import (
    ARCHITECTURES,
    JSCCConfig,
    JSCCModel,
    JSCCOutput,
    NoOptions,
    architecture,
    build_model,
    cumulative_ratios,
    register_architecture,
    symbols_for_ratio,
)

__all__ = [
    "ARCHITECTURES", "JSCCConfig", "JSCCModel", "JSCCOutput", "NoOptions", "architecture", "build_model",
    "cumulative_ratios", "register_architecture", "symbols_for_ratio",
]

# The built-in architectures, registered in this order (their names' order in help and errors); a
# new module of this package needs no line here: the registry imports every module on first use.
from semcomm.models import conv, klt_refine, klt_rmn, klt_slim, klt_cascade  # noqa: E402, F401, I001
