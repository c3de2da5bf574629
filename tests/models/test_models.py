"""Tests of :mod:`nngraph.models`."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn

from nngraph import models
from nngraph.datasets import Dataset, load_digits, load_two_digits
from nngraph.models import (
    CacheWarning,
    accuracy,
    default_cache_dir,
    mlp,
    pretrained,
    pretrained_data,
    small_cnn,
    train,
    two_digit_mlp,
)


@pytest.fixture(autouse=True)
def _no_home_cache(tmp_path, monkeypatch):
    """Never let a test write to ~/.cache, even through the default cache directory."""
    monkeypatch.setenv("NNGRAPH_CACHE_DIR", str(tmp_path / "default-cache"))


def _subset(data: Dataset, n_train: int = 200, n_test: int = 100) -> Dataset:
    return Dataset(
        data.x_train[:n_train],
        data.y_train[:n_train],
        data.x_test[:n_test],
        data.y_test[:n_test],
        data.n_classes,
        data.name,
    )


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return _subset(load_digits())


@pytest.fixture(scope="module")
def digits_images() -> Dataset:
    return _subset(load_digits(flatten=False))


@pytest.fixture(scope="module")
def two_digits() -> Dataset:
    return load_two_digits(n_train=300, n_test=100)


def _assert_state_dicts_equal(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def _states_differ(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return any(not torch.equal(sa[k], sb[k]) for k in sa if sa[k].is_floating_point())


# --------------------------------------------------------------------------- builders


def test_mlp_structure():
    model = mlp()
    assert isinstance(model, nn.Sequential)
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    assert [n for n, _ in linears] == ["0", "2", "4", "6", "8"]
    assert [(m.in_features, m.out_features) for _, m in linears] == [
        (64, 256),
        (256, 256),
        (256, 256),
        (256, 256),
        (256, 10),
    ]
    assert all(isinstance(model[i], nn.ReLU) for i in (1, 3, 5, 7))
    assert tuple(model(torch.zeros(5, 64)).shape) == (5, 10)


def test_mlp_dropout_and_options():
    model = mlp(10, (8, 6), 3, dropout=0.5)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert model[2].p == 0.5
    linear = mlp(7, (), 2)
    assert len(linear) == 1 and isinstance(linear[0], nn.Linear)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"in_features": 0}, ValueError),
        ({"hidden": (16, 0)}, ValueError),
        ({"hidden": 16}, TypeError),
        ({"hidden": "16"}, TypeError),
        ({"n_classes": 1.5}, ValueError),
        ({"dropout": 1.0}, ValueError),
        ({"dropout": -0.1}, ValueError),
        ({"dropout": "0.1"}, TypeError),
    ],
)
def test_mlp_bad_arguments(kwargs, error):
    with pytest.raises(error):
        mlp(**kwargs)


def test_small_cnn_structure():
    model = small_cnn().eval()
    assert isinstance(model.features, nn.Sequential)
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    assert convs == ["features.0", "features.3", "features.7"]
    assert isinstance(model.features[1], nn.BatchNorm2d)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 1
    assert isinstance(model.classifier, nn.Linear)
    assert model.classifier.in_features == 32
    assert tuple(model(torch.zeros(3, 1, 8, 8)).shape) == (3, 10)
    # Only standard torch.nn modules, and every parameter belongs to one of them.
    for name, module in model.named_modules():
        if name:
            assert type(module).__module__.startswith("torch.nn"), name
    assert not list(model.parameters(recurse=False))


def test_small_cnn_options():
    model = small_cnn(3, (4,), 5, dropout=0.3).eval()
    assert isinstance(model.dropout, nn.Dropout)
    assert tuple(model(torch.zeros(2, 3, 8, 8)).shape) == (2, 5)
    assert isinstance(small_cnn().dropout, nn.Identity)
    with pytest.raises(ValueError, match="channels"):
        small_cnn(channels=())


def test_two_digit_mlp_structure():
    model = two_digit_mlp()
    assert all(isinstance(m, (nn.Linear, nn.ReLU)) for m in model)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(128, 64), (64, 64), (64, 20)]
    assert tuple(model(torch.zeros(2, 128)).shape) == (2, 20)


@pytest.mark.parametrize(
    "build, shape", [(mlp, (2, 64)), (small_cnn, (2, 1, 8, 8)), (two_digit_mlp, (2, 128))]
)
def test_models_are_fx_traceable(build, shape):
    model = build().eval()
    traced = torch.fx.symbolic_trace(model)
    x = torch.rand(shape)
    torch.testing.assert_close(traced(x), model(x))


# --------------------------------------------------------------------------- train


def test_train_history_and_eval_mode(digits):
    model = mlp(hidden=(32,))
    history = train(model, digits, epochs=3, progress=False)
    assert not model.training
    assert len(history["train_loss"]) == 3 and history["epochs"] == 3
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert 0.0 <= history["test_accuracy"] <= 1.0
    assert history["test_accuracy"] == pytest.approx(accuracy(model, digits.x_test, digits.y_test))
    assert history["train_seconds"] >= 0
    json.dumps(history)  # serialisable, as stored in the sidecar


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_train_is_deterministic(kind, digits, digits_images):
    data = digits if kind == "mlp" else digits_images
    build = (
        (lambda: mlp(hidden=(32, 32), dropout=0.1))
        if kind == "mlp"
        else (lambda: small_cnn(channels=(4, 8)))
    )
    # Different initial weights: train() re-initialises from random_state anyway.
    torch.manual_seed(123)
    a = build()
    torch.manual_seed(456)
    b = build()
    ha = train(a, data, epochs=2, random_state=7, progress=False)
    hb = train(b, data, epochs=2, random_state=7, progress=False)
    _assert_state_dicts_equal(a, b)
    assert ha["train_loss"] == hb["train_loss"]
    c = build()
    train(c, data, epochs=2, random_state=8, progress=False)
    assert _states_differ(a, c)


def test_train_leaves_global_state_alone(digits):
    model = mlp(hidden=(16,), dropout=0.2)  # building a model draws from the global RNG
    torch.manual_seed(2024)
    state = torch.get_rng_state()
    threads = torch.get_num_threads()
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002 - the legacy global state
    train(model, digits, epochs=1, progress=False)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.get_num_threads() == threads
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002


def test_train_without_reinitialize_starts_from_current_weights(digits):
    a = mlp(hidden=(16,))
    b = mlp(hidden=(16,))
    b.load_state_dict(a.state_dict())
    train(a, digits, epochs=1, reinitialize=False, progress=False)
    train(b, digits, epochs=1, reinitialize=False, progress=False)
    _assert_state_dicts_equal(a, b)


def test_train_two_heads(two_digits):
    model = two_digit_mlp(hidden=(32,))
    history = train(model, two_digits, epochs=2, progress=False)
    heads = history["test_accuracy_heads"]
    assert len(heads) == 2
    assert history["test_accuracy"] == pytest.approx(np.mean(heads))
    assert 0.0 <= history["test_accuracy_all"] <= min(heads)
    assert history["test_accuracy"] == pytest.approx(
        accuracy(model, two_digits.x_test, two_digits.y_test)
    )


def test_train_progress_bar(digits, capsys):
    train(mlp(hidden=(8,)), digits, epochs=1, progress=True)
    assert "loss" in capsys.readouterr().err


def test_train_rejects_mismatched_logits(digits):
    with pytest.raises(ValueError, match="logits"):
        train(mlp(n_classes=5), digits, epochs=1, progress=False)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"epochs": 0},
        {"batch_size": 0},
        {"lr": 0.0},
        {"weight_decay": -1.0},
        {"random_state": -1},
        {"num_threads": 0},
    ],
)
def test_train_bad_arguments(kwargs, digits):
    with pytest.raises(ValueError):
        train(mlp(hidden=(8,)), digits, progress=False, **kwargs)


def test_train_bad_types(digits):
    with pytest.raises(TypeError):
        train(mlp(), (digits.x_train, digits.y_train), progress=False)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        train("model", digits, progress=False)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- accuracy


def test_accuracy_single_and_two_heads():
    model = nn.Linear(4, 4, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(4))
    x = torch.eye(4)
    assert accuracy(model, x, torch.tensor([0, 1, 2, 0])) == 0.75
    # Two heads of two classes: logits [:, :2] and [:, 2:].
    # Predictions per head: [0, 1, 0, 0] and [0, 0, 0, 1] (ties go to the first class).
    y = torch.tensor([[0, 1], [1, 1], [0, 0], [1, 1]])
    assert accuracy(model, x, y) == pytest.approx((3 / 4 + 2 / 4) / 2)


def test_accuracy_restores_mode():
    model = mlp(hidden=(4,), dropout=0.5).train()
    accuracy(model, torch.zeros(3, 64), torch.zeros(3, dtype=torch.int64))
    assert model.training


# --------------------------------------------------------------------------- cache

_TINY = {"hidden": (16,), "epochs": 1}


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("NNGRAPH_CACHE_DIR", str(tmp_path / "here"))
    assert default_cache_dir() == tmp_path / "here"
    monkeypatch.delenv("NNGRAPH_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "nngraph"


def test_pretrained_trains_saves_and_loads(tmp_path, monkeypatch):
    model, history = pretrained("mlp", cache_dir=tmp_path, return_history=True, **_TINY)
    assert not model.training
    checkpoints = sorted(tmp_path.glob("*.pt"))
    sidecars = sorted(tmp_path.glob("*.json"))
    assert len(checkpoints) == 1 and len(sidecars) == 1
    assert checkpoints[0].stem == sidecars[0].stem
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))
    meta = json.loads(sidecars[0].read_text())
    assert meta["config"]["name"] == "mlp"
    assert meta["config"]["builder"]["hidden"] == [16]
    assert meta["config"]["train"]["epochs"] == 1
    assert meta["config"]["torch"] == ".".join(torch.__version__.split(".")[:2])
    assert checkpoints[0].stem == f"mlp-{meta['key']}" and len(meta["key"]) == 64
    assert meta["history"]["train_loss"] == history["train_loss"]

    def _no_training(*args, **kwargs):
        raise AssertionError("train() called on a cache hit")

    monkeypatch.setattr(models, "train", _no_training)
    again, history_again = pretrained("mlp", cache_dir=tmp_path, return_history=True, **_TINY)
    _assert_state_dicts_equal(model, again)
    assert history_again == history
    assert not again.training
    # Defaults are part of the key: spelling them out hits the same checkpoint.
    pretrained("mlp", cache_dir=tmp_path, dropout=0, in_features=64, n_classes=10, **_TINY)
    assert len(list(tmp_path.glob("*.pt"))) == 1


def test_pretrained_key_depends_on_configuration(tmp_path):
    pretrained("mlp", cache_dir=tmp_path, **_TINY)
    pretrained("mlp", cache_dir=tmp_path, random_state=1, **_TINY)
    pretrained("mlp", cache_dir=tmp_path, weight_decay=1e-4, **_TINY)
    pretrained("mlp", cache_dir=tmp_path, dropout=0.1, **_TINY)
    pretrained("mlp", cache_dir=tmp_path, hidden=(8,), epochs=1)
    assert len(list(tmp_path.glob("mlp-*.pt"))) == 5


def test_pretrained_uses_env_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NNGRAPH_CACHE_DIR", str(tmp_path / "env"))
    pretrained("mlp", **_TINY)
    assert len(list((tmp_path / "env").glob("*.pt"))) == 1


@pytest.mark.parametrize("garbage", [b"", b"not a checkpoint", None])
def test_pretrained_corrupt_checkpoint_is_retrained(tmp_path, garbage):
    model = pretrained("mlp", cache_dir=tmp_path, **_TINY)
    (checkpoint,) = tmp_path.glob("*.pt")
    if garbage is None:  # a readable file holding the wrong weights
        torch.save({"config": {}, "state_dict": {}}, checkpoint)
    else:
        checkpoint.write_bytes(garbage)
    with pytest.warns(CacheWarning, match="retraining"):
        again = pretrained("mlp", cache_dir=tmp_path, **_TINY)
    _assert_state_dicts_equal(model, again)
    # The checkpoint was rewritten and is usable again.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pretrained("mlp", cache_dir=tmp_path, **_TINY)


def test_pretrained_two_heads_and_cnn_tiny(tmp_path):
    model = pretrained("two_digit_mlp", cache_dir=tmp_path, hidden=(8,), epochs=1)
    assert model[-1].out_features == 20
    cnn = pretrained("small_cnn", cache_dir=tmp_path, channels=(4,), epochs=1)
    assert isinstance(cnn, models.SmallCNN) and not cnn.training


def test_pretrained_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown pretrained model"):
        pretrained("resnet", cache_dir=tmp_path)
    with pytest.raises(TypeError, match="builder"):
        pretrained("mlp", cache_dir=tmp_path, widths=(3,))
    with pytest.raises(ValueError, match="epochs"):
        pretrained("mlp", cache_dir=tmp_path, epochs=0)
    with pytest.raises(TypeError, match="JSON"):
        pretrained("mlp", cache_dir=tmp_path, hidden=(4, object()), epochs=1)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "name, shape, heads",
    [("mlp", (64,), 1), ("small_cnn", (1, 8, 8), 1), ("two_digit_mlp", (128,), 2)],
)
def test_pretrained_data(name, shape, heads):
    data = pretrained_data(name)
    assert data.input_shape == shape and data.n_heads == heads


# --------------------------------------------------------------------------- slow


@pytest.mark.slow
@pytest.mark.parametrize("name, threshold", [("mlp", 0.95), ("small_cnn", 0.95)])
def test_pretrained_accuracy(tmp_path, name, threshold):
    model, history = pretrained(name, cache_dir=tmp_path, return_history=True)
    data = pretrained_data(name)
    assert accuracy(model, data.x_test, data.y_test) >= threshold
    assert history["test_accuracy"] >= threshold


@pytest.mark.slow
def test_pretrained_two_digit_accuracy(tmp_path):
    model, history = pretrained("two_digit_mlp", cache_dir=tmp_path, return_history=True)
    assert min(history["test_accuracy_heads"]) >= 0.9
    data = pretrained_data("two_digit_mlp")
    assert accuracy(model, data.x_test, data.y_test) >= 0.9


def test_pretrained_leaves_global_torch_rng_alone(tmp_path):
    pretrained("mlp", hidden=(8,), epochs=1, cache_dir=tmp_path)  # fill the cache
    before = torch.random.get_rng_state()
    pretrained("mlp", hidden=(8,), epochs=1, cache_dir=tmp_path)  # a cache hit
    assert torch.equal(torch.random.get_rng_state(), before)
