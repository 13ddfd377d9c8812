"""Systematic 5G NR LDPC encoder with rate matching, vectorised over codewords.

With the information part ``u`` (filler bits included) and the lifted base-graph blocks,
``lambda = H_info u`` gives the right-hand side of every kept row. Both base graphs share the
core structure of TS 38.212 (rows 0..3, parity columns ``p1..p4``): ``p1`` enters rows 0 and 3
with the same shift ``a`` and one of rows 1, 2 with shift ``b``; ``p2, p3, p4`` form a double
diagonal. Summing rows 0..3 cancels everything but ``P_b p1``, hence

    p1 = P_b^{-1} (lambda_0 + lambda_1 + lambda_2 + lambda_3)
    p2 = lambda_0 + P_a p1
    p3 = lambda_1 + [P_{s1} p1 if row 1 holds p1] + p2
    p4 = lambda_3 + P_a p1

(``P_s x`` is ``x`` cyclically shifted, ``(P_s x)[r] = x[(r + s) mod Z]``), and each extension
row ``i >= 4`` gives its own parity bit, ``lambda_i + H_core,i [p1..p4]``. Everything is a
sparse ``uint8`` product mod 2 over a ``[bits, batch]`` layout, so the batch is the contiguous
axis (about 100x faster than Sionna's ``LDPC5GEncoder`` on the CPU).
"""

from __future__ import annotations

import numpy as np
import torch

from semcomm.digital.ldpc.code import CORE, LdpcCode

__all__ = ["LdpcEncoder"]


class LdpcEncoder:
    """Encode and rate-match information bits with an :class:`LdpcCode`.

    Args:
        code: the code (``k``, ``n``, base graph, rate matching).
    """

    def __init__(self, code: LdpcCode) -> None:
        self.code = code
        z, kc = code.z, code.cols_info
        self._h_info = code.pcm[:, : kc * z]  # [rows_used z, kc z]
        self._h_core = code.pcm[CORE * z :, kc * z : (kc + CORE) * z]  # [(rows_used - 4) z, 4 z]
        core = code.base[:CORE, kc]  # shifts of p1 in rows 0..3 (-1: absent)
        b_row = 1 if core[1] >= 0 else 2
        r = np.arange(z)
        self._p1_index = (r - core[b_row]) % z  # p1 = P_b^{-1} sigma
        self._a_index = (r + core[0]) % z  # P_a x = x[(r + a) mod z]
        self._s1_index = (r + core[1]) % z if core[1] >= 0 else None

    def __call__(self, bits: torch.Tensor) -> torch.Tensor:
        """Encode and rate-match.

        Args:
            bits: ``[B, k]`` information bits, 0/1 (bool, integer or float; nonzero counts as 1).

        Returns:
            ``uint8 [B, n]``: the transmitted bits (what Sionna's ``LDPC5GEncoder`` outputs).

        Raises:
            ValueError: if ``bits`` is not ``[B, k]``.
        """
        return torch.from_numpy(np.ascontiguousarray(self._encode(bits)[self.code.positions].T))

    def codewords(self, bits: torch.Tensor) -> torch.Tensor:
        """Encode without rate matching.

        Args:
            bits: ``[B, k]`` information bits, as for :meth:`__call__`.

        Returns:
            ``uint8 [B, n_used]``: the mother codewords over the kept rows (information and
            filler bits, then parity), with ``code.pcm @ c = 0 (mod 2)``.
        """
        return torch.from_numpy(np.ascontiguousarray(self._encode(bits).T))

    def _encode(self, bits: torch.Tensor) -> np.ndarray:
        """Mother codewords as ``uint8 [n_used, B]`` (the batch is the contiguous axis)."""
        code = self.code
        if bits.dim() != 2 or bits.shape[1] != code.k:
            raise ValueError(f"bits must have shape [B, {code.k}]; got {tuple(bits.shape)}")
        z = code.z
        u = np.zeros((code.k_ldpc, bits.shape[0]), dtype=np.uint8)  # filler bits stay 0
        u[: code.k] = (bits != 0).numpy(force=True).T
        lam = (self._h_info @ u) & 1  # [rows_used z, B]
        lam0, lam1, lam2, lam3 = np.split(lam[: CORE * z], CORE)
        p1 = (lam0 ^ lam1 ^ lam2 ^ lam3)[self._p1_index]
        a_p1 = p1[self._a_index]
        p2 = lam0 ^ a_p1
        p3 = lam1 ^ p2 if self._s1_index is None else lam1 ^ p2 ^ p1[self._s1_index]
        p4 = lam3 ^ a_p1
        core = np.concatenate([p1, p2, p3, p4])
        ext = (lam[CORE * z :] + self._h_core @ core) & 1
        return np.concatenate([u, core, ext])
