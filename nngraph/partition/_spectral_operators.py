"""Three ways to apply the normalised adjacency ``S A S`` (``S = D^-1/2``) to vectors.

* :class:`CSROperator` applies it straight from the CSR arrays with a numba kernel that
  scales by ``S`` on the fly (no copy of ``A``). Any graph can use it.
* :class:`BlockOperator` stores it as blocks between groups of units (layers, or the two
  sides of a bipartite graph): blocks at least 25% full are dense and applied with
  BLAS, split by rows among worker threads when large; the others stay sparse. Weight
  graphs are chains of dense blocks: on the benchmark MLP one application of
  ``B B^T`` costs 5.6 ms from dense blocks against 21 ms from CSR, and ARPACK spends
  97% of its time in the operator.

Both take a sub-matrix given by global row and column indices, so the eigenproblems
of :mod:`._spectral_problems` can apply ``N`` on the kept units, or ``B`` and ``B^T``
between the two sides of a bipartite graph.

* :class:`DenseOperator` holds a problem's whole (symmetric) matrix dense, ``N`` or
  ``M = B B^T`` formed once by :func:`gram`: each product is one BLAS call, and one
  vector reads one triangle (``symv``). :func:`gram_pays` says when forming ``M``
  costs less than applying ``B`` and ``B^T`` at every step of an eigen-solve, and
  :func:`dense_pays` when ``N`` is cheaper dense than in dense blocks.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg.blas
import scipy.sparse as sp

from ..utils._threads import ThreadPolicy, blas_single_thread, parallel_map
from . import _spectral_kernels as _k
from ._prepared import PreparedGraph

__all__ = [
    "BlockOperator",
    "CSROperator",
    "DenseOperator",
    "as_index",
    "dense_pays",
    "gram",
    "gram_pays",
]

#: With ``n_threads > 1``, the parallel numba twin is used from this many stored entries on.
_PARALLEL_MIN_NNZ = 200_000
#: A block at least this full is stored dense.
_DENSE_BLOCK_DENSITY = 0.25
#: The block operator splits its products among threads from this many dense entries.
_THREADED_BLOCK_MIN_ENTRIES = 2_000_000
#: One-vector products use scipy's gemv up to this many dense entries (see _gemv_args).
_GEMV_MAX_ENTRIES = 1_000_000
#: :func:`gram_pays`: forming ``M = B B^T`` pays when its multiply-adds are at most this
#: many times the entries it saves reading per product (measured crossover: 1,000-1,500).
_GRAM_PAYS_RATIO = 1200
#: :func:`gram_pays`, :func:`dense_pays`: at most this many entries held (128 MiB).
_GRAM_MAX_ENTRIES = 2**24
#: :func:`gram` splits ``B B^T`` into 2 x 2 blocks (3 products) from this many rows.
_GRAM_SPLIT_MIN_ROWS = 128
#: :func:`gram` works by groups (layers) up to this many runs of them, else by halves.
_GRAM_MAX_GROUPS = 64


class CSROperator:
    """``S A S`` applied straight from the CSR arrays by a numba kernel (no copy of ``A``).

    Parameters
    ----------
    prep : PreparedGraph
        The graph.
    threads : ThreadPolicy, optional
        With ``numba_parallel``, graphs of at least 200,000 stored entries use the
        kernels' ``parallel=True`` twins (same arithmetic per row, same result).

    Examples
    --------
    >>> import numpy as np
    >>> from nngraph.datasets import path
    >>> from nngraph.partition._prepared import PreparedGraph
    >>> op = CSROperator(PreparedGraph.from_graph(path(3)))
    >>> np.round(op.dense(np.arange(3), np.arange(3)), 3)
    array([[0.   , 0.707, 0.   ],
           [0.707, 0.   , 0.707],
           [0.   , 0.707, 0.   ]])
    """

    def __init__(self, prep: PreparedGraph, threads: ThreadPolicy | None = None) -> None:
        self.prep = prep
        parallel = threads is not None and threads.numba_parallel
        parallel = parallel and prep.csr[2].shape[0] >= _PARALLEL_MIN_NNZ
        self._spmv = _k.scaled_spmv_parallel if parallel else _k.scaled_spmv
        self._spmm = _k.scaled_spmm_parallel if parallel else _k.scaled_spmm

    def apply(self, rows: np.ndarray, sources: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``(S A S)[rows][:, sources] @ x`` for ``x`` of shape ``(len(sources), b)``."""
        p = self.prep
        indptr, indices, data = p.csr
        b = x.shape[1]
        # Scale the input once (zero outside the sources): the kernel's inner loop is
        # then a plain sparse dot product, and only the output rows are scaled again.
        xs = np.zeros((p.n_nodes, b)) if b > 1 else np.zeros(p.n_nodes)
        if b > 1:
            xs[sources] = x * p.scale[sources][:, None]
        else:
            xs[sources] = x[:, 0] * p.scale[sources]
        row_scale = p.scale[rows]
        if b > 1:
            out = np.empty((rows.shape[0], b))
            self._spmm(indptr, indices, data, rows, row_scale, xs, out)
            return out
        out = np.empty(rows.shape[0])
        self._spmv(indptr, indices, data, rows, row_scale, xs, out)
        return out[:, None]

    def dense(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``(S A S)[rows][:, cols]`` as a dense array."""
        p = self.prep
        col_pos = np.full(p.n_nodes, -1, dtype=np.int64)
        col_pos[cols] = np.arange(cols.size)
        out = np.zeros((rows.size, cols.size))
        _k.fill_normalized_block(*p.csr, p.scale, rows, col_pos, out)
        return out


def as_index(nodes: np.ndarray, local: np.ndarray) -> slice | np.ndarray:
    """Positions ``local[nodes]`` of ``nodes`` in a local vector, as a slice when contiguous."""
    pos = local[nodes]
    if pos.size and pos[-1] - pos[0] + 1 == pos.size and np.all(np.diff(pos) == 1):
        return slice(int(pos[0]), int(pos[-1]) + 1)
    return pos


def _gemv_args(piece: Any, target: Any) -> tuple[Any, np.ndarray, int] | None:
    """``(gemv, matrix, trans)`` that add ``piece @ x`` into ``out[target]`` in place.

    For a dense piece written to a slice (a contiguous 1-d view of a one-column output),
    ``gemv(1, matrix, x, beta=1, y=y, trans=trans, overwrite_y=1)`` is ``y += piece @ x``,
    ``matrix`` being ``piece`` or its transpose, whichever is Fortran-ordered (no copy):
    one BLAS call per product instead of a product into a new array and an addition.
    The digits MLP's embedding (85 products ``B B^T v`` of ten blocks each, in ARPACK):
    17.0-17.1 ms against 17.5-17.7 (medians of 30). None for any other piece.

    Only for operators of at most ``_GEMV_MAX_ENTRIES`` dense entries without worker
    threads: scipy's BLAS wrappers keep the GIL while they run (numpy's matmul releases
    it), so threads would wait for each other (one product ``B B^T v`` on the MLP
    784-2048x4-10 took 9.2 ms against 5.9 ms with two workers), and so would fits run
    on threads side by side; on large blocks the Python saved is negligible anyway.
    """
    if not isinstance(piece, np.ndarray) or not isinstance(target, slice):
        return None
    if piece.flags.f_contiguous:
        matrix, trans = piece, 0
    elif piece.flags.c_contiguous:
        matrix, trans = piece.T, 1
    else:
        return None
    return scipy.linalg.blas.get_blas_funcs("gemv", dtype=piece.dtype), matrix, trans


def _even_ranges(n: int, parts: int) -> list[tuple[int, int]]:
    """Split ``range(n)`` into ``parts`` consecutive ranges of about equal length."""
    bounds = np.linspace(0, n, parts + 1).astype(np.int64)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _row_ranges(indptr: np.ndarray, parts: int) -> list[tuple[int, int]]:
    """Split the rows of a CSR matrix into ``parts`` ranges of about equal stored entries."""
    bounds = np.searchsorted(indptr, np.linspace(0, indptr[-1], parts + 1), side="left")
    bounds[0], bounds[-1] = 0, indptr.size - 1
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


@dataclass
class _Product:
    """``out[dst group] += matrix @ x[src group]``, its rows split among the workers."""

    dst: int
    src: int
    pieces: list[tuple[int, int, Any]]  # per worker: rows [a, b) of dst and matrix rows


class BlockOperator:
    """``S A S`` as dense (BLAS) and sparse blocks between groups of units.

    Each block is stored once, already scaled by ``S`` on both sides; its transpose is a
    view. With several workers, every product is split by output rows, the same split
    for every product that writes a group, so each worker owns a fixed slice of every
    output group (no two threads write the same entry, and the result does not depend
    on scheduling). The workers are Python threads calling single-threaded BLAS: they
    block instead of spinning while they wait, so a busy machine slows them down
    gracefully.

    Parameters
    ----------
    prep : PreparedGraph
        The graph.
    group : ndarray of int, shape (n_nodes,)
        Group of every unit (``-1``: in no block).
    n_groups : int
        Number of groups.
    pairs : list of (int, int, bool)
        The blocks ``(g, h, mirrored)`` to store. The block ``g <- h`` is applied by
        ``"forward"`` products; its transpose ``h <- g`` too when ``mirrored``, else by
        ``"backward"`` products (``B`` and ``B^T`` of a bipartite graph).
    threads : ThreadPolicy, optional
        Worker threads for graphs with at least 2,000,000 entries in dense blocks.

    Examples
    --------
    >>> import numpy as np
    >>> from nngraph.datasets import layered_graph
    >>> from nngraph.partition._prepared import PreparedGraph
    >>> g, _ = layered_graph()
    >>> prep = PreparedGraph.from_graph(g)
    >>> pairs = [(0, 1, True), (1, 2, True), (2, 3, True)]
    >>> op = BlockOperator(prep, prep.layer, 4, pairs)
    >>> op.worthwhile()
    True
    >>> x = np.ones((g.n_nodes, 1))
    >>> out = op.apply("forward", x, np.zeros_like(x), [as_index(m, np.arange(104))
    ...                                                 for m in op.members])
    >>> bool(np.allclose(out, CSROperator(prep).apply(prep.kept, prep.kept, x)))
    True
    """

    def __init__(
        self,
        prep: PreparedGraph,
        group: np.ndarray,
        n_groups: int,
        pairs: list[tuple[int, int, bool]],
        threads: ThreadPolicy | None = None,
    ) -> None:
        self.prep = prep
        self.pairs = pairs
        self.built = False
        self.members = [np.flatnonzero(group == g) for g in range(n_groups)]
        indptr, indices, _ = prep.csr
        # Counting and filling the blocks read every stored entry: on several threads
        # for large graphs (the products have their own rule, below).
        self._build_workers = 1
        if threads is not None and indptr[-1] >= _THREADED_BLOCK_MIN_ENTRIES:
            self._build_workers = threads.workers
        grouped = np.maximum(group, 0)
        self.counts = sum(
            self._map(
                lambda ab: _k.block_nnz(indptr, indices, grouped, n_groups, *ab),
                _row_ranges(indptr, self._build_workers),
            )
        )
        sizes = np.array([m.size for m in self.members], dtype=np.float64)
        self.density = self.counts / np.maximum(np.outer(sizes, sizes), 1.0)
        self.products: dict[str, list[_Product]] = {"forward": [], "backward": []}
        self._single: dict[str, list[_Product]] | None = None  # float32 copies, on demand
        self._plans: dict[tuple[str, int, bool], list[list[tuple[Any, Any, Any, Any]]]] = {}
        dense_entries = float(np.sum(np.outer(sizes, sizes)[self.density >= _DENSE_BLOCK_DENSITY]))
        #: Entries of the dense blocks this operator stores.
        self.dense_entries = int(
            sum(
                sizes[g] * sizes[h]
                for g, h, _ in pairs
                if self.counts[g, h] and self.density[g, h] >= _DENSE_BLOCK_DENSITY
            )
        )
        self.workers = 1
        if threads is not None and dense_entries >= _THREADED_BLOCK_MIN_ENTRIES:
            self.workers = threads.workers
        self.limit_blas = threads is not None and not threads.blas_single
        # scipy's BLAS wrappers keep the GIL (see _gemv_args): gemv only for small
        # operators on one thread, where the Python around each product counts.
        self._use_gemv = self.workers == 1 and self.dense_entries <= _GEMV_MAX_ENTRIES

    def worthwhile(self) -> bool:
        """At least half of the stored entries lie in blocks dense enough for BLAS."""
        total = self.counts.sum()
        dense = self.counts[self.density >= _DENSE_BLOCK_DENSITY].sum()
        return bool(total) and bool(dense >= 0.5 * total)

    def _split(self, dst: int, src: int, matrix: Any) -> _Product:
        ranges = _even_ranges(self.members[dst].size, self.workers)
        return _Product(dst, src, [(a, b, matrix[a:b]) for a, b in ranges])

    def build(self) -> None:
        """Extract the blocks (once; deferred until the operator is first applied)."""
        if self.built:
            return
        self.built = True
        p = self.prep
        fills = []  # (rows, col_pos, dense block rows): filled together, below
        for g, h, mirrored in self.pairs:
            if self.counts[g, h] == 0:
                continue
            rows, cols = self.members[g], self.members[h]
            if self.density[g, h] >= _DENSE_BLOCK_DENSITY:
                col_pos = np.full(p.n_nodes, -1, dtype=np.int64)
                col_pos[cols] = np.arange(cols.size)
                mat = np.zeros((rows.size, cols.size))
                for a, b in _even_ranges(rows.size, self._build_workers):
                    fills.append((rows[a:b], col_pos, mat[a:b]))
                mat_t = mat.T
            else:
                mat = sp.csr_array(p.adjacency[rows][:, cols])
                mat = sp.csr_array(
                    sp.diags_array(p.scale[rows]) @ mat @ sp.diags_array(p.scale[cols])
                )
                mat_t = sp.csr_array(mat.T)
            self.products["forward"].append(self._split(g, h, mat))
            if mirrored:
                self.products["forward"].append(self._split(h, g, mat_t))
            else:
                self.products["backward"].append(self._split(h, g, mat_t))
        self._map(lambda job: _k.fill_normalized_block(*p.csr, p.scale, *job), fills)

    def _map(self, fn: Any, jobs: list) -> list:
        """``[fn(job) for job in jobs]``, on the build's threads (the kernels release the GIL)."""
        return parallel_map(fn, jobs, self._build_workers)

    def single_products(self) -> dict[str, list[_Product]]:
        """Return the products with float32 copies of the blocks (made on first use)."""
        if self._single is None:
            self.build()
            self._single = {
                direction: [
                    _Product(p.dst, p.src, [(a, b, m.astype(np.float32)) for a, b, m in p.pieces])
                    for p in products
                ]
                for direction, products in self.products.items()
            }
        return self._single

    def _plan(
        self, direction: str, local: list, single: bool = False
    ) -> list[list[tuple[Any, Any, Any, Any]]]:
        """Per worker: ``(output rows, matrix piece, input rows, gemv)`` of every product.

        ``gemv`` is ``(BLAS gemv, Fortran-ordered matrix, trans)`` for a dense piece written
        to a slice of the output, else None (see :func:`_gemv_args`).
        """
        key = (direction, id(local), single)
        if key not in self._plans:
            self.build()
            products = self.single_products() if single else self.products
            plan: list[list[tuple[Any, Any, Any, Any]]] = [[] for _ in range(self.workers)]
            for prod in products[direction]:
                dst = local[prod.dst]
                for w, (a, b, piece) in enumerate(prod.pieces):
                    if a == b:
                        continue
                    if isinstance(dst, slice):
                        target = slice(dst.start + a, dst.start + b)
                    else:
                        target = dst[a:b]
                    gemv = _gemv_args(piece, target) if self._use_gemv else None
                    plan[w].append((target, piece, local[prod.src], gemv))
            self._plans[key] = plan
        return self._plans[key]

    def apply(
        self,
        direction: str,
        x: np.ndarray,
        out: np.ndarray,
        local: list,
        single: bool = False,
    ) -> np.ndarray:
        """``out += A x`` over the products of one direction; ``local[g]`` places group g.

        ``x`` and ``out`` are of shape ``(n, b)``, or ``(n,)`` for one vector; on one
        vector the dense blocks add into ``out`` with BLAS ``gemv`` in place (see
        :func:`_gemv_args`). ``local[g]`` is where group ``g``'s units sit in ``x`` and
        ``out`` (a slice or an index array, see :func:`as_index`); the same list object
        should be passed every time, as the plan of the products is cached by its
        identity. With ``single``, the blocks are float32 copies (half the memory read
        per product) and ``x`` and ``out`` must be float32.
        """
        plan = self._plan(direction, local, single)
        target = out
        if x.ndim == 2 and x.shape[1] == 1:  # one vector (ARPACK's steps): 1-d, for gemv
            x, target = x[:, 0], out[:, 0]

        if self.workers == 1:
            _add_products(plan[0], x, target)
            return out
        limit = blas_single_thread() if self.limit_blas else contextlib.nullcontext()
        with limit:
            work = range(self.workers)
            parallel_map(lambda w: _add_products(plan[w], x, target), work, self.workers)
        return out


def _add_products(entries: list[tuple[Any, Any, Any, Any]], x: np.ndarray, out: np.ndarray) -> None:
    """``out[target] += piece @ x[src]`` for every plan entry (``gemv`` for 1-d ``out``)."""
    for target, piece, src, gemv in entries:
        if gemv is None or out.ndim != 1:
            out[target] += piece @ x[src]
            continue
        y = out[target]
        # gemv(alpha, a, x, beta, y, offx, incx, offy, incy, trans, overwrite_y)
        r = gemv[0](1.0, gemv[1], x[src], 1.0, y, 0, 1, 0, 1, gemv[2], 1)
        if r is not y:  # written to a copy (never seen; y is contiguous): copy it back
            y[...] = r


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
    >>> gram_pays(4106, 4880, 14_168_064)       # the MLP 784-2048x4-10
    False
    >>> gram_pays(100, 100, 500)                # sparse: M would hold more than B
    False
    """
    saving = 2.0 * n_entries - dim * dim / 2.0
    cost = dim * dim * n_other / 2.0
    fits = dim * (dim + n_other) <= _GRAM_MAX_ENTRIES
    return fits and saving > 0 and cost <= _GRAM_PAYS_RATIO * saving


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
    return n * n <= _GRAM_MAX_ENTRIES and 4 * block_entries >= n * n


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

    workers = threads.workers if threads is not None else 1
    limit = contextlib.nullcontext()
    if workers > 1 and not threads.blas_single:
        limit = blas_single_thread()
    with limit:
        parallel_map(product, jobs, workers)
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
