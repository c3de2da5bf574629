"""Normalised-cut spectral embedding of a graph of units, and its eigengap.

The embedding of ``docs/method.md``, section 2.1, needs the eigenvectors of the ``k``
largest eigenvalues of the normalised adjacency ``N = D^-1/2 A D^-1/2`` (spectrum in
``[-1, 1]``). Units of degree 0 are left out (label -1, embedding 0). The path, read top
to bottom in :func:`spectral_embedding`:

1. **Check** the parameters and canonicalise the graph once
   (:class:`~._prepared.PreparedGraph`: CSR arrays, degrees, components, sides).
2. **Operator**: the eigenproblem (:mod:`._spectral_problems`) -- ``N`` itself, or
   ``B B^T`` over the smaller side when the graph is bipartite (weight graphs are),
   with the known eigenvectors ``sqrt(deg)`` per component deflated -- applied from
   dense blocks or from the CSR arrays (:mod:`._spectral_operators`), or held whole
   as one dense matrix where that is cheaper (:mod:`._spectral_dense`).
3. **Solve** with dense ``eigh``, ARPACK or LOBPCG, falling back between them
   (:mod:`._spectral_solvers`); the residuals ``||N v - lambda v||`` are then
   recomputed independently of the solver (``N`` applied by the problem's operator).
4. **Sign flip**: divide by ``sqrt(deg)`` and make each column's largest-magnitude
   entry positive, so the result does not depend on the solver's signs.

Threads: see :func:`nngraph.utils._threads.thread_policy` (``n_threads``). References:
Shi and Malik, "Normalized cuts and image segmentation" (IEEE TPAMI, 2000); von
Luxburg, "A tutorial on spectral clustering" (Statistics and Computing, 2007).
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..utils._threads import ThreadPolicy, thread_policy
from ..utils._validation import check_choice, check_int, seed_from
from ._prepared import PreparedGraph
from ._spectral_operators import CSROperator
from ._spectral_problems import BipartiteProblem, FullProblem, ReductionFailed, known_vectors
from ._spectral_solvers import SolveInfo, solve

__all__ = [
    "DENSE_THRESHOLD",
    "DisconnectedGraphWarning",
    "EigengapResult",
    "eigengap",
    "spectral_embedding",
]

#: Problems with at most this many unknowns are solved densely by default. Measured on
#: random-init MLPs and dense correlation graphs (2 cores), ARPACK on the block
#: operator overtakes ``eigh`` at 300-600 unknowns (at 1,000: 22 ms against 49 ms).
DENSE_THRESHOLD = 500
#: Default tolerance on the eigen-residual (ARPACK's relative tolerance).
_DEFAULT_TOL = 1e-8
_SOLVERS = ("auto", "dense", "block", "arpack", "lobpcg")
_OPERATORS = ("auto", "blocks", "csr", "dense")
_BLOCK_DTYPES = ("float64", "float32")


class DisconnectedGraphWarning(UserWarning):
    """The graph (without its isolated units) has more than one connected component."""


# ---------------------------------------------------------------------------- checks
@dataclass(frozen=True)
class SolverOptions:
    """The checked solver parameters of a fit (see :func:`spectral_embedding`)."""

    eigen_solver: str
    eigen_tol: float
    eigen_maxiter: int | None
    dense_threshold: int
    operator: str
    block_dtype: str = "float64"


def _check_tol(eigen_tol: Any) -> float:
    if isinstance(eigen_tol, str) and eigen_tol == "auto":
        return _DEFAULT_TOL
    if isinstance(eigen_tol, numbers.Real) and not isinstance(eigen_tol, bool):
        if eigen_tol > 0 and np.isfinite(eigen_tol):
            return float(eigen_tol)
    raise ValueError(f"eigen_tol must be 'auto' or a positive float, got {eigen_tol!r}")


def check_and_prepare(
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
    block_dtype: str = "float64",
) -> tuple[PreparedGraph, ThreadPolicy, np.random.Generator, SolverOptions]:
    """Check the solver parameters, then canonicalise ``graph`` for ``k`` eigenvectors.

    Returns the prepared graph, the thread policy of the fit (its BLAS limits already
    applied, see :func:`~nngraph.utils._threads.thread_policy`), the generator drawn
    from ``random_state`` and the checked options. ``k`` may not exceed the clusterable
    units (``what`` names it in the error); a disconnected graph warns with
    ``stacklevel`` as seen from this function.
    """
    options = SolverOptions(
        eigen_solver=check_choice("eigen_solver", eigen_solver, _SOLVERS),
        eigen_tol=_check_tol(eigen_tol),
        eigen_maxiter=check_int("eigen_maxiter", eigen_maxiter, 1, allow_none=True),
        dense_threshold=check_int("dense_threshold", dense_threshold, 0),
        operator=check_choice("operator", operator, _OPERATORS),
        block_dtype=check_choice("block_dtype", block_dtype, _BLOCK_DTYPES),
    )
    threads = check_int("n_threads", n_threads, 1, allow_none=True)
    rng = np.random.default_rng(seed_from(random_state))
    prep = PreparedGraph.from_graph(graph)
    n_kept = prep.kept.size
    if n_kept == 0:
        raise ValueError("the graph has no edges: every unit is isolated, nothing to cluster")
    if k > n_kept:
        raise ValueError(
            f"{what}={k} is larger than the number of clusterable units ({n_kept} units "
            f"with at least one edge; {prep.n_nodes - n_kept} isolated units are left out)"
        )
    if prep.n_components > 1:
        warnings.warn(
            f"the graph has {prep.n_components} connected components (not counting "
            f"{prep.n_nodes - n_kept} isolated units): eigenvalue 1 has multiplicity "
            f"{prep.n_components} and every component is kept apart when the number of "
            "clusters allows",
            DisconnectedGraphWarning,
            stacklevel=stacklevel,
        )
    return prep, thread_policy(threads, n_kept), rng, options


# ---------------------------------------------------------------------------- spectrum
@dataclass
class Spectrum:
    """Eigenpairs of ``N`` on the kept units plus how they were obtained."""

    prep: PreparedGraph
    vectors: np.ndarray  # (n_kept, n_eig) orthonormal eigenvectors of N, descending
    eigenvalues: np.ndarray  # (n_eig,)
    residuals: np.ndarray  # ||N v - lambda v|| per eigenvector
    info: SolveInfo


def leading_eigenpairs(
    prep: PreparedGraph,
    n_eig: int,
    options: SolverOptions,
    rng: np.random.Generator,
    threads: ThreadPolicy | None = None,
    *,
    stacklevel: int = 2,
) -> Spectrum:
    """Compute the ``n_eig`` leading eigenpairs of ``N`` on the kept units (steps 2 and 3).

    ``stacklevel`` is that of a :class:`~._spectral_solvers.SpectralConvergenceWarning`
    as seen from this function.
    """
    # The top eigenvectors are known (sqrt(deg) per component): only the others are
    # solved for, with the known ones deflated.
    known = known_vectors(prep, n_eig)
    n_wanted = n_eig - known.shape[1]
    if n_wanted <= 0:
        info = SolveInfo("none (known eigenvectors)", "N", 0)
        return _assemble(prep, known, np.empty((known.shape[0], 0)), np.empty(0), info, threads)
    solve_args = (
        n_wanted,
        options.eigen_solver,
        options.eigen_tol,
        options.eigen_maxiter,
        rng,
        options.dense_threshold,
    )
    solve_kw = {"block_dtype": options.block_dtype, "stacklevel": stacklevel + 1}
    # A bipartite graph is solved on B B^T (better separated eigenvalues, half the
    # unknowns) when its smaller side has room for every wanted eigenvector.
    n_side = int(np.count_nonzero(prep.colour[prep.kept] == 0))
    if prep.bipartite and n_wanted + prep.n_components < n_side:
        problem = BipartiteProblem(prep, known, options.operator, threads)
        w, u, info = solve(problem, *solve_args, **solve_kw)
        try:
            u, w = problem.to_kept(u, w)
        except ReductionFailed:
            pass  # a wanted sigma is 0: solve on N instead
        else:
            spec = _assemble(prep, known, u, w, info, threads, problem)
            # A tiny sigma makes v = B^T u / sigma inaccurate: then solve on N too.
            if spec.residuals.max() <= max(1e-6, 100 * options.eigen_tol):
                return spec
    problem = FullProblem(prep, known, options.operator, threads)
    w, u, info = solve(problem, *solve_args, **solve_kw)
    return _assemble(prep, known, u, w, info, threads, problem)


def _assemble(
    prep: PreparedGraph,
    known: np.ndarray,
    u: np.ndarray,
    w: np.ndarray,
    info: SolveInfo,
    threads: ThreadPolicy | None,
    problem: FullProblem | BipartiteProblem | None = None,
) -> Spectrum:
    vectors = np.concatenate([known, u], axis=1)
    values = np.concatenate([np.ones(known.shape[1]), w])
    # Residuals of N itself, whatever solver produced the vectors: from the problem's
    # operator (one pass over its dense blocks: 39 ms against the CSR kernel's 115 ms
    # on the MLP 784-2048x4-10), or the CSR kernel when there is no problem.
    if problem is not None:
        nv = problem.apply_n(vectors)
    else:
        nv = CSROperator(prep, threads).apply(prep.kept, prep.kept, vectors)
    residuals = np.linalg.norm(nv - vectors * values, axis=0)
    return Spectrum(prep, vectors, values, residuals, info)


def sign_flip(e: np.ndarray) -> np.ndarray:
    """Make the largest-magnitude entry of every column positive (step 4).

    Examples
    --------
    >>> sign_flip(np.array([[1.0, 0.5], [-2.0, 0.25]]))
    array([[-1.  ,  0.5 ],
           [ 2.  ,  0.25]])
    """
    if e.size == 0:
        return e
    rows = np.argmax(np.abs(e), axis=0)
    signs = np.sign(e[rows, np.arange(e.shape[1])])
    signs[signs == 0] = 1.0
    return e * signs


def embedding_from(spec: Spectrum, n_components: int) -> np.ndarray:
    """Divide the first ``n_components`` eigenvectors by ``sqrt(deg)``, fix signs; 0 if isolated."""
    prep = spec.prep
    e = spec.vectors[:, :n_components] / np.sqrt(prep.degree[prep.kept])[:, None]
    out = np.zeros((prep.n_nodes, e.shape[1]))
    out[prep.kept] = sign_flip(e)
    return out


# ---------------------------------------------------------------------------- public
def spectral_embedding(
    graph: Any,
    n_components: int = 8,
    *,
    eigen_solver: str = "auto",
    eigen_tol: float | str = "auto",
    eigen_maxiter: int | None = None,
    dense_threshold: int = DENSE_THRESHOLD,
    operator: str = "auto",
    block_dtype: str = "float64",
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
    eigen_solver : {"auto", "dense", "block", "arpack", "lobpcg"}, default="auto"
        ``"auto"``: dense below ``dense_threshold`` unknowns; else ARPACK (measured
        faster than the block Krylov solver on idle machines, even on weight graphs
        of wide layers). ``"block"``: block Krylov, each step a matrix-matrix product
        per dense block. See :mod:`nngraph.partition._spectral_solvers` for the
        fallback on non-convergence.
    eigen_tol : float or "auto", default="auto"
        Relative residual tolerance passed to the iterative solver (``"auto"``: 1e-8).
    eigen_maxiter : int, optional
        Iteration limit of the iterative solver (ARPACK restarts, LOBPCG iterations,
        block products of the block solver).
    dense_threshold : int, default=500
        Largest problem solved densely with ``eigen_solver="auto"`` (measured
        crossover with ARPACK: 300-600). The problem has one unknown per unit, or per
        unit of the smaller side of a bipartite graph.
    operator : {"auto", "blocks", "csr", "dense"}, default="auto"
        How ``N`` is applied: dense/sparse blocks between layers (for a
        :class:`NeuronGraph` with dense layer blocks), the numba CSR kernel, or the
        problem's whole matrix held dense (``N``, or ``B B^T`` on a bipartite graph,
        formed once). ``"auto"``: ``B B^T`` dense when forming it costs less than
        applying ``B`` and ``B^T`` at every step (the digits MLP, random MLPs up to
        1,024 units per layer: 2-3x faster eigen-solves; not the MLP 784-2048x4-10),
        else blocks where at least half the entries lie in dense blocks, else CSR.
    block_dtype : {"float64", "float32"}, default="float64"
        Precision of the dense blocks in the block solver's products. ``"float32"``
        reads half the memory per product until the residuals stop improving, then
        finishes in float64: the tolerance is met either way (residuals are computed
        in float64).
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

    References
    ----------
    .. [1] J. Shi and J. Malik, "Normalized cuts and image segmentation", IEEE Transactions
       on Pattern Analysis and Machine Intelligence 22(8), 2000.
    .. [2] U. von Luxburg, "A tutorial on spectral clustering", Statistics and Computing
       17(4), 2007.

    Examples
    --------
    >>> import numpy as np
    >>> from nngraph.datasets import two_cliques
    >>> a, _ = two_cliques(3)        # two triangles joined by one light edge
    >>> emb, vals = spectral_embedding(a, 2, return_eigenvalues=True, random_state=0)
    >>> emb.shape, np.round(vals, 3)
    ((6, 2), array([1.   , 0.969]))
    >>> bool(np.all(np.sign(emb[:3, 1]) != np.sign(emb[3:, 1])))
    True
    """
    # 1. Check the parameters and canonicalise the graph (once, for every step below).
    k = check_int("n_components", n_components, 1)
    prep, threads, rng, options = check_and_prepare(
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
        block_dtype=block_dtype,
    )
    # 2-3. Build the operator and solve, under the fit's BLAS and OpenMP limits.
    with threads.context:
        spec = leading_eigenpairs(prep, k, options, rng, threads, stacklevel=3)
    # 4. Divide by sqrt(deg) and fix the signs, so the result is deterministic.
    emb = embedding_from(spec, k)
    if return_eigenvalues:
        return emb, spec.eigenvalues.copy()
    return emb


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

    Examples
    --------
    >>> EigengapResult.from_eigenvalues([1.0, 0.9, 0.3, 0.2]).suggested_k
    2
    """

    eigenvalues: np.ndarray
    gaps: np.ndarray
    suggested_k: int

    @classmethod
    def from_eigenvalues(cls, eigenvalues: Any) -> EigengapResult:
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
    eigen_solver : {"auto", "dense", "block", "arpack", "lobpcg"}, default="auto"
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

    References
    ----------
    .. [1] U. von Luxburg, "A tutorial on spectral clustering", Statistics and Computing
       17(4), 2007.

    Examples
    --------
    >>> from nngraph.datasets import planted_partition
    >>> a, _ = planted_partition([10, 10, 10], 0.9, 0.02, random_state=0)
    >>> eigengap(a, max_k=5, random_state=0).suggested_k
    3
    """
    max_k = check_int("max_k", max_k, 2)
    prep, threads, rng, options = check_and_prepare(
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
    with threads.context:
        n_eig = min(max_k + 1, prep.kept.size)
        spec = leading_eigenpairs(prep, n_eig, options, rng, threads, stacklevel=3)
    if prep.n_components > max_k:
        warnings.warn(
            f"the graph has {prep.n_components} connected components, more than max_k="
            f"{max_k}: every eigenvalue considered is 1, so no gap can suggest a k (the "
            "suggested k means nothing; the components are the clearest split)",
            DisconnectedGraphWarning,
            stacklevel=2,
        )
    return EigengapResult.from_eigenvalues(spec.eigenvalues)
