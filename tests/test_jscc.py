"""Multi-resolution JSCC model: causality of layers, power, shapes, checkpoints."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
import torch

import channels
from semcomm.methods.jscc import JSCCMethod, load_method
from semcomm.models import JSCCConfig
from semcomm.models.conv import MultiResJSCC
from semcomm.models.checkpoint import load_checkpoint, pretrained_names, save_checkpoint

CONFIGS = {
    "mnist": JSCCConfig.for_dataset("mnist", (20, 33, 49), arch="conv", width=16),
    "cifar10": JSCCConfig.for_dataset("cifar10", (171, 171, 171), arch="conv", width=16),
}


def model_for(dataset: str, seed: int = 0) -> MultiResJSCC:
    torch.manual_seed(seed)
    return MultiResJSCC(CONFIGS[dataset]).eval()


def images_for(dataset: str, batch: int = 6) -> torch.Tensor:
    return torch.rand((batch, *CONFIGS[dataset].image_shape), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("dataset", list(CONFIGS))
def test_shapes_and_unit_power_per_layer(dataset: str) -> None:
    model, x = model_for(dataset), images_for(dataset)
    cfg = CONFIGS[dataset]
    out = model(x, channels.get("awgn"), 10.0, generator=torch.Generator().manual_seed(0))
    assert len(out.recon) == len(out.tasks) == len(out.symbols) == cfg.num_layers
    for k, s, r, lg in zip(cfg.layer_symbols, out.symbols, out.recon, [t["class"] for t in out.tasks]):
        assert s.shape == (6, k) and s.is_complex()
        assert torch.allclose(s.abs().square().mean(-1), torch.ones(6), atol=1e-5)
        assert r.shape == x.shape and r.min() >= 0 and r.max() <= 1
        assert lg.shape == (6, 10)
    assert cfg.cumulative_ratios()[-1] == pytest.approx(sum(cfg.layer_symbols) / cfg.source_values)


@pytest.mark.parametrize("dataset", list(CONFIGS))
def test_layer_l_output_ignores_later_layers(dataset: str) -> None:
    """Perturbing the received symbols of layer l+1 leaves outputs 1..l unchanged (exactly)."""
    model, cfg = model_for(dataset), CONFIGS[dataset]
    x = torch.cat(model.encode(images_for(dataset)), dim=-1)
    mse = torch.full((6, 1), 0.05)
    recons, logits = model.receive(x, mse)
    bounds = [0, *torch.tensor(cfg.layer_symbols).cumsum(0).tolist()]
    for layer in range(cfg.num_layers - 1):
        y = x.clone()
        y[:, bounds[layer + 1] :] += 10 * torch.randn_like(y[:, bounds[layer + 1] :])
        r2, l2 = model.receive(y, mse)
        for j in range(layer + 1):
            assert torch.equal(r2[j], recons[j]) and torch.equal(l2[j], logits[j])
        assert not torch.equal(r2[layer + 1], recons[layer + 1])  # and the next layer does use it


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    model, x = model_for("mnist"), images_for("mnist")
    meta = {"model": model.config.to_dict(), "epoch": 3, "history": []}
    save_checkpoint(tmp_path, model, meta)
    loaded, meta2 = load_checkpoint(tmp_path)
    assert meta2 == meta and loaded.config == model.config
    ch = channels.get("rayleigh-block")
    a = model(x, ch, 5.0, generator=torch.Generator().manual_seed(2))
    b = loaded(x, ch, 5.0, generator=torch.Generator().manual_seed(2))
    for ra, rb in zip(a.recon, b.recon):
        assert torch.equal(ra, rb)
    method = load_method(str(tmp_path))
    assert isinstance(method, JSCCMethod) and method.dataset == "mnist"
    results = method.transmit(x, ch, 5.0, "perfect", torch.Generator().manual_seed(2))
    assert [r.ratio for r in results] == pytest.approx(model.config.cumulative_ratios())
    assert torch.allclose(results[2].recon, a.recon[2], atol=1e-5)  # channels-last convolutions: last-bit rounding


def test_non_safetensors_checkpoint_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "model.safetensors"
    torch.save({"weights": torch.zeros(3)}, bad)  # a pickle, not safetensors
    with pytest.raises(ValueError, match="not a safetensors checkpoint") as err:
        load_checkpoint(bad)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing")


def test_gradients_reach_every_layer_head() -> None:
    model = model_for("mnist").train()
    out = model(images_for("mnist"), channels.get("rayleigh-fast"), torch.tensor([0.0, 5, 10, 15, 20, 25]))
    sum(r.mean() for r in out.recon).backward()
    for head in model.encoder.heads:
        assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0


def test_bad_configs() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'svhn'"):
        JSCCConfig.for_dataset("svhn", (10,), arch="conv")
    with pytest.raises(ValueError, match="at least one layer"):
        JSCCConfig.for_dataset("mnist", (), arch="conv")
    with pytest.raises(ValueError, match="positive whole numbers"):
        JSCCConfig.for_dataset("mnist", (10, 0), arch="conv")
    with pytest.raises(ValueError, match="unknown JSCC architecture 'nope'; choose one of: conv, klt-refine"):
        JSCCConfig.for_dataset("mnist", (10,), arch="nope")
    with pytest.raises(ValueError, match="architecture 'conv' has no option route_cost"):
        JSCCConfig.for_dataset("mnist", (10,), arch="conv", route_cost=0.1)
    with pytest.raises(ValueError, match=r"takes 1-channel images"):
        model_for("mnist").encode(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match=r"takes 1x28x28 images only, not 1x32x32"):
        model_for("mnist").encode(torch.rand(2, 1, 32, 32))


@pytest.mark.parametrize("name", pretrained_names())
def test_shipped_models_load_and_match_their_cards(name: str) -> None:
    model, meta = load_checkpoint(name)
    card = json.loads((resources.files("semcomm") / "pretrained" / f"{name}.json").read_text())
    assert card["train"] == meta["train"] and card["model"] == meta["model"]
    assert JSCCConfig.from_dict(card["model"]) == model.config  # cards before the architectures' options load too
    assert card["command"].split("semcomm train ")[1] and card["seed"] == meta["train"]["seed"] and card["training_time_s"] > 0
    assert f"--layers {model.config.num_layers}" in card["command"] and f"--dataset {model.config.dataset}" in card["command"]
    out = model(torch.rand(2, *model.config.image_shape), channels.get("awgn"), 10.0, generator=torch.Generator().manual_seed(0))
    assert len(out.recon) == model.config.num_layers
