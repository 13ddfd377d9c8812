"""The ``klt-refine`` JSCC architecture and the architecture registry: the untrained model is
the linear scheme exactly, layers are causal, checkpoints name their architecture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import channels
from semcomm.models import JSCCConfig, MultiResJSCC
from semcomm.models.checkpoint import load_checkpoint, save_checkpoint
from semcomm.models.klt_jscc import KLTRefineJSCC
from semcomm.models.registry import ARCHITECTURES, build_model
from semcomm.models.softcast import SoftCast

CONFIG = JSCCConfig("mnist", (20, 30, 40), width=8, arch="klt-refine")


def random_softcast(config: JSCCConfig, seed: int = 0) -> SoftCast:
    """A SoftCast backbone on a random orthonormal basis with decaying eigenvalues (the
    configuration's split of power across layers)."""
    g = torch.Generator().manual_seed(seed)
    n, m = config.source_values, 2 * sum(config.layer_symbols)
    basis, _ = torch.linalg.qr(torch.randn(n, m, generator=g, dtype=torch.float64))
    eigvals = 0.5 * torch.arange(1, m + 1, dtype=torch.float64) ** -1.2
    return SoftCast(torch.full((n,), 0.4), basis.float(), eigvals.float(), config.layer_symbols, config.layer_power)


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
    config = JSCCConfig("mnist", (20, 30, 40), width=8, arch="klt-refine", layer_power=power)
    model, x = model_and_images(config=config)
    if power == "softcast":  # the layers' powers differ, the frame's is 1 per example
        layer_energy = [float(channels.average_power(s).mean()) for s in model(x, channels.get("awgn"), 5.0).symbols]
        assert layer_energy[0] > 1 > layer_energy[-1]
        assert sum(e * k for e, k in zip(layer_energy, config.layer_symbols)) == pytest.approx(sum(config.layer_symbols), rel=1e-5)
    ch = channels.get(channel)
    out = model(x, ch, 5.0, csi=csi, generator=torch.Generator().manual_seed(3))
    sc = model.softcast
    symbols, scales = sc.transmit(x)
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
TASKS_CONFIG = JSCCConfig("mnist", (20, 30, 40), width=8, arch="klt-refine", tasks="1:coarse2,recon;2:coarse4,recon;3:class,edges,recon")


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
    layer_of = model.softcast.layer_of_coefficient
    k_bounds = torch.tensor([0, *CONFIG.layer_symbols]).cumsum(0)
    for layer in range(CONFIG.num_layers - 1):
        c2, n2 = c_hat.clone(), noise.clone()
        c2[:, layer_of > layer] += 5.0
        n2[:, k_bounds[layer + 1] :] = 3.0
        out = model.receive(c2, n2)
        for j in range(layer + 1):
            assert torch.equal(out.recon[j], ref.recon[j]) and torch.equal(out.logits[j], ref.logits[j])
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
    loss = sum(((r - x) ** 2).mean() for r in out.recon) + sum(lg.logsumexp(-1).mean() for lg in out.logits)
    loss.backward()
    for name in ("gain_log", "tx_residual.out.weight", "refiner.out.weight", "classifier.0.weight"):
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
    config = JSCCConfig("mnist", (20, 30, 40), width=8, arch="klt-refine", layer_power="softcast")
    model, x = model_and_images(config=config)
    save_checkpoint(tmp_path, model, {"model": config.to_dict()})
    loaded, _ = load_checkpoint(tmp_path)
    assert loaded.config.layer_power == "softcast"
    assert torch.allclose(loaded.softcast.layer_powers(), model.softcast.layer_powers())
    a = model(x, channels.get("awgn"), 3.0, generator=torch.Generator().manual_seed(4)).recon
    b = loaded(x, channels.get("awgn"), 3.0, generator=torch.Generator().manual_seed(4)).recon
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert JSCCConfig.from_dict({k: v for k, v in CONFIG.to_dict().items() if k != "layer_power"}).layer_power == "equal"
    with pytest.raises(ValueError, match="'conv' architecture sends every layer at unit power"):
        build_model(JSCCConfig("mnist", (20,), arch="conv", layer_power="softcast"))


def test_checkpoint_without_architecture_key_loads_as_conv(tmp_path: Path) -> None:
    config = JSCCConfig("mnist", (10, 10), width=8)
    legacy = {k: v for k, v in config.to_dict().items() if k != "arch"}
    save_checkpoint(tmp_path, MultiResJSCC(config), {"model": legacy})
    loaded, _ = load_checkpoint(tmp_path)
    assert isinstance(loaded, MultiResJSCC) and loaded.config.arch == "conv"


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
    model = build_model(JSCCConfig("mnist", (4, 4), width=8), fresh=True)
    assert isinstance(model, MultiResJSCC)
