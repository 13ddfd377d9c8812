"""Sweeps: parsing of SNR grids, per-point seeding, the resumable runner and atomic results files."""

from semcomm.sweep.grid import parse_count, parse_ratios, parse_snr_list, parse_snr_range, parse_weights
from semcomm.sweep.results_io import ResultsFile, provenance, read_json, write_json_atomic
from semcomm.sweep.runner import (
    KEY_FIELDS,
    RECORD_FIELDS,
    SweepPoint,
    check_methods,
    pending_points,
    run_sweep,
    sweep_points,
)
from semcomm.seeding import point_generator

__all__ = [
    "KEY_FIELDS",
    "RECORD_FIELDS",
    "ResultsFile",
    "SweepPoint",
    "check_methods",
    "parse_count",
    "parse_ratios",
    "parse_snr_list",
    "parse_snr_range",
    "parse_weights",
    "pending_points",
    "point_generator",
    "provenance",
    "read_json",
    "run_sweep",
    "sweep_points",
    "write_json_atomic",
]
