"""Leading eigenpairs of a deflated symmetric problem: dense, block Krylov, ARPACK, LOBPCG.

Solvers: ``"dense"`` (``scipy.linalg.eigh`` on the deflated problem, the default up to
``dense_threshold`` unknowns), ``"block"`` (block Lanczos on blocks of vectors,
:func:`~._spectral_block.block_krylov`: each step is one matrix-matrix product per layer
block; only on request, see :data:`BLOCK_MIN_ENTRIES`), ``"arpack"``
(``scipy.sparse.linalg.eigsh``, largest algebraic, one vector at a time; the default
above ``dense_threshold``) and ``"lobpcg"``. The known eigenvectors (eigenvalue 1) are
deflated: ARPACK, LOBPCG and ``eigh`` see ``H - 3 Q Q^T``, which moves them to
eigenvalue -2, out of the way; the block solver keeps its basis orthogonal to them.

``block_dtype="float32"`` applies the dense blocks in single precision in the block
solver (half the memory read per product) until its residuals stop improving, then in
float64 until ``||H v - lambda v|| <= tol |lambda|``: the result meets the same
tolerance.

Fallback: when the block solver does not converge, a :class:`SpectralConvergenceWarning`
is issued and ARPACK solves the problem. When ARPACK does not converge (or fails), a
warning is issued and the problem is solved densely if it has at most 8,000 unknowns,
otherwise by LOBPCG started from ARPACK's partial result; if LOBPCG does not reach the
tolerance either, the same rule applies (dense if small, else its best estimate, with
a warning).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.linalg
import scipy.sparse.linalg as sla

from ._spectral_block import block_krylov, block_size

__all__ = ["EigenProblem", "SolveInfo", "SpectralConvergenceWarning", "solve"]

#: After a convergence failure, problems up to this size are solved densely.
_DENSE_FALLBACK_MAX = 8000
#: Deflation shift: known eigenvectors move from eigenvalue 1 to 1 - 3 = -2.
_DEFLATE = 3.0
#: ``"auto"`` picks the block solver for operators with this many entries in dense
#: blocks; None: never. Measured on an idle 2-core machine (benchmarks/bench_spectral.py,
#: k = 12), ARPACK wins on every graph tried: on the MLP 784-2048x4-10 (14.2M entries)
#: 1.34 s against 1.8 s for the block solver (1.43 s at its best block size), as a
#: product with b vectors costs about 3x one vector's already at b = 2 (OpenBLAS packs
#: the block for every matrix-matrix product), and Lanczos with blocks needs 2-3x the
#: vectors of ARPACK's; on the digits MLP 11 ms against 27 ms.
BLOCK_MIN_ENTRIES: int | None = None
#: Default limit of the block solver's steps (block products).
_BLOCK_MAX_STEPS = 1000
#: The block solver aims this much below ``tol``: ARPACK's last restart usually lands
#: a decade or more below it, and the two paths should give the same subspace.
_BLOCK_TOL_MARGIN = 0.1


class SpectralConvergenceWarning(UserWarning):
    """The iterative eigensolver did not converge; a fallback solver was used."""


class EigenProblem(Protocol):
    """What :func:`solve` needs of a problem (see :mod:`._spectral_problems`)."""

    dim: int
    known: np.ndarray  # (dim, c) orthonormal eigenvectors of eigenvalue 1
    kind: str
    n_matvec: int
    dense_entries: int  # entries in the dense blocks of the operator (0: CSR)

    def matmat(self, x: np.ndarray, single: bool = False) -> np.ndarray: ...

    def dense(self) -> np.ndarray: ...


@dataclass
class SolveInfo:
    """How the eigenpairs were obtained."""

    solver: str  # the solver that produced them, after any fallback
    problem: str  # the problem's ``kind``
    n_matvec: int  # operator-vector products
    fallback: str | None = None  # the solver fallen back to, if any


def solve(
    problem: EigenProblem,
    n_wanted: int,
    solver: str,
    tol: float,
    maxiter: int | None,
    rng: np.random.Generator,
    dense_threshold: int,
    *,
    block_dtype: str = "float64",
    stacklevel: int = 2,
) -> tuple[np.ndarray, np.ndarray, SolveInfo]:
    """Top ``n_wanted`` eigenpairs of ``problem`` orthogonal to its known vectors.

    Parameters
    ----------
    problem : EigenProblem
        The problem (:class:`~._spectral_problems.FullProblem` or
        :class:`~._spectral_problems.BipartiteProblem`).
    n_wanted : int
        Number of eigenpairs, besides the known ones.
    solver : {"auto", "dense", "block", "arpack", "lobpcg"}
        ``"auto"``: dense up to ``dense_threshold`` unknowns; else ARPACK (the block
        solver only where :data:`BLOCK_MIN_ENTRIES` says so).
    tol : float
        Relative residual tolerance of the iterative solvers.
    maxiter : int or None
        Iteration limit of the iterative solvers.
    rng : numpy.random.Generator
        Draws ARPACK's start vector, LOBPCG's and the block solver's start blocks (all
        always drawn, so the generator advances the same way whichever solver runs).
    dense_threshold : int
        See ``solver``.
    block_dtype : {"float64", "float32"}, default="float64"
        Precision of the dense blocks in the block solver's products (see the module).
    stacklevel : int, default=2
        Of the :class:`SpectralConvergenceWarning`, as seen from this function.

    Returns
    -------
    eigenvalues : ndarray, shape (n_wanted,)
        Descending.
    eigenvectors : ndarray, shape (dim, n_wanted)
    info : SolveInfo

    Examples
    --------
    >>> import numpy as np
    >>> from nngraph.datasets import two_cliques
    >>> from nngraph.partition._prepared import PreparedGraph
    >>> from nngraph.partition._spectral_problems import FullProblem, known_vectors
    >>> prep = PreparedGraph.from_graph(two_cliques(4)[0])
    >>> problem = FullProblem(prep, known_vectors(prep, 1))
    >>> w, u, info = solve(problem, 1, "dense", 1e-8, None, np.random.default_rng(0), 500)
    >>> w.round(4), info.solver
    (array([0.9841]), 'dense')
    """
    dim = problem.dim
    known = problem.known
    v0 = rng.uniform(-1.0, 1.0, dim)
    x0 = rng.standard_normal((dim, n_wanted))
    b0 = rng.standard_normal((dim, block_size(n_wanted)))
    breakdown_rng = np.random.default_rng(int(rng.integers(0, 2**63 - 1)))

    def deflated(x: np.ndarray) -> np.ndarray:
        y = problem.matmat(x)
        if known.shape[1]:
            y -= known @ (_DEFLATE * (known.T @ x))
        return y

    def info(solver: str, fallback: str | None = None) -> SolveInfo:
        return SolveInfo(solver, problem.kind, problem.n_matvec, fallback)

    if solver == "auto":
        if dim <= dense_threshold:
            solver = "dense"
        elif BLOCK_MIN_ENTRIES is not None and problem.dense_entries >= BLOCK_MIN_ENTRIES:
            solver = "block"
        else:
            solver = "arpack"
    if solver != "dense" and n_wanted >= dim - 1:
        solver = "dense"  # ARPACK needs k < n - 1; tiny problems are dense anyway
    if solver == "lobpcg" and dim < 5 * (n_wanted + 1):
        solver = "dense"
    if solver == "block" and dim - known.shape[1] < 4 * b0.shape[1]:
        solver = "dense"  # no room for a few blocks: dense is cheap anyway
    fallback = None
    if solver == "block":
        single = block_dtype == "float32"
        result = block_krylov(
            problem.matmat,
            b0,
            n_wanted,
            tol * _BLOCK_TOL_MARGIN,
            known=known,
            apply_single=(lambda x: problem.matmat(x, single=True)) if single else None,
            max_steps=maxiter or _BLOCK_MAX_STEPS,
            norm=1.0,  # N and B B^T have their spectrum in [-1, 1]
            rng=breakdown_rng,
        )
        if result.converged:
            name = "block (float32, float64)" if single else "block"
            return result.eigenvalues, result.eigenvectors, info(name)
        fallback = "arpack"
        warnings.warn(
            f"the block eigensolver did not converge in {result.n_steps} steps; falling "
            "back to ARPACK",
            SpectralConvergenceWarning,
            stacklevel=stacklevel,
        )
        solver = "arpack"
    if solver == "arpack":
        try:
            w, u = _arpack(deflated, dim, n_wanted, tol, maxiter, v0)
            return w, u, info("arpack", fallback)
        except (sla.ArpackNoConvergence, sla.ArpackError) as exc:
            fallback = "dense" if dim <= _DENSE_FALLBACK_MAX else "lobpcg"
            warnings.warn(
                f"ARPACK did not converge ({exc}); falling back to the {fallback} solver",
                SpectralConvergenceWarning,
                stacklevel=stacklevel,
            )
            # LOBPCG starts from what ARPACK had found.
            partial = getattr(exc, "eigenvectors", None)
            if partial is not None and partial.size:
                x0[:, : partial.shape[1]] = partial[:, :n_wanted]
            solver = fallback
    if solver == "lobpcg":
        w, u, converged = _lobpcg(deflated, dim, x0, tol, maxiter)
        if converged:
            return w, u, info("lobpcg", fallback)
        if dim > _DENSE_FALLBACK_MAX:
            warnings.warn(
                "LOBPCG did not reach the tolerance; using its best estimate",
                SpectralConvergenceWarning,
                stacklevel=stacklevel,
            )
            return w, u, info("lobpcg", fallback)
        warnings.warn(
            "LOBPCG did not reach the tolerance; falling back to the dense solver",
            SpectralConvergenceWarning,
            stacklevel=stacklevel,
        )
        fallback = "dense"
    h = problem.dense()
    if known.shape[1]:
        h -= _DEFLATE * (known @ known.T)
    subset = [dim - n_wanted, dim - 1]
    w, u = scipy.linalg.eigh(h, subset_by_index=subset, check_finite=False)
    return w[::-1], u[:, ::-1], info("dense", fallback)


class _Operator(sla.LinearOperator):
    """``matmat`` as a LinearOperator whose ``matvec`` skips scipy's checks.

    ARPACK calls ``matvec`` on float64 vectors of the right length once per step: the
    checks and reshapes of ``LinearOperator.matvec`` cost about 2 us per call
    (of 0.13 ms per step on the digits MLP).
    """

    def __init__(self, matmat: Callable[[np.ndarray], np.ndarray], dim: int) -> None:
        super().__init__(np.float64, (dim, dim))
        self._mm = matmat

    def matvec(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        return self._mm(x.reshape(x.shape[0], -1)).reshape(x.shape)

    def _matmat(self, x: np.ndarray) -> np.ndarray:
        return self._mm(x)


def _arpack(matmat, dim, n_wanted, tol, maxiter, v0):
    op = _Operator(matmat, dim)
    ncv = min(dim, max(3 * n_wanted + 1, 40))
    w, u = sla.eigsh(op, k=n_wanted, which="LA", tol=tol, maxiter=maxiter, v0=v0, ncv=ncv)
    order = np.argsort(-w, kind="stable")
    return w[order], u[:, order]


def _lobpcg(matmat, dim, x0, tol, maxiter):
    op = _Operator(matmat, dim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        w, u = sla.lobpcg(op, x0, largest=True, tol=tol, maxiter=maxiter or 500)
    order = np.argsort(-w, kind="stable")
    w, u = w[order], u[:, order]
    # LOBPCG's own convergence flag is a warning; check the residuals instead.
    res = np.linalg.norm(matmat(u) - u * w, axis=0)
    return w, u, bool(np.all(res <= 10 * tol * np.maximum(1.0, np.abs(w))))
