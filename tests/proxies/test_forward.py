"""The lesion engine against one full forward pass per lesion, on networks that trip it.

In-place ops on a tensor read again later, views of it, hooked or subclassed readers,
16-bit values, the memory a lesion gathers, and batch-statistics normalisation.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn

import nngraph as ng
from nngraph.graphs._fx import UnsupportedModelError, frozen
from nngraph.graphs._sites import unit_sites
from nngraph.graphs._tracing import trace_model
from nngraph.proxies._forward import LesionRunner, batch_statistics, lesioned_forward


class _Aliased(nn.Module):
    """``identity = h; relu_(h)``: the skip carries the ReLU'd ``h`` (the same tensor)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(8, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        h = self.fc1(x)
        identity = h
        h = self.relu(h)
        h = torch.tanh(self.fc2(h))
        h.clamp_(min=-0.5)  # a statement: the head reads the clamped h
        return self.head(h + identity)


class _Viewed(nn.Module):
    """A view of ``h`` made before ``relu_(h)`` and read after it."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        h = self.fc1(x)
        v = h.view(-1, 8)
        h.relu_()
        return self.fc2(h) + v[:, :3]


def _compare(model, x, set_size=3, n_sets=4, seed=0):
    """Max |batched - one pass per lesion| over the hidden layers, and the intact error."""
    trace = trace_model(model, x[:1])
    sites = unit_sites(trace, "read")
    runner = LesionRunner(trace.graph_module)
    g = torch.Generator().manual_seed(seed)
    worst = 0.0
    with frozen(model), torch.inference_mode():
        intact = (runner.run(x) - model(x)).abs().max().item()
        for name, st in sites.items():
            if name == "input":
                continue
            k = min(set_size, st.n_units - 1)
            sets = torch.stack([torch.randperm(st.n_units, generator=g)[:k] for _ in range(n_sets)])
            got = runner.lesioned(st, sets)
            for j, row in enumerate(sets):
                mask = torch.ones(st.n_units, dtype=x.dtype)
                mask[row] = 0
                ref = lesioned_forward(trace.graph_module, st, mask, x)
                worst = max(worst, (got[j] - ref).abs().max().item())
    return intact, worst, runner, sites


def test_readers_after_an_in_place_op_see_its_result():
    torch.manual_seed(0)
    model, x = _Aliased().eval(), torch.randn(16, 6)
    intact, worst, *_ = _compare(model, x)
    assert intact == 0.0
    assert worst < 1e-6
    # End to end: the intact accuracy is the model's own.
    y = model(x).argmax(1)
    part = ng.Partition({"fc1": np.array([0, 0, 0, 0, 1, 1, 1, 1])})
    res = ng.importance(model, part, x, y, n_random=2, random_state=0, max_fraction=1.0)
    assert res.info["intact"]["balanced_accuracy"] == 1.0


def test_a_view_read_after_an_in_place_op_is_refused_before_work():
    torch.manual_seed(0)
    model, x = _Viewed().eval(), torch.randn(16, 6)
    trace = trace_model(model, x[:1])
    runner = LesionRunner(trace.graph_module)
    with torch.inference_mode(), pytest.raises(ValueError, match="view or alias of it made"):
        runner.run(x)  # the intact pass: before any lesion


@pytest.mark.parametrize("kind", ["hook", "qat"])
def test_readers_that_are_not_plain_layers_run_in_full(kind):
    torch.manual_seed(0)
    reader = nn.Linear(16, 8)
    if kind == "qat":  # a Linear subclass with its own forward: fake-quantised weights
        from torch.ao.nn.qat import Linear as QATLinear
        from torch.ao.quantization import get_default_qat_qconfig

        reader.qconfig = get_default_qat_qconfig()
        reader = QATLinear.from_float(reader.train())
        reader.weight_fake_quant(reader.weight)  # calibrate its observer once
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), reader, nn.Tanh(), nn.Linear(8, 3))
    model.eval()
    if kind == "hook":
        reader.register_forward_hook(lambda mod, args, out: out.clamp(max=0.1))
    x = torch.randn(32, 6)
    intact, worst, runner, sites = _compare(model, x, set_size=5)
    assert intact == 0.0 and worst < 1e-6
    assert runner.direct_reader(sites["0"]) is None
    plain = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 8)).eval()
    trace = trace_model(plain, x[:1])
    runner = LesionRunner(trace.graph_module)
    with torch.inference_mode():
        runner.run(x)
        assert runner.direct_reader(unit_sites(trace, "read")["0"]) is not None


def test_sixteen_bit_values_are_not_subtracted():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 64), nn.Tanh(), nn.Linear(64, 3)).eval()
    x = torch.randn(8, 6)
    for dtype, shortcut in [(torch.float32, True), (torch.float16, False), (torch.bfloat16, False)]:
        m = model.to(dtype)
        trace = trace_model(m, x[:1].to(dtype))
        runner = LesionRunner(trace.graph_module)
        with torch.inference_mode():
            runner.run(x.to(dtype))
            site = unit_sites(trace, "read")["0"]
            assert (runner.direct_reader(site) is not None) == shortcut


def test_a_lesion_counts_the_units_it_gathers():
    # The shortcut gathers the silenced units' inputs and weights: batch x |S| each.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 200), nn.Tanh(), nn.Linear(200, 3)).eval()
    x = torch.randn(50, 6)
    trace = trace_model(model, x[:1])
    runner = LesionRunner(trace.graph_module)
    with torch.inference_mode():
        runner.run(x)
        site = unit_sites(trace, "read")["0"]
        assert runner.direct_reader(site) is not None
        one, many = runner.bytes_per_lesion(site, 1), runner.bytes_per_lesion(site, 101)
    per_unit = (50 + 3) * 4  # a column of h (batch) and a row of W^T (outputs), float32
    assert many - one == 100 * per_unit
    assert one >= 50 * 3 * 4 + per_unit  # the reader's output, and one unit's inputs


class _BatchStats(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3)
        self.bn = nn.BatchNorm2d(8, track_running_stats=False)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(torch.tanh(self.bn(self.conv(x))).mean(dim=(2, 3)))


def test_batch_statistics_run_one_pass_per_lesion():
    torch.manual_seed(0)
    model, x = _BatchStats().eval(), torch.randn(40, 1, 6, 6)
    y = torch.randint(0, 3, (40,))
    trace = trace_model(model, x[:1])
    assert batch_statistics(trace.graph_module) == "bn (BatchNorm2d, track_running_stats=False)"
    plain = nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.Flatten()).eval()
    assert batch_statistics(trace_model(plain, x[:1]).graph_module) is None
    part = ng.Partition({"conv": np.array([0, 0, 0, 0, 1, 1, 1, 1])})
    kw = dict(n_random=3, random_state=0, max_fraction=1.0)
    with pytest.warns(UserWarning, match="normalises with the statistics of its batch"):
        res = ng.importance(model, part, x, y, **kw)
    assert res.info["engine"] == "naive"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ref = ng.importance(model, part, x, y, engine="naive", **kw)
    for s in res.statistics:
        np.testing.assert_array_equal(res.true[s.name], ref.true[s.name])
        np.testing.assert_array_equal(res.random[s.name], ref.random[s.name])
    with pytest.raises(ValueError, match="use method='dataset'"):
        ng.coherence(model, part, x, y, method="visualization", n_random=2, random_state=0)


def test_a_one_dimensional_batch_norm_on_batch_statistics_is_traced_from_one_example():
    """BatchNorm1d without running statistics cannot run one example: traced on two."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(6, 8), nn.BatchNorm1d(8, track_running_stats=False), nn.Tanh(), nn.Linear(8, 3)
    ).eval()
    x, y = torch.randn(40, 6), torch.randint(0, 3, (40,))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    trace = trace_model(model, x[:1])
    assert [layer.name for layer in trace.layers] == ["input", "0", "3"]
    with pytest.raises(UnsupportedModelError, match="pass fold_batchnorm=False"):
        ng.weight_graph(model, x[:1])
    g = ng.weight_graph(model, x[:1], fold_batchnorm=False)
    assert g.layer_names == ["input", "0", "3"]
    part = ng.Partition({"0": np.array([0, 0, 0, 0, 1, 1, 1, 1])})
    kw = dict(n_random=3, random_state=0, max_fraction=1.0, min_size=2)
    with pytest.warns(UserWarning, match="normalises with the statistics of its batch"):
        assert ng.importance(model, part, x, y, **kw).info["engine"] == "naive"
    assert ng.coherence(model, part, x, y, **kw).n_rows == 2
    assert not model.training
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_the_batch_shrinks_to_keep_the_intact_values_within_bounds(monkeypatch):
    from nngraph.proxies import _importance

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh())
    model = nn.Sequential(*model, nn.Linear(32, 3)).eval()
    x, y = torch.randn(90, 6), torch.randint(0, 3, (90,))
    part = ng.Partition({"0": np.repeat([0, 1], 16), "2": np.repeat([0, 1, 2, 3], 8)})
    kw = dict(n_random=3, random_state=0, n_null_partitions=0)
    full = ng.importance(model, part, x, y, **kw)
    assert full.info["batch_size"] == 512
    trace = trace_model(model, x[:1])
    runner = LesionRunner(trace.graph_module)
    with torch.inference_mode():
        runner.run(x[:1])
    per_example = runner.kept_bytes()
    assert per_example == 4 * (6 + 32 * 4 + 3)  # input, 2 x (linear, tanh), head: float32
    monkeypatch.setattr(_importance, "CPU_INTACT_BYTES", 20 * per_example)
    small = ng.importance(model, part, x, y, **kw)
    assert small.info["batch_size"] == 20
    for s in full.statistics:
        np.testing.assert_allclose(small.true[s.name], full.true[s.name], rtol=1e-6)
        np.testing.assert_allclose(small.random[s.name], full.random[s.name], rtol=1e-6)
