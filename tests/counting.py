"""A test double shared by the sweep and broadcast tests."""

from __future__ import annotations

from typing import Any

from semcomm.methods import LayerResult, Method


class Counting(Method):
    """Wraps a method; counts ``transmit`` calls and interrupts (KeyboardInterrupt, as a killed
    run) at call number ``fail_at``."""

    def __init__(self, inner: Method, fail_at: int | None = None) -> None:
        self.inner, self.name, self.dataset, self.layered = inner, inner.name, inner.dataset, inner.layered
        self.class_names, self.calls, self.fail_at = inner.class_names, 0, fail_at

    def check_images(self, shape: tuple[int, int, int]) -> None:
        self.inner.check_images(shape)

    def transmit(self, *args: Any, **kwargs: Any) -> list[LayerResult]:
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyboardInterrupt
        return self.inner.transmit(*args, **kwargs)
