"""``semcomm adapt``: adapt a trained receiver to another channel from received signals alone."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import torch
import typer

import channels
from semcomm.atomic import check_writable, same_file_key
from semcomm.cli.app import app, console, one_line_errors, progress_bar
from semcomm.cli.options import with_channel_options
from semcomm.cli.parsing import checkpoint_inputs, parse_count, parse_device, parse_snr_range
from semcomm.data import EMBEDDED, ENV_VAR, load_images
from semcomm.seeding import check_seed


@app.command()
@one_line_errors
@with_channel_options
def adapt(
    model: Annotated[str, typer.Argument(help="a trained klt-refine model: run directory, .safetensors file or pretrained name")],
    channel: Annotated[str, typer.Option(help="the target channel, one of: " + ", ".join(channels.names()))] = "tdl-c",
    csi: Annotated[str, typer.Option(help="the receiver's CSI mode there: perfect, none, ls or lmmse (TDL/OFDM)")] = "ls",
    snr: Annotated[str, typer.Option(help="target SNR in dB: lo:hi (per-example uniform) or one value")] = "0:20",
    out: Annotated[Path, typer.Option(help="run directory of the adapted model")] = Path("runs/adapted"),
    data_root: Annotated[Optional[str], typer.Option(help="where the images the transmitter sends come from (training split; default $SEMCOMM_DATA, 'embedded' for smoke tests); the receiver never sees them")] = None,
    steps: Annotated[str, typer.Option(help="adaptation steps")] = "300",
    batch_size: Annotated[str, typer.Option(help="received examples per step")] = "64",
    lr: Annotated[float, typer.Option(help="Adam learning rate")] = 1e-4,
    ema: Annotated[float, typer.Option(help="the mean teacher's EMA decay")] = 0.99,
    threshold: Annotated[float, typer.Option(help="teacher confidence above which a pseudo-label is used")] = 0.9,
    passes: Annotated[str, typer.Option(help="stochastic teacher passes for the variance split")] = "4",
    similar: Annotated[float, typer.Option(help="fraction of each batch called source-similar (lowest variance)")] = 0.2,
    adversarial: Annotated[float, typer.Option(help="weight of the discriminator loss (gradient reversal)")] = 0.1,
    diversity: Annotated[float, typer.Option(help="weight of the diversity term (minus the entropy of the batch's mean class prediction), against collapse onto one class")] = 1.0,
    seed: Annotated[int, typer.Option(help="seed of every random draw")] = 0,
    force: Annotated[bool, typer.Option(help="overwrite a model already in --out")] = False,
    device: Annotated[str, typer.Option(help="where the model, the images and every draw live: cpu, cuda, cuda:N or mps")] = "cpu",
    *,
    channel_options: dict[str, str | None],
) -> None:
    """Adapt a trained receiver to another channel from received signals alone (no source
    data, no labels): mean teacher, variance split, adversarial alignment."""
    from semcomm.learn.adapt import AdaptConfig, TargetLink, adapt as adapt_model, check_target, save_adapted
    from semcomm.models.checkpoint import MODEL_FILE, load_checkpoint

    check_writable(out, "--out", directory=True)
    for _, source in checkpoint_inputs("", [model]):
        if same_file_key(out / MODEL_FILE) == same_file_key(source):
            raise ValueError(f"--out {str(out)!r} holds the model it adapts, whose weights it would overwrite: give another folder")
    check_seed(seed)
    cfg = AdaptConfig(channel=channel, csi=csi, snr=parse_snr_range(snr),
                      channel_kwargs=channels.option_kwargs(channel, channel_options),
                      steps=parse_count(steps, "--steps"), batch_size=parse_count(batch_size, "--batch-size"), lr=lr, ema=ema,
                      threshold=threshold, passes=parse_count(passes, "--passes"), similar=similar, adversarial=adversarial,
                      diversity=diversity, seed=seed)
    where = parse_device(device)
    net, meta = load_checkpoint(model, device=where)
    if net.config.arch != "klt-refine":  # adaptation acts on klt-refine's receiver (semcomm.learn.adapt)
        raise ValueError(f"adapt needs a klt-refine model; {model!r} is {net.config.arch!r}")
    check_target(meta.get("train", {}), cfg)
    if (out / MODEL_FILE).exists() and not force:
        raise ValueError(f"{str(out)!r} already holds a model: --force overwrites it, or choose another --out")
    root = data_root or os.environ.get(ENV_VAR) or EMBEDDED
    data = load_images(net.config.dataset, root, "test" if root == EMBEDDED else "train")
    link = TargetLink(net, torch.from_numpy(data.images).to(where), cfg)
    with progress_bar() as bar:
        task = bar.add_task("adapting", total=cfg.steps)
        adapted, history = adapt_model(net, link, cfg, progress=lambda step, stats: bar.update(
            task, completed=step, description=f"adapting: pseudo-labelled {100 * stats['pseudo_labelled']:.0f} %"))
    path = save_adapted(out, adapted, meta, cfg, history, model)
    console.print(f"adapted in {sum(h['seconds'] for h in history):.0f} s: {path}")
