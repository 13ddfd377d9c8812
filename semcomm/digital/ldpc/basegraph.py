"""5G NR LDPC base graphs and lifting sizes (3GPP TS 38.212 §5.2.2, §5.3.2, §6.2.2 / §7.2.2).

The two base graphs (Tables 5.3.2-2 and 5.3.2-3) are read from the CSV files that Sionna ships
(``sionna/phy/fec/ldpc/codes/5G_bg{1,2}.csv``; Sionna is a core dependency), found without
importing Sionna. A base matrix holds, per (row, column), the shift value ``V`` of the lifting
set ``i_LS`` or ``-1`` for an all-zero block; the lifted block is the ``Z x Z`` identity cyclically
shifted by ``V mod Z``: check ``row*Z + r`` connects to variable ``col*Z + (r + V) mod Z``.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

__all__ = [
    "BASE_GRAPHS",
    "INFO_COLUMNS",
    "LIFTING_SETS",
    "MAX_CODE_BLOCK",
    "base_matrix",
    "lifting_size",
    "select_base_graph",
]

#: Systematic (information) columns ``K_b`` of each base graph; its keys are the base-graph names.
INFO_COLUMNS: dict[str, int] = {"bg1": 22, "bg2": 10}

#: Base-graph names.
BASE_GRAPHS: tuple[str, ...] = tuple(INFO_COLUMNS)

#: Lifting sizes ``Z`` per set index ``i_LS`` (TS 38.212 Table 5.3.2-1).
LIFTING_SETS: tuple[tuple[int, ...], ...] = (
    (2, 4, 8, 16, 32, 64, 128, 256),
    (3, 6, 12, 24, 48, 96, 192, 384),
    (5, 10, 20, 40, 80, 160, 320),
    (7, 14, 28, 56, 112, 224),
    (9, 18, 36, 72, 144, 288),
    (11, 22, 44, 88, 176, 352),
    (13, 26, 52, 104, 208),
    (15, 30, 60, 120, 240),
)

#: Maximum code block size ``K_cb`` (info bits per LDPC codeword) of each base graph: its
#: systematic columns times the largest lifting size (8448 for BG1, 3840 for BG2).
MAX_CODE_BLOCK: dict[str, int] = {bg: cols * max(max(zs) for zs in LIFTING_SETS) for bg, cols in INFO_COLUMNS.items()}

#: Rows of each base graph (it has ``INFO_COLUMNS + rows`` columns: 46 x 68 and 42 x 52).
_ROWS = {"bg1": 46, "bg2": 42}


def select_base_graph(k: int, rate: float) -> str:
    """Base graph for ``k`` information bits at code rate ``rate`` (TS 38.212 §7.2.2).

    BG2 if ``k <= 292``, or ``k <= 3824`` and ``rate <= 0.67``, or ``rate <= 0.25``; else BG1.
    """
    if k <= 292 or (k <= 3824 and rate <= 0.67) or rate <= 0.25:
        return "bg2"
    return "bg1"


def lifting_size(k: int, bg: str) -> tuple[int, int]:
    """Smallest lifting size ``Z`` with ``K_b * Z >= k`` (TS 38.212 §5.2.2) and its set index.

    ``K_b`` is :data:`INFO_COLUMNS` (22 for BG1, 10 for BG2), except that for BG2 it is 9, 8 or 6
    for ``k`` up to 640, 560 or 192.

    Args:
        k: information bits.
        bg: one of :data:`BASE_GRAPHS` (not checked here: :class:`~semcomm.digital.ldpc.LdpcCode` does).

    Returns:
        ``(Z, i_LS)``.
    """
    k_b = INFO_COLUMNS[bg]
    if bg == "bg2" and k <= 640:
        k_b = 9 if k > 560 else 8 if k > 192 else 6
    return min((z, i) for i, zs in enumerate(LIFTING_SETS) for z in zs if k_b * z >= k)


def _csv_path(bg: str) -> Path:
    spec = importlib.util.find_spec("sionna")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the 5G LDPC base graphs are read from Sionna's package data; install sionna-no-rt")
    return Path(next(iter(spec.submodule_search_locations))) / "phy" / "fec" / "ldpc" / "codes" / f"5G_{bg}.csv"


@functools.cache
def _all_sets(bg: str) -> np.ndarray:
    """``int64 [8, rows, cols]``: the base matrix of every lifting set, ``-1`` for zero blocks."""
    table = np.genfromtxt(_csv_path(bg), delimiter=";", skip_header=2)
    rows = table[:, 0]
    # The CSV writes a row index only on its first entry: forward-fill it.
    filled = np.maximum.accumulate(np.where(np.isnan(rows), -1, rows)).astype(np.int64)
    cols = table[:, 1].astype(np.int64)
    n_rows = _ROWS[bg]
    out = np.full((len(LIFTING_SETS), n_rows, INFO_COLUMNS[bg] + n_rows), -1, dtype=np.int64)
    out[:, filled, cols] = table[:, 2:10].T.astype(np.int64)
    out.flags.writeable = False
    return out


def base_matrix(bg: str, i_ls: int) -> np.ndarray:
    """Base matrix of ``bg`` (one of :data:`BASE_GRAPHS`, not checked here) for lifting set
    ``i_ls`` (read-only ``int64 [46, 68]`` or ``[42, 52]``)."""
    if not 0 <= i_ls < len(LIFTING_SETS):
        raise ValueError(f"lifting set index {i_ls} out of range; allowed: 0..{len(LIFTING_SETS) - 1}")
    return _all_sets(bg)[i_ls]
