"""A 5G NR LDPC code with rate matching (3GPP TS 38.212 §5.2.2, §5.3.2, §5.4.2).

``k`` information bits are padded with ``K - k`` filler bits (known zeros, ``K = 22 Z`` for BG1,
``10 Z`` for BG2), encoded into the mother codeword of ``N = 68 Z`` / ``52 Z`` bits, and ``n`` bits
are selected for transmission:

- the first ``2 Z`` systematic bits are never sent (punctured; the decoder gives them LLR 0);
- the circular buffer is the mother codeword after those ``2 Z`` bits, without the filler bits;
- bit selection (redundancy version 0, ``N_cb = N``, i.e. no limited-buffer rate matching)
  reads ``n`` bits from its start, wrapping around (repetition) when ``n`` exceeds its length;
- with ``num_bits_per_symbol = Qm`` the selected bits go through the bit interleaver of §5.4.2.2
  (output bit ``i + j Qm`` is selected bit ``i n / Qm + j``), which puts the systematic bits on
  the most reliable label positions of each QAM symbol.

This is exactly what Sionna's ``LDPC5GEncoder(k, n, num_bits_per_symbol)`` outputs (Sionna
supports no repetition: it requires ``n`` within the circular buffer). The whole mapping is
:attr:`LdpcCode.positions`: transmitted bit ``t`` is mother-codeword bit ``positions[t]``.

Rows of the base graph beyond the last transmitted extension-parity column only connect a
degree-1 parity bit that is never sent; they carry no information and are dropped from the
parity-check matrix the encoder and decoder use (``rows_used`` block rows, ``n_used`` bits).
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as sp

from semcomm.digital.ldpc.basegraph import (
    BASE_GRAPHS,
    INFO_COLUMNS,
    MAX_CODE_BLOCK,
    base_matrix,
    lifting_size,
    select_base_graph,
)
from semcomm.registry import check_choice

__all__ = ["LdpcCode", "MAX_RATE", "MIN_K", "lift"]

#: Highest code rate ``k / n`` allowed (TS 38.212 §5.4.2.1 caps the effective rate at 0.95).
MAX_RATE = 0.95

#: Fewest information bits per codeword.
MIN_K = 12

#: Core parity columns of both base graphs (the double-diagonal part after the systematic columns).
CORE = 4


def lift(bm: np.ndarray, z: int) -> sp.csr_matrix:
    """Lift a base matrix into its binary parity-check matrix.

    Args:
        bm: ``[rows, cols]`` shift values, ``-1`` for a zero block.
        z: lifting size.

    Returns:
        ``uint8`` CSR matrix ``[rows * z, cols * z]``: block ``(i, j)`` with shift ``V >= 0`` has
        ones at ``(i z + r, j z + (r + V) mod z)`` for ``r < z``.
    """
    rows, cols = np.nonzero(bm >= 0)
    r = np.arange(z)
    row_idx = (rows[:, None] * z + r).ravel()
    col_idx = (cols[:, None] * z + (r + bm[rows, cols][:, None]) % z).ravel()
    data = np.ones(row_idx.size, dtype=np.uint8)
    return sp.csr_matrix((data, (row_idx, col_idx)), shape=(bm.shape[0] * z, bm.shape[1] * z))


def _interleaver(n: int, qm: int) -> np.ndarray:
    """TS 38.212 §5.4.2.2 bit interleaver: output ``i + j qm`` takes input ``i n / qm + j``."""
    return np.arange(n).reshape(qm, n // qm).T.ravel()


class LdpcCode:
    """A rate-matched 5G NR LDPC code: ``k`` information bits -> ``n`` transmitted bits.

    Args:
        k: information bits per codeword, ``12 <= k <= 8448`` (BG1) or ``3840`` (BG2).
        n: transmitted (rate-matched) bits per codeword, ``k / n <= 0.95``; any ``n`` beyond the
            circular buffer repeats it.
        bg: ``"bg1"``, ``"bg2"`` or ``None`` to select by the TS 38.212 rule from ``k`` and ``k / n``.
        num_bits_per_symbol: if given, apply the TS 38.212 bit interleaver for this modulation
            order (``n`` must be a multiple of it).

    Raises:
        ValueError: on an unsupported ``k``, ``n``, rate, base graph or modulation order.

    Attributes:
        k, n, bg, z (lifting size), i_ls (lifting set), k_ldpc (``K``; bits ``k .. K - 1`` are
        filler), n_cb (circular-buffer length without the filler bits),
        cols_info (systematic base columns: 22 or 10), rows_used (block rows kept), n_used
        (mother-codeword bits kept, ``(cols_info + rows_used) z``), base (the kept base matrix,
        ``[rows_used, cols_info + rows_used]``), positions (``int32 [n]``, read-only:
        mother-codeword index of each transmitted bit).
    """

    def __init__(self, k: int, n: int, bg: str | None = None, num_bits_per_symbol: int | None = None) -> None:
        k, n = int(k), int(n)
        if k < MIN_K:
            raise ValueError(f"k={k} too small; LDPC codewords carry at least {MIN_K} information bits")
        if n <= 0 or k / n > MAX_RATE:
            raise ValueError(f"k={k}, n={n}: code rate k/n must be <= {MAX_RATE} (n > 0)")
        self.k, self.n = k, n
        self.bg = select_base_graph(k, k / n) if bg is None else check_choice("base graph", bg, BASE_GRAPHS)
        if k > MAX_CODE_BLOCK[self.bg]:
            raise ValueError(f"k={k} exceeds the {self.bg} code block limit {MAX_CODE_BLOCK[self.bg]}; segment the data")
        self.z, self.i_ls = lifting_size(k, self.bg)
        self.cols_info = INFO_COLUMNS[self.bg]
        bm = base_matrix(self.bg, self.i_ls)
        z = self.z
        self.k_ldpc = self.cols_info * z
        n_ldpc = bm.shape[1] * z

        buffer = np.concatenate([np.arange(2 * z, k), np.arange(self.k_ldpc, n_ldpc)])
        self.n_cb = buffer.size
        positions = np.resize(buffer, n)  # circular: repeats the buffer when n > n_cb
        if num_bits_per_symbol is not None:
            if num_bits_per_symbol <= 0 or n % num_bits_per_symbol:
                raise ValueError(
                    f"n={n} must be a multiple of num_bits_per_symbol={num_bits_per_symbol} (a positive integer)"
                )
            positions = positions[_interleaver(n, num_bits_per_symbol)]
        self.positions = positions.astype(np.int32)
        self.positions.flags.writeable = False

        last_col = int(self.positions.max()) // z
        self.rows_used = CORE + max(0, last_col - (self.cols_info + CORE) + 1)
        self.n_used = (self.cols_info + self.rows_used) * z
        self.base = bm[: self.rows_used, : self.cols_info + self.rows_used]

    @property
    def rate(self) -> float:
        """Code rate ``k / n``."""
        return self.k / self.n

    @functools.cached_property
    def pcm(self) -> sp.csr_matrix:
        """Parity-check matrix of the kept rows, ``uint8`` CSR ``[rows_used z, n_used]``.

        With every row kept (``n`` reaching the last parity column) it is the full lifted matrix
        of the base graph; a codeword ``c [n_used]`` satisfies ``pcm @ c = 0 (mod 2)``.
        """
        return lift(self.base, self.z)

    @functools.cached_property
    def qc(self) -> tuple[np.ndarray, np.ndarray]:
        """Quasi-cyclic structure of the kept rows, for the decoder: ``(row_ptr, var)``.

        ``int32`` arrays. Block row ``i`` holds the blocks ``e = row_ptr[i] .. row_ptr[i+1]-1``
        (its nonzero base entries, by column); its edges are stored check by check: edge
        ``row_ptr[i] z + r d + (e - row_ptr[i])`` (``d`` blocks in the row) joins check ``i z + r``
        and bit ``var[edge] = col_e z + (r + V_e) mod z``.
        """
        rows, cols = np.nonzero(self.base >= 0)
        row_ptr = np.searchsorted(rows, np.arange(self.rows_used + 1)).astype(np.int32)
        r = np.arange(self.z)
        var_block = cols[:, None] * self.z + (r + self.base[rows, cols][:, None]) % self.z  # [blocks, z]
        var = np.concatenate([var_block[a:b].T.ravel() for a, b in zip(row_ptr[:-1], row_ptr[1:], strict=True)])
        return row_ptr, var.astype(np.int32)

    def __repr__(self) -> str:
        return f"LdpcCode(k={self.k}, n={self.n}, bg={self.bg!r}, z={self.z}, rows_used={self.rows_used})"
