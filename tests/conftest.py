"""Shared test fixtures: the command line, in this process or a fresh one, and the test tiers.

``semcomm_cli`` runs ``semcomm ARGS`` and returns what a shell would see (return code, stdout,
stderr). By default the command runs in this process (typer's ``CliRunner``: no interpreter
start, no second import of torch), which is what a one-line-error or round-trip test needs;
``fresh=True`` starts ``python -m semcomm`` instead, for what must not share this process's
state (installed plugins on ``PYTHONPATH``, a process's own imports, torchrun).

Tiers: tests marked ``slow`` (long reproduction checks: Monte-Carlo rates against theory and
Sionna, trainings that resume, Dask clusters, notebooks) run only with ``--runslow``; the
README's test command runs the fast tier, ``.ci/run`` both.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

# What the commands print is checked at the width of a log (100 columns, see semcomm.cli.app);
# a COLUMNS or LINES from the shell that runs the tests must not change it.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="also run the tests marked slow")
    parser.addoption("--slow-only", action="store_true", default=False, help="run only the tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow-only"):
        items[:] = [item for item in items if "slow" in item.keywords]
        return
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow (CI does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@dataclass(frozen=True)
class CliResult:
    """What a shell sees of one command."""

    returncode: int
    stdout: str
    stderr: str

    def error_lines(self) -> list[str]:
        """The non-empty lines of stderr."""
        return [line for line in self.stderr.splitlines() if line.strip()]


CliRunnerFn = Callable[..., CliResult]


@pytest.fixture
def semcomm_cli(tmp_path: Path) -> CliRunnerFn:
    """``semcomm_cli(*args, cwd=None, env=None, fresh=False, timeout=300)``: run the command
    line in ``cwd`` (default: the test's ``tmp_path``) with ``env`` (the whole environment, as for
    ``subprocess``; default: this one)."""

    def run(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None, fresh: bool = False,
            timeout: float = 300) -> CliResult:
        where = Path(cwd) if cwd is not None else tmp_path
        if fresh:
            proc = subprocess.run([sys.executable, "-m", "semcomm", *map(str, args)], capture_output=True, text=True,
                                  cwd=where, env=env, timeout=timeout)
            return CliResult(proc.returncode, proc.stdout, proc.stderr)
        from typer.testing import CliRunner

        from semcomm.cli import app

        old_cwd, old_env = os.getcwd(), dict(os.environ)
        try:
            os.chdir(where)
            if env is not None:
                os.environ.clear()
                os.environ.update(env)
            result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
        finally:
            os.chdir(old_cwd)
            os.environ.clear()
            os.environ.update(old_env)
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run
