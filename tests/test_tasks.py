"""Receiver-side task plugins: the layout parser and its errors, the concept hierarchy, and the
proxy cues against hand-computed values."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from semcomm.data import dataset_info, load_sample
from semcomm.tasks import TASKS, TaskLayout, coarsen, get_task, parse_layout, sobel_magnitude


def test_layout_parses_and_round_trips() -> None:
    layout = parse_layout(" 1: coarse2 ,recon; 2:coarse4,recon;3:class,recon,edges", 3)
    assert layout.layers == (("coarse2", "recon"), ("coarse4", "recon"), ("class", "recon", "edges"))
    assert layout.head_tasks() == ["coarse2", "coarse4", "class", "edges"]
    assert parse_layout(layout.spec(), 3) == layout
    assert TaskLayout.default(2).layers == (("recon", "class"), ("recon", "class"))


@pytest.mark.parametrize(("spec", "message"), [
    ("1:class;2:recon;3:nope", "unknown task 'nope'; choose one of: recon, class, coarse2, coarse4, edges, thumb, colour"),
    ("1:class;4:recon", "--tasks puts tasks on layer 4, but the model has layers 1..3"),
    ("1:class;1:recon;2:recon;3:recon", "--tasks gives layer 1 twice"),
    ("1:class;3:recon", "--tasks gives no task for layer 2"),
    ("class,recon", "bad --tasks 'class,recon': expected LAYER:TASK"),
    ("1:class;;2:recon", "bad --tasks"),
])
def test_bad_layouts_are_one_line(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_layout(spec, 3)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_concepts_form_a_hierarchy_and_coarsen_sums_probabilities(dataset: str) -> None:
    fine_to_4 = dataset_info(dataset).concepts["coarse4"][1]
    fine_to_2 = dataset_info(dataset).concepts["coarse2"][1]
    via_4 = {}
    for cls in range(10):  # each coarse4 group lies inside one coarse2 group
        assert via_4.setdefault(fine_to_4[cls], fine_to_2[cls]) == fine_to_2[cls]
    assert set(fine_to_4) == set(range(4)) and set(fine_to_2) == {0, 1}
    probs = torch.softmax(torch.randn(5, 10, generator=torch.Generator().manual_seed(0)), -1)
    grouped = coarsen(probs, fine_to_2, 2)
    assert torch.allclose(grouped.sum(-1), torch.ones(5))
    assert torch.allclose(grouped[:, 1], probs[:, [c for c in range(10) if fine_to_2[c] == 1]].sum(-1))
    labels = torch.arange(10)
    assert get_task("coarse4", dataset).target(torch.zeros(10, 1, 2, 2), labels).tolist() == list(fine_to_4)


def test_a_finer_head_scores_every_coarser_concept() -> None:
    logits = torch.full((3, 10), -10.0)
    logits[0, 3] = 5.0  # a confident cat (mammal, animal)
    logits[1, [1, 9]] = 2.0  # automobile or truck: a road vehicle either way
    logits[1, 2] = 2.5  # ... but bird is the single top class
    logits[2, 8] = 5.0  # a ship
    labels = torch.tensor([5, 9, 0])  # dog, truck, airplane
    scores = get_task("class", "cifar10").scores(logits, labels)
    assert scores["accuracy"].tolist() == [0, 0, 0]
    assert scores["coarse4 accuracy"].tolist() == [1, 1, 1]  # mammal; road vehicle (4.5 vs 2.5); other vehicle
    assert scores["coarse2 accuracy"].tolist() == [1, 1, 1]
    four = get_task("coarse4", "cifar10")
    assert four.scores(torch.tensor([[0.0, 2.0, 3.0, 0.0]]), torch.tensor([0]))["coarse2 accuracy"].tolist() == [0]  # animal
    assert four.scores(torch.tensor([[2.0, 3.0, 0.0, 0.0]]), torch.tensor([0]))["coarse2 accuracy"].tolist() == [1]
    assert set(get_task("coarse2", "cifar10").scores(torch.zeros(1, 2), torch.tensor([0]))) == {"accuracy"}


def test_cifar10_concepts_are_the_documented_ones() -> None:
    names = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    groups, of = dataset_info("cifar10").concepts["coarse4"]
    assert {n for n, g in zip(names, of) if groups[g] == "road vehicle"} == {"automobile", "truck"}
    assert {n for n, g in zip(names, of) if groups[g] == "mammal"} == {"cat", "deer", "dog", "horse"}
    groups, of = dataset_info("cifar10").concepts["coarse2"]
    assert {n for n, g in zip(names, of) if groups[g] == "vehicle"} == {"airplane", "automobile", "ship", "truck"}


def test_sobel_magnitude_of_a_step_edge_and_the_proxy_cues() -> None:
    step = torch.zeros(1, 1, 8, 8)
    step[..., 4:] = 1.0
    mag = sobel_magnitude(step)[0, 0]
    assert torch.equal(mag[:, 3], torch.full((8,), 4.0)) and torch.equal(mag[:, 4], torch.full((8,), 4.0))
    assert float(mag[:, [0, 1, 2, 5, 6, 7]].abs().max()) == 0.0
    rgb = torch.zeros(2, 3, 32, 32)
    rgb[:, 0] = 0.25
    rgb[1, 2, :, 16:] = 1.0  # image 2: blue on the right half
    colour = get_task("colour", "cifar10").target(rgb, torch.zeros(2, dtype=torch.long))
    assert torch.allclose(colour[0], torch.tensor([0.25, 0.0, 0.0, 0.0, 0.0, 0.0]))
    assert torch.allclose(colour[1], torch.tensor([0.25, 0.0, 0.5, 0.0, 0.0, 0.5]))
    thumb = get_task("thumb", "cifar10").target(rgb, torch.zeros(2, dtype=torch.long)).view(2, 3, 8, 8)
    assert torch.equal(thumb[1, 2, :, :4], torch.zeros(8, 4)) and torch.equal(thumb[1, 2, :, 4:], torch.ones(8, 4))
    assert float(get_task("edges", "cifar10").target(rgb[:1], torch.zeros(1, dtype=torch.long)).abs().max()) < 1e-6  # flat


@pytest.mark.parametrize("name", TASKS.names())
@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_every_task_scores_a_perfect_prediction_best(name: str, dataset: str) -> None:
    task = get_task(name, dataset)
    shape = (1, 28, 28) if dataset == "mnist" else (3, 32, 32)
    images, labels = torch.rand(6, *shape), torch.arange(6)
    target = task.target(images, labels)
    perfect = torch.nn.functional.one_hot(target, task.outputs).float() * 20 if target.dtype == torch.long else target
    worse = perfect.roll(1, 0)
    best, other = task.scores(perfect, target)[task.metric].mean(), task.scores(worse, target)[task.metric].mean()
    assert (best > other) if task.higher_is_better else (best < other)
    assert task.loss(perfect, target) < task.loss(worse, target)


def test_layer_losses_follow_the_layout() -> None:
    import channels
    from semcomm.learn import TrainConfig
    from semcomm.learn.data import FitImages
    from semcomm.learn.loop import batch_losses
    from semcomm.models import build_model

    cfg = TrainConfig(dataset="mnist", ratios=(2 / 98, 2 / 98), data_root="embedded", options={"width": 8}, arch="klt-refine",
                      sample_layers=False, tasks="1:coarse2;2:class,thumb,recon")
    model = build_model(cfg.model_config(), FitImages("mnist", load_sample("mnist").images, shipped=True), fresh=True)
    images, labels = torch.rand(6, 1, 28, 28), torch.arange(6)
    losses = batch_losses(model, images, labels, cfg, channels.get("awgn"), torch.Generator().manual_seed(0))
    assert float(losses.distortion[0]) == 0.0 and not losses.distortion[0].requires_grad  # no recon on layer 1
    assert losses.distortion[1].requires_grad
    g = torch.Generator().manual_seed(0)  # the same draws as batch_losses: the SNRs, then the channel's
    snr = 20.0 * torch.rand(6, generator=g)
    out = model(images, channels.get("awgn"), snr, generator=g)
    coarse = get_task("coarse2", "mnist").target(images, labels)
    assert torch.allclose(losses.semantic[0], torch.nn.functional.cross_entropy(out.tasks[0]["coarse2"], coarse))
    thumb_loss = get_task("thumb", "mnist").loss(out.tasks[1]["thumb"], get_task("thumb", "mnist").target(images, labels))
    class_loss = torch.nn.functional.cross_entropy(out.tasks[1]["class"], labels)
    assert torch.allclose(losses.semantic[1], thumb_loss + class_loss)
    assert set(out.tasks[0]) == {"coarse2"} and out.tasks[0]["coarse2"].shape == (6, 2)
    assert losses.semantic[0].item() > 0 and losses.semantic[0].requires_grad
    assert coarse.tolist() == [0, 0, 0, 0, 0, 1]
    thumb = get_task("thumb", "mnist")
    assert set(out.tasks[1]) == {"class", "thumb"} and out.tasks[1]["thumb"].shape == (6, thumb.outputs)


def test_tasks_train_sweep_and_plot_from_the_cli(semcomm_cli, tmp_path: Path) -> None:
    import json

    run = semcomm_cli("train", "--data-root", "embedded", "--epochs", "1", "--width", "8",
                          "--limit", "128", "--val", "0", "--tasks", "1:coarse2,recon;2:class,edges,recon", "--layers", "2",
                          "--out", str(tmp_path / "run"))
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["tasks"] == "1:coarse2,recon;2:class,edges,recon"
    sweep = semcomm_cli("sweep", str(tmp_path / "run"), "--data-root", "embedded",
                            "--snr", "0,10", "--n-images", "64", "--out", str(tmp_path / "r.json"))
    assert sweep.returncode == 0, sweep.stderr
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["schema"] == 2
    by_layer = {r["layer"]: r for r in results["records"] if r["snr_db"] == 10}
    assert by_layer[1]["accuracy"] is None and set(by_layer[1]["tasks"]) == {"coarse2"}
    assert 0 <= by_layer[1]["tasks"]["coarse2"]["accuracy"] <= 1
    assert by_layer[2]["accuracy"] is not None and set(by_layer[2]["tasks"]) == {"class", "edges"}
    assert by_layer[2]["tasks"]["class"]["accuracy"] == by_layer[2]["accuracy"]
    assert set(by_layer[2]["tasks"]["class"]) == {"accuracy", "coarse4 accuracy", "coarse2 accuracy"}
    assert set(by_layer[1]["tasks"]["coarse2"]) == {"accuracy"}
    assert "coarse2 accuracy" in sweep.stdout
    plot = semcomm_cli("plot", str(tmp_path / "r.json"), "--out", str(tmp_path / "f.png"))
    assert plot.returncode == 0 and (tmp_path / "f.png").stat().st_size > 0, plot.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--tasks", "1:class;2:nope;3:recon"], "unknown task 'nope'"),
    (["--tasks", "1:class;2:recon;3:recon;4:recon"], "puts tasks on layer 4, but the model has layers 1..3"),
    (["--tasks", "1-class"], "bad --tasks '1-class'"),
    (["--tasks", "1:class;2:class;3:class", "--arch", "conv"], "--tasks needs an architecture with task heads"),
    (["--tasks", "1:class;2:class,recon;3:class,recon", "--weighting", "dwa", "--distortion", "mse"],
     "layer 1 has no recon or no other task"),
    (["--proxy-attention"], "--proxy-attention gates proxy cues: give one in the tasks (edges, thumb or colour)"),
    (["--proxy-weight", "0.5"], "--proxy-weight weighs the proxy branches of proxy attention: switch that on too"),
    (["--tasks", "1:class;2:class;3:class,recon", "--images", "UNLABELLED"], "task 'class' needs labelled images"),
    (["--tasks", "1:class,recon;2:class,recon;3:class,edges,recon", "--proxy-attention", "--proxy-weight", "0"],
     "bad --proxy-weight 0: it must be a number > 0"),
])
def test_bad_task_options_are_one_line(semcomm_cli, args: list[str], message: str, tmp_path: Path) -> None:

    if "UNLABELLED" in args:  # a folder of two images without class sub-folders
        from PIL import Image

        (tmp_path / "pics").mkdir()
        for i in range(2):
            Image.new("L", (28, 28), 40 * i).save(tmp_path / "pics" / f"{i}.png")
        args = [str(tmp_path / "pics") if a == "UNLABELLED" else a for a in args]
    result = semcomm_cli("train", "--data-root", "embedded", "--out", str(tmp_path / "r"),
                             *args)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and message in lines[0], result.stderr


def test_a_proxy_with_random_targets_gets_its_gate_driven_to_zero() -> None:
    from semcomm.tasks.proxy_attention import UncertaintyProxyAttention, gate_of

    torch.manual_seed(0)
    attention = UncertaintyProxyAttention(16, {"cue": 4, "noise": 4}, hidden=32)
    mix = torch.randn(16, 4)
    opt = torch.optim.Adam(attention.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(1)
    for _ in range(250):
        f = torch.randn(128, 16, generator=g)
        _, out = attention(f)
        loss = attention.loss("cue", out["cue"], f @ mix) + attention.loss("noise", out["noise"], torch.randn(128, 4, generator=g))
        opt.zero_grad()
        loss.backward()
        opt.step()
    attention.eval()
    _, out = attention(torch.randn(512, 16, generator=g))
    gates = {p: gate_of(out[p][:, -1]).mean().item() for p in out}
    assert gates["noise"] < 0.1 < 0.8 < gates["cue"], gates
    assert float(attention.cue_variance[1]) == pytest.approx(1.0, rel=0.1)  # the noise's variance


def test_proxy_branch_loss_is_the_weighted_uncertainty_nll() -> None:
    from semcomm.tasks.proxy_attention import UncertaintyProxyAttention, uncertainty_nll

    torch.manual_seed(0)
    attention = UncertaintyProxyAttention(16, {"cue": 4}, hidden=32, weight=0.25).eval()  # eval: V stays 1
    _, out = attention(torch.randn(8, 16))
    target = torch.randn(8, 4)
    expected = 0.25 * uncertainty_nll(out["cue"], target, torch.tensor(1.0))
    assert torch.allclose(attention.loss("cue", out["cue"], target), expected)


def test_a_proxy_attention_checkpoint_without_the_weight_key_reads_as_unweighted() -> None:
    from semcomm.learn import TrainConfig
    from semcomm.models import JSCCConfig
    from semcomm.models.klt_refine import KLTRefineOptions

    model = {"dataset": "mnist", "layer_symbols": [24, 24, 24], "width": 8, "arch": "klt-refine",
             "tasks": "1:class,recon;2:class,recon;3:class,edges,recon"}
    assert JSCCConfig.from_dict(model | {"proxy_attention": True}).options.proxy_weight == 1.0  # trained before the weight
    assert JSCCConfig.from_dict(model).options.proxy_weight == KLTRefineOptions.proxy_weight
    # a training config of the flat format, as checkpoints before the architectures' options hold it
    train = {"dataset": "mnist", "ratios": [3 / 98] * 3, "arch": "klt-refine", "tasks": model["tasks"], "width": 64,
             "proxy_attention": True, "snr_train": [0, 20], "ci_kd": True, "route_cost": 0.0}
    assert TrainConfig.from_dict(train).options["proxy_weight"] == 1.0  # so --resume refuses to switch it silently
    assert TrainConfig.from_dict(train).options == {"width": 64, "proxy_attention": True, "proxy_weight": 1.0}
    train["proxy_attention"] = False
    assert "proxy_weight" not in TrainConfig.from_dict(train).options


def test_untrained_proxy_attention_leaves_the_main_feature_unchanged_and_its_injections_learn() -> None:
    from semcomm.tasks.proxy_attention import UncertaintyProxyAttention

    torch.manual_seed(0)
    attention = UncertaintyProxyAttention(16, {"cue": 4}, hidden=32)
    f = torch.randn(8, 16)
    main, out = attention(f)
    assert torch.equal(main, f) and out["cue"].shape == (8, 5)
    main.square().sum().backward()  # a main-task loss reaches the injection, so a useful cue can join in
    assert attention.inject["cue"].weight.grad.abs().sum() > 0


def test_proxy_attention_trains_and_sweeps_with_its_gates(semcomm_cli, tmp_path: Path) -> None:
    import json

    spec = "1:class,recon;2:class,thumb,edges,recon"
    run = semcomm_cli("train", "--data-root", "embedded", "--epochs", "1", "--width", "8",
                          "--limit", "128", "--val", "0", "--layers", "2", "--tasks", spec, "--proxy-attention",
                          "--out", str(tmp_path / "run"))
    assert run.returncode == 0, run.stderr
    from semcomm.models.checkpoint import load_checkpoint

    model, meta = load_checkpoint(tmp_path / "run")
    assert meta["model"]["proxy_attention"] is True and model.proxy_attention.names == ["thumb", "edges"]
    assert set(model.task_heads) == {"class"}  # the proxies are branches of the attention, not plain heads
    assert bool(model.proxy_attention.seen.all())  # the running cue variances were fed
    sweep = semcomm_cli("sweep", str(tmp_path / "run"), "--data-root", "embedded",
                            "--snr", "10", "--n-images", "32", "--out", str(tmp_path / "r.json"))
    assert sweep.returncode == 0, sweep.stderr
    top = [r for r in json.loads((tmp_path / "r.json").read_text())["records"] if r["layer"] == 2][0]
    assert set(top["tasks"]["thumb"]) == {"mse", "gate"} and 0 <= top["tasks"]["thumb"]["gate"] < 1


def test_a_model_without_the_class_at_its_top_layer_does_not_score_the_baselines(tmp_path: Path) -> None:
    from semcomm.methods import SSCCSpec, sweep_methods
    from semcomm.models import JSCCConfig
    from semcomm.models.checkpoint import save_checkpoint
    from semcomm.models.klt import get_klt
    from semcomm.models.klt_refine import KLTRefineJSCC
    from semcomm.models.softcast import SoftCast

    config = JSCCConfig.for_dataset("mnist", (24, 24, 24), arch="klt-refine", tasks="1:class,recon;2:class,recon;3:coarse2,recon",
                                    width=8)
    klt = get_klt("mnist", "embedded")
    save_checkpoint(tmp_path / "run", KLTRefineJSCC(config, SoftCast(klt.mean, klt.basis, klt.eigvals, (24, 24, 24),
                                                                     tile_shape=(1, 28, 28))),
                    {"model": config.to_dict()})
    methods = sweep_methods([str(tmp_path / "run")], ["linear"], SSCCSpec([], []), None, data_root="embedded")
    assert methods[1].classifier_name == "mnist-l3"  # the pretrained model, not the coarse-topped one
    with pytest.raises(ValueError, match="was not trained for the class at its top layer"):
        sweep_methods(["mnist-l3"], ["linear"], SSCCSpec([], [], classifier=str(tmp_path / "run")), None, data_root="embedded")
