"""plan_recording and Recorder against activations computed by hand with forward passes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from nngraph.graphs._recording import Recorder, RecordPoint, iter_batches, plan_recording
from nngraph.graphs._tracing import UnsupportedModelError, trace_model


def _init(model: nn.Module, rng: np.random.Generator) -> nn.Module:
    """Parameters and batch-norm statistics from the seeded generator."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(rng.normal(scale=0.5, size=tuple(p.shape))))
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.from_numpy(rng.normal(size=m.num_features)))
                m.running_var.copy_(torch.from_numpy(rng.uniform(0.5, 2, m.num_features)))
    return model


def _x(rng: np.random.Generator, *shape: int) -> torch.Tensor:
    return torch.from_numpy(rng.normal(size=shape)).float()


def _plan(model, x, *, activation="pre", fold_batchnorm=True, include_input=False):
    trace = trace_model(model, x)
    keep = [i for i, la in enumerate(trace.layers) if include_input or la.kind != "input"]
    return plan_recording(
        model,
        trace.layers,
        keep,
        graph_module=trace.graph_module,
        activation=activation,
        fold_batchnorm=fold_batchnorm,
    )


def _record(model, points, x, spatial="mean", batch_index=0):
    with Recorder(model, points, spatial) as recorder:
        return recorder.run(x, batch_index)


def _columns(*acts: torch.Tensor) -> np.ndarray:
    return torch.cat([a.detach().double() for a in acts], dim=1).numpy()


class _MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(5, 7)
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(7, 6)
        self.fc3 = nn.Linear(6, 3)

    def forward(self, x):
        h = F.leaky_relu(self.drop(self.fc1(x)), negative_slope=0.2)
        return self.fc3(self.fc2(h).tanh())


class _CNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 3, 3)
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        h = F.max_pool2d(self.act(self.bn1(self.conv1(x))), 2)
        return self.fc(torch.relu(self.conv2(h)).mean((2, 3)))


# ---------------------------------------------------------------------- plan
def test_plan_of_an_mlp():
    model = _MLP()
    points = _plan(model, torch.zeros(1, 5), activation="post", include_input=True)
    assert all(isinstance(p, RecordPoint) for p in points)
    assert [(p.name, p.recorded_at, p.n_units, p.is_output) for p in points] == [
        ("input", "input", 5, False),
        ("fc1", "fc1", 7, False),
        ("fc2", "fc2", 6, False),
        ("fc3", "fc3", 3, True),
    ]
    assert [p.module for p in points] == [None, model.fc1, model.fc2, model.fc3]
    # The activation that reads each unit, through the dropout after fc1; logits: identity.
    assert [p.activation_name for p in points] == [None, "leaky_relu", "tanh", "identity"]
    pre = _plan(model, torch.zeros(1, 5))
    assert [(p.activation, p.activation_name) for p in pre] == [(None, None)] * 3


def test_plan_hooks_the_batch_norm_that_follows_a_unit():
    model = _CNN()
    folded = _plan(model, torch.zeros(1, 2, 6, 6))
    assert [(p.name, p.recorded_at, p.batchnorm) for p in folded] == [
        ("conv1", "bn1", "bn1"),
        ("conv2", "conv2", None),
        ("fc", "fc", None),
    ]
    assert folded[0].module is model.bn1
    raw = _plan(model, torch.zeros(1, 2, 6, 6), fold_batchnorm=False)
    assert raw[0].module is model.conv1 and raw[0].batchnorm is None


# ---------------------------------------------------------------------- recorded values
@pytest.mark.parametrize("activation", ["pre", "post"])
def test_mlp_values_match_a_forward_pass_by_hand(rng, activation):
    model = _init(_MLP(), rng).train()  # recording runs in eval mode: dropout is off
    x = _x(rng, 9, 5)
    points = _plan(model, x[:1], activation=activation, include_input=True)
    got = _record(model, points, x)
    with torch.no_grad():
        h1 = model.fc1(x)
        h2 = model.fc2(F.leaky_relu(h1, negative_slope=0.2))
        out = model.fc3(h2.tanh())
    if activation == "post":
        h1, h2 = F.leaky_relu(h1, negative_slope=0.2), h2.tanh()
    assert got.shape == (9, 5 + 7 + 6 + 3) and got.dtype == np.float64
    np.testing.assert_allclose(got, _columns(x, h1, h2, out), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("activation", "spatial", "fold"),
    [("pre", "mean", True), ("post", "mean_abs", True), ("pre", "mean_abs", False)],
)
def test_cnn_values_match_a_forward_pass_by_hand(rng, activation, spatial, fold):
    model = _init(_CNN(), rng)
    x = _x(rng, 6, 2, 6, 6)
    points = _plan(model, x[:1], activation=activation, fold_batchnorm=fold, include_input=True)
    got = _record(model, points, x, spatial)
    model.eval()
    with torch.no_grad():
        c1 = model.bn1(model.conv1(x)) if fold else model.conv1(x)
        c2 = model.conv2(F.max_pool2d(F.relu(model.bn1(model.conv1(x))), 2))
        out = model.fc(torch.relu(c2).mean((2, 3)))
    if activation == "post":  # the ReLU module after bn1, torch.relu after conv2
        c1, c2 = F.relu(c1), F.relu(c2)

    def summary(t):
        return (t.abs() if spatial == "mean_abs" else t).mean((2, 3))

    expected = _columns(summary(x), summary(c1), summary(c2), out)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_post_activation_refuses_a_unit_read_by_no_activation(rng):
    model = _CNN()
    with pytest.raises(UnsupportedModelError, match=r"layer 'conv1' goes to module 'bn1'"):
        _plan(model, torch.zeros(1, 2, 6, 6), activation="post", fold_batchnorm=False)

    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(4, 4)
            self.b = nn.Linear(4, 4)

        def forward(self, x):
            h = self.a(x)
            return self.b(torch.relu(h)) + h  # h is read twice

    with pytest.raises(UnsupportedModelError, match=r"layer 'a' is read by .*activation='pre'"):
        _plan(Residual(), torch.zeros(1, 4), activation="post")


def test_an_image_mlp_records_its_input_per_pixel(rng):
    model = _init(nn.Sequential(nn.Flatten(), nn.Linear(12, 4), nn.ReLU(), nn.Linear(4, 2)), rng)
    x = _x(rng, 5, 3, 2, 2)
    points = _plan(model, x[:1], include_input=True)
    got = _record(model, points, x)
    with torch.no_grad():
        h = model[1](x.flatten(1))
        out = model[3](torch.relu(h))
    np.testing.assert_allclose(got, _columns(x.flatten(1), h, out), rtol=1e-6, atol=1e-6)


def test_a_float64_model_is_fed_float64(rng):
    model = _init(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double(), rng)
    x = torch.from_numpy(rng.normal(size=(4, 3)))
    points = _plan(model, x[:1])
    got = _record(model, points, x.float())  # converted to the model's dtype
    with torch.no_grad():
        h = model[0](x.float().double())
        out = model[2](torch.relu(h))
    np.testing.assert_allclose(got, _columns(h, out), rtol=1e-12)


# ---------------------------------------------------------------------- state and errors
def _state(model: nn.Module):
    return [m.training for m in model.modules()], [
        (len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()
    ]


def test_hooks_removed_and_modes_restored_even_on_error(rng):
    model = _init(_CNN(), rng).train()
    model.conv2.eval()
    before = _state(model)
    points = _plan(model, torch.zeros(1, 2, 6, 6))
    x = _x(rng, 4, 2, 6, 6)
    with Recorder(model, points, "mean") as recorder:
        assert not any(m.training for m in model.modules())
        assert len(model.bn1._forward_hooks) == 1  # hooked at the batch norm
        recorder.run(x, 0)
    assert _state(model) == before
    # A batch the model cannot run: the error names the batch, the state comes back.
    with pytest.raises(ValueError, match=r"batch 3 of inputs \(shape \(4, 5, 6, 6\)\)"):
        with Recorder(model, points, "mean") as recorder:
            recorder.run(_x(rng, 4, 5, 6, 6), 3)
    assert _state(model) == before
    # NaN activations name the layer and the batch.
    bad = x.clone()
    bad[1, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"layer 'conv1' contain NaN, first in batch 2 "):
        with Recorder(model, points, "mean") as recorder:
            recorder.run(bad, 2)
    assert _state(model) == before
    # Any other error inside the block.
    with pytest.raises(KeyError):
        with Recorder(model, points, "mean"):
            raise KeyError("user code")
    assert _state(model) == before


def test_a_layer_not_computed_on_a_batch_is_an_error(rng):
    class Forgetful(Recorder):
        """A recorder whose hook on layer "0" records nothing (a skipped module)."""

        def _hook(self, k, p):
            hook = super()._hook(k, p)
            return (lambda *args: None) if p.name == "0" else hook

    model = _init(nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2)), rng)
    points = _plan(model, torch.zeros(1, 3))
    with pytest.raises(RuntimeError, match=r"layer '0' was not computed for batch 5"):
        with Forgetful(model, points, "mean") as recorder:
            recorder.run(torch.zeros(2, 3), 5)
    assert all(not m._forward_hooks for m in model.modules())


# ---------------------------------------------------------------------- batches
def test_iter_batches(rng):
    x = _x(rng, 7, 3)
    assert [b.shape[0] for b in iter_batches(x, 3)] == [3, 3, 1]
    assert [b.shape[0] for b in iter_batches(x.numpy(), 4)] == [4, 3]
    pairs = [(x[:2], torch.zeros(2)), [x[2:], torch.zeros(5)]]
    assert [b.shape[0] for b in iter_batches(pairs, 100)] == [2, 5]
    with pytest.raises(TypeError, match="iterable of batches"):
        list(iter_batches(3.0, 2))
    with pytest.raises(ValueError, match="batch 0 of inputs is an empty tuple"):
        list(iter_batches([()], 2))
    with pytest.raises(ValueError, match="batch dimension"):
        list(iter_batches(torch.zeros(3), 2))


class _BatchNormAct(nn.BatchNorm2d):
    """A batch norm applying its own activation (as timm's BatchNormAct2d)."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(super().forward(x))


def test_a_batch_norm_with_its_own_activation_records_pre_and_post():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), _BatchNormAct(3), nn.Conv2d(3, 2, 1)).eval()
    with torch.no_grad():
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
    x = torch.randn(5, 1, 6, 6)
    trace = trace_model(model, x)
    for activation in ("pre", "post"):
        (point,) = plan_recording(
            model,
            trace.layers,
            [1],
            graph_module=trace.graph_module,
            activation=activation,
            fold_batchnorm=True,
        )
        with Recorder(model, [point], "mean") as rec:
            got = rec.run(x, 0)
        bn = model[1]
        h = F.batch_norm(
            model[0](x), bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps
        )
        if activation == "post":
            h = F.relu(h)
        np.testing.assert_allclose(got, h.mean(dim=(2, 3)).double().detach().numpy(), rtol=1e-6)


def test_token_wise_layers_are_summarised_over_tokens():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.GELU(), nn.Linear(6, 3)).eval()
    x = torch.randn(5, 7, 4)
    trace = trace_model(model, x)
    points = plan_recording(
        model,
        trace.layers,
        [0, 1],
        graph_module=trace.graph_module,
        activation="pre",
        fold_batchnorm=True,
    )
    with Recorder(model, points, "mean") as rec:
        got = rec.run(x, 0)
    expected = np.concatenate(
        [x.mean(dim=1).double().numpy(), model[0](x).mean(dim=1).double().detach().numpy()], axis=1
    )
    np.testing.assert_allclose(got, expected, rtol=1e-6)
