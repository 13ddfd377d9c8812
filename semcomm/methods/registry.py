"""Method registry: ``get_method("analog", dataset="mnist")``, and :func:`resolve_method`, which
also accepts JSCC checkpoints (run directories, ``.safetensors`` files, pretrained names).

A new method is one class and one :func:`register` call; the sweep and the CLI find it by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from semcomm.methods.analog import UncodedAnalog
from semcomm.methods.base import Method
from semcomm.methods.jscc import load_method

__all__ = ["METHODS", "get_method", "method_names", "register", "resolve_method"]

METHODS: dict[str, Callable[..., Method]] = {}


def register(name: str, factory: Callable[..., Method]) -> None:
    """Add a method factory under ``name`` (raises if the name is taken)."""
    if name in METHODS:
        raise ValueError(f"method {name!r} is already registered")
    METHODS[name] = factory


def method_names() -> list[str]:
    """Registered method names, sorted."""
    return sorted(METHODS)


def get_method(name: str, **kwargs: Any) -> Method:
    """Build the method registered as ``name`` with ``kwargs`` (e.g. ``dataset="mnist"``).

    Raises:
        ValueError: one line listing the known names, if ``name`` is unknown.
    """
    try:
        factory = METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; choose one of: {', '.join(method_names())}") from None
    return factory(**kwargs)


def resolve_method(source: str, dataset: str | None = None) -> Method:
    """The method a sweep evaluates, from what the user typed.

    ``source`` is a registered method name (e.g. ``"analog"``, built with ``dataset=dataset``),
    else a JSCC checkpoint (:func:`semcomm.methods.jscc.load_method`).

    Args:
        source: a method name, a run directory or a pretrained model name.
        dataset: the dataset for a method that needs one; for a loaded model, None or the
            model's own dataset.

    Raises:
        ValueError: one line, for an unknown source or a dataset mismatch.
    """
    if source in METHODS:
        return get_method(source, dataset=dataset)
    method = load_method(source)
    if dataset is not None and method.dataset != dataset:
        raise ValueError(f"{source!r} is a {method.dataset} model; it cannot be evaluated on {dataset}")
    return method


register(UncodedAnalog.name, UncodedAnalog)
