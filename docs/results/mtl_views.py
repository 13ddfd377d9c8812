"""The multi-task comparison in the docs: tables, claim-by-claim answers and figures computed from
``benchmarks/mtl_compare.py --records`` files (every seed's records), with
``benchmarks/slim_control.py --json`` and ``benchmarks/adapt_channels.py --json`` files for the
slimmable-receiver and adaptation claims. ``docs/results/render.py`` adds :data:`VIEWS` to its
table views and :data:`FIGURES` to its figure views.

Every cell over seeds is the mean ± the half-width of its 95 % Student-t interval
(:func:`semcomm.stats.mean_ci95`). A run is ranked above or below ``fixed`` (marked ↑ / ↓) only
where the two intervals do not overlap; with one seed nothing is ranked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from semcomm.results import concept_accuracy
from semcomm.stats import format_mean_ci95, mean_ci95

Files = list[dict[str, Any]]
Key = tuple[str, str, float, int]  # (channel, csi, snr_db, layer)
#: The channels no run trained on (``mtl_compare.UNSEEN``), their evaluation SNR and layer.
UNSEEN_SNR, TOP = 10.0, 3
LABELS = {"psnr": "PSNR", "accuracy": "accuracy", "coarse2": "coarse2 accuracy"}
UNITS = {"psnr": "dB", "accuracy": "%", "coarse2": "%"}


# ---------------------------------------------------------------- reading the files


def _kind(f: dict[str, Any]) -> str:
    """``records`` (mtl_compare --records), ``slim`` or ``adapt`` (their table files)."""
    if "records" in f and "linear" in f:
        return "records"
    points = f.get("points") or [{}]
    return "slim" if "share_of_best" in points[0] else "adapt" if "target" in points[0] else "?"


def _one(files: Files, kind: str, required: bool = True) -> dict[str, Any] | None:
    found = [f for f in files if _kind(f) == kind]
    if not found and required:
        raise ValueError(f"this view needs a {kind} file (benchmarks/mtl_compare.py --records, slim_control.py or "
                         "adapt_channels.py --json)")
    return found[0] if found else None


def metric(record: dict[str, Any], name: str) -> float | None:
    """``psnr``, ``accuracy``, ``coarse2`` or ``train_s`` of a record (None where it has none)."""
    return concept_accuracy(record, "coarse2") if name == "coarse2" else record.get(name)


class Comparison:
    """One ``--records`` file: per run and seed, the records by (channel, CSI, SNR, layer)."""

    def __init__(self, f: dict[str, Any]) -> None:
        self.file, self.config = f, f.get("config", {})
        self.seeds: list[int] = list(self.config.get("seeds", sorted({r["seed"] for r in f["records"]})))
        self.runs: list[str] = list(self.config.get("runs", dict.fromkeys(r["run"] for r in f["records"])))
        self.by_run: dict[str, dict[int, dict[Key, dict[str, Any]]]] = {}
        for r in f["records"]:
            key = (r["channel"], r["csi"], float(r["snr_db"]), int(r["layer"]))
            self.by_run.setdefault(r["run"], {}).setdefault(r["seed"], {})[key] = r
        self.linear = {(r["channel"], r["csi"], float(r["snr_db"]), int(r["layer"])): r for r in f.get("linear", [])}

    def values(self, run: str, key: Key, name: str, scale: float = 1.0) -> list[float]:
        """The metric over the run's seeds (those that have it)."""
        if run == "linear":
            value = metric(self.linear[key], name) if key in self.linear else None
            return [] if value is None else [scale * value]
        out = []
        for seed in self.seeds:
            record = self.by_run.get(run, {}).get(seed, {}).get(key)
            value = None if record is None else metric(record, name)
            if value is not None:
                out.append(scale * value)
        return out

    def train_seconds(self, run: str) -> list[float]:
        return [next(iter(by_key.values()))["train_s"] for by_key in self.by_run.get(run, {}).values()]

    def snrs(self) -> list[float]:
        return sorted({k[2] for by_seed in self.by_run.values() for by_key in by_seed.values() for k in by_key
                       if k[0] == "awgn"})

    def budget(self) -> str:
        c = self.config
        seeds = (f"seed {self.seeds[0]}" if len(self.seeds) == 1
                 else f"mean ± 95 % CI over seeds {', '.join(map(str, self.seeds))}")
        return (f"{c.get('dataset')}, first {c.get('n_images', 0):,} test images, AWGN with perfect CSI unless named; "
                f"{seeds}; every run {c.get('epochs')} epochs × the first {c.get('limit', 0):,} training images in "
                f"batches of {c.get('batch_size')} (width {c.get('width')})")


# ---------------------------------------------------------------- intervals and ranking


def interval(values: list[float]) -> tuple[float, float]:
    """(mean, 95 % half-width; nan with one value or none)."""
    return mean_ci95(values) if values else (math.nan, math.nan)


def separation(a: list[float], b: list[float]) -> int:
    """+1 where ``a``'s interval lies wholly above ``b``'s, -1 wholly below, 0 otherwise (or with
    fewer than two values on either side)."""
    (ma, ha), (mb, hb) = interval(a), interval(b)
    if len(a) < 2 or len(b) < 2 or math.isnan(ha) or math.isnan(hb):
        return 0
    return 1 if ma - ha > mb + hb else -1 if ma + ha < mb - hb else 0


def side(values: list[float], level: float) -> int:
    """+1 / -1 where the 95 % interval of ``values`` lies wholly above / below ``level``, 0
    otherwise (or with fewer than two values)."""
    mean, half = interval(values)
    return 0 if math.isnan(half) else 1 if mean - half > level else -1 if mean + half < level else 0


def paired(a: list[float], b: list[float]) -> int:
    """:func:`side` of the per-seed differences ``a - b`` against 0 (the same model and seed
    measured twice, e.g. two of its layers)."""
    return side([x - y for x, y in zip(a, b)], 0.0) if len(a) == len(b) else 0


def fmt(values: list[float], digits: int, mark: int = 0) -> str:
    """``mean±half`` (``mean`` with one value, ``–`` with none), then ↑ / ↓ for ``mark``."""
    return format_mean_ci95(values, digits) + {1: " ↑", -1: " ↓", 0: ""}[mark]


def _floats(text: str | None, default: list[float]) -> list[float]:
    return default if text is None else [float(v) for v in text.split(",")]


def _scale(name: str) -> tuple[float, int]:
    return (1.0, 2) if name == "psnr" else (100.0, 1)


# ---------------------------------------------------------------- tables


def comparison_table(files: Files, options: dict[str, str]) -> str:
    """Per run (the linear scheme first): per layer L1 / L2 / L3, each metric at each SNR over
    AWGN, then the training seconds. Options: ``metrics=psnr,accuracy`` (also ``coarse2``),
    ``snr=0,10,20``, ``coarse_snr=0,10`` (the coarse2 columns' SNRs), ``runs=`` (a subset)."""
    c = Comparison(_one(files, "records"))  # type: ignore[arg-type]
    names = options.get("metrics", "psnr,accuracy").split(",")
    runs = options["runs"].split(",") if "runs" in options else c.runs
    columns: list[tuple[str, float]] = []
    for name in names:
        snrs = _floats(options.get("coarse_snr" if name == "coarse2" else "snr"),
                       [0.0, 10.0] if name == "coarse2" else c.snrs())
        columns += [(name, s) for s in snrs]
    head = ["run", *(f"{LABELS[n]} L1 / L2 / L3 [{UNITS[n]}], {s:g} dB" for n, s in columns), "train s"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for run in ["linear", *runs]:
        cells = []
        for name, snr in columns:
            scale, digits = _scale(name)
            per_layer = []
            for layer in (1, 2, 3):
                key = ("awgn", "perfect", snr, layer)
                values = c.values(run, key, name, scale)
                mark = 0 if run in ("fixed", "linear") else separation(values, c.values("fixed", key, name, scale))
                per_layer.append(fmt(values, digits, mark))
            cells.append(" / ".join(per_layer))
        seconds = c.train_seconds(run) if run != "linear" else []
        lines.append("| " + " | ".join([f"`{run}`", *cells, fmt(seconds, 0)]) + " |")
    legend = " ↑ / ↓: the 95 % interval lies wholly above / below `fixed`'s." if len(c.seeds) > 1 else ""
    seconds = [s for run in c.runs for s in c.train_seconds(run)]
    total = f" {len(seconds)} trainings, {sum(seconds) / 3600:.1f} h of training loop in all."
    return "\n".join(lines) + f"\n\n{c.budget()}.{legend} Training seconds: the training loop's wall time." + total


def unseen_table(files: Files, options: dict[str, str]) -> str:
    """The top layer's accuracy at 10 dB on AWGN and on every channel no run trained on, and the
    drop from AWGN, for the runs evaluated there (``runs=`` a subset)."""
    c = Comparison(_one(files, "records"))  # type: ignore[arg-type]
    unseen = sorted({(k[0], k[1]) for by_seed in c.by_run.values() for by_key in by_seed.values() for k in by_key
                     if k[0] != "awgn"})
    runs = [r for r in (options["runs"].split(",") if "runs" in options else c.runs)
            if any(k[0] != "awgn" for by_key in c.by_run.get(r, {}).values() for k in by_key)]
    head = ["run", "AWGN", *(f"{ch} ({csi})" for ch, csi in unseen), *(f"drop on {ch} [%]" for ch, _ in unseen)]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for run in runs:
        base = c.values(run, ("awgn", "perfect", UNSEEN_SNR, TOP), "accuracy", 100)
        accs = [c.values(run, (ch, csi, UNSEEN_SNR, TOP), "accuracy", 100) for ch, csi in unseen]
        drops = [drop(c, run, ch, csi) for ch, csi in unseen]
        marks = [0 if run == "fixed" else separation(d, drop(c, "fixed", ch, csi)) for d, (ch, csi) in zip(drops, unseen)]
        lines.append("| " + " | ".join([f"`{run}`", fmt(base, 1), *(fmt(a, 1) for a in accs),
                                         *(fmt(d, 1, m) for d, m in zip(drops, marks))]) + " |")
    return "\n".join(lines) + f"\n\nTop layer at {UNSEEN_SNR:g} dB, accuracy [%]; drop = unseen − AWGN per seed. {c.budget()}."


def drop(c: Comparison, run: str, channel: str, csi: str) -> list[float]:
    """Per seed, the top layer's accuracy on ``channel`` minus on AWGN, at 10 dB [%]."""
    out = []
    for seed in c.seeds:
        by_key = c.by_run.get(run, {}).get(seed, {})
        a, b = by_key.get((channel, csi, UNSEEN_SNR, TOP)), by_key.get(("awgn", "perfect", UNSEEN_SNR, TOP))
        if a is not None and b is not None and a.get("accuracy") is not None and b.get("accuracy") is not None:
            out.append(100 * (a["accuracy"] - b["accuracy"]))
    return out


def routes_table(files: Files, options: dict[str, str]) -> str:
    """The routes each ``klt-rmn`` run learned (seed 0): per task and layer, the trunk depth the
    task runs [modules] and each module's connection rate."""
    f = _one(files, "records")
    assert f is not None
    lines = ["| run | task | L1 | L2 | L3 |", "| --- | --- | --- | --- | --- |"]
    for run, report in f.get("routes", {}).items():
        for task, layers in report["tasks"].items():
            cells = [f"{r['depth'][0]:.2f} ({' '.join(f'{x:.2f}' for x in r['connections'])})" for r in layers]
            lines.append("| " + " | ".join([f"`{run}`", task, *cells]) + " |")
    any_report = next(iter(f.get("routes", {}).values()), {"snr_db": UNSEEN_SNR, "n_images": 0})
    return "\n".join(lines) + (f"\n\nDepth [modules] (each module's connection rate), seed {Comparison(f).seeds[0]}, "
                               f"first {any_report['n_images']:,} test images at {any_report['snr_db']:g} dB.")


# ---------------------------------------------------------------- claims


def _versus(c: Comparison, run: str, base: str, key: Key, name: str) -> tuple[str, int]:
    scale, digits = _scale(name)
    a, b = c.values(run, key, name, scale), c.values(base, key, name, scale)
    if not a or not b:
        return "–", 0
    diffs = [x - y for x, y in zip(a, b)]
    return f"{fmt(a, digits)} vs {fmt(b, digits)} {UNITS[name]} (Δ {fmt(diffs, digits)})", separation(a, b)


def verdict(signs: list[int], n_seeds: int, better_is: int = 1) -> str:
    """``supported`` where a sign is ``better_is`` and none the opposite, ``contradicted`` where
    one is the opposite, ``not shown`` where every interval overlaps; one seed decides nothing."""
    if n_seeds < 2:
        return "one seed: no interval"
    if any(s == -better_is for s in signs):
        return "**contradicted**"
    return "**supported**" if any(s == better_is for s in signs) else "not shown (intervals overlap)"


def every(signs: list[int], n_seeds: int) -> str:
    """The verdict on a claim whose every part must hold: ``supported`` where every interval
    separates in the claimed direction, ``contradicted`` where one separates the other way."""
    if n_seeds < 2:
        return "one seed: no interval"
    if any(s < 0 for s in signs):
        return "**contradicted**"
    return "**supported**" if signs and all(s > 0 for s in signs) else "not shown (intervals overlap)"


def _top(snr: float = 10.0) -> Key:
    return ("awgn", "perfect", snr, TOP)


def claim_multiresolution(c: Comparison | None, slim: Any, adapt: Any) -> tuple[str, str] | None:
    if c is None or "fixed" not in c.by_run:
        return None
    snrs = sorted({k[2] for by_key in c.by_run["fixed"].values() for k in by_key if k[:2] == ("awgn", "perfect")})
    gains, recon, accuracy, layer_accuracy = [], {}, {}, {}
    for snr in snrs:
        def at(layer: int) -> Key:
            return ("awgn", "perfect", snr, layer)

        signs = [paired(c.values("fixed", at(TOP), "psnr"), c.values("fixed", at(1), "psnr"))]
        per_layer = []
        for layer in (1, 2, 3):
            psnrs, linear = c.values("fixed", at(layer), "psnr"), c.values("linear", at(layer), "psnr")
            if psnrs and linear:
                per_layer.append(fmt([p - linear[0] for p in psnrs], 2))
                signs.append(side(psnrs, linear[0]))
        gains.append(f"{snr:g} dB {' / '.join(per_layer)}")
        recon[snr] = every(signs, len(c.seeds))
        acc1, acc3 = layer_accuracy[snr] = c.values("fixed", at(1), "accuracy", 100), c.values("fixed", at(TOP), "accuracy", 100)
        accuracy[snr] = every([paired(acc3, acc1)], len(c.seeds))
    acc1, acc3 = layer_accuracy.get(10.0, ([], []))
    measured = (f"`fixed`: accuracy L1 {fmt(acc1, 1)} → L3 {fmt(acc3, 1)} % at 10 dB; PSNR over the linear scheme "
                f"L1 / L2 / L3 [dB]: {'; '.join(gains)}")
    # the claim is a conjunction: every part must hold at every SNR, so each is judged on its own
    parts = {"reconstruction": _by_snr(recon), "accuracy": _by_snr(accuracy)}
    return measured, unanimous(parts, lambda name, text: f"{name} {text}")


def unanimous(verdicts: dict[str, str], label: Callable[[str, str], str], sep: str = "; ") -> str:
    """The one verdict where every part agrees, else ``label(part, verdict)`` of each part."""
    if len(set(verdicts.values())) == 1:
        return next(iter(verdicts.values()))
    return sep.join(label(part, text) for part, text in verdicts.items())


def _by_snr(verdicts: dict[float, str]) -> str:
    """One verdict where every SNR agrees, else each verdict with the SNRs it holds at."""
    grouped: dict[str, list[str]] = {}
    for snr, text in verdicts.items():
        grouped.setdefault(text, []).append(f"{snr:g}")
    return unanimous({" / ".join(snrs): text for text, snrs in grouped.items()},
                     lambda snrs, text: f"{text} at {snrs} dB", sep=", ")


def _pairwise(run: str, base: str) -> Callable[[Comparison | None, Any, Any], tuple[str, str] | None]:
    def claim(c: Comparison | None, slim: Any, adapt: Any) -> tuple[str, str] | None:
        if c is None or run not in c.by_run or base not in c.by_run:
            return None
        psnr, sp = _versus(c, run, base, _top(), "psnr")
        acc, sa = _versus(c, run, base, _top(), "accuracy")
        return f"top layer at 10 dB, `{run}` vs `{base}`: PSNR {psnr}; accuracy {acc}", verdict([sp, sa], len(c.seeds))
    return claim


def claim_deep_supervision(c: Comparison | None, slim: Any, adapt: Any) -> tuple[str, str] | None:
    if c is None or "ds" not in c.by_run or "fixed" not in c.by_run:
        return None
    parts, signs = [], []
    for snr in (0.0, 10.0):
        text, sign = _versus(c, "ds", "fixed", ("awgn", "perfect", snr, 1), "coarse2")
        parts.append(f"L1 coarse2 accuracy at {snr:g} dB: {text}")
        signs.append(sign)
    fine, sign = _versus(c, "ds", "fixed", _top(), "accuracy")
    return "; ".join(parts) + f"; top-layer class accuracy at 10 dB: {fine}", verdict(signs, len(c.seeds))


def claim_proxies(c: Comparison | None, slim: Any, adapt: Any) -> tuple[str, str] | None:
    if c is None or "proxy-attn" not in c.by_run or "fixed" not in c.by_run:
        return None
    unseen = sorted({(k[0], k[1]) for by_key in c.by_run["proxy-attn"].values() for k in by_key if k[0] != "awgn"})
    parts, signs = [], []
    for ch, csi in unseen:
        a, b = drop(c, "proxy-attn", ch, csi), drop(c, "fixed", ch, csi)
        parts.append(f"{ch} ({csi}): `proxy-attn` {fmt(a, 1)} vs `fixed` {fmt(b, 1)} %")
        signs.append(separation(a, b))
    return "accuracy drop from AWGN to an unseen channel, top layer at 10 dB: " + "; ".join(parts), \
        verdict(signs, len(c.seeds))


def claim_routes(c: Comparison | None, slim: Any, adapt: Any) -> tuple[str, str] | None:
    if c is None or "rmn-cost" not in c.file.get("routes", {}):
        return None
    routes = c.file["routes"]

    def depths(run: str) -> list[float]:
        return [r["depth"][0] for layers in routes.get(run, {"tasks": {}})["tasks"].values() for r in layers]

    def partial(run: str) -> tuple[int, int]:
        rates = [x for layers in routes[run]["tasks"].values() for r in layers for x in r["connections"]]
        return sum(0.05 < x < 0.95 for x in rates), len(rates)

    cost = depths("rmn-cost")
    free = depths("rmn")
    k, n = partial("rmn-cost")
    measured = (f"`rmn-cost` depths per task and layer {min(cost):.2f}…{max(cost):.2f} modules (mean "
                f"{sum(cost) / len(cost):.2f}" + (f"; `rmn` {sum(free) / len(free):.2f}" if free else "")
                + f"); connection rates strictly between 0.05 and 0.95: {k} of {n} (seed {c.seeds[0]})")
    varied = max(cost) - min(cost) >= 1.0 and (not free or sum(cost) / len(cost) < sum(free) / len(free))
    intermediate = k > 0
    return measured, ("**supported**" if varied and intermediate
                      else "partly: depths vary by task, routes all-or-nothing" if varied
                      else "**not supported**: every task runs the same depth")


def _control(points: list[dict[str, Any]]) -> tuple[str, bool]:
    """One slimmable model's control: class-first minus recon-first at each budget (accuracy,
    PSNR), the pick's share of the best configuration, and whether the class's accuracy follows
    its preference at every budget (PSNR may rise too where class-first affords a wider trunk)."""
    by = {(p["budget"], p["preference"]): p for p in points}
    pairs = [(by[b, "class-first"], by[b, "recon-first"]) for b in sorted({p["budget"] for p in points})
             if (b, "class-first") in by and (b, "recon-first") in by]
    accuracy = [100 * (c["accuracy"] - r["accuracy"]) for c, r in pairs]
    psnr = [c["psnr"] - r["psnr"] for c, r in pairs]
    shares = [100 * p["share_of_best"] for p in points]
    text = (f"class-first − recon-first accuracy {min(accuracy):+.1f}…{max(accuracy):+.1f} %, PSNR "
            f"{min(psnr):+.2f}…{max(psnr):+.2f} dB; the pick's score {min(shares):.1f}…{max(shares):.1f} % of the best "
            "within the budget")
    ordered = all(a >= 0 for a in accuracy) and any(a > 0 for a in accuracy)  # the class follows its preference
    return text, ordered


def claim_slim(c: Comparison | None, slim: dict[str, Any] | None, adapt: Any) -> tuple[str, str] | None:
    if slim is None:
        return None
    models = list(dict.fromkeys(p["model"] for p in slim["points"]))
    parts, ordered = [], {}
    for model in models:
        text, ordered[model] = _control([p for p in slim["points"] if p["model"] == model])
        parts.append(f"`{model}`: {text}")
    sign = 0
    if c is not None and "slim" in c.by_run and "slim-nokd" in c.by_run:
        kd, sign = _versus(c, "slim", "slim-nokd", _top(), "accuracy")
        parts.append(f"CI-KD (`slim` vs `slim-nokd`, full width) accuracy {kd}")
    spread = slim.get("feature_spread") or {}
    if spread:
        parts.append("share of the pooled trunk feature's energy that varies across images: "
                     + ", ".join(f"`{m}` {100 * v:.1f} %" for m, v in spread.items()))
    controlled = [m for m in models if ordered[m]]
    verdict_text = ("control **supported**" if len(controlled) == len(models)
                    else "control **not supported**" if not controlled
                    else f"control supported for {', '.join(f'`{m}`' for m in controlled)} only")
    if c is not None and len(c.seeds) > 1:
        verdict_text += {1: "; CI-KD helps", -1: "; CI-KD **hurts**", 0: "; CI-KD: intervals overlap"}[sign]
    return "; ".join(parts), verdict_text


def claim_adaptation(c: Comparison | None, slim: Any, adapt: dict[str, Any] | None) -> tuple[str, str] | None:
    if adapt is None:
        return None
    points = [p for p in adapt["points"] if p["on"] == "target" and p["layer"] == max(q["layer"] for q in adapt["points"])]
    parts, signs, n_seeds = [], [], len({p["seed"] for p in points})
    for target in dict.fromkeys(p["target"] for p in points):
        gains = [100 * (p["accuracy"] - p["accuracy_before"]) for p in points if p["target"] == target]
        psnr = [p["psnr"] - p["psnr_before"] for p in points if p["target"] == target]
        parts.append(f"{target}: accuracy {fmt(gains, 1)} %, PSNR {fmt(psnr, 2)} dB")
        signs.append(side(gains, 0.0))
    model = (adapt.get("config") or {}).get("model", "the model")
    per_target = {target: verdict([sign], n_seeds) for target, sign in zip(dict.fromkeys(p["target"] for p in points), signs)}
    return (f"`{model}`, top layer, after − before adaptation: " + "; ".join(parts),
            unanimous(per_target, lambda target, text: f"{target}: {text}"))


#: (method, the paper's claim in one sentence, what is measured here, the check).
CLAIMS: list[tuple[str, str, Callable[..., tuple[str, str] | None]]] = [
    ("Multi-resolution JSCC (Semantic Multi-Resolution Communications)",
     "Each added layer raises the reconstruction and the classifier's accuracy, above a separate scheme.",
     claim_multiresolution),
    ("GradSplit (Split to Learn)",
     "Training each feature group only with the gradients of the tasks it does not conflict with avoids the "
     "accuracy lost to task conflicts.", _pairwise("gradsplit", "fixed")),
    ("PCGrad (gradient surgery)", "Projecting away conflicting gradients beats summing the losses.",
     _pairwise("pcgrad", "equal")),
    ("UPGrad (Jacobian descent)", "A non-conflicting update of all tasks beats summing the losses.",
     _pairwise("upgrad", "equal")),
    ("IMTL-G", "Gradient weights that make the update impartial to every task beat summing the losses.",
     _pairwise("imtl-g", "equal")),
    ("Uncertainty weighting (Kendall et al.)", "Learned homoscedastic-uncertainty weights beat hand-set ones.",
     _pairwise("uncertainty", "equal-mse")),
    ("DWA", "Weighting each task by how fast its loss falls beats equal weights.", _pairwise("dwa", "equal-mse")),
    ("GradNorm", "Balancing the tasks' gradient norms beats equal weights.", _pairwise("gradnorm", "equal-mse")),
    ("Deep supervision with intermediate concepts",
     "Supervising early layers with intermediate (coarse) concepts improves generalisation: here, coarse concepts "
     "survive better in the first layer.", claim_deep_supervision),
    ("Uncertainty-aware physically guided proxy tasks",
     "Proxy cues behind uncertainty-aware attention generalise better to unseen domains: here, unseen channels.",
     claim_proxies),
    ("MT-RMN (recurrent modular networks)",
     "Routing tasks through a modular trunk gives each task its own degree of sharing; a route cost gives "
     "intermediate depths.", claim_routes),
    ("Controllable slimmable MTL (Efficient Controllable Multi-Task Architectures)",
     "One slimmable model serves any compute budget and task preference after deployment, its search picks a "
     "near-best configuration, and CI-KD raises accuracy.", claim_slim),
    ("Source-free adaptation (adversarial alignment, mean teacher)",
     "Self-training with source-similar / dissimilar alignment improves a source model on the target domain "
     "without source data.", claim_adaptation),
]


def claims_table(files: Files, options: dict[str, str]) -> str:
    """Each seed method's claim, what was measured (mean ± 95 % CI over seeds, Δ per seed) and the
    verdict; a claim whose files are not given is left out."""
    records = _one(files, "records", required=False)
    c = None if records is None else Comparison(records)
    slim, adapt = _one(files, "slim", required=False), _one(files, "adapt", required=False)
    lines = ["| method | the paper's claim | measured here | verdict |", "| --- | --- | --- | --- |"]
    for method, claim, check in CLAIMS:
        answer = check(c, slim, adapt)
        if answer is not None:
            lines.append(f"| {method} | {claim} | {answer[0]} | {answer[1]} |")
    tail = f"\n\n{c.budget()}. " if c is not None else "\n\n"
    return "\n".join(lines) + tail + ("Verdicts: supported where an interval separates in the claimed direction "
                                      "and none the other way, contradicted where one separates the other way.")


VIEWS: dict[str, Callable[[Files, dict[str, str]], str]] = {
    "mtl": comparison_table, "mtl-unseen": unseen_table, "mtl-routes": routes_table, "mtl-claims": claims_table}


# ---------------------------------------------------------------- figures (one per claim)


def _axes(n: int = 1, width: float = 6.4, height: float = 3.6) -> tuple[Any, list[Any]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n, figsize=(width, height), squeeze=False)
    return fig, list(axes[0])


def _bar(ax: Any, x: float, values: list[float], width: float, label: str | None = None, **kw: Any) -> None:
    mean, half = interval(values)
    ax.bar(x, mean, width, yerr=None if math.isnan(half) else half, capsize=3, label=label, **kw)


def layers_figure(files: Files, options: dict[str, str]) -> Any:
    """The multi-resolution claim: ``fixed``'s PSNR (and the linear scheme's) and accuracy per layer
    at each SNR, with 95 % intervals."""
    c = Comparison(_one(files, "records"))  # type: ignore[arg-type]
    run = options.get("run", "fixed")
    fig, (left, right) = _axes(2, 8.0, 3.4)
    for snr in _floats(options.get("snr"), c.snrs()):
        keys = [("awgn", "perfect", snr, l) for l in (1, 2, 3)]
        for ax, name, scale in ((left, "psnr", 1.0), (right, "accuracy", 100.0)):
            stats = [interval(c.values(run, k, name, scale)) for k in keys]
            line = ax.errorbar([1, 2, 3], [m for m, _ in stats], yerr=[0 if math.isnan(h) else h for _, h in stats],
                               marker="o", capsize=3, label=f"{snr:g} dB")
            if name == "psnr":
                ax.plot([1, 2, 3], [c.values("linear", k, "psnr")[0] for k in keys], ls="--",
                        color=line[0].get_color(), alpha=0.6)
    left.set(xlabel="layer", ylabel="PSNR [dB] (dashed: linear)", xticks=[1, 2, 3])
    right.set(xlabel="layer", ylabel="accuracy [%]", xticks=[1, 2, 3])
    right.legend(fontsize=8)
    fig.suptitle(f"{run}: per layer, {c.config.get('dataset')}", fontsize=10)
    fig.tight_layout()
    return fig


def tradeoff_figure(files: Files, options: dict[str, str]) -> Any:
    """The weightings and GradSplit: top-layer accuracy against PSNR at ``snr`` (10 dB) for every
    run, both with 95 % intervals; ``fixed`` in black."""
    c = Comparison(_one(files, "records"))  # type: ignore[arg-type]
    key = ("awgn", "perfect", float(options.get("snr", 10.0)), TOP)
    runs = options["runs"].split(",") if "runs" in options else c.runs
    fig, (ax,) = _axes(1, 6.4, 4.2)
    for run in runs:
        (px, hx), (py, hy) = interval(c.values(run, key, "psnr")), interval(c.values(run, key, "accuracy", 100))
        if math.isnan(px) or math.isnan(py):
            continue
        ax.errorbar(px, py, xerr=None if math.isnan(hx) else hx, yerr=None if math.isnan(hy) else hy, marker="o",
                    capsize=2, color="black" if run == "fixed" else None)
        ax.annotate(run, (px, py), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set(xlabel=f"top-layer PSNR at {key[2]:g} dB [dB]", ylabel="top-layer accuracy [%]")
    fig.tight_layout()
    return fig


def coarse_figure(files: Files, options: dict[str, str]) -> Any:
    """Deep supervision: coarse2 accuracy per layer at each of ``snr`` (0,10) for ``runs``
    (fixed,ds), bars with 95 % intervals."""
    c = Comparison(_one(files, "records"))  # type: ignore[arg-type]
    runs = options.get("runs", "fixed,ds").split(",")
    snrs = _floats(options.get("snr"), [0.0, 10.0])
    fig, axes = _axes(len(snrs), 4.0 * len(snrs), 3.4)
    width = 0.8 / len(runs)
    for ax, snr in zip(axes, snrs):
        for i, run in enumerate(runs):
            for layer in (1, 2, 3):
                _bar(ax, layer + (i - (len(runs) - 1) / 2) * width,
                     c.values(run, ("awgn", "perfect", snr, layer), "coarse2", 100), width,
                     label=run if layer == 1 else None, color=f"C{i}")
        ax.set(title=f"{snr:g} dB", xlabel="layer", ylabel="coarse2 accuracy [%]", xticks=[1, 2, 3])
        low = min((interval(c.values(r, ("awgn", "perfect", snr, l), "coarse2", 100))[0] for r in runs for l in (1, 2, 3)),
                  default=50.0)
        ax.set_ylim(max(0.0, low - 10), 100)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def unseen_figure(files: Files, options: dict[str, str]) -> Any:
    """Proxy tasks: the accuracy drop from AWGN to each unseen channel (top layer, 10 dB) per run
    (``runs=`` a subset), bars with 95 % intervals."""
    c = Comparison(_one(files, "records"))  # type: ignore[arg-type]
    runs = [r for r in (options["runs"].split(",") if "runs" in options else c.runs)
            if any(k[0] != "awgn" for by_key in c.by_run.get(r, {}).values() for k in by_key)]
    unseen = sorted({(k[0], k[1]) for r in runs for by_key in c.by_run[r].values() for k in by_key if k[0] != "awgn"})
    fig, (ax,) = _axes(1, 6.4, 3.4)
    width = 0.8 / max(1, len(runs))
    for i, run in enumerate(runs):
        for j, (ch, csi) in enumerate(unseen):
            _bar(ax, j + (i - (len(runs) - 1) / 2) * width, drop(c, run, ch, csi), width,
                 label=run if j == 0 else None, color=f"C{i}")
    ax.set_xticks(range(len(unseen)), [f"{ch} ({csi})" for ch, csi in unseen])
    ax.set(ylabel="accuracy drop from AWGN [%]")
    ax.axhline(0, color="black", lw=0.5)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def routes_figure(files: Files, options: dict[str, str]) -> Any:
    """MT-RMN: the trunk depth each task runs per layer, for each ``klt-rmn`` run (seed 0)."""
    f = _one(files, "records")
    assert f is not None
    routes = f.get("routes", {})
    fig, axes = _axes(max(1, len(routes)), 4.0 * max(1, len(routes)), 3.2)
    for ax, (run, report) in zip(axes, routes.items()):
        tasks = list(report["tasks"])
        width = 0.8 / len(tasks)
        for i, task in enumerate(tasks):
            depths = [r["depth"][0] for r in report["tasks"][task]]
            ax.bar([l + 1 + (i - (len(tasks) - 1) / 2) * width for l in range(len(depths))], depths, width, label=task)
        ax.set(title=run, xlabel="layer", ylabel="trunk depth [modules]", xticks=[1, 2, 3], ylim=(0, 4.2))
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def slim_figure(files: Files, options: dict[str, str]) -> Any:
    """Controllable slimmable receiver, a row per model (``models=`` a subset): PSNR and accuracy
    against the receiver's FLOPs (a share of the full receiver's) of the controller's pick per
    budget and preference (filled, joined in budget order), and of the best configuration within
    each budget (hollow)."""
    import matplotlib.pyplot as plt

    slim = _one(files, "slim")
    assert slim is not None
    models = options["models"].split(",") if "models" in options else list(dict.fromkeys(p["model"] for p in slim["points"]))
    fig, axes = plt.subplots(len(models), 2, figsize=(8.0, 3.0 * len(models)), squeeze=False)
    for (left, right), model in zip(axes, models):
        points = [p for p in slim["points"] if p["model"] == model]
        for i, preference in enumerate(dict.fromkeys(p["preference"] for p in points)):
            mine = sorted((p for p in points if p["preference"] == preference), key=lambda p: p["budget"])
            best = [p["best"] for p in mine]
            for ax, name, scale in ((left, "psnr", 1.0), (right, "accuracy", 100.0)):
                ax.plot([p["flops"] for p in mine], [scale * p[name] for p in mine], marker="o", color=f"C{i}",
                        label=preference)
                ax.plot([b["flops"] for b in best], [scale * b[name] for b in best], marker="o", ls="none",
                        mfc="none", color=f"C{i}")
        left.set(title=f"{model}: PSNR", ylabel="top-layer PSNR [dB]")
        right.set(title=f"{model}: accuracy", ylabel="top-layer accuracy [%]")
    for ax in axes[-1]:
        ax.set(xlabel="receiver FLOPs [share of the full receiver's]")
    axes[0][1].legend(fontsize=8)
    fig.suptitle("the controller's pick (filled) and the best within the budget (hollow)", fontsize=10)
    fig.tight_layout()
    return fig


def adapt_figure(files: Files, options: dict[str, str]) -> Any:
    """Source-free adaptation: per target and layer, accuracy before and after (mean with its 95 %
    interval over adaptation seeds)."""
    adapt = _one(files, "adapt")
    assert adapt is not None
    points = [p for p in adapt["points"] if p["on"] == options.get("on", "target")]
    targets = list(dict.fromkeys(p["target"] for p in points))
    fig, axes = _axes(len(targets), 4.0 * len(targets), 3.2)
    for ax, target in zip(axes, targets):
        mine = [p for p in points if p["target"] == target]
        layers = sorted({p["layer"] for p in mine})
        for layer in layers:
            at = [p for p in mine if p["layer"] == layer]
            _bar(ax, layer - 0.2, [100 * at[0]["accuracy_before"]], 0.4, label="before" if layer == layers[0] else None, color="C7")
            _bar(ax, layer + 0.2, [100 * p["accuracy"] for p in at], 0.4, label="after" if layer == layers[0] else None, color="C0")
        ax.set(title=target, xlabel="layer", ylabel="accuracy [%]", xticks=layers)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


FIGURES: dict[str, Callable[[Files, dict[str, str]], Any]] = {
    "mtl-layers": layers_figure, "mtl-tradeoff": tradeoff_figure, "mtl-coarse": coarse_figure,
    "mtl-unseen": unseen_figure, "mtl-routes": routes_figure, "slim-control": slim_figure, "adapt": adapt_figure}
