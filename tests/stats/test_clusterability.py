"""Clusterability against shuffled networks: null models, statistics, executors."""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing as mp
import os
import signal
import subprocess
import textwrap
import time

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn as nn

import nngraph as ng
from nngraph.stats._null_models import NullModel
from nngraph.stats._null_models_kernels import symmetric_csr
from tests.helpers import python_with_ctrl_c


def _modular_mlp(rng, n_modules=3, width=8, noise=0.02) -> nn.Sequential:
    """Build an MLP whose weight matrices are block-diagonal (one block per module) + noise."""
    sizes = [n_modules * width] * 4
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        lin = nn.Linear(a, b)
        w = noise * rng.standard_normal((b, a))
        for m in range(n_modules):
            block = slice(m * width, (m + 1) * width)
            w[block, block] += rng.uniform(0.5, 1.5, (width, width))
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
        layers += [lin, nn.ReLU()]
    return nn.Sequential(*layers[:-1])


@pytest.fixture
def modular_graph(rng) -> ng.NeuronGraph:
    model = _modular_mlp(rng)
    return ng.weight_graph(model, torch.zeros(1, 24))


@pytest.fixture
def random_graph(rng) -> ng.NeuronGraph:
    model = nn.Sequential(
        nn.Linear(24, 24), nn.ReLU(), nn.Linear(24, 24), nn.ReLU(), nn.Linear(24, 24)
    )
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape))))
    return ng.weight_graph(model, torch.zeros(1, 24))


# ------------------------------------------------------------------ null models


def test_layer_null_permutes_each_block(modular_graph, rng):
    null = NullModel(modular_graph, "layer")
    shuffled = null.sample(rng)
    g = modular_graph
    assert abs(shuffled - shuffled.T).max() == 0
    for p, c in g.layer_pairs:
        rows, cols = g.layer_nodes(int(c)), g.layer_nodes(int(p))
        before = g.adjacency[rows][:, cols].toarray()
        after = shuffled[rows][:, cols].toarray()
        np.testing.assert_array_equal(np.sort(before.ravel()), np.sort(after.ravel()))
        assert not np.array_equal(before, after)
    # No edge appears inside a layer or between layers that had no block.
    same_layer = g.node_layer[:, None] == g.node_layer[None, :]
    assert not shuffled.toarray()[same_layer].any()


def test_layer_null_moves_zeros_but_nonzero_null_keeps_the_pattern(modular_graph, rng):
    g = modular_graph
    pruned = g.adjacency.toarray()
    pruned[pruned < 0.3] = 0  # prune the noise: many zeros inside each block
    g = g.with_adjacency(sp.csr_array(pruned))
    pattern = g.adjacency.toarray() > 0
    keep = NullModel(g, "layer_nonzero").sample(rng).toarray()
    np.testing.assert_array_equal(keep > 0, pattern)
    moved = NullModel(g, "layer").sample(rng).toarray()
    assert not np.array_equal(moved > 0, pattern)
    assert np.count_nonzero(moved) == np.count_nonzero(pattern)


def test_offdiagonal_null_keeps_values(rng):
    a = rng.random((30, 30))
    a = np.triu(a * (a > 0.7), 1)
    a = a + a.T
    g = ng.NeuronGraph(a, ["x"], np.zeros(30), np.arange(30), kind="activation")
    out = NullModel(g, "offdiagonal").sample(rng).toarray()
    assert np.all(np.diag(out) == 0) and np.array_equal(out, out.T)
    np.testing.assert_allclose(
        np.sort(out[np.triu_indices(30, 1)]), np.sort(a[np.triu_indices(30, 1)])
    )


def test_offdiagonal_null_keeps_the_self_loops(rng):
    # The diagonal is not shuffled: a graph of self-loops is not made to look clusterable.
    a = rng.random((30, 30))
    a = np.triu(a * (a > 0.7), 1)
    a = a + a.T + np.diag(rng.random(30) * 3)
    g = ng.NeuronGraph(a, ["x"], np.zeros(30), np.arange(30), kind="activation")
    out = NullModel(g, "offdiagonal").sample(rng).toarray()
    np.testing.assert_array_equal(np.diag(out), np.diag(a))
    assert out.sum() == pytest.approx(a.sum())


@pytest.mark.parametrize("step", [1, 37])  # by a map of the positions, or sorted
@pytest.mark.parametrize("n", [2, 3, 10, 1001])
def test_symmetric_csr_of_upper_positions_follows_the_triu_order(rng, n, step):
    """Position k is the k-th entry of the strict upper triangle, row by row."""
    rows, cols = np.triu_indices(n, 1)
    positions = rng.permutation(np.arange(0, rows.size, step, dtype=np.int64))
    values = positions + 1.0
    indptr, indices, data = symmetric_csr(n, positions, values, np.zeros(n))
    dense = np.zeros((n, n))
    dense[rows[positions], cols[positions]] = values
    out = sp.csr_array((data, indices, indptr), shape=(n, n))
    assert out.has_canonical_format
    np.testing.assert_array_equal(out.toarray(), dense + dense.T)


def _scipy_offdiagonal_sample(null: NullModel, rng: np.random.Generator) -> sp.csr_array:
    """Draw the offdiagonal null as scipy builds it (same draws; upper + upper.T + diag)."""
    n, values = null._n, null._values
    positions = rng.choice(n * (n - 1) // 2, size=values.size, replace=False)
    rows, cols = np.triu_indices(n, 1)
    upper = sp.coo_array(
        (values[rng.permutation(values.size)], (rows[positions], cols[positions])), shape=(n, n)
    )
    return sp.csr_array(upper + upper.T + sp.diags_array(null._diagonal))


@pytest.mark.parametrize("density", [0.05, 0.5, 1.0])
@pytest.mark.parametrize("loops", [False, True])
def test_offdiagonal_sample_equals_scipys_construction(rng, density, loops):
    n = 60
    a = rng.random((n, n)) * (rng.random((n, n)) < density)
    a = np.triu(a, 1)
    a = a + a.T + (np.diag(rng.random(n) * (rng.random(n) < 0.5)) if loops else 0)
    g = ng.NeuronGraph(a, ["x"], np.zeros(n), np.arange(n), kind="activation")
    null = NullModel(g, "offdiagonal")
    for seed in range(5):
        out = null.sample(np.random.default_rng(seed))
        ref = _scipy_offdiagonal_sample(null, np.random.default_rng(seed))
        ref.sum_duplicates()
        assert out.has_canonical_format
        np.testing.assert_array_equal(out.indptr, ref.indptr)
        np.testing.assert_array_equal(out.indices, ref.indices)
        np.testing.assert_array_equal(out.data, ref.data)


# ------------------------------------------------------------------ statistics


@pytest.fixture
def spectral():
    return ng.SpectralClustering(3, random_state=0, n_init=5)


def test_planted_modular_network_is_clusterable(modular_graph, spectral):
    res = ng.clusterability(modular_graph, spectral, n_shuffles=20, random_state=0)
    assert res.z < -3
    assert res.p == pytest.approx(1 / 21)  # the smallest possible p
    assert res.ncut < res.null.min()
    assert res.null.shape == (20,)
    assert res.n_units == modular_graph.n_nodes


def test_random_network_is_not(random_graph, spectral):
    res = ng.clusterability(random_graph, spectral, n_shuffles=20, random_state=0)
    assert res.z > -3
    assert res.p > 1 / 21


def _dense_ncut(a: np.ndarray, labels: np.ndarray) -> float:
    """Sum cut / volume over the clusters, on a dense matrix (units labelled -1 dropped)."""
    keep = labels >= 0
    a, labels = a[np.ix_(keep, keep)], labels[keep]
    total = 0.0
    for c in np.unique(labels):
        inside = labels == c
        volume = a[inside].sum()
        total += a[np.ix_(inside, ~inside)].sum() / volume
    return float(total)


def _reference_null(graph: ng.NeuronGraph, k: int, n_shuffles: int, seed: int):
    """Recompute the true n-cut and the null independently, on dense matrices.

    Follows only the documented seeding (shuffle ``i`` draws from child ``i + 1`` of
    ``SeedSequence(random_state)``, split in two: the permutation, then the
    partitioner's seed); the shuffle (a permutation of each dense layer block, zeros
    included), the removal of isolated units and the n-cut are written here from the
    method's definition.
    """
    a = graph.adjacency.toarray()
    offsets = np.concatenate([[0], np.cumsum(graph.layer_sizes)])
    true_seq, *shuffle_seqs = np.random.SeedSequence(seed).spawn(n_shuffles + 1)

    def partition_ncut(matrix: np.ndarray, seq: np.random.SeedSequence) -> float:
        keep = matrix.sum(axis=1) > 0
        sub = matrix[np.ix_(keep, keep)]
        part_seed = int(seq.generate_state(1, dtype=np.uint32)[0] >> 1)
        labels = ng.SpectralClustering(k, random_state=part_seed).fit(sub).labels_
        return _dense_ncut(sub, labels)

    true = partition_ncut(a, true_seq)
    null = []
    for seq in shuffle_seqs:
        shuffle_seq, partition_seq = seq.spawn(2)
        rng = np.random.default_rng(shuffle_seq)
        b = np.zeros_like(a)
        for p, c in graph.layer_pairs:
            rows = slice(offsets[c], offsets[c + 1])
            cols = slice(offsets[p], offsets[p + 1])
            block = a[rows, cols]
            flat = block.ravel()[rng.permutation(block.size)].reshape(block.shape)
            b[rows, cols] = flat
            b[cols, rows] = flat.T
        null.append(partition_ncut(b, partition_seq))
    return true, np.array(null)


def test_statistics_are_the_papers(modular_graph):
    spectral = ng.SpectralClustering(3)  # random_state None: each clone gets its seed
    res = ng.clusterability(modular_graph, spectral, n_shuffles=8, random_state=1)
    true, null = _reference_null(modular_graph, 3, 8, seed=1)
    assert res.ncut == pytest.approx(true, rel=1e-9)
    np.testing.assert_allclose(res.null, null, rtol=1e-9)
    mean, std = null.mean(), np.sqrt(np.mean((null - null.mean()) ** 2))
    assert res.mean == pytest.approx(mean) and res.std == pytest.approx(std)
    assert res.z == pytest.approx((true - mean) / std)
    assert res.p == pytest.approx((np.count_nonzero(null <= true) + 1) / 9)
    d = json.loads(res.to_json())
    assert d["z"] == pytest.approx(res.z) and d["null"] == pytest.approx(null.tolist())
    assert d["params"]["n_clusters"] == 3
    assert "z =" in str(res)


def test_isolated_units_are_removed(modular_graph, spectral):
    a = modular_graph.adjacency.toarray()
    a[0, :] = a[:, 0] = 0
    g = modular_graph.with_adjacency(sp.csr_array(a))
    res = ng.clusterability(g, spectral, n_shuffles=3, random_state=0)
    assert res.n_units == g.n_nodes - 1
    assert np.all(np.isfinite(res.null))


def test_reproducible_and_independent_of_executor(modular_graph, spectral):
    serial = ng.clusterability(modular_graph, spectral, n_shuffles=6, random_state=3)
    again = ng.clusterability(modular_graph, spectral, n_shuffles=6, random_state=3)
    np.testing.assert_array_equal(serial.null, again.null)
    with cf.ThreadPoolExecutor(3) as ex:
        threads = ng.clusterability(
            modular_graph, spectral, n_shuffles=6, random_state=3, executor=ex
        )
    np.testing.assert_allclose(threads.null, serial.null, rtol=1e-12)
    with cf.ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as ex:
        procs = ng.clusterability(
            modular_graph, spectral, n_shuffles=6, random_state=3, executor=ex
        )
    np.testing.assert_allclose(procs.null, serial.null, rtol=1e-12)
    other = ng.clusterability(modular_graph, spectral, n_shuffles=6, random_state=4)
    assert not np.array_equal(other.null, serial.null)


def test_seed_none_is_recorded_and_reproduces(modular_graph, spectral):
    first = ng.clusterability(modular_graph, spectral, n_shuffles=3)
    again = ng.clusterability(
        modular_graph, spectral, n_shuffles=3, random_state=first.random_state
    )
    np.testing.assert_array_equal(first.null, again.null)


def test_dask_cluster_gives_the_same_null(modular_graph, spectral):
    distributed = pytest.importorskip("distributed")
    serial = ng.clusterability(modular_graph, spectral, n_shuffles=4, random_state=5)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        res = ng.clusterability(
            modular_graph, spectral, n_shuffles=4, random_state=5, executor=client.get_executor()
        )
    np.testing.assert_allclose(res.null, serial.null, rtol=1e-12)


def test_plot(modular_graph, spectral, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    res = ng.clusterability(modular_graph, spectral, n_shuffles=4, random_state=0)
    ax = res.plot()
    ax.figure.savefig(tmp_path / "null.png")
    assert (tmp_path / "null.png").stat().st_size > 0


# ------------------------------------------------------------------ bad input


class _FailsOnShuffles:
    """Fits the true graph, fails on any other (or on every graph with ``always``)."""

    def __init__(self, target: sp.csr_array, always: bool = False) -> None:
        self.target = target
        self.always = always

    def fit(self, graph):
        if self.always or (graph.adjacency != self.target).nnz:
            raise RuntimeError("boom")
        self.labels_ = np.zeros(graph.n_nodes, dtype=np.int64)
        return self


def test_bad_input(modular_graph, spectral):
    with pytest.raises(ValueError, match="n_shuffles must be at least 1"):
        ng.clusterability(modular_graph, spectral, n_shuffles=0)
    with pytest.raises(ValueError, match="method must be one of"):
        ng.clusterability(modular_graph, spectral, method="global")
    act = ng.NeuronGraph(
        modular_graph.adjacency,
        ["x"],
        np.zeros(modular_graph.n_nodes),
        np.arange(modular_graph.n_nodes),
        kind="activation",
    )
    with pytest.raises(ValueError, match="no layer blocks"):
        ng.clusterability(act, spectral, n_shuffles=2)
    ng.clusterability(act, spectral, n_shuffles=2, method="offdiagonal")  # the right null
    g = modular_graph
    for pairs, message in (
        ([*g.layer_pairs.tolist(), g.layer_pairs[0, ::-1].tolist()], "lists the layers .* twice"),
        ([*g.layer_pairs.tolist(), [1, 1]], "pairs layer 1 with itself"),
    ):
        odd = ng.NeuronGraph(
            g.adjacency, g.layer_names, g.node_layer, g.node_unit, layer_pairs=pairs
        )
        with pytest.raises(ValueError, match=message):
            ng.clusterability(odd, spectral, n_shuffles=2)
    with pytest.raises(TypeError, match="executor"):
        ng.clusterability(modular_graph, spectral, n_shuffles=2, executor=4)
    with pytest.raises(TypeError, match="random_state"):
        ng.clusterability(modular_graph, spectral, n_shuffles=2, random_state=1.5)


def test_failing_partitioner_names_the_shuffle(modular_graph):
    g = modular_graph
    with pytest.raises(RuntimeError, match="boom"):  # fails on the true graph: plain error
        ng.clusterability(g, _FailsOnShuffles(g.adjacency, always=True), n_shuffles=3)
    with pytest.raises(ng.ShuffleFailedError, match="shuffle 0") as info:
        ng.clusterability(g, _FailsOnShuffles(g.adjacency), n_shuffles=3, random_state=0)
    assert info.value.shuffle == 0
    assert isinstance(info.value.__cause__, RuntimeError)


_CTRL_C_SCRIPT = textwrap.dedent(
    """
    import concurrent.futures as cf, multiprocessing as mp, sys, time
    import numpy as np, torch
    import nngraph as ng


    class SlowInWorkers:
        \"\"\"Quick on the true graph (in the parent), a minute per shuffle in a worker.\"\"\"

        def get_params(self, deep=True):
            return {}

        def fit(self, graph):
            if mp.parent_process() is not None:
                time.sleep(60)
            self.labels_ = np.arange(graph.n_nodes) % 2
            return self


    if __name__ == "__main__":
        model = torch.nn.Sequential(torch.nn.Linear(6, 6), torch.nn.ReLU(),
                                    torch.nn.Linear(6, 3))
        g = ng.weight_graph(model, torch.zeros(1, 6))
        ex = cf.ProcessPoolExecutor(2, mp_context=mp.get_context("spawn"))
        list(ex.map(abs, [1, 2]))  # start the workers
        print(" ".join(str(p) for p in ex._processes), flush=True)
        try:
            ng.clusterability(g, SlowInWorkers(), n_shuffles=8, executor=ex, random_state=0)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
    """
)


def test_ctrl_c_cancels_and_leaves_no_workers(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(_CTRL_C_SCRIPT)
    proc = subprocess.Popen(python_with_ctrl_c(str(script)), stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2
        time.sleep(3)  # the chunks are running (sleeping) in the workers
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3 and "interrupted" in out
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purpose
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_p_value_counts_ties_and_z_without_spread():
    from nngraph.stats._clusterability import ClusterabilityResult

    res = ClusterabilityResult(
        ncut=2.0,
        null=np.array([1.0, 2.0, 2.0, 3.0]),
        method="layer",
        random_state=0,
        partitioner="x",
    )
    assert res.p == pytest.approx(4 / 5)  # 1.0, 2.0, 2.0 are <= 2.0: (3 + 1) / (4 + 1)
    assert res.z == pytest.approx(0.0)
    flat = ClusterabilityResult(
        ncut=1.0, null=np.full(3, 2.0), method="layer", random_state=0, partitioner="x"
    )
    assert flat.z == -np.inf and flat.p == pytest.approx(1 / 4)
    assert json.loads(flat.to_json())["z"] is None  # strict JSON: no -Infinity


def test_one_shuffle_gives_no_z_and_the_text_says_what_p_can_be():
    from nngraph.stats._clusterability import ClusterabilityResult

    one = ClusterabilityResult(
        ncut=1.0, null=np.array([2.0]), method="layer", random_state=0, partitioner="x"
    )
    assert np.isnan(one.z) and one.p == one.p_min == pytest.approx(0.5)
    assert json.loads(one.to_json())["z"] is None
    text = str(one)
    assert "(layer null, 1 shuffle): n-cut 1.0000 vs null 2.0000; z undefined (fewer than" in text
    assert "negative" not in text  # no sign to explain
    assert "the smallest p 1 shuffle can give" in text and "not shown more clusterable" in text
    many = ClusterabilityResult(
        ncut=1.0, null=np.linspace(2, 3, 40), method="layer", random_state=0, partitioner="x"
    )
    assert "p = 0.0244 (the smallest p 40 shuffles can give): more clusterable" in str(many)


@pytest.mark.parametrize("n", [2, 3, 7, 60, 700])
def test_upper_triangle_entries_in_row_major_order(rng, n):
    from nngraph.stats._null_models_kernels import _MAP_MAX_RATIO, _row_major_entries

    n_positions = n * (n - 1) // 2
    iu = np.triu_indices(n, 1)
    # Dense enough for the map of positions, and sparse enough for the counting sorts.
    for m in {1, n_positions, max(1, n_positions // (2 * _MAP_MAX_RATIO))}:
        positions = rng.choice(n_positions, size=m, replace=False).astype(np.int64)
        values = rng.random(m)
        rows, cols, vals = _row_major_entries(n, positions, values)
        order = np.argsort(positions)
        np.testing.assert_array_equal(rows, iu[0][positions[order]])
        np.testing.assert_array_equal(cols, iu[1][positions[order]])
        np.testing.assert_array_equal(vals, values[order])
