"""Tests of the block Krylov eigensolver (nngraph.partition._spectral_block) and its use.

Oracles: dense ``eigh``; the ARPACK path of spectral_embedding (same eigenpairs, same
embedding subspace to 1e-8 where the eigenvalues are separated); planted modules.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
from sklearn.metrics import adjusted_rand_score

import nngraph as ng
from nngraph.datasets import layered_graph, planted_partition
from nngraph.partition import _spectral_solvers as solvers
from nngraph.partition._prepared import PreparedGraph
from nngraph.partition._spectral_block import block_krylov, block_size
from nngraph.partition._spectral_problems import BipartiteProblem, FullProblem, known_vectors

pytestmark = pytest.mark.usefixtures("spectral_kernels")


def subspace_sin(u, v):
    """Largest principal angle's sine between the column spans of ``u`` and ``v``."""
    qu, qv = np.linalg.qr(u)[0], np.linalg.qr(v)[0]
    return float(np.linalg.norm(qu - qv @ (qv.T @ qu), 2))


def random_symmetric(rng, n, top):
    """Make a symmetric matrix: eigenvalues ``top`` (descending) above a bulk in [0, 0.5]."""
    q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    w = np.concatenate([top, rng.uniform(0, 0.5, n - len(top))])
    return (q * w) @ q.T, w, q


# ----------------------------------------------------------------------------- the solver
@pytest.mark.parametrize("max_basis", [None, 40])
@pytest.mark.parametrize("single", [False, True])
def test_leading_eigenpairs_match_dense(rng, max_basis, single):
    m, _, _ = random_symmetric(rng, 300, [3.0, 2.5, 2.0, 1.5, 1.2, 1.0])
    m32 = m.astype(np.float32)
    res = block_krylov(
        lambda x: m @ x,
        rng.standard_normal((300, 10)),
        6,
        1e-10,
        max_basis=max_basis,
        apply_single=(lambda x: (m32 @ x.astype(np.float32)).astype(float)) if single else None,
    )
    assert res.converged
    w, v = scipy.linalg.eigh(m)
    np.testing.assert_allclose(res.eigenvalues, w[::-1][:6], rtol=1e-12)
    assert subspace_sin(res.eigenvectors, v[:, ::-1][:, :6]) < 1e-9
    # float64 residuals, whatever precision the products had
    r = m @ res.eigenvectors - res.eigenvectors * res.eigenvalues
    assert np.all(np.linalg.norm(r, axis=0) <= 1e-10 * res.eigenvalues)
    if max_basis is not None:
        assert res.n_restarts > 0


def test_known_vectors_are_left_out(rng):
    m, w, q = random_symmetric(rng, 200, [5.0, 4.0, 3.0, 2.0, 1.9])
    known = q[:, :2]  # the two leading eigenvectors: the solver must find the next ones
    res = block_krylov(lambda x: m @ x, rng.standard_normal((200, 7)), 3, 1e-10, known=known)
    np.testing.assert_allclose(res.eigenvalues, [3.0, 2.0, 1.9], rtol=1e-12)
    assert np.abs(known.T @ res.eigenvectors).max() < 1e-12


def test_invariant_subspace_breakdown(rng):
    # Rank 3: after one step the Krylov space is invariant (the new block vanishes).
    u = np.linalg.qr(rng.standard_normal((100, 3)))[0]
    m = (u * [3.0, 2.0, 1.0]) @ u.T
    res = block_krylov(lambda x: m @ x, rng.standard_normal((100, 6)), 4, 1e-10, norm=3.0)
    assert res.converged
    np.testing.assert_allclose(res.eigenvalues, [3.0, 2.0, 1.0, 0.0], atol=1e-12)


def test_too_small_for_blocks(rng):
    with pytest.raises(ValueError, match="too small"):
        block_krylov(lambda x: x, rng.standard_normal((20, 8)), 6, 1e-8)


def test_block_size():
    assert block_size(12) == 16
    assert block_size(2) == 6


# ------------------------------------------------------------------ in spectral_embedding
@pytest.fixture
def layered(rng):
    """Sample a weight-graph-like layered graph with 4 planted modules."""
    return layered_graph((60, 80, 80, 40), 4, rng, noise=0.3)[0]


@pytest.mark.parametrize("block_dtype", ["float64", "float32"])
@pytest.mark.parametrize("operator", ["blocks", "csr", "dense"])
def test_same_embedding_subspace_as_arpack(layered, block_dtype, operator):
    kw = dict(dense_threshold=0, operator=operator, random_state=0, return_eigenvalues=True)
    ref, ref_w = ng.spectral_embedding(layered, 8, eigen_solver="arpack", **kw)
    emb, w = ng.spectral_embedding(layered, 8, eigen_solver="block", block_dtype=block_dtype, **kw)
    np.testing.assert_allclose(w, ref_w, atol=1e-10)
    s = np.sqrt(layered.degree)[:, None]
    assert subspace_sin(emb * s, ref * s) < 1e-8
    # the columns too, up to sign where the eigenvalues are separated (they are here)
    assert np.min(np.diff(-w)) > 1e-3
    np.testing.assert_allclose(np.abs(emb), np.abs(ref), atol=1e-8)


def test_full_problem_matches_dense(rng):
    a, _ = planted_partition((50, 60, 70), 0.3, 0.05, rng)
    prep = PreparedGraph.from_graph(a)
    problem = FullProblem(prep, known_vectors(prep, 1))
    w, u, info = solvers.solve(problem, 4, "block", 1e-10, None, np.random.default_rng(0), 0)
    assert info.solver == "block"
    h = problem.dense() - 3 * problem.known @ problem.known.T
    ref_w, ref_u = np.linalg.eigh(h)
    np.testing.assert_allclose(w, ref_w[::-1][:4], atol=1e-12)
    assert subspace_sin(u, ref_u[:, ::-1][:, :4]) < 1e-8


def test_float32_products_use_single_precision_blocks(layered):
    prep = PreparedGraph.from_graph(layered)
    problem = BipartiteProblem(prep, known_vectors(prep, 1), "blocks")
    x = np.random.default_rng(0).standard_normal((problem.dim, 5))
    exact, single = problem.matmat(x), problem.matmat(x, single=True)
    err = np.abs(single - exact).max() / np.abs(exact).max()
    assert 1e-9 < err < 1e-5  # rounded like float32, and still the same operator


def test_auto_picks_the_block_solver_for_large_dense_blocks(layered, monkeypatch):
    kw = dict(random_state=0, dense_threshold=0)
    # by default ARPACK, even with dense blocks (measured faster: BLOCK_MIN_ENTRIES)
    assert solvers.BLOCK_MIN_ENTRIES is None
    assert ng.SpectralClustering(4, **kw).fit(layered).eigen_solver_ == "arpack"
    monkeypatch.setattr(solvers, "BLOCK_MIN_ENTRIES", 10_000)
    assert ng.SpectralClustering(4, **kw).fit(layered).eigen_solver_ == "block"
    # a CSR operator has no dense blocks: ARPACK
    model = ng.SpectralClustering(4, operator="csr", **kw).fit(layered)
    assert model.eigen_solver_ == "arpack"


def test_non_convergence_falls_back_to_arpack(layered):
    with pytest.warns(ng.SpectralConvergenceWarning, match="block eigensolver"):
        model = ng.SpectralClustering(
            4, random_state=0, eigen_solver="block", eigen_maxiter=1, dense_threshold=0
        ).fit(layered)
    ref = ng.SpectralClustering(4, random_state=0, eigen_solver="dense").fit(layered)
    assert model.eigen_solver_ == "arpack"
    np.testing.assert_allclose(model.eigenvalues_, ref.eigenvalues_, atol=1e-8)


@pytest.mark.parametrize("block_dtype", ["float64", "float32"])
def test_deterministic_and_recovers_planted_modules(rng, block_dtype):
    graph, modules = layered_graph((60, 80, 80, 40), 4, rng, noise=0.2)
    kw = dict(random_state=3, eigen_solver="block", block_dtype=block_dtype, dense_threshold=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ng.SpectralConvergenceWarning)
        m1 = ng.SpectralClustering(4, **kw).fit(graph)
        m2 = ng.SpectralClustering(4, **kw).fit(graph)
    np.testing.assert_array_equal(m1.embedding_, m2.embedding_)
    np.testing.assert_array_equal(m1.labels_, m2.labels_)
    assert adjusted_rand_score(modules, m1.labels_) > 0.9
