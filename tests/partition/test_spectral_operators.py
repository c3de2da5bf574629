"""The pieces of the spectral eigen-solve, each alone, against dense references.

Operators (``S A S`` from CSR arrays, from blocks, or held dense), the eigenproblems built from them
(``N`` on the kept units, ``B B^T`` over one side of a bipartite graph), the known
eigenvectors, and the solvers on a problem.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp

from nngraph.datasets import disconnected_cliques, layered_graph, path, with_isolated
from nngraph.datasets import planted_partition as sbm
from nngraph.partition import _spectral_dense as spectral_dense
from nngraph.partition import _spectral_operators as operators
from nngraph.partition._prepared import PreparedGraph
from nngraph.partition._spectral_operators import BlockOperator, CSROperator, as_index
from nngraph.partition._spectral_problems import (
    BipartiteProblem,
    FullProblem,
    ReductionFailed,
    known_vectors,
)
from nngraph.partition._spectral_solvers import solve
from nngraph.utils._threads import ThreadPolicy

pytestmark = pytest.mark.usefixtures("spectral_kernels")


def normalised(a) -> np.ndarray:
    """Dense ``S A S`` with ``S = D^+1/2`` (0 for isolated units)."""
    a = a.toarray() if sp.issparse(a) else np.asarray(a, dtype=np.float64)
    d = a.sum(axis=1)
    s = np.divide(1.0, np.sqrt(d), out=np.zeros_like(d), where=d > 0)
    return s[:, None] * a * s[None, :]


@pytest.fixture
def isolated_sbm(rng):
    base, truth = sbm((15, 20), 0.4, 0.05, rng)
    return with_isolated(base, truth, where=[3, 30])[0]


@pytest.fixture
def layered(rng):
    return layered_graph((20, 30, 30, 10), 3, rng, noise=0.2)[0]


def threaded(workers: int) -> ThreadPolicy:
    return ThreadPolicy(context=None, blas_single=True, numba_parallel=True, workers=workers)


# ----------------------------------------------------------------------------- operators
@pytest.mark.parametrize("b", [1, 3])
def test_csr_operator_on_sub_blocks(isolated_sbm, rng, b):
    prep = PreparedGraph.from_graph(isolated_sbm)
    ref = normalised(isolated_sbm)
    op = CSROperator(prep)
    rows = np.sort(rng.choice(prep.n_nodes, 12, replace=False))
    sources = np.sort(rng.choice(prep.n_nodes, 20, replace=False))
    x = rng.standard_normal((sources.size, b))
    np.testing.assert_allclose(op.apply(rows, sources, x), ref[rows][:, sources] @ x, atol=1e-14)
    np.testing.assert_allclose(op.dense(rows, sources), ref[rows][:, sources], atol=1e-15)


def test_csr_operator_parallel_twin_is_identical(isolated_sbm, rng, monkeypatch):
    prep = PreparedGraph.from_graph(isolated_sbm)
    monkeypatch.setattr(operators, "_PARALLEL_MIN_NNZ", 0)
    x = rng.standard_normal((prep.kept.size, 4))
    serial = CSROperator(prep).apply(prep.kept, prep.kept, x)
    parallel = CSROperator(prep, threaded(2)).apply(prep.kept, prep.kept, x)
    np.testing.assert_array_equal(serial, parallel)


@pytest.mark.parametrize("b", [1, 2])  # one vector: BLAS gemv adds in place
@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("dense", [True, False])
def test_block_operator_matches_dense(rng, monkeypatch, workers, dense, b):
    # Dense blocks (BLAS), or sparse ones: 6 modules without noise fill 1/6 of a block.
    if dense:
        graph, _ = layered_graph((20, 30, 30, 10), 3, rng, noise=0.2)
    else:
        graph, _ = layered_graph((24, 30, 30, 12), 6, rng, noise=0.0)
    monkeypatch.setattr(operators, "_THREADED_BLOCK_MIN_ENTRIES", 0)
    prep = PreparedGraph.from_graph(graph)
    ref = normalised(graph.adjacency)
    pairs = [(0, 1, True), (1, 2, True), (2, 3, True)]
    op = BlockOperator(prep, prep.layer, 4, pairs, threaded(workers))
    assert op.workers == workers
    assert op.worthwhile() == dense
    local = [as_index(m, np.arange(prep.n_nodes)) for m in op.members]
    assert all(isinstance(i, slice) for i in local)  # layers are contiguous
    x = rng.standard_normal((prep.n_nodes, b))
    start = rng.standard_normal(x.shape)  # apply adds to what ``out`` holds
    out = op.apply("forward", x, start.copy(), local)
    np.testing.assert_allclose(out, start + ref @ x, atol=1e-14)
    gemvs = [gemv for entries in op._plan("forward", local) for *_, gemv in entries]
    if dense and workers == 1:  # whole blocks, C- or Fortran-ordered: all through gemv
        assert all(gemv is not None for gemv in gemvs)
    elif workers > 1:  # scipy's gemv keeps the GIL: numpy's matmul on threads
        assert all(gemv is None for gemv in gemvs)
    single = op.apply("forward", x.astype(np.float32), start.astype(np.float32), local, True)
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, start + ref @ x, atol=1e-5)
    assert op.products["backward"] == []  # mirrored pairs: everything is "forward"


def test_large_block_operators_keep_numpy_products(rng, monkeypatch):
    """Beyond _GEMV_MAX_ENTRIES numpy's matmul (scipy's gemv keeps the GIL), same result."""
    graph, _ = layered_graph((20, 30, 30, 10), 3, rng, noise=0.2)
    prep = PreparedGraph.from_graph(graph)
    pairs = [(0, 1, True), (1, 2, True), (2, 3, True)]
    small = BlockOperator(prep, prep.layer, 4, pairs)
    monkeypatch.setattr(operators, "_GEMV_MAX_ENTRIES", small.dense_entries - 1)
    large = BlockOperator(prep, prep.layer, 4, pairs)
    local = [as_index(m, np.arange(prep.n_nodes)) for m in small.members]
    x = rng.standard_normal(prep.n_nodes)
    outs = []
    for op, uses_gemv in ((small, True), (large, False)):
        assert all((g is not None) == uses_gemv for *_, g in op._plan("forward", local)[0])
        outs.append(op.apply("forward", x, np.zeros(prep.n_nodes), local))
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-14)
    np.testing.assert_allclose(outs[1], normalised(graph.adjacency) @ x, atol=1e-14)


@pytest.mark.parametrize("workers", [2, 3])
def test_block_operator_builds_the_same_blocks_on_threads(rng, monkeypatch, workers):
    # The counts and the dense blocks are computed in row ranges on the build threads.
    graph, _ = layered_graph((20, 31, 30, 9), 3, rng, noise=0.2)
    prep = PreparedGraph.from_graph(graph)
    pairs = [(0, 1, True), (1, 2, False), (2, 3, True)]
    serial = BlockOperator(prep, prep.layer, 4, pairs)
    serial.build()
    monkeypatch.setattr(operators, "_THREADED_BLOCK_MIN_ENTRIES", 0)
    threaded_op = BlockOperator(prep, prep.layer, 4, pairs, threaded(workers))
    assert threaded_op._build_workers == workers
    threaded_op.build()
    np.testing.assert_array_equal(threaded_op.counts, serial.counts)
    np.testing.assert_array_equal(serial.counts, _block_counts(graph.adjacency, prep.layer, 4))
    for direction in ("forward", "backward"):
        a, b = serial.products[direction], threaded_op.products[direction]
        assert [(p.dst, p.src) for p in a] == [(p.dst, p.src) for p in b]
        for pa, pb in zip(a, b, strict=True):
            whole = np.concatenate([m for *_, m in pb.pieces])
            np.testing.assert_array_equal(np.concatenate([m for *_, m in pa.pieces]), whole)


def _block_counts(adjacency, group, n_groups):
    coo = adjacency.tocoo()
    counts = np.zeros((n_groups, n_groups), dtype=np.int64)
    np.add.at(counts, (group[coo.row], group[coo.col]), 1)
    return counts


def test_block_operator_backward_is_the_transpose(layered, rng):
    # Unmirrored pairs: "forward" applies the blocks, "backward" their transposes.
    prep = PreparedGraph.from_graph(layered)
    ref = normalised(layered.adjacency)
    even, odd = prep.layer % 2 == 0, prep.layer % 2 == 1
    op = BlockOperator(prep, prep.layer, 4, [(0, 1, False), (2, 1, False), (2, 3, False)])
    local = [as_index(m, np.arange(prep.n_nodes)) for m in op.members]
    x = rng.standard_normal((prep.n_nodes, 1))
    fwd = op.apply("forward", x * odd[:, None], np.zeros_like(x), local)
    bwd = op.apply("backward", x * even[:, None], np.zeros_like(x), local)
    np.testing.assert_allclose(fwd + bwd, ref @ x, atol=1e-14)
    np.testing.assert_allclose(fwd[odd], 0.0)
    np.testing.assert_allclose(bwd[even], 0.0)


# ----------------------------------------------------------------------------- dense
@pytest.mark.parametrize("n", [5, 127, 128, 301])
def test_gram_is_exactly_symmetric_whatever_the_workers(rng, n):
    b = rng.standard_normal((n, 70))
    m = spectral_dense.gram(b)
    assert np.array_equal(m, m.T)  # symv reads one triangle: both must be the same
    np.testing.assert_allclose(m, b @ b.T, rtol=0, atol=1e-12)
    for workers in (2, 3):  # the split does not depend on the workers: nor does M
        assert np.array_equal(spectral_dense.gram(b, threaded(workers)), m)


def test_gram_by_layers_skips_empty_blocks(rng):
    # Rows in 4 groups, columns in 5; empty blocks in a pattern that leaves some pairs of
    # row groups with no common column group and others with two that are not adjacent.
    row_groups = np.repeat([0, 1, 2, 3], [30, 50, 40, 7])
    col_groups = np.repeat([0, 1, 2, 3, 4], [20, 35, 25, 45, 10])
    filled = np.array(
        [[1, 1, 0, 0, 0], [0, 1, 0, 1, 0], [1, 0, 0, 1, 1], [0, 0, 0, 0, 1]], dtype=bool
    )
    b = rng.standard_normal((row_groups.size, col_groups.size))
    b *= filled[row_groups][:, col_groups]
    m = spectral_dense.gram(b, None, row_groups, col_groups)
    assert np.array_equal(m, m.T)
    np.testing.assert_allclose(m, b @ b.T, rtol=0, atol=1e-12)
    assert np.all(m[:30, 120:] == 0.0)  # row groups 0 and 3 share no column group
    for workers in (2, 3):
        assert np.array_equal(spectral_dense.gram(b, threaded(workers), row_groups, col_groups), m)
    # Groups that are not runs of consecutive rows: by halves instead, the same matrix.
    shuffled = rng.permutation(row_groups.size)
    many = spectral_dense.gram(b[shuffled], None, row_groups[shuffled], col_groups)
    np.testing.assert_allclose(many, (b @ b.T)[np.ix_(shuffled, shuffled)], rtol=0, atol=1e-12)


def test_dense_operator(rng):
    a = rng.standard_normal((40, 40))
    a = a + a.T
    op = spectral_dense.DenseOperator(a)
    x = rng.standard_normal((40, 3))
    np.testing.assert_allclose(op.apply(x[:, :1]), a @ x[:, :1], rtol=0, atol=1e-13)
    np.testing.assert_allclose(op.apply(x), a @ x, rtol=0, atol=1e-13)
    single = op.apply(x, single=True)
    assert single.dtype == np.float64
    err = np.abs(single - a @ x).max() / np.abs(a @ x).max()
    assert 1e-9 < err < 1e-5  # rounded like float32, and still the same matrix


def test_gram_pays():
    assert spectral_dense.gram_pays(522, 576, 215_552)  # the digits MLP
    assert spectral_dense.gram_pays(2058, 2832, 3_958_784)  # MLP 784-1024x4-10: 1.3x faster
    # MLP 784-1536x4-10 (as fast either way) and 784-2048x4-10 (forming M costs more)
    assert not spectral_dense.gram_pays(3082, 3856, 8_297_472)
    assert not spectral_dense.gram_pays(4106, 4880, 14_209_024)
    assert not spectral_dense.gram_pays(100, 100, 500)  # sparse: M holds more than B
    assert not spectral_dense.gram_pays(5000, 10, 10**9)  # cheap, but too large to hold


def test_auto_forms_b_bt_when_it_pays(layered, monkeypatch):
    prep = PreparedGraph.from_graph(layered)
    known = known_vectors(prep, 1)
    assert BipartiteProblem(prep, known).kind == "B B^T (dense)"
    monkeypatch.setattr(spectral_dense, "_GRAM_PAYS_RATIO", 0)
    assert BipartiteProblem(prep, known).kind == "B B^T (blocks)"


def test_auto_holds_n_dense_when_its_blocks_fill_it(layered, rng):
    # A correlation-like graph, one dense block: dense.
    x = rng.standard_normal((200, 60))
    corr = np.corrcoef(x, rowvar=False) ** 2
    np.fill_diagonal(corr, 0.0)
    prep = PreparedGraph.from_graph(corr)
    assert FullProblem(prep, known_vectors(prep, 1)).kind == "N (dense)"
    # A chain of layers: blocks (4 x its 1,800 block entries < 90^2, what symv would read).
    prep = PreparedGraph.from_graph(layered)
    assert FullProblem(prep, known_vectors(prep, 1)).kind == "N (blocks)"
    # Sparse: CSR.
    a, _ = sbm((150, 150), 0.02, 0.002, rng)
    prep = PreparedGraph.from_graph(a)
    assert FullProblem(prep, known_vectors(prep, 1)).kind == "N (csr)"


def test_dense_pays():
    assert spectral_dense.dense_pays(1034, 535_095)  # the digits MLP's activation graph
    assert not spectral_dense.dense_pays(1034, 100_000)
    assert not spectral_dense.dense_pays(5000, 10**8)  # too large to hold


def test_as_index():
    local = np.array([-1, 0, 1, 2, -1, 3])
    assert as_index(np.array([1, 2, 3]), local) == slice(0, 3)
    np.testing.assert_array_equal(as_index(np.array([1, 5]), local), [0, 3])


# ----------------------------------------------------------------------------- problems
def test_known_vectors_are_eigenvectors():
    a, _ = with_isolated(*disconnected_cliques((3, 5, 4)), where=[2])
    prep = PreparedGraph.from_graph(a)
    n_kept = normalised(a)[np.ix_(prep.kept, prep.kept)]
    q = known_vectors(prep, 5)
    assert q.shape == (prep.kept.size, 3)  # one per component, however many are asked
    np.testing.assert_allclose(n_kept @ q, q, atol=1e-14)
    np.testing.assert_allclose(q.T @ q, np.eye(3), atol=1e-14)
    np.testing.assert_array_equal(np.count_nonzero(q, axis=0), [5, 4, 3])  # by volume
    assert known_vectors(prep, 2).shape == (prep.kept.size, 2)


@pytest.mark.parametrize("operator", ["csr", "blocks", "dense", "auto"])
def test_full_problem(isolated_sbm, layered, rng, operator):
    for graph in (isolated_sbm, layered):
        prep = PreparedGraph.from_graph(graph)
        adjacency = graph.adjacency if hasattr(graph, "adjacency") else graph
        ref = normalised(adjacency)[np.ix_(prep.kept, prep.kept)]
        problem = FullProblem(prep, known_vectors(prep, 1), operator)
        assert problem.dim == prep.kept.size
        if operator != "auto":
            assert problem.kind == f"N ({operator})"
        x = rng.standard_normal((problem.dim, 3))
        np.testing.assert_allclose(problem.matmat(x), ref @ x, atol=1e-14)
        np.testing.assert_allclose(problem.matmat(x[:, :1]), ref @ x[:, :1], atol=1e-14)
        assert problem.n_matvec == 4
        # N on the kept units for the residual check, not counted as a product.
        np.testing.assert_allclose(problem.apply_n(x), ref @ x, atol=1e-14)
        assert problem.n_matvec == 4
        np.testing.assert_allclose(problem.dense(), ref, atol=1e-15)
        u, w = rng.standard_normal((problem.dim, 2)), np.array([0.5, 0.2])
        assert all(x is y for x, y in zip(problem.to_kept(u, w), (u, w), strict=True))


@pytest.mark.parametrize("operator", ["csr", "blocks", "dense"])
def test_bipartite_problem(layered, rng, operator):
    prep = PreparedGraph.from_graph(layered)
    ref = normalised(layered.adjacency)
    side_p = np.flatnonzero(prep.colour == 0)
    side_q = np.flatnonzero(prep.colour == 1)
    b = ref[np.ix_(side_p, side_q)]
    np.testing.assert_allclose(ref[np.ix_(side_p, side_p)], 0.0)  # no edge inside a side
    problem = BipartiteProblem(prep, known_vectors(prep, 1), operator)
    assert problem.kind == f"B B^T ({operator})" and problem.dim == side_p.size
    x = rng.standard_normal((side_p.size, 2))
    y = rng.standard_normal((side_q.size, 2))
    np.testing.assert_allclose(problem.bt_mat(x), b.T @ x, atol=1e-14)
    np.testing.assert_allclose(problem.b_mat(y), b @ y, atol=1e-14)
    np.testing.assert_allclose(problem.matmat(x), b @ b.T @ x, atol=1e-14)
    assert problem.n_matvec == 2
    # N on the kept units (in their order) for the residual check, not counted.
    kept_ref = ref[np.ix_(prep.kept, prep.kept)]
    v = rng.standard_normal((prep.kept.size, 3))
    np.testing.assert_allclose(problem.apply_n(v), kept_ref @ v, atol=1e-14)
    assert problem.n_matvec == 2
    np.testing.assert_allclose(problem.matmat(problem.known), problem.known, atol=1e-13)
    # Eigenpairs of B B^T -> eigenpairs of N, checked against N itself.
    w, u = scipy.linalg.eigh(problem.dense(), subset_by_index=[side_p.size - 4, side_p.size - 1])
    np.testing.assert_allclose(problem.dense(), b @ b.T, atol=1e-14)
    v, sigma = problem.to_kept(u, w)
    np.testing.assert_allclose(sigma, np.sqrt(w))
    np.testing.assert_allclose(ref @ v, v * sigma, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(v, axis=0), 1.0)
    top = np.linalg.eigvalsh(ref)[::-1][:4]
    np.testing.assert_allclose(sigma[::-1], top, atol=1e-12)


def test_bipartite_reduction_fails_on_zero_singular_value():
    # K_{4,6} has rank 1: B B^T over the side of 4 has eigenvalues 1, 0, 0, 0, and an
    # eigenvector of sigma = 0 cannot be carried to the other side.
    a = np.zeros((10, 10))
    a[:4, 4:] = 1.0
    prep = PreparedGraph.from_graph(a + a.T)
    problem = BipartiteProblem(prep, known_vectors(prep, 1))
    assert problem.dim == 4
    w, u = np.linalg.eigh(problem.dense())
    np.testing.assert_allclose(w, [0.0, 0.0, 0.0, 1.0], atol=1e-15)
    v, sigma = problem.to_kept(u[:, 3:], w[3:])
    np.testing.assert_allclose(sigma, [1.0])
    with pytest.raises(ReductionFailed):
        problem.to_kept(u[:, 2:], w[2:])


# ----------------------------------------------------------------------------- solvers
@pytest.mark.parametrize("solver", ["dense", "arpack", "lobpcg"])
@pytest.mark.parametrize("graph", ["path", "sbm"])
def test_solve_deflates_the_known_vectors(solver, graph, rng):
    a = path(60) if graph == "path" else sbm((30, 40), 0.3, 0.05, rng)[0]
    prep = PreparedGraph.from_graph(a)
    problem = FullProblem(prep, known_vectors(prep, 4))
    w, u, info = solve(problem, 3, solver, 1e-10, None, np.random.default_rng(0), 0)
    assert info.solver == solver and info.problem == "N (csr)" and info.fallback is None
    assert info.n_matvec == problem.n_matvec
    ref = np.linalg.eigvalsh(normalised(a))[::-1]
    np.testing.assert_allclose(w, ref[1:4], atol=1e-8)  # the top eigenvalue 1 is deflated
    np.testing.assert_allclose(normalised(a) @ u, u * w, atol=1e-6)
    np.testing.assert_allclose(problem.known.T @ u, 0.0, atol=1e-6)


@pytest.mark.parametrize("grouping", ["layers", "random", "one"])
def test_block_nnz_counts_every_entry_once(rng, grouping):
    """Per-block entry counts (runs of one group counted at once) against ``np.add.at``."""
    from nngraph.partition._spectral_kernels import block_nnz

    a = sp.random_array((300, 300), density=0.05, rng=rng, format="csr")
    keep = sp.diags_array((np.arange(300) < 40) | (np.arange(300) >= 60), dtype=float)
    a = sp.csr_array(keep @ (a + a.T) @ keep)  # rows and columns 40..59 empty
    a.eliminate_zeros()
    if grouping == "layers":
        group = np.repeat(np.arange(6), 50)
    elif grouping == "random":
        group = rng.integers(0, 6, 300)
    else:
        group = np.zeros(300, dtype=np.int64)
    rows = np.repeat(np.arange(300), np.diff(a.indptr))
    ref = np.zeros((6, 6), dtype=np.int64)
    np.add.at(ref, (group[rows], group[a.indices]), 1)
    indptr = a.indptr.astype(np.int64)
    counts = block_nnz(indptr, a.indices, group.astype(np.int64), 6, 0, 300)
    np.testing.assert_array_equal(counts, ref)
    halves = block_nnz(indptr, a.indices, group.astype(np.int64), 6, 0, 170) + block_nnz(
        indptr, a.indices, group.astype(np.int64), 6, 170, 300
    )
    np.testing.assert_array_equal(halves, ref)
