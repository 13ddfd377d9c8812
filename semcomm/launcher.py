"""The ``semcomm`` command's entry point: a help request answered at once, else the command line.

``semcomm --help`` and ``semcomm <command> --help`` print help texts that are built from the
registries (channels, codecs, datasets, architectures and their options, plugins included), which
means importing torch and every component: seconds. So the text of each help request is kept in
``$SEMCOMM_CACHE/cli-help/`` the first time it is made, under a key of everything it depends on:
semcomm's version, the size and time of every source file of ``semcomm`` and ``channels``, the
installed plugins (entry points of the ``semcomm.*`` groups), the Python, typer and rich versions,
the arguments and the terminal's width. Any change makes a new key, and the next help request
renders afresh. Everything else goes to :mod:`semcomm.cli`.

This module imports only the standard library.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import sys
from importlib import metadata
from pathlib import Path

__all__ = ["help_key", "is_help_request", "main"]

#: The packages whose source files a help text depends on.
_PACKAGES = ("semcomm", "channels")
#: Help texts kept (the oldest beyond it are removed when one is written).
_KEEP = 64


def is_help_request(args: list[str]) -> bool:
    """``semcomm``, ``semcomm --help`` or ``semcomm <command> --help``."""
    return args in ([], ["--help"]) or (len(args) == 2 and args[1] == "--help" and not args[0].startswith("-"))


def _sources() -> list[str]:
    """``path size mtime`` of every source file of :data:`_PACKAGES`, sorted."""
    out = []
    for name in _PACKAGES:
        spec = __import__("importlib.util").util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        for root in spec.submodule_search_locations:
            for folder, _, files in os.walk(root):
                for file in files:
                    if file.endswith((".py", ".json")):
                        path = os.path.join(folder, file)
                        st = os.stat(path)
                        out.append(f"{path} {st.st_size} {st.st_mtime_ns}")
    return sorted(out)


def _plugins() -> list[str]:
    """The installed entry points of the ``semcomm.*`` groups, with their distributions' versions."""
    points = []
    for dist in metadata.distributions():
        for point in dist.entry_points:
            if point.group.startswith("semcomm."):
                points.append(f"{point.group} {point.name} {point.value} {dist.version}")
    return sorted(points)


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def help_key(args: list[str], width: int) -> str:
    """The cache key of the help text of ``args`` at terminal ``width``."""
    h = hashlib.sha256()
    for part in [sys.version, _version("semcomm"), _version("typer"), _version("rich"), *_sources(), *_plugins(),
                 repr(args), str(width)]:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def _cache_file(key: str) -> Path:
    from semcomm.cache import cache_dir

    return cache_dir() / "cli-help" / f"{key}.json"


def _render(args: list[str], width: int) -> tuple[str, int]:
    """The command line's own output for ``args`` (help), and its exit code."""
    from semcomm.cli import app

    out = io.StringIO()
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    code = 0
    try:
        with contextlib.redirect_stdout(out):
            app(args=args, prog_name="semcomm")
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    return out.getvalue(), code


def _run(args: list[str]) -> int:
    """Run the command line on ``args``; a usage error (an unknown command or option, a missing
    argument) is one line, as every other error: ``error: ...``, exit 2."""
    import typer

    from semcomm.cli import app

    try:
        code = app(args=args, prog_name="semcomm", standalone_mode=False)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        return 130
    except Exception as err:  # click's errors (typer vendors click): they carry a message and an exit code
        if not (hasattr(err, "format_message") and isinstance(getattr(err, "exit_code", None), int)):
            raise
        ctx = getattr(err, "ctx", None)
        path = getattr(ctx, "command_path", "") or "semcomm"
        print(f"error: {err.format_message()} (see '{path} --help')", file=sys.stderr)
        return int(err.exit_code)
    return code if isinstance(code, int) else 0


def main(argv: list[str] | None = None) -> None:
    """Run ``semcomm`` with ``argv`` (default: the process's arguments)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not is_help_request(args):
        sys.exit(_run(args))
    width = shutil.get_terminal_size(fallback=(100, 24)).columns
    path = _cache_file(help_key(args, width))
    try:
        kept_help = json.loads(path.read_text())
        text, code = str(kept_help["text"]), int(kept_help["code"])
    except (OSError, ValueError, KeyError, TypeError):
        text, code = _render(args, width)
        if code in (0, 2) and text:  # help shown (2: no command given)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.{os.getpid()}")
                tmp.write_text(json.dumps({"code": code, "text": text}))
                os.replace(tmp, path)
                kept = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
                for old in kept[_KEEP:]:
                    old.unlink(missing_ok=True)
            except OSError:  # a read-only cache: the help is still printed
                pass
    sys.stdout.write(text)
    sys.exit(code)
