"""MkDocs hook: the command-line reference, generated from the Typer app at build time."""

from __future__ import annotations

import os
from typing import Any

MARKER = "<!-- cli-reference -->"


def _reference() -> str:
    """Every command's help text, as the command line prints it (at 100 columns, no colour)."""
    import typer
    from typer.testing import CliRunner

    from semcomm.cli import app

    os.environ["COLUMNS"] = "100"
    runner = CliRunner()
    names = [c.name for c in typer.main.get_command(app).commands.values()]  # type: ignore[attr-defined]
    out = []
    for name in [None, *names]:
        args = ["--help"] if name is None else [name, "--help"]
        text = runner.invoke(app, args, prog_name="semcomm", color=False, terminal_width=100).output
        out.append(f"## `semcomm{'' if name is None else ' ' + name}`\n\n```text\n{text.rstrip()}\n```\n")
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, _reference())
    return markdown
