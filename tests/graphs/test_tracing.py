"""trace_model on small hand-built models: layers, provenance segments, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from nngraph.graphs._tracing import Trace, UnsupportedModelError, trace_model


def _reads(trace: Trace, name: str) -> dict[str, list[int]]:
    """Return what the layer named ``name`` reads.

    Per producer layer, the unit at each input feature (-1: none).
    """
    (c,) = [c for c in trace.consumptions if trace.layers[c.layer].name == name]
    return {trace.layers[p.layer].name: p.units.tolist() for p in c.planes}


# ---------------------------------------------------------------------- layers
def test_mlp_layers_kinds_sizes_and_outputs():
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Dropout(), nn.Linear(6, 3))
    trace = trace_model(model, torch.zeros(2, 4))
    assert [(la.name, la.kind, la.n_units, la.is_output) for la in trace.layers] == [
        ("input", "input", 4, False),
        ("0", "linear", 6, False),
        ("3", "linear", 3, True),
    ]
    assert trace.layers[1].module is model[0] and trace.layers[0].module is None
    # Each weighted layer reads every unit of the one before, through ReLU and dropout.
    assert _reads(trace, "0") == {"input": [0, 1, 2, 3]}
    assert _reads(trace, "3") == {"0": list(range(6))}
    assert trace.norms == [] and trace.input_shape == (2, 4)
    assert trace.graph_module is not None


class _Cat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(2, 3, 1)
        self.b = nn.Conv2d(2, 2, 1)
        self.c = nn.Conv2d(5, 4, 1)

    def forward(self, x):
        return self.c(torch.cat([F.relu(self.a(x)), self.b(x)], dim=1))


def test_cat_splits_the_channels_among_producers():
    trace = trace_model(_Cat(), torch.zeros(1, 2, 3, 3))
    assert _reads(trace, "c") == {"a": [0, 1, 2, -1, -1], "b": [-1, -1, -1, 0, 1]}
    assert [la.is_output for la in trace.layers] == [False, False, False, True]


class _Add(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 3, 3, padding=1)
        self.b = nn.Conv2d(3, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.c = nn.Conv2d(3, 2, 1)

    def forward(self, x):
        h = self.a(x)
        return self.c(F.relu(self.bn(self.b(F.relu(h))) + h))


def test_add_feeds_each_channel_from_every_operand():
    trace = trace_model(_Add(), torch.zeros(1, 3, 4, 4))
    # The add is b's output (through its batch norm) plus a's: each channel carries both.
    assert _reads(trace, "c") == {"b": [0, 1, 2], "a": [0, 1, 2]}
    # The batch norm directly follows b and nothing else reads b: it belongs to b's units.
    (bn,) = trace.norms
    assert bn.path == "bn" and trace.layers[bn.layer].name == "b"
    assert bn.units.tolist() == [0, 1, 2]


class _ConvFlattenLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 2 * 3, 5)

    def forward(self, x):
        return self.fc(torch.flatten(F.max_pool2d(self.conv(x), 2), 1))


def test_flatten_after_a_conv_gives_each_feature_its_channels_unit():
    trace = trace_model(_ConvFlattenLinear(), torch.zeros(1, 1, 6, 8))
    # 4 channels, each spanning its 2 x 3 pooled positions as consecutive features.
    assert _reads(trace, "fc") == {"conv": np.repeat(np.arange(4), 6).tolist()}
    assert trace.layers[0].n_units == 1 and not trace.input_features  # input: channels


def test_an_image_mlp_has_one_input_unit_per_pixel():
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 4), nn.ReLU(), nn.Linear(4, 2))
    trace = trace_model(model, torch.zeros(1, 2, 3, 3))
    assert trace.layers[0].n_units == 18 and trace.input_features
    assert _reads(trace, "1") == {"input": list(range(18))}


def test_tokens_make_the_last_dimension_the_input_units():
    model = nn.Sequential(nn.Linear(4, 3), nn.GELU(), nn.Linear(3, 2))
    trace = trace_model(model, torch.zeros(2, 7, 4))
    assert trace.layers[0].n_units == 4 and trace.layers[0].unit_dim == 2
    assert trace.layers[1].unit_dim == 2


def test_the_model_is_run_in_eval_mode_without_gradients_and_its_modes_restored():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.9), nn.Linear(3, 2)).train()
    model[1].eval()  # mixed modes come back exactly
    seen = []
    handle = model[2].register_forward_hook(
        lambda m, args, out: seen.append((m.training, torch.is_grad_enabled()))
    )
    trace = trace_model(model, torch.ones(2, 3))
    handle.remove()
    assert seen == [(False, False)]
    assert [m.training for m in model.modules()] == [True, True, False, True]
    assert [la.name for la in trace.layers] == ["input", "0", "2"]
    assert all(p.grad is None for p in model.parameters())


# ---------------------------------------------------------------------- errors
class _Gate(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.b = nn.Linear(3, 3)

    def forward(self, x):
        return self.a(x) * torch.sigmoid(self.b(x))


class _OwnParameter(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.scale = nn.Parameter(torch.ones(3))

    def forward(self, x):
        return self.fc(x) * self.scale


class _Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return self.fc(self.fc(x))


class _Cumsum(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return torch.cumsum(self.fc(x), 1)


class _Branch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        if x.sum() > 0:
            return self.fc(x)
        return x


@pytest.mark.parametrize(
    ("model", "pattern"),
    [
        (nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3)), r"module '1' \(LayerNorm, with param"),
        (_Gate(), r"function _operator\.mul.*multiplies two tensors"),
        (_OwnParameter(), r"parameter 'scale' is used directly"),
        (_Shared(), r"module 'fc' is called more than once"),
        (_Cumsum(), r"operation 'cumsum' \(function torch\.cumsum\)"),
        (_Branch(), r"torch\.fx could not trace _Branch"),
    ],
)
def test_unsupported_models_name_the_module_and_the_op(model, pattern):
    with pytest.raises(UnsupportedModelError, match=pattern):
        trace_model(model, torch.ones(2, 3))


def test_a_failing_forward_names_the_module_and_the_shape():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(5, 2))
    where = r"failed at module '2' on a tensor of shape \(2, 4\)"
    with pytest.raises(RuntimeError, match=where) as e:
        trace_model(model, torch.ones(2, 3))
    assert "While executing" not in str(e.value) and "tlparse" not in str(e.value)  # fx's dump


class _Widths(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.a = nn.Linear(3, 4)
        self.b = nn.Linear(3, width)
        self.c = nn.Linear(4, 2)

    def forward(self, x):
        return self.c(self.a(x) + self.b(x))


def test_a_broadcast_unit_feeds_every_channel_and_mismatched_widths_are_refused():
    trace = trace_model(_Widths(1), torch.ones(2, 3))  # b's single unit is added everywhere
    assert _reads(trace, "c") == {"a": [0, 1, 2, 3], "b": [0, 0, 0, 0]}
    with pytest.raises(RuntimeError, match="failed at function _operator.add"):
        trace_model(_Widths(2), torch.ones(2, 3))


def test_bad_arguments():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        trace_model(lambda x: x, torch.ones(2, 3))
    with pytest.raises(TypeError, match="example_input must be a torch.Tensor"):
        trace_model(nn.Linear(3, 2), [[1.0, 2.0, 3.0]])
    with pytest.raises(UnsupportedModelError, match="batch dimension"):
        trace_model(nn.Sequential(nn.ReLU()), torch.ones(3))


# ---------------------------------------------------------------------- shape pass
def _small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 5),
    )


def test_fake_and_real_shape_passes_give_the_same_trace(monkeypatch):
    """Small models take a real forward pass, large ones fake tensors: same layers."""
    from nngraph.graphs import _fx

    x = torch.zeros(1, 3, 8, 8)
    real = trace_model(_small_cnn(), x)
    monkeypatch.setattr(_fx, "_REAL_PASS_MAX_WORK", 0)  # every model counts as large
    fake = trace_model(_small_cnn(), x)
    assert [(la.name, la.kind, la.n_units) for la in real.layers] == [
        (la.name, la.kind, la.n_units) for la in fake.layers
    ]
    assert real.input_shape == fake.input_shape == (1, 3, 8, 8)


@pytest.mark.parametrize(
    "build",
    [
        "ng.weight_graph(m, torch.zeros(1, 64))",
        # Traced on two examples of the first batch: its 256 examples would have taken
        # the fake path (85,000 parameters x 256 x 64 input elements > 1e9).
        "ng.activation_graph(m, torch.randn(3000, 64, generator=torch.Generator().manual_seed(0)))",
    ],
)
def test_a_small_model_is_graphed_without_loading_fake_tensors(build):
    """Fake tensors import torch._dynamo (1.6 s); the digits-sized MLP does not need them."""
    import subprocess
    import sys

    code = (
        "import sys, torch, torch.nn as nn, nngraph as ng\n"
        "m = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),\n"
        "                  nn.Linear(256, 10))\n"
        f"{build}\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_lazy_model_is_refused_by_name_and_left_uninitialised():
    import nngraph as ng

    model = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.Linear(8, 3))
    for build in (
        lambda: ng.weight_graph(model, torch.zeros(1, 5)),
        lambda: ng.activation_graph(model, torch.zeros(20, 5)),
    ):
        with pytest.raises(UnsupportedModelError, match=r"uninitialised \(lazy\).*0\.weight"):
            build()
        assert isinstance(model[0], nn.LazyLinear)  # no forward pass initialised it
        assert isinstance(model[0].weight, nn.parameter.UninitializedParameter)


class _Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q = nn.Linear(4, 4)

    def forward(self, x):
        q = self.q(x)
        return q @ q.transpose(-1, -2)


class _Outer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        y = self.fc(x)
        return y[:, None] * y[:, :, None]


class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)) + x.flatten(2).view_as(x))


@pytest.mark.parametrize(
    ("model", "bounded"),
    [
        (nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(), nn.Linear(32, 10)), True),
        (_small_cnn(), True),
        (_Residual(), True),
        (nn.Sequential(nn.Upsample(scale_factor=16), nn.Conv2d(3, 8, 3)), False),
        (nn.Sequential(nn.ConvTranspose2d(3, 8, 4, stride=4)), False),
        (_Attention(), False),
        (_Outer(), False),
    ],
)
def test_only_plain_layers_get_a_real_shape_pass(model, bounded):
    """Work the parameters do not bound (upsampling, attention, outer products) stays fake."""
    from nngraph.graphs._fx import _bounded, symbolic_trace

    assert _bounded(symbolic_trace(model)) is bounded
