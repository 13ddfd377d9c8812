"""The multi-resolution linear analog scheme (KLT + SoftCast power allocation + LMMSE).

Transmitter, per image ``x`` (``n = C H W`` values in [0, 1]):

1. KLT: ``c = U^T (x - mu)``, the ``m = 2 K`` leading principal-component coefficients
   (``U`` ``[n, m]``, eigenvalues ``lambda`` ``[m]`` of the training split's covariance,
   descending). Layer ``l`` carries the next ``2 k_l`` coefficients as ``k_l`` complex symbols
   (coefficient ``2j`` on I, ``2j + 1`` on Q of symbol ``j``).
2. Power allocation (SoftCast): coefficient ``i`` of layer ``l`` is sent with amplitude
   ``g_i = alpha_l lambda_i^(-1/4)``, ``alpha_l`` such that ``sum_{i in l} g_i^2 lambda_i = P_l k_l``:
   on average over the training images layer ``l`` has energy ``P_l`` per symbol. The layer
   powers (:data:`LAYER_POWERS`) are ``"equal"`` (``P_l = 1``: every layer meets the power
   convention on its own) or ``"softcast"`` (SoftCast's allocation over the whole frame,
   ``g_i ∝ lambda_i^(-1/4)`` across layers: the strong leading coefficients of layer 1 get
   more power, the later layers less; ``sum_l k_l P_l = sum_l k_l``, so the frame has unit
   energy per symbol).
3. Per-example power: every layer of every image is then scaled by ``a_l(x)`` to exactly
   ``E|s_l|^2 = P_l`` (with equal powers: :func:`channels.normalize_power`'s unit energy, the
   project's convention for every transmitter; with ``"softcast"`` powers the whole frame of
   every image has exactly unit energy per symbol). The receiver is told ``a_l`` (one real per
   layer and image) as side information; see the README for what it costs.

Receiver: the equalised symbols ``x_hat = s + e`` with per-symbol error variance ``sigma^2``
(:func:`channels.receive`, ZF) give, per real coefficient, ``r_i = a g_i c_i + e_i`` with
``Var e_i = sigma^2 / 2``, and the LMMSE estimate

    c_hat_i = a g_i lambda_i / (a^2 g_i^2 lambda_i + sigma^2 / 2) * r_i,

    MSE_i   = lambda_i (sigma^2 / 2) / (a^2 g_i^2 lambda_i + sigma^2 / 2).

Without CSI on a fading channel the receiver sees ``y = h s + n`` with unknown ``h``; with the
channel's mean gain ``mu_h = E h`` (1 on AWGN, 0 on Rayleigh, the LOS part on Rician) it
rotates ``y`` by the phase of ``mu_h`` and applies the per-coefficient LMMSE of the
unequalised signal (:meth:`SoftCast.estimate_none`); on Rayleigh that is the mean image.

The receiver of layers ``1..l`` reconstructs ``mu + U_{:, <= l} c_hat`` (the coefficients it
lacks are estimated by their mean, 0): each coefficient is estimated from its own symbol only,
so output ``l`` depends on layers ``1..l`` alone.

**Images of any size.** The KLT is of a *tile* (``tile_shape``, the training images' size). An
image of another size is cut into tiles (its bottom and right edges replicated up to whole
tiles, :meth:`SoftCast.split`); each tile is one "example" of the scheme above (its own layer
scales ``a_l``, side information), and the frame of an image carries layer 1 of every tile,
then layer 2 of every tile, ... (:meth:`SoftCast.to_frame`), so a receiver of layers ``1..l``
still holds a prefix of the frame, and one channel call (one fading draw per image) carries it.
An image of exactly one tile is the scheme above, bit for bit. Per-tile power normalisation
spends, at high SNR, the same distortion as one scale per image (the two allocations
``a_t^2 ∝ E_t^(-p)``, ``p = 0`` and ``p = 1``, give the same ``(sum E_t^p)(sum E_t^(1-p))``) and
keeps every tile at the SNR a one-tile image has, where a learned receiver was trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

import channels

__all__ = ["LAYER_POWERS", "SoftCast", "Tiling", "softcast_amplitudes"]

#: How the frame's power is split across layers: ``"equal"``, unit energy per symbol in every
#: layer; ``"softcast"``, SoftCast's allocation over all layers' coefficients at once.
LAYER_POWERS = ("equal", "softcast")


def softcast_amplitudes(eigvals: torch.Tensor, layer_symbols: tuple[int, ...], layer_power: str = "equal") -> torch.Tensor:
    """SoftCast amplitudes ``g`` ``[m]`` (``m = 2 sum k_l``) for a source with per-coefficient
    variances ``eigvals`` ``[m]``: ``g_i ∝ lambda_i^(-1/4)``, scaled so that, on average, each
    layer has unit energy per complex symbol (``layer_power="equal"``) or the whole frame has
    (``"softcast"``: one scale for all layers)."""
    lam = eigvals.double().clamp_min(1e-12)
    sizes = [2 * k for k in layer_symbols]
    groups = [(lam, sum(layer_symbols))] if layer_power == "softcast" else list(zip(lam.split(sizes), layer_symbols))
    out = []
    for part, k in groups:
        shape = part.pow(-0.25)
        out.append(shape * torch.sqrt(k / (shape.square() * part).sum()))
    return torch.cat(out).to(eigvals.dtype)


@dataclass(frozen=True)
class Tiling:
    """How a batch of images ``[B, C, H, W]`` was cut into ``B T`` tiles of ``rows x cols`` per image."""

    batch: int
    rows: int
    cols: int
    height: int
    width: int

    @property
    def tiles(self) -> int:
        """``T``, tiles per image."""
        return self.rows * self.cols


class SoftCast(nn.Module):
    """KLT + SoftCast transmitter and per-coefficient LMMSE receiver, ``L`` layers, on tiles.

    Args:
        mean: training mean tile, flattened ``[n]``.
        basis: leading KLT basis vectors ``[n, m]`` as columns, ``m >= 2 sum(layer_symbols)``.
        eigvals: their eigenvalues ``[m]`` (variances of the coefficients), descending.
        layer_symbols: complex symbols ``k_l`` of each layer, per tile.
        layer_power: the split of the frame's power across layers (:data:`LAYER_POWERS`).
        tile_shape: ``(C, H_t, W_t)`` of a tile, ``C H_t W_t = n`` (None: ``(1, 1, n)``, for
            sources that are vectors, not images).
    """

    def __init__(self, mean: torch.Tensor, basis: torch.Tensor, eigvals: torch.Tensor, layer_symbols: tuple[int, ...],
                 layer_power: str = "equal", tile_shape: tuple[int, int, int] | None = None) -> None:
        super().__init__()
        n = basis.shape[0]
        self.tile_shape = (1, 1, n) if tile_shape is None else tuple(int(v) for v in tile_shape)
        if math.prod(self.tile_shape) != n:
            raise ValueError(f"a {'x'.join(map(str, self.tile_shape))} tile has {math.prod(self.tile_shape)} values; "
                             f"the KLT is of {n}")
        if layer_power not in LAYER_POWERS:
            raise ValueError(f"unknown layer power split {layer_power!r}; choose one of: {', '.join(LAYER_POWERS)}")
        m = 2 * sum(layer_symbols)
        if basis.shape[1] < m or eigvals.shape[0] < m:
            raise ValueError(f"the KLT holds {basis.shape[1]} components; {len(layer_symbols)} layers of "
                             f"{'+'.join(map(str, layer_symbols))} symbols need {m}")
        self.layer_symbols = tuple(int(k) for k in layer_symbols)
        self.layer_power = layer_power
        self.register_buffer("mean", mean.float().reshape(-1).clone())
        self.register_buffer("basis", basis[:, :m].float().contiguous().clone())
        self.register_buffer("eigvals", eigvals[:m].float().clone())
        self.register_buffer("amplitudes", softcast_amplitudes(self.eigvals, self.layer_symbols, layer_power))
        layer_of = torch.repeat_interleave(torch.arange(len(layer_symbols)), torch.tensor([2 * k for k in layer_symbols]),
                                           output_size=2 * sum(layer_symbols))  # output_size: buildable on the meta device
        self.register_buffer("layer_of_coefficient", layer_of, persistent=False)

    @property
    def num_coefficients(self) -> int:
        """``m = 2 sum k_l``."""
        return self.basis.shape[1]

    def layer_powers(self) -> torch.Tensor:
        """Energy per symbol ``P_l`` ``[L]`` of each layer: 1 with ``"equal"`` powers, else the
        per-layer share of the SoftCast amplitudes (``sum_{i in l} g_i^2 lambda_i / k_l``; the
        ``k_l``-weighted mean is 1)."""
        if self.layer_power == "equal":
            return torch.ones(len(self.layer_symbols), device=self.eigvals.device)
        energy = (self.amplitudes.double().square() * self.eigvals.double()).split([2 * k for k in self.layer_symbols])
        return torch.stack([e.sum() / k for e, k in zip(energy, self.layer_symbols)]).float()

    def split(self, images: torch.Tensor) -> tuple[torch.Tensor, Tiling]:
        """Images ``[B, C, H, W]`` -> tiles ``[B T, C, H_t, W_t]`` (row-major per image; the
        bottom and right edges replicated up to whole tiles) and the tiling."""
        c, th, tw = self.tile_shape
        if images.dim() != 4:  # a batch of sources of the KLT's n values each: one tile per row
            images = images.reshape(images.shape[0], c, th, tw)
        b, ci, h, w = images.shape
        if ci != c:
            raise ValueError(f"the KLT is of {c}-channel tiles; got {ci}-channel images")
        rows, cols = -(-h // th), -(-w // tw)
        tiling = Tiling(b, rows, cols, h, w)
        if (rows, cols) == (1, 1) and (h, w) == (th, tw):
            return images, tiling
        padded = F.pad(images, (0, cols * tw - w, 0, rows * th - h), mode="replicate") if (rows * th, cols * tw) != (h, w) else images
        tiles = padded.reshape(b, c, rows, th, cols, tw).permute(0, 2, 4, 1, 3, 5).reshape(b * rows * cols, c, th, tw)
        return tiles, tiling

    def merge(self, tiles: torch.Tensor, tiling: Tiling, crop: bool = True) -> torch.Tensor:
        """Tiles ``[N B T, C, H_t, W_t]`` -> images ``[N B, C, H, W]`` (``crop``) or at the padded
        size ``[N B, C, rows H_t, cols W_t]``: the inverse of :meth:`split` for ``N`` stacked copies."""
        c, th, tw = self.tile_shape
        if tiling.tiles == 1 and (tiling.height, tiling.width) == (th, tw):
            return tiles
        images = tiles.reshape(-1, tiling.rows, tiling.cols, c, th, tw).permute(0, 3, 1, 4, 2, 5)
        images = images.reshape(-1, c, tiling.rows * th, tiling.cols * tw)
        return images[..., : tiling.height, : tiling.width] if crop else images

    def to_frame(self, per_tile: torch.Tensor, tiles: int) -> torch.Tensor:
        """Per-tile symbols ``[B T, K]`` -> the frame of each image ``[B, T K]``: layer 1 of
        every tile, then layer 2 of every tile, ..."""
        if tiles == 1:
            return per_tile
        parts = per_tile.unflatten(0, (-1, tiles)).split(list(self.layer_symbols), dim=-1)  # [B, T, k_l] each
        return torch.cat([p.flatten(1) for p in parts], dim=-1)

    def to_tiles(self, frame: torch.Tensor, tiles: int) -> torch.Tensor:
        """The inverse of :meth:`to_frame`: ``[B, T K]`` -> ``[B T, K]``."""
        if tiles == 1:
            return frame
        parts = frame.split([tiles * k for k in self.layer_symbols], dim=-1)
        return torch.cat([p.unflatten(-1, (tiles, k)) for p, k in zip(parts, self.layer_symbols)], dim=-1).flatten(0, 1)

    def frame_layer_sizes(self, tiles: int) -> list[int]:
        """Symbols of each layer in the frame of an image of ``tiles`` tiles: ``T k_l``."""
        return [tiles * k for k in self.layer_symbols]

    def analyse(self, images: torch.Tensor) -> torch.Tensor:
        """KLT coefficients ``[B, m]`` of tiles ``[B, C, H_t, W_t]`` (or anything flattening to ``[B, n]``)."""
        return (images.flatten(1) - self.mean) @ self.basis

    def synthesise(self, coefficients: torch.Tensor, shape: tuple[int, ...] | None = None) -> torch.Tensor:
        """Tiles ``[N, *shape]`` (default: the tile shape) from coefficients ``[..., m]`` (the
        mean plus the basis combination)."""
        return (coefficients @ self.basis.T + self.mean).reshape(-1, *(self.tile_shape if shape is None else shape))

    def modulate(self, coefficients: torch.Tensor, gains: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Coefficients ``[B, m]`` -> (symbols ``[B, K]`` complex with ``E|s_l|^2 = P_l``
        (:meth:`layer_powers`) per example and layer, per-example layer scales ``a`` ``[B, L]``).
        ``gains`` ``[m]`` replaces the SoftCast amplitudes (a learned allocation within layers;
        the layer powers stay ``P_l``)."""
        z = coefficients * (self.amplitudes if gains is None else gains)
        s = torch.complex(z[:, 0::2], z[:, 1::2])
        layers = s.split(list(self.layer_symbols), dim=-1)
        scales = torch.cat([torch.rsqrt(channels.average_power(x, dim=-1) + 1e-12) for x in layers], dim=-1)
        if self.layer_power != "equal":
            scales = scales * self.layer_powers().sqrt()
        return torch.cat([x * a[:, None] for x, a in zip(layers, scales.unbind(-1))], dim=-1), scales

    def transmit(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Tiling]:
        """Images ``[B, C, H, W]`` of any size -> (frames ``[B, T K]``, layer scales ``[B T, L]``,
        the tiling)."""
        tiles, tiling = self.split(images)
        symbols, scales = self.modulate(self.analyse(tiles))
        return self.to_frame(symbols, tiling.tiles), scales, tiling

    def _per_coefficient(self, per_symbol: torch.Tensor, batch: int) -> torch.Tensor:
        """A ``[B, K]``-broadcastable real tensor -> ``[B, m]`` (each symbol's value on its I and Q)."""
        k = sum(self.layer_symbols)
        return torch.broadcast_to(per_symbol, (batch, k)).repeat_interleave(2, dim=-1)

    def estimate(self, x_hat: torch.Tensor, noise_var: torch.Tensor, scales: torch.Tensor,
                 gains: torch.Tensor | None = None) -> torch.Tensor:
        """Per-coefficient LMMSE ``c_hat`` ``[B, m]`` from equalised symbols ``x_hat`` ``[B, K]``
        with error variance ``noise_var`` (broadcastable to ``[B, K]``) and the layer scales
        ``[B, L]``."""
        batch = x_hat.shape[0]
        r = torch.view_as_real(x_hat).flatten(-2)  # [B, m]
        gain = (self.amplitudes if gains is None else gains) * scales[:, self.layer_of_coefficient]  # [B, m]
        half_var = self._per_coefficient(noise_var, batch) / 2
        return gain * self.eigvals / (gain.square() * self.eigvals + half_var) * r

    def estimate_none(self, y: torch.Tensor, noise_var: torch.Tensor, scales: torch.Tensor, mean_gain: complex,
                      gains: torch.Tensor | None = None) -> torch.Tensor:
        """Per-coefficient LMMSE ``[B, m]`` from the unequalised ``y = h s + n`` ``[B, K]`` of a
        channel with ``E h = mean_gain``, ``E|h|^2 = 1`` and circular scattering, ``N0`` =
        ``noise_var``: after rotating ``y`` by the phase of ``E h``, the I (Q) coefficient of a
        symbol correlates with ``Re`` (``Im``) only, through ``|E h|``."""
        batch = y.shape[0]
        mu = abs(mean_gain)
        rotated = y * complex(math.cos(-math.atan2(mean_gain.imag, mean_gain.real)),
                              math.sin(-math.atan2(mean_gain.imag, mean_gain.real))) if mu > 0 else y
        r = torch.view_as_real(rotated).flatten(-2)  # [B, m]
        gain = (self.amplitudes if gains is None else gains) * scales[:, self.layer_of_coefficient]
        energy = gain.square() * self.eigvals  # [B, m]: a^2 g^2 lambda of each real coefficient
        partner = energy.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)  # the other coefficient of the symbol
        scatter = (1.0 - mu * mu) / 2
        denom = (mu * mu + scatter) * energy + scatter * partner + self._per_coefficient(noise_var, batch) / 2
        return mu * gain * self.eigvals / denom * r

    def receive(self, out: channels.ChannelOutput, csi: str, scales: torch.Tensor, mean_gain: complex,
                gains: torch.Tensor | None = None, tiles: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """What the receiver makes of a channel output ``out`` (``y`` ``[B, T K]``, the frames of
        :meth:`to_frame`) in CSI mode ``csi``: the LMMSE coefficients ``[B T, m]``
        (:meth:`estimate` after ZF equalisation, or :meth:`estimate_none` with the channel's
        ``mean_gain`` when ``csi == "none"``; ``scales`` ``[B T, L]``) and the per-symbol noise
        variance it sees in the frame (broadcastable to ``[B, T K]``)."""
        rx = channels.receive(out, csi)
        if tiles == 1:
            if csi == "none":
                return self.estimate_none(out.y, out.noise_var, scales, mean_gain, gains), rx.noise_var
            return self.estimate(rx.x_hat, rx.noise_var, scales, gains), rx.noise_var
        full = sum(self.frame_layer_sizes(tiles))
        batch = out.y.shape[0]
        per_tile = lambda v: self.to_tiles(torch.broadcast_to(v, (batch, full)), tiles)  # noqa: E731
        if csi == "none":
            return self.estimate_none(self.to_tiles(out.y, tiles), per_tile(out.noise_var), scales, mean_gain, gains), rx.noise_var
        return self.estimate(self.to_tiles(rx.x_hat, tiles), per_tile(rx.noise_var), scales, gains), rx.noise_var

    def layer_masks(self) -> torch.Tensor:
        """``[L, m]`` 0/1: row ``l`` keeps the coefficients of layers ``1..l``."""
        return (self.layer_of_coefficient[None, :] <= torch.arange(len(self.layer_symbols), device=self.eigvals.device)[:, None]).float()

    def mse_per_coefficient(self, noise_var: float, gains: torch.Tensor | None = None) -> torch.Tensor:
        """Closed-form LMMSE error ``[m]`` per coefficient with unit per-example scales (the
        training-average layer powers) and per-symbol
        error variance ``noise_var``: ``lambda (sigma^2/2) / (g^2 lambda + sigma^2/2)``."""
        g2 = (self.amplitudes if gains is None else gains).square()
        return self.eigvals * (noise_var / 2) / (g2 * self.eigvals + noise_var / 2)
