"""A tiny semcomm plugin: the ``tiny`` JSCC architecture and the ``mean-colour`` method.

Installed with ``pip install``, it registers both through the entry points of its
``pyproject.toml``; ``semcomm train --arch tiny --hidden 16 ...`` and ``semcomm sweep RUN
--method mean-colour ...`` then use them by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

import channels
from semcomm.errors import FieldError
from semcomm.methods import LayerResult, Method
from semcomm.models import JSCCModel, JSCCOutput


@dataclass(frozen=True)
class TinyOptions:
    """The options of ``tiny``: each field is a flag of ``semcomm train`` (``--hidden``)."""

    hidden: int = field(default=32, metadata={"help": "hidden units of each layer's decoder"})

    def __post_init__(self) -> None:
        if self.hidden < 1:
            raise FieldError("hidden", f"bad {{field}} {self.hidden}: it must be >= 1")


class TinyJSCC(JSCCModel):
    """A linear encoder into ``L`` unit-power layers, one small MLP decoder per receiver of
    layers ``1..l`` (it reads the equalised symbols of those layers only); reconstruction only."""

    Options = TinyOptions
    tasks_served = frozenset({"recon"})
    description = "a linear encoder and an MLP decoder per layer (the plugin example)"

    def __init__(self, config) -> None:  # type: ignore[no-untyped-def]
        super().__init__(config)
        n, ks = config.source_values, config.layer_symbols
        self.encoder = nn.Linear(n, 2 * sum(ks))
        self.decoders = nn.ModuleList(
            nn.Sequential(nn.Linear(2 * sum(ks[: l + 1]), config.options.hidden), nn.ReLU(), nn.Linear(config.options.hidden, n))
            for l in range(len(ks)))

    def encode_layers(self, images: torch.Tensor) -> list[torch.Tensor]:
        z = self.encoder(images.flatten(1) - 0.5)
        symbols = torch.complex(z[:, 0::2], z[:, 1::2])
        return [channels.normalize_power(x, dim=-1) for x in symbols.split(list(self.config.layer_symbols), dim=-1)]

    def forward(self, images, channel, snr_db, csi="perfect", generator=None, decode_layers=None):  # type: ignore[no-untyped-def]
        self.check_images(tuple(images.shape[1:]))
        layers = self.encode_layers(images)
        rx = channels.receive(channel(torch.cat(layers, dim=-1), snr_db, generator=generator), csi)
        received = torch.view_as_real(rx.x_hat).flatten(1)
        recon = [torch.sigmoid(decoder(received[:, : 2 * sum(self.config.layer_symbols[: l + 1])])).view_as(images)
                 for l, decoder in enumerate(self.decoders)]
        return JSCCOutput(recon=recon, tasks=[{} for _ in recon], symbols=layers)


class MeanColour(Method):
    """Sends each image's mean colour, one real value per channel, over the channel (LMMSE for
    a source of variance 1/12 around 1/2) and outputs a flat image of it: a floor any method
    should beat."""

    name = "mean-colour"
    layered = False

    def __init__(self, dataset=None) -> None:  # type: ignore[no-untyped-def]
        self.dataset = "images" if dataset is None else dataset.name

    def transmit(self, images, channel, snr_db, csi, generator=None):  # type: ignore[no-untyped-def]
        means = images.mean(dim=(2, 3)) - 0.5  # [B, C]
        symbols = torch.complex(means, torch.zeros_like(means)) * 12 ** 0.5  # unit energy on average
        rx = channels.receive(channel(symbols, snr_db, generator=generator), csi)
        estimate = rx.x_hat.real / (1 + rx.noise_var) / 12 ** 0.5 + 0.5  # [B, C]
        recon = estimate.clamp(0, 1)[:, :, None, None].expand_as(images)
        return [LayerResult(recon=recon, ratio=images.shape[1] / images[0].numel())]
