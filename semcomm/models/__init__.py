"""JSCC models and their checkpoints."""

from semcomm.models.multires_jscc import DATASET_SHAPES, JSCCConfig, JSCCOutput, MultiResJSCC, symbols_for_ratio

__all__ = ["DATASET_SHAPES", "JSCCConfig", "JSCCOutput", "MultiResJSCC", "symbols_for_ratio"]
