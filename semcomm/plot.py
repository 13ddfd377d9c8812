"""Figures from results files (matplotlib, no display needed)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from matplotlib import colormaps
from matplotlib.figure import Figure

from semcomm.atomic import replace_atomic
from semcomm.results import ratio_label
from semcomm.tasks import get_task

__all__ = ["layer_reconstructions", "merge_sweeps", "plot_ber", "plot_broadcast", "plot_reconstructions", "plot_sweep",
           "ratio_label", "save_figure"]


def save_figure(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Save ``fig`` atomically; the format follows the suffix of ``path`` (png, pdf, svg, ...)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    return replace_atomic(path, lambda f: fig.savefig(f, format=fmt, dpi=dpi, bbox_inches="tight"), mode="wb")


def plot_ber(results: dict[str, Any], path: str | Path) -> Path:
    """BER vs Es/N0: simulated points with 95 % intervals and the theoretical curve.

    Args:
        results: a results file written by ``semcomm ber`` (``config`` + ``records``).
        path: output image.
    """
    cfg = results["config"]
    records = sorted(results["records"], key=lambda r: r["snr_db"])
    snr = [r["snr_db"] for r in records]
    fig = Figure(figsize=(6, 4.2))
    ax = fig.add_subplot()
    shown = [(s, r) for s, r in zip(snr, records) if r["errors"] > 0]
    if shown:
        xs = [s for s, _ in shown]
        ys = [r["ber"] for _, r in shown]
        lo = [r["ber"] - r["ber_ci95"][0] for _, r in shown]
        hi = [r["ber_ci95"][1] - r["ber"] for _, r in shown]
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", ms=4, capsize=2, label="simulated (95 % CI)")
    theory = [(s, r["ber_theory"]) for s, r in zip(snr, records) if r.get("ber_theory")]
    if theory:
        ax.plot(*zip(*theory), "-", lw=1.2, label="theory")
    ax.set_yscale("log")
    ax.set_xlabel("SNR = Es/N0 per complex symbol [dB]")
    ax.set_ylabel("bit error rate")
    ax.set_title(f"{cfg['modulation']} over {cfg['channel']} (CSI: {cfg['csi']}, {cfg['demapper']} demapper)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


#: One colour family per method (its layers are shades of it), in order of appearance.
_METHOD_COLOURS = ("Blues", "Oranges", "Greens", "Reds", "Purples", "Greys")
#: One line style and marker per (channel, CSI mode), in order of appearance.
_LINK_STYLES = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1, 1, 1)), "v"), ((0, (1, 3)), "P"))


def _ratio_text(ratio: float | None) -> str:
    """`` (r=1/6)``, or nothing for a record without its ratio (older files)."""
    return "" if not isinstance(ratio, (int, float)) or not ratio > 0 else f" (r={ratio_label(ratio)})"


def _identity(results: dict[str, Any], method: str) -> str:
    """What a method's curves in one results file stand for: the method's own description (its
    checkpoint hash, codec and link, ...) and the file's seed and test images."""
    config = results.get("config") or {}
    described = [m for m in config.get("methods") or [] if isinstance(m, dict) and m.get("name") == method]
    what = {k: config.get(k) for k in ("dataset", "images", "n_images", "images_md5")}
    return json.dumps([described, what, results.get("seed")], sort_keys=True)


def merge_sweeps(files: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The records of several sweep results files, to draw together.

    A method that stands for different things in different files (another checkpoint under the
    same name, another seed or image set) is labelled ``"<method> [<file>]"`` in each, so its
    curves stay apart; the same method in several files (e.g. SNRs swept into separate files)
    stays one curve.

    Args:
        files: (label of the file, e.g. its stem; the file's JSON) pairs.

    Returns:
        ``{"records": [...]}`` for :func:`plot_sweep`.
    """
    identities: dict[str, set[str]] = {}
    for _, results in files:
        for method in {r.get("method") for r in results.get("records") or []}:
            identities.setdefault(method, set()).add(_identity(results, method))
    records = []
    for label, results in files:
        for r in results.get("records") or []:
            apart = len(identities[r.get("method")]) > 1
            records.append({**r, "method": f"{r['method']} [{label}]"} if apart else r)
    return {"records": records}


def _shade(colour_map: str, index: int, count: int) -> tuple[float, ...]:
    """Layer ``index`` of ``count``: from light (first layer) to dark (last)."""
    return colormaps[colour_map](0.75 if count == 1 else 0.45 + 0.5 * index / (count - 1))


def _curves(records: list[dict[str, Any]]) -> list[tuple[list[dict[str, Any]], dict[str, Any]]]:
    """Records grouped into curves, one per (method, layer, channel, CSI mode), in drawing order
    (methods and links in order of appearance, layers ascending), each with its matplotlib
    style: the layers of a method are shades of one colour (light to dark), each (channel, CSI
    mode) has its own line style and marker; the label names the curve and its ratio."""
    curves: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in records:
        curves.setdefault((r["method"], r["layer"], r["channel"], r["csi"]), []).append(r)
    methods = list(dict.fromkeys(r["method"] for r in records))
    links = list(dict.fromkeys((r["channel"], r["csi"]) for r in records))
    layers = {m: sorted({r["layer"] for r in records if r["method"] == m}, key=lambda v: v or 0) for m in methods}
    out = []
    for key in sorted(curves, key=lambda k: (methods.index(k[0]), k[1] or 0, links.index((k[2], k[3])))):
        method, layer, channel, csi = key
        colours = _METHOD_COLOURS[methods.index(method) % len(_METHOD_COLOURS)]
        line, marker = _LINK_STYLES[links.index((channel, csi)) % len(_LINK_STYLES)]
        name = method if layer is None else f"{method} L{layer}"
        style = {
            "color": _shade(colours, layers[method].index(layer), len(layers[method])),
            "linestyle": line,
            "marker": marker,
            "label": f"{name}{_ratio_text(curves[key][-1].get('ratio'))} {channel}/{csi}",
        }
        out.append((curves[key], style))
    return out


def _metric_label(task: str, metric: str, dataset: str) -> str:
    """The axis label of a task's score: the task's own for its main metric, else the name."""
    try:
        scorer = get_task(task, dataset)
    except ValueError:  # a folder's images, a task the dataset cannot serve any more
        return metric
    return scorer.metric_label if metric == scorer.metric else metric


def plot_sweep(results: dict[str, Any], path: str | Path) -> Path:
    """PSNR vs SNR (with 95 % intervals), accuracy vs SNR and one panel per other receiver-side
    task's score (records' ``tasks``), from a sweep results file.

    One curve per (method, layer, channel, CSI mode): the layers of a method are shades of one
    colour, each (channel, CSI mode) has its own line style and marker; a record with a null
    layer (a single-layer method such as SSCC) is one curve per link. Methods without a
    classifier (null accuracy) are left out of the accuracy panel.

    Args:
        results: a results file written by ``semcomm sweep`` (``records``), or several merged.
        path: output image.

    Raises:
        ValueError: the records are not sweep records.
    """
    records = results.get("records") or []
    if not records or any("psnr" not in r or "layer" not in r for r in records):
        raise ValueError("no sweep records to plot (each needs psnr, layer, snr_db, ...)")
    panels = list(dict.fromkeys((task, metric) for r in records for task, scores in r.get("tasks", {}).items()
                                for metric in scores if (task, metric) != ("class", "accuracy")))  # the accuracy panel
    count = 2 + len(panels)
    cols, rows = min(count, 3), math.ceil(count / 3)
    fig = Figure(figsize=(6 * cols, 4.6 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for spare in axes[count:]:
        spare.set_visible(False)
    ax_psnr, ax_acc, *ax_tasks = axes[:count]
    for curve, style in _curves(records):
        rs = sorted(curve, key=lambda r: r["snr_db"])
        snr = [r["snr_db"] for r in rs]
        style["ms"] = 4
        ci = [0.0 if r.get("psnr_ci95") is None or math.isnan(r["psnr_ci95"]) else r["psnr_ci95"] for r in rs]
        ax_psnr.errorbar(snr, [r["psnr"] for r in rs], yerr=ci, capsize=2, **style)
        empty = [(x, r) for x, r in zip(snr, rs) if (r.get("extras") or {}).get("delivered") == 0]
        hollow = {k: v for k, v in style.items() if k not in ("label", "ls", "linestyle")} | {"ls": "none", "mfc": "white", "ms": 7}
        if empty:  # nothing delivered there (every image the fallback): hollow markers
            ax_psnr.plot([x for x, _ in empty], [r["psnr"] for _, r in empty], **hollow)
        accuracy = [(x, 100 * r["accuracy"]) for x, r in zip(snr, rs) if r.get("accuracy") is not None]
        if accuracy:
            ax_acc.plot(*zip(*accuracy), **style)
            if empty:
                ax_acc.plot([x for x, r in empty if r.get("accuracy") is not None],
                            [100 * r["accuracy"] for _, r in empty if r.get("accuracy") is not None], **hollow)
        for ax, (task, metric) in zip(ax_tasks, panels):
            scale = 100 if metric.endswith("accuracy") else 1  # accuracies in %, as in the tables
            points = [(x, scale * r["tasks"][task][metric]) for x, r in zip(snr, rs)
                      if metric in r.get("tasks", {}).get(task, {})]
            if points:
                ax.plot(*zip(*points), **style)
    datasets = ", ".join(dict.fromkeys(r["dataset"] for r in records))
    for ax, (task, metric) in zip(ax_tasks, panels):
        ax.set_title(f"{datasets}: task {task}, {metric}")
        label = _metric_label(task, metric, records[0]["dataset"])
        ax.set_ylabel(f"{label} [%]" if metric.endswith("accuracy") and "%" not in label else label)
    ax_psnr.set_title(f"{datasets}: PSNR (mean of per-image PSNR, 95 % CI)")
    ax_psnr.set_ylabel("PSNR [dB]")
    ax_acc.set_title(f"{datasets}: task class, top-1 accuracy")
    ax_acc.set_ylabel("top-1 accuracy [%]")
    if not ax_acc.lines:
        ax_acc.text(0.5, 0.5, "no method with a classifier", ha="center", va="center", transform=ax_acc.transAxes)
    for ax in (ax_psnr, ax_acc, *ax_tasks):
        ax.set_xlabel("SNR = Es/N0 per complex symbol [dB]")
        ax.grid(True, alpha=0.3)
    if any((r.get("extras") or {}).get("delivered") == 0 for r in records):
        ax_psnr.text(0.01, 0.01, "hollow: nothing delivered (the fallback image)", transform=ax_psnr.transAxes,
                     fontsize="small", va="bottom")
    fig.legend(*ax_psnr.get_legend_handles_labels(), loc="outside right upper", fontsize="small")
    return save_figure(fig, path)


def plot_broadcast(results: dict[str, Any], path: str | Path, bins: int = 12) -> Path:
    """Per-user PSNR and accuracy against the user's SNR, and the CDF of user PSNR, from a
    broadcast results file (``semcomm broadcast``).

    One curve per (method, layer, channel, CSI mode), coloured and styled as in
    :func:`plot_sweep`. The SNR panels show the mean over the users of each of ``bins`` equal
    SNR bins (users' single values scatter with their images); the CDF uses every user.

    Raises:
        ValueError: the records are not broadcast records.
    """
    records = results.get("records") or []
    if not records or any("user" not in r or "psnr" not in r for r in records):
        raise ValueError("no broadcast records to plot (each needs user, psnr, snr_db, layer, ...)")
    snrs = [r["snr_db"] for r in records]
    edges = [min(snrs) + (max(snrs) - min(snrs)) * i / bins for i in range(bins + 1)]

    def binned(rs: list[dict[str, Any]], field: str) -> tuple[list[float], list[float]]:
        xs, ys = [], []
        for lo, hi in zip(edges[:-1], edges[1:]):
            inside = [r[field] for r in rs if lo <= r["snr_db"] < hi or (hi == edges[-1] and r["snr_db"] == hi)]
            inside = [v for v in inside if v is not None]
            if inside:
                xs.append((lo + hi) / 2)
                ys.append(sum(inside) / len(inside))
        return xs, ys

    fig = Figure(figsize=(16, 4.6), layout="constrained")
    ax_psnr, ax_acc, ax_cdf = fig.subplots(1, 3)
    for rs, style in _curves(records):
        ax_psnr.plot(*binned(rs, "psnr"), ms=4, **style)
        if any(r.get("accuracy") is not None for r in rs):
            ax_acc.plot(*binned(rs, "accuracy"), ms=4, **style)
        values = sorted(r["psnr"] for r in rs)
        ax_cdf.plot(values, [(i + 1) / len(values) for i in range(len(values))], drawstyle="steps-post",
                    **{k: v for k, v in style.items() if k != "marker"})
    users = len({r["user"] for r in records})
    datasets = ", ".join(dict.fromkeys(r["dataset"] for r in records))
    ax_psnr.set_title(f"{datasets}, {users} users: mean user PSNR per SNR bin")
    ax_psnr.set_ylabel("PSNR [dB] (mean of per-image PSNR)")
    ax_acc.set_title("mean user accuracy per SNR bin")
    ax_acc.set_ylabel("top-1 accuracy")
    ax_cdf.set_title("CDF of user PSNR")
    ax_cdf.set_xlabel("user PSNR [dB]")
    ax_cdf.set_ylabel("fraction of users")
    if not ax_acc.lines:
        ax_acc.text(0.5, 0.5, "no method with a classifier", ha="center", va="center", transform=ax_acc.transAxes)
    for ax in (ax_psnr, ax_acc):
        ax.set_xlabel("user SNR = Es/N0 per complex symbol [dB]")
    for ax in (ax_psnr, ax_acc, ax_cdf):
        ax.grid(True, alpha=0.3)
    fig.legend(*ax_psnr.get_legend_handles_labels(), loc="outside right upper", fontsize="small")
    return save_figure(fig, path)


def layer_reconstructions(method: Any, images: Any, snrs: list[float], channel: str = "awgn", seed: int = 0) -> Any:
    """What each layer of ``method`` reconstructs of ``images`` at each SNR over ``channel``
    (perfect CSI), each SNR's draws from the point's generator ``(seed, snr, channel, csi)``:
    float ``[S, L, N, C, H, W]`` in [0, 1] for ``S`` SNRs, ``L`` layers, ``N`` images (``images``:
    float ``[N, C, H, W]`` in [0, 1])."""
    import torch

    import channels
    from semcomm.seeding import point_generator

    link = channels.get(channel)
    out = []
    with torch.inference_mode():
        for snr in snrs:
            layers = method.transmit(images, link, snr, "perfect", point_generator(seed, snr, channel, "perfect"))
            out.append(torch.stack([layer.recon.clamp(0, 1) for layer in layers]))
    return torch.stack(out)


def plot_reconstructions(images: Any, recons: Any, snrs: list[float], title: str, path: str | Path) -> Path:
    """A grid of the originals (first row) and, per SNR and layer, what the receiver
    reconstructs of them (:func:`layer_reconstructions`: ``recons`` ``[S, L, N, C, H, W]``)."""
    count_snrs, layers, n = recons.shape[:3]
    rows = 1 + count_snrs * layers
    fig = Figure(figsize=(1.1 * n + 1.6, 1.1 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, n, squeeze=False)

    def show(ax: Any, image: Any, label: str | None) -> None:
        array = image.permute(1, 2, 0).cpu().numpy()
        ax.imshow(array[..., 0] if array.shape[-1] == 1 else array, cmap="gray" if array.shape[-1] == 1 else None,
                  vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if label is not None:
            ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize="small")

    for j in range(n):
        show(axes[0][j], images[j], "original" if j == 0 else None)
        for s in range(count_snrs):
            for l in range(layers):
                show(axes[1 + s * layers + l][j], recons[s, l, j], f"{snrs[s]:g} dB, layer {l + 1}" if j == 0 else None)
    fig.suptitle(title)
    return save_figure(fig, path)
