"""The multi-resolution linear analog reference: KLT + SoftCast power allocation + LMMSE.

The scheme (:class:`~semcomm.models.softcast.SoftCast`, where the formulas are) is the best
*linear* transmitter/receiver pair for a Gaussian source of the dataset's covariance, built
layer by layer like the JSCC models so that the two compare like with like: the same layers of
``k_l`` complex symbols, the same channel call, the same power constraint, the same classifier.

Per batch of images ``x`` ``[B, C, H, W]`` (``n = C H W``), ``L`` layers of ``k_l`` symbols,
``K = sum k_l``, ``m = 2 K`` KLT coefficients:

1. transmitter (SNR-agnostic): coefficients ``c = U^T (x - mu)`` ``[B, m]`` (the ``m`` leading
   principal components of the training split, :func:`semcomm.models.klt.get_klt`), SoftCast
   amplitudes per coefficient, two coefficients per complex symbol, each layer of each image
   scaled by ``a_l(x)`` to exactly ``E|s_l|^2 = P_l`` (``layer_power``: 1 for every layer, or
   SoftCast's split of the frame's power): symbols ``[B, K]``, scales ``[B, L]``;
2. one channel call for all layers; :func:`channels.receive` with the CSI mode (ZF):
   ``x_hat`` ``[B, K]`` and its error variance;
3. per-coefficient LMMSE ``c_hat`` ``[B, m]`` (:meth:`SoftCast.estimate`; without CSI
   :meth:`SoftCast.estimate_none` on the unequalised ``y``, with the channel's mean gain: on
   AWGN the same as perfect CSI, on Rayleigh 0, i.e. the mean image);
4. the receiver of layers ``1..l`` outputs ``mu + U (c_hat * mask_l)`` clamped to [0, 1]
   (``mask_l`` keeps layers ``1..l``): each coefficient is estimated from its own symbol only,
   so output ``l`` depends on layers ``1..l`` alone.

Images of any size are cut into tiles of the KLT's size (:class:`~semcomm.models.softcast.SoftCast`):
each tile sends ``k_l`` symbols per layer, with its own layer scales, and one image of exactly
the KLT's size is the scheme above; the bandwidth ratio stays ``k_l / n`` per tile.

Side information: the receiver knows the per-example layer scales ``a_l`` ``[B, L]`` (one real
per layer and tile, against ``k_l`` symbols), sent free of charge and without error, and the
KLT (mean, basis, eigenvalues). The learned ``klt-refine`` JSCC model gets exactly the same side
information. Accuracy comes from a JSCC model's top-layer head over a noiseless link (as for
SSCC, :meth:`semcomm.methods.jscc.JSCCMethod.classify`), so that it is scored by the same
network as the JSCC layers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

import channels
from semcomm.data import dataset_names
from semcomm.methods.base import LayerResult, Method
from semcomm.models.base import cumulative_ratios
from semcomm.models.klt import KLT, get_klt
from semcomm.models.softcast import LAYER_POWERS, SoftCast
from semcomm.registry import check_choice

__all__ = ["LinearMethod", "linear_coefficients"]

#: What to give when the layer sizes are missing (the sweep's wording).
_NEEDS_LAYERS = "give a JSCC model to match or --ratio with one k/n per layer (e.g. 1/18,1/18,1/18)"


def linear_coefficients(
    softcast: SoftCast,
    images: torch.Tensor,
    channel: channels.Channel,
    snr_db: float | torch.Tensor,
    csi: str,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Send ``images`` ``[B, C, H, W]`` (any size: cut into the KLT's tiles) over ``channel`` and
    return the receiver's LMMSE coefficients ``c_hat`` ``[B T, m]`` of every tile (all layers; the
    receiver of layers ``1..l`` keeps those of ``softcast.layer_masks()[l - 1]``)."""
    frames, scales, tiling = softcast.transmit(images)  # [B, T K], [B T, L]
    out = channel(frames, snr_db, generator=generator)
    return softcast.receive(out, csi, scales, channel.mean_gain, tiles=tiling.tiles)[0]


class LinearMethod(Method):
    """The ``linear`` method: ``L`` layers of KLT + SoftCast + LMMSE; one :class:`LayerResult`
    per layer, with cumulative bandwidth ratios ``sum_{j<=l} k_j / n``.

    Args:
        dataset: the registered dataset whose training split the KLT is of (the images it then
            sends may be of any size), or the name of the data ``klt`` was fitted on.
        layer_symbols: complex symbols ``k_l`` per layer and tile (a JSCC model's, to compare
            like with like); ``2 sum k_l`` must not exceed ``n`` (total ratio at most 1/2).
        data_root: where the KLT is fitted (training split) if it is not cached; None:
            ``$SEMCOMM_DATA``, else the shipped KLT; ``"embedded"``: the shipped KLT
            (:func:`semcomm.models.klt.get_klt`).
        classifier: images ``[B, C, H, W]`` -> logits ``[B, classes]``, or None (no accuracy).
        classifier_name: what the classifier is, for the results file's config.
        klt: the KLT to use instead of :func:`get_klt`'s (a JSCC model's backbone, tests).
        layer_power: the split of the frame's power across layers
            (:data:`~semcomm.models.softcast.LAYER_POWERS`; a sweep uses its JSCC model's).
        class_names: the classes the classifier predicts.

    Raises:
        ValueError: one line, for a missing or unknown dataset, missing or bad layer sizes, or
            no KLT (no training data and none shipped).
    """

    name = "linear"
    layered = True

    def __init__(
        self,
        dataset: str | None = None,
        layer_symbols: tuple[int, ...] | list[int] | None = None,
        data_root: str | None = None,
        classifier: Callable[[torch.Tensor], torch.Tensor] | None = None,
        classifier_name: str | None = None,
        klt: KLT | None = None,
        layer_power: str = "equal",
        class_names: tuple[str, ...] | None = None,
    ) -> None:
        if dataset is None:
            raise ValueError(f"method 'linear' needs a dataset; choose one of: {', '.join(dataset_names())}")
        self.dataset = dataset if klt is not None else check_choice("dataset", dataset, dataset_names())
        if not layer_symbols:
            raise ValueError(f"method 'linear' needs its layer sizes: {_NEEDS_LAYERS}")
        if any(not isinstance(k, int) or isinstance(k, bool) or k < 1 for k in layer_symbols):
            raise ValueError(f"method 'linear': layer sizes must be positive whole numbers of symbols, got {list(layer_symbols)}")
        self.layer_symbols = tuple(int(k) for k in layer_symbols)
        self.layer_power = check_choice("layer power split", layer_power, LAYER_POWERS)
        self.klt = klt if klt is not None else get_klt(self.dataset, data_root)
        self.shape: tuple[int, int, int] = tuple(self.klt.shape)  # type: ignore[assignment]
        n = math.prod(self.shape)
        if 2 * sum(self.layer_symbols) > min(n, self.klt.basis.shape[1]):
            raise ValueError(
                f"method 'linear': {'+'.join(map(str, self.layer_symbols))} symbols (k/n = {sum(self.layer_symbols) / n:.4g}) "
                f"carry {2 * sum(self.layer_symbols)} KLT coefficients, but a {self.dataset} image has {n}"
                + (f" (the KLT given holds {self.klt.basis.shape[1]})" if self.klt.basis.shape[1] < n else "")
                + ": the total bandwidth ratio must be at most 1/2"
            )
        self.softcast = SoftCast(self.klt.mean, self.klt.basis, self.klt.eigvals, self.layer_symbols, self.layer_power,
                                 tile_shape=self.shape)
        self.classifier = classifier
        self.classifier_name = classifier_name
        self.class_names = class_names if classifier is not None else None

    def ratios(self, shape: tuple[int, ...] | None = None) -> list[float]:
        """Cumulative bandwidth ratio of each layer, ``sum_{j<=l} T k_j / (C H W)``, for images of
        ``shape`` ``(C, H, W)`` cut into ``T`` tiles (default: one tile, ``sum_{j<=l} k_j / n``)."""
        if shape is None or tuple(shape) == self.shape:
            return cumulative_ratios(tuple(self.layer_symbols), math.prod(self.shape))
        _, th, tw = self.shape
        tiles = -(-shape[1] // th) * -(-shape[2] // tw)
        return cumulative_ratios(tuple(tiles * k for k in self.layer_symbols), math.prod(shape))

    def to(self, device: torch.device | str) -> LinearMethod:
        self.softcast.to(device)
        return self

    def check_images(self, shape: tuple[int, int, int]) -> None:
        if shape[0] != self.shape[0]:
            raise ValueError(f"method 'linear' has a KLT of {self.shape[0]}-channel images; these have {shape[0]} channels")

    @property
    def ratio(self) -> float:
        """Bandwidth ratio of all layers."""
        return self.ratios()[-1]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dataset": self.dataset,
            "tile": list(self.shape),
            "layer_symbols": list(self.layer_symbols),
            "layer_power": self.layer_power,
            "ratio": self.ratio,
            "klt": dict(self.klt.source),
            "classifier": self.classifier_name,
        }

    def transmit(
        self,
        images: torch.Tensor,
        channel: channels.Channel,
        snr_db: float | torch.Tensor,
        csi: str,
        generator: torch.Generator | None = None,
    ) -> list[LayerResult]:
        """Send ``images`` ``[B, C, H, W]`` in [0, 1] (any size); ``L`` layers, each with its
        reconstruction ``[B, C, H, W]`` (clamped to [0, 1]), class logits (with a classifier) and
        cumulative ratio."""
        batch, num_layers = images.shape[0], len(self.layer_symbols)
        if self.softcast.mean.device != images.device:
            self.softcast.to(images.device)
        with torch.inference_mode():
            frames, scales, tiling = self.softcast.transmit(images.float())  # [B, T K], [B T, L]
            out = channel(frames, snr_db, generator=generator)
            c_hat = self.softcast.receive(out, csi, scales, channel.mean_gain, tiles=tiling.tiles)[0]  # [B T, m]
            masked = c_hat[None] * self.softcast.layer_masks()[:, None]  # [L, B T, m]
            recon = self.softcast.merge(self.softcast.synthesise(masked.flatten(0, 1)), tiling).clamp(0.0, 1.0)  # [L B, C, H, W]
            logits = None if self.classifier is None else self.classifier(recon).unflatten(0, (num_layers, batch))
        recon = recon.unflatten(0, (num_layers, batch))
        return [
            LayerResult(recon=recon[l], ratio=q, tasks={} if logits is None else {"class": logits[l]})
            for l, q in enumerate(self.ratios(tuple(images.shape[1:])))
        ]
