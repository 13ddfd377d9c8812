"""``semcomm demo``: the quick-start job on the embedded sample."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import torch
import typer

from semcomm.atomic import check_writable
from semcomm.cli.app import app, console, err_console, one_line_errors
from semcomm.cli.execution import ExecutorChoice, run_to_file
from semcomm.cli.options import IMAGES_HELP
from semcomm.cli.parsing import parse_snr_list
from semcomm.cli.sweep import say_images, sweep_summary
from semcomm.results import nothing_delivered
from semcomm.data import EMBEDDED, ENV_VAR
from semcomm.methods import SSCCSpec, resolve_method
from semcomm.models.klt import shipped_klt_path
from semcomm.plot import layer_reconstructions, plot_reconstructions, plot_sweep
from semcomm.seeding import check_seed
from semcomm.sweep import MethodsSpec, SweepPlan

#: The SSCC baseline of the demo: a codec that fits small images, over LDPC and the capacity bound.
DEMO_SSCC = SSCCSpec(codecs=["jpeg"], links=["ldpc", "capacity"])


@app.command()
@one_line_errors
def demo(
    out: Annotated[Path, typer.Option(help="output folder: results.json, fig.png")] = Path("demo"),
    model: Annotated[Optional[str], typer.Option(help="pretrained model or run directory (default: mnist-l3, or cifar10-l3 with --images)")] = None,
    images: Annotated[Optional[str], typer.Option(help=IMAGES_HELP + ": the demo on them, with a model that takes them")] = None,
    snr: Annotated[str, typer.Option(help="AWGN Es/N0 in dB")] = "-5:20:5",
    seed: Annotated[int, typer.Option(help="seed of every random draw")] = 0,
) -> None:
    """The quick-start job: a pretrained multi-resolution JSCC model, the uncoded analog
    reference, the multi-resolution linear analog reference (KLT + SoftCast + LMMSE, the model's
    layers) and an SSCC baseline (JPEG over 5G LDPC, and over an ideal capacity-achieving code,
    at the model's bandwidth ratio) over AWGN, on the embedded test sample (no download, no
    GPU)."""
    check_writable(out, "--out", directory=True)
    check_seed(seed)
    snrs = parse_snr_list(snr)
    model = model or ("cifar10-l3" if images is not None else "mnist-l3")
    # linear takes the model's backbone KLT (klt-* models), else the dataset's shipped or fitted one
    extra = ("analog", "linear", "sscc")
    first = resolve_method(model)
    if not hasattr(getattr(first, "model", None), "softcast"):
        dataset = first.dataset
        if not shipped_klt_path(dataset).is_file() and not os.environ.get(ENV_VAR):
            err_console.print(f"linear: skipped, no KLT ships for {dataset} (set {ENV_VAR} to fit it on the training split)")
            extra = ("analog", "sscc")
    methods = MethodsSpec((model,), extra, DEMO_SSCC, data_root=EMBEDDED if not os.environ.get(ENV_VAR) else None,
                          images=images)
    plan = SweepPlan.from_spec(methods, ["awgn"], ["perfect"], snrs, seed, 500, {"awgn": {}}, data_root=EMBEDDED)
    say_images(plan, EMBEDDED, images)
    records = run_to_file(plan, out / "results.json", ExecutorChoice())
    warning = nothing_delivered(records)
    if warning:
        print(warning, file=sys.stderr)
    print(sweep_summary(records))
    plot_sweep({"records": records}, out / "fig.png")
    shown = list(dict.fromkeys([min(snrs), sorted(snrs)[len(snrs) // 2], max(snrs)]))
    jscc = plan.methods[0]
    x = torch.from_numpy(next(plan.images.batches(8))[0]).float() / 255  # the first images (of one size)
    plot_reconstructions(x, layer_reconstructions(jscc, x, shown, seed=seed), shown,
                         f"{jscc.name}: what each layer reconstructs (AWGN)", out / "layers.png")
    console.print(f"results: {out / 'results.json'}")
    console.print(f"figures: {out / 'fig.png'}, {out / 'layers.png'} (each layer's reconstructions)")
