"""Pilot-based channel estimation for OFDM: LS with interpolation, and LMMSE.

Both estimators work slot by slot, from that slot's pilots only. Let ``z_p = y_p / p`` be the
least-squares (LS) estimate at the pilot REs: ``z_p = H_p + n_p / p`` with error variance
``N0 / |p|^2 = N0`` (unit-modulus pilots).

- ``ls``: ``H_hat = W z`` with ``W`` linear interpolation, separable: along the subcarriers of
  each pilot symbol (linear between pilot subcarriers, the nearest pilot's value beyond the last
  one), then along time between pilot symbols (linear between two, held constant before the
  first and after the last; with one pilot symbol every symbol takes its value).
- ``lmmse``: ``H_hat = R_dp (R_pp + N0 I)^-1 z``, the linear MMSE estimate of every data RE from
  all pilots of the slot jointly (two-dimensional). Assumptions: the receiver knows the channel's
  second-order statistics exactly, i.e. the power-delay profile (tap delays and powers: the
  frequency correlation ``sum_l p_l exp(-j 2 pi df tau_l)``), the maximum Doppler (time
  correlation ``J0(2 pi f_D dt)``, and ``exp(j 2 pi 0.7 f_D dt)`` for the LOS part, whose phase
  is uniform so that ``H`` is zero-mean), and ``N0``. Linear, hence optimal among linear
  estimators but not MMSE for the Rician (non-Gaussian) LOS taps of TDL-D/E.

Each estimate comes with ``error_var = E|H - H_hat|^2`` at every data RE: the ensemble mean
square error of that estimator at that RE under the same statistics, noise *and* interpolation
error included. For LS, ``diag(R_dd - 2 Re(W R_pd) + W R_pp W^H) + N0 sum_j |W_ij|^2``; for
LMMSE, ``diag(R_dd - R_dp (R_pp + N0 I)^-1 R_pd)``. (A real LS receiver would measure it; the
simulator knows it.) The receiver (:func:`channels.receive`) adds it to ``N0`` as noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from channels.ofdm import ResourceGrid

__all__ = ["ChannelEstimate", "PilotEstimator"]

Estimator = Literal["ls", "lmmse"]


@dataclass(frozen=True)
class ChannelEstimate:
    """A channel estimate at the data symbols.

    Attributes:
        h_hat: estimated channel, complex, the shape of ``y``.
        error_var: its mean square error ``E|H - H_hat|^2``, float, the shape of ``y``.
    """

    h_hat: torch.Tensor
    error_var: torch.Tensor


def _interpolation(points: tuple[int, ...], length: int) -> np.ndarray:
    """Weights ``[length, len(points)]``: linear between ``points``, the nearest one beyond them."""
    eye = np.eye(len(points))
    return np.stack([np.interp(np.arange(length), points, eye[j]) for j in range(len(points))], axis=1)


class PilotEstimator(nn.Module):
    """LS and LMMSE estimation of one slot's data REs from its pilots (module docstring).

    Args:
        grid: the resource grid (pilot and data positions, pilot values).
        freq_cov: ``E[H_k H_k'^*]`` of the Rayleigh part of the taps, complex ``[N, N]``.
        time_cov: its normalised time correlation between the slot's OFDM symbols, ``[S, S]``.
        los_power: power of the specular (LOS) part (0 if none).
        los_time_cov: the specular part's time correlation, complex ``[S, S]``.

    The covariance of the slot's REs is ``R[(t,k),(t',k')] = freq_cov[k,k'] time_cov[t,t']
    + los_power los_time_cov[t,t']`` (the LOS tap has zero delay).
    """

    def __init__(
        self,
        grid: ResourceGrid,
        freq_cov: torch.Tensor,
        time_cov: torch.Tensor,
        los_power: float,
        los_time_cov: torch.Tensor,
    ) -> None:
        super().__init__()
        n = grid.num_subcarriers
        pilots, data = grid.pilot_index.cpu(), grid.data_index.cpu()

        def cov(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
            t_r, k_r, t_c, k_c = rows[:, None] // n, rows[:, None] % n, cols[None, :] // n, cols[None, :] % n
            return freq_cov[k_r, k_c] * time_cov[t_r, t_c] + los_power * los_time_cov[t_r, t_c]

        r_pp, r_dp = cov(pilots, pilots), cov(data, pilots)  # [P, P], [D, P]
        r_dd = (freq_cov.diagonal()[data % n] * time_cov.diagonal()[data // n]).real + los_power  # [D]
        weights = np.kron(
            _interpolation(grid.pilot_symbols, grid.num_symbols),
            _interpolation(grid.pilot_subcarriers, n),
        )[data.numpy()]
        w = torch.from_numpy(weights).to(torch.complex128)  # [D, P]
        ls_bias = r_dd - 2 * (w * r_dp.conj()).sum(-1).real + ((w @ r_pp) * w.conj()).sum(-1).real
        eigval, eigvec = torch.linalg.eigh(r_pp)
        gain = r_dp @ eigvec  # [D, P]
        self.grid = grid
        self.register_buffer("ls_weights", w.to(torch.complex64), persistent=False)
        self.register_buffer("ls_bias", ls_bias.float(), persistent=False)
        self.register_buffer("ls_noise_gain", (w.abs() ** 2).sum(-1).float(), persistent=False)
        self.register_buffer("eigval", eigval.clamp_min(0.0).float(), persistent=False)
        self.register_buffer("eigvec_conj", eigvec.conj().to(torch.complex64), persistent=False)
        self.register_buffer("lmmse_gain", gain.to(torch.complex64), persistent=False)
        self.register_buffer("lmmse_gain_power", (gain.abs() ** 2).float(), persistent=False)
        self.register_buffer("prior_var", r_dd.float(), persistent=False)

    @property
    def pilot_values(self) -> torch.Tensor:
        """The known pilots, the grid's :attr:`~channels.ofdm.ResourceGrid.pilot_values` ``[P]``."""
        return self.grid.pilot_values

    def forward(
        self, y_pilot: torch.Tensor, noise_var: torch.Tensor, method: Estimator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Estimate the data REs of every slot.

        Args:
            y_pilot: received pilots, complex ``[B, n, P]``.
            noise_var: N0 per example, float ``[B]``.
            method: ``"ls"`` or ``"lmmse"``.

        Returns:
            ``(h_hat, error_var)``, complex and float ``[B, n, D]``.
        """
        z = y_pilot / self.pilot_values.to(y_pilot.dtype)  # LS at the pilots
        n0 = noise_var.to(self.eigval.dtype)[:, None, None]  # [B, 1, 1]
        if method == "ls":
            h_hat = z @ self.ls_weights.T.to(z.dtype)
            return h_hat, (self.ls_bias + n0 * self.ls_noise_gain).expand(h_hat.shape)
        if method == "lmmse":
            inv = 1.0 / (self.eigval + n0)  # [B, 1, P]
            h_hat = ((z @ self.eigvec_conj.to(z.dtype)) * inv) @ self.lmmse_gain.T.to(z.dtype)
            error = (self.prior_var - inv @ self.lmmse_gain_power.T).clamp_min(0.0)
            return h_hat, error.expand(h_hat.shape)
        raise ValueError(f"unknown channel estimator {method!r}; choose one of: ls, lmmse")
