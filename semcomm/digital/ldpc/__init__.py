"""5G NR LDPC channel coding (3GPP TS 38.212): base graphs, rate matching, encoder, decoder.

Example::

    import torch
    from semcomm.digital.ldpc import LdpcCode, LdpcDecoder, LdpcEncoder

    code = LdpcCode(k=1024, n=2048)                   # BG2, Z = 104, rate matched to 2048 bits
    bits = torch.randint(0, 2, (100, 1024), dtype=torch.uint8)
    c = LdpcEncoder(code)(bits)                        # uint8 [100, 2048], = Sionna's LDPC5GEncoder
    llr = 8.0 * c - 4.0                                # LLRs ln P(1)/P(0)
    out = LdpcDecoder(code, num_iter=20)(llr)          # out.bits [100, 1024], out.ok [100]
"""

from semcomm.digital.ldpc.basegraph import BASE_GRAPHS, MAX_CODE_BLOCK, lifting_size, select_base_graph
from semcomm.digital.ldpc.code import MAX_RATE, MIN_K, LdpcCode
from semcomm.digital.ldpc.decoder import CHECK_UPDATES, SCHEDULES, DecodeResult, LdpcDecoder
from semcomm.digital.ldpc.encoder import LdpcEncoder

__all__ = [
    "BASE_GRAPHS",
    "CHECK_UPDATES",
    "MAX_CODE_BLOCK",
    "MAX_RATE",
    "MIN_K",
    "SCHEDULES",
    "DecodeResult",
    "LdpcCode",
    "LdpcDecoder",
    "LdpcEncoder",
    "lifting_size",
    "select_base_graph",
]
