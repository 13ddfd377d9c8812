"""The extension guides' worked examples (docs/extend/*.md) run as written: each guide's first
Python block, in a fresh process, in an empty folder."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

GUIDES = sorted((Path(__file__).resolve().parents[1] / "docs" / "extend").glob("*.md"))


def test_there_is_a_guide_per_extension_point() -> None:
    assert {p.stem for p in GUIDES} >= {"architecture", "dataset", "task", "method", "channel", "compare"}


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.stem)
def test_the_worked_example_runs(guide: Path, tmp_path: Path) -> None:
    match = re.search(r"```python\n(.*?)```", guide.read_text(), re.S)
    assert match, f"{guide.name} has no Python example"
    result = subprocess.run([sys.executable, "-c", match.group(1)], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
