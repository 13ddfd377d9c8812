"""Digital links for the SSCC baselines: ``get_link("ldpc", n_uses=512)``.

- ``ldpc``: 5G NR LDPC + Gray QAM at the MCS chosen from a cached BLER table
  (:mod:`semcomm.links.ldpc`).
- ``capacity``: an ideal capacity-achieving code (:mod:`semcomm.links.capacity`).
"""

from __future__ import annotations

from semcomm.links.base import TARGET_LOSS, BitLink, LinkPlan, scalar_snr
from semcomm.links.bler_cache import BlerCache
from semcomm.links.capacity import CapacityLink
from semcomm.links.ldpc import AdaptiveLdpcLink
from semcomm.registry import Registry

__all__ = ["LINKS", "TARGET_LOSS", "BitLink", "AdaptiveLdpcLink", "BlerCache", "CapacityLink", "LinkPlan", "get_link", "link_names", "scalar_snr"]

LINKS: Registry[BitLink] = Registry("link", group="semcomm.links", package="semcomm.links")
for _link in (CapacityLink, AdaptiveLdpcLink):
    LINKS.register(_link.name, _link)
link_names = LINKS.names
get_link = LINKS.get
