"""k-means with many restarts, all in one batched computation.

Spectral clustering ends with k-means on the embedding, restarted many times (100 above
2,000 units, as in Filan et al.). Each restart is scikit-learn's
:class:`~sklearn.cluster.KMeans` with ``n_init=1``, computed again in numba: k-means++
seeding with greedy local trials, then Lloyd's iteration with scikit-learn's stopping
rule. Given the same starting centres, a restart gives scikit-learn's labels and
inertia (up to rounding; tested).

What makes 100 restarts cheap:

* **One kernel call for many restarts**: the restarts live in one ``(restarts, k, dim)``
  array of centres and one ``(restarts, n)`` array of labels; each kernel call runs a
  range of them (:mod:`._kmeans_kernels`), with no Python in the loop.
* **Bounds instead of distances**: Lloyd's labels, computed with Hamerly's bounds and a
  second lower bound for the runner-up centre, so that only the points near a boundary
  are measured again (a quarter to a tenth of the distances on spectral embeddings).
* **Float32 first**: those points are measured in float32, in SIMD lanes, with an
  error bound; only the near-ties are measured again in float64, so the labels are
  those of the exact distances (:mod:`._kmeans_distance_kernels`).
* **Threads**: the restarts are split among nngraph's worker threads (the kernels
  release the GIL); every restart draws its random numbers up front, so the result does
  not depend on the split or the number of threads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..utils._threads import parallel_map
from . import _kmeans_kernels as _k

__all__ = ["KMeansResult", "kmeans", "kmeans_plusplus"]


@dataclass(frozen=True)
class KMeansResult:
    """The best restart of :func:`kmeans`.

    Attributes
    ----------
    labels : ndarray of int64, shape (n,)
        Cluster of every point.
    centres : ndarray, shape (k, dim)
        The final centres.
    inertia : float
        Sum of squared distances of the points to their centres.
    n_iter : int
        Lloyd iterations of the best restart.
    inertias : ndarray, shape (n_init,)
        Inertia of every restart.
    """

    labels: np.ndarray
    centres: np.ndarray
    inertia: float
    n_iter: int
    inertias: np.ndarray


def _n_trials(k: int) -> int:
    """scikit-learn's number of local trials of k-means++: ``2 + floor(log(k))``."""
    return 2 + int(math.log(k))


#: Points times restarts per task at least (about 1 ms of Lloyd on a spectral embedding):
#: below it, a task's cost shows. 25 restarts on the digits embedding (1,098 points)
#: took 7.7-7.9 ms in 13 tasks, 8.1-8.5 ms in 8 (4,000) and 7.9-8.2 ms in 25 (1,000).
_TASK_POINTS = 2000


def _split(n_init: int, workers: int, n_points: int) -> list[tuple[int, int]]:
    """Ranges of restarts for the workers, handed out as each worker frees up.

    At least four per worker; more, down to one restart per range, while each still
    covers ``_TASK_POINTS`` points times restarts (restarts differ in their number of
    iterations, so small ranges balance the load: 5% faster on 9,000 points).
    """
    if workers == 1:
        return [(0, n_init)] if n_init else []
    n_chunks = min(n_init, max(4 * workers, n_init * n_points // _TASK_POINTS))
    bounds = np.linspace(0, n_init, n_chunks + 1).astype(np.int64)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def kmeans_plusplus(
    x: np.ndarray,
    k: int,
    n_init: int,
    rng: np.random.Generator,
    *,
    workers: int = 1,
) -> np.ndarray:
    """Seed ``n_init`` restarts of k-means by greedy k-means++ (as scikit-learn does).

    The first centre of each restart is a point drawn uniformly; each next one is the
    best of ``2 + floor(log(k))`` points drawn with probability proportional to their
    squared distance to the nearest centre so far (the one that lowers the sum of
    those distances most). The squared distances are computed in float32, on centred
    and scaled points, which takes two thirds of the time; where clusters are too
    tight for float32's resolution (relative to the points' norms), in float64. The
    centres are rows of ``x``. The draws follow float64's probabilities to within that
    resolution (every partial sum of the squared distances to about 2e-4), but a draw
    that lands that close to a boundary takes a neighbouring point: on data near the
    float32 limit a review found other seeds than float64's in 7-15% of restarts, with
    no systematic loss of inertia; on the benchmarks' spectral embeddings, none in 2,000.

    Parameters
    ----------
    x : ndarray, shape (n, dim)
        The points (float64).
    k : int
        Number of centres.
    n_init : int
        Number of restarts.
    rng : numpy.random.Generator
        Draws every random number of every restart, up front.
    workers : int, default=1
        Threads sharing the restarts (the result does not depend on it).

    Returns
    -------
    ndarray, shape (n_init, k, dim)
        The starting centres of every restart (rows of ``x``).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    >>> c = kmeans_plusplus(x, 2, 3, np.random.default_rng(0))
    >>> c.shape, bool(np.all(np.abs(c[:, 0, 0] - c[:, 1, 0]) > 4))
    ((3, 2, 2), True)
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    n, dim = x.shape
    first = rng.integers(0, n, size=n_init)
    uniforms = rng.random((n_init, k - 1, _n_trials(k)))
    centres = np.empty((n_init, k, dim))
    potentials = np.empty(n_init)
    xt = _seeding_points(x)

    def seed(points: np.ndarray) -> None:
        parallel_map(
            lambda ab: _k.kmeans_plusplus(x, points, first, uniforms, centres, potentials, *ab),
            _split(n_init, workers, n),
            workers,
        )

    seed(xt.astype(np.float32))
    # Too fine for float32 (or NaN): the same draws again from float64 distances.
    if n_init and not potentials.min() >= _float32_floor(xt):
        seed(xt)
    return centres


#: The float32 seeding stands when, in every restart, the root mean squared distance of
#: the points to their seeds is at least this times ``sqrt(dim)`` (the points scaled so
#: that no coordinate reaches 1): float32 rounding of the coordinates (up to 2**-24
#: each) then moves the sum of the squared distances by about 2e-4 of itself at most
#: (:func:`_float32_floor`, which also allows smaller sums where the norms are small).
_SEED_FLOAT32_SPREAD = 2e4 * 2.0**-24


def _float32_floor(xt: np.ndarray) -> float:
    """Return the least potential of a restart for which the float32 seeding stands.

    Rounding ``x`` and its seed ``c`` to float32 moves ``||x - c||`` by at most
    ``eta = u (||x|| + ||c||) <= u (2 ||x|| + sqrt(d))`` (``u = 2**-24``, ``d`` the squared
    distance; plus ``2**-149`` per coordinate below float32's normal range), so
    ``E = sum eta^2 <= u^2 (8 X + 2 P)`` over the points (``X`` the sum of their squared
    norms, ``P`` the potential), or ``4 u^2 n dim`` with every coordinate below 1. The
    squared distances, summed over any set of points (every partial sum the draws
    read), move by at most ``2 sqrt(E P) + E``, about 2e-4 of ``P``, where
    ``P >= 1e8 E``: with :data:`_SEED_FLOAT32_SPREAD` ``s``, ``P >= s^2 n dim`` (the
    first bound) or ``P (1 - s^2 / 2) >= 2 s^2 X`` (the second). The second is the
    smaller where a few far points set the scale: with 20 of the 8,986 points of the
    big MLP's embedding 100 times its extent away, 100 seedings stay in float32 (44
    ms) instead of falling back to float64 (107 ms).
    """
    dim, n = xt.shape
    s2 = _SEED_FLOAT32_SPREAD**2
    flat = xt.reshape(-1)
    # Not np.dot: a BLAS call on more than one thread leaves its threads spinning for a
    # while, on the cores Lloyd's workers are about to take (100 restarts on the big
    # MLP's embedding took 239 ms after np.dot here instead of 211; 2 cores, 2 workers).
    norms = float(np.einsum("i,i->", flat, flat)) + n * dim * 2.0**-240  # + subnormals
    return s2 * min(n * dim, 2.0 * norms / (1.0 - s2 / 2.0))


def _seeding_points(x: np.ndarray) -> np.ndarray:
    """Return the points for k-means++'s distances: centred, scaled, transposed.

    The draws depend only on ratios of squared distances, which centring and scaling
    by a power of two (exact but in float64's subnormal range) leave as they are. With
    the largest coordinate between 1/2 and 1, float32 squared distances do not
    overflow, and :func:`_float32_floor` says when their rounding (relative to the
    points' norms) is fine enough for the draws. On the embeddings of the MLP
    784-2048x4-10 and of the digits MLP, 1,000 restarts of 12 centres on each got the
    same seeds in float32 as in float64.
    """
    xc = x - x.mean(axis=0)
    top = float(np.max(np.abs(xc))) if xc.size else 0.0
    if np.isfinite(top) and top > 0.0:
        xc = np.ldexp(xc, -math.frexp(top)[1])
    return np.ascontiguousarray(xc.T)


def lloyd(
    x: np.ndarray,
    centres: np.ndarray,
    *,
    max_iter: int = 300,
    tol: float = 1e-4,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run Lloyd's k-means from each restart's starting centres (scikit-learn's iterates).

    Each restart assigns every point to its nearest centre and moves the centres to the
    means (an empty cluster takes the point farthest from its centre), until no label
    changes or the centres move less than ``tol`` times the mean variance of the
    features (sum of squared shifts), at most ``max_iter`` times; then the points are
    assigned once more to the final centres.

    Parameters
    ----------
    x : ndarray, shape (n, dim)
        The points.
    centres : ndarray, shape (n_init, k, dim)
        Starting centres of every restart (not modified).
    max_iter : int, default=300
        Iterations per restart.
    tol : float, default=1e-4
        Relative tolerance on the centres' moves (scikit-learn's ``tol``).
    workers : int, default=1
        Threads sharing the restarts (the result does not depend on it).

    Returns
    -------
    labels : ndarray of int32, shape (n_init, n)
    centres : ndarray, shape (n_init, k, dim)
        The final centres.
    inertia : ndarray, shape (n_init,)
    n_iter : ndarray of int64, shape (n_init,)

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    >>> labels, c, inertia, n_iter = lloyd(x, x[None, [0, 1]])
    >>> labels[0].tolist(), float(inertia[0].round(4))
    ([0, 0, 1, 1], 0.01)
    """
    x = np.asarray(x, dtype=np.float64)
    # Centred data, as scikit-learn's k-means (more accurate distances).
    mean = x.mean(axis=0)
    labels, work, inertia, n_iter = _lloyd_centred(
        np.ascontiguousarray(x - mean), centres - mean, _tolerance(x, tol), max_iter, workers
    )
    return labels, work + mean, inertia, n_iter


def _tolerance(x: np.ndarray, tol: float) -> float:
    """scikit-learn's absolute tolerance: ``tol`` times the mean variance of the features."""
    return float(np.mean(np.var(x, axis=0)) * tol) if tol else 0.0


def _float32_points(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the points in float32 and their squared norms, for the float32 screen.

    The norms are summed in float64, then rounded (the screen's error bound counts one
    rounding for them). Near or beyond the top of float32's range they are inf, and the
    screen leaves those points to the exact distances.
    """
    with np.errstate(over="ignore"):
        x32 = x.astype(np.float32)
        xx = np.einsum("ij,ij->i", x32, x32, dtype=np.float64).astype(np.float32)
    return x32, xx


def _lloyd_centred(
    xc: np.ndarray, centres: np.ndarray, tol_abs: float, max_iter: int, workers: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n_init = centres.shape[0]
    x32, xx = _float32_points(xc)
    work = np.array(centres, dtype=np.float64, order="C")
    labels = np.empty((n_init, xc.shape[0]), dtype=np.int32)
    inertia = np.empty(n_init)
    n_iter = np.empty(n_init, dtype=np.int64)
    parallel_map(
        lambda ab: _k.lloyd(xc, x32, xx, work, max_iter, tol_abs, labels, inertia, n_iter, *ab),
        _split(n_init, workers, xc.shape[0]),
        workers,
    )
    return labels, work, inertia, n_iter


def kmeans(
    x: np.ndarray,
    k: int,
    *,
    n_init: int,
    rng: np.random.Generator,
    max_iter: int = 300,
    tol: float = 1e-4,
    workers: int = 1,
) -> KMeansResult:
    """k-means with ``n_init`` restarts (k-means++ then Lloyd); keep the lowest inertia.

    The maths of scikit-learn's ``KMeans(k, n_init=n_init, max_iter=max_iter, tol=tol)``
    (:func:`kmeans_plusplus`, :func:`lloyd`), with the random numbers drawn from
    ``rng``: deterministic for a seed, whatever ``workers``.

    Parameters
    ----------
    x : ndarray, shape (n, dim)
        The points (``n >= k``).
    k : int
        Number of clusters.
    n_init : int
        Number of restarts.
    rng : numpy.random.Generator
        Seeds the restarts.
    max_iter : int, default=300
        Lloyd iterations per restart.
    tol : float, default=1e-4
        Relative tolerance on the centres' moves.
    workers : int, default=1
        Threads sharing the restarts.

    Returns
    -------
    KMeansResult
        The restart with the lowest inertia (the first of equal ones).

    References
    ----------
    .. [1] D. Arthur and S. Vassilvitskii, "k-means++: the advantages of careful
       seeding", SODA 2007.
    .. [2] G. Hamerly, "Making k-means even faster", SDM 2010.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(0, 0.1, (20, 2)), rng.normal(3, 0.1, (20, 2))])
    >>> result = kmeans(x, 2, n_init=10, rng=np.random.default_rng(0))
    >>> np.bincount(result.labels).tolist(), bool(result.labels[0] != result.labels[-1])
    ([20, 20], True)
    """
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    xc = np.ascontiguousarray(x - mean)
    seeds = kmeans_plusplus(xc, k, n_init, rng, workers=workers)
    labels, centres, inertia, n_iter = _lloyd_centred(
        xc, seeds, _tolerance(x, tol), max_iter, workers
    )
    best = int(np.argmin(inertia))
    return KMeansResult(
        labels=labels[best].astype(np.int64),
        centres=centres[best] + mean,
        inertia=float(inertia[best]),
        n_iter=int(n_iter[best]),
        inertias=inertia,
    )
