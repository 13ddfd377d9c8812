"""MkDocs hooks: the command-line reference, generated from the Typer app at build time; the
notebooks of ``notebooks/`` (outside ``docs/``) added to the site, where mkdocs-jupyter renders
them; and a build that stops when a page's numeric tables are older than their results files
(``docs/results/render.py``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mkdocs.plugins import event_priority

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


def on_pre_build(config: Any, **kwargs: Any) -> None:
    """Stop the build where a page's generated tables differ from what its results files give."""
    import importlib.util

    from mkdocs.exceptions import PluginError

    spec = importlib.util.spec_from_file_location("docs_render", Path(config["docs_dir"]) / "results" / "render.py")
    assert spec is not None and spec.loader is not None
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    stale = render.stale_pages()
    if stale:
        raise PluginError(f"stale tables in {', '.join(map(str, stale))}: run python docs/results/render.py")


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, _reference())
    return markdown


@event_priority(100)  # before mkdocs-jupyter's, which turns every notebook file into a page
def on_files(files: Any, config: Any, **kwargs: Any) -> Any:
    """Add ``notebooks/*.ipynb`` as pages ``notebooks/<name>`` (committed without outputs: the site
    shows their code and text; the slow test tier executes them)."""
    from mkdocs.structure.files import File

    root = Path(config["docs_dir"]).parent
    for notebook in sorted((root / "notebooks").glob("*.ipynb")):
        files.append(File(f"notebooks/{notebook.name}", src_dir=str(root), dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    return files
