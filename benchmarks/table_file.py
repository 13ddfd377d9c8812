"""The table a benchmark prints, written as a file the docs render (``docs/results/render.py``,
view ``table``): the columns, the formatted rows, notes, and what made them (the command line,
seed, semcomm version, git revision, package versions, date).

    from table_file import write_table      # benchmarks/ is the script's directory
    write_table(args.json, columns, rows, seed=args.seed, config=vars(args))
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

from semcomm.sweep.results_io import provenance, write_json_atomic


def command_line() -> str:
    """This process's command line as a user would type it (``python benchmarks/x.py ...``), paths
    under the working directory relative to it."""
    here = str(Path.cwd()) + "/"
    return shlex.join(["python", *(a[len(here):] if a.startswith(here) else a for a in sys.argv)])


def write_table(path: str | Path | None, columns: list[str], rows: list[list[Any]], *, seed: int | None = None,
                config: dict[str, Any] | None = None, notes: list[str] | None = None,
                extra: dict[str, Any] | None = None) -> None:
    """Write the table atomically to ``path`` (nothing when ``path`` is None).

    Args:
        columns: the header cells.
        rows: one list of cells per row (formatted as they are to be shown).
        seed: the seed that fixed the draws, if any.
        config: the options that made the numbers (JSON-serialisable).
        notes: lines shown under the table.
        extra: more fields for the file (e.g. the unformatted numbers behind the rows, for figures).
    """
    if path is None:
        return
    if any(len(row) != len(columns) for row in rows):
        raise ValueError(f"every row needs {len(columns)} cells")
    body = provenance({str(k): (str(v) if isinstance(v, Path) else v) for k, v in (config or {}).items()}, seed)
    body |= {"command": command_line(), "columns": list(columns), "rows": [[str(c) for c in row] for row in rows],
             "notes": list(notes or [])} | dict(extra or {})
    write_json_atomic(Path(path), body)
