"""``semcomm adapt``: adapt a trained receiver to another channel from received signals alone."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Optional

import numpy as np

import torch
import typer

import channels
from semcomm.atomic import check_writable, folder_lock
from semcomm.cli.app import app, console, one_line_errors, progress_bar
from semcomm.cli.options import with_channel_options
from semcomm.cli.parsing import check_out_folder, parse_count, parse_device, parse_snr_range
from semcomm.data import EMBEDDED, ENV_VAR, folder_dataset, load_images
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
    data_root: Annotated[Optional[str], typer.Option(help="data root whose training split the transmitter sends (default $SEMCOMM_DATA); the receiver never sees the images")] = None,
    images: Annotated[Optional[str], typer.Option(help="a folder of images (one size, the model's channels) for the transmitter to send instead of a training split: never the images you evaluate on")] = None,
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

    where = parse_device(device)
    if images is not None and data_root is not None:
        raise ValueError("--images and --data-root both name the images to send: give one of them")
    if images is None:
        _training_root(data_root)
    check_writable(out, "--out", directory=True)
    check_out_folder(out, model, "the model it adapts")
    check_seed(seed)
    cfg = AdaptConfig(channel=channel, csi=csi, snr=parse_snr_range(snr, "--snr"),
                      channel_kwargs=channels.option_kwargs(channel, channel_options),
                      steps=parse_count(steps, "--steps"), batch_size=parse_count(batch_size, "--batch-size"), lr=lr, ema=ema,
                      threshold=threshold, passes=parse_count(passes, "--passes"), similar=similar, adversarial=adversarial,
                      diversity=diversity, seed=seed)
    net, meta = load_checkpoint(model, device=where)
    if net.config.arch != "klt-refine":  # adaptation acts on klt-refine's receiver (semcomm.learn.adapt)
        raise ValueError(f"adapt needs a klt-refine model; {model!r} is {net.config.arch!r}")
    check_target(meta.get("train", {}), cfg)
    with folder_lock(out, "an adaptation"):
        if (out / MODEL_FILE).exists() and not force:
            raise ValueError(f"{str(out)!r} already holds a model: --force overwrites it, or choose another --out")
        link = TargetLink(net, torch.from_numpy(_sent_images(net.config, data_root, images)).to(where), cfg)
        with progress_bar() as bar:
            task = bar.add_task("adapting", total=cfg.steps)
            adapted, history = adapt_model(net, link, cfg, progress=lambda step, stats: bar.update(
                task, completed=step, description=f"adapting: pseudo-labelled {100 * stats['pseudo_labelled']:.0f} %"))
        path = save_adapted(out, adapted, meta, cfg, history, model)
    console.print(f"adapted in {sum(h['seconds'] for h in history):.0f} s: {path}")


def _sent_images(config: Any, data_root: str | None, images: str | None) -> np.ndarray:
    """The uint8 images ``[N, C, H, W]`` the transmitter sends while the receiver adapts: a
    folder's, or the training split of the model's dataset (never a test split: sweeps score
    those, and adapting on them would leak the test set into the model).

    Raises:
        ValueError: one line, for the embedded sample (test images only), images of several
            sizes or of other channels.
    """
    if images is not None:
        data = folder_dataset(images)[1]
        if data.shape is None:
            raise ValueError(f"--images {images!r} holds images of several sizes: adaptation sends one size; crop them alike")
        if data.shape[0] != config.image_shape[0]:
            raise ValueError(f"--images {images!r} holds {data.shape[0]}-channel images; the model takes "
                             f"{config.image_shape[0]}-channel ones")
        return np.stack(data.images) if isinstance(data.images, tuple) else data.images
    return load_images(config.dataset, _training_root(data_root), "train").images


def _training_root(data_root: str | None) -> str:
    """The data root whose training split is sent (``--data-root``, else ``$SEMCOMM_DATA``).

    Raises:
        ValueError: one line, without one, or for the embedded sample (test images only).
    """
    root = data_root or os.environ.get(ENV_VAR)
    if root is None or root == EMBEDDED:
        raise ValueError("adapt needs images to send that no sweep scores: give --data-root DIR (its training split) or "
                         f"--images DIR; the embedded sample holds test images only, and adapting on them would leak the "
                         f"test set into the model (or set {ENV_VAR})")
    return root

