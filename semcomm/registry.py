"""One name -> factory registry, shared by every kind of plugin semcomm has.

Example::

    LINKS: Registry[BitLink] = Registry("link", group="semcomm.links")
    LINKS.register("capacity", CapacityLink)
    LINKS.get("capacity", n_uses=512)      # unknown names: one-line ValueError listing the known ones

    @ARCHITECTURES.register("tiny")        # with one argument: a decorator
    class Tiny(JSCCModel): ...

**Built-in modules.** A registry made with ``package`` imports every module of that package
(names not starting with ``_``) the first time it is asked for its names or an entry, so a new
built-in component is one module that registers itself, with no list to edit.

**Plugins.** A registry made with ``group`` also holds what installed packages declare in that
Python entry-point group (``[project.entry-points."semcomm.architectures"]`` in a plugin's
``pyproject.toml``, ``tiny = "my_plugin.model:Tiny"``). The first time the registry is asked
for its names or an entry, each entry point is loaded once: an object not yet registered is
registered under the entry point's name; a module is only imported (its decorators register
what it defines). A plugin that fails to import is reported on stderr, one line, and left out.

:func:`check_choice` is the one-line "unknown name" check of every option with a fixed set of
values (modulations, decoder rules, ...). This module imports nothing from semcomm.
(The ``channels`` package keeps its own registry: it imports nothing from semcomm.)
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import types
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any, Generic, TypeVar

__all__ = ["Registry", "check_choice", "import_modules", "load_entry_points"]

T = TypeVar("T")
V = TypeVar("V")


def check_choice(what: str, value: V, allowed: Iterable[str]) -> V:
    """Return ``value`` if it is one of ``allowed``, else raise a one-line ``ValueError``:
    ``unknown {what} {value!r}; choose one of: a, b``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; choose one of: {', '.join(allowed)}")
    return value


def load_entry_points(group: str, register: Callable[[str, Any], None], known: Callable[[str], bool]) -> None:
    """Load every entry point of ``group``: an object whose name is not ``known`` yet is passed
    to ``register(name, object)``; a module is only imported. A failing plugin is reported on
    stderr in one line and skipped."""
    for point in metadata.entry_points(group=group):
        try:
            loaded = point.load()
        except Exception as err:  # noqa: BLE001 - a broken plugin must not break the others
            print(f"warning: plugin {point.name!r} ({point.value}, entry point group {group}) failed to load: "
                  f"{err.__class__.__name__}: {err}", file=sys.stderr)
            continue
        if not isinstance(loaded, types.ModuleType) and not known(point.name):
            register(point.name, loaded)


def import_modules(package: str) -> None:
    """Import every module of ``package`` whose name does not start with ``_``."""
    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(getattr(pkg, "__path__", [])):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")


class Registry(Generic[T]):
    """Factories of one kind of object by name, in registration order.

    Args:
        kind: what the names name, for error messages (``"codec"``, ``"link"``, ...).
        group: the Python entry-point group whose plugins it also holds (None: none).
        package: the package whose every module is imported before the first look-up (its
            modules register the built-in components; None: none).
    """

    def __init__(self, kind: str, group: str | None = None, package: str | None = None) -> None:
        self.kind = kind
        self.group = group
        self.package = package
        self._factories: dict[str, Callable[..., T]] = {}
        self._plugins_loaded = group is None and package is None

    def _load_plugins(self) -> None:
        if not self._plugins_loaded:
            self._plugins_loaded = True  # first: a module's or plugin's import may register on this registry
            if self.package is not None:
                import_modules(self.package)
            if self.group is not None:
                load_entry_points(self.group, self.register, lambda name: name in self._factories)  # type: ignore[arg-type]

    def register(self, name: str, factory: Callable[..., T] | None = None) -> Any:
        """Add ``factory`` under ``name`` (raises if the name is taken). Without ``factory``, a
        decorator that registers what it decorates and returns it unchanged."""
        if factory is None:
            def decorate(obj: Any) -> Any:
                self.register(name, obj)
                return obj

            return decorate
        if name in self._factories:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._factories[name] = factory
        return factory

    def names(self) -> list[str]:
        """The registered names, in registration order (plugins after the built-in ones)."""
        self._load_plugins()
        return list(self._factories)

    def __contains__(self, name: object) -> bool:
        if name not in self._factories:
            self._load_plugins()
        return name in self._factories

    def entry(self, name: str) -> Callable[..., T]:
        """What is registered as ``name``, uncalled (a class, a factory or a description).

        Raises:
            ValueError: one line listing the known names, if ``name`` is unknown.
        """
        if name not in self._factories:
            self._load_plugins()
        return self._factories[check_choice(self.kind, name, self._factories)]

    def get(self, name: str, **kwargs: Any) -> T:
        """Build the object registered as ``name`` with ``kwargs``.

        Raises:
            ValueError: one line listing the known names, if ``name`` is unknown.
        """
        return self.entry(name)(**kwargs)
