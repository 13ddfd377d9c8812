"""The typer app every command registers on, its consoles, one-line errors and the progress bar.

User errors (a bad SNR list, an unknown modulation or channel, ...) end a command with one line
on stderr, ``error: <what is wrong and what is allowed>``, and exit code 2.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from semcomm.atomic import check_distinct, check_writable
from semcomm.data import DatasetError
from semcomm.errors import FieldError

__all__ = ["app", "check_outputs", "console", "err_console", "one_line_errors", "progress_bar"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="semcomm: semantic communication simulator (JSCC vs digital links).",
)
console = Console()
if not console.is_terminal and "COLUMNS" not in os.environ:  # logs and pipes: 100 columns, as the tables assume
    console.width = 100
#: Notes and errors on stderr are never hard-wrapped: a path or a value in them stays one
#: greppable line whatever the width of the log (progress bars still fit the terminal).
err_console = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


@app.callback()
def _root() -> None:
    """semcomm: semantic communication simulator (JSCC vs digital links)."""


#: The errors of a full or read-only file system, given one line by :func:`one_line_errors`.
_STORAGE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})


def one_line_errors(fn: F) -> F:
    """Turn a ``ValueError`` raised for bad user input, or a dataset that cannot be loaded
    (:class:`~semcomm.data.DatasetError`), into ``error: ...`` on stderr, exit 2; an error about
    a configuration field (:class:`~semcomm.errors.FieldError`) names its flag; a full or
    read-only file system (ENOSPC, EDQUOT, EROFS, EFBIG) is one line too."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FieldError as err:
            from semcomm.cli.options import flag_name

            print(f"error: {err.render(flag_name)}", file=sys.stderr)
            raise typer.Exit(code=2) from None
        except (ValueError, DatasetError) as err:
            print(f"error: {err}", file=sys.stderr)
            raise typer.Exit(code=2) from None
        except OSError as err:
            if err.errno not in _STORAGE_ERRORS:
                raise
            where = f" writing {err.filename!r}" if err.filename else ""
            print(f"error: {err.strerror or err}{where}: nothing was half-written (files are replaced whole), the files "
                  "from before are as they were; free some space (or choose another folder) and run it again: "
                  "finished work is kept", file=sys.stderr)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


def progress_bar() -> Progress:
    """The progress bar every long job shows (on stderr)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err_console,
    )


def check_outputs(*outputs: tuple[str, Path | None], inputs: list[tuple[str, str | Path | None]] = ()) -> None:
    """Check each (flag, file) output that is given, before any work: writable
    (:func:`check_writable`), none the same file as another or as one of the command's
    ``inputs`` (:func:`check_distinct`)."""
    for flag, path in outputs:
        if path is not None:
            check_writable(path, flag)
    check_distinct(list(outputs), list(inputs))
