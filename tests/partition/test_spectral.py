"""Tests of normalised-cut spectral clustering (nngraph.partition._spectral_*).

Oracles, strongest first: a dense ``scipy.linalg.eigh`` of ``D^-1/2 A D^-1/2``;
invariants of the embedding; planted partitions; scikit-learn's SpectralClustering.
"""

from __future__ import annotations

import multiprocessing
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.cluster import SpectralClustering as SkSpectralClustering
from sklearn.metrics import adjusted_rand_score

import nngraph as ng
from nngraph.datasets import (
    clique,
    disconnected_cliques,
    empty_graph,
    layered_modules,
    path,
    star,
    tiny_graphs,
    two_cliques,
    with_isolated,
)
from nngraph.datasets import layered_graph as mlp_like_graph
from nngraph.datasets import planted_partition as sbm
from nngraph.partition import _prepared_kernels as prepared_kernels
from nngraph.partition import _spectral_kernels as kernels
from nngraph.partition import _spectral_operators as operators
from nngraph.utils import _kernels as shared_kernels
from nngraph.utils import _threads
from nngraph.utils._threads import thread_policy
from tests.helpers import same_partition

pytestmark = pytest.mark.usefixtures("spectral_kernels")

EIG_ATOL = 1e-8  # eigenvalues against dense eigh
VEC_ATOL = 1e-6  # eigenvector entries (after dividing by sqrt(deg)) against dense eigh


# ----------------------------------------------------------------------------- helpers
def dense_reference(a, k):
    """Top-k eigenpairs of D^-1/2 A D^-1/2 by dense eigh, and the embedding V / sqrt(d)."""
    a = a.toarray() if sp.issparse(a) else np.asarray(a, dtype=np.float64)
    a = a.astype(np.float64)
    d = a.sum(axis=1)
    s = 1.0 / np.sqrt(d)
    n_mat = s[:, None] * a * s[None, :]
    w, v = scipy.linalg.eigh(n_mat)
    w, v = w[::-1][:k], v[:, ::-1][:, :k]
    return w, v / np.sqrt(d)[:, None]


def assert_columns_match(emb, ref, eigenvalues, atol=VEC_ATOL, min_columns=1):
    """Compare columns up to sign where the eigenvalue is well separated.

    Other columns are not determined; fail if fewer than ``min_columns`` columns could
    be compared.
    """
    gaps = np.abs(np.subtract.outer(eigenvalues, eigenvalues)) + np.eye(eigenvalues.size)
    compared = 0
    for j in range(ref.shape[1]):
        if gaps[j].min() < 1e-3:
            continue
        sign = np.sign(ref[:, j] @ emb[:, j])
        np.testing.assert_allclose(emb[:, j], sign * ref[:, j], atol=atol)
        compared += 1
    assert compared >= min_columns, (
        f"only {compared} of {ref.shape[1]} columns have a well-separated eigenvalue "
        f"(eigenvalues {eigenvalues}); nothing to compare"
    )


def assert_same_subspace(emb, ref, degree, atol=1e-6):
    """Check that the D-orthonormal column spaces of two embeddings agree (projector distance)."""
    u = emb * np.sqrt(degree)[:, None]
    v = ref * np.sqrt(degree)[:, None]
    u, v = np.linalg.qr(u)[0], np.linalg.qr(v)[0]
    assert np.linalg.norm(u @ u.T - v @ v.T, 2) < atol


def test_assert_columns_match_fails_when_it_compares_nothing():
    e = np.eye(3)
    with pytest.raises(AssertionError, match="nothing to compare"):
        assert_columns_match(e, e, np.ones(3))  # one triple eigenvalue: nothing separated
    with pytest.raises(AssertionError, match="nothing to compare"):
        assert_columns_match(e, e, np.array([1.0, 0.5, 0.5]), min_columns=2)
    assert_columns_match(e, -e, np.array([1.0, 0.5, 0.0]), min_columns=3)  # signs ignored


@pytest.fixture
def sbm4(rng):
    """Sample a connected 4-block SBM of 200 units with distinct block sizes."""
    return sbm((35, 45, 55, 65), 0.35, 0.02, rng)


# ----------------------------------------------------------------------------- numerics
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("container", [sp.csr_matrix, sp.csr_array, np.asarray])
@pytest.mark.parametrize("solver", ["dense", "block", "arpack", "lobpcg"])
def test_embedding_matches_dense_eigh(sbm4, dtype, container, solver):
    a, _ = sbm4
    graph = container(a.astype(dtype).toarray() if container is np.asarray else a.astype(dtype))
    ref_w, ref_e = dense_reference(a.astype(dtype), 4)
    emb, w = ng.spectral_embedding(
        graph, 4, eigen_solver=solver, dense_threshold=0, return_eigenvalues=True, random_state=0
    )
    np.testing.assert_allclose(w, ref_w, atol=EIG_ATOL)
    assert_columns_match(emb, ref_e, ref_w, min_columns=4)


@pytest.mark.parametrize("operator", ["blocks", "csr", "dense"])
@pytest.mark.parametrize("solver", ["dense", "block", "arpack"])
def test_layered_graph_bipartite_reduction_matches_dense(rng, operator, solver):
    graph, _ = mlp_like_graph((40, 60, 60, 30), 3, rng, noise=0.2)
    ref_w, ref_e = dense_reference(graph.adjacency, 6)
    emb, w = ng.spectral_embedding(
        graph,
        6,
        eigen_solver=solver,
        operator=operator,
        dense_threshold=0,
        return_eigenvalues=True,
        random_state=1,
    )
    np.testing.assert_allclose(w, ref_w, atol=EIG_ATOL)
    assert_columns_match(emb, ref_e, ref_w, min_columns=6)
    assert_same_subspace(emb, ref_e, graph.degree)


def test_non_bipartite_blocks_operator_matches_dense(rng):
    # Intra-layer edges make the layered graph non-bipartite: the full operator is used.
    graph, _ = mlp_like_graph((30, 40, 30), 3, rng, noise=0.2)
    a = graph.adjacency.tolil()
    a[0, 1] = a[1, 0] = 0.5
    g2 = graph.with_adjacency(sp.csr_array(a))
    ref_w, ref_e = dense_reference(g2.adjacency, 5)
    emb, w = ng.spectral_embedding(
        g2, 5, eigen_solver="arpack", operator="blocks", return_eigenvalues=True, random_state=0
    )
    np.testing.assert_allclose(w, ref_w, atol=EIG_ATOL)
    assert_same_subspace(emb, ref_e, g2.degree)


@pytest.mark.parametrize("operator", ["auto", "blocks"])
def test_dense_plain_matrix_uses_dense_n_or_blocks(rng, operator):
    a, _ = sbm((30, 30), 0.9, 0.5, rng)  # dense: held whole, or as the one-block operator
    ref_w, _ = dense_reference(a, 3)
    kw = dict(eigen_solver="arpack", random_state=0, operator=operator)
    model = ng.SpectralClustering(2, **kw).fit(a.toarray())
    assert model.eigen_problem_ == ("N (dense)" if operator == "auto" else "N (blocks)")
    np.testing.assert_allclose(model.eigenvalues_, ref_w, atol=EIG_ATOL)
    sparse = sbm((60, 60), 0.1, 0.01, rng)[0]
    model = ng.SpectralClustering(2, eigen_solver="arpack", random_state=0).fit(sparse)
    assert model.eigen_problem_ == "N (csr)"


def test_invariants(sbm4):
    a, _ = sbm4
    model = ng.SpectralClustering(4, random_state=0, eigen_solver="arpack", dense_threshold=0).fit(
        a
    )
    emb = model.embedding_
    d = np.asarray(a.sum(axis=1)).ravel()
    # First column: sqrt(deg) / sqrt(vol) divided by sqrt(deg) = constant 1 / sqrt(vol).
    np.testing.assert_allclose(emb[:, 0], 1.0 / np.sqrt(d.sum()), rtol=1e-10)
    # Columns are D-orthonormal: V = E sqrt(D) is orthonormal, hence others _|_ sqrt(deg).
    v = emb * np.sqrt(d)[:, None]
    np.testing.assert_allclose(v.T @ v, np.eye(4), atol=1e-8)
    np.testing.assert_allclose(d @ emb[:, 1:], 0.0, atol=1e-8)
    assert np.all(model.eigen_residuals_ < 1e-7)
    # Deterministic signs: each column's largest-magnitude entry is positive.
    cols = np.argmax(np.abs(emb), axis=0)
    assert np.all(emb[cols, np.arange(emb.shape[1])] > 0)
    assert model.eigenvalues_.shape == (5,)
    assert np.all(np.diff(model.eigenvalues_) <= 1e-12)


def test_parallel_kernels_equal_serial(rng):
    a, _ = sbm((40, 40), 0.3, 0.05, rng)
    indptr = a.indptr.astype(np.int64)
    indices = a.indices.astype(np.int32)
    data = a.data
    rows = np.arange(a.shape[0], dtype=np.int64)
    scale = prepared_kernels.inverse_sqrt(shared_kernels.weighted_degree(indptr, data))
    x = rng.standard_normal((a.shape[0], 3))
    outs = []
    for spmm in (kernels.scaled_spmm, kernels.scaled_spmm_parallel):
        out = np.empty_like(x)
        spmm(indptr, indices, data, rows, scale, x, out)
        outs.append(out)
    for spmv in (kernels.scaled_spmv, kernels.scaled_spmv_parallel):
        out = np.empty(a.shape[0])
        spmv(indptr, indices, data, rows, scale, x[:, 0].copy(), out)
        outs.append(out[:, None])
    assert np.array_equal(outs[0], outs[1])
    assert np.array_equal(outs[2], outs[3])
    np.testing.assert_allclose(outs[0], scale[:, None] * (a @ x), rtol=1e-12)
    np.testing.assert_allclose(outs[0][:, :1], outs[2], rtol=1e-12)


def test_zero_degree_scale_is_zero():
    scale = prepared_kernels.inverse_sqrt(np.array([4.0, 0.0, 1.0]))
    np.testing.assert_array_equal(scale, [0.5, 0.0, 1.0])


# ----------------------------------------------------------------------------- recovery
def test_recovers_sbm(rng):
    a, truth = sbm((50, 60, 70, 80), 0.3, 0.02, rng)
    labels = ng.SpectralClustering(4, random_state=0).fit_predict(a)
    assert adjusted_rand_score(truth, labels) >= 0.99


def test_recovers_layered_modules(rng):
    graph, modules = mlp_like_graph((64, 96, 96, 96, 32), 4, rng, noise=0.05)
    model = ng.SpectralClustering(4, random_state=0).fit(graph)
    assert adjusted_rand_score(modules, model.labels_) >= 0.99
    # Through ARPACK and the dense-block operator as well.
    model = ng.SpectralClustering(4, random_state=0, dense_threshold=0, operator="blocks").fit(
        graph
    )
    assert model.eigen_solver_ == "arpack"
    assert model.eigen_problem_ == "B B^T (blocks)"
    assert adjusted_rand_score(modules, model.labels_) >= 0.99
    model = ng.SpectralClustering(4, random_state=0, dense_threshold=0, operator="csr").fit(graph)
    assert model.eigen_problem_ == "B B^T (csr)"
    assert adjusted_rand_score(modules, model.labels_) >= 0.99
    model = ng.SpectralClustering(4, random_state=0, dense_threshold=0).fit(graph)
    assert model.eigen_problem_ == "B B^T (dense)"  # M = B B^T formed: it pays here
    assert adjusted_rand_score(modules, model.labels_) >= 0.99


@pytest.mark.parametrize("case", ["two_cliques", "sbm", "layered"])
def test_agrees_with_sklearn(rng, case):
    if case == "two_cliques":
        a, _ = two_cliques(8)
        k = 2
    elif case == "sbm":
        a, _ = sbm((40, 50, 60), 0.4, 0.01, rng)
        k = 3
    else:
        a, _, _ = layered_modules((30, 45, 45, 30), 3, rng, noise=0.02)
        k = 3
    ours = ng.SpectralClustering(k, random_state=0).fit_predict(a)
    ref = SkSpectralClustering(k, affinity="precomputed", random_state=0).fit_predict(a)
    assert adjusted_rand_score(ref, ours) >= 0.99
    assert ng.ncut(a, ours) <= ng.ncut(a, ref) + 1e-9


# ----------------------------------------------------------------------------- reproducibility
@pytest.mark.parametrize("solver", ["auto", "block", "arpack", "lobpcg"])
def test_reproducible(rng, solver):
    a, _ = sbm((40, 40, 40), 0.3, 0.03, rng)
    kw = dict(random_state=42, eigen_solver=solver, dense_threshold=0)
    m1 = ng.SpectralClustering(3, **kw).fit(a)
    m2 = ng.SpectralClustering(3, **kw).fit(a)
    assert np.array_equal(m1.labels_, m2.labels_)
    assert np.array_equal(m1.embedding_, m2.embedding_)
    gen = np.random.default_rng(5)
    m3 = ng.SpectralClustering(3, random_state=gen, eigen_solver=solver, dense_threshold=0).fit(a)
    assert same_partition(m1.labels_, m3.labels_)


@pytest.mark.parametrize("operator", ["blocks", "csr", "dense"])
def test_thread_count_does_not_change_results(rng, monkeypatch, operator):
    # Split every block product among worker threads, and use numba's parallel twins,
    # even on this small graph.
    monkeypatch.setattr(operators, "_THREADED_BLOCK_MIN_ENTRIES", 0)
    monkeypatch.setattr(operators, "_PARALLEL_MIN_NNZ", 0)
    graph, _ = mlp_like_graph((40, 60, 60, 30), 3, rng)
    kw = dict(random_state=0, eigen_solver="arpack", dense_threshold=0, operator=operator)
    one = ng.SpectralClustering(3, n_threads=1, **kw).fit(graph)
    for threads in (2, 3, None):
        other = ng.SpectralClustering(3, n_threads=threads, **kw).fit(graph)
        np.testing.assert_array_equal(one.labels_, other.labels_)
        np.testing.assert_allclose(one.embedding_, other.embedding_, atol=1e-8)
        np.testing.assert_allclose(one.eigenvalues_, other.eigenvalues_, atol=1e-12)


def test_numba_parallel_twins_only_on_request():
    # They make later fork-based process pools unsafe (numba's OpenMP layer), so they
    # run only with an explicit n_threads > 1, whatever the graph's size.
    assert not thread_policy(None, 10).numba_parallel
    assert not thread_policy(None, 50_000).numba_parallel
    assert not thread_policy(1, 50_000).numba_parallel
    assert thread_policy(2, 10).numba_parallel


def _fit_labels(graph) -> np.ndarray:
    kw = dict(random_state=0, eigen_solver="arpack", dense_threshold=0, operator="blocks")
    return ng.SpectralClustering(3, **kw).fit(graph).labels_


def test_fit_in_forked_child_after_threaded_fit(rng, monkeypatch):
    # The parent's block-operator thread pool (and threadpoolctl controller) must not be
    # reused by a forked child: the child has none of the pool's threads, so a product
    # submitted there would never run.
    monkeypatch.setattr(operators, "_THREADED_BLOCK_MIN_ENTRIES", 0)
    monkeypatch.setattr(_threads, "cpu_count", lambda: 2)
    graph, _ = mlp_like_graph((40, 60, 60, 30), 3, rng)
    parent = _fit_labels(graph)
    assert _threads._EXECUTORS  # the pool was started in the parent
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    try:
        child = pool.submit(_fit_labels, graph).result(timeout=60)
    except FuturesTimeout:
        for proc in list(pool._processes.values()):  # a hung child: do not wait for it
            proc.kill()
        pytest.fail("the fit in a forked child hung")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    np.testing.assert_array_equal(child, parent)


def test_random_state_stored_raw():
    gen = np.random.default_rng(0)
    model = ng.SpectralClustering(3, random_state=gen)
    assert model.random_state is gen
    assert model.get_params()["random_state"] is gen


# ----------------------------------------------------------------------------- structure
def test_isolated_units_are_left_out_of_the_embedding():
    # Labels -1 for isolated units: the contract test (test_contract.py). Here: their
    # rows are 0 and the other rows are the embedding of the graph without them.
    base, truth = two_cliques(6)
    a, expected = with_isolated(base, truth, where=[0, 6, 12])
    model = ng.SpectralClustering(2, random_state=0).fit(a)
    iso = expected < 0
    assert np.all(model.embedding_[iso] == 0)
    ref = ng.SpectralClustering(2, random_state=0).fit(base)
    np.testing.assert_allclose(model.embedding_[~iso], ref.embedding_, atol=1e-12)
    np.testing.assert_allclose(model.eigenvalues_, ref.eigenvalues_, atol=1e-12)


def test_disconnected_components_become_clusters():
    a, truth = disconnected_cliques((4, 5, 6))
    with pytest.warns(ng.DisconnectedGraphWarning, match="3 connected components"):
        model = ng.SpectralClustering(3, random_state=0).fit(a)
    assert same_partition(model.labels_, truth)
    assert model.n_connected_components_ == 3
    assert np.all(np.isfinite(model.embedding_))
    np.testing.assert_allclose(model.eigenvalues_[:3], 1.0)


@pytest.mark.parametrize("solver", ["dense", "block", "arpack", "lobpcg"])
def test_disconnected_with_more_clusters_than_components(rng, solver):
    a1, t1 = sbm((30, 30), 0.5, 0.02, rng)
    a2, t2 = sbm((30, 30), 0.5, 0.02, rng)
    a = sp.csr_array(sp.block_diag([a1, a2]))
    truth = np.concatenate([t1, t2 + 2])
    with pytest.warns(ng.DisconnectedGraphWarning):
        model = ng.SpectralClustering(
            4, random_state=0, eigen_solver=solver, dense_threshold=0
        ).fit(a)
    assert adjusted_rand_score(truth, model.labels_) >= 0.99
    np.testing.assert_allclose(model.eigenvalues_[:2], 1.0)
    assert model.eigenvalues_[2] < 1 - 1e-3
    assert np.all(model.eigen_residuals_ < 1e-6)


def test_more_components_than_clusters():
    a, truth = disconnected_cliques((3, 4, 5, 6, 7))
    with pytest.warns(ng.DisconnectedGraphWarning):
        model = ng.SpectralClustering(3, random_state=0).fit(a)
    # The 2 largest components are clusters; the other 3 share one: an n-cut of 0.
    expected = np.minimum(4 - truth, 2)
    assert same_partition(model.labels_, expected)
    np.testing.assert_allclose(model.eigenvalues_, 1.0)
    assert model.suggested_k_ >= 2


def test_rank_deficient_bipartite_falls_back_to_full_problem():
    # K_{20,30}: B has rank 1, so sigma = 0 for every wanted pair beyond the first.
    b = np.ones((20, 30))
    a = np.block([[np.zeros((20, 20)), b], [b.T, np.zeros((30, 30))]])
    for solver in ("dense", "block", "arpack"):
        emb, w = ng.spectral_embedding(
            a, 3, eigen_solver=solver, dense_threshold=0, return_eigenvalues=True, random_state=0
        )
        np.testing.assert_allclose(w, [1.0, 0.0, 0.0], atol=1e-8)
        assert np.all(np.isfinite(emb))


@pytest.mark.parametrize("name", sorted(tiny_graphs()))
def test_tiny_graphs_match_dense(name):
    # Shapes, labels -1 and canonical numbering: test_contract.py. Here: the values.
    a, _ = tiny_graphs()[name]
    keep = a.sum(axis=1) > 0
    k = min(3, int(keep.sum()))
    ref_w, _ = dense_reference(a[keep][:, keep], k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ng.DisconnectedGraphWarning)
        for solver in ("dense", "block", "arpack"):
            model = ng.SpectralClustering(
                k, random_state=0, eigen_solver=solver, dense_threshold=0
            ).fit(a)
            np.testing.assert_allclose(model.eigenvalues_[:k], ref_w, atol=EIG_ATOL)
            assert np.all(model.eigen_residuals_ < 1e-8)
            assert np.all(model.embedding_[~keep] == 0)


@pytest.mark.parametrize("n", [2, 3, 8, 12])
@pytest.mark.parametrize("solver", ["dense", "block", "arpack", "lobpcg"])
def test_path_closed_form(n, solver):
    # The path 0 - 1 - ... - n-1: N has the eigenvalues cos(pi j / (n - 1)), and the
    # embedding's columns (eigenvectors of D^-1 A) are cos(pi j i / (n - 1)), D-normalised.
    k = min(n, 4)
    emb, w = ng.spectral_embedding(
        path(n), k, eigen_solver=solver, dense_threshold=0, return_eigenvalues=True, random_state=0
    )
    j, i = np.arange(k), np.arange(n)
    np.testing.assert_allclose(w, np.cos(np.pi * j / (n - 1)), atol=EIG_ATOL)
    ref = np.cos(np.pi * np.outer(i, j) / (n - 1))
    degree = np.asarray(path(n).sum(axis=1)).ravel()
    ref /= np.sqrt(degree @ ref**2)
    assert_columns_match(emb, ref, w, min_columns=k)


def test_path_labels_are_its_halves():
    # The Fiedler vector cos(pi i / (n - 1)) is antisymmetric: k = 2 cuts the middle edge.
    for solver in ("dense", "arpack"):
        model = ng.SpectralClustering(2, random_state=0, eigen_solver=solver, dense_threshold=0)
        np.testing.assert_array_equal(model.fit(path(8)).labels_, np.repeat([0, 1], 4))
        assert ng.ncut(path(8), model.labels_) == pytest.approx(2 * 1 / 7)


@pytest.mark.parametrize("solver", ["dense", "block", "arpack"])
def test_star_closed_form(solver):
    # Star with m leaves: N = (e_0 1^T + 1 e_0^T) / sqrt(m) off the centre, of rank 2:
    # eigenvalues 1, 0 (m - 1 times), -1. The eigenvalue-0 eigenvectors are 0 at the
    # centre and sum to 0 over the leaves (any such vector: the columns are not unique).
    m = 9
    a = star(m)
    emb, w = ng.spectral_embedding(
        a, m + 1, eigen_solver=solver, dense_threshold=0, return_eigenvalues=True, random_state=0
    )
    np.testing.assert_allclose(w, [1.0] + [0.0] * (m - 1) + [-1.0], atol=EIG_ATOL)
    degree = np.array([m] + [1] * m, dtype=float)
    volume = degree.sum()
    np.testing.assert_allclose(emb[:, 0], 1 / np.sqrt(volume))
    # Eigenvalue -1: +-1 on the two sides, divided by sqrt(deg) (all entries tie in
    # magnitude, so the sign is not determined).
    last = emb[:, -1] * np.sign(emb[0, -1])
    np.testing.assert_allclose(last, np.r_[1.0, [-1.0] * m] / np.sqrt(volume))
    np.testing.assert_allclose(emb[0, 1:-1], 0.0, atol=1e-12)
    np.testing.assert_allclose(emb[1:, 1:-1].sum(axis=0), 0.0, atol=1e-10)
    v = emb * np.sqrt(degree)[:, None]
    np.testing.assert_allclose(v.T @ v, np.eye(m + 1), atol=1e-10)


def test_clique_closed_form():
    # K_n: eigenvalues 1 and -1 / (n - 1) (n - 1 times).
    n = 6
    emb, w = ng.spectral_embedding(clique(n), n, return_eigenvalues=True, random_state=0)
    np.testing.assert_allclose(w, [1.0] + [-1 / (n - 1)] * (n - 1), atol=EIG_ATOL)
    np.testing.assert_allclose(emb[:, 0], 1 / np.sqrt(n * (n - 1)))
    np.testing.assert_allclose(emb[:, 1:].sum(axis=0), 0.0, atol=1e-12)


# ----------------------------------------------------------------------------- fallback
def test_arpack_non_convergence_falls_back(sbm4):
    a, _ = sbm4
    with pytest.warns(ng.SpectralConvergenceWarning, match="ARPACK did not converge"):
        model = ng.SpectralClustering(
            4, random_state=0, eigen_solver="arpack", eigen_maxiter=1, dense_threshold=0
        ).fit(a)
    ref = ng.SpectralClustering(4, random_state=0, eigen_solver="dense").fit(a)
    assert model.eigen_solver_ == "dense"
    np.testing.assert_allclose(model.eigenvalues_, ref.eigenvalues_, atol=1e-10)
    assert same_partition(model.labels_, ref.labels_)


def test_lobpcg_non_convergence_falls_back(sbm4):
    a, _ = sbm4
    with pytest.warns(ng.SpectralConvergenceWarning, match="LOBPCG"):
        model = ng.SpectralClustering(
            4,
            random_state=0,
            eigen_solver="lobpcg",
            eigen_maxiter=1,
            eigen_tol=1e-14,
            dense_threshold=0,
        ).fit(a)
    assert model.eigen_solver_ == "dense"
    assert np.all(model.eigen_residuals_ < 1e-8)


# ----------------------------------------------------------------------------- ng.eigengap
def test_eigengap_suggests_planted_k(rng):
    a, _ = sbm((40, 50, 60), 0.5, 0.01, rng)
    result = ng.eigengap(a, max_k=8, random_state=0)
    assert isinstance(result, ng.EigengapResult)
    assert result.suggested_k == 3
    assert result.eigenvalues.shape == (9,)
    np.testing.assert_allclose(result.gaps, -np.diff(result.eigenvalues))
    ref_w, _ = dense_reference(a, 9)
    np.testing.assert_allclose(result.eigenvalues, ref_w, atol=EIG_ATOL)
    model = ng.SpectralClustering(5, random_state=0).fit(a)
    assert model.suggested_k_ == 3
    np.testing.assert_allclose(model.eigengap_.eigenvalues, ref_w[:6], atol=EIG_ATOL)


def test_eigengap_disconnected():
    a, _ = disconnected_cliques((5, 6, 7, 8))
    with pytest.warns(ng.DisconnectedGraphWarning):
        assert ng.eigengap(a, max_k=6, random_state=0).suggested_k == 4
    with pytest.warns(ng.DisconnectedGraphWarning) as record:
        ng.eigengap(a, max_k=3, random_state=0)  # no gap among the eigenvalues 1
    assert any("4 connected components, more than max_k=3" in str(w.message) for w in record)


def test_eigengap_bad_max_k():
    with pytest.raises(ValueError, match="max_k"):
        ng.eigengap(clique(5), max_k=1)


# ----------------------------------------------------------------------------- bad input
def test_k_larger_than_clusterable_units():
    a, _ = with_isolated(clique(4), np.zeros(4, dtype=np.int64), where=[0, 1])
    with pytest.raises(ValueError, match="larger than the number of clusterable units"):
        ng.SpectralClustering(5, random_state=0).fit(a)
    ng.SpectralClustering(4, random_state=0).fit(a)  # k equal to the clusterable units is fine


@pytest.mark.parametrize("k", [1, 0, -3, 2.5, True, "3"])
def test_bad_n_clusters(k):
    with pytest.raises(ValueError, match="n_clusters"):
        ng.SpectralClustering(k).fit(clique(5))


@pytest.mark.parametrize(
    "param, value",
    [
        ("eigen_solver", "magic"),
        ("eigen_tol", -1.0),
        ("eigen_tol", "tight"),
        ("eigen_maxiter", 0),
        ("n_init", 0),
        ("operator", "gpu"),
        ("dense_threshold", -1),
        ("n_threads", 0),
        ("kmeans_max_iter", 0),
    ],
)
def test_bad_parameters(param, value):
    with pytest.raises(ValueError, match=param):
        ng.SpectralClustering(2, **{param: value}).fit(clique(5))


def test_negative_weights():
    a = clique(4).toarray()
    a[0, 1] = a[1, 0] = -1.0
    with pytest.raises(ValueError, match="negative"):
        ng.SpectralClustering(2).fit(a)


def test_nan_weights():
    a = clique(4).toarray()
    a[0, 1] = a[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ng.SpectralClustering(2).fit(a)


def test_non_square():
    with pytest.raises(ValueError, match="square"):
        ng.SpectralClustering(2).fit(np.ones((3, 4)))


def test_empty_graph():
    with pytest.raises(ValueError, match="empty"):
        ng.SpectralClustering(2).fit(np.zeros((0, 0)))
    with pytest.raises(ValueError, match="no edges"):
        ng.SpectralClustering(2).fit(empty_graph(5))


def test_non_symmetric_is_symmetrised(rng):
    a, _ = sbm((20, 25), 0.5, 0.05, rng)
    b = a.toarray()
    b[0, 1] += 0.5  # now non-symmetric
    with pytest.warns(ng.NonSymmetricWarning):
        model = ng.SpectralClustering(2, random_state=0).fit(b)
    ref = ng.SpectralClustering(2, random_state=0).fit((b + b.T) / 2)
    np.testing.assert_array_equal(model.labels_, ref.labels_)
    np.testing.assert_allclose(model.embedding_, ref.embedding_, atol=1e-12)


def test_not_a_graph():
    with pytest.raises(TypeError):
        ng.SpectralClustering(2).fit(object())


# ----------------------------------------------------------------------------- estimator
def test_estimator_contract(rng):
    a, _ = sbm((20, 20), 0.5, 0.05, rng)
    model = ng.SpectralClustering(2, random_state=3, n_init=5)
    assert not hasattr(model, "labels_")
    assert model.fit(a) is model
    params = model.get_params()
    assert params["n_clusters"] == 2 and params["n_init"] == 5
    twin = clone(model)
    assert not hasattr(twin, "labels_")
    np.testing.assert_array_equal(twin.fit_predict(a), model.labels_)
    model.set_params(n_clusters=3)
    assert model.fit(a).labels_.max() == 2
    assert model.n_init_ == 5
    assert "SpectralClustering" in repr(model)


def test_labels_are_canonical(rng):
    a, _ = sbm((20, 20, 20), 0.5, 0.02, rng)
    labels = ng.SpectralClustering(3, random_state=0).fit_predict(a)
    assert labels.dtype == np.int64
    _, first = np.unique(labels, return_index=True)
    assert np.all(np.diff(first) > 0)  # cluster c first appears before cluster c + 1
    assert labels[0] == 0


def test_default_n_init(rng):
    a, _ = sbm((20, 20), 0.5, 0.05, rng)
    assert ng.SpectralClustering(2, random_state=0).fit(a).n_init_ == 25


def test_neuron_graph_input(rng):
    graph, modules = mlp_like_graph((16, 24, 24, 8), 2, rng)
    labels = ng.SpectralClustering(2, random_state=0).fit_predict(graph)
    assert labels.shape == (graph.n_nodes,)
    assert adjusted_rand_score(modules, labels) >= 0.99
