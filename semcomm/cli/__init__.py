"""The ``semcomm`` command line: one module per command.

Each command parses its flags, builds a plan or a config (validated there, once), runs it and
prints tables; nothing else. :mod:`semcomm.cli.app` holds the app, the consoles, one-line
errors and the progress bar; :mod:`semcomm.cli.parsing` the flag parsers;
:mod:`semcomm.cli.options` the shared flags (one per declared channel option);
:mod:`semcomm.cli.execution` the executor flags and the run into a results file.
"""

# Each module registers its command, in the order of the help.
from semcomm.cli import ber, sweep, broadcast, plot, table, train, adapt, demo  # noqa: F401, I001
from semcomm.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point for ``python -m semcomm``."""
    app()
