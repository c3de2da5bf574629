"""trace_model on small hand-built models: layers, provenance segments, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from nngraph.graphs._tracing import (
    Provenance,
    Segment,
    Trace,
    UnsupportedModelError,
    trace_model,
)


def _consumption(trace: Trace, name: str):
    """The provenance the layer named ``name`` reads."""
    (c,) = [c for c in trace.consumptions if trace.layers[c.layer].name == name]
    return c.provenance


def _index(trace: Trace, name: str) -> int:
    return [layer.name for layer in trace.layers].index(name)


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
    assert _consumption(trace, "0") == Provenance(4, (Segment(0, 4, 0, 0),))
    assert _consumption(trace, "3") == Provenance(6, (Segment(0, 6, 1, 0),))
    assert trace.batchnorms == [] and trace.input_spatial == 1
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
    a, b = _index(trace, "a"), _index(trace, "b")
    assert _consumption(trace, "c") == Provenance(5, (Segment(0, 3, a, 0), Segment(3, 5, b, 0)))
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
    a, b = _index(trace, "a"), _index(trace, "b")
    # The add is b's output (through the batch norm) plus a's: each channel carries both.
    assert _consumption(trace, "c") == Provenance(3, (Segment(0, 3, b, 0), Segment(0, 3, a, 0)))
    # The batch norm scales b's channels only.
    (bn,) = trace.batchnorms
    assert bn.module_path == "bn" and bn.provenance == Provenance(3, (Segment(0, 3, b, 0),))


class _ConvFlattenLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 2 * 3, 5)

    def forward(self, x):
        return self.fc(torch.flatten(F.max_pool2d(self.conv(x), 2), 1))


def test_flatten_after_a_conv_groups_each_channels_positions():
    trace = trace_model(_ConvFlattenLinear(), torch.zeros(1, 1, 6, 8))
    conv = _index(trace, "conv")
    # 4 channels, each spanning its 2 x 3 pooled positions as consecutive features.
    assert _consumption(trace, "fc") == Provenance(4, (Segment(0, 4, conv, 0),), group=6)
    assert trace.input_spatial == 48 and trace.layers[0].n_units == 1  # input: channels


def test_an_image_mlp_has_one_input_unit_per_pixel():
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 4), nn.ReLU(), nn.Linear(4, 2))
    trace = trace_model(model, torch.zeros(1, 2, 3, 3))
    assert trace.layers[0].n_units == 18
    assert _consumption(trace, "1") == Provenance(18, (Segment(0, 18, 0, 0),))


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
    with pytest.raises(RuntimeError, match=r"failed at module '2' on a tensor of shape \(2, 4\)"):
        trace_model(model, torch.ones(2, 3))


def test_two_traced_tensors_of_different_widths_cannot_be_added():
    class Widths(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(3, 4)
            self.b = nn.Linear(3, 1)

        def forward(self, x):
            return self.a(x) + self.b(x)  # broadcasting: no unit-to-unit map

    with pytest.raises(UnsupportedModelError, match=r"combines tensors with 4 and 1 channels"):
        trace_model(Widths(), torch.ones(2, 3))


def test_bad_arguments():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        trace_model(lambda x: x, torch.ones(2, 3))
    with pytest.raises(TypeError, match="example_input must be a torch.Tensor"):
        trace_model(nn.Linear(3, 2), [[1.0, 2.0, 3.0]])
    with pytest.raises(UnsupportedModelError, match="batch dimension"):
        trace_model(nn.Sequential(nn.ReLU()), torch.ones(3))
