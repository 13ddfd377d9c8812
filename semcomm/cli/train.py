"""``semcomm train``: train a multi-resolution JSCC model (:func:`semcomm.train.train`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.progress import TaskID
from rich.table import Table

import channels
from semcomm import distributed
from semcomm.atomic import check_writable
from semcomm.cli.app import app, console, one_line_errors, progress_bar
from semcomm.cli.options import with_channel_options
from semcomm.cli.parsing import parse_count, parse_device, parse_ratios, parse_snr_range, parse_weights
from semcomm.train import TrainConfig, validate
from semcomm.train import train as train_model


#: The bandwidth ratio per layer that ``train`` uses without ``--ratio``: the shipped models'.
DEFAULT_RATIOS = {"mnist": "3/98", "cifar10": "1/18"}


def _weighting_kwargs(weighting: str, semantic_weight: str | None, layers: int, options: list[str],
                      relation: str | None = None) -> dict[str, Any]:
    """The loss weighting's options from the flags given: ``fixed`` and ``gradsplit`` take
    ``--semantic-weight`` (default 0.05), ``gradsplit`` ``--gradsplit-relation``, every scheme
    ``--weighting-opt NAME=VALUE``; an option the weighting does not take is refused when the
    config is validated."""
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
            raise ValueError(f"bad --weighting-opt {option!r}: expected NAME=NUMBER, e.g. alpha=1.5")
        kwargs[key.strip()] = int(number) if key.strip() == "seed" and number == int(number) else number
    if semantic_weight is not None:
        kwargs["semantic"] = parse_weights(semantic_weight, layers)
    elif weighting in ("fixed", "gradsplit"):
        kwargs["semantic"] = 0.05
    return kwargs


def _epoch_table(history: list[dict[str, Any]]) -> Table:
    table = Table(title="Training")
    for col in ("epoch", "loss", r"train PSNR per layer \[dB]", "train CE per layer", "seconds"):
        table.add_column(col, justify="right")
    for h in history:
        table.add_row(str(h["epoch"]), f"{h['loss']:.4f}", "  ".join(f"{p:.2f}" for p in h["train_psnr"]),
                      "  ".join(f"{c:.3f}" for c in h["train_ce"]), f"{h['seconds']:.0f}")
    return table


@app.command()
@one_line_errors
@with_channel_options
def train(
    dataset: Annotated[str, typer.Option(help="mnist or cifar10")] = "mnist",
    out: Annotated[Path, typer.Option(help="run directory (checkpoint written every epoch)")] = Path("runs/jscc"),
    data_root: Annotated[Optional[str], typer.Option(help="data root with the training set (default $SEMCOMM_DATA); 'embedded' for smoke tests")] = None,
    layers: Annotated[int, typer.Option(help="number of layers L")] = 3,
    ratio: Annotated[Optional[str], typer.Option(help="bandwidth ratio k_l/n per layer, e.g. 1/18,1/18,1/18 (one value: every layer; default: the shipped models', 3/98 = 24 uses for mnist, 1/18 for cifar10)")] = None,
    channel: Annotated[str, typer.Option(help="training channel, one of: " + ", ".join(channels.names()))] = "awgn",
    csi: Annotated[str, typer.Option(help="receiver CSI: perfect, none, ls or lmmse (TDL/OFDM channels)")] = "perfect",
    snr_train: Annotated[str, typer.Option(help="training SNR in dB: lo:hi (per-example uniform) or one value")] = "0:20",
    epochs: Annotated[str, typer.Option(help="epochs")] = "10",
    batch_size: Annotated[str, typer.Option(help="images per step")] = "128",
    lr: Annotated[float, typer.Option(help="Adam learning rate (cosine decay to lr/100)")] = 1e-3,
    width: Annotated[str, typer.Option(help="conv width of the model")] = "64",
    arch: Annotated[str, typer.Option(help="JSCC architecture: klt-refine (linear analog backbone + learned residuals), klt-rmn (the same with a recurrent modular receiver routed per task and layer), klt-slim (the same with a slimmable receiver trained by the sandwich rule and CI-KD) or conv (the first model)")] = "klt-refine",
    layer_power: Annotated[str, typer.Option(help="split of the frame's power across layers: equal (unit energy per symbol in every layer) or softcast (SoftCast's allocation over the whole frame: more to layer 1, unit energy over the frame; klt-refine)")] = "equal",
    tasks: Annotated[Optional[str], typer.Option(help="receiver-side tasks per layer, e.g. '1:coarse2,recon;2:coarse4,recon;3:class,recon' (tasks: recon, class, coarse2, coarse4, edges, thumb, colour; default: recon,class at every layer; klt-refine)")] = None,
    proxy_attention: Annotated[bool, typer.Option(help="the proxy cues of --tasks (edges, thumb, colour) feed the other heads through uncertainty-aware gates (klt-refine)")] = False,
    proxy_weight: Annotated[float, typer.Option(help="with --proxy-attention: the weight of each proxy branch's loss (its uncertainty-weighted NLL)")] = 0.1,
    sample_layers: Annotated[Optional[bool], typer.Option("--sample-layers/--all-layers", help="decode one random layer per example and step (L times cheaper), or every layer (default: sample for klt-refine)")] = None,
    ci_kd: Annotated[bool, typer.Option("--ci-kd/--no-ci-kd", help="klt-slim: distil each narrow sandwich configuration's trunk feature towards the widest one's (CI-KD), or train by the sandwich rule alone (the ablation)")] = True,
    ci_kd_weight: Annotated[float, typer.Option(help="klt-slim: the weight of the CI-KD term against the task losses")] = 1.0,
    route_cost: Annotated[float, typer.Option(help="klt-rmn: weight of the compute penalty, the expected trunk depth of the routes as a fraction of the trunk (0: none; e.g. 0.05)")] = 0.0,
    distortion: Annotated[str, typer.Option(help="reconstruction loss: log-mse (mean per-image log MSE, i.e. the PSNR: every SNR weighs alike) or mse")] = "log-mse",
    val: Annotated[str, typer.Option(help="training images held out for validation after each epoch; the best epoch is kept as best.safetensors (0: none)")] = "5000",
    semantic_weight: Annotated[
        Optional[str],
        typer.Option(help="weight b_l of each layer's cross-entropy (fixed weighting): one value or one per layer "
                          "(default 0.05)"),
    ] = None,
    weighting: Annotated[str, typer.Option(help="loss weighting: fixed, equal, uncertainty, dwa, gradnorm, pcgrad, upgrad, imtl-g or gradsplit (uncertainty, dwa and gradnorm need --distortion mse; upgrad and imtl-g need semcomm[mtl]; gradsplit takes --semantic-weight and --weighting-opt recon_to_semantic=1 / semantic_to_recon=1)")] = "fixed",
    gradsplit_relation: Annotated[Optional[str], typer.Option(help="GradSplit's task relation, rows (recon; semantic) of 0/1 per group, e.g. '1,1;0,1' (recon also trains the semantic group); default own task only")] = None,
    weighting_opt: Annotated[Optional[list[str]], typer.Option(help="an option of the weighting, NAME=VALUE (repeatable): dwa temperature=2, gradnorm alpha=1.5, pcgrad seed=0; uncertainty and gradnorm lr=0.05 (the learning rate of their own parameters; default: the model's)")] = None,
    limit: Annotated[Optional[str], typer.Option(help="train on the first N images only")] = None,
    seed: Annotated[int, typer.Option(help="seed of every random draw")] = 0,
    resume: Annotated[bool, typer.Option(help="continue the run in --out")] = False,
    extend: Annotated[bool, typer.Option(help="with --resume: train the run to a larger --epochs than planned (the cosine schedule then spans the new total)")] = False,
    force: Annotated[bool, typer.Option(help="overwrite a run already in --out")] = False,
    download: Annotated[bool, typer.Option(help="fetch missing dataset files (official URLs, md5-checked)")] = False,
    device: Annotated[str, typer.Option(help="cpu or cuda[:N]")] = "cpu",
    *,
    channel_options: dict[str, str | None],
) -> None:
    """Train a multi-resolution JSCC model; writes model.safetensors + config.json every epoch."""
    check_writable(out, "--out", directory=True)
    cfg = TrainConfig(
        dataset=dataset,
        ratios=parse_ratios(ratio or DEFAULT_RATIOS.get(dataset, "1/18"), layers),
        data_root=data_root,
        channel=channel,
        channel_kwargs=channels.option_kwargs(channel, channel_options),
        csi=csi,
        snr_train=parse_snr_range(snr_train),
        epochs=parse_count(epochs, "--epochs"),
        batch_size=parse_count(batch_size, "--batch-size"),
        lr=lr,
        width=parse_count(width, "--width"),
        arch=arch,
        layer_power=layer_power,
        tasks=tasks,
        proxy_attention=proxy_attention,
        proxy_weight=proxy_weight,
        sample_layers=sample_layers,
        ci_kd=ci_kd,
        ci_kd_weight=ci_kd_weight,
        route_cost=route_cost,
        distortion=distortion,
        val=parse_count(val, "--val", minimum=0),
        weighting=weighting,
        weighting_kwargs=_weighting_kwargs(weighting, semantic_weight, layers, weighting_opt or [], gradsplit_relation),
        limit=None if limit is None else parse_count(limit, "--limit"),
        seed=seed,
    )
    validate(cfg)
    if extend and not resume:
        raise ValueError("--extend continues a run: give it with --resume")
    requested = parse_ratios(ratio or DEFAULT_RATIOS.get(dataset, "1/18"), layers)
    for layer, (asked, used) in enumerate(zip(requested, cfg.ratios), start=1):
        if abs(used - asked) > 0.01 * asked:
            uses = cfg.model_config().layer_symbols[layer - 1]
            print(f"warning: layer {layer}: --ratio {asked:.4g} rounds to {uses} channel uses, "
                  f"so the ratio used (and stored) is {used:.4g}", file=sys.stderr)
    with progress_bar() as bar:
        tasks: list[TaskID] = []  # the bar appears with the first step, after the data has loaded

        def show(desc: str, done: int, total: int) -> None:
            if not tasks:
                tasks.append(bar.add_task(desc, total=total))
            bar.update(tasks[0], description=desc, completed=done)

        history = train_model(cfg, out, resume=resume, progress=show, download=download, device=parse_device(device),
                              force=force, extend=extend, note=lambda text: print(f"note: {text}", file=sys.stderr))
    if distributed.rank() == 0:  # under torchrun every process returns the history; one prints it
        console.print(_epoch_table(history))
        console.print(f"checkpoint: {out / 'model.safetensors'}")
