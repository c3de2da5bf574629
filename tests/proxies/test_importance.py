"""importance: planted importance found, calibrated under the null, fast equals naive.

Also: the model is never touched, bad input is refused, results round-trip.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
import torch.nn as nn
from scipy.stats import kstest

import nngraph as ng
from nngraph.proxies._importance import Counts, lesion_statistics
from nngraph.stats import combine_pvalues, empirical_pvalues


def _fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 300) -> nn.Module:
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def noisy_task():
    """Train a small MLP on a noisy 3-class problem (about 85% accurate)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(240, 6, generator=g)
    y = (x @ torch.randn(6, 3, generator=g)).argmax(1)
    flip = torch.rand(240, generator=g) < 0.15
    y[flip] = torch.randint(0, 3, (int(flip.sum()),), generator=g)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Linear(6, 24), nn.ReLU(), nn.Linear(24, 24), nn.ReLU(), nn.Linear(24, 3)
        )
        _fit(model, x, y)
    return model, x, y


# ---------------------------------------------------------------------- planted importance
def _planted() -> tuple[nn.Module, torch.Tensor, torch.Tensor, ng.Partition]:
    """Build a network where hidden units 0-5 alone carry classes 0 and 1.

    4 classes: units 0-2 carry class 0 and 3-5 class 1, each redundantly; 54 more units
    carry classes 2 and 3 (27 each).
    """
    n_hidden = 60
    first = nn.Linear(4, n_hidden, bias=False)
    second = nn.Linear(n_hidden, 4, bias=False)
    w1 = torch.zeros(n_hidden, 4)
    w2 = torch.zeros(4, n_hidden)
    groups = {0: range(0, 3), 1: range(3, 6), 2: range(6, 33), 3: range(33, 60)}
    for c, units in groups.items():
        for u in units:
            w1[u, c] = 1.0
            w2[c, u] = 1.0 / len(units)
    with torch.no_grad():
        first.weight.copy_(w1)
        second.weight.copy_(w2)
    model = nn.Sequential(first, nn.ReLU(), second).eval()
    y = torch.arange(4).repeat(25)
    x = nn.functional.one_hot(y, 4).float() + 0.01
    labels = {"0": np.r_[np.zeros(6), np.ones(54)].astype(int)}
    return model, x, y, ng.Partition(labels)


def test_a_sub_cluster_carrying_two_classes_gets_the_smallest_p():
    model, x, y, part = _planted()
    res = ng.importance(model, part, x, y, n_random=19, random_state=0, max_fraction=0.95)
    (row,) = [r for r in res.rows if r["cluster"] == 0]
    assert row["balanced_accuracy"] == pytest.approx(0.5)  # classes 0 and 1 are lost
    assert row["balanced_accuracy_p"] == pytest.approx(1 / 20)
    assert row["selectivity"] == pytest.approx(0.5)  # drops [1, 1, 0, 0]: max 1 - mean 0.5
    assert row["selectivity_p"] == pytest.approx(1 / 20)
    assert sorted(row["classes_hurt"]) == [0, 1]
    assert res.info["intact"]["balanced_accuracy"] == pytest.approx(1.0)


def test_statistics_against_hand_counts():
    totals = np.array([[10.0, 10.0, 20.0]])
    intact = Counts(np.array([[[9.0, 8.0, 20.0]]]), np.array([[2.0]]))
    lesion = Counts(
        np.array([[[9.0, 8.0, 20.0], [0.0, 8.0, 10.0]]]).reshape(2, 1, 3), np.array([[2.0], [40.0]])
    )
    s = lesion_statistics(lesion, intact, totals)
    np.testing.assert_allclose(
        s["balanced_accuracy"], [(0.9 + 0.8 + 1.0) / 3, (0.0 + 0.8 + 0.5) / 3]
    )
    np.testing.assert_allclose(s["accuracy"], [37 / 40, 18 / 40])
    np.testing.assert_allclose(s["loss"], [2 / 40, 1.0])
    # drops of lesion 2: [0.9, 0, 0.5]; max - mean = 0.9 - 1.4/3; range/mean = 0.9/(1.4/3)
    np.testing.assert_allclose(s["selectivity"], [0.0, 0.9 - 1.4 / 3])
    assert np.isnan(s["range_over_mean"][0])  # no drop: the paper's ratio is undefined
    np.testing.assert_allclose(s["range_over_mean"][1], 0.9 / (1.4 / 3))


# ---------------------------------------------------------------------- fast = naive
def _random_partition(g: ng.NeuronGraph, k: int, seed: int) -> ng.Partition:
    return ng.Partition(np.random.default_rng(seed).integers(0, k, g.n_nodes), g)


def _assert_same(a: ng.ProxyResult, b: ng.ProxyResult) -> None:
    for s in a.statistics:
        np.testing.assert_allclose(a.true[s.name], b.true[s.name], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(a.random[s.name], b.random[s.name], rtol=1e-6, atol=1e-9)
    for name in ("balanced_accuracy", "selectivity", "accuracy"):
        if name in a.true:  # accuracies come from counts: exactly equal
            np.testing.assert_array_equal(a.true[name], b.true[name])


class _ConvBN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 3, padding=1),
            nn.BatchNorm2d(6),
            nn.ReLU(),
            nn.Conv2d(6, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.Sigmoid(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
        )
        self.head = nn.Linear(8 * 4 * 4, 3)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


def _trained_like(model: nn.Module, seed: int) -> nn.Module:
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.from_numpy(rng.normal(size=m.num_features)))
                m.running_var.copy_(torch.from_numpy(rng.uniform(0.2, 3.0, m.num_features)))
                m.weight.copy_(torch.from_numpy(rng.choice([-1.0, 1.0], m.num_features)))
    return model.eval()


@pytest.mark.parametrize("site", ["read", "pre"])
def test_fast_path_equals_a_forward_pass_per_lesion(noisy_task, site):
    model, x, y = noisy_task
    g = ng.weight_graph(model, x[:1])
    part = _random_partition(g, 3, seed=1)
    kw = dict(n_random=7, random_state=3, site=site, batch_size=100)
    _assert_same(
        ng.importance(model, part, x, y, **kw),
        ng.importance(model, part, x, y, engine="naive", **kw),
    )


def test_chunks_of_any_size_give_the_same_numbers(noisy_task, monkeypatch):
    from nngraph.proxies import _importance

    model, x, y = noisy_task
    part = _random_partition(ng.weight_graph(model, x[:1]), 3, seed=2)
    kw = dict(n_random=9, random_state=0, batch_size=100)
    one_lesion = ng.importance(model, part, x, y, max_memory=1, **kw)  # one lesion per chunk
    all_at_once = ng.importance(model, part, x, y, max_memory="1GiB", **kw)
    chosen = {}
    real = _importance._rows_per_chunk

    def spy(runner, site, set_size, budget):
        chosen[site.layer] = budget
        return real(runner, site, set_size, budget)

    monkeypatch.setattr(_importance, "_rows_per_chunk", spy)
    default = ng.importance(model, part, x, y, **kw)
    assert set(chosen.values()) == {_importance.CPU_CHUNK_BYTES}  # the model is on the CPU
    for other in (all_at_once, default):
        _assert_same(one_lesion, other)


def test_fast_path_on_a_cnn_with_batch_norm_and_a_residual_network():
    from nngraph.models import resnet18

    torch.manual_seed(0)
    cnn = _trained_like(_ConvBN(), 0)
    x = torch.randn(50, 1, 8, 8)
    y = torch.randint(0, 3, (50,))
    g = ng.weight_graph(cnn, x[:1])
    part = _random_partition(g, 3, seed=2)
    kw = dict(n_random=5, random_state=0, batch_size=20)
    _assert_same(
        ng.importance(cnn, part, x, y, **kw), ng.importance(cnn, part, x, y, engine="naive", **kw)
    )
    res = _trained_like(resnet18(num_classes=4, in_channels=1, width=4), 1)
    x = torch.randn(30, 1, 16, 16)
    y = torch.randint(0, 4, (30,))
    g = ng.weight_graph(res, x[:1])
    part = _random_partition(g, 3, seed=3)
    _assert_same(
        ng.importance(res, part, x, y, **kw), ng.importance(res, part, x, y, engine="naive", **kw)
    )


def test_lesion_sites(noisy_task):
    """Silence at 'read' after the batch norm and activation, at 'pre' before it.

    Checked against forward hooks on the modules.
    """
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Sigmoid(), nn.Linear(5, 3))
    model = _trained_like(model, 0)
    with torch.no_grad():
        model[1].running_mean.normal_()
        model[1].running_var.uniform_(0.3, 2.0)
    x = torch.randn(40, 4)
    y = torch.randint(0, 3, (40,))
    part = ng.Partition({"0": np.array([0, 0, 1, 1, 1])})
    for site, hooked in (("read", 2), ("pre", 1)):
        res = ng.importance(
            model, part, x, y, n_random=3, random_state=0, site=site, max_fraction=1.0
        )
        row = res.rows[0]
        units = np.array(row["units"])

        def zero(module, args, out, units=units):
            out = out.clone()
            out[:, units] = 0.0
            return out

        handle = model[hooked].register_forward_hook(zero)
        with torch.no_grad():
            logits = model(x)
        handle.remove()
        pred = logits.argmax(1)
        per_class = [float((pred[y == c] == c).float().mean()) for c in range(3)]
        assert row["balanced_accuracy"] == pytest.approx(np.mean(per_class))
    assert "batch norm" in res.info["sites"]["0"]


class _ResidualBlock(nn.Module):
    """A stem, then one residual block: ``act(bn2(conv2(...)) + stem)``, then a head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(4)
        self.act = nn.ReLU()
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(h)))))
        out += h  # in place, as torchvision's ResNets
        return self.head(self.act(out).mean((2, 3)))


def _hooked_logits(model: nn.Module, module: nn.Module, units, x: torch.Tensor) -> torch.Tensor:
    """Run ``model`` with channels ``units`` of ``module``'s output set to zero (a plain hook)."""

    def zero(mod, args, out):
        out = out.clone()
        out[:, list(units)] = 0.0
        return out

    handle = module.register_forward_hook(zero)
    try:
        with torch.no_grad():
            return model(x)
    finally:
        handle.remove()


def _balanced_accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    pred = logits.argmax(1)
    return float(np.mean([(pred[y == c] == c).float().mean() for c in y.unique()]))


def test_a_residual_unit_is_silenced_before_the_add_so_the_skip_carries_its_input():
    from itertools import combinations

    from nngraph.graphs._sites import unit_sites
    from nngraph.graphs._tracing import trace_model
    from nngraph.proxies._forward import LesionRunner

    torch.manual_seed(0)
    model = _trained_like(_ResidualBlock(), 4)
    with torch.no_grad():
        model.head.weight.mul_(10.0)  # logits that depend on the channels
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 1, 6, 6, generator=g)
    y = torch.randint(0, 3, (60,), generator=g)
    part = ng.Partition({"conv2": np.array([0, 0, 1, 1])})
    res = ng.importance(model, part, x, y, n_random=3, random_state=0, max_fraction=1.0)
    assert res.info["sites"]["conv2"] == "after module 'bn2' (batch norm)"
    assert [r["units"] for r in res.rows] == [[0, 1], [2, 3]]
    for row in res.rows:
        before_add = _hooked_logits(model, model.bn2, row["units"], x)
        loss = nn.functional.cross_entropy(before_add.double(), y).item()
        assert row["loss"] == pytest.approx(loss, rel=1e-6)
        assert row["balanced_accuracy"] == pytest.approx(_balanced_accuracy(before_add, y))
        # Silencing the sum instead (skip path included) gives another loss: the
        # comparison above tells the two lesion points apart.
        after_add = _hooked_logits(model, model.act, row["units"], x)
        other = nn.functional.cross_entropy(after_add.double(), y).item()
        assert other != pytest.approx(loss, rel=1e-3)
    # The engine itself, for every set of one and two channels at once.
    trace = trace_model(model, x[:1])
    site = unit_sites(trace, "read")["conv2"]
    runner = LesionRunner(trace.graph_module)
    sets = [[u] for u in range(4)] + [list(c) for c in combinations(range(4), 2)]
    with torch.no_grad():
        runner.run(x)
        singles = runner.lesioned(site, torch.tensor(sets[:4]))
        pairs = runner.lesioned(site, torch.tensor(sets[4:]))
    for j, units in enumerate(sets):
        got = singles[j] if j < 4 else pairs[j - 4]
        expected = _hooked_logits(model, model.bn2, units, x)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------- calibration
@pytest.mark.slow
def test_p_values_are_calibrated_under_random_partitions(noisy_task):
    model, x, y = noisy_task
    g = ng.weight_graph(model, x[:1])
    rng = np.random.default_rng(0)
    randomized, reported, combined, independent = [], [], [], []
    for rep in range(400):
        part = ng.Partition(rng.integers(0, 4, g.n_nodes), g)
        res = ng.importance(model, part, x, y, n_random=19, random_state=rep)
        t, r = res.true["balanced_accuracy"], res.random["balanced_accuracy"]
        pv = empirical_pvalues(t, r, alternative="less")
        u = rng.random(t.size)
        randomized += list((pv.n_more + u * (pv.n_ties + 1)) / (pv.n_random + 1))
        reported += [row["balanced_accuracy_p"] for row in res.rows]
        combined.append(res.combined_p("balanced_accuracy"))
        independent.append(res.combined_p("balanced_accuracy", "fisher_exact"))
    assert kstest(randomized, "uniform").pvalue > 0.01
    assert np.mean(np.array(reported) <= 0.05) < 0.08
    # The default combination ("null_t") measures how the disjoint sub-clusters of a
    # layer depend on each other; Fisher's, which assumes independence, is conservative.
    # Measured: 0.0275 here (the exact partition rank: 0.0275; Brown 0.04), 400 partitions.
    size = np.mean(np.array(combined) <= 0.05)
    assert 0.015 <= size <= 0.07, size
    fisher = np.mean(np.array(independent) <= 0.05)
    assert fisher < size


# ---------------------------------------------------------------------- the model untouched
def test_the_model_is_untouched_also_after_an_error(noisy_task):
    model, x, y = noisy_task
    model = copy.deepcopy(model).train()
    model[2].eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    g = ng.weight_graph(model, x[:1])
    part = _random_partition(g, 3, seed=0)
    ng.importance(model, part, x, y, n_random=3, random_state=0)
    with pytest.raises(ValueError):
        ng.importance(model, part, x, y + 5, n_random=3)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert [m.training for m in model.modules()] == modes


def test_the_model_is_byte_identical_after_an_error_in_the_middle_of_the_lesions(monkeypatch):
    from nngraph.proxies._forward import LesionRunner

    torch.manual_seed(0)
    model = _trained_like(_ConvBN(), 2).train()  # batch norms that would update in train mode
    model.features[4].eval()
    model.head.weight.requires_grad_(False)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(40, 1, 8, 8, generator=g)
    y = torch.randint(0, 3, (40,), generator=g)
    part = _random_partition(ng.weight_graph(model, x[:1]), 3, seed=4)
    kw = dict(n_random=3, n_null_partitions=0, random_state=0, max_memory=1)  # a lesion a call
    before = ng.importance(model, part, x, y, **kw)
    assert before.info["n_lesions"] > 6

    def snapshot():
        return (
            {
                k: (v.dtype, tuple(v.shape), v.numpy().tobytes())
                for k, v in model.state_dict().items()
            },
            [(name, m.training) for name, m in model.named_modules()],
            [(name, p.requires_grad) for name, p in model.named_parameters()],
        )

    state = snapshot()
    calls: list[str] = []
    real = LesionRunner.lesioned

    def failing(self, site, sets):
        out = real(self, site, sets)  # the lesion runs through the model, then fails
        calls.append(site.layer)
        if len(calls) == 3:
            raise RuntimeError("lesion 3 failed")
        return out

    monkeypatch.setattr(LesionRunner, "lesioned", failing)
    with pytest.raises(RuntimeError, match="lesion 3 failed"):
        ng.importance(model, part, x, y, **kw)
    monkeypatch.undo()
    assert len(calls) == 3
    assert snapshot() == state
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
    _assert_same(ng.importance(model, part, x, y, **kw), before)


# ---------------------------------------------------------------------- bad input
def test_bad_input_is_refused_before_any_work(noisy_task, tmp_path):
    model, x, y = noisy_task
    g = ng.weight_graph(model, x[:1])
    part = _random_partition(g, 3, seed=0)
    with pytest.raises(ValueError, match="partition has a layer 'fc9'"):
        ng.importance(model, ng.Partition({"fc9": np.zeros(3, dtype=int)}), x, y)
    with pytest.raises(ValueError, match="layer '0' has 5 units in the partition but 24"):
        ng.importance(model, ng.Partition({"0": np.zeros(5, dtype=int)}), x, y)
    with pytest.raises(ValueError, match="targets hold class 7 but the model has 3 classes"):
        ng.importance(model, part, x, torch.full_like(y, 7))
    with pytest.raises(ValueError, match="inputs hold 240 examples but targets 10"):
        ng.importance(model, part, x, y[:10])
    with pytest.raises(ValueError, match=r"targets must have shape \(n,\)"):
        ng.importance(model, part, x, y.reshape(-1, 1, 1))
    with pytest.raises(TypeError, match="class indices"):
        ng.importance(model, part, x, y.float())
    for proxy in (ng.importance, ng.coherence):  # as study and the command line
        with pytest.raises(ValueError, match="alpha must be a finite positive number < 1"):
            proxy(model, part, x, y, alpha=1.0)
    with pytest.raises(ValueError, match="look one-hot .* targets.argmax"):
        ng.importance(model, part, x, torch.nn.functional.one_hot(y, 3))
    with pytest.raises(ValueError, match="no sub-cluster to test"):
        ng.importance(model, part, x, y, min_size=100)
    bad = x.clone()
    bad[7, 2], bad[9, 0] = float("nan"), float("inf")
    for proxy in (ng.importance, ng.coherence):
        with pytest.raises(ValueError, match="2 of 240 examples, the first at index 7"):
            proxy(model, part, bad, y)
    broken = copy.deepcopy(model)
    with torch.no_grad():
        broken[0].bias[1] = float("nan")
    for proxy in (ng.importance, ng.coherence):
        with pytest.raises(ValueError, match="parameter '0.bias' holds NaN or infinite"):
            proxy(broken, part, x, y)
    masked = copy.deepcopy(model)
    masked.register_buffer("floor", torch.tensor(float("-inf")))  # an infinity on purpose
    with pytest.warns(ng.GraphMismatchWarning):  # the buffer makes it another network
        assert ng.importance(masked, part, x, y, n_random=3, random_state=0).n_rows > 0
    masked.floor.fill_(float("nan"))
    with pytest.raises(ValueError, match="buffer 'floor' holds NaN"):
        ng.importance(masked, part, x, y)
    lazy = nn.Sequential(nn.LazyLinear(24), nn.ReLU(), nn.Linear(24, 3))
    with pytest.raises(ng.UnsupportedModelError, match="uninitialised"):
        ng.importance(lazy, ng.Partition({"0": np.zeros(24, dtype=int)}), x, y)
    embed = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 8), nn.Unflatten(1, (2, 4)))
    g = ng.weight_graph(embed, x[:1])
    with pytest.raises(ValueError, match="class scores of shape"):
        ng.importance(embed, _random_partition(g, 2, 0), x, y)
    path = part.save(tmp_path / "p.json")
    assert ng.importance(model, path, x, y, n_random=3, random_state=0).n_rows > 0


def test_results_round_trip_and_read(noisy_task, tmp_path):
    import csv
    import json

    model, x, y = noisy_task
    g = ng.weight_graph(model, x[:1])
    res = ng.importance(model, _random_partition(g, 3, 0), x, y, n_random=5, random_state=0)
    doc = json.loads(res.to_json(tmp_path / "imp.json"))
    assert doc["proxy"] == "importance" and len(doc["rows"]) == res.n_rows
    rows = list(csv.DictReader(open(res.to_csv(tmp_path / "imp.csv") and tmp_path / "imp.csv")))
    assert [r["layer"] for r in rows] == [r["layer"] for r in res.rows]
    assert float(rows[0]["balanced_accuracy_p"]) == pytest.approx(
        res.rows[0]["balanced_accuracy_p"]
    )
    assert "balanced_accuracy" in str(res) and "combined p" in str(res)
    assert str(res).startswith(f"importance: {res.n_rows} sub-clusters, 5 random sets each")
    one = dataclasses.replace(res, rows=res.rows[:1])
    assert one.summary().startswith("importance: 1 sub-cluster, 5 random sets each")
    ax = res.plot()
    assert ax.get_ylabel() == "p (balanced_accuracy)"


def test_multi_head_targets_get_per_head_statistics():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(120, 6, generator=g)
    y = torch.stack([(x[:, :3].sum(1) > 0).long(), (x[:, 3:].sum(1) > 0).long()], 1)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 4))
        opt = torch.optim.Adam(model.parameters(), 1e-2)
        for _ in range(200):
            opt.zero_grad()
            out = model(x)
            loss = nn.functional.cross_entropy(out[:, :2], y[:, 0]) + nn.functional.cross_entropy(
                out[:, 2:], y[:, 1]
            )
            loss.backward()
            opt.step()
    model.eval()
    gr = ng.weight_graph(model, x[:1])
    res = ng.importance(model, _random_partition(gr, 2, 0), x, y, n_random=5, random_state=0)
    names = [s.name for s in res.statistics]
    assert "balanced_accuracy_head0" in names and "head_gap" in names
    assert res.info["n_heads"] == 2 and res.info["n_classes"] == 2


def test_same_numbers_with_a_process_pool(noisy_task):
    import concurrent.futures as cf
    import multiprocessing as mp

    model, x, y = noisy_task
    g = ng.weight_graph(model, x[:1])
    part = _random_partition(g, 3, seed=4)
    serial = ng.importance(model, part, x, y, n_random=5, random_state=0)
    with cf.ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as pool:
        parallel = ng.importance(model, part, x, y, n_random=5, random_state=0, executor=pool)
    for s in serial.statistics:
        np.testing.assert_array_equal(serial.true[s.name], parallel.true[s.name])
        np.testing.assert_array_equal(serial.random[s.name], parallel.random[s.name])


def test_combined_p_matches_the_stats_function(noisy_task):
    model, x, y = noisy_task
    g = ng.weight_graph(model, x[:1])
    res = ng.importance(model, _random_partition(g, 3, 5), x, y, n_random=9, random_state=1)
    pv = empirical_pvalues(res.true["loss"], res.random["loss"], alternative="greater")
    assert res.combined_p("loss", "fisher_exact") == combine_pvalues(pv, random_state=1).p
    assert list(res.combined["loss"]) == [
        "null_t",
        "brown",
        "partition_rank",
        "fisher_exact",
        "fisher_halfbin",
    ]
