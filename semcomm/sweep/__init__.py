"""Sweeps: parsing of SNR grids, provenance and atomic results files."""

from semcomm.sweep.grid import parse_count, parse_snr_list
from semcomm.sweep.results_io import ResultsFile, provenance, read_json, write_json_atomic

__all__ = ["ResultsFile", "parse_count", "parse_snr_list", "provenance", "read_json", "write_json_atomic"]
