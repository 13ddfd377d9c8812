"""One name -> factory registry, shared by codecs, links, methods and loss weightings.

Example::

    LINKS: Registry[BitLink] = Registry("link")
    LINKS.register("capacity", CapacityLink)
    LINKS.get("capacity", n_uses=512)      # unknown names: one-line ValueError listing the known ones

:func:`check_choice` is the one-line "unknown name" check of every option with a fixed set of
values (datasets, modulations, decoder rules, ...). This module imports nothing from semcomm.
(The ``channels`` package keeps its own registry: it imports nothing from semcomm.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

__all__ = ["Registry", "check_choice"]

T = TypeVar("T")
V = TypeVar("V")


def check_choice(what: str, value: V, allowed: Iterable[str]) -> V:
    """Return ``value`` if it is one of ``allowed``, else raise a one-line ``ValueError``:
    ``unknown {what} {value!r}; choose one of: a, b``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; choose one of: {', '.join(allowed)}")
    return value


class Registry(Generic[T]):
    """Factories of one kind of object by name, in registration order.

    Args:
        kind: what the names name, for error messages (``"codec"``, ``"link"``, ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str, factory: Callable[..., T]) -> None:
        """Add ``factory`` under ``name`` (raises if the name is taken)."""
        if name in self._factories:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._factories[name] = factory

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def get(self, name: str, **kwargs: Any) -> T:
        """Build the object registered as ``name`` with ``kwargs``.

        Raises:
            ValueError: one line listing the known names, if ``name`` is unknown.
        """
        return self._factories[check_choice(self.kind, name, self._factories)](**kwargs)
