"""From correlations between units to a sparse, symmetric adjacency.

Two routes:

- **dense** (all pairs, optionally thresholded): the correlation matrix is transformed
  in place block by block (``r**2`` or ``|r|``, diagonal 0, weights below the threshold
  0), counted, and written straight into CSR arrays of the exact size, so the only
  ``n**2`` arrays are the correlation matrix itself and the CSR graph.
- **k nearest neighbours**: each unit keeps its ``k`` units of largest ``|r|``, found on
  the standardised activation vectors (one point per unit, one coordinate per example:
  zero mean, unit norm, so that ``r`` is a dot product), never forming the dense
  matrix. With ``"nndescent"`` the search runs on ``pynndescent.NNDescent`` with the
  Euclidean metric over the points and their negations (``|x - y|**2 = 2 - 2r`` on unit
  vectors; the negated copy of ``y`` is close to ``x`` when ``r`` is close to -1), so
  both strong positive and strong negative correlations are found; ``"exact"``
  computes the products blockwise. The two directed ``k``-NN lists are symmetrised by
  union, each edge weighted by its transformed correlation.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._byte_sizes import human_bytes

__all__ = [
    "TRANSFORMS",
    "KNN_METHODS",
    "dense_adjacency",
    "knn_adjacency",
    "standardize_rows",
    "transform",
]

TRANSFORMS = ("square", "abs")
KNN_METHODS = ("auto", "nndescent", "exact")
# knn_method="auto": exact blockwise search while n_live**2 * n_examples stays below
# this (about 20 s of float32 matrix products on two cores; exact, and no JIT
# compilation), NN-descent above, where its n log n scaling wins.
_AUTO_EXACT_WORK = 2e12
_BLOCK_BYTES = 64 * 2**20


def transform(r: np.ndarray, how: str, out: np.ndarray | None = None) -> np.ndarray:
    """Edge weight from a correlation: ``r**2`` (``"square"``) or ``|r|`` (``"abs"``).

    Parameters
    ----------
    r : ndarray
        Correlations.
    how : {"square", "abs"}
        The transform.
    out : ndarray, optional
        Where to write (may be ``r`` itself).

    Returns
    -------
    ndarray

    Examples
    --------
    >>> import numpy as np
    >>> transform(np.array([-0.5, 0.2]), "square"), transform(np.array([-0.5, 0.2]), "abs")
    (array([0.25, 0.04]), array([0.5, 0.2]))
    """
    if how == "square":
        return np.square(r, out=out)
    return np.abs(r, out=out)


def dense_adjacency(
    corr: np.ndarray,
    how: str,
    threshold: float | None,
    max_bytes: float,
) -> sp.csr_array:
    """Turn the C-ordered correlation matrix ``corr`` (overwritten) into CSR weights.

    Parameters
    ----------
    corr : ndarray of float64, shape (n, n)
        Symmetric correlations; overwritten by the transformed weights.
    how : {"square", "abs"}
        See :func:`transform`.
    threshold : float, optional
        Weights below it are dropped.
    max_bytes : float
        Memory budget for the matrix and the CSR graph together.

    Returns
    -------
    scipy.sparse.csr_array
        The weights, diagonal 0, sorted indices.

    Raises
    ------
    ValueError
        The CSR graph would take more than ``max_bytes`` (with the matrix itself).

    Examples
    --------
    >>> import numpy as np
    >>> corr = np.array([[1.0, -0.5, 0.1], [-0.5, 1.0, 0.0], [0.1, 0.0, 1.0]])
    >>> dense_adjacency(corr, "square", 0.05, 2**20).toarray()
    array([[0.  , 0.25, 0.  ],
           [0.25, 0.  , 0.  ],
           [0.  , 0.  , 0.  ]])
    """
    n = corr.shape[0]
    # np.nonzero on a block makes two int64 arrays as large as the block: keep it small.
    block = max(1, _BLOCK_BYTES // 4 // (8 * max(n, 1)))
    counts = np.zeros(n, dtype=np.int64)
    for r0 in range(0, n, block):
        r1 = min(n, r0 + block)
        blk = corr[r0:r1]
        transform(blk, how, out=blk)
        blk[np.arange(r1 - r0), np.arange(r0, r1)] = 0.0
        if threshold is not None and threshold > 0:
            blk[blk < threshold] = 0.0
        counts[r0:r1] = np.count_nonzero(blk, axis=1)
    nnz = int(counts.sum())
    index_dtype = np.int32 if max(n, nnz) < 2**31 else np.int64
    needed = corr.nbytes + nnz * (8 + np.dtype(index_dtype).itemsize) + 8 * (n + 1)
    if needed > max_bytes:
        raise ValueError(
            f"the graph has {nnz} directed edges and needs about {human_bytes(needed)} "
            f"with the correlation matrix, more than max_memory ({human_bytes(max_bytes)}); "
            "raise the threshold, pass n_neighbors=k for a k-nearest-neighbour graph, or "
            "raise max_memory"
        )
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(nnz, dtype=index_dtype)
    data = np.empty(nnz, dtype=np.float64)
    for r0 in range(0, n, block):
        r1 = min(n, r0 + block)
        blk = corr[r0:r1]
        rows, cols = np.nonzero(blk)
        s, e = indptr[r0], indptr[r1]
        indices[s:e] = cols
        data[s:e] = blk[rows, cols]
    adjacency = sp.csr_array((data, indices, indptr), shape=(n, n))
    adjacency.has_sorted_indices = True
    return adjacency


def standardize_rows(x: np.ndarray) -> np.ndarray:
    """Centre every row of the float32 array ``x`` and scale it to unit norm, in place.

    Arithmetic runs in float64 on blocks of rows. Afterwards the dot product of two
    rows is their Pearson correlation.

    Parameters
    ----------
    x : ndarray of float32, shape (n, m)
        One row per unit, one column per example; overwritten.

    Returns
    -------
    ndarray of bool, shape (n,)
        The rows whose norm was zero (constant rows, left as zeros).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1, 2, 3], [4, 4, 4]], dtype=np.float32)
    >>> standardize_rows(x).tolist(), bool(np.isclose(x[0] @ x[0], 1.0))
    ([False, True], True)
    """
    n, m = x.shape
    zero = np.zeros(n, dtype=bool)
    block = max(1, _BLOCK_BYTES // (8 * max(m, 1)))
    for r0 in range(0, n, block):
        v = x[r0 : r0 + block].astype(np.float64)
        v -= v.mean(axis=1, keepdims=True)
        norm = np.sqrt(np.einsum("ij,ij->i", v, v))
        z = norm == 0
        zero[r0 : r0 + block] = z
        norm[z] = 1.0
        v /= norm[:, None]
        x[r0 : r0 + block] = v
    return zero


def knn_adjacency(
    z: np.ndarray,
    n_live: int,
    k: int,
    how: str,
    method: str,
    seed: int,
) -> tuple[sp.csr_array, str]:
    """k-NN graph by ``|r|`` among the first ``n_live`` rows of ``z``.

    Parameters
    ----------
    z : ndarray of float32, shape (2 * n_live, m), C-ordered
        Rows ``:n_live`` are the standardised units (:func:`standardize_rows`), rows
        ``n_live:`` free space that ``"nndescent"`` fills with their negations.
    n_live : int
        Number of units.
    k : int
        Neighbours kept per unit (at most ``n_live - 1``).
    how : {"square", "abs"}
        See :func:`transform`.
    method : {"auto", "nndescent", "exact"}
        The search (``"auto"``: exact while ``n_live**2 * m`` is at most 2e12).
    seed : int
        NN-descent's seed.

    Returns
    -------
    adjacency : scipy.sparse.csr_array, shape (n_live, n_live)
        Symmetrised by union.
    method : str
        The search used (``"none"`` when ``k`` is below 1).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> z = np.zeros((2 * 4, 50), dtype=np.float32)
    >>> z[:4] = rng.normal(size=(4, 50))
    >>> _ = standardize_rows(z[:4])
    >>> adjacency, used = knn_adjacency(z, 4, 1, "square", "auto", seed=0)
    >>> used, bool(adjacency.nnz >= 4)
    ('exact', True)
    """
    k = min(k, n_live - 1)
    if k < 1:
        return sp.csr_array((n_live, n_live)), "none"
    if method == "auto":
        work = float(n_live) ** 2 * z.shape[1]
        method = "exact" if work <= _AUTO_EXACT_WORK else "nndescent"
    if method == "exact":
        rows, cols, r = _knn_exact(z[:n_live], k)
    else:
        rows, cols, r = _knn_nndescent(z, n_live, k, seed)
    keys, first = np.unique(rows * n_live + cols, return_index=True)
    rows, cols = keys // n_live, keys % n_live
    w = transform(r[first].astype(np.float64), how)
    directed = sp.csr_array((w, (rows, cols)), shape=(n_live, n_live))
    adjacency = directed.maximum(directed.T).tocsr()
    adjacency.eliminate_zeros()
    adjacency.sort_indices()
    return sp.csr_array(adjacency), method


def _knn_exact(z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact top-k by |r| through blockwise products (float32)."""
    n = z.shape[0]
    block = max(1, _BLOCK_BYTES // (4 * n))
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    cols = np.empty(n * k, dtype=np.int64)
    vals = np.empty(n * k, dtype=np.float32)
    for r0 in range(0, n, block):
        r1 = min(n, r0 + block)
        prod = z[r0:r1] @ z.T
        np.abs(prod, out=prod)
        prod[np.arange(r1 - r0), np.arange(r0, r1)] = -1.0
        top = np.argpartition(prod, n - k, axis=1)[:, n - k :]
        cols[r0 * k : r1 * k] = top.ravel()
        vals[r0 * k : r1 * k] = np.take_along_axis(prod, top, axis=1).ravel()
    return rows, cols, np.minimum(vals, 1.0)


def _extra_candidates(k: int) -> int:
    """Neighbours NN-descent tracks beyond the k returned.

    More candidates per point raise recall markedly (0.91 -> 0.97 at k=10 on a 20,000-unit
    MLP) for little time.
    """
    return max(5, k // 2)


def _knn_nndescent(
    z: np.ndarray, n_live: int, k: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Approximate top-k by |r| with NN-descent over the points and their negations."""
    from pynndescent import NNDescent

    np.negative(z[:n_live], out=z[n_live:])
    index = NNDescent(
        z,
        metric="euclidean",
        n_neighbors=min(k + 1 + _extra_candidates(k), 2 * n_live - 1),
        random_state=seed,
        low_memory=True,
        compressed=True,
        verbose=False,
    )
    neighbors, distances = index.neighbor_graph
    del index
    neighbors = neighbors[:n_live]
    distances = distances[:n_live].astype(np.float64)
    # Unit vectors: |x - y|^2 = 2 - 2 r, so |r| of the unit behind neighbour j is
    # 1 - d^2 / 2 (j >= n_live is the negation of unit j - n_live).
    r = np.clip(1.0 - 0.5 * distances * distances, 0.0, 1.0)
    unit = np.where(neighbors >= n_live, neighbors - n_live, neighbors)
    own = np.arange(n_live)[:, None]
    valid = (neighbors >= 0) & (unit != own)
    # A unit listed twice (itself and its negation, both far): keep the nearer listing.
    order = np.argsort(unit, axis=1, kind="stable")
    sorted_units = np.take_along_axis(unit, order, axis=1)
    repeat = np.zeros_like(valid)
    repeat[:, 1:] = sorted_units[:, 1:] == sorted_units[:, :-1]
    np.put_along_axis(valid, order, np.take_along_axis(valid, order, axis=1) & ~repeat, axis=1)
    valid &= np.cumsum(valid, axis=1) <= k  # rows are sorted by distance: the k nearest
    rows = np.broadcast_to(own, unit.shape)[valid]
    return rows.astype(np.int64), unit[valid].astype(np.int64), r[valid]
