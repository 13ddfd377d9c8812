"""Flags that several commands share: help texts, the sources argument, the channel options and
the architectures' options.

:func:`with_channel_options` gives a command one flag per option some channel declares
(:mod:`channels.options`): a new channel option is one edit in ``channels``, and every command
that takes a channel has its flag. :func:`with_architecture_options` does the same for the
fields of every registered architecture's options dataclass
(:attr:`semcomm.models.JSCCModel.Options`, plugins included). :func:`flag_group` is the
mechanism: it replaces one parameter of a command by a group of flags and hands the command
what they build.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import sys
import typing
from collections.abc import Callable
from typing import Annotated, Any, Optional, TypeVar

import typer

import channels

__all__ = ["CHANNEL_HELP", "CSI_HELP", "IMAGES_HELP", "SNR_HELP", "SourcesArgument", "architecture_options",
           "dataset_help", "flag_group", "flag_name", "with_architecture_options", "with_channel_options"]

F = TypeVar("F", bound=Callable[..., Any])

SourcesArgument = Annotated[
    Optional[list[str]],
    typer.Argument(help="JSCC run directories or pretrained model names, or method names (analog, linear)"),
]
CHANNEL_HELP = "comma list of: " + ", ".join(channels.names())
CSI_HELP = "comma list of receiver CSI modes: perfect, none (any channel), ls, lmmse (TDL/OFDM channels)"
SNR_HELP = "Es/N0 in dB: start:stop:step (stop included) or a comma list"
PRECISION_HELP = ("the JSCC models' precision: fp32 (as trained) or bf16 (their CNNs in bfloat16: within 0.005 dB "
                  "of fp32 for cifar10-l3, ~2.5x faster on CPUs and GPUs with bfloat16 units, slower on CPUs without)")
IMAGES_HELP = ("a folder of your own images (PNG/JPEG, any size; class sub-folders label them) to use instead of "
               "a dataset's")


def dataset_help(what: str = "the dataset") -> str:
    """``"<what>: mnist (...), cifar10 (...)"``: the registered datasets, from the registry."""
    from semcomm.data import dataset_info, dataset_names

    return f"{what}: " + ", ".join(f"{n} ({dataset_info(n).description})" if dataset_info(n).description else n
                                   for n in dataset_names())


#: Flags whose name is not the field's (library errors name fields; the CLI names flags).
_FIELD_FLAGS = {"ratios": "--ratio", "weighting_kwargs": "--weighting-opt", "weighting_kwargs.semantic": "--semantic-weight",
                "weighting_kwargs.relation": "--gradsplit-relation", "run_dir": "--out"}


def flag_name(field: str) -> str:
    """The command-line flag of a configuration field: ``"route_cost"`` -> ``"--route-cost"``;
    an option of the weighting, ``"weighting_kwargs.alpha"``, -> ``"--weighting-opt alpha"``."""
    if field in _FIELD_FLAGS:
        return _FIELD_FLAGS[field]
    if field.startswith("weighting_kwargs."):
        return "--weighting-opt " + field.split(".", 1)[1]
    return "--" + field.replace("_", "-")


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


def _option_fields() -> dict[str, tuple[type, str, list[str]]]:
    """Every field of a registered architecture's options: name -> (type, help, the
    architectures that take it), in order of first declaration (type and help: the first's)."""
    from semcomm.models import ARCHITECTURES, architecture

    out: dict[str, tuple[type, str, list[str]]] = {}
    for key in ARCHITECTURES.names():
        try:
            options = architecture(key).Options
            hints = typing.get_type_hints(options)
        except Exception as err:  # noqa: BLE001 - a broken plugin must not take the CLI down
            print(f"warning: architecture {key!r}: its options are unreadable ({err}); no flags for them", file=sys.stderr)
            continue
        for f in dataclasses.fields(options):
            if f.name not in out:
                out[f.name] = (hints.get(f.name, str), str(f.metadata.get("help", "")), [])
            out[f.name][2].append(key)
    return out


def _parse_option(field: str, kind: Any, value: Any) -> Any:
    """The text of ``--field`` as the option's type (bools come parsed)."""
    if isinstance(value, bool) or value is None:
        return value
    base = next((t for t in typing.get_args(kind) if t is not type(None)), kind) if typing.get_args(kind) else kind
    flag = flag_name(field)
    if base is int:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number != int(number):
            raise ValueError(f"bad {flag} {value!r}: expected a whole number")
        return int(number)
    if base is float:
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"bad {flag} {value!r}: expected a number") from None
    return value


def architecture_options(arch: str, given: dict[str, Any]) -> dict[str, Any]:
    """The options of architecture ``arch`` from the flags ``given`` (field -> text, bool or
    None where not given), parsed to the fields' types.

    Raises:
        ValueError: one line, for a flag the architecture does not take or a bad value.
    """
    from semcomm.models import architecture

    try:
        cls = architecture(arch)
    except ValueError as err:
        raise ValueError(str(err).replace("JSCC architecture", "--arch")) from None
    hints = typing.get_type_hints(cls.Options)
    takes = {f.name for f in dataclasses.fields(cls.Options)}
    fields = _option_fields()
    out = {}
    for name, value in given.items():
        if value is None:
            continue
        if name not in takes:
            owners = fields[name][2] if name in fields else []
            raise ValueError(f"{flag_name(name)} is an option of {', '.join(owners) or 'another architecture'}; "
                             f"--arch {arch} does not take it")
        out[name] = _parse_option(name, hints.get(name, str), value)
    return out


def with_architecture_options(fn: F) -> F:
    """Give the command one flag per field of every registered architecture's options; it
    receives ``arch_options``, field -> the flag's text (or bool; None where not given)."""
    reserved = set(inspect.signature(fn).parameters)
    flags = []
    for name, (kind, help_text, owners) in _option_fields().items():
        if name in reserved:
            print(f"warning: architecture {owners[0]!r}: option {name!r} clashes with a flag of the command; it gets none",
                  file=sys.stderr)
            continue
        flag = flag_name(name)
        base = next((t for t in typing.get_args(kind) if t is not type(None)), kind) if typing.get_args(kind) else kind
        what = f"{help_text} [{', '.join(owners)}]"
        if base is bool:
            annotation = Annotated[Optional[bool], typer.Option(f"{flag}/--no-{flag[2:]}", help=what)]
        else:
            annotation = Annotated[Optional[str], typer.Option(flag, help=what)]
        flags.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation))
    names = [p.name for p in flags]
    return flag_group("arch_options", flags, lambda values: {n: values[n] for n in names})(fn)
