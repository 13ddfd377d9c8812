"""Gray-mapped BPSK / square M-QAM: constellations, mapper and soft demapper.

Labelling (3GPP TS 38.211 §5.1, identical to Sionna's ``qam(m)`` / ``pam(1)``)
    Point ``i`` of a constellation carries the label ``binary(i)`` (``m`` bits, MSB first).
    For QAM the even-position bits ``b0, b2, ...`` select the in-phase level and the
    odd-position bits ``b1, b3, ...`` the quadrature level, each through the Gray-coded PAM
    of the standard, ``pam(b) = (1 - 2 b_0) (2^{k-1} - pam(b_1 .. b_{k-1}))``. BPSK is the
    real constellation ``{+1, -1}`` with bit 0 -> +1.

Energy
    Every constellation has unit average energy, ``E|x|^2 = 1`` (see
    :mod:`channels.conventions`).

LLRs
    ``LLR = ln P(b=1|y) - ln P(b=0|y)`` (the logit of bit 1, Sionna's convention); the hard
    decision is ``llr > 0`` (:func:`hard_decisions`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch
from torch import nn

from semcomm.registry import check_choice

__all__ = [
    "MODULATIONS",
    "DEMAPPING_METHODS",
    "Constellation",
    "get_constellation",
    "QAMMapper",
    "QAMDemapper",
    "hard_decisions",
    "check_demapping_method",
]

#: Modulation name -> bits per complex symbol.
MODULATIONS: MappingProxyType[str, int] = MappingProxyType(
    {"bpsk": 1, "qpsk": 2, "16qam": 4, "64qam": 6, "256qam": 8}
)

#: Soft-demapping methods of :class:`QAMDemapper`.
DEMAPPING_METHODS: tuple[str, ...] = ("app", "maxlog")


def check_demapping_method(method: str) -> str:
    """Return ``method`` if it is one of :data:`DEMAPPING_METHODS`, else a one-line ``ValueError``."""
    return check_choice("demapping method", method, DEMAPPING_METHODS)


@dataclass(frozen=True, eq=False)
class Constellation:
    """A Gray-labelled constellation with unit average energy.

    Attributes:
        name: the modulation name (a key of :data:`MODULATIONS`).
        bits_per_symbol: ``m``.
        points: ``complex64`` array ``[M]``, ``M = 2**m``; point ``i`` carries the label
            ``binary(i)`` (MSB first). Read-only.
        labels: ``uint8`` array ``[M, m]``, ``labels[i]`` = bits of point ``i``, MSB first.
            Read-only.
    """

    name: str
    bits_per_symbol: int
    points: np.ndarray
    labels: np.ndarray

    @property
    def num_points(self) -> int:
        """``M = 2**bits_per_symbol``."""
        return 1 << self.bits_per_symbol


def _binary_labels(num_bits: int) -> np.ndarray:
    """``uint8 [2**num_bits, num_bits]``: row ``i`` is ``binary(i)``, MSB first."""
    shifts = np.arange(num_bits - 1, -1, -1)
    return ((np.arange(1 << num_bits)[:, None] >> shifts) & 1).astype(np.uint8)


def _gray_pam(bits: np.ndarray) -> np.ndarray:
    """Unnormalised 3GPP Gray PAM levels.

    Args:
        bits: ``[N, k]`` 0/1 labels (MSB first).

    Returns:
        ``int64 [N]`` levels in ``{±1, ±3, ..., ±(2^k - 1)}``, computed with the closed form
        of the recursion ``pam(b) = (1 - 2 b_0)(2^{k-1} - pam(b_1..))``, vectorised over
        ``N`` (the loop runs over the ``k <= 4`` bit positions only).
    """
    signs = 1 - 2 * bits.astype(np.int64)
    k = bits.shape[1]
    level = signs[:, k - 1]
    for j in range(k - 2, -1, -1):
        level = signs[:, j] * ((1 << (k - 1 - j)) - level)
    return level


def _build(name: str, m: int) -> Constellation:
    labels = _binary_labels(m)
    if m == 1:
        points = _gray_pam(labels).astype(np.complex128)
    else:
        raw = _gray_pam(labels[:, 0::2]) + 1j * _gray_pam(labels[:, 1::2])
        points = raw / np.sqrt(np.mean(np.abs(raw) ** 2))
    points = points.astype(np.complex64)
    points.flags.writeable = False
    labels.flags.writeable = False
    return Constellation(name=name, bits_per_symbol=m, points=points, labels=labels)


@functools.cache
def _constellation(name: str) -> Constellation:
    return _build(name, MODULATIONS[name])


def get_constellation(name: str) -> Constellation:
    """Return the (cached, read-only) constellation of a modulation.

    Args:
        name: one of :data:`MODULATIONS` (case-insensitive), e.g. ``"16qam"``.

    Raises:
        ValueError: on an unknown name.
    """
    return _constellation(check_choice("modulation", name.lower() if isinstance(name, str) else name, MODULATIONS))


class QAMMapper(nn.Module):
    """Map bits to unit-energy Gray BPSK / QAM symbols.

    Args:
        modulation: a name from :data:`MODULATIONS`.
    """

    points: torch.Tensor
    bit_weights: torch.Tensor

    def __init__(self, modulation: str) -> None:
        super().__init__()
        self.constellation = get_constellation(modulation)
        m = self.constellation.bits_per_symbol
        self.register_buffer("points", torch.tensor(self.constellation.points), persistent=False)
        self.register_buffer("bit_weights", 2 ** torch.arange(m - 1, -1, -1), persistent=False)

    def forward(self, bits: torch.Tensor) -> torch.Tensor:
        """Map bits to symbols.

        Args:
            bits: ``[..., n * m]`` with 0/1 entries (bool, integer or float; any nonzero
                value counts as 1).

        Returns:
            ``complex64 [..., n]``: symbol ``j`` carries bits ``j*m .. j*m + m - 1``, MSB first.

        Raises:
            ValueError: if the last dimension is not a multiple of ``m``.
        """
        m = self.constellation.bits_per_symbol
        if bits.dim() == 0 or bits.shape[-1] % m != 0:
            shape = tuple(bits.shape)
            raise ValueError(
                f"bits must have a last dimension that is a multiple of {m} "
                f"({self.constellation.name}); got shape {shape}"
            )
        grouped = (bits != 0).long().unflatten(-1, (bits.shape[-1] // m, m))
        return self.points[(grouped * self.bit_weights).sum(-1)]


class QAMDemapper(nn.Module):
    """Soft demapper: per-bit LLRs for Gray BPSK / square QAM on AWGN.

    Square Gray QAM is separable: the in-phase bits depend only on ``Re(y)`` and the
    quadrature bits only on ``Im(y)``, because the sum (or max) over the constellation
    factorises into an I and a Q part and the part of the other dimension cancels in the
    ratio. Each dimension is therefore demapped as a ``sqrt(M)``-PAM, exactly (for both
    methods), at ``2 sqrt(M)`` distance evaluations per symbol instead of ``M``. BPSK uses
    ``Re(y)`` only.

    Args:
        modulation: a name from :data:`MODULATIONS`.
        method: ``"app"`` (exact log-sum-exp) or ``"maxlog"`` (max-log approximation; its
            hard decisions are the ML symbol decisions).

    Raises:
        ValueError: on an unknown modulation or method.
    """

    levels: torch.Tensor
    idx0: torch.Tensor
    idx1: torch.Tensor

    def __init__(self, modulation: str, method: str = "app") -> None:
        super().__init__()
        check_demapping_method(method)
        self.constellation = get_constellation(modulation)
        self.method = method
        m = self.constellation.bits_per_symbol
        self.dims = 1 if m == 1 else 2
        k = m // self.dims  # bits per real dimension
        labels = self.constellation.labels
        # PAM index of every point along the in-phase axis: its even-position bits.
        i_idx = labels[:, 0 :: self.dims].astype(np.int64) @ (1 << np.arange(k - 1, -1, -1))
        levels = np.empty(1 << k, dtype=np.float32)
        levels[i_idx] = self.constellation.points.real  # same level for every point of a column
        # The quadrature PAM (odd-position bits, imaginary parts) is the same Gray PAM.
        # Stable sort of each label column: column j lists the PAM indices with bit j = 0
        # (first L/2 rows), then those with bit j = 1. idx0, idx1: [L/2, k].
        order = np.argsort(_binary_labels(k), axis=0, kind="stable").astype(np.int64)
        idx0, idx1 = np.split(order, 2)
        self.register_buffer("levels", torch.from_numpy(levels), persistent=False)
        self.register_buffer("idx0", torch.from_numpy(idx0), persistent=False)
        self.register_buffer("idx1", torch.from_numpy(idx1), persistent=False)

    def forward(self, y: torch.Tensor, noise_var: float | torch.Tensor) -> torch.Tensor:
        """Compute LLRs.

        Args:
            y: complex ``[..., n]`` received (equalised) symbols.
            noise_var: ``N0`` per complex symbol (``N0 / 2`` per real dimension): a number or
                a tensor broadcastable to ``y`` (e.g. ``[B, 1]`` or ``[B, n]``).

        Returns:
            ``[..., n * m]`` LLRs, ``ln P(b=1|y) - ln P(b=0|y)``, in the real dtype of ``y``
            (``float32`` for ``complex64``); differentiable w.r.t. ``y``.

        Raises:
            ValueError: if ``y`` is not complex or ``noise_var`` does not broadcast to ``y``.
        """
        if not y.is_complex():
            raise ValueError(f"y must be a complex tensor; got dtype {y.dtype}")
        real_dtype = y.real.dtype
        n0 = torch.as_tensor(noise_var, dtype=real_dtype, device=y.device)
        try:
            broadcast_ok = torch.broadcast_shapes(n0.shape, y.shape) == y.shape
        except RuntimeError:
            broadcast_ok = False
        if not broadcast_ok:
            raise ValueError(
                f"noise_var of shape {tuple(n0.shape)} does not broadcast to y of shape {tuple(y.shape)}"
            )
        n0 = n0.clamp_min(torch.finfo(real_dtype).tiny)
        # Per-dimension received values [..., n, D] and log-likelihoods [..., n, D, L]:
        # -(r - a)^2 / N0 is the in-dimension part of -|y - c|^2 / N0.
        r = y.real.unsqueeze(-1) if self.dims == 1 else torch.view_as_real(y)
        metric = -(r.unsqueeze(-1) - self.levels.to(real_dtype)).square() / n0[..., None, None]
        # [..., n, D, L/2, k]
        m1 = metric[..., self.idx1]
        m0 = metric[..., self.idx0]
        if self.method == "app":
            llr = torch.logsumexp(m1, dim=-2) - torch.logsumexp(m0, dim=-2)
        else:
            llr = m1.amax(dim=-2) - m0.amax(dim=-2)
        # [..., n, D, k] -> [..., n, k, D] -> bit order I0, Q0, I1, Q1, ... = b0, b1, b2, ...
        return llr.transpose(-1, -2).flatten(-3)


def hard_decisions(llr: torch.Tensor) -> torch.Tensor:
    """Hard bit decisions ``llr > 0`` (bit 1 for a positive LLR), ``uint8`` of ``llr``'s shape."""
    return (llr > 0).to(torch.uint8)
