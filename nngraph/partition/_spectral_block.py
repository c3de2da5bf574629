"""A block Krylov eigensolver: the operator applied to blocks of vectors, not one at a time.

ARPACK applies the operator to one vector at a time. On a weight graph the operator is a
chain of dense layer blocks (:class:`~._spectral_operators.BlockOperator`), and one
product of a block with ``b`` vectors costs little more than with one: the block is
read once from memory for all of them. :func:`block_krylov` is block Lanczos built on
that: every step applies the operator to a block of ``b`` vectors (a matrix-matrix
product per layer block), and the Rayleigh-Ritz step on the whole basis gives the
leading eigenpairs.

* **Full reorthogonalisation**: every new block is orthogonalised twice against the
  whole basis (block classical Gram-Schmidt, BLAS 3) and against the known
  eigenvectors, so the basis stays orthonormal to rounding and no spurious copies of
  converged eigenvalues appear. The basis and its image are both stored; the
  projected matrix is ``V^T (M V)``, computed from them, not from a recurrence.
* **Thick restart**: when the basis reaches its size limit, it is replaced by the
  leading Ritz vectors (and their images), and the Krylov process continues from the
  last block (Krylov-Schur), so memory stays bounded on large graphs.
* **Convergence**: ``||M u - theta u|| <= tol max(|theta|, eps^(2/3))`` for every
  wanted Ritz pair (ARPACK's criterion), from the stored images in float64; residuals
  at rounding level (``1000 eps`` times the largest Ritz value) count as converged.
* **float32 products** (option): the operator may be applied in single precision, which
  halves the memory read per product; once the single-precision residuals stop
  improving, the leading Ritz vectors are taken over by float64 products and the
  solve continues in float64 until the residual test passes, so the result meets the
  same tolerance either way.

References: G. H. Golub and R. Underwood, "The block Lanczos method for computing
eigenvalues", Mathematical Software III, 1977; G. W. Stewart, "A Krylov-Schur
algorithm for large eigenproblems", SIAM J. Matrix Anal. Appl. 23(3), 2001.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg

__all__ = ["BlockResult", "block_krylov", "block_size"]

#: Extra vectors in a block beyond the wanted eigenvectors, at least.
_MIN_EXTRA = 4
#: The basis (and its image) may take this much memory before a thick restart.
_BASIS_BYTES = 256 * 2**20
#: Smallest and largest basis size limit, in blocks.
_MIN_BLOCKS = 8
_MAX_BLOCKS = 32
#: ARPACK's floor on ``|theta|`` in the relative residual test (``eps^(2/3)``).
_EPS23 = np.finfo(float).eps ** (2 / 3)
#: Residuals below this times the largest Ritz value are rounding: converged (this
#: only matters for eigenvalues near 0, e.g. a rank-deficient bipartite graph).
_ROUNDING = 1000 * np.finfo(float).eps
#: A new basis vector shorter than this, relative to the block it came from, is
#: replaced by a random one (the Krylov space became invariant).
_BREAKDOWN = 1e-10


@dataclass
class BlockResult:
    """Leading eigenpairs found by :func:`block_krylov` and how.

    Attributes
    ----------
    eigenvalues : ndarray, shape (n_wanted,)
        Descending.
    eigenvectors : ndarray, shape (dim, n_wanted)
        Orthonormal, orthogonal to the known vectors.
    residuals : ndarray, shape (n_wanted,)
        ``||M u - theta u||`` from float64 products.
    converged : bool
        Every residual passed the test (see the module).
    n_steps : int
        Block products (of ``block`` vectors each, plus those of the float64 takeover).
    n_restarts : int
        Thick restarts.
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    residuals: np.ndarray
    converged: bool
    n_steps: int
    n_restarts: int


def block_size(n_wanted: int) -> int:
    """Vectors per block for ``n_wanted`` eigenpairs: the wanted ones and a few more.

    Examples
    --------
    >>> block_size(12), block_size(1)
    (16, 5)
    """
    return n_wanted + max(_MIN_EXTRA, n_wanted // 3)


def _orthonormalise(
    r: np.ndarray, bases: list[np.ndarray], rng: np.random.Generator, passes: int = 2
) -> np.ndarray:
    """Orthonormal columns spanning ``r`` after removing ``span(bases)`` (``passes`` times).

    Columns that vanish (the span became invariant) are replaced by random directions,
    orthogonalised the same way, so the result always has ``r.shape[1]`` columns.
    """
    scale = np.linalg.norm(r, axis=0)
    for _ in range(passes):
        for q in bases:
            if q.shape[1]:
                r -= q @ (q.T @ r)
    q_r, r_r = np.linalg.qr(r)
    small = np.abs(np.diag(r_r)) <= _BREAKDOWN * np.maximum(scale, np.finfo(float).tiny)
    if np.any(small):
        fresh = rng.standard_normal((r.shape[0], int(small.sum())))
        for _ in range(2):
            for q in [*bases, q_r[:, ~small]]:
                if q.shape[1]:
                    fresh -= q @ (q.T @ fresh)
        q_r[:, small] = np.linalg.qr(fresh)[0]
    return q_r


def _ritz(h: np.ndarray, n_top: int) -> tuple[np.ndarray, np.ndarray]:
    """Compute the ``n_top`` largest eigenpairs of the symmetric ``h``, descending."""
    m = h.shape[0]
    n_top = min(n_top, m)
    w, y = scipy.linalg.eigh(
        h, subset_by_index=[m - n_top, m - 1], driver="evr", check_finite=False
    )
    return w[::-1], y[:, ::-1]


def block_krylov(
    apply: Callable[[np.ndarray], np.ndarray],
    x0: np.ndarray,
    n_wanted: int,
    tol: float,
    *,
    known: np.ndarray | None = None,
    apply_single: Callable[[np.ndarray], np.ndarray] | None = None,
    max_steps: int = 1000,
    max_basis: int | None = None,
    norm: float | None = None,
    rng: np.random.Generator | None = None,
) -> BlockResult:
    """Leading ``n_wanted`` eigenpairs of a symmetric operator by block Lanczos.

    Parameters
    ----------
    apply : callable
        ``apply(x)`` is ``M x`` for ``x`` of shape ``(dim, b)``, in float64.
    x0 : ndarray, shape (dim, b)
        The starting block; ``b`` (at least ``n_wanted``) is the block size.
    n_wanted : int
        Number of eigenpairs.
    tol : float
        Relative residual tolerance: ``||M u - theta u|| <= tol max(|theta|, eps^(2/3))``.
    known : ndarray, shape (dim, c), optional
        Orthonormal eigenvectors to leave out (the basis is kept orthogonal to them).
    apply_single : callable, optional
        ``M x`` in single precision (returned as float64): used until its residuals
        stop improving, then the solve continues with ``apply``.
    max_steps : int, default=1000
        Block products at most.
    max_basis : int, optional
        Basis columns before a thick restart (default: about 256 MiB of basis and
        image, at least 8 blocks).
    norm : float, optional
        A bound on ``||M||`` (default: the largest Ritz value) for the rounding floor of
        the residual test.
    rng : numpy.random.Generator, optional
        Random directions after a breakdown (an invariant subspace).

    Returns
    -------
    BlockResult

    Examples
    --------
    >>> import numpy as np
    >>> m = np.diag(np.arange(100.0))
    >>> x0 = np.random.default_rng(0).standard_normal((100, 6))
    >>> res = block_krylov(lambda x: m @ x, x0, 3, 1e-10)
    >>> res.eigenvalues.round(8), res.converged
    (array([99., 98., 97.]), True)
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    dim, b = x0.shape
    known = np.empty((dim, 0)) if known is None else known
    room = dim - known.shape[1]
    if max_basis is None:
        max_basis = max(_MIN_BLOCKS * b, min(_MAX_BLOCKS * b, _BASIS_BYTES // (16 * dim)))
    # Room for a whole new block beyond the basis, orthogonal to it and to the known.
    max_basis = min(max_basis, room - b)
    if max_basis < n_wanted + 2 * b:
        raise ValueError("the problem is too small for the block solver (use a dense one)")
    # A thick restart keeps this many Ritz vectors (at least the wanted ones and a block).
    keep = max(n_wanted + b, max_basis // 2)
    single = apply_single is not None
    op = apply_single if single else apply
    solver = _Basis(dim, max_basis, known, rng)
    block = solver.orthonormalise(np.array(x0, dtype=np.float64), 0)
    n_steps = n_restarts = 0
    schedule = _Schedule(tol)
    while True:
        # 1. Apply the operator to the new block; extend V^T M V.
        w_block = op(block)
        n_steps += 1
        cross = solver.extend(block, w_block)
        full = solver.m + b > max_basis
        # 2. Rayleigh-Ritz, when due: the wanted Ritz pairs and their residuals.
        if full or n_steps >= max_steps or schedule.due(n_steps):
            w, y, u, res = solver.ritz(keep if full else n_wanted, n_wanted)
            # ARPACK's test, with a floor at rounding level for (near) zero eigenvalues.
            floor = _ROUNDING * (norm if norm is not None else float(np.max(np.abs(w))))
            rel = np.maximum(res - floor, 0.0) / np.maximum(np.abs(w[:n_wanted]), _EPS23)
            ok = bool(np.all(rel <= tol))
            stalled = schedule.record(n_steps, float(rel.max()), single)
            if single and (ok or stalled or n_steps >= max_steps):
                # Hand over to float64 products: restart on the leading Ritz vectors.
                single, op = False, apply
                solver.restart(min(b, y.shape[1]), w, y, apply)
                n_steps += 1
                n_restarts += 1
                schedule = _Schedule(tol)
                block = solver.continuation()
                continue
            if not single and (ok or n_steps >= max_steps):
                return BlockResult(w[:n_wanted], u, res, ok, n_steps, n_restarts)
        # 3. The next block: the new images, orthogonalised against everything so far
        # (the first pass with the coefficients already in hand, then once more).
        block = solver.orthonormalise(w_block - solver.basis[:, : solver.m] @ cross, b, 1)
        if full:
            # 4. Thick restart: keep the leading Ritz vectors and their images; the next
            # block, orthogonal to the old basis, is orthogonal to them too.
            n_restarts += 1
            solver.restart(min(keep, y.shape[1]), w, y)


class _Schedule:
    """When to do the Rayleigh-Ritz step (an ``O(m^3)`` eigensolve of ``V^T M V``).

    From the rate at which the worst residual fell between the last two checks, the
    next check is set at about 60% of the predicted steps to convergence: a handful of
    checks per solve instead of one per step. Deterministic (it depends only on the
    residuals). In single precision it also says when the residuals stopped improving.
    """

    def __init__(self, tol: float) -> None:
        self.tol = tol
        self.next = 2
        self.last: tuple[int, float] | None = None

    def due(self, step: int) -> bool:
        return step >= self.next

    def record(self, step: int, worst: float, single: bool) -> bool:
        """Set the next check from the residual at ``step``; True if it stalled."""
        stalled = False
        gap = 1
        if self.last is not None and worst > 0:
            last_step, last_worst = self.last
            rate = (worst / last_worst) ** (1.0 / max(step - last_step, 1))
            stalled = single and worst > 0.9 * last_worst
            if rate < 1:
                remaining = np.log(self.tol / worst) / np.log(rate)
                gap = int(np.clip(0.6 * remaining, 1, 8))
        if single:
            gap = min(gap, 2)
        self.last = (step, worst)
        self.next = step + gap
        return stalled


class _Basis:
    """The orthonormal basis ``V``, its image ``M V`` and the projection ``V^T M V``.

    Only the lower triangle of the projection is kept (what ``eigh`` reads).
    """

    def __init__(self, dim: int, size: int, known: np.ndarray, rng: np.random.Generator):
        self.basis = np.empty((dim, size))
        self.image = np.empty((dim, size))
        self.h = np.zeros((size, size))
        self.known = known
        self.rng = rng
        self.m = 0

    def extend(self, block: np.ndarray, w_block: np.ndarray) -> np.ndarray:
        """Append a block and its image; return ``V^T (M block)`` over the new basis."""
        m, nb = self.m, block.shape[1]
        self.basis[:, m : m + nb] = block
        self.image[:, m : m + nb] = w_block
        cross = self.basis[:, : m + nb].T @ w_block
        self.h[m : m + nb, :m] = cross[:m].T
        self.h[m : m + nb, m : m + nb] = (cross[m:] + cross[m:].T) / 2
        self.m = m + nb
        return cross

    def ritz(
        self, n_top: int, n_wanted: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Leading Ritz values and vectors (coefficients); the wanted vectors and residuals."""
        m = self.m
        w, y = _ritz(self.h[:m, :m], max(n_top, n_wanted))
        yw = y[:, :n_wanted]
        u = self.basis[:, :m] @ yw
        res = np.linalg.norm(self.image[:, :m] @ yw - u * w[:n_wanted], axis=0)
        return w, y, u, res

    def orthonormalise(self, r: np.ndarray, n_cols: int, passes: int = 2) -> np.ndarray:
        """Orthonormalise ``r`` against the basis and the known vectors."""
        q = _orthonormalise(r, [self.known, self.basis[:, : self.m]], self.rng, passes)
        return q[:, :n_cols] if n_cols else q

    def restart(
        self,
        k: int,
        w: np.ndarray,
        y: np.ndarray,
        apply: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        """Keep the ``k`` leading Ritz vectors (their images recomputed by ``apply``)."""
        m = self.m
        yk = y[:, :k]
        self.basis[:, :k] = self.basis[:, :m] @ yk
        if apply is None:
            self.image[:, :k] = self.image[:, :m] @ yk
            self.h[:k, :k] = np.diag(w[:k])
        else:
            u, _ = np.linalg.qr(self.basis[:, :k])
            self.basis[:, :k] = u
            self.image[:, :k] = apply(u)
            hk = u.T @ self.image[:, :k]
            self.h[:k, :k] = (hk + hk.T) / 2
        self.m = k

    def continuation(self) -> np.ndarray:
        """After a restart with new images: the residuals ``M V - V H``, orthonormalised.

        All of them, so that ``M V = V H + R`` with ``R`` in the span of the next block
        (a Krylov decomposition again: the later thick restarts rely on it).
        """
        m = self.m
        r = self.image[:, :m] - self.basis[:, :m] @ np.tril(self.h[:m, :m]).T
        r -= self.basis[:, :m] @ np.tril(self.h[:m, :m], -1)
        return self.orthonormalise(r, 0)
