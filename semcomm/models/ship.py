"""Ship a trained run as a pretrained model: ``semcomm/pretrained/<name>.safetensors`` + card.

    python -m semcomm.models.ship RUN_DIR NAME --command "semcomm train ..." \
        --hardware "2-core x86-64 CPU, torch 2.13.0+cpu" --results out/quality/NAME.json --wall-time SECONDS [--note "..."]

Copies the run's ``best.safetensors`` (the epoch with the best validation score; the last
epoch's ``model.safetensors`` if the run kept no validation split) and writes the model card
``<name>.json``: the exact command, seed, training data, wall time of the whole run (given) and
of its training loops (the epochs' seconds), hardware, the model and training configs, the per-epoch history and the test
results (the records of ``benchmarks/jscc_quality.py``'s results file for this model).
"""

from __future__ import annotations

import argparse
import json
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from semcomm.atomic import write_json_atomic
from semcomm.models.checkpoint import BEST_FILE, MODEL_FILE, load_checkpoint

__all__ = ["ship"]

_RESULT_FIELDS = ("method", "channel", "csi", "snr_db", "layer", "ratio", "psnr", "psnr_ci95", "ssim", "accuracy", "n_images")


def _augmentation(dataset: str) -> str:
    """``", augmented: <what>"`` for a registered dataset with a training augmentation."""
    from semcomm.data import DATASETS, dataset_info, hflip

    if dataset not in DATASETS or dataset_info(dataset).augment is None:
        return ""
    augment = dataset_info(dataset).augment
    return ", random horizontal flips" if augment is hflip else f", augmented ({getattr(augment, '__name__', 'custom')})"


def ship(run_dir: Path, name: str, command: str, hardware: str, results: Path, wall_time_s: float, note: str = "") -> Path:
    """Copy the run's kept weights into the package and write the card; returns the card path."""
    weights = run_dir / BEST_FILE if (run_dir / BEST_FILE).is_file() else run_dir / MODEL_FILE
    _, meta = load_checkpoint(weights)
    train = meta["train"]
    records = json.loads(results.read_text())["records"]
    folder = Path(str(resources.files("semcomm").joinpath("pretrained")))
    shutil.copyfile(weights, folder / f"{name}.safetensors")
    card: dict[str, Any] = {
        "name": name,
        "command": command,
        "seed": train["seed"],
        "training_data": f"{train['dataset']} training split minus the last {train['val']} images (validation), "
        "md5-verified official files" + _augmentation(train["dataset"]),
        "training_time_s": round(wall_time_s),
        "training_loop_s": round(sum(h["seconds"] for h in meta["history"])),
        "hardware": hardware,
        "kept_epoch": meta["epoch"],
        "note": note,
        "model": meta["model"],
        "train": train,
        "history": meta["history"],
        "test_results": {
            "note": "full test set, AWGN, perfect CSI; python benchmarks/jscc_quality.py",
            "records": [{k: r[k] for k in _RESULT_FIELDS if k in r} for r in records],
        },
    }
    path = folder / f"{name}.json"
    write_json_atomic(path, card)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("name")
    parser.add_argument("--command", required=True, help="the exact semcomm train command of the run")
    parser.add_argument("--hardware", required=True)
    parser.add_argument("--results", type=Path, required=True, help="results file of benchmarks/jscc_quality.py")
    parser.add_argument("--wall-time", type=float, required=True, help="seconds from the run's start to its end")
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    print(ship(args.run_dir, args.name, args.command, args.hardware, args.results, args.wall_time, args.note))


if __name__ == "__main__":
    main()
