"""The eigenproblem's whole matrix held dense: ``N``, or ``M = B B^T`` formed once.

:class:`DenseOperator` applies a symmetric matrix with one BLAS call per product; one
vector (ARPACK's steps) reads one triangle (``symv``), half the memory of a general
product and, for ``M``, a quarter of what applying ``B`` and ``B^T`` from the blocks of
:mod:`._spectral_operators` reads. :func:`gram` forms ``M`` by blocks of layers, on
the worker threads. :func:`gram_pays` says when forming ``M`` costs less than
applying ``B`` and ``B^T`` at every step of an eigen-solve, :func:`dense_pays` when
``N`` is cheaper dense than in dense blocks; :mod:`._spectral_problems` asks them for
``operator="auto"``.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg.blas

from ..utils._threads import ThreadPolicy, parallel_map

__all__ = ["DenseOperator", "dense_pays", "dense_ratio", "gram", "gram_pays", "gram_ratio"]

#: :func:`gram_pays`: forming ``M = B B^T`` pays when its multiply-adds are at most this
#: many times the entries it saves reading per product (measured crossover: 1,000-1,500).
_GRAM_PAYS_RATIO = 1200
#: :func:`gram_pays`, :func:`dense_pays`: at most this many entries held (128 MiB).
_GRAM_MAX_ENTRIES = 2**24
#: :func:`gram` splits ``B B^T`` into 2 x 2 blocks (3 products) from this many rows.
_GRAM_SPLIT_MIN_ROWS = 128
#: :func:`gram` works by groups (layers) up to this many runs of them, else by halves.
_GRAM_MAX_GROUPS = 64


def gram_pays(dim: int, n_other: int, n_entries: int) -> bool:
    """Whether ``M = B B^T`` (``B`` of shape ``(dim, n_other)``) is worth forming dense.

    ARPACK applies ``M`` 85-190 times on the graphs below. From blocks, each product
    reads ``B`` twice (``2 n_entries`` entries, ``n_entries`` stored in ``B``); dense, it
    reads one triangle of ``M`` (``dim^2 / 2``), after at most ``dim^2 n_other / 2``
    multiply-adds to form it (fewer: :func:`gram` skips empty blocks), which BLAS does
    about 10 times faster per multiply-add than a product reads an entry. So ``M``
    pays when the multiply-adds are at most about 1,200 times the entries saved per
    product. Measured by
    ``benchmarks/bench_spectral.py`` (item 7: ``spectral_embedding(graph, 13)``, the
    two operators interleaved, best of 3, 2 cores), with the ratio:

    ======================== ===== ======= ========== ========== ===============
    graph                    dim   ratio   dense      blocks     dense / blocks
    ======================== ===== ======= ========== ========== ===============
    digits MLP               522   266     19.9 ms    26.4 ms    0.75
    MLP 784-512x4-10         1,034 522     121 ms     254 ms     0.48
    MLP 784-768x4-10         1,546 778     214 ms     452 ms     0.47
    MLP 784-1024x4-10        2,058 1,034   377 ms     510 ms     0.74
    MLP 784-1536x4-10        3,082 1,546   754 ms     799 ms     0.94 (not picked)
    ======================== ===== ======= ========== ========== ===============

    The MLP 784-2048x4-10 (dim 4,106, ratio 2,058) stays on blocks. The ratio counts the
    multiply-adds of a dense ``B B^T``; :func:`gram` skips empty blocks, so the last row
    is a small gain left on the table rather than a loss avoided.

    Examples
    --------
    >>> gram_pays(522, 576, 215_552)            # the digits MLP
    True
    >>> gram_pays(4106, 4880, 14_209_024)       # the MLP 784-2048x4-10
    False
    >>> gram_pays(100, 100, 500)                # sparse: M would hold more than B
    False
    """
    fits = dim * (dim + n_other) <= _GRAM_MAX_ENTRIES
    return fits and gram_ratio(dim, n_other, n_entries) <= _GRAM_PAYS_RATIO


def gram_ratio(dim: int, n_other: int, n_entries: int) -> float:
    """Return the multiply-adds of a dense ``B B^T`` per entry it saves per product.

    ``inf`` when ``M`` would hold more than reading ``B`` twice (see :func:`gram_pays`).

    Examples
    --------
    >>> round(gram_ratio(522, 576, 215_552), 1)     # the digits MLP
    266.1
    """
    saving = 2.0 * n_entries - dim * dim / 2.0
    return dim * dim * n_other / 2.0 / saving if saving > 0 else float("inf")


def dense_pays(n: int, block_entries: int) -> bool:
    """Whether ``N`` (``n x n``) is cheaper held dense than as dense blocks.

    The blocks store each pair of layers once and read it in both directions: a
    product reads about ``2 block_entries`` entries, against ``n^2 / 2`` for ``symv`` on
    the dense matrix, which costs no multiply-add to form (the blocks are filled from
    the same CSR arrays). Measured by ``benchmarks/bench_spectral.py`` (item 7, best of
    3, interleaved): the digits MLP's activation graph (1,034 units, every block dense)
    24.8 ms dense against 35.2 ms from blocks; a random MLP 784-512x3-10's (1,546
    units) 134 ms against 264 ms. Once, by hand (best of 5): the digits graph with only
    its top 50% or 25% of edges (blocks still dense) 24.6 and 23.7 ms against 34.7 and
    38.9 ms; with its top 10% or 5%, the blocks are sparse and the CSR kernel (which
    this rule keeps) beat the dense matrix 2x.

    Examples
    --------
    >>> dense_pays(1034, 535_095)     # the digits MLP's activation graph
    True
    >>> dense_pays(1034, 100_000)     # a few dense blocks among many empty ones
    False
    """
    return n * n <= _GRAM_MAX_ENTRIES and dense_ratio(n, block_entries) <= 1.0


def dense_ratio(n: int, block_entries: int) -> float:
    """Return what ``symv`` on the dense ``N`` reads per product, per entry blocks read.

    Examples
    --------
    >>> round(dense_ratio(1034, 535_095), 2)     # the digits MLP's activation graph
    0.5
    """
    return n * n / (4.0 * block_entries) if block_entries else float("inf")


def _runs(groups: np.ndarray | None, n: int) -> list[tuple[int, int]]:
    """Ranges ``[a, b)`` of consecutive equal ``groups`` (one range without groups)."""
    if groups is None or n == 0:
        return [(0, n)]
    cuts = np.flatnonzero(groups[1:] != groups[:-1]) + 1
    bounds = np.concatenate([[0], cuts, [n]])
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _spans(runs: list[tuple[int, int]], which: list[int]) -> list[tuple[int, int]]:
    """Return the column ranges of runs ``which`` (sorted), adjacent ones merged."""
    spans: list[tuple[int, int]] = []
    for h in which:
        a, b = runs[h]
        if spans and spans[-1][1] == a:
            spans[-1] = (spans[-1][0], b)
        else:
            spans.append((a, b))
    return spans


def gram(
    b: np.ndarray,
    threads: ThreadPolicy | None = None,
    row_groups: np.ndarray | None = None,
    col_groups: np.ndarray | None = None,
) -> np.ndarray:
    """``b @ b.T``, exactly symmetric, by blocks that skip ``b``'s empty blocks.

    With groups (the layers of the rows and of the columns, each layer's units
    consecutive), block ``(g, g')`` of the result sums ``b[g, h] b[g', h]^T`` over the
    column groups ``h`` where both are non-empty: a weight graph's ``B B^T`` is block
    tridiagonal and each of its blocks needs only the one or two layers its rows share
    (the digits MLP: 45 million multiply-adds instead of 78; the MLP 784-1024x4-10:
    3.1 billion instead of 6.0). Without groups (or with one row group), from 128 rows on,
    the rows are split in two halves, for two workers: ``b1 b2^T`` on one, ``b1 b1^T`` and
    ``b2 b2^T`` on the other. Diagonal blocks use numpy's ``syrk`` (half the multiply-adds,
    exactly symmetric). The blocks are shared among the policy's worker threads, largest
    first; each is computed whole by one of them, so the result does not depend on the
    number of workers.

    Examples
    --------
    >>> b = np.arange(6.0).reshape(3, 2)
    >>> gram(b)
    array([[ 1.,  3.,  5.],
           [ 3., 13., 23.],
           [ 5., 23., 41.]])
    >>> b = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 3.0]])
    >>> gram(b, row_groups=np.array([0, 1, 1]), col_groups=np.array([0, 1]))
    array([[1., 0., 0.],
           [0., 4., 6.],
           [0., 6., 9.]])
    """
    n, m = b.shape
    rows, cols = _runs(row_groups, n), _runs(col_groups, m)
    if len(rows) == 1 or max(len(rows), len(cols)) > _GRAM_MAX_GROUPS:
        rows, cols = [(0, n)], [(0, m)]
        if n >= _GRAM_SPLIT_MIN_ROWS:
            rows = [(0, n // 2), (n // 2, n)]
    filled = [[bool(b[r0:r1, c0:c1].any()) for c0, c1 in cols] for r0, r1 in rows]
    jobs = []
    for i, (a0, a1) in enumerate(rows):
        for j in range(i, len(rows)):
            common = [h for h in range(len(cols)) if filled[i][h] and filled[j][h]]
            if common:
                spans = _spans(cols, common)
                width = sum(c1 - c0 for c0, c1 in spans)
                size = (a1 - a0) * (rows[j][1] - rows[j][0]) * width / (2 if i == j else 1)
                jobs.append((size, i, j, spans))
    jobs.sort(key=lambda job: -job[0])  # largest first: the workers finish together
    out = np.zeros((n, n))

    def product(job: tuple[float, int, int, list[tuple[int, int]]]) -> None:
        _, i, j, spans = job
        ri, rj = slice(*rows[i]), slice(*rows[j])
        for k, (c0, c1) in enumerate(spans):
            x = b[ri, c0:c1]
            y = x if i == j else b[rj, c0:c1]  # the same array: numpy's syrk
            if k == 0:  # straight into the result: no temporary to allocate
                np.matmul(x, y.T, out=out[ri, rj])
            else:
                out[ri, rj] += x @ y.T

    if threads is None or threads.workers == 1:
        for job in jobs:
            product(job)
    else:
        with threads.workers_blas():
            parallel_map(product, jobs, threads.workers)
    for _, i, j, _ in jobs:
        if i != j:
            out[slice(*rows[j]), slice(*rows[i])] = out[slice(*rows[i]), slice(*rows[j])].T
    return out


class DenseOperator:
    """A symmetric matrix held dense: one BLAS call per product.

    One vector (ARPACK's steps) goes through ``symv``, which reads one triangle: half
    the memory of a general product. Several vectors go through numpy's ``matmul``;
    ``single=True`` through a float32 copy of the matrix, made on first use (the block
    solver's ``block_dtype="float32"``).

    Parameters
    ----------
    matrix : ndarray, shape (n, n)
        Symmetric and C-ordered (its transpose, Fortran-ordered, is handed to BLAS).

    Examples
    --------
    >>> op = DenseOperator(np.array([[2.0, 1.0], [1.0, 3.0]]))
    >>> op.apply(np.array([[1.0], [1.0]]))
    array([[3.],
           [4.]])
    """

    def __init__(self, matrix: np.ndarray) -> None:
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float64)
        self._single: np.ndarray | None = None
        self._symv = scipy.linalg.blas.get_blas_funcs("symv", dtype=np.float64)

    def apply(self, x: np.ndarray, single: bool = False) -> np.ndarray:
        """``matrix @ x`` for ``x`` of shape ``(n, b)``; in float32 with ``single``."""
        if single:
            if self._single is None:
                self._single = self.matrix.astype(np.float32)
            return (self._single @ x.astype(np.float32)).astype(np.float64)
        if x.shape[1] == 1:
            # matrix.T is Fortran-ordered (no copy) and, the matrix being symmetric,
            # the same matrix.
            return self._symv(1.0, self.matrix.T, x[:, 0])[:, None]
        return self.matrix @ x
