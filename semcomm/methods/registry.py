"""Method registry: ``get_method("analog", dataset="mnist")``, and :func:`resolve_method`, which
also accepts JSCC checkpoints (run directories, ``.safetensors`` files, pretrained names).

``linear`` (:class:`~semcomm.methods.linear.LinearMethod`) is registered too, but needs layer
sizes and a classifier: :func:`sweep_methods` builds it from the sweep's first JSCC model (or
``--ratio``), like the SSCC baselines.

A new method is one class and one :func:`register` call; the sweep and the CLI find it by name.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from semcomm.codecs import get as get_codec
from semcomm.data import DATASETS, DatasetInfo, dataset_info
from semcomm.methods.analog import UncodedAnalog
from semcomm.methods.base import Method
from semcomm.methods.jscc import JSCCMethod, load_method
from semcomm.methods.layered_sscc import OracleSSCC, ScalableSSCC
from semcomm.methods.linear import LinearMethod
from semcomm.methods.sscc import SSCCMethod
from semcomm.models.checkpoint import pretrained_names
from semcomm.models.klt import KLT
from semcomm.registry import Registry

__all__ = ["LINEAR", "METHODS", "SSCC", "SSCC_ORACLE", "SSCC_SCALABLE", "SSCCSpec", "get_method", "method_names", "register",
           "resolve_method", "sweep_methods"]

#: The ``--method`` entry that expands to one SSCC method per codec and link.
SSCC = "sscc"
#: Multi-resolution SSCC, layered like the sweep's first JSCC model (or ``--ratio``): an
#: independent encoding per cumulative budget (one per codec and link), and one scalable
#: JPEG 2000 stream cut into per-layer chunks (one per link).
SSCC_ORACLE, SSCC_SCALABLE = "sscc-oracle", "sscc-scalable"
_SSCC_KINDS = (SSCC, SSCC_ORACLE, SSCC_SCALABLE)
#: The multi-resolution linear analog reference, built with the sweep's layer sizes and classifier.
LINEAR = LinearMethod.name

METHODS: Registry[Method] = Registry("method", group="semcomm.methods", package="semcomm.methods")
"""Methods by name. A factory is called with ``dataset=``, the images' :class:`~semcomm.data.DatasetInfo`."""
register = METHODS.register
method_names = METHODS.names


def get_method(name: str, dataset: str | DatasetInfo | None = None) -> Method:
    """The method registered as ``name``, built for images of ``dataset`` (a registered name or a
    description; None for a method that needs none)."""
    return METHODS.get(name, dataset=None if dataset is None else dataset_info(dataset))


def resolve_method(source: str, dataset: str | DatasetInfo | None = None, name: str | None = None,
                   precision: str = "fp32") -> Method:
    """The method a sweep evaluates, from what the user typed.

    ``source`` is a registered method name (e.g. ``"analog"``, built with ``dataset=dataset``),
    else a JSCC checkpoint (:func:`semcomm.methods.jscc.load_method`).

    Args:
        source: a method name, a run directory or a pretrained model name.
        dataset: the images' dataset for a method that needs one; for a loaded model, None or
            the model's own dataset name (a description: any images the model takes).
        name: the label of a loaded model (default: its pretrained or run directory name).
        precision: a loaded model's (``"fp32"`` or ``"bf16"``, :class:`~semcomm.methods.jscc.JSCCMethod`).

    Raises:
        ValueError: one line, for an unknown source or a dataset mismatch.
    """
    if source in METHODS:
        return get_method(source, dataset)
    method = load_method(source, name, precision)
    if isinstance(dataset, str) and method.dataset != dataset:
        raise ValueError(f"{source!r} is a {method.dataset} model; it cannot be evaluated on {dataset}")
    return method


register(UncodedAnalog.name, UncodedAnalog)
register(LinearMethod.name, LinearMethod)


@dataclass(frozen=True)
class SSCCSpec:
    """The SSCC baselines a sweep adds: one method per codec and link.

    Attributes:
        codecs: codec names.
        links: link names.
        ratio: bandwidth ratio ``k/n``, or None for the first JSCC model's total ratio.
        classifier: JSCC model whose top-layer head scores the reconstructions (of SSCC and of
            ``linear``), or None for the first JSCC model of the sweep whose top layer was
            trained for the class, else the pretrained ``"<dataset>-l3"``.
    """

    codecs: list[str]
    links: list[str]
    ratio: float | None = None
    classifier: str | None = None


def _classifier(spec: SSCCSpec, dataset: str, models: list[JSCCMethod]) -> tuple[JSCCMethod | None, str | None]:
    if spec.classifier is not None:
        model = load_method(spec.classifier)
        if models and model.dataset != models[0].dataset or not models and model.dataset != dataset:
            raise ValueError(f"--classifier {spec.classifier!r} is a {model.dataset} model, not "
                             f"{models[0].dataset if models else dataset}")
        if not model.has_classifier:
            raise ValueError(f"--classifier {spec.classifier!r} was not trained for the class at its top layer "
                             f"(tasks {model.model.config.tasks!r}); give a model that was")
        return model, spec.classifier
    trained = [m for m in models if m.has_classifier]
    if trained:  # in float32 whatever the precision the model is evaluated at
        first = trained[0]
        return (first if first.precision == "fp32" else load_method(str(first.source))), first.source
    default = f"{models[0].dataset if models else dataset}-l3"  # the pretrained models' naming
    return (load_method(default), default) if default in pretrained_names() else (None, None)


def _layer_ratios(what: str, layer_ratios: tuple[float, ...] | None, models: list[JSCCMethod]) -> tuple[float, ...]:
    """Layer ratios ``k_l / n`` of ``what`` (``linear``, a layered SSCC): ``--ratio`` (one k/n per
    layer) if given, else the first JSCC model's."""
    if layer_ratios:
        return tuple(layer_ratios)
    if models:
        return models[0].layer_ratios()
    raise ValueError(f"--method {what} needs its layer sizes: give a JSCC model to match or --ratio with one k/n "
                     "per layer (e.g. 1/18,1/18,1/18)")


def _backbone_klt(model: JSCCMethod) -> KLT | None:
    """The KLT of a JSCC model's linear backbone (its ``softcast``), or None."""
    softcast = getattr(model.model, "softcast", None)
    if softcast is None:
        return None
    return KLT(model.model.config.dataset, tuple(softcast.tile_shape), softcast.mean.detach().cpu(),
               softcast.basis.detach().cpu(), softcast.eigvals.detach().cpu(),
               {"backbone of": model.name, "sha256": model.sha256})


def _build_linear(layer_ratios: tuple[float, ...] | None, ds: DatasetInfo, models: list[JSCCMethod], data_root: str | None,
                  classifier: tuple[JSCCMethod | None, str | None]) -> LinearMethod:
    """``linear`` with the first JSCC model's layers and, when it has one, its backbone's KLT
    (the same tiles; no data root needed), else with ``--ratio`` and the dataset's KLT."""
    model, model_name = classifier
    common = {"classifier": None if model is None else model.classify, "classifier_name": model_name,
              "class_names": None if model is None else model.class_names}
    if models and not layer_ratios:
        first = models[0]
        klt = _backbone_klt(first)
        power = getattr(first.model.config.options, "layer_power", "equal")
        if klt is not None:
            return LinearMethod(first.model.config.dataset, tuple(first.model.config.layer_symbols), klt=klt,
                                layer_power=power, **common)
        return LinearMethod(first.model.config.dataset, tuple(first.model.config.layer_symbols), data_root=data_root,
                            layer_power=power, **common)
    ratios = _layer_ratios(LINEAR, layer_ratios, models)
    base = models[0].model.config.dataset if models else ds.name
    info = dataset_info(base)
    if info.image_shape is None:
        raise ValueError(f"--method linear fits its KLT on a training split of one image size; {base} has none: "
                         "give a JSCC model with a linear backbone, or --dataset with such a split")
    n = info.image_shape[0] * info.image_shape[1] * info.image_shape[2]
    from semcomm.models.base import symbols_for_ratio

    return LinearMethod(base, tuple(symbols_for_ratio(r, n) for r in ratios), data_root=data_root, **common)


def sweep_methods(
    sources: list[str],
    extra: list[str],
    sscc: SSCCSpec,
    dataset: str | None,
    layer_ratios: tuple[float, ...] | None = None,
    data_root: str | None = None,
    names: list[str] | None = None,
    images: DatasetInfo | None = None,
    precision: str = "fp32",
) -> list[Method]:
    """The methods of a sweep, from what the user typed.

    Args:
        sources: JSCC checkpoints (run directories, files, pretrained names) or method names.
        extra: names from ``--method``: :data:`SSCC` (one :class:`SSCCMethod` per codec and
            link of ``sscc``), :data:`SSCC_ORACLE` (one :class:`OracleSSCC` per codec and
            link), :data:`SSCC_SCALABLE` (one :class:`ScalableSSCC` per link), :data:`LINEAR`
            or other registered method names.
        sscc: the SSCC settings (its classifier also scores ``linear``).
        dataset: the dataset, or None for the JSCC models' own.
        layer_ratios: bandwidth ratio ``k_l/n`` of each layer of ``linear`` and the layered
            SSCCs, or None for the first JSCC model's layers (and, for ``linear``, its split of
            power across layers and its backbone's KLT).
        data_root: where ``linear`` fits its KLT if it is not cached (None: ``$SEMCOMM_DATA``,
            else the shipped KLT; ``"embedded"``: the shipped KLT).
        names: labels of the JSCC models of ``sources``, in order (default: their pretrained
            or run directory names).
        images: the description of other images to send (a folder's: ``--images``) instead of
            ``dataset``'s; the JSCC models may then be of any dataset whose images they take.
        precision: the JSCC models' (``"fp32"``, ``"bf16"``); the classifier that scores SSCC
            and ``linear`` stays float32.

    Raises:
        ValueError: one line, for nothing to sweep, an unknown name, mixed datasets, a missing
            dataset, ratio or KLT, or two methods with the same name.
    """
    checkpoints = [s for s in sources if s not in METHODS]
    if names is not None and len(names) != len(checkpoints):
        raise ValueError(f"--name gives {len(names)} names for {len(checkpoints)} JSCC models; give one per model, in order")
    models = [resolve_method(s, dataset if images is None else None, name, precision)
              for s, name in zip(checkpoints, names or [None] * len(checkpoints))]
    named = [s for s in sources if s in METHODS] + [e for e in extra if e not in _SSCC_KINDS]
    if images is None:
        datasets = {m.dataset for m in models} | ({dataset} if dataset else set())
        if len(datasets) > 1:
            raise ValueError(f"the methods of one sweep must share a dataset, got {', '.join(sorted(datasets))}")
        if not datasets and (named or set(_SSCC_KINDS) & set(extra)):
            raise ValueError("give --dataset or a JSCC model")
        name = datasets.pop() if datasets else None
        if name is not None and name not in DATASETS:
            raise ValueError(f"the model was trained on {name!r}, a folder of images or a dataset this semcomm does not "
                             "know: give the images to send with --images DIR")
        ds = dataset_info(name) if name is not None else None
    else:
        ds = images
    classifier = functools.cache(lambda: _classifier(sscc, ds.name, models))  # loaded once, if needed

    def build(name: str) -> Method:
        if name != LINEAR:
            return get_method(name, ds)
        return _build_linear(layer_ratios, ds, models, data_root, classifier())

    methods: list[Method] = list(models) + [build(name) for name in named]
    if SSCC in extra:
        if sscc.ratio is not None:
            ratio = sscc.ratio
        elif models:
            ratio = models[0].ratio
        else:
            raise ValueError("--method sscc needs --ratio (or a JSCC model to match)")
        model, model_name = classifier()
        common = {"classifier": None if model is None else model.classify, "classifier_name": model_name,
                  "class_names": None if model is None else model.class_names}
        shared = {codec: get_codec(codec) for codec in sscc.codecs}  # one instance per codec: each image encoded once
        methods += [SSCCMethod(shared[codec], link, ds, ratio, **common) for codec in sscc.codecs for link in sscc.links]
    for kind in (SSCC_ORACLE, SSCC_SCALABLE):
        if kind in extra:
            ratios = _layer_ratios(kind, layer_ratios, models)
            model, model_name = classifier()
            common = {"classifier": None if model is None else model.classify, "classifier_name": model_name,
                      "class_names": None if model is None else model.class_names}
            if kind == SSCC_ORACLE:
                methods += [OracleSSCC(codec, link, ds, ratios, **common) for codec in sscc.codecs for link in sscc.links]
            else:
                methods += [ScalableSSCC(link, ds, ratios, **common) for link in sscc.links]
    if not methods:
        raise ValueError("nothing to sweep: give a JSCC model, a method name (analog, linear) or --method sscc")
    names = [m.name for m in methods]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"two methods of the sweep are named {', '.join(twice)}; name the JSCC models apart with "
                         "--name (one per model) or sweep them into separate files")
    return methods
