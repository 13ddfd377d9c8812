"""Sweeps: the grid, per-point evaluation, plans (sweeps and broadcasts) and atomic results files."""

from semcomm.sweep.plan import MethodPoint, MethodsPlan, SweepPlan, run_sweep
from semcomm.sweep.results_io import ResultsFile, provenance, read_json, write_json_atomic
from semcomm.sweep.runner import (
    KEY_FIELDS,
    RECORD_FIELDS,
    SNR_DB_RANGE,
    SweepPoint,
    check_methods,
    sweep_points,
)
from semcomm.sweep.spec import ImagesSpec, MethodsRecipe, MethodsSpec
from semcomm.seeding import point_generator

__all__ = [
    "KEY_FIELDS",
    "RECORD_FIELDS",
    "SNR_DB_RANGE",
    "ImagesSpec",
    "MethodPoint",
    "MethodsPlan",
    "MethodsRecipe",
    "MethodsSpec",
    "ResultsFile",
    "SweepPlan",
    "SweepPoint",
    "check_methods",
    "point_generator",
    "provenance",
    "read_json",
    "run_sweep",
    "sweep_points",
    "write_json_atomic",
]
