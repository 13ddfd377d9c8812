"""Flags that several commands share: help texts, the sources argument, and the channel options.

:func:`with_channel_options` gives a command one flag per option some channel declares
(:mod:`channels.options`): a new channel option is one edit in ``channels``, and every command
that takes a channel has its flag. :func:`flag_group` is the mechanism: it replaces one
parameter of a command by a group of flags and hands the command what they build.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, Optional, TypeVar

import typer

import channels

__all__ = ["CHANNEL_HELP", "CSI_HELP", "SNR_HELP", "SourcesArgument", "flag_group", "with_channel_options"]

F = TypeVar("F", bound=Callable[..., Any])

SourcesArgument = Annotated[
    Optional[list[str]],
    typer.Argument(help="JSCC run directories or pretrained model names, or method names (analog, linear)"),
]
CHANNEL_HELP = "comma list of: " + ", ".join(channels.names())
CSI_HELP = "comma list of receiver CSI modes: perfect, none (any channel), ls, lmmse (TDL/OFDM channels)"
SNR_HELP = "Es/N0 in dB: start:stop:step (stop included) or a comma list"


def flag_group(name: str, flags: list[inspect.Parameter], build: Callable[[dict[str, Any]], Any]) -> Callable[[F], F]:
    """A decorator that replaces the parameter ``name`` of a command by the keyword-only
    ``flags`` (typer options); the command receives ``build({flag parameter: value})`` as ``name``.
    ``build`` runs before the command (its ``ValueError`` is a one-line error)."""

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn, eval_str=True)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {p.name: kwargs.pop(p.name) for p in flags}
            return fn(*args, **kwargs, **{name: build(values)})

        kept = [p for p in signature.parameters.values() if p.name != name]
        wrapper.__signature__ = signature.replace(parameters=[*kept, *flags])  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def _parameter(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def with_channel_options(fn: F) -> F:
    """Give the command one flag per declared channel option; it receives ``channel_options``,
    the text of each option by flag (None where not given)."""
    options = channels.all_options()
    flags = [
        inspect.Parameter(_parameter(flag), inspect.Parameter.KEYWORD_ONLY, default=None,
                          annotation=Annotated[Optional[str], typer.Option(flag, help=option.help)])
        for flag, option in options.items()
    ]
    return flag_group("channel_options", flags, lambda values: {f: values[_parameter(f)] for f in options})(fn)
