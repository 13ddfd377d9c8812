"""JSCC architectures by name: the key every checkpoint stores in its config (``arch``).

A new architecture is one module and one :func:`register` call. Its factory takes the
:class:`~semcomm.models.multires_jscc.JSCCConfig` and, when a fresh model is built for
training, the data root (an architecture with an analytic backbone fits it there); loading a
checkpoint builds the empty model and fills every weight and buffer from the file.

Every model answers ``model(images, channel, snr_db, csi, generator) -> JSCCOutput``,
``model.encode(images)``, ``model.classify_noiseless(images)``, ``model.shared_parameters()``,
``model.task_loss(name, prediction, target)`` and has ``model.config``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from semcomm.models.klt import get_klt
from semcomm.models.klt_jscc import KLTRefineJSCC
from semcomm.models.multires_jscc import JSCCConfig, MultiResJSCC
from semcomm.models.rmn import KLTRoutedJSCC
from semcomm.models.slim import KLTSlimJSCC
from semcomm.models.softcast import SoftCast
from semcomm.registry import Registry

__all__ = ["ARCHITECTURES", "build_model", "register"]

ARCHITECTURES: Registry[nn.Module] = Registry("JSCC architecture")
register: Callable[[str, Callable[..., nn.Module]], None] = ARCHITECTURES.register


def build_model(config: JSCCConfig, data_root: Any = None, fresh: bool = False) -> nn.Module:
    """The model ``config.arch`` names (unknown key: one-line ``ValueError`` listing the known).

    Args:
        config: the architecture.
        data_root: where a fresh model's analytic parts are fitted (training split).
        fresh: True for a model to train (analytic parts fitted), False for one whose weights
            and buffers are about to be loaded.
    """
    return ARCHITECTURES.get(config.arch, config=config, data_root=data_root, fresh=fresh)


def _conv(config: JSCCConfig, data_root: Any, fresh: bool) -> nn.Module:
    if config.layer_power != "equal":
        raise ValueError(f"the 'conv' architecture sends every layer at unit power (layer power 'equal'), not {config.layer_power!r}")
    return MultiResJSCC(config)


def _on_linear_backbone(cls: type[KLTRefineJSCC]) -> Callable[..., nn.Module]:
    """The factory of an architecture built on the linear scheme: a fresh model fits its KLT."""

    def build(config: JSCCConfig, data_root: Any, fresh: bool) -> nn.Module:
        if not fresh:
            return cls(config)
        klt = get_klt(config.dataset, data_root)
        return cls(config, SoftCast(klt.mean, klt.basis, klt.eigvals, config.layer_symbols, config.layer_power))

    return build


register("conv", _conv)
register("klt-refine", _on_linear_backbone(KLTRefineJSCC))
register("klt-rmn", _on_linear_backbone(KLTRoutedJSCC))
register("klt-slim", _on_linear_backbone(KLTSlimJSCC))
