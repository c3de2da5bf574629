"""Streaming correlation statistics and the correlation -> adjacency step."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from nngraph.graphs._correlation import CorrelationAccumulator, rank_columns
from nngraph.graphs._correlation_graph import dense_adjacency, knn_adjacency, standardize_rows


def _feed(acc: CorrelationAccumulator, x: np.ndarray, sizes: list[int]) -> None:
    start = 0
    for s in sizes:
        acc.update(x[start : start + s])
        start += s
    assert start == x.shape[0]


def _corrcoef(x: np.ndarray) -> np.ndarray:
    """Two-pass reference (centre first, in float64)."""
    return np.corrcoef(x - x.mean(axis=0), rowvar=False)


@pytest.mark.parametrize("sizes", [[300], [1] * 300, [7, 1, 200, 92], [150, 150]])
def test_matches_corrcoef_for_any_batching(rng, sizes):
    x = rng.normal(size=(300, 40)) @ rng.normal(size=(40, 40))
    acc = CorrelationAccumulator(40)
    _feed(acc, x, sizes)
    assert acc.n_samples == 300
    r = acc.correlation()
    np.testing.assert_allclose(r, _corrcoef(x), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(r, r.T)
    np.testing.assert_allclose(acc.covariance(), np.cov(x, rowvar=False), rtol=1e-12)
    np.testing.assert_allclose(acc.mean, x.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(acc.variance(), x.var(axis=0), rtol=1e-12)


def test_large_offset_is_stable(rng):
    # Raw sums of squares would lose every digit of the unit spread here (1e8**2 = 1e16).
    z = rng.normal(size=(2000, 6))
    z[:, 1] += 0.5 * z[:, 0]
    x = 1e8 + z
    acc = CorrelationAccumulator(6)
    _feed(acc, x, [100] * 20)
    np.testing.assert_allclose(acc.correlation(), np.corrcoef(z, rowvar=False), atol=1e-7)


def test_drifting_batches_are_stable(rng):
    # Batches with very different means (sorted data): the pairwise merge stays exact.
    z = rng.normal(size=(1200, 5))
    x = z + np.repeat([0.0, 1e6, -3e6, 5e5], 300)[:, None]
    acc = CorrelationAccumulator(5)
    _feed(acc, x, [300] * 4)
    np.testing.assert_allclose(acc.correlation(), _corrcoef(x), atol=1e-9)


def test_dead_features(rng):
    x = rng.normal(size=(500, 5))
    x[:, 1] = 0.0
    x[:, 3] = 0.1
    x[:, 4] = 1e6 + 0.1
    acc = CorrelationAccumulator(5)
    _feed(acc, x, [33] * 15 + [5])
    assert acc.dead.tolist() == [False, True, False, True, True]
    r = acc.correlation()
    assert np.isfinite(r).all()
    assert np.all(r[[1, 3, 4]] == 0) and np.all(r[:, [1, 3, 4]] == 0)
    assert r[0, 0] == 1.0 and r[2, 2] == 1.0


def test_diagonal_only_mode(rng):
    x = rng.normal(size=(100, 4)) + 1e6
    acc = CorrelationAccumulator(4, cross=False)
    _feed(acc, x, [10] * 10)
    np.testing.assert_allclose(acc.variance(ddof=1), x.var(axis=0, ddof=1), rtol=1e-9)
    with pytest.raises(ValueError, match="cross"):
        acc.correlation()


def test_overwrite_finalises(rng):
    x = rng.normal(size=(50, 3))
    acc = CorrelationAccumulator(3)
    acc.update(x)
    np.testing.assert_allclose(acc.correlation(overwrite=True), _corrcoef(x), atol=1e-12)
    with pytest.raises(ValueError, match="finalised"):
        acc.update(x)


def test_accumulator_errors():
    acc = CorrelationAccumulator(3)
    with pytest.raises(ValueError, match="shape"):
        acc.update(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        acc.update(np.array([[0.0, np.nan, 1.0]]))
    acc.update(np.ones((1, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        acc.correlation()
    with pytest.raises(ValueError, match="n_features"):
        CorrelationAccumulator(0)


def test_rank_columns_match_scipy(rng):
    x = rng.normal(size=(60, 7))
    x[:, 2] = np.maximum(x[:, 2], 0)  # ties (ReLU zeros)
    ranks = rank_columns(x.copy(), block_bytes=1)  # one column per block
    np.testing.assert_array_equal(ranks, scipy.stats.rankdata(x, axis=0))


def test_dense_adjacency_square_abs_threshold(rng):
    x = rng.normal(size=(80, 9)) @ rng.normal(size=(9, 9))
    r = _corrcoef(x)
    for how, ref in (("square", r**2), ("abs", np.abs(r))):
        ref = ref.copy()
        np.fill_diagonal(ref, 0)
        a = dense_adjacency(r.copy(), how, None, 2**30)
        np.testing.assert_allclose(a.toarray(), ref, rtol=0, atol=1e-15)
        assert a.has_sorted_indices
        t = dense_adjacency(r.copy(), how, 0.3, 2**30)
        np.testing.assert_allclose(t.toarray(), np.where(ref >= 0.3, ref, 0), atol=1e-15)
    with pytest.raises(ValueError, match="n_neighbors"):
        dense_adjacency(r.copy(), "square", None, 100)


def test_knn_exact_finds_anticorrelated_neighbours(rng):
    n, m, k = 60, 40, 4
    base = rng.normal(size=(n // 2, m))
    pts = np.concatenate([base, -base + 0.1 * rng.normal(size=base.shape)])  # r ~ -1 pairs
    z = np.empty((2 * n, m), dtype=np.float32)
    z[:n] = pts
    assert not standardize_rows(z[:n]).any()
    a, used = knn_adjacency(z, n, k, "square", "exact", 0)
    assert used == "exact"
    r = np.corrcoef(pts)
    np.fill_diagonal(r, 0)
    for i in range(n):
        partner = (i + n // 2) % n
        assert a[i, partner] == pytest.approx(r[i, partner] ** 2, abs=1e-5)
        top = set(np.argsort(-np.abs(r[i]))[:k])
        assert top <= set(a.indices[a.indptr[i] : a.indptr[i + 1]])
    np.testing.assert_array_equal(a.toarray(), a.toarray().T)


def test_dead_tolerance_and_extra_dead(rng):
    x = rng.normal(size=(200, 3))
    x[:, 1] = 1.0 + 1e-8 * rng.normal(size=200)  # float32-level noise around 1
    acc = CorrelationAccumulator(3, dead_rtol=2 * np.finfo(np.float32).eps)
    acc.update(x)
    assert acc.dead.tolist() == [False, True, False]
    r = acc.correlation(dead=np.array([False, False, True]))
    np.testing.assert_array_equal(r, np.diag([1.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="dead_rtol"):
        CorrelationAccumulator(3, dead_rtol=2.0)
