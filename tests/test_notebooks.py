"""Every notebook in ``notebooks/`` runs top to bottom, as a user's fresh kernel would run it.

Each notebook's code cells are executed in order in one namespace, in a fresh Python subprocess
(so global state and matplotlib backends don't leak between notebooks or into the tests), with
``MPLBACKEND=Agg``, in a temporary working directory. No Jupyter is needed: the notebooks are
plain nbformat-4 JSON and may not use IPython magics.

A notebook that needs pretrained models lists them in its metadata, ``{"semcomm": {"pretrained":
["mnist-l3"]}}``; it is skipped (with the reason) when one of them is not shipped, unless
``SEMCOMM_NOTEBOOK_MODEL`` names a substitute checkpoint (a run directory or ``.safetensors``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from semcomm.models.checkpoint import pretrained_names

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
TIMEOUT_S = 300

# Runs in the subprocess: execute the code cells of argv[1] in order in one namespace; on the
# first failing cell, report its index, source and traceback on stderr and exit with status 3.
RUNNER = r"""
import json, sys, traceback
cells = json.load(open(sys.argv[1], encoding="utf-8"))["cells"]
namespace = {"__name__": "__main__"}
code = [(index, cell) for index, cell in enumerate(cells) if cell["cell_type"] == "code"]
for number, (index, cell) in enumerate(code):
    source = "".join(cell["source"])
    try:
        exec(compile(source, f"<cell {index}>", "exec"), namespace)
    except BaseException:
        where = f"cell {index} (code cell {number}, both counted from 0)"
        sys.stderr.write(f"{where} raised:\n{source}\n\n{traceback.format_exc()}")
        sys.exit(3)
"""


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(nb: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "no notebooks/*.ipynb found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean_nbformat4(path: Path) -> None:
    """Valid nbformat-4 JSON, committed without outputs, and no IPython magics or shell escapes."""
    nb = load(path)
    assert nb["nbformat"] == 4 and isinstance(nb["cells"], list) and isinstance(nb["metadata"], dict)
    assert nb["metadata"].get("kernelspec", {}).get("language") == "python"
    for index, cell in enumerate(nb["cells"]):
        assert cell["cell_type"] in {"code", "markdown", "raw"}, f"cell {index}: unknown type"
        assert isinstance(cell["source"], (list, str)) and isinstance(cell["metadata"], dict), f"cell {index}"
    for index, cell in enumerate(code_cells(nb)):
        assert cell["outputs"] == [] and cell["execution_count"] is None, (
            f"{path.name}: code cell {index} has outputs; clear them before committing"
        )
        source = "".join(cell["source"])
        magics = [line for line in source.splitlines() if line.lstrip().startswith(("%", "!"))]
        assert not magics, f"{path.name}: code cell {index} uses IPython magics / shell escapes: {magics}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path: Path, tmp_path: Path) -> None:
    nb = load(path)
    substitute = os.environ.get("SEMCOMM_NOTEBOOK_MODEL")
    missing = [m for m in nb["metadata"].get("semcomm", {}).get("pretrained", []) if m not in pretrained_names()]
    if missing and not substitute:
        pytest.skip(f"{path.name} needs pretrained model(s) {', '.join(missing)}, not shipped in semcomm/pretrained/ "
                    "(or set SEMCOMM_NOTEBOOK_MODEL to a checkpoint)")
    env = os.environ | {"MPLBACKEND": "Agg"}
    try:
        proc = subprocess.run([sys.executable, "-c", RUNNER, str(path)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{path.name} did not finish within {TIMEOUT_S} s")
    assert proc.returncode == 0, f"{path.name} failed (exit {proc.returncode}):\n{proc.stderr[-6000:]}"
