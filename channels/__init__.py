"""channels: differentiable channel models for communication simulation, in PyTorch.

Standalone: imports nothing from ``semcomm``. Conventions (SNR = Es/N0 per complex symbol,
``E|x|^2 = 1``, noise ``CN(0, N0)``, LLR sign) are defined once in :mod:`channels.conventions`.

Example::

    import torch, channels
    ch = channels.get("rayleigh-block")
    x = channels.normalize_power(torch.randn(8, 256, dtype=torch.complex64))
    out = ch(x, snr_db=10.0, generator=torch.Generator().manual_seed(0))
    eq = channels.equalize(out, "zf")          # eq.x_hat, eq.noise_var
    ofdm = channels.get("tdl-c", delay_spread_ns=100)   # 3GPP TDL over CP-OFDM with pilots
    eq = channels.receive(ofdm(x, 10.0), csi="lmmse")   # pilot-based LMMSE estimate, then ZF
    channels.option_kwargs("rician", {"--k-factor": "3"})  # {"k_factor": 3.0}: options as flags
"""

from channels.capacity import (
    awgn_capacity,
    ergodic_capacity,
    outage_probability,
    rayleigh_ergodic_capacity,
    rayleigh_outage_probability,
)
from channels.base import Channel
from channels.conventions import (
    average_power,
    ebno_db_to_esno_db,
    esno_db_to_ebno_db,
    noise_var_to_snr_db,
    normalize_power,
    snr_db_to_noise_var,
)
from channels.estimation import ChannelEstimate, PilotEstimator
from channels.flat import AWGN, ChannelOutput, FlatChannel, RayleighBlock, RayleighFast, Rician
from channels.ofdm import OFDMChannel, OFDMChannelOutput, ResourceGrid, ofdm_time_domain, tdl_channel
from channels.receiver import CSI_MODES, Equalized, check_csi, equalize, estimate, no_csi, receive
from channels.options import ChannelOption
from channels.registry import (
    CHANNELS,
    all_options,
    get,
    names,
    option_kwargs,
    options,
    register,
    sweep_option_kwargs,
)
from channels.tdl import TDL, TDL_PROFILES, TDLProfile

__all__ = [
    "AWGN",
    "CHANNELS",
    "CSI_MODES",
    "Channel",
    "ChannelEstimate",
    "ChannelOption",
    "ChannelOutput",
    "Equalized",
    "FlatChannel",
    "OFDMChannel",
    "OFDMChannelOutput",
    "PilotEstimator",
    "RayleighBlock",
    "RayleighFast",
    "ResourceGrid",
    "Rician",
    "TDL",
    "TDLProfile",
    "TDL_PROFILES",
    "all_options",
    "average_power",
    "check_csi",
    "awgn_capacity",
    "ebno_db_to_esno_db",
    "equalize",
    "estimate",
    "ergodic_capacity",
    "esno_db_to_ebno_db",
    "get",
    "names",
    "no_csi",
    "noise_var_to_snr_db",
    "normalize_power",
    "ofdm_time_domain",
    "option_kwargs",
    "options",
    "outage_probability",
    "rayleigh_ergodic_capacity",
    "rayleigh_outage_probability",
    "receive",
    "register",
    "snr_db_to_noise_var",
    "sweep_option_kwargs",
    "tdl_channel",
]
