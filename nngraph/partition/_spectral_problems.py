"""The symmetric eigenproblems whose leading eigenpairs give those of ``N = D^-1/2 A D^-1/2``.

Two facts about graphs of units shape them:

1. **The top eigenvectors are known.** For each connected component ``C``, the vector
   ``sqrt(deg)`` restricted to ``C`` is an eigenvector of eigenvalue 1
   (:func:`known_vectors`). The solvers deflate them, so they only look for the others
   and a disconnected graph (eigenvalue 1 of multiplicity > 1) needs no luck.
2. **Weight graphs are bipartite.** Edges only join consecutive layers, so the units
   split into two sides ``P`` (even layers) and ``Q`` (odd layers) and, in that order,
   ``N = [[0, B], [B^T, 0]]``. Its eigenvalues come in pairs ``+-sigma`` (``sigma`` the
   singular values of ``B``), which puts the wanted eigenvalues in the middle of a
   symmetric spectrum and slows Lanczos. Shifting (``(I + N) / 2``) does not help: a
   Krylov method is shift-invariant. Instead, when every component is bipartite,
   :class:`BipartiteProblem` works on ``M = B B^T`` over the smaller side (eigenvalues
   ``sigma^2`` in ``[0, 1]``; the relative gaps among the wanted eigenvalues are much
   larger), and recovers ``v = B^T u / sigma``. On the random-init MLP of the benchmark
   (k = 12) ARPACK needs 191 applications of ``M`` against 440 of ``N`` (each costs
   about the same: one pass over every block). If a wanted ``sigma`` is 0 (more
   clusters than ``rank(B)``), :meth:`BipartiteProblem.to_kept` raises
   :class:`ReductionFailed` and the caller solves :class:`FullProblem` instead.

Each problem has ``dim`` unknowns and ``known`` (orthonormal eigenvectors of
eigenvalue 1 to deflate), and offers ``matmat`` (apply it to a block of vectors),
``dense`` (the whole matrix) and ``to_kept`` (eigenpairs of the problem -> eigenpairs
of ``N`` on the kept units).
"""

from __future__ import annotations

import numpy as np

from ..utils._threads import ThreadPolicy
from ._prepared import PreparedGraph
from ._spectral_dense import DenseOperator, dense_pays, gram, gram_pays
from ._spectral_operators import BlockOperator, CSROperator, as_index

__all__ = ["BipartiteProblem", "FullProblem", "ReductionFailed", "known_vectors"]


class ReductionFailed(Exception):
    """A wanted singular value is 0: the bipartite reduction cannot give the eigenvector."""


def known_vectors(prep: PreparedGraph, n_vectors: int) -> np.ndarray:
    """Eigenvectors of eigenvalue 1 of ``N`` on the kept units: ``sqrt(deg)`` per component.

    Parameters
    ----------
    prep : PreparedGraph
        The graph.
    n_vectors : int
        At most this many (one per component, largest volume first).

    Returns
    -------
    ndarray, shape (n_kept, min(n_vectors, n_components))
        Orthonormal columns.

    Examples
    --------
    >>> from nngraph.datasets import disconnected_cliques
    >>> prep = PreparedGraph.from_graph(disconnected_cliques((2, 3))[0])
    >>> known_vectors(prep, 5).round(3)
    array([[0.   , 0.707],
           [0.   , 0.707],
           [0.577, 0.   ],
           [0.577, 0.   ],
           [0.577, 0.   ]])
    """
    kept = prep.kept
    comp = prep.component[kept]
    m = min(n_vectors, prep.n_components)
    q = np.zeros((kept.size, m))
    rows = np.flatnonzero(comp < m)
    q[rows, comp[rows]] = np.sqrt(prep.degree[kept][rows])
    q /= np.linalg.norm(q, axis=0)
    return q


def _block_operator(
    prep: PreparedGraph,
    group: np.ndarray,
    n_groups: int,
    pairs: list[tuple[int, int, bool]],
    operator: str,
    threads: ThreadPolicy | None,
) -> BlockOperator | None:
    """Return the block operator if ``operator="blocks"``, or if ``"auto"`` and worthwhile."""
    if operator == "csr":
        return None
    bop = BlockOperator(prep, group, n_groups, pairs, threads)
    return bop if operator == "blocks" or bop.worthwhile() else None


class FullProblem:
    """``N`` itself on the kept units (any graph).

    Parameters
    ----------
    prep : PreparedGraph
        The graph.
    known : ndarray, shape (n_kept, c)
        Known eigenvectors of eigenvalue 1 (:func:`known_vectors`).
    operator : {"auto", "blocks", "csr", "dense"}, default="auto"
        Apply ``N`` from blocks between layers (one block for a plain matrix), from the
        CSR arrays, or held whole as one dense matrix; ``"auto"``: blocks when at least
        half the entries lie in dense blocks, else CSR, and dense instead of blocks
        when :func:`~._spectral_dense.dense_pays` says so (graphs of correlations).
    threads : ThreadPolicy, optional
        The thread policy of the fit.

    Examples
    --------
    >>> import numpy as np
    >>> from nngraph.datasets import two_cliques
    >>> prep = PreparedGraph.from_graph(two_cliques(3)[0])
    >>> problem = FullProblem(prep, known_vectors(prep, 1))
    >>> problem.kind, problem.dim
    ('N (dense)', 6)
    >>> bool(np.allclose(problem.matmat(np.eye(6)), problem.dense()))
    True
    """

    def __init__(
        self,
        prep: PreparedGraph,
        known: np.ndarray,
        operator: str = "auto",
        threads: ThreadPolicy | None = None,
    ) -> None:
        kept = self.kept = prep.kept
        self.dim = kept.size
        self.known = known
        self.n_matvec = 0
        self._csr = CSROperator(prep, threads)
        self._dense: DenseOperator | None = None  # N held dense, once formed
        self._blocks = None
        if operator != "dense":
            if prep.layer is not None:
                group = np.where(prep.degree > 0, prep.layer, -1)
                n_groups = int(prep.layer.max(initial=0)) + 1
            else:
                group, n_groups = np.where(prep.degree > 0, 0, -1), 1
            pairs = [(g, h, g != h) for g in range(n_groups) for h in range(g, n_groups)]
            self._blocks = _block_operator(prep, group, n_groups, pairs, operator, threads)
        self._held = operator == "dense" or (
            operator == "auto"
            and self._blocks is not None
            and dense_pays(self.dim, self._blocks.dense_entries)
        )
        if self._held:
            self._blocks = None
            self.kind, self.dense_entries = "N (dense)", self.dim * self.dim
        elif self._blocks is None:
            self.kind, self.dense_entries = "N (csr)", 0
        else:
            self.kind, self.dense_entries = "N (blocks)", self._blocks.dense_entries
            local = np.full(prep.n_nodes, -1, dtype=np.int64)
            local[kept] = np.arange(kept.size)
            self._index = [as_index(m, local) for m in self._blocks.members]

    def matmat(self, x: np.ndarray, single: bool = False) -> np.ndarray:
        """``N x`` for ``x`` of shape ``(dim, b)`` (float32 blocks with ``single``)."""
        self.n_matvec += x.shape[1]
        if self._held:
            return self._dense_operator().apply(x, single)
        if single and self._blocks is not None:
            out = np.zeros((self.dim, x.shape[1]), dtype=np.float32)
            x32 = x.astype(np.float32)
            return self._blocks.apply("forward", x32, out, self._index, True).astype(float)
        return self.apply_n(x)

    def apply_n(self, v: np.ndarray) -> np.ndarray:
        """``N v`` for ``v`` of shape ``(n_kept, b)``, not counted in ``n_matvec``."""
        if self._held:
            return self._dense_operator().apply(v)
        if self._blocks is None:
            return self._csr.apply(self.kept, self.kept, v)
        out = np.zeros((self.dim, v.shape[1]))
        return self._blocks.apply("forward", v, out, self._index)

    def dense(self) -> np.ndarray:
        """``N`` on the kept units as a dense array (a new one: the caller may change it)."""
        if self._dense is not None:
            return self._dense.matrix.copy()
        return self._csr.dense(self.kept, self.kept)

    def _dense_operator(self) -> DenseOperator:
        if self._dense is None:
            self._dense = DenseOperator(self._csr.dense(self.kept, self.kept))
        return self._dense

    def to_kept(self, u: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvectors and eigenvalues of ``N`` on the kept units: ``u`` and ``w`` as given."""
        return u, w


class BipartiteProblem:
    """``M = B B^T`` over the smaller side ``P`` of a bipartite graph (``B``: ``P <- Q``).

    Its eigenvalues are ``sigma^2``, the squares of ``N``'s non-negative eigenvalues.

    Parameters
    ----------
    prep : PreparedGraph
        A graph whose every component is bipartite (``prep.bipartite``).
    known : ndarray, shape (n_kept, c)
        Known eigenvectors of ``N`` of eigenvalue 1 (:func:`known_vectors`); their ``P``
        rows, times ``sqrt(2)``, are eigenvectors of ``M`` of eigenvalue 1.
    operator : {"auto", "blocks", "csr", "dense"}, default="auto"
        As for :class:`FullProblem`; the blocks join (layer, side) groups, and
        ``"dense"`` forms ``M`` once (:func:`~._spectral_dense.gram`). ``"auto"``:
        dense when :func:`~._spectral_dense.gram_pays` says so (the digits MLP, the
        random MLPs up to 1,024 units per layer), else blocks or CSR as for
        :class:`FullProblem`.
    threads : ThreadPolicy, optional
        The thread policy of the fit.

    Examples
    --------
    >>> import numpy as np
    >>> from nngraph.datasets import path
    >>> prep = PreparedGraph.from_graph(path(5))
    >>> problem = BipartiteProblem(prep, known_vectors(prep, 1))
    >>> problem.kind, problem.dim
    ('B B^T (dense)', 2)
    >>> w, u = np.linalg.eigh(problem.dense())
    >>> v, sigma = problem.to_kept(u, w)   # eigenvalues cos(pi j / 4) of N
    >>> sigma.round(4)
    array([0.7071, 1.    ])
    """

    def __init__(
        self,
        prep: PreparedGraph,
        known: np.ndarray,
        operator: str = "auto",
        threads: ThreadPolicy | None = None,
    ) -> None:
        kept = prep.kept
        self.n_kept = kept.size
        self.side_p = side_p = kept[prep.colour[kept] == 0]
        self.side_q = side_q = kept[prep.colour[kept] == 1]
        self.dim = side_p.size
        self.n_matvec = 0
        self._csr = CSROperator(prep, threads)
        self._b: np.ndarray | None = None  # dense B, once dense() or "dense" has built it
        self._dense: DenseOperator | None = None  # M held dense, once formed
        self._threads = threads
        self._layer = prep.layer
        # B's stored entries: every edge joins the two sides (stored twice in the CSR).
        n_entries = prep.csr[2].shape[0] // 2
        self._held = operator == "dense" or (
            operator == "auto" and gram_pays(self.dim, side_q.size, n_entries)
        )
        self._blocks = None
        if self._held:
            self.kind, self.dense_entries = "B B^T (dense)", self.dim * self.dim
        else:
            layer = prep.layer
            if layer is None:
                layer = np.zeros(prep.n_nodes, dtype=np.int64)
            n_groups = 2 * (int(layer.max(initial=0)) + 1)
            group = np.where(prep.degree > 0, 2 * layer + prep.colour, -1)
            # Side P groups are even, side Q groups odd; only P-Q blocks hold edges.
            pairs = [(g, h, False) for g in range(0, n_groups, 2) for h in range(1, n_groups, 2)]
            self._blocks = _block_operator(prep, group, n_groups, pairs, operator, threads)
            self.kind = "B B^T (csr)" if self._blocks is None else "B B^T (blocks)"
            self.dense_entries = 0 if self._blocks is None else self._blocks.dense_entries
        if self._blocks is not None:
            local = np.full(prep.n_nodes, -1, dtype=np.int64)
            local[side_p] = np.arange(side_p.size)
            local[side_q] = np.arange(side_q.size)
            self._index = [as_index(m, local) for m in self._blocks.members]
        kept_local = np.full(prep.n_nodes, -1, dtype=np.int64)
        kept_local[kept] = np.arange(kept.size)
        self.rows_p, self.rows_q = kept_local[side_p], kept_local[side_q]
        self.known = known[self.rows_p] * np.sqrt(2.0)

    def b_mat(self, y: np.ndarray) -> np.ndarray:
        """``B y``: from side ``Q`` (``y`` of shape ``(|Q|, b)``) to side ``P``."""
        if self._held:
            return self._dense_b() @ y
        if self._blocks is None:
            return self._csr.apply(self.side_p, self.side_q, y)
        out = np.zeros((self.side_p.size, y.shape[1]), dtype=y.dtype)
        return self._blocks.apply("forward", y, out, self._index, y.dtype == np.float32)

    def bt_mat(self, x: np.ndarray) -> np.ndarray:
        """``B^T x``: from side ``P`` (``x`` of shape ``(|P|, b)``) to side ``Q``."""
        if self._held:
            return self._dense_b().T @ x
        if self._blocks is None:
            return self._csr.apply(self.side_q, self.side_p, x)
        out = np.zeros((self.side_q.size, x.shape[1]), dtype=x.dtype)
        return self._blocks.apply("backward", x, out, self._index, x.dtype == np.float32)

    def matmat(self, x: np.ndarray, single: bool = False) -> np.ndarray:
        """``B B^T x`` for ``x`` of shape ``(dim, b)`` (float32 blocks with ``single``)."""
        self.n_matvec += x.shape[1]
        if self._held:
            return self._dense_operator().apply(x, single)
        if single and self._blocks is not None:
            return self.b_mat(self.bt_mat(x.astype(np.float32))).astype(float)
        return self.b_mat(self.bt_mat(x))

    def apply_n(self, v: np.ndarray) -> np.ndarray:
        """``N v`` for ``v`` of shape ``(n_kept, b)`` (``B`` one way, ``B^T`` the other).

        Not counted in ``n_matvec``.
        """
        out = np.empty_like(v)
        out[self.rows_p] = self.b_mat(v[self.rows_q])
        out[self.rows_q] = self.bt_mat(v[self.rows_p])
        return out

    def dense(self) -> np.ndarray:
        """``B B^T`` as a dense array, a new one (``B`` is kept for :meth:`to_kept`)."""
        if self._dense is not None:
            return self._dense.matrix.copy()
        return self._gram()

    def _dense_operator(self) -> DenseOperator:
        if self._dense is None:
            self._dense = DenseOperator(self._gram())
        return self._dense

    def _gram(self) -> np.ndarray:
        """``B B^T`` by blocks of layers (empty blocks skipped)."""
        layer = self._layer
        groups = (None, None) if layer is None else (layer[self.side_p], layer[self.side_q])
        return gram(self._dense_b(), self._threads, *groups)

    def _dense_b(self) -> np.ndarray:
        if self._b is None:
            self._b = self._csr.dense(self.side_p, self.side_q)
        return self._b

    def to_kept(self, u: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Eigenpairs ``(v, sigma)`` of ``N`` from eigenpairs ``(u, sigma^2)`` of ``M``.

        ``v`` is ``u`` on side ``P`` and ``B^T u / sigma`` on side ``Q``, normalised.

        Raises
        ------
        ReductionFailed
            A ``sigma`` is (numerically) 0: ``v`` is not determined on side ``Q``.
        """
        sigma = np.sqrt(np.clip(w, 0.0, None))
        if sigma.size and sigma.min() <= 1e-7:
            raise ReductionFailed
        v = np.empty((self.n_kept, u.shape[1]))
        v[self.rows_p] = u
        v[self.rows_q] = (self._b.T @ u if self._b is not None else self.bt_mat(u)) / sigma
        v /= np.linalg.norm(v, axis=0)
        return v, sigma
