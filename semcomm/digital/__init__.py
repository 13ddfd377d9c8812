"""Classical digital link blocks: Gray QAM modem and closed-form BER theory."""

from semcomm.digital.ber_theory import (
    awgn_ber,
    awgn_ber_approx,
    fading_ber,
    rayleigh_ber_bpsk,
    rayleigh_ber_qpsk,
)
from semcomm.digital.qam import (
    DEMAPPING_METHODS,
    MODULATIONS,
    Constellation,
    QAMDemapper,
    QAMMapper,
    check_demapping_method,
    get_constellation,
    hard_decisions,
)

__all__ = [
    "DEMAPPING_METHODS",
    "MODULATIONS",
    "Constellation",
    "QAMDemapper",
    "QAMMapper",
    "check_demapping_method",
    "get_constellation",
    "hard_decisions",
    "awgn_ber",
    "awgn_ber_approx",
    "fading_ber",
    "rayleigh_ber_bpsk",
    "rayleigh_ber_qpsk",
]
