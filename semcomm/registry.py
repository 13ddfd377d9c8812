"""One name -> factory registry, shared by codecs, links, methods and loss weightings.

Example::

    LINKS: Registry[BitLink] = Registry("link")
    LINKS.register("capacity", CapacityLink)
    LINKS.get("capacity", n_uses=512)      # unknown names: one-line ValueError listing the known ones

(The ``channels`` package keeps its own registry: it imports nothing from semcomm.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


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
        try:
            factory = self._factories[name]
        except KeyError:
            raise ValueError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}") from None
        return factory(**kwargs)
