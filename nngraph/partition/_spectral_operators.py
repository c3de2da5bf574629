"""Two ways to apply the normalised adjacency ``S A S`` (``S = D^-1/2``) to vectors.

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

A third, the problem's whole matrix held dense, is in :mod:`._spectral_dense`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg.blas
import scipy.sparse as sp

from ..utils._threads import ThreadPolicy, parallel_map
from . import _spectral_kernels as _k
from ._prepared import PreparedGraph

__all__ = ["BlockOperator", "CSROperator", "as_index"]

#: With ``n_threads > 1``, the parallel numba twin is used from this many stored entries on.
_PARALLEL_MIN_NNZ = 200_000
#: A block at least this full is stored dense.
_DENSE_BLOCK_DENSITY = 0.25
#: The block operator splits its products among threads from this many dense entries.
_THREADED_BLOCK_MIN_ENTRIES = 2_000_000
#: One-vector products use scipy's gemv up to this many dense entries (see _gemv_args).
_GEMV_MAX_ENTRIES = 1_000_000


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
        self._threads = threads
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
        with self._threads.workers_blas():  # workers > 1: there is a policy
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
