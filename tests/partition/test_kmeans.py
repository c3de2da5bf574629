"""Tests of the batched k-means of spectral clustering (nngraph.partition._kmeans).

Oracle: scikit-learn's KMeans, run from the same starting centres (``init=centres,
n_init=1``), must give the same labels, iterations and inertia; the seeding is compared
with scikit-learn's ``_kmeans_plusplus`` fed the same random numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.cluster._kmeans import _kmeans_plusplus
from sklearn.metrics import adjusted_rand_score

from nngraph.datasets import planted_partition
from nngraph.partition import _kmeans_distance_kernels as distance_kernels
from nngraph.partition import _kmeans_kernels as kernels
from nngraph.partition._kmeans import (
    _SEED_FLOAT32_SPREAD,
    _float32_floor,
    _float32_points,
    _n_trials,
    _seeding_points,
    kmeans,
    kmeans_plusplus,
    lloyd,
)
from nngraph.partition._spectral_embedding import spectral_embedding


def blobs(rng, n_per=(60, 80, 100, 40), dim=5, spread=0.6):
    """Gaussian blobs around random centres (overlapping a little)."""
    centres = rng.normal(0, 2, (len(n_per), dim))
    parts = [rng.normal(c, spread, (m, dim)) for c, m in zip(centres, n_per, strict=True)]
    x = np.concatenate(parts)
    truth = np.repeat(np.arange(len(n_per)), n_per)
    return x, truth


@pytest.fixture
def embedding(rng):
    """Spectral embedding of a noisy 6-block SBM: the data k-means sees in nngraph."""
    a, _ = planted_partition([40, 50, 60, 45, 55, 50], 0.3, 0.08, rng)
    emb = spectral_embedding(a, 6, random_state=0)
    return emb


def assert_same_as_sklearn(x, seeds, max_iter=300, tol=1e-4):
    labels, centres, inertia, n_iter = lloyd(x, seeds, max_iter=max_iter, tol=tol)
    for r in range(seeds.shape[0]):
        ref = KMeans(seeds.shape[1], init=seeds[r], n_init=1, max_iter=max_iter, tol=tol)
        ref.fit(x)
        np.testing.assert_array_equal(labels[r], ref.labels_)
        assert n_iter[r] == ref.n_iter_
        np.testing.assert_allclose(inertia[r], ref.inertia_, rtol=1e-12)
        np.testing.assert_allclose(centres[r], ref.cluster_centers_, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- oracles
def test_lloyd_equals_sklearn_on_blobs(rng):
    x, _ = blobs(rng)
    seeds = x[rng.choice(len(x), (8, 4))]  # random points: some runs need many steps
    assert_same_as_sklearn(x, seeds)


def test_lloyd_equals_sklearn_on_a_spectral_embedding(embedding):
    x = embedding
    seeds = kmeans_plusplus(x - x.mean(axis=0), 6, 10, np.random.default_rng(3)) + x.mean(0)
    assert_same_as_sklearn(x, seeds)


def test_lloyd_equals_sklearn_when_it_stops_early(embedding):
    x = embedding
    seeds = kmeans_plusplus(x, 6, 4, np.random.default_rng(4))
    assert_same_as_sklearn(x, seeds, max_iter=3)  # stopped by max_iter: a last assignment
    assert_same_as_sklearn(x, seeds, tol=1e-1)  # stopped by the tolerance


@pytest.mark.parametrize(("k", "dim"), [(1, 3), (5, 7), (9, 2), (13, 1)])
def test_lloyd_equals_sklearn_for_any_number_of_centres_and_features(rng, k, dim):
    """Centres measured four per pass and one by one; features two per pass and one."""
    x, _ = blobs(rng, n_per=(70, 90, 60, 50, 80), dim=dim, spread=1.0)
    seeds = x[rng.choice(len(x), (3, k), replace=False)]
    assert_same_as_sklearn(x, seeds)


@pytest.mark.parametrize(("k", "dim"), [(1, 1), (3, 2), (4, 5), (7, 3), (12, 12), (13, 4)])
@pytest.mark.parametrize("m", [0, 1, 127, 128, 300])
def test_nearest_three_equals_a_sorted_reference(rng, k, dim, m):
    """The three nearest centres of the candidates, against a stable sort (ties included)."""
    x = rng.integers(-2, 3, (400, dim)).astype(float)  # small integers: many exact ties
    c = rng.integers(-2, 3, (k, dim)).astype(float)
    cand = np.sort(rng.choice(400, m, replace=False)).astype(np.int64)
    best = np.full((6, 400), np.nan)
    distance_kernels._nearest_three(
        x, c, cand, m, np.empty((dim, distance_kernels._BATCH)), best[5], best
    )
    d = ((x[cand, None, :] - c[None, :, :]) ** 2).sum(axis=2)
    order = np.argsort(d, axis=1, kind="stable")
    d_sorted = np.take_along_axis(d, order, axis=1)
    pad = np.full((m, 3), np.inf)
    pad[:, : min(k, 3)] = d_sorted[:, :3]
    np.testing.assert_array_equal(best[:3, :m].T, pad)
    np.testing.assert_array_equal(best[3, :m], order[:, 0])
    if k > 1:
        np.testing.assert_array_equal(best[4, :m], order[:, 1])


def exact_nearest(x, c, cand):
    """Distances (not squared) of the candidates to every centre, summed in order."""
    return np.sqrt(((x[cand, None, :] - c[None, :, :]) ** 2).sum(axis=2))


def screened(x, c, cand):
    """``nearest_three`` as Lloyd calls it, for the (distinct) candidates.

    Returns rows of the candidates: the bound on the nearest centre's distance, the
    bounds on the runner-up's and every other centre's, the nearest, the runner-up.
    """
    m = len(cand)
    state = np.full((4, len(x)), np.nan)
    nearest = np.full(m, -1, dtype=np.int64)
    distance_kernels.nearest_three(
        x, *_float32_points(x), c, cand, m, state, nearest, np.empty(m, dtype=np.int64)
    )
    others = np.setdiff1d(np.arange(len(x)), cand)
    assert np.isnan(state[:, others]).all()  # only the candidates' columns are written
    return np.vstack([state[:3, cand], nearest, state[3, cand]])


@pytest.mark.parametrize(
    ("k", "dim"), [(1, 1), (2, 3), (5, 2), (7, 5), (12, 12), (13, 4), (12, 200)]
)
@pytest.mark.parametrize("m", [0, 1, 127, 128, 300])
@pytest.mark.parametrize(
    "data",
    [
        "ties",
        "gaussian",
        "far from the origin",
        "a far centre",
        "small",
        "tiny",
        "near the top",
        "huge",
    ],
)
def test_screened_nearest_centre_is_the_exact_one_with_valid_bounds(rng, k, dim, m, data):
    """The float32 screen gives the labels of the exact distances, and true bounds.

    Small integers tie exactly (the screen cannot decide them); points far from the
    origin (norms 1e4, gaps 1) make its error bound wide; "small" (1e-15) is screened
    with squares near 1e-30; the squares of "tiny" (1e-30) fall below float32's normal
    range; in "near the top" (1e18) sums of squares can overflow float32 where the
    squares do not (found by review); the squares of "huge" (1e25) overflow; "a far
    centre" (1e6 away, with a few points near it) has an error bound of its own.
    """
    if data == "ties":
        x = rng.integers(-2, 3, (400, dim)).astype(float)
        c = rng.integers(-2, 3, (k, dim)).astype(float)
    else:
        x = rng.normal(size=(400, dim))
        c = rng.normal(size=(k, dim))
        scale, offset = {
            "gaussian": (1.0, 0.0),
            "far from the origin": (1.0, 1e4),
            "a far centre": (1.0, 0.0),
            "small": (1e-15, 0.0),
            "tiny": (1e-30, 0.0),
            "near the top": (1e18, 0.0),
            "huge": (1e25, 0.0),
        }[data]
        x = x * scale + offset
        c = c * scale + offset
        if data == "a far centre":
            c[-1] += 1e6
            x[:3] = c[-1] + rng.normal(size=(3, dim))
    cand = np.sort(rng.choice(400, m, replace=False)).astype(np.int64)
    best = screened(x, c, cand)
    d = exact_nearest(x, c, cand)
    order = np.argsort(d, axis=1, kind="stable")
    d_sorted = np.take_along_axis(d, order, axis=1)
    np.testing.assert_array_equal(best[3], order[:, 0])  # the label, ties to the first
    # Bounds; the points measured in float64 get their distances, up to rounding.
    lo, hi = 1 - 1e-12, 1 + 1e-12
    assert np.all(best[0] * hi >= d_sorted[:, 0])  # upper bound on the nearest
    if k > 1:
        runner = best[4].astype(int)
        assert np.all(runner != best[3])
        assert np.all(best[1] * lo <= d[np.arange(m), runner])  # lower bound, runner-up
        others = d.copy()
        others[np.arange(m), order[:, 0]] = np.inf
        others[np.arange(m), runner] = np.inf
        assert np.all(best[2] * lo <= others.min(axis=1))  # and on every other centre


@pytest.mark.parametrize("dim", [1, 2, 7, 200])
def test_screen_leaves_sums_that_overflow_float32_to_the_exact_pass(rng, dim):
    """Squared norms near 1.8e38 fit float32, their sums do not: no float32 decision.

    Found by review: the float32 distance to the nearest centre came out inf or NaN
    while the error bound stayed finite, and the point went to another centre.
    """
    x = rng.normal(size=(300, dim))
    x *= (1.35e19 / np.linalg.norm(x, axis=1))[:, None]
    c = np.concatenate([x[:3], np.zeros((1, dim)), rng.normal(size=(2, dim)) * 1e18])
    best = screened(x, c, np.arange(300, dtype=np.int64))
    np.testing.assert_array_equal(best[3], np.argmin(exact_nearest(x, c, np.arange(300)), axis=1))


def test_lloyd_near_the_top_of_float32_equals_sklearn():
    a = 1.35e19
    x = np.array([[a]] * 5 + [[-a]] * 5 + [[0.0]] + [[1e18]])
    assert_same_as_sklearn(x, x[None, [0, 10]], tol=0.0)


def test_screen_decides_almost_every_point_of_an_embedding(embedding):
    """On a spectral embedding only near-ties are measured again in float64."""

    def undecided(x, c):
        n = len(x)
        state, nearest = np.empty((4, n)), np.empty(n, dtype=np.int64)
        cand, redo = np.arange(n, dtype=np.int64), np.empty(n, dtype=np.int64)
        return distance_kernels._screen_three(*_float32_points(x), c, cand, n, state, nearest, redo)

    x = embedding - embedding.mean(axis=0)
    assert undecided(x, x[:: len(x) // 6][:6]) <= 0.01 * len(x)
    ties = np.repeat(x[:1], 3, axis=0)  # points exactly between two centres
    assert undecided(ties, np.array([ties[0] - 0.5, ties[0] + 0.5])) == 3


def test_a_far_centre_leaves_the_other_points_to_the_screen(embedding, rng):
    """A centre far from the others (a small far cluster) widens only its own bound.

    Before the screen's bounds were per centre, the largest ``||c||^2`` set every
    point's error bound: with a centre 100 times the embedding's extent away, the exact
    pass measured 120 of these 305 points again (110-254 for other seeds).
    """
    x = embedding - embedding.mean(axis=0)
    extent = np.abs(x).max()
    far = x[0] + 100 * extent * np.ones(x.shape[1])
    points = np.vstack([x, far + 1e-3 * extent * rng.normal(size=(5, x.shape[1]))])
    c = np.vstack([x[:: len(x) // 5][:5], far])
    n = len(points)
    state, nearest = np.full((4, n), np.nan), np.full(n, -1, dtype=np.int64)
    cand, redo = np.arange(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    undecided = distance_kernels._screen_three(
        *_float32_points(points), c, cand, n, state, nearest, redo
    )
    assert undecided <= 0.01 * n
    decided = np.setdiff1d(np.arange(n), redo[:undecided])
    assert np.isin(np.arange(n - 5, n), decided).all()  # the far cluster's points too
    d = exact_nearest(points, c, cand)[decided]
    label = nearest[decided]
    rows = np.arange(len(decided))
    np.testing.assert_array_equal(label, d.argmin(axis=1))
    assert np.all(nearest[-5:] == 5)
    # Valid bounds: on the nearest centre, the runner-up and every other centre.
    runner = state[3, decided].astype(int)
    assert np.all(runner != label)
    assert np.all(state[0, decided] >= d[rows, label])
    assert np.all(state[1, decided] <= d[rows, runner])
    others = d.copy()
    others[rows, label] = np.inf
    others[rows, runner] = np.inf
    assert np.all(state[2, decided] <= others.min(axis=1))


def test_moving_bounds_list_the_points_a_reference_would(rng):
    """``_follow_moves`` against the bounds moved one point at a time in Python."""
    n, k = 500, 7
    labels = rng.integers(0, k, n).astype(np.int32)
    runner = (labels + rng.integers(1, k, n)) % k
    upper = rng.random(n)
    state = np.stack([upper, upper + rng.random(n) * 0.2, upper + rng.random(n) * 0.3, runner])
    shift = rng.random(k) * 0.05
    shift[3] = shift[5]  # a tie for the largest move among the others
    half = rng.random(k) * 0.8
    cand = np.empty(n, dtype=np.int64)
    moved = state.copy()
    m = kernels._follow_moves(labels, moved, shift, half, cand)
    want = []
    for i in range(n):
        a, b = labels[i], int(runner[i])
        u = state[0, i] + shift[a]
        l2 = state[1, i] - shift[b]
        l3 = state[2, i] - max([shift[j] for j in range(k) if j not in (a, b)] + [0.0])
        np.testing.assert_array_equal(moved[:3, i], [u, l2, l3])
        if u >= max(min(l2, l3), half[a]):
            want.append(i)
    np.testing.assert_array_equal(cand[:m], want)
    assert 0 < m < n


def test_exact_ties_go_to_the_first_centre_as_in_sklearn():
    """A point exactly between its centre and a lower-numbered one takes the lower one.

    After one update the centres are 4 and 2 and the points at 3 are tied: the bounds
    alone would keep their label 1 (found by review); plain Lloyd gives them 0.
    """
    x = np.array([[3.0], [3.0], [4.0], [0.0], [4.0]])
    for max_iter in (1, 2, 300):
        assert_same_as_sklearn(x, np.array([[[4.0], [3.0]]]), max_iter=max_iter, tol=0.0)


def test_coinciding_starting_centres_as_in_sklearn():
    x = np.array([[4.0], [5.0], [2.0], [0.0]])
    assert_same_as_sklearn(x, np.array([[[0.0], [0.0], [2.0]]]), tol=0.0)


def test_empty_cluster_is_relocated_as_sklearn_does(rng):
    x, _ = blobs(rng)
    seeds = x[rng.choice(len(x), (3, 4))]
    seeds[:, 2] = 100.0  # no point is nearest to it: empty after the first assignment
    assert_same_as_sklearn(x, seeds)


def assert_seeding_as_sklearn(x, k):
    """Replay scikit-learn's draws (``choice`` of the first centre, ``uniform`` trials)."""
    n_trials = 2 + int(np.log(k))
    for seed in range(5):
        ref, _ = _kmeans_plusplus(
            x, k, (x * x).sum(axis=1), np.ones(len(x)), np.random.RandomState(seed)
        )
        rs = np.random.RandomState(seed)
        first = np.array([rs.choice(len(x), p=np.full(len(x), 1 / len(x)))])
        uniforms = np.stack([rs.uniform(size=n_trials) for _ in range(k - 1)])[None]
        centres = np.empty((1, k, x.shape[1]))
        xt32 = _seeding_points(x).astype(np.float32)
        kernels.kmeans_plusplus(x, xt32, first, uniforms, centres, np.empty(1), 0, 1)
        np.testing.assert_array_equal(centres[0], ref)


@pytest.mark.parametrize(("k", "dim"), [(4, 5), (12, 5), (12, 6), (25, 3)])
def test_seeding_equals_sklearn_with_the_same_random_numbers(rng, k, dim):
    """Replay scikit-learn's draws (``choice`` of the first centre, ``uniform`` trials).

    ``k`` = 4, 12, 25 draw 3, 4 and 5 trials per centre: measured one at a time, four
    in one pass, and four then one; ``dim`` 5, 6 and 3 leave 1, 2 and 3 features after
    the passes of four.
    """
    x, _ = blobs(rng, n_per=(60, 80, 100, 40, 30), dim=dim)
    assert_seeding_as_sklearn(x - x.mean(axis=0), k)


@pytest.mark.parametrize(("scale", "offset"), [(1e-30, 0.0), (1e-3, 0.0), (1e25, 0.0), (1.0, 1e6)])
def test_seeding_equals_sklearn_for_data_of_any_size(rng, scale, offset):
    """The float32 distances come from centred points scaled by a power of two.

    Without the scaling, squared distances of data at 1e-30 fall below float32's range
    (every point equally likely) and at 1e25 overflow it; without the centring, data
    1e6 from the origin loses its gaps of about 1 to rounding.
    """
    x, _ = blobs(rng, n_per=(60, 80, 100, 40, 30), dim=6)
    assert_seeding_as_sklearn(x * scale + offset, 8)


def seeded(x, dtype, n_init, k, rng):
    """Run the seeding kernel on ``x`` in ``dtype`` with kmeans_plusplus's draws.

    ``rng`` draws the first centres, then the uniforms, as :func:`kmeans_plusplus`
    does. Returns the seeds ``(n_init, k, dim)`` and every restart's potential.
    """
    first = rng.integers(0, len(x), size=n_init)
    uniforms = rng.random((n_init, k - 1, _n_trials(k)))
    seeds, potentials = np.empty((n_init, k, x.shape[1])), np.empty(n_init)
    points = _seeding_points(x).astype(dtype)
    kernels.kmeans_plusplus(x, points, first, uniforms, seeds, potentials, 0, n_init)
    return seeds, potentials


@pytest.mark.parametrize(("spread", "float64"), [(1e-8, True), (1e-6, True), (0.3, False)])
def test_seeding_clusters_too_tight_for_float32_in_float64(rng, spread, float64):
    """Blobs 1e-6 or 1e-8 wide, 10 apart: float32 rounds their points together.

    With more centres than blobs, float32 seeds then lost 1% (1e-7) to 7% (1e-8) of
    the best inertia in a review; such data is seeded from float64 distances.
    """
    x, _ = blobs(rng, n_per=(80, 80, 80, 80, 80), dim=4, spread=spread)
    x = x * 5.0
    k, n_init = 12, 6
    got = kmeans_plusplus(x, k, n_init, np.random.default_rng(1))
    want = {
        dt: seeded(x, dt, n_init, k, np.random.default_rng(1))[0] for dt in (np.float32, np.float64)
    }
    np.testing.assert_array_equal(got, want[np.float64 if float64 else np.float32])
    if float64:  # the float32 seeds differ: the check is not idle
        assert not np.array_equal(want[np.float32], want[np.float64])


def _seeding_dtypes(monkeypatch):
    """Record the dtype of the points of every call of the seeding kernel."""
    used = []
    real = kernels.kmeans_plusplus

    def spy(x, points, *args):
        used.append(points.dtype)
        return real(x, points, *args)

    monkeypatch.setattr(kernels, "kmeans_plusplus", spy)
    return used


@pytest.mark.parametrize(("far", "float64"), [(200.0, False), (1e4, True)])
def test_far_outliers_leave_the_seeding_in_float32(embedding, monkeypatch, far, float64):
    """A few points far away set the scale; the others' small norms keep float32 exact.

    At 200 times the extent the coordinate bound of ``_float32_floor`` (every
    coordinate below 1) would send this data to float64 (its smallest potential is a
    quarter of that bound); the bound from the points' norms keeps float32, with
    float64's seeds here. Ten thousand times away, the others are too fine for it.
    """
    x = embedding - embedding.mean(axis=0)
    data = np.vstack([x, x[:3] + far * np.abs(x).max()])
    n, dim = data.shape
    points = _seeding_points(data)
    seeds32, pot32 = seeded(data, np.float32, 6, 8, np.random.default_rng(3))
    seeds64, _ = seeded(data, np.float64, 6, 8, np.random.default_rng(3))
    coordinate_bound = n * dim * _SEED_FLOAT32_SPREAD**2
    if float64:
        assert pot32.min() < _float32_floor(points)
    else:  # the case the bound from the norms decides
        assert _float32_floor(points) <= pot32.min() < coordinate_bound
    used = _seeding_dtypes(monkeypatch)
    got = kmeans_plusplus(data, 8, 6, np.random.default_rng(3))
    assert used == ([np.float32, np.float64] if float64 else [np.float32])
    np.testing.assert_array_equal(got, seeds64 if float64 else seeds32)
    if not float64:
        np.testing.assert_array_equal(seeds32, seeds64)


def test_float32_seeding_keeps_the_potential_within_its_bound(rng):
    """Where ``_float32_floor`` keeps float32, the seeds' potentials are right to 2e-4.

    The float32 potential of every restart against the exact potential of the same
    seeds, on clusters of several widths with a few points far away. The tightest
    clusters, where float32 is off by more than that, must go to float64.
    """
    kept, too_coarse = 0, 0
    for width in (0.3, 0.1, 0.03, 0.01, 1e-5):
        for far in (1.0, 10.0, 30.0, 100.0, 3e3):
            centres = rng.normal(0, 1, (6, 5))
            x = np.vstack([rng.normal(c, width, (60, 5)) for c in centres])
            x = np.vstack([x, x[:4] + far * np.abs(x).max() * rng.normal(size=(4, 5))])
            points = _seeding_points(x)
            r = 20
            seeds, pot = seeded(x, np.float32, r, 12, rng)
            p = points.T  # the scaled points, in float64
            exact = np.empty(r)
            for i in range(r):
                rows = (x[:, None, :] == seeds[i][None]).all(axis=2).any(axis=1)
                exact[i] = ((p[:, None, :] - p[rows][None]) ** 2).sum(axis=2).min(axis=1).sum()
            error = np.max(np.abs(pot - exact) / exact)
            if pot.min() >= _float32_floor(points):
                kept += 1
                assert error <= 2e-4, (width, far, error)
            too_coarse += error > 2e-4
    assert kept >= 10 and too_coarse >= 1  # both sides of the floor were tried


def test_seeding_subnormal_data():
    """Coordinates near 1e-309 (float64's subnormals) scale up exactly; no overflow."""
    x = np.array([[0.0], [1e-309], [2e-309], [7e-309]])
    c = kmeans_plusplus(x, 2, 3, np.random.default_rng(0))
    assert np.isin(c, x).all()
    assert kmeans(x, 2, n_init=3, rng=np.random.default_rng(0)).inertia >= 0.0


def test_draw_goes_on_past_a_block_whose_sum_rounds_up():
    """The block's 8-way sum rounds above its running sum: the draw goes on to block 1.

    ``searchsorted`` on the cumulative sum gives 64; stopping at the block's end gave
    63, a point at distance 0 (a centre already).
    """
    closest = np.zeros(128, np.float32)
    closest[0] = 1.0
    closest[1:8] = 2.0**-53
    closest[64] = 1.0
    blocks = np.empty(2)
    kernels._min_and_block_sums(closest, np.full(128, np.inf, np.float32), blocks)
    value = 1.0 + 2.0**-52
    assert blocks[0] >= value > np.cumsum(closest.astype(np.float64))[63]
    assert kernels._draw(closest, blocks, value) == 64


@pytest.mark.parametrize("n", [1, 7, 64, 65, 200])
def test_draw_is_searchsorted_on_the_cumulative_sum(rng, n):
    """Blocks, then a point: the first point whose running sum reaches the value."""
    closest = rng.integers(0, 4, n).astype(np.float32)  # small integers: exact sums, zeros
    closest[0] = max(closest[0], 1.0)
    out = np.full(n, np.inf, dtype=np.float32)
    blocks = np.empty(-(-n // kernels._SEED_BLOCK))
    total = kernels._min_and_block_sums(closest, out, blocks)
    cum = np.cumsum(closest.astype(np.float64))
    assert total == cum[-1]
    np.testing.assert_array_equal(out, closest)
    values = np.concatenate([cum, cum - 0.5, [0.0, total * 0.999, total * 2]])
    for value in values:
        want = min(int(np.searchsorted(cum, value)), n - 1)
        assert kernels._draw(closest, blocks, value) == want, value


# ----------------------------------------------------------------------------- behaviour
def test_best_restart_is_kept(embedding):
    result = kmeans(embedding, 6, n_init=20, rng=np.random.default_rng(0))
    assert result.inertias.shape == (20,)
    assert result.inertia == result.inertias.min()
    d = ((embedding - result.centres[result.labels]) ** 2).sum()
    np.testing.assert_allclose(result.inertia, d, rtol=1e-12)


def test_deterministic_for_a_seed_whatever_the_threads(embedding):
    runs = [
        kmeans(embedding, 6, n_init=13, rng=np.random.default_rng(7), workers=w)
        for w in (1, 1, 2, 3)
    ]
    for r in runs[1:]:
        np.testing.assert_array_equal(r.labels, runs[0].labels)
        np.testing.assert_array_equal(r.inertias, runs[0].inertias)
    other = kmeans(embedding, 6, n_init=13, rng=np.random.default_rng(8))
    assert not np.array_equal(other.inertias, runs[0].inertias)


def test_recovers_planted_blobs(rng):
    x, truth = blobs(rng, spread=0.2)
    result = kmeans(x, 4, n_init=10, rng=rng)
    assert adjusted_rand_score(truth, result.labels) == 1.0


def test_many_restarts_beat_few(embedding):
    """The best of many restarts is at least as good as scikit-learn's best of 10."""
    ours = kmeans(embedding, 6, n_init=100, rng=np.random.default_rng(0))
    ref = KMeans(6, n_init=10, random_state=0).fit(embedding)
    assert ours.inertia <= ref.inertia_ * (1 + 1e-12)


def test_duplicate_points_and_k_equal_to_distinct_points():
    x = np.repeat(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), 5, axis=0)
    result = kmeans(x, 3, n_init=5, rng=np.random.default_rng(0))
    assert result.inertia < 1e-20
    assert adjusted_rand_score(np.repeat([0, 1, 2], 5), result.labels) == 1.0


def test_farthest_is_the_first_of_a_stable_descending_sort(rng):
    cases = [
        np.array([1.0, 3.0, 3.0, 2.0]),
        np.array([np.nan, 0.0, np.nan]),
        np.array([np.nan, np.nan]),
        np.array([-1.0, np.nan, -1.0]),  # taken (negative) before NaN
        np.array([np.inf, 5.0, np.inf]),
        rng.integers(0, 4, 50).astype(float),
    ]
    for dist in cases:
        # Squared distances first, then NaN, then those taken (-1): what numpy's stable
        # sort gives with NaN put between them.
        key = np.where(np.isnan(dist), -0.5, dist)
        assert kernels._farthest(dist) == np.argsort(-key, kind="mergesort")[0], dist


def _new_centres_reference(x, labels, old, k):
    """Return the update step's centres, computed with numpy.

    The means; then the empty clusters take, in turn, the points farthest from their
    old centres (a stable descending sort of the distances), as scikit-learn does.
    """
    sums = np.zeros((k, x.shape[1]))
    np.add.at(sums, labels, x)
    counts = np.bincount(labels, minlength=k).astype(float)
    dist = ((x - old[labels]) ** 2).sum(axis=1)
    far = np.argsort(-dist, kind="mergesort")
    new = sums.copy()
    for m, j in enumerate(np.flatnonzero(counts == 0)):
        p = far[m]
        new[labels[p]] -= x[p]
        new[j] = x[p]
        counts[j] = 1.0
        counts[labels[p]] -= 1.0
    return new / np.where(counts > 0, counts, 1.0)[:, None]


def test_several_empty_clusters_take_the_farthest_points_in_order(rng):
    k = 6
    x = np.round(rng.normal(size=(40, 3)), 1)
    x[5] = x[9] = [9.0, 9.0, 9.0]  # a tie for the farthest point: the first goes first
    labels = rng.integers(0, 2, 40).astype(np.int32)  # clusters 2 to 5 are empty
    labels[[5, 9]] = 0  # the same old centre: the same distance
    old = rng.normal(size=(k, 3))
    sums = np.zeros((k, 3))
    np.add.at(sums, labels, x)
    counts = np.bincount(labels, minlength=k).astype(np.int64)
    new = np.empty((k, 3))
    kernels._new_centres(x, labels, sums, counts, old, new)
    np.testing.assert_allclose(new, _new_centres_reference(x, labels, old, k), rtol=1e-12)
    assert np.array_equal(new[2], x[5]) and np.array_equal(new[3], x[9])
