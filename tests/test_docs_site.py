"""The documentation site builds without a warning (``mkdocs build --strict``): every page in
the navigation, every link between pages, every docstring the API reference renders, and the
command-line reference generated from the app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_site_builds_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="the docs extra: pip install -e '.[docs]'")
    pytest.importorskip("mkdocstrings")
    pytest.importorskip("mkdocs_jupyter")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=600, env={**__import__("os").environ,
                                                                                        "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    cli = (tmp_path / "site" / "cli" / "index.html").read_text()
    assert "semcomm sweep" in cli and "--metric" in cli  # generated from the app
    assert (tmp_path / "site" / "api" / "models" / "index.html").read_text().count("KLTCascadeJSCC") > 0
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):  # rendered as pages
        assert (tmp_path / "site" / "notebooks" / notebook.stem / "index.html").stat().st_size > 10_000
