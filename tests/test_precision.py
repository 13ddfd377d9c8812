"""``--precision bf16``: the architectures' CNNs run in bfloat16 and hand float32 back, close to
float32 but not equal (it really ran), the rest of the model stays float32; an architecture that
names no such network is a one-line error; results files keep the precisions apart; the
classifier that scores SSCC stays float32; the model still pickles for Dask workers."""

from __future__ import annotations

import pickle

import pytest
import torch

import channels
from semcomm.methods import SSCCSpec
from semcomm.methods.jscc import JSCCMethod, load_method
from semcomm.methods.registry import _classifier
from semcomm.metrics import psnr
from semcomm.models import JSCCConfig, architecture
from semcomm.models.precision import set_precision
from test_klt_refine import random_softcast

KLT_ARCHITECTURES = ["klt-refine", "klt-cascade", "klt-slim"]


def stirred_model(arch: str) -> torch.nn.Module:
    """A small model of ``arch`` on a random backbone, every parameter moved off its (often zero)
    initial value, so the learned parts change the output."""
    extra = {"receiver_width": 8, "trunk_width": 16} if arch == "klt-cascade" else {}
    config = JSCCConfig.for_dataset("mnist", (20, 30, 40), arch=arch, width=8, layer_power="softcast", **extra)
    torch.manual_seed(0)
    model = architecture(arch)(config, random_softcast(config)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def decode(model: torch.nn.Module, images: torch.Tensor, snr_db: float = 10.0) -> list[torch.Tensor]:
    with torch.inference_mode():
        out = model(images, channels.get("awgn"), snr_db, generator=torch.Generator().manual_seed(3))
    return out.recon


@pytest.mark.parametrize("arch", KLT_ARCHITECTURES)
def test_bf16_runs_the_cnns_in_bfloat16_close_to_float32(arch: str) -> None:
    model = stirred_model(arch)
    images = torch.rand((6, 1, 28, 28), generator=torch.Generator().manual_seed(1))
    exact = decode(model, images)
    set_precision(model, "bf16")
    reduced = decode(model, images)
    for e, r in zip(exact, reduced):
        assert r.dtype == torch.float32
        assert not torch.equal(e, r)  # the CNNs did run in bfloat16
        gap = (psnr(r, images) - psnr(e, images)).abs().max()
        assert gap < 0.05, f"{arch}: bf16 moved a PSNR by {gap:.3f} dB"
    set_precision(model, "fp32")
    assert all(torch.equal(e, b) for e, b in zip(exact, decode(model, images)))  # back exactly as trained


@pytest.mark.parametrize("arch", ["conv", "klt-rmn"])
def test_an_architecture_without_reduced_precision_parts_is_one_line(arch: str) -> None:
    model = stirred_model(arch) if arch != "conv" else architecture("conv")(JSCCConfig.for_dataset("mnist", (20, 30), arch="conv", width=8))
    with pytest.raises(ValueError, match=rf"^--precision bf16: architecture '{arch}' runs in float32 only") as err:
        JSCCMethod(model, precision="bf16")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="unknown --precision 'fp16'; choose one of: fp32, bf16"):
        load_method("mnist-l3", precision="fp16")


def test_results_keep_precisions_apart_and_the_sscc_classifier_stays_float32() -> None:
    exact, reduced = load_method("mnist-l3"), load_method("mnist-l3", precision="bf16")
    assert "precision" not in exact.describe()  # a float32 file of an earlier version still resumes
    assert reduced.describe()["precision"] == "bf16"
    classifier, name = _classifier(SSCCSpec([], []), "mnist", [reduced])
    assert name == "mnist-l3" and classifier is not None and classifier.precision == "fp32"
    images = torch.rand((4, 1, 28, 28), generator=torch.Generator().manual_seed(2))
    assert torch.equal(classifier.classify(images), exact.classify(images))


def test_a_bf16_method_pickles_for_dask_workers() -> None:
    method = load_method("mnist-l3", precision="bf16")
    copy = pickle.loads(pickle.dumps(method))
    images = torch.rand((4, 1, 28, 28), generator=torch.Generator().manual_seed(4))
    a = method.transmit(images, channels.get("awgn"), 5.0, "perfect", torch.Generator().manual_seed(0))
    b = copy.transmit(images, channels.get("awgn"), 5.0, "perfect", torch.Generator().manual_seed(0))
    assert copy.precision == "bf16" and all(torch.equal(x.recon, y.recon) for x, y in zip(a, b))
