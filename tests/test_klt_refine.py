"""The ``klt-refine`` JSCC architecture and the architecture registry: the untrained model is
the linear scheme exactly, layers are causal, checkpoints name their architecture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import torch.nn.functional as F

import channels
from semcomm.models import ARCHITECTURES, JSCCConfig, build_model
from semcomm.models.checkpoint import load_checkpoint, save_checkpoint
from semcomm.models.conv import MultiResJSCC
from semcomm.models.klt_refine import KLTRefineJSCC
from semcomm.models.softcast import SoftCast

CONFIG = JSCCConfig.for_dataset("mnist", (20, 30, 40), arch="klt-refine", width=8)


def random_softcast(config: JSCCConfig, seed: int = 0) -> SoftCast:
    """A SoftCast backbone on a random orthonormal basis with decaying eigenvalues (the
    configuration's split of power across layers)."""
    g = torch.Generator().manual_seed(seed)
    n, m = config.source_values, 2 * sum(config.layer_symbols)
    basis, _ = torch.linalg.qr(torch.randn(n, m, generator=g, dtype=torch.float64))
    eigvals = 0.5 * torch.arange(1, m + 1, dtype=torch.float64) ** -1.2
    return SoftCast(torch.full((n,), 0.4), basis.float(), eigvals.float(), config.layer_symbols, config.options.layer_power,
                    tile_shape=config.image_shape)


def model_and_images(seed: int = 0, config: JSCCConfig = CONFIG) -> tuple[KLTRefineJSCC, torch.Tensor]:
    torch.manual_seed(seed)
    model = KLTRefineJSCC(config, random_softcast(config)).eval()
    x = torch.rand((5, *CONFIG.image_shape), generator=torch.Generator().manual_seed(1))
    return model, x


@pytest.mark.parametrize("csi,channel,power", [("perfect", "awgn", "equal"), ("perfect", "rayleigh-block", "equal"),
                                              ("none", "rician", "equal"), ("perfect", "awgn", "softcast"),
                                              ("none", "rician", "softcast")])
def test_untrained_model_is_the_linear_scheme(csi: str, channel: str, power: str) -> None:
    """Every learned part starts at zero: outputs equal KLT + SoftCast + LMMSE, layer by layer."""
    config = JSCCConfig.for_dataset("mnist", (20, 30, 40), arch="klt-refine", width=8, layer_power=power)
    model, x = model_and_images(config=config)
    if power == "softcast":  # the layers' powers differ, the frame's is 1 per example
        with torch.no_grad():
            layer_energy = [float(channels.average_power(s).mean()) for s in model(x, channels.get("awgn"), 5.0).symbols]
        assert layer_energy[0] > 1 > layer_energy[-1]
        assert sum(e * k for e, k in zip(layer_energy, config.layer_symbols)) == pytest.approx(sum(config.layer_symbols), rel=1e-5)
    ch = channels.get(channel)
    out = model(x, ch, 5.0, csi=csi, generator=torch.Generator().manual_seed(3))
    sc = model.softcast
    symbols, scales, _ = sc.transmit(x)
    rx_out = ch(symbols, 5.0, generator=torch.Generator().manual_seed(3))
    if csi == "none":
        c_hat = sc.estimate_none(rx_out.y, rx_out.noise_var, scales, ch.mean_gain)
    else:
        rx = channels.receive(rx_out, csi)
        c_hat = sc.estimate(rx.x_hat, rx.noise_var, scales)
    for layer, mask in enumerate(sc.layer_masks()):
        linear = sc.synthesise(c_hat * mask, config.image_shape).clamp(0, 1)
        assert torch.allclose(out.recon[layer], linear, atol=1e-5)


#: A task layout with a head task per layer (coarse to fine, plus a proxy cue at the top).
TASKS_CONFIG = JSCCConfig.for_dataset("mnist", (20, 30, 40), arch="klt-refine", tasks="1:coarse2,recon;2:coarse4,recon;3:class,edges,recon",
                                      width=8)


def test_layer_l_output_ignores_later_layers() -> None:
    model, x = model_and_images(config=TASKS_CONFIG)
    with torch.no_grad():  # give the refiner a non-zero output so the test bites
        model.refiner.out.weight.normal_(0, 0.1)
    symbols, scales = model.encode(x)
    noise = torch.full(symbols.shape, 0.1)
    c_hat = model.softcast.estimate(symbols, noise, scales, model.gains())
    ref = model.receive(c_hat, noise)
    assert [sorted(t) for t in ref.tasks] == [["coarse2"], ["coarse4"], ["class", "edges"]]
    assert [tuple(t.shape) for layer in ref.tasks for t in layer.values()] == [(5, 2), (5, 4), (5, 10), (5, 64)]
    assert_causal(model, c_hat, noise)


def assert_causal(model: KLTRefineJSCC, c_hat: torch.Tensor, noise: torch.Tensor) -> None:
    """Changing layers ``l+1..L`` (their coefficients and noise levels) leaves the images and
    task outputs of layers ``1..l`` bit for bit, and changes layer ``l+1``'s."""
    ref = model.receive(c_hat, noise)
    layer_of = model.softcast.layer_of_coefficient
    k_bounds = torch.tensor([0, *model.config.layer_symbols]).cumsum(0)
    for layer in range(model.config.num_layers - 1):
        c2, n2 = c_hat.clone(), noise.clone()
        c2[:, layer_of > layer] += 5.0
        n2[:, k_bounds[layer + 1] :] = 3.0
        out = model.receive(c2, n2)
        for j in range(layer + 1):
            assert torch.equal(out.recon[j], ref.recon[j])
            assert all(torch.equal(out.tasks[j][t], ref.tasks[j][t]) for t in ref.tasks[j])
        assert not torch.equal(out.recon[layer + 1], ref.recon[layer + 1])


def test_decode_layers_matches_full_decoding() -> None:
    model, x = model_and_images()
    with torch.no_grad():
        model.refiner.out.weight.normal_(0, 0.1)
    symbols, scales = model.encode(x)
    c_hat = model.softcast.estimate(symbols, torch.tensor(0.2), scales, model.gains())
    full = model.receive(c_hat, torch.tensor(0.2)).recon
    pick = torch.tensor([2, 0, 1, 2, 0])
    some = model.receive(c_hat, torch.tensor(0.2), pick).recon
    for layer in range(3):
        assert torch.allclose(some[layer], full[layer][pick == layer], atol=1e-6)


def test_every_learned_part_gets_a_gradient() -> None:
    model, x = model_and_images()
    out = model(x, channels.get("awgn"), 10.0, generator=torch.Generator().manual_seed(0))
    loss = sum(((r - x) ** 2).mean() for r in out.recon) + sum(t["class"].logsumexp(-1).mean() for t in out.tasks)
    loss.backward()
    for name in ("gain_log", "tx_residual.out.weight", "refiner.out.weight", "task_heads.class.0.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_checkpoint_names_its_architecture_and_round_trips(tmp_path: Path) -> None:
    model, x = model_and_images()
    with torch.no_grad():
        model.refiner.out.weight.normal_(0, 0.1)
    save_checkpoint(tmp_path, model, {"model": CONFIG.to_dict()})
    assert json.loads((tmp_path / "config.json").read_text())["model"]["arch"] == "klt-refine"
    loaded, _ = load_checkpoint(tmp_path)
    assert isinstance(loaded, KLTRefineJSCC)
    g = lambda: torch.Generator().manual_seed(4)  # noqa: E731
    a = model(x, channels.get("awgn"), 3.0, generator=g()).recon
    b = loaded(x, channels.get("awgn"), 3.0, generator=g()).recon
    assert all(torch.equal(p, q) for p, q in zip(a, b))


def test_layer_power_round_trips_and_old_checkpoints_split_power_equally(tmp_path: Path) -> None:
    config = JSCCConfig.for_dataset("mnist", (20, 30, 40), arch="klt-refine", width=8, layer_power="softcast")
    model, x = model_and_images(config=config)
    save_checkpoint(tmp_path, model, {"model": config.to_dict()})
    loaded, _ = load_checkpoint(tmp_path)
    assert loaded.config.options.layer_power == "softcast"
    assert torch.allclose(loaded.softcast.layer_powers(), model.softcast.layer_powers())
    a = model(x, channels.get("awgn"), 3.0, generator=torch.Generator().manual_seed(4)).recon
    b = loaded(x, channels.get("awgn"), 3.0, generator=torch.Generator().manual_seed(4)).recon
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert JSCCConfig.from_dict({k: v for k, v in CONFIG.to_dict().items() if k != "layer_power"}).options.layer_power == "equal"
    with pytest.raises(ValueError, match="architecture 'conv' has no option layer_power"):
        build_model(JSCCConfig.for_dataset("mnist", (20,), arch="conv", layer_power="softcast"))


def test_checkpoint_without_architecture_key_loads_as_conv(tmp_path: Path) -> None:
    config = JSCCConfig.for_dataset("mnist", (10, 10), arch="conv", width=8)
    legacy = {"dataset": "mnist", "layer_symbols": [10, 10], "width": 8, "layer_power": "equal", "tasks": None,
              "proxy_attention": False, "proxy_weight": 0.1}  # the flat config of the first checkpoints
    save_checkpoint(tmp_path, MultiResJSCC(config), {"model": legacy})
    loaded, _ = load_checkpoint(tmp_path)
    assert isinstance(loaded, MultiResJSCC) and loaded.config == config


def test_old_checkpoint_with_a_separate_classifier_loads_into_the_class_head(tmp_path: Path) -> None:
    """Checkpoints before ``class`` was an ordinary task hold its head as ``classifier.*``."""
    model, x = model_and_images()
    weights = {("classifier." + k[len("task_heads.class."):]) if k.startswith("task_heads.class.") else k: v
               for k, v in model.state_dict().items()}
    legacy = {"dataset": "mnist", "layer_symbols": [20, 30, 40], "width": 8, "arch": "klt-refine"}
    save_file(weights, str(tmp_path / "model.safetensors"), metadata={"semcomm": json.dumps({"model": legacy})})
    loaded, _ = load_checkpoint(tmp_path)
    assert torch.equal(loaded.task_heads["class"][0].weight, model.task_heads["class"][0].weight)


def test_unknown_architecture_is_one_line(tmp_path: Path) -> None:
    weights = {"x": torch.zeros(1)}
    meta = {"model": {"dataset": "mnist", "layer_symbols": [4], "width": 8, "arch": "transformer-xl"}}
    save_file(weights, str(tmp_path / "model.safetensors"), metadata={"semcomm": json.dumps(meta)})
    with pytest.raises(ValueError) as err:
        load_checkpoint(tmp_path)
    message = str(err.value)
    assert "\n" not in message and "transformer-xl" in message
    assert all(name in message for name in ARCHITECTURES.names())


def test_build_model_fresh_conv_needs_no_data() -> None:
    model = build_model(JSCCConfig.for_dataset("mnist", (4, 4), arch="conv", width=8), fresh=True)
    assert isinstance(model, MultiResJSCC)


@pytest.mark.parametrize("height,width", [(56, 84), (30, 50)])
def test_any_size_image_is_sent_tile_by_tile(height: int, width: int) -> None:
    """An image of another size is cut into 28 x 28 tiles (edges replicated): each layer carries
    T k_l symbols at the layer's power per tile, the ratio stays k_l / n per tile, and at 100 dB
    the untrained model outputs every tile's projection on the KLT subspace of layers 1..l."""
    model, _ = model_and_images()
    x = torch.rand((2, 1, height, width), generator=torch.Generator().manual_seed(5))
    rows, cols = -(-height // 28), -(-width // 28)
    out = model(x, channels.get("awgn"), 100.0, generator=torch.Generator().manual_seed(0))
    assert model.channel_uses((1, height, width)) == [rows * cols * k for k in CONFIG.layer_symbols]
    assert [s.shape[-1] for s in out.symbols] == model.channel_uses((1, height, width))
    for layer_symbols in out.symbols:
        tiles = layer_symbols.unflatten(-1, (rows * cols, -1))  # layer l of every tile, tile-major
        assert torch.allclose(channels.average_power(tiles), torch.ones(2, rows * cols, 1), atol=1e-4)
    padded = F.pad(x, (0, cols * 28 - width, 0, rows * 28 - height), mode="replicate")
    tiles = padded.unflatten(2, (rows, 28)).unflatten(4, (cols, 28)).permute(0, 2, 4, 1, 3, 5).flatten(3)  # [B, R, Q, n]
    sc = model.softcast
    for layer, k in enumerate(torch.tensor(CONFIG.layer_symbols).cumsum(0).tolist()):
        basis = sc.basis[:, : 2 * k]
        projected = (tiles - sc.mean) @ basis @ basis.T + sc.mean  # [B, R, Q, n]
        image = projected.unflatten(3, (1, 28, 28)).permute(0, 3, 1, 4, 2, 5).reshape(2, 1, rows * 28, cols * 28)
        assert out.recon[layer].shape == x.shape
        assert torch.allclose(out.recon[layer], image[..., :height, :width].clamp(0, 1), atol=2e-3)
