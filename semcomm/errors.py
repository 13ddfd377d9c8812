"""The error of a bad configuration field: its message names the field, a front end its flag.

Library code (configs, options, validation) raises :class:`FieldError` with a message template
that holds ``{field}``; ``str(err)`` names the field (``proxy_weight``), and the command line
renders the same message with its flag (``--proxy-weight``, :meth:`FieldError.render`).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["FieldError"]


class FieldError(ValueError):
    """A one-line error about the configuration field ``field``.

    Args:
        field: the field's name (``"route_cost"``).
        template: the message, with ``{field}`` where the field's name goes.
        others: more placeholders of the template, each naming another field (a dotted name
            for an entry of a dict field: ``"weighting_kwargs.alpha"``).
    """

    def __init__(self, field: str, template: str, **others: str) -> None:
        self.field = field
        self.template = template
        self.others = others
        super().__init__(template.format(field=field, **others))

    def render(self, name_of: Callable[[str], str]) -> str:
        """The message with ``name_of(field)`` (e.g. the flag) in place of each field's name."""
        return self.template.format(field=name_of(self.field), **{k: name_of(v) for k, v in self.others.items()})
