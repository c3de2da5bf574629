"""Streaming correlation statistics over batches of examples (for the activation graph).

:class:`CorrelationAccumulator` keeps, in float64, the running mean of every feature
and the matrix of co-moments ``M = sum_t (x_t - mean)(x_t - mean)^T`` (or only its
diagonal). Batches are merged with the pairwise update of Chan, Golub and LeVeque: a
batch is centred on its own mean, its co-moments are added, and the shift between the
two means enters as one extra rank-one term. No sum of raw values is ever formed, so
the result does not lose digits when the features carry a large offset (values around
``1e6`` with unit spread are as accurate as values around 0), and it does not depend on
how the examples are cut into batches beyond rounding.

The co-moment update is one symmetric rank-k product (BLAS ``dsyrk``, half the work of
a general matrix product) per chunk of rows; small batches are buffered into chunks of
a few hundred rows first so that BLAS runs at full speed whatever the batch size.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.linalg import blas
from scipy.stats import rankdata

__all__ = ["ChunkedRows", "CorrelationAccumulator", "DEAD_RTOL", "rank_columns"]

#: Default ``dead_rtol``: a feature is *dead* (constant) when its standard deviation is
#: at most this times the absolute value of its mean (or exactly zero). It absorbs the
#: rounding of the mean of a constant float64 column.
DEAD_RTOL = 1e-12

# Rows per co-moment chunk: enough for BLAS to run near peak, few enough that the chunk
# (chunk_rows x n_features float64) stays small next to the n^2 matrix.
_CHUNK_BYTES = 32 * 2**20
_MIN_CHUNK, _MAX_CHUNK = 128, 1024


class ChunkedRows:
    """Buffers small batches into chunks of at least ``_chunk_rows`` rows for ``_merge``.

    A rank-k update runs near the speed of the hardware only for k in the hundreds, so
    the accumulators (:class:`CorrelationAccumulator` and its device twin) merge chunks,
    not batches. Subclasses set ``_chunk_rows`` and define ``_merge(rows)``, ``_copy`` and
    ``_concatenate`` for their array type.
    """

    _chunk_rows: int
    _buffer: list[Any]
    _buffered: int

    def _add_rows(self, x: Any, *, owned: bool) -> None:
        """Merge ``x`` now (a big batch) or buffer it (a copy unless ``owned``)."""
        if not self._buffer and x.shape[0] >= self._chunk_rows:
            self._merge(x)
            return
        self._buffer.append(x if owned else self._copy(x))
        self._buffered += x.shape[0]
        if self._buffered >= self._chunk_rows:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            x = self._buffer[0] if len(self._buffer) == 1 else self._concatenate(self._buffer)
            self._buffer, self._buffered = [], 0
            self._merge(x)

    def _merge(self, x: Any) -> None:  # pragma: no cover - defined by every subclass
        raise NotImplementedError

    @staticmethod
    def _copy(x: Any) -> Any:
        return x.copy()

    @staticmethod
    def _concatenate(chunks: list[Any]) -> Any:
        return np.concatenate(chunks)


class CorrelationAccumulator(ChunkedRows):
    """Pearson correlation between features, accumulated over batches in one pass.

    Parameters
    ----------
    n_features : int
        Number of features (columns of every batch).
    cross : bool, default=True
        Keep the full ``n_features x n_features`` co-moment matrix (needed for
        :meth:`covariance` and :meth:`correlation`). With ``False`` only each feature's
        mean and variance are kept (O(n_features) memory).
    dead_rtol : float, default=1e-12
        A feature is dead (constant) when its standard deviation is zero or at most
        ``dead_rtol`` times the absolute value of its mean. Data computed in float32
        carry rounding noise of about ``1e-7`` relative (a matrix product may round the
        same input differently in different rows): pass ``2 * numpy.finfo(numpy.float32)
        .eps`` to treat such noise as constant.

    Notes
    -----
    Memory: ``8 * n_features**2`` bytes for the co-moment matrix when ``cross=True``,
    plus a row buffer of at most 32 MiB. Rows are merged in chunks; the result differs
    between chunkings only by floating-point rounding (about ``1e-15`` relative).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(100, 3)) + 1e6
    >>> acc = CorrelationAccumulator(3)
    >>> for batch in np.array_split(x, 7):
    ...     acc.update(batch)
    >>> bool(np.allclose(acc.correlation(), np.corrcoef(x, rowvar=False), atol=1e-12))
    True
    >>> acc.n_samples, acc.dead.tolist()
    (100, [False, False, False])
    """

    def __init__(
        self, n_features: int, *, cross: bool = True, dead_rtol: float = DEAD_RTOL
    ) -> None:
        n = int(n_features)
        if n < 1:
            raise ValueError(f"n_features must be >= 1, got {n_features}")
        if not 0 <= dead_rtol < 1:
            raise ValueError(f"dead_rtol must be in [0, 1), got {dead_rtol}")
        self.dead_rtol = float(dead_rtol)
        self.n_features = n
        self.cross = bool(cross)
        self._n = 0  # rows merged into the statistics (buffered rows excluded)
        self._mean = np.zeros(n)
        # Co-moments: upper triangle of a Fortran-ordered matrix (BLAS's layout), or
        # only the diagonal.
        self._m2 = np.zeros((n, n), order="F") if self.cross else np.zeros(n)
        self._chunk_rows = int(min(_MAX_CHUNK, max(_MIN_CHUNK, _CHUNK_BYTES // (8 * n))))
        self._buffer: list[np.ndarray] = []
        self._buffered = 0
        self._finalized = False

    @classmethod
    def from_moments(
        cls, n_samples: int, mean: np.ndarray, m2: np.ndarray, *, dead_rtol: float = DEAD_RTOL
    ) -> CorrelationAccumulator:
        """Build an accumulator from statistics gathered elsewhere (e.g. on a GPU).

        Parameters
        ----------
        n_samples : int
            Rows the statistics cover.
        mean : ndarray of float64, shape (n_features,)
            Mean of every feature.
        m2 : ndarray of float64, shape (n_features, n_features)
            Co-moments ``sum_t (x_t - mean)(x_t - mean)^T``; only the upper triangle is
            read. Used as is (not copied) when it is a Fortran-ordered float64 array.
        dead_rtol : float, default=1e-12
            As for the constructor.

        Returns
        -------
        CorrelationAccumulator
            With ``cross=True``; further batches may be added.
        """
        mean = np.asarray(mean, dtype=np.float64)
        acc = cls(mean.size, dead_rtol=dead_rtol)
        if m2.shape != (mean.size, mean.size):
            raise ValueError(f"m2 must have shape {(mean.size, mean.size)}, got {m2.shape}")
        acc._n = int(n_samples)
        acc._mean = mean.copy()
        acc._m2 = np.asfortranarray(m2, dtype=np.float64)
        return acc

    # ------------------------------------------------------------------ updates
    def update(self, batch: Any) -> None:
        """Add a batch of rows (examples), shape ``(n_rows, n_features)``.

        Raises
        ------
        ValueError
            Wrong shape, NaN or infinite values, or the accumulator was finalised by
            ``correlation(overwrite=True)``.
        """
        if self._finalized:
            raise ValueError("this accumulator was finalised by correlation(overwrite=True)")
        x = np.asarray(batch, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"a batch must have shape (n_rows, {self.n_features}), got {x.shape}")
        if x.shape[0] == 0:
            return
        if not np.all(np.isfinite(x)):
            raise ValueError("a batch contains NaN or infinite values")
        if not self.cross:
            self._merge(x)
            return
        self._add_rows(x, owned=x is not batch)

    def _merge(self, x: np.ndarray) -> None:
        """Chan et al.'s pairwise merge of the statistics of ``x`` into the running ones."""
        b = x.shape[0]
        n_a = self._n
        total = n_a + b
        mean_b = x.mean(axis=0)
        delta = mean_b - self._mean
        if self.cross:
            # Centred rows plus one row carrying the shift between the two means:
            # M += Xc^T Xc + (n_a b / total) delta delta^T, in one syrk call.
            a = np.empty((b + 1, self.n_features))
            np.subtract(x, mean_b, out=a[:b])
            np.multiply(delta, math.sqrt(n_a * b / total), out=a[b])
            m2 = blas.dsyrk(1.0, a.T, beta=1.0, c=self._m2, trans=0, lower=0, overwrite_c=1)
            if m2 is not self._m2:  # pragma: no cover - BLAS wrapper made a copy
                self._m2 = np.asfortranarray(m2)
        else:
            xc = x - mean_b
            self._m2 += np.einsum("ij,ij->j", xc, xc) + delta * delta * (n_a * b / total)
        self._mean += delta * (b / total)
        self._n = total

    # ------------------------------------------------------------------ results
    @property
    def n_samples(self) -> int:
        """Number of rows seen so far."""
        return self._n + self._buffered

    @property
    def mean(self) -> np.ndarray:
        """Mean of every feature."""
        self._flush()
        return self._mean.copy()

    def _diag(self) -> np.ndarray:
        self._flush()
        return np.diagonal(self._m2).copy() if self.cross else self._m2.copy()

    def variance(self, ddof: int = 0) -> np.ndarray:
        """Variance of every feature (``ddof=0``: population variance)."""
        self._require(ddof + 1)
        return np.maximum(self._diag(), 0.0) / (self.n_samples - ddof)

    @property
    def dead(self) -> np.ndarray:
        """Boolean mask of constant features (zero variance, see ``dead_rtol``)."""
        self._require(1)
        std = np.sqrt(np.maximum(self._diag(), 0.0) / self.n_samples)
        return (std == 0) | (std <= self.dead_rtol * np.abs(self._mean))

    def covariance(self, ddof: int = 1) -> np.ndarray:
        """Compute the full covariance matrix (a new C-ordered array)."""
        self._require_cross()
        self._require(ddof + 1)
        self._flush()
        cov = np.array(self._m2.T, order="C")  # lower triangle valid
        _mirror_lower(cov)
        cov /= self.n_samples - ddof
        return cov

    def correlation(self, *, overwrite: bool = False, dead: Any = None) -> np.ndarray:
        """Compute the Pearson correlation matrix, shape ``(n_features, n_features)``, C-ordered.

        Rows and columns of dead features are 0 (not NaN); the diagonal is 1 for the
        other features. Values are clipped to ``[-1, 1]``; the matrix is exactly
        symmetric.

        Parameters
        ----------
        overwrite : bool, default=False
            Compute the matrix in the accumulator's own memory (no second
            ``n_features**2`` array). The accumulator cannot be used afterwards.
        dead : array of bool, shape (n_features,), optional
            Further features to treat as dead (e.g. by a criterion that knows more about
            the data's rounding than ``dead_rtol``).
        """
        self._require_cross()
        self._require(2)
        self._flush()
        is_dead = self.dead
        if dead is not None:
            is_dead |= np.asarray(dead, dtype=bool)
        diag = np.diagonal(self._m2).copy()
        scale = np.zeros(self.n_features)
        live = ~is_dead
        scale[live] = 1.0 / np.sqrt(diag[live])
        corr = self._m2.T if overwrite else np.array(self._m2.T, order="C")
        if overwrite:
            self._finalized = True
            self._m2 = np.zeros(0)
        # corr is C-ordered with its lower triangle valid; scale every row, then every
        # column (in place, blockwise: no n^2 temporary), then mirror.
        corr *= scale[:, None]
        corr *= scale[None, :]
        _mirror_lower(corr)
        np.clip(corr, -1.0, 1.0, out=corr)
        corr.flat[:: self.n_features + 1] = live.astype(np.float64)
        return corr

    def _require(self, n: int) -> None:
        self._flush()
        if self.n_samples < n:
            raise ValueError(f"need at least {n} samples, got {self.n_samples}")

    def _require_cross(self) -> None:
        if not self.cross:
            raise ValueError("this accumulator keeps no cross moments (cross=False)")
        if self._finalized:
            raise ValueError("this accumulator was finalised by correlation(overwrite=True)")


def _mirror_lower(a: np.ndarray, block: int = 512) -> None:
    """Copy the strictly lower triangle of the square C-ordered ``a`` onto its upper one."""
    n = a.shape[0]
    for r0 in range(0, n, block):
        r1 = min(n, r0 + block)
        d = a[r0:r1, r0:r1]
        iu = np.triu_indices(r1 - r0, 1)
        d[iu] = d.T[iu]
        if r1 < n:
            a[r0:r1, r1:] = a[r1:, r0:r1].T


def rank_columns(x: np.ndarray, block_bytes: int = 64 * 2**20) -> np.ndarray:
    """Replace every column of the 2-D float64 array ``x`` by its ranks, in place.

    Ties get their average rank (as :func:`scipy.stats.spearmanr`). Columns are ranked
    in blocks, so the extra memory is bounded by ``block_bytes``.

    Parameters
    ----------
    x : ndarray of float64, shape (n_rows, n_cols)
        Overwritten with the ranks (1 to ``n_rows``).
    block_bytes : int, default=64 MiB
        Memory for one block of ranked columns.

    Returns
    -------
    ndarray
        ``x`` itself.

    Examples
    --------
    >>> import numpy as np
    >>> rank_columns(np.array([[3.0, 1.0], [1.0, 1.0], [2.0, 5.0]]))
    array([[3. , 1.5],
           [1. , 1.5],
           [2. , 3. ]])
    """
    n_rows, n_cols = x.shape
    step = max(1, block_bytes // max(1, 16 * n_rows))
    for c0 in range(0, n_cols, step):
        x[:, c0 : c0 + step] = rankdata(x[:, c0 : c0 + step], axis=0)
    return x
