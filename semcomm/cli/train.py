"""``semcomm train``: train a multi-resolution JSCC model (:func:`semcomm.learn.train`).

The flags of the architectures' options (``--width``, ``--layer-power``, ``--route-cost``, ...)
come from the architectures themselves (:func:`~semcomm.cli.options.with_architecture_options`);
this module names none of them.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.progress import TaskID
from rich.table import Table

import channels
from semcomm.atomic import check_writable
from semcomm.cli.app import app, console, one_line_errors, progress_bar
from semcomm.cli.options import IMAGES_HELP, architecture_options, dataset_help, with_architecture_options, with_channel_options
from semcomm.cli.parsing import check_out_folder, parse_count, parse_device, parse_ratios, parse_snr_range, parse_weights
from semcomm.learn import TrainConfig, distributed, validate
from semcomm.learn import train as train_model
from semcomm.seeding import MAX_SEED


def _architectures_help() -> str:
    from semcomm.models import ARCHITECTURES, architecture

    return "JSCC architecture: " + "; ".join(f"{k} ({architecture(k).description})" if architecture(k).description else k
                                            for k in ARCHITECTURES.names())


def _default_ratio(dataset: str, images: str | None) -> str:
    """The per-layer ratio without ``--ratio``: the dataset's (:attr:`DatasetInfo.default_ratio`)."""
    from semcomm.data import DatasetInfo, dataset_info

    return DatasetInfo.default_ratio if images is not None else dataset_info(dataset).default_ratio


def _weighting_kwargs(weighting: str, semantic_weight: str | None, layers: int, options: list[str],
                      relation: str | None = None) -> dict[str, Any]:
    """The loss weighting's options from the flags given: ``fixed`` and ``gradsplit`` take
    ``--semantic-weight`` (default 0.05), ``gradsplit`` ``--gradsplit-relation``, every scheme
    ``--weighting-opt NAME=VALUE`` (``fixed``: ``task:NAME=W`` weighs task NAME's loss by W); an
    option the weighting does not take is refused when the config is validated."""
    kwargs: dict[str, Any] = {}
    if relation is not None:
        try:
            kwargs["relation"] = [[float(v) for v in row.split(",")] for row in relation.split(";")]
        except ValueError:
            raise ValueError(f"bad --gradsplit-relation {relation!r}: expected rows of 0/1 separated by ';', "
                             "e.g. '1,1;0,1'") from None
    for option in options:
        key, sep, value = option.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = None
        if not sep or not key.strip() or number is None:
            raise ValueError(f"bad --weighting-opt {option!r}: expected NAME=NUMBER, e.g. alpha=1.5 (or task:coarse2=0.5)")
        key = key.strip()
        if key.startswith("task:"):
            kwargs.setdefault("task_weights", {})[key[len("task:"):]] = number
            continue
        if key == "seed":
            if not (math.isfinite(number) and number == int(number) and 0 <= number <= MAX_SEED):
                raise ValueError(f"bad --weighting-opt {option!r}: the seed must be a whole number from 0 to 2**63-1")
            number = int(number)
        kwargs[key] = number
    if semantic_weight is not None:
        kwargs["semantic"] = parse_weights(semantic_weight, layers)
    elif weighting in ("fixed", "gradsplit"):
        kwargs["semantic"] = 0.05
    return kwargs


def _epoch_table(history: list[dict[str, Any]]) -> Table:
    table = Table(title="Training")
    for col in ("epoch", "loss", r"train PSNR per layer \[dB]", "train task loss per layer", "seconds"):
        table.add_column(col, justify="right")
    for h in history:
        table.add_row(str(h["epoch"]), f"{h['loss']:.4f}", "  ".join(f"{p:.2f}" for p in h["train_psnr"]),
                      "  ".join(f"{c:.3f}" for c in h["train_ce"]), f"{h['seconds']:.0f}")
    return table


@app.command()
@one_line_errors
@with_channel_options
@with_architecture_options
def train(
    dataset: Annotated[str, typer.Option(help=dataset_help("dataset to train on"))] = "mnist",
    images: Annotated[Optional[str], typer.Option(help=IMAGES_HELP + " to train on")] = None,
    crop: Annotated[Optional[str], typer.Option(help="with --images: train on random N x N crops (needed when the images have several sizes)")] = None,
    out: Annotated[Path, typer.Option(help="run directory (checkpoint written every epoch)")] = Path("runs/jscc"),
    data_root: Annotated[Optional[str], typer.Option(help="data root with the training set (default $SEMCOMM_DATA); 'embedded' for smoke tests")] = None,
    layers: Annotated[int, typer.Option(help="number of layers L")] = 3,
    ratio: Annotated[Optional[str], typer.Option(help="bandwidth ratio k_l/n per layer, e.g. 1/18,1/18,1/18 (one value: every layer; default: the dataset's, 3/98 = 24 uses for mnist, 1/18 for cifar10 and folders)")] = None,
    channel: Annotated[str, typer.Option(help="training channel, one of: " + ", ".join(channels.names()))] = "awgn",
    csi: Annotated[str, typer.Option(help="receiver CSI: perfect, none, ls or lmmse (TDL/OFDM channels)")] = "perfect",
    snr_train: Annotated[str, typer.Option(help="training SNR in dB: lo:hi (per-example uniform) or one value")] = "0:20",
    epochs: Annotated[str, typer.Option(help="epochs")] = "10",
    batch_size: Annotated[str, typer.Option(help="images per step")] = "128",
    lr: Annotated[float, typer.Option(help="Adam learning rate (cosine decay to lr/100)")] = 1e-3,
    arch: Annotated[str, typer.Option(help=_architectures_help())] = "klt-refine",
    tasks: Annotated[Optional[str], typer.Option(help="receiver-side tasks per layer, e.g. '1:coarse2,recon;2:coarse4,recon;3:class,recon' (tasks: recon, class, the dataset's concepts, edges, thumb, colour, plugins'; default: recon,class at every layer, recon alone without labels)")] = None,
    sample_layers: Annotated[Optional[bool], typer.Option("--sample-layers/--all-layers", help="decode one random layer per example and step (L times cheaper), or every layer (default: sample where the architecture can)")] = None,
    distortion: Annotated[str, typer.Option(help="reconstruction loss: log-mse (mean per-image log MSE, i.e. the PSNR: every SNR weighs alike) or mse")] = "log-mse",
    val: Annotated[str, typer.Option(help="training images held out for validation after each epoch; the best epoch is kept as best.safetensors (0: none)")] = "5000",
    semantic_weight: Annotated[
        Optional[str],
        typer.Option(help="weight b_l of each layer's task losses (fixed weighting): one value or one per layer "
                          "(default 0.05)"),
    ] = None,
    weighting: Annotated[str, typer.Option(help="loss weighting: fixed, equal, uncertainty, dwa, gradnorm, pcgrad, upgrad, imtl-g or gradsplit (uncertainty, dwa and gradnorm need --distortion mse; upgrad and imtl-g need semcomm[mtl]; gradsplit takes --semantic-weight and --weighting-opt recon_to_semantic=1 / semantic_to_recon=1)")] = "fixed",
    gradsplit_relation: Annotated[Optional[str], typer.Option(help="GradSplit's task relation, rows (recon; semantic) of 0/1 per group, e.g. '1,1;0,1' (recon also trains the semantic group); default own task only")] = None,
    weighting_opt: Annotated[Optional[list[str]], typer.Option(help="an option of the weighting, NAME=VALUE (repeatable): dwa temperature=2, gradnorm alpha=1.5, pcgrad seed=0; uncertainty and gradnorm lr=0.05 (the learning rate of their own parameters; default: the model's); fixed task:NAME=W (task NAME's loss times W)")] = None,
    limit: Annotated[Optional[str], typer.Option(help="train on the first N images only")] = None,
    seed: Annotated[int, typer.Option(help="seed of every random draw")] = 0,
    init_from: Annotated[Optional[str], typer.Option(help="start from a checkpoint's weights (pretrained name, run directory or .safetensors file) wherever names and shapes match, e.g. a klt-cascade transmitter from cifar10-l3")] = None,
    resume: Annotated[bool, typer.Option(help="continue the run in --out")] = False,
    extend: Annotated[bool, typer.Option(help="with --resume: train the run to a larger --epochs than planned (the cosine schedule then spans the new total)")] = False,
    force: Annotated[bool, typer.Option(help="overwrite a run already in --out")] = False,
    download: Annotated[bool, typer.Option(help="fetch missing dataset files (official URLs, md5-checked)")] = False,
    device: Annotated[str, typer.Option(help="cpu or cuda[:N]")] = "cpu",
    *,
    channel_options: dict[str, str | None],
    arch_options: dict[str, Any],
) -> None:
    """Train a multi-resolution JSCC model; writes model.safetensors + config.json every epoch."""
    check_writable(out, "--out", directory=True)
    check_out_folder(out, init_from, "the --init-from model")
    ratio_text = ratio or _default_ratio(dataset, images)
    cfg = TrainConfig(
        dataset=dataset,
        ratios=parse_ratios(ratio_text, layers),
        images=images,
        crop=None if crop is None else parse_count(crop, "--crop", minimum=2),
        data_root=data_root,
        channel=channel,
        channel_kwargs=channels.option_kwargs(channel, channel_options),
        csi=csi,
        snr_train=parse_snr_range(snr_train),
        epochs=parse_count(epochs, "--epochs"),
        batch_size=parse_count(batch_size, "--batch-size"),
        lr=lr,
        arch=arch,
        options=architecture_options(arch, arch_options),
        tasks=tasks,
        sample_layers=sample_layers,
        distortion=distortion,
        val=parse_count(val, "--val", minimum=0),
        weighting=weighting,
        weighting_kwargs=_weighting_kwargs(weighting, semantic_weight, layers, weighting_opt or [], gradsplit_relation),
        limit=None if limit is None else parse_count(limit, "--limit"),
        seed=seed,
        init_from=init_from,
    )
    model = validate(cfg)
    if extend and not resume:
        raise ValueError("--extend continues a run: give it with --resume")
    requested = parse_ratios(ratio_text, layers)
    for layer, (asked, used) in enumerate(zip(requested, cfg.ratios), start=1):
        if abs(used - asked) > 0.01 * asked:
            print(f"warning: layer {layer}: --ratio {asked:.4g} rounds to {model.layer_symbols[layer - 1]} channel uses, "
                  f"so the ratio used (and stored) is {used:.4g}", file=sys.stderr)
    with progress_bar() as bar:
        bars: list[TaskID] = []  # the bar appears with the first step, after the data has loaded

        def show(desc: str, done: int, total: int) -> None:
            if not bars:
                bars.append(bar.add_task(desc, total=total))
            bar.update(bars[0], description=desc, completed=done)

        history = train_model(cfg, out, resume=resume, progress=show, download=download, device=parse_device(device),
                              force=force, extend=extend, note=lambda text: print(f"note: {text}", file=sys.stderr))
    if distributed.rank() == 0:  # under torchrun every process returns the history; one prints it
        console.print(_epoch_table(history))
        console.print(f"checkpoint: {out / 'model.safetensors'}")
