"""Normalised-cut spectral clustering of a graph of units (method.md section 2).

Three layers, as everywhere in nngraph: numba kernels in :mod:`._spectral_kernels`;
the maths in :func:`spectral_embedding` and :func:`eigengap`; the thin estimator
:class:`SpectralClustering`.

How the eigenproblem is solved
------------------------------
The embedding needs the eigenvectors of the ``k`` largest eigenvalues of the
normalised adjacency ``N = D^-1/2 A D^-1/2`` (spectrum in ``[-1, 1]``). Units of
degree 0 are left out (label -1). Three facts about graphs of units are used:

1. **The top eigenvectors are known.** For each connected component ``C``, the vector
   ``sqrt(deg)`` restricted to ``C`` is an eigenvector of eigenvalue 1. They are put
   in the embedding directly and deflated from the operator (``N - 3 Q Q^T``), so the
   iterative solver only looks for the others and a disconnected graph (eigenvalue 1
   of multiplicity > 1) needs no special luck from the solver.
2. **Weight graphs are bipartite.** Edges only join consecutive layers, so the units
   split into two sides ``P`` (even layers) and ``Q`` (odd layers) and, in that order,
   ``N = [[0, B], [B^T, 0]]``. Its eigenvalues come in pairs ``+-sigma`` (``sigma`` the
   singular values of ``B``), which puts the wanted eigenvalues in the middle of a
   symmetric spectrum and slows Lanczos. Shifting (``(I + N) / 2``) does not help: a
   Krylov method is shift-invariant. Instead, when every component is bipartite the
   solver works on ``M = B B^T`` over the smaller side (eigenvalues ``sigma^2`` in
   ``[0, 1]``; the relative gaps among the wanted eigenvalues are much larger), and
   recovers ``v = B^T u / sigma``. On the random-init MLP of the benchmark (k = 12)
   ARPACK needs 191 applications of ``M`` against 440 of ``N`` (each costs about the
   same: one pass over every block). If a wanted ``sigma`` is 0 (more clusters than
   ``rank(B)``) or the recovered vectors miss the tolerance, the solver falls back to
   ``N``.
3. **Weight graphs are chains of dense blocks.** For a :class:`NeuronGraph`, the
   blocks between (layer, side) groups that are at least 25% full are stored dense and
   applied with BLAS (split by rows among worker threads when large); the others stay
   sparse. A plain matrix is one group (two for a bipartite one), so a dense
   activation graph also runs on BLAS. Any other graph (a sparse plain matrix, a kNN
   activation graph) is applied straight from its CSR arrays by a numba kernel that
   scales by ``D^-1/2`` on the fly (no copy of the matrix). On the benchmark MLP one
   application of ``M`` costs 5.6 ms from dense blocks against 21 ms from CSR, and
   ARPACK spends 97% of its time in the operator.

Threads: see :func:`_thread_policy` (``n_threads``).

Solvers: ``"dense"`` (``scipy.linalg.eigh`` on the deflated problem, the default up to
``dense_threshold`` unknowns), ``"arpack"`` (``scipy.sparse.linalg.eigsh``, largest
algebraic, start vector drawn from the seed) and ``"lobpcg"``. Fallback: when ARPACK
does not converge (or fails), a :class:`SpectralConvergenceWarning` is issued and the
problem is solved densely if it has at most 8,000 unknowns, otherwise by LOBPCG
started from ARPACK's partial result; if LOBPCG does not reach the tolerance either,
the same rule applies (dense if small, else its best estimate, with a warning).
"""

from __future__ import annotations

import contextlib
import numbers
import os
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from sklearn.base import BaseEstimator, ClusterMixin

from ..graphs._canonical import check_adjacency
from ..graphs._neuron_graph import NeuronGraph
from ..utils._validation import canonical_labels, check_choice, check_int, seed_from
from . import _spectral_kernels as _k

__all__ = [
    "SpectralClustering",
    "spectral_embedding",
    "eigengap",
    "EigengapResult",
    "SpectralConvergenceWarning",
    "DisconnectedGraphWarning",
]

#: Problems with at most this many unknowns are solved densely by default. Measured on
#: random-init MLPs and dense correlation graphs (2 cores), ARPACK on the block
#: operator overtakes ``eigh`` at 300-600 unknowns (at 1,000: 22 ms against 49 ms).
DENSE_THRESHOLD = 500
#: After a convergence failure, problems up to this size are solved densely.
_DENSE_FALLBACK_MAX = 8000
#: With ``n_threads > 1``, the parallel numba twin is used from this many stored entries on.
_PARALLEL_MIN_NNZ = 200_000
#: A block at least this full is stored dense.
_DENSE_BLOCK_DENSITY = 0.25
#: Default tolerance on the eigen-residual (ARPACK's relative tolerance).
_DEFAULT_TOL = 1e-8
#: Deflation shift: known eigenvectors move from eigenvalue 1 to 1 - 3 = -2.
_DEFLATE = 3.0
#: With ``n_threads=None``, graphs up to this many clusterable units run BLAS and OpenMP
#: on one thread (see _thread_policy).
_SINGLE_THREAD_MAX_UNITS = 20_000
#: The block operator splits its products among threads from this many dense entries.
_THREADED_BLOCK_MIN_ENTRIES = 2_000_000
_SOLVERS = ("auto", "dense", "arpack", "lobpcg")
_OPERATORS = ("auto", "blocks", "csr")


class SpectralConvergenceWarning(UserWarning):
    """The iterative eigensolver did not converge; a fallback solver was used."""


class DisconnectedGraphWarning(UserWarning):
    """The graph (without its isolated units) has more than one connected component."""


# ---------------------------------------------------------------------------- graph facts
@dataclass
class _Prepared:
    """A canonical graph and the facts the eigen-solve needs, computed once."""

    n: int
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    adjacency: sp.csr_array
    degree: np.ndarray
    scale: np.ndarray  # 1 / sqrt(deg), 0 for isolated units
    kept: np.ndarray  # global indices of the units with degree > 0
    component: np.ndarray  # per unit, component ordered by decreasing volume; -1 isolated
    n_components: int
    colour: np.ndarray  # per unit 0/1 (smaller side of its component is 0); -1 isolated
    bipartite: bool
    layer: np.ndarray | None  # per unit layer index for NeuronGraph inputs
    threads: _Threads | None = None  # thread policy of the current fit


def _prepare(graph: Any) -> _Prepared:
    a = check_adjacency(graph)
    n = a.shape[0]
    indptr = np.ascontiguousarray(a.indptr, dtype=np.int64)
    indices = np.ascontiguousarray(a.indices, dtype=np.int32)
    data = np.ascontiguousarray(a.data, dtype=np.float64)
    degree = _k.weighted_degree(indptr, data)
    scale = _k.inverse_sqrt(degree)
    active = degree > 0
    kept = np.flatnonzero(active)
    comp, colour, bip = _k.components_and_colouring(indptr, indices, active)
    n_comp = int(bip.shape[0])
    if n_comp:
        # Order components by decreasing volume (ties: smallest unit first).
        vol = np.bincount(comp[kept], weights=degree[kept], minlength=n_comp)
        order = np.argsort(-vol, kind="stable")
        rank = np.empty(n_comp, dtype=np.int64)
        rank[order] = np.arange(n_comp)
        comp = np.where(comp >= 0, rank[np.maximum(comp, 0)], -1)
        bip = bip[order]
        # Per component, colour 0 is the side with fewer units.
        count = np.zeros((n_comp, 2), dtype=np.int64)
        np.add.at(count, (comp[kept], colour[kept]), 1)
        flip = count[:, 1] < count[:, 0]
        colour = colour.astype(np.int8)
        colour[kept] = np.where(flip[comp[kept]], 1 - colour[kept], colour[kept])
    layer = graph.node_layer if isinstance(graph, NeuronGraph) else None
    return _Prepared(
        n=n,
        indptr=indptr,
        indices=indices,
        data=data,
        adjacency=a,
        degree=degree,
        scale=scale,
        kept=kept,
        component=comp,
        n_components=n_comp,
        colour=colour,
        bipartite=bool(n_comp) and bool(np.all(bip)),
        layer=layer,
    )


def _known_vectors(prep: _Prepared, n_vectors: int) -> np.ndarray:
    """Eigenvectors of eigenvalue 1 on the kept units: ``sqrt(deg)`` per component."""
    kept = prep.kept
    comp = prep.component[kept]
    m = min(n_vectors, prep.n_components)
    q = np.zeros((kept.size, m))
    rows = np.flatnonzero(comp < m)
    q[rows, comp[rows]] = np.sqrt(prep.degree[kept][rows])
    q /= np.linalg.norm(q, axis=0)
    return q


# ---------------------------------------------------------------------------- operators
class _CSROperator:
    """``S A S`` applied straight from the CSR arrays by a numba kernel (no copy of A)."""

    def __init__(self, prep: _Prepared) -> None:
        self.p = prep
        threads = prep.threads
        parallel = threads is not None and threads.numba_parallel
        parallel = parallel and prep.data.shape[0] >= _PARALLEL_MIN_NNZ
        self._spmv = _k.scaled_spmv_parallel if parallel else _k.scaled_spmv
        self._spmm = _k.scaled_spmm_parallel if parallel else _k.scaled_spmm

    def apply(self, rows: np.ndarray, sources: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``(S A S)[rows][:, sources] @ x`` for ``x`` of shape (len(sources), b)."""
        p = self.p
        b = x.shape[1]
        xs = np.zeros((p.n, b)) if b > 1 else np.zeros(p.n)
        if b > 1:
            xs[sources] = x * p.scale[sources][:, None]
        else:
            xs[sources] = x[:, 0] * p.scale[sources]
        row_scale = p.scale[rows]
        if b > 1:
            out = np.empty((rows.shape[0], b))
            self._spmm(p.indptr, p.indices, p.data, rows, row_scale, xs, out)
            return out
        out = np.empty(rows.shape[0])
        self._spmv(p.indptr, p.indices, p.data, rows, row_scale, xs, out)
        return out[:, None]

    def dense(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``(S A S)[rows][:, cols]`` as a dense array."""
        p = self.p
        col_pos = np.full(p.n, -1, dtype=np.int64)
        col_pos[cols] = np.arange(cols.size)
        out = np.zeros((rows.size, cols.size))
        _k.fill_normalized_block(p.indptr, p.indices, p.data, p.scale, rows, col_pos, out)
        return out


def _as_index(nodes: np.ndarray, local: np.ndarray) -> slice | np.ndarray:
    """Positions of ``nodes`` in a local vector, as a slice when contiguous."""
    pos = local[nodes]
    if pos.size and pos[-1] - pos[0] + 1 == pos.size and np.all(np.diff(pos) == 1):
        return slice(int(pos[0]), int(pos[-1]) + 1)
    return pos


@dataclass
class _Product:
    """``out[dst group] += matrix @ x[src group]``, its rows split among the workers."""

    dst: int
    src: int
    pieces: list[tuple[int, int, Any]]  # per worker: rows [a, b) of dst and matrix rows


class _BlockOperator:
    """``S A S`` as dense (BLAS) and sparse blocks between groups of units.

    Each block is stored once, already scaled by ``S`` on both sides; its transpose is a
    view. With several workers, every product is split by output rows, the same split
    for every product that writes a group, so each worker owns a fixed slice of every
    output group (no two threads write the same entry, and the result does not depend
    on scheduling). The workers are Python threads calling single-threaded BLAS: they
    block instead of spinning while they wait, so a busy machine slows them down
    gracefully.
    """

    def __init__(
        self, prep: _Prepared, group: np.ndarray, n_groups: int, pairs: list[tuple[int, int, bool]]
    ) -> None:
        self.p = prep
        self.pairs = pairs
        self.built = False
        self.members = [np.flatnonzero(group == g) for g in range(n_groups)]
        self.counts = _k.block_nnz(prep.indptr, prep.indices, np.maximum(group, 0), n_groups)
        sizes = np.array([m.size for m in self.members], dtype=np.float64)
        self.density = self.counts / np.maximum(np.outer(sizes, sizes), 1.0)
        self.products: dict[str, list[_Product]] = {"forward": [], "backward": []}
        self._plans: dict[tuple[str, int], list[list[tuple[Any, Any, Any]]]] = {}
        threads = prep.threads
        dense_entries = float(np.sum(np.outer(sizes, sizes)[self.density >= _DENSE_BLOCK_DENSITY]))
        self.workers = 1
        if threads is not None and dense_entries >= _THREADED_BLOCK_MIN_ENTRIES:
            self.workers = threads.workers
        self.limit_blas = threads is not None and not threads.blas_single

    def worthwhile(self) -> bool:
        """At least half of the stored entries lie in blocks dense enough for BLAS."""
        total = self.counts.sum()
        dense = self.counts[self.density >= _DENSE_BLOCK_DENSITY].sum()
        return bool(total) and dense >= 0.5 * total

    def _split(self, dst: int, src: int, matrix: Any) -> _Product:
        m = self.members[dst].size
        bounds = np.linspace(0, m, self.workers + 1).astype(np.int64)
        pieces = []
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            pieces.append((int(a), int(b), matrix[int(a) : int(b)]))
        return _Product(dst, src, pieces)

    def build(self) -> None:
        """Extract the blocks (once; deferred until the operator is first applied)."""
        if self.built:
            return
        self.built = True
        p = self.p
        for g, h, mirrored in self.pairs:
            if self.counts[g, h] == 0:
                continue
            rows, cols = self.members[g], self.members[h]
            if self.density[g, h] >= _DENSE_BLOCK_DENSITY:
                col_pos = np.full(p.n, -1, dtype=np.int64)
                col_pos[cols] = np.arange(cols.size)
                mat = np.zeros((rows.size, cols.size))
                _k.fill_normalized_block(p.indptr, p.indices, p.data, p.scale, rows, col_pos, mat)
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

    def _plan(self, direction: str, local: list) -> list[list[tuple[Any, Any, Any]]]:
        """Per worker: ``(output rows, matrix piece, input rows)`` of every product."""
        key = (direction, id(local))
        if key not in self._plans:
            self.build()
            plan: list[list[tuple[Any, Any, Any]]] = [[] for _ in range(self.workers)]
            for prod in self.products[direction]:
                dst = local[prod.dst]
                for w, (a, b, piece) in enumerate(prod.pieces):
                    if a == b:
                        continue
                    if isinstance(dst, slice):
                        target = slice(dst.start + a, dst.start + b)
                    else:
                        target = dst[a:b]
                    plan[w].append((target, piece, local[prod.src]))
            self._plans[key] = plan
        return self._plans[key]

    def apply(self, direction: str, x: np.ndarray, out: np.ndarray, local: list) -> np.ndarray:
        """``out += A x`` over the products of one direction; ``local[g]`` places group g."""
        plan = self._plan(direction, local)

        def work(w: int) -> None:
            for target, piece, src in plan[w]:
                out[target] += piece @ x[src]

        if self.workers == 1:
            work(0)
            return out
        limit = _blas_single() if self.limit_blas else contextlib.nullcontext()
        with limit:
            list(_executor(self.workers).map(work, range(self.workers)))
        return out


# ---------------------------------------------------------------------------- problems
@dataclass
class _Problem:
    """A symmetric eigenproblem ``H`` whose top eigenpairs give those of ``N``."""

    dim: int
    matmat: Callable[[np.ndarray], np.ndarray]
    dense: Callable[[], np.ndarray]
    known: np.ndarray  # (dim, c) orthonormal eigenvectors of eigenvalue 1
    to_kept: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
    kind: str
    n_matvec: list[int] = field(default_factory=lambda: [0])


class _ReductionFailed(Exception):
    """A wanted singular value is 0: the bipartite reduction cannot give the eigenvector."""


def _block_operator(
    prep: _Prepared,
    group: np.ndarray,
    n_groups: int,
    pairs: list[tuple[int, int, bool]],
    operator: str,
) -> _BlockOperator | None:
    """The block operator if ``operator="blocks"``, or if ``"auto"`` and it is worthwhile."""
    bop = _BlockOperator(prep, group, n_groups, pairs)
    return bop if operator == "blocks" or bop.worthwhile() else None


def _full_problem(prep: _Prepared, known_kept: np.ndarray, operator: str) -> _Problem:
    kept = prep.kept
    local = np.full(prep.n, -1, dtype=np.int64)
    local[kept] = np.arange(kept.size)
    op = None
    if operator != "csr":
        if prep.layer is not None:
            group = np.where(prep.degree > 0, prep.layer, -1)
            n_groups = int(prep.layer.max(initial=0)) + 1
        else:
            group, n_groups = np.where(prep.degree > 0, 0, -1), 1
        pairs = [(g, h, g != h) for g in range(n_groups) for h in range(g, n_groups)]
        op = _block_operator(prep, group, n_groups, pairs, operator)
    csr = _CSROperator(prep)
    counter = [0]
    if op is None:

        def matmat(x: np.ndarray) -> np.ndarray:
            counter[0] += x.shape[1]
            return csr.apply(kept, kept, x)

        kind = "csr"
    else:
        idx = [_as_index(m, local) for m in op.members]

        def matmat(x: np.ndarray) -> np.ndarray:
            counter[0] += x.shape[1]
            return op.apply("forward", x, np.zeros((kept.size, x.shape[1])), idx)

        kind = "blocks"

    def dense() -> np.ndarray:
        return csr.dense(kept, kept)

    def to_kept(u: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return u, w

    return _Problem(kept.size, matmat, dense, known_kept, to_kept, f"N ({kind})", counter)


def _bipartite_problem(prep: _Prepared, known_kept: np.ndarray, operator: str) -> _Problem:
    kept = prep.kept
    side_p = kept[prep.colour[kept] == 0]
    side_q = kept[prep.colour[kept] == 1]
    local = np.full(prep.n, -1, dtype=np.int64)
    local[side_p] = np.arange(side_p.size)
    local[side_q] = np.arange(side_q.size)
    op = None
    if operator != "csr":
        layer = prep.layer if prep.layer is not None else np.zeros(prep.n, dtype=np.int64)
        n_groups = 2 * (int(layer.max(initial=0)) + 1)
        group = np.where(prep.degree > 0, 2 * layer + prep.colour, -1)
        # Side P groups are even, side Q groups odd; only P-Q blocks hold edges.
        pairs = [(g, h, False) for g in range(0, n_groups, 2) for h in range(1, n_groups, 2)]
        op = _block_operator(prep, group, n_groups, pairs, operator)
    csr = _CSROperator(prep)
    counter = [0]
    if op is None:

        def b_mat(y: np.ndarray) -> np.ndarray:  # Q -> P
            return csr.apply(side_p, side_q, y)

        def bt_mat(x: np.ndarray) -> np.ndarray:  # P -> Q
            return csr.apply(side_q, side_p, x)

        kind = "csr"
    else:
        idx = [_as_index(m, local) for m in op.members]

        def b_mat(y: np.ndarray) -> np.ndarray:
            return op.apply("forward", y, np.zeros((side_p.size, y.shape[1])), idx)

        def bt_mat(x: np.ndarray) -> np.ndarray:
            return op.apply("backward", x, np.zeros((side_q.size, x.shape[1])), idx)

        kind = "blocks"

    def matmat(x: np.ndarray) -> np.ndarray:
        counter[0] += x.shape[1]
        return b_mat(bt_mat(x))

    cache: dict[str, np.ndarray] = {}

    def dense() -> np.ndarray:
        b = cache["b"] = csr.dense(side_p, side_q)
        return b @ b.T

    kept_local = np.full(prep.n, -1, dtype=np.int64)
    kept_local[kept] = np.arange(kept.size)
    rows_p, rows_q = kept_local[side_p], kept_local[side_q]
    known = known_kept[rows_p] * np.sqrt(2.0)

    def to_kept(u: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sigma = np.sqrt(np.clip(w, 0.0, None))
        if sigma.size and sigma.min() <= 1e-7:
            raise _ReductionFailed
        v = np.empty((kept.size, u.shape[1]))
        v[rows_p] = u
        v[rows_q] = (cache["b"].T @ u if "b" in cache else bt_mat(u)) / sigma
        v /= np.linalg.norm(v, axis=0)
        return v, sigma

    return _Problem(side_p.size, matmat, dense, known, to_kept, f"B B^T ({kind})", counter)


# ---------------------------------------------------------------------------- solvers
_CONTROLLER: Any = None
_EXECUTORS: dict[int, ThreadPoolExecutor] = {}
_EXECUTOR_LOCK = threading.Lock()


def _reset_after_fork() -> None:
    """In a forked child: forget the thread pools and the threadpoolctl controller.

    A child inherits the pool objects but none of their threads (and a lock another
    thread may have held at the fork), so a product submitted to an inherited pool
    would never run; the child builds its own on first use.
    """
    global _CONTROLLER, _EXECUTORS, _EXECUTOR_LOCK
    _CONTROLLER = None
    _EXECUTORS = {}
    _EXECUTOR_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):  # pragma: no branch - not on Windows
    os.register_at_fork(after_in_child=_reset_after_fork)


def _controller() -> Any:
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def _blas_single() -> Any:
    """Limit BLAS to one thread (inside the block operator's own worker threads)."""
    return _controller().limit(limits=1, user_api="blas")


def _executor(workers: int) -> ThreadPoolExecutor:
    """A shared pool of ``workers`` threads for the block operator (created once)."""
    with _EXECUTOR_LOCK:
        if workers not in _EXECUTORS:
            _EXECUTORS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="nngraph")
        return _EXECUTORS[workers]


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass
class _Threads:
    """The thread policy of one fit (see :func:`_thread_policy`)."""

    context: Any  # limits BLAS and OpenMP for the whole fit (or does nothing)
    blas_single: bool  # BLAS runs on one thread inside ``context``
    numba_parallel: bool  # the numba kernels may use their parallel twins
    workers: int  # worker threads of the dense-block operator


def _thread_policy(n_threads: int | None, n_units: int) -> _Threads:
    """How many threads each part of a fit may use.

    ``n_threads=None``: BLAS and OpenMP (scikit-learn's k-means) on one thread for
    graphs of at most 20,000 clusterable units, the libraries' defaults above; the numba
    kernels always serial; the dense-block operator uses one worker per available core.
    On problems of this size BLAS and OpenMP threads gain little (``eigh`` of a few
    hundred unknowns, k-means on ``n x k`` points) and their spinning workers, on a busy
    or oversubscribed machine, were measured to make ``eigh``, k-means and BLAS
    products 5-50x slower than one thread. The block operator's workers are Python
    threads that block while they wait (see :class:`_BlockOperator`), so they keep
    their gain on an idle machine (1.6x on 2 cores) without that failure mode.
    ``n_threads=t``: every part uses ``t`` threads; the numba kernels' ``parallel=True``
    twins only run then (``t > 1``), as with numba's OpenMP threading layer a process
    that ran them can no longer safely fork (a forked child that uses them aborts).
    """
    if n_threads is None:
        workers = _cpu_count()
        if n_units > _SINGLE_THREAD_MAX_UNITS:
            return _Threads(contextlib.nullcontext(), False, False, workers)
        n_threads_blas = 1
    else:
        workers = n_threads_blas = n_threads
    context = _controller().limit(limits=n_threads_blas)
    return _Threads(context, n_threads_blas == 1, n_threads_blas > 1, workers)


@dataclass
class _SolveInfo:
    solver: str
    problem: str
    n_matvec: int
    fallback: str | None = None


def _solve(
    problem: _Problem,
    n_wanted: int,
    solver: str,
    tol: float,
    maxiter: int | None,
    rng: np.random.Generator,
    dense_threshold: int,
) -> tuple[np.ndarray, np.ndarray, _SolveInfo]:
    """Top ``n_wanted`` eigenpairs of ``problem`` orthogonal to its known vectors."""
    dim = problem.dim
    known = problem.known
    v0 = rng.uniform(-1.0, 1.0, dim)
    x0 = rng.standard_normal((dim, n_wanted))

    def deflated(x: np.ndarray) -> np.ndarray:
        y = problem.matmat(x)
        if known.shape[1]:
            y -= _DEFLATE * (known @ (known.T @ x))
        return y

    if solver == "auto":
        solver = "dense" if dim <= dense_threshold else "arpack"
    if solver != "dense" and n_wanted >= dim - 1:
        solver = "dense"  # ARPACK needs k < n - 1; tiny problems are dense anyway
    if solver == "lobpcg" and dim < 5 * (n_wanted + 1):
        solver = "dense"
    fallback = None
    if solver == "arpack":
        try:
            w, u = _arpack(deflated, dim, n_wanted, tol, maxiter, v0)
            return w, u, _SolveInfo("arpack", problem.kind, problem.n_matvec[0])
        except (sla.ArpackNoConvergence, sla.ArpackError) as exc:
            fallback = "dense" if dim <= _DENSE_FALLBACK_MAX else "lobpcg"
            warnings.warn(
                f"ARPACK did not converge ({exc}); falling back to the {fallback} solver",
                SpectralConvergenceWarning,
                stacklevel=4,
            )
            partial = getattr(exc, "eigenvectors", None)
            if partial is not None and partial.size:
                x0[:, : partial.shape[1]] = partial[:, :n_wanted]
            solver = fallback
    if solver == "lobpcg":
        w, u, converged = _lobpcg(deflated, dim, x0, tol, maxiter)
        if converged:
            info = _SolveInfo("lobpcg", problem.kind, problem.n_matvec[0], fallback)
            return w, u, info
        if dim <= _DENSE_FALLBACK_MAX:
            warnings.warn(
                "LOBPCG did not reach the tolerance; falling back to the dense solver",
                SpectralConvergenceWarning,
                stacklevel=4,
            )
            fallback, solver = "dense", "dense"
        else:
            warnings.warn(
                "LOBPCG did not reach the tolerance; using its best estimate",
                SpectralConvergenceWarning,
                stacklevel=4,
            )
            return w, u, _SolveInfo("lobpcg", problem.kind, problem.n_matvec[0], fallback)
    h = problem.dense()
    if known.shape[1]:
        h -= _DEFLATE * (known @ known.T)
    subset = [dim - n_wanted, dim - 1]
    w, u = scipy.linalg.eigh(h, subset_by_index=subset, check_finite=False)
    return w[::-1], u[:, ::-1], _SolveInfo("dense", problem.kind, problem.n_matvec[0], fallback)


def _linear_operator(matmat, dim: int) -> sla.LinearOperator:
    def matvec(x: np.ndarray) -> np.ndarray:
        return matmat(np.reshape(x, (dim, -1))).reshape(np.shape(x))

    return sla.LinearOperator((dim, dim), matvec=matvec, matmat=matmat, dtype=np.float64)


def _arpack(matmat, dim, n_wanted, tol, maxiter, v0):
    op = _linear_operator(matmat, dim)
    ncv = min(dim, max(3 * n_wanted + 1, 40))
    w, u = sla.eigsh(op, k=n_wanted, which="LA", tol=tol, maxiter=maxiter, v0=v0, ncv=ncv)
    order = np.argsort(-w, kind="stable")
    return w[order], u[:, order]


def _lobpcg(matmat, dim, x0, tol, maxiter):
    op = _linear_operator(matmat, dim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        w, u = sla.lobpcg(op, x0, largest=True, tol=tol, maxiter=maxiter or 500)
    order = np.argsort(-w, kind="stable")
    w, u = w[order], u[:, order]
    res = np.linalg.norm(matmat(u) - u * w, axis=0)
    return w, u, bool(np.all(res <= 10 * tol * np.maximum(1.0, np.abs(w))))


# ---------------------------------------------------------------------------- embedding
@dataclass
class _Spectrum:
    """Eigenpairs of ``N`` on the kept units plus how they were obtained."""

    prep: _Prepared
    vectors: np.ndarray  # (n_kept, n_eig) orthonormal eigenvectors of N, descending
    eigenvalues: np.ndarray  # (n_eig,)
    residuals: np.ndarray  # ||N v - lambda v|| per eigenvector
    info: _SolveInfo


def _check_tol(eigen_tol: Any) -> float:
    if isinstance(eigen_tol, str) and eigen_tol == "auto":
        return _DEFAULT_TOL
    if isinstance(eigen_tol, numbers.Real) and not isinstance(eigen_tol, bool):
        if eigen_tol > 0 and np.isfinite(eigen_tol):
            return float(eigen_tol)
    raise ValueError(f"eigen_tol must be 'auto' or a positive float, got {eigen_tol!r}")


def _spectrum(
    prep: _Prepared,
    n_eig: int,
    *,
    eigen_solver: str,
    eigen_tol: float,
    eigen_maxiter: int | None,
    dense_threshold: int,
    operator: str,
    rng: np.random.Generator,
) -> _Spectrum:
    """The ``n_eig`` leading eigenpairs of ``N`` on the kept units."""
    c = prep.n_components
    known = _known_vectors(prep, n_eig)
    n_wanted = n_eig - known.shape[1]
    if n_wanted <= 0:
        info = _SolveInfo("none (known eigenvectors)", "N", 0)
        return _assemble(prep, known, np.empty((known.shape[0], 0)), np.empty(0), info)
    solve_args = (n_wanted, eigen_solver, eigen_tol, eigen_maxiter, rng, dense_threshold)
    n_side = int(np.count_nonzero(prep.colour[prep.kept] == 0))
    if prep.bipartite and n_wanted + c < n_side:
        problem = _bipartite_problem(prep, known, operator)
        w, u, info = _solve(problem, *solve_args)
        try:
            u, w = problem.to_kept(u, w)
        except _ReductionFailed:
            pass  # a wanted sigma is 0: solve on N instead
        else:
            spec = _assemble(prep, known, u, w, info)
            # A tiny sigma makes v = B^T u / sigma inaccurate: then solve on N too.
            if spec.residuals.max() <= max(1e-6, 100 * eigen_tol):
                return spec
    w, u, info = _solve(_full_problem(prep, known, operator), *solve_args)
    return _assemble(prep, known, u, w, info)


def _assemble(
    prep: _Prepared, known: np.ndarray, u: np.ndarray, w: np.ndarray, info: _SolveInfo
) -> _Spectrum:
    vectors = np.concatenate([known, u], axis=1)
    values = np.concatenate([np.ones(known.shape[1]), w])
    return _Spectrum(prep, vectors, values, _residuals(prep, vectors, values), info)


def _residuals(prep: _Prepared, vectors: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``||N v - lambda v||`` per column, with the CSR kernel (independent of the solver)."""
    nv = _CSROperator(prep).apply(prep.kept, prep.kept, vectors)
    return np.linalg.norm(nv - vectors * values, axis=0)


def _sign_flip(e: np.ndarray) -> np.ndarray:
    """Make the largest-magnitude entry of every column positive."""
    if e.size == 0:
        return e
    rows = np.argmax(np.abs(e), axis=0)
    signs = np.sign(e[rows, np.arange(e.shape[1])])
    signs[signs == 0] = 1.0
    return e * signs


def _embedding_from(spec: _Spectrum, n_components: int) -> np.ndarray:
    prep = spec.prep
    e = spec.vectors[:, :n_components] / np.sqrt(prep.degree[prep.kept])[:, None]
    out = np.zeros((prep.n, e.shape[1]))
    out[prep.kept] = _sign_flip(e)
    return out


def _validate_k(prep: _Prepared, k: int, what: str) -> None:
    n_kept = prep.kept.size
    if n_kept == 0:
        raise ValueError("the graph has no edges: every unit is isolated, nothing to cluster")
    if k > n_kept:
        raise ValueError(
            f"{what}={k} is larger than the number of clusterable units ({n_kept} units "
            f"with at least one edge; {prep.n - n_kept} isolated units are left out)"
        )


def _warn_disconnected(prep: _Prepared, stacklevel: int) -> None:
    if prep.n_components > 1:
        warnings.warn(
            f"the graph has {prep.n_components} connected components (not counting "
            f"{prep.n - prep.kept.size} isolated units): eigenvalue 1 has multiplicity "
            f"{prep.n_components} and every component is kept apart when the number of "
            "clusters allows",
            DisconnectedGraphWarning,
            stacklevel=stacklevel,
        )


def _check_and_prepare(
    graph: Any,
    k: int,
    what: str,
    *,
    eigen_solver: str,
    eigen_tol: float | str,
    eigen_maxiter: int | None,
    dense_threshold: int,
    operator: str,
    n_threads: int | None,
    random_state: Any,
    stacklevel: int,
) -> tuple[_Prepared, np.random.Generator, dict[str, Any]]:
    """Check the solver parameters, then canonicalise ``graph`` for ``k`` clusters.

    Returns the prepared graph (with the thread policy of the fit), the generator drawn
    from ``random_state`` and the checked keyword arguments of :func:`_spectrum`.
    ``k`` may not exceed the clusterable units (``what`` names it in the error); a
    disconnected graph warns with ``stacklevel`` as seen from the public function.
    """
    spectrum_args = {
        "eigen_solver": check_choice("eigen_solver", eigen_solver, _SOLVERS),
        "operator": check_choice("operator", operator, _OPERATORS),
        "eigen_tol": _check_tol(eigen_tol),
        "eigen_maxiter": check_int("eigen_maxiter", eigen_maxiter, 1, allow_none=True),
        "dense_threshold": check_int("dense_threshold", dense_threshold, 0),
    }
    threads = check_int("n_threads", n_threads, 1, allow_none=True)
    rng = np.random.default_rng(seed_from(random_state))
    prep = _prepare(graph)
    _validate_k(prep, k, what)
    _warn_disconnected(prep, stacklevel=stacklevel + 1)
    prep.threads = _thread_policy(threads, prep.kept.size)
    return prep, rng, spectrum_args


def spectral_embedding(
    graph: Any,
    n_components: int = 8,
    *,
    eigen_solver: str = "auto",
    eigen_tol: float | str = "auto",
    eigen_maxiter: int | None = None,
    dense_threshold: int = DENSE_THRESHOLD,
    operator: str = "auto",
    random_state: Any = None,
    n_threads: int | None = None,
    return_eigenvalues: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Normalised-cut spectral embedding of a graph (Shi and Malik).

    The eigenvectors of the ``n_components`` largest eigenvalues of
    ``N = D^-1/2 A D^-1/2`` (the first is kept), divided by ``sqrt(deg)``, each with
    its largest-magnitude entry made positive. This is the embedding of
    ``sklearn.cluster.SpectralClustering(affinity="precomputed")``.

    Parameters
    ----------
    graph : NeuronGraph, scipy sparse matrix or array, or array-like
        Symmetric non-negative weights (a non-symmetric matrix is symmetrised as
        ``(A + A.T) / 2`` with a :class:`~nngraph.graphs._canonical.NonSymmetricWarning`).
        Self-loops count once in the degree.
    n_components : int, default=8
        Number of eigenvectors. At most the number of units with an edge.
    eigen_solver : {"auto", "dense", "arpack", "lobpcg"}, default="auto"
        ``"auto"``: dense below ``dense_threshold`` unknowns, else ARPACK. See the
        module documentation for the fallback on non-convergence.
    eigen_tol : float or "auto", default="auto"
        Relative residual tolerance passed to the iterative solver (``"auto"``: 1e-8).
    eigen_maxiter : int, optional
        Iteration limit of the iterative solver (ARPACK restarts, LOBPCG iterations).
    dense_threshold : int, default=500
        Largest problem solved densely with ``eigen_solver="auto"`` (measured
        crossover with ARPACK: 300-600). The problem has one unknown per unit, or per
        unit of the smaller side of a bipartite graph.
    operator : {"auto", "blocks", "csr"}, default="auto"
        How ``N`` is applied: dense/sparse blocks between layers (for a
        :class:`NeuronGraph` with dense layer blocks), or the numba CSR kernel.
    random_state : None, int, numpy Generator or RandomState
        Seeds the solver's start vector.
    n_threads : int, optional
        Threads for BLAS, OpenMP and the numba kernels. Default: BLAS and OpenMP on one
        thread for graphs of at most 20,000 clusterable units (threads gain little
        there, and spinning workers on a busy machine were measured to cost 5-50x),
        else the libraries' defaults; the numba kernels serial. ``n_threads > 1`` runs
        numba's parallel kernels, which (with numba's OpenMP threading layer) make any
        later fork-based process pool unsafe: use a ``"spawn"`` context, e.g.
        ``ProcessPoolExecutor(mp_context=multiprocessing.get_context("spawn"))``.
    return_eigenvalues : bool, default=False
        Also return the eigenvalues (descending).

    Returns
    -------
    embedding : ndarray, shape (n_nodes, n_components)
        Rows of isolated units (degree 0) are 0.
    eigenvalues : ndarray, shape (n_components,)
        Only with ``return_eigenvalues=True``.

    Warns
    -----
    DisconnectedGraphWarning
        More than one connected component (isolated units aside).
    SpectralConvergenceWarning
        The iterative solver did not converge and a fallback was used.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.kron(np.eye(2), np.ones((3, 3))) + 0.01   # two dense groups of 3
    >>> np.fill_diagonal(a, 0)
    >>> emb, vals = spectral_embedding(a, 2, return_eigenvalues=True, random_state=0)
    >>> emb.shape, np.round(vals, 3)
    ((6, 2), array([1.   , 0.971]))
    >>> bool(np.all(np.sign(emb[:3, 1]) != np.sign(emb[3:, 1])))
    True
    """
    k = check_int("n_components", n_components, 1)
    prep, rng, spectrum_args = _check_and_prepare(
        graph,
        k,
        "n_components",
        eigen_solver=eigen_solver,
        eigen_tol=eigen_tol,
        eigen_maxiter=eigen_maxiter,
        dense_threshold=dense_threshold,
        operator=operator,
        n_threads=n_threads,
        random_state=random_state,
        stacklevel=3,
    )
    with prep.threads.context:
        spec = _spectrum(prep, k, rng=rng, **spectrum_args)
    emb = _embedding_from(spec, k)
    if return_eigenvalues:
        return emb, spec.eigenvalues.copy()
    return emb


# ---------------------------------------------------------------------------- eigengap
@dataclass(frozen=True)
class EigengapResult:
    """Leading eigenvalues of ``D^-1/2 A D^-1/2`` and the number of clusters they suggest.

    Attributes
    ----------
    eigenvalues : ndarray, shape (m,)
        Leading eigenvalues, descending (``m = max_k + 1`` when the graph is big enough).
    gaps : ndarray, shape (m - 1,)
        ``gaps[i] = eigenvalues[i] - eigenvalues[i + 1]``: the gap after the first
        ``i + 1`` eigenvalues.
    suggested_k : int
        The ``k >= 2`` with the largest gap after the first ``k`` eigenvalues.
    """

    eigenvalues: np.ndarray
    gaps: np.ndarray
    suggested_k: int

    @classmethod
    def from_eigenvalues(cls, eigenvalues: np.ndarray) -> EigengapResult:
        """Compute the gaps and the suggested ``k`` from descending eigenvalues."""
        vals = np.asarray(eigenvalues, dtype=np.float64)
        gaps = vals[:-1] - vals[1:]
        if gaps.size >= 2:
            suggested = int(np.argmax(gaps[1:])) + 2
        else:
            suggested = 2 if vals.size >= 2 else 1
        return cls(vals, gaps, suggested)


def eigengap(
    graph: Any,
    max_k: int = 16,
    *,
    eigen_solver: str = "auto",
    eigen_tol: float | str = "auto",
    random_state: Any = None,
    n_threads: int | None = None,
) -> EigengapResult:
    """Eigengap report: leading eigenvalues and the ``k`` with the largest gap after it.

    Computes the ``max_k + 1`` largest eigenvalues of ``D^-1/2 A D^-1/2`` (isolated
    units left out) and suggests the ``k`` in ``2..max_k`` whose gap
    ``lambda_k - lambda_{k+1}`` is largest. A graph with ``c`` components has ``c``
    eigenvalues equal to 1, so it suggests ``c`` when ``2 <= c <= max_k``.

    Parameters
    ----------
    graph : NeuronGraph, scipy sparse matrix or array, or array-like
        The graph (symmetric, non-negative weights).
    max_k : int, default=16
        Largest number of clusters considered (>= 2).
    eigen_solver : {"auto", "dense", "arpack", "lobpcg"}, default="auto"
        See :func:`spectral_embedding`.
    eigen_tol : float or "auto", default="auto"
        See :func:`spectral_embedding`.
    random_state : None, int, numpy Generator or RandomState
        Seeds the solver's start vector.
    n_threads : int, optional
        See :func:`spectral_embedding`.

    Returns
    -------
    EigengapResult

    Examples
    --------
    >>> import numpy as np
    >>> a = np.kron(np.eye(3), np.ones((4, 4))) + 0.01   # three dense groups of 4
    >>> np.fill_diagonal(a, 0)
    >>> eigengap(a, max_k=5, random_state=0).suggested_k
    3
    """
    max_k = check_int("max_k", max_k, 2)
    prep, rng, spectrum_args = _check_and_prepare(
        graph,
        2,
        "max_k",
        eigen_solver=eigen_solver,
        eigen_tol=eigen_tol,
        eigen_maxiter=None,
        dense_threshold=DENSE_THRESHOLD,
        operator="auto",
        n_threads=n_threads,
        random_state=random_state,
        stacklevel=3,
    )
    with prep.threads.context:
        spec = _spectrum(prep, min(max_k + 1, prep.kept.size), rng=rng, **spectrum_args)
    return EigengapResult.from_eigenvalues(spec.eigenvalues)


# ---------------------------------------------------------------------------- estimator
class SpectralClustering(ClusterMixin, BaseEstimator):
    """Normalised-cut spectral clustering of a graph of units (method.md section 2).

    The embedding of :func:`spectral_embedding` (``n_clusters`` eigenvectors of
    ``D^-1/2 A D^-1/2``, divided by ``sqrt(deg)``, deterministic signs) followed by
    scikit-learn's :class:`~sklearn.cluster.KMeans` with many restarts. Isolated units
    (degree 0) get label -1. Clusters are numbered in order of their first unit.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters ``k`` (>= 2, at most the number of units with an edge).
    random_state : None, int, numpy Generator or RandomState
        Seeds the eigensolver's start vector and k-means. Stored as given; turned into a
        generator in :meth:`fit`.
    n_init : int, optional
        k-means restarts. Default: 25, or 100 above 2,000 clusterable units (the paper).
    eigen_solver : {"auto", "dense", "arpack", "lobpcg"}, default="auto"
        See :func:`spectral_embedding`.
    eigen_tol : float or "auto", default="auto"
        See :func:`spectral_embedding`.
    eigen_maxiter : int, optional
        See :func:`spectral_embedding`.
    dense_threshold : int, default=500
        See :func:`spectral_embedding`.
    operator : {"auto", "blocks", "csr"}, default="auto"
        See :func:`spectral_embedding`.
    kmeans_max_iter : int, default=300
        Lloyd iterations per k-means run.
    n_threads : int, optional
        Threads for BLAS, OpenMP (k-means) and the numba kernels during :meth:`fit`.
        Default: BLAS and OpenMP on one thread for graphs of at most 20,000 clusterable
        units, else the libraries' defaults; the numba kernels serial. ``n_threads > 1``
        runs numba's parallel kernels, which make later fork-based process pools unsafe
        (use a ``"spawn"`` context). See :func:`spectral_embedding`.

    Attributes
    ----------
    labels_ : ndarray of int64, shape (n_nodes,)
        Cluster of every unit; -1 for isolated units.
    embedding_ : ndarray, shape (n_nodes, n_clusters)
        The spectral embedding (rows of isolated units are 0).
    eigenvalues_ : ndarray, shape (n_clusters + 1,)
        Leading eigenvalues of ``D^-1/2 A D^-1/2``, descending (one more than the
        embedding uses, for the eigengap; fewer if the graph is tiny).
    eigengap_ : EigengapResult
        Gaps between consecutive eigenvalues and the suggested ``k``.
    suggested_k_ : int
        ``eigengap_.suggested_k``.
    eigen_residuals_ : ndarray
        ``||N v - lambda v||`` of each eigenvector.
    eigen_solver_ : str
        The solver that produced the eigenvectors (after any fallback).
    eigen_problem_ : str
        The operator the solver worked on: ``"N (...)"`` (the normalised adjacency) or
        ``"B B^T (...)"`` (the bipartite reduction), applied as ``"blocks"`` or ``"csr"``.
    n_matvec_ : int
        Number of operator-vector products of the eigen-solve.
    n_connected_components_ : int
        Connected components, isolated units not counted.
    inertia_ : float
        k-means inertia of the best restart.
    n_init_ : int
        The number of k-means restarts used.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.kron(np.eye(3), np.ones((4, 4))) + 0.01   # three dense groups of 4
    >>> np.fill_diagonal(a, 0)
    >>> model = SpectralClustering(3, random_state=0).fit(a)
    >>> model.labels_
    array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    >>> model.suggested_k_
    3
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        random_state: Any = None,
        n_init: int | None = None,
        eigen_solver: str = "auto",
        eigen_tol: float | str = "auto",
        eigen_maxiter: int | None = None,
        dense_threshold: int = DENSE_THRESHOLD,
        operator: str = "auto",
        kmeans_max_iter: int = 300,
        n_threads: int | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.random_state = random_state
        self.n_init = n_init
        self.eigen_solver = eigen_solver
        self.eigen_tol = eigen_tol
        self.eigen_maxiter = eigen_maxiter
        self.dense_threshold = dense_threshold
        self.operator = operator
        self.kmeans_max_iter = kmeans_max_iter
        self.n_threads = n_threads

    def fit(self, X: Any, y: Any = None) -> SpectralClustering:
        """Cluster the units of a graph.

        Parameters
        ----------
        X : NeuronGraph, scipy sparse matrix or array, or array-like
            The graph (symmetric, non-negative weights).
        y : None
            Ignored.

        Returns
        -------
        self : SpectralClustering
        """
        k = check_int("n_clusters", self.n_clusters, 2)
        n_init = check_int("n_init", self.n_init, 1, allow_none=True)
        kmeans_max_iter = check_int("kmeans_max_iter", self.kmeans_max_iter, 1)
        prep, rng, spectrum_args = _check_and_prepare(
            X,
            k,
            "n_clusters",
            eigen_solver=self.eigen_solver,
            eigen_tol=self.eigen_tol,
            eigen_maxiter=self.eigen_maxiter,
            dense_threshold=self.dense_threshold,
            operator=self.operator,
            n_threads=self.n_threads,
            random_state=self.random_state,
            stacklevel=2,
        )
        n_kept = prep.kept.size
        if n_init is None:
            n_init = 100 if n_kept > 2000 else 25
        with prep.threads.context:
            spec = _spectrum(prep, min(k + 1, n_kept), rng=rng, **spectrum_args)
            labels, emb, inertia = self._assign(prep, spec, k, n_init, kmeans_max_iter, rng)
        self.inertia_ = inertia
        self.labels_ = canonical_labels(labels)
        self.embedding_ = emb
        self.eigenvalues_ = spec.eigenvalues.copy()
        self.eigengap_ = EigengapResult.from_eigenvalues(spec.eigenvalues)
        self.suggested_k_ = self.eigengap_.suggested_k
        self.eigen_residuals_ = spec.residuals
        self.eigen_solver_ = spec.info.solver
        self.eigen_problem_ = spec.info.problem
        self.n_matvec_ = spec.info.n_matvec
        self.n_connected_components_ = prep.n_components
        self.n_init_ = n_init
        return self

    @staticmethod
    def _assign(
        prep: _Prepared,
        spec: _Spectrum,
        k: int,
        n_init: int,
        max_iter: int,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Labels (not yet canonical), embedding and k-means inertia."""
        from sklearn.cluster import KMeans

        kmeans_seed = int(rng.integers(0, 2**31 - 1))
        labels = np.full(prep.n, -1, dtype=np.int64)
        if prep.n_components >= k:
            # Whole components are an n-cut of 0: the k - 1 largest (by volume) each
            # form a cluster, the rest share the last one.
            group = np.minimum(prep.component[prep.kept], k - 1)
            vol = np.bincount(group, weights=prep.degree[prep.kept], minlength=k)
            emb = np.zeros((prep.n, k))
            emb[prep.kept, group] = 1.0 / np.sqrt(vol[group])
            labels[prep.kept] = group
            return labels, emb, 0.0
        emb = _embedding_from(spec, k)
        km = KMeans(n_clusters=k, n_init=n_init, max_iter=max_iter, random_state=kmeans_seed)
        labels[prep.kept] = km.fit_predict(emb[prep.kept])
        return labels, emb, float(km.inertia_)
