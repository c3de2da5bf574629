"""The conventions every stage shares for sparse matrices: kernel dtypes and symmetry.

* Numba kernels take CSR as ``(indptr int64, indices int32, data float64)``:
  :func:`kernel_csr_arrays` is the one place that pins those dtypes.
* A matrix is symmetric when ``max |A - A.T|`` is at most :data:`SYMMETRY_RTOL` times its
  largest ``|entry|`` (:func:`is_symmetric`): the one tolerance for graphs nngraph
  builds and for matrices users pass in.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["SYMMETRY_RTOL", "is_symmetric", "kernel_csr_arrays"]

SYMMETRY_RTOL = 1e-10
"""Relative tolerance of :func:`is_symmetric` (rounding of ``(A + A.T) / 2`` and of
float32 weights widened to float64 stays far below it)."""


def kernel_csr_arrays(a: sp.csr_array | sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(indptr, indices, data)`` of a CSR matrix as contiguous int64, int32, float64.

    Parameters
    ----------
    a : scipy.sparse.csr_array or csr_matrix
        The matrix.

    Returns
    -------
    indptr : ndarray of int64
    indices : ndarray of int32
    data : ndarray of float64
        Views of ``a``'s own arrays when they already have those dtypes (so never write
        to them), copies otherwise.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> indptr, indices, data = kernel_csr_arrays(sp.csr_array([[0, 2], [2, 0]]))
    >>> indptr.dtype, indices.dtype, data.dtype
    (dtype('int64'), dtype('int32'), dtype('float64'))
    """
    return (
        np.ascontiguousarray(a.indptr, dtype=np.int64),
        np.ascontiguousarray(a.indices, dtype=np.int32),
        np.ascontiguousarray(a.data, dtype=np.float64),
    )


def is_symmetric(a: sp.csr_array | sp.csr_matrix, rtol: float = SYMMETRY_RTOL) -> bool:
    """Whether ``max |A - A.T| <= rtol * max |A|``.

    Purely relative, so multiplying a matrix by a constant never changes the answer (an
    absolute floor would let a matrix of tiny weights be arbitrarily asymmetric).

    Parameters
    ----------
    a : scipy.sparse.csr_array or csr_matrix
        A square matrix.
    rtol : float, default=SYMMETRY_RTOL
        The relative tolerance.

    Returns
    -------
    bool

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> is_symmetric(sp.csr_array([[0, 1.0], [1.0 + 1e-14, 0]]))
    True
    >>> is_symmetric(sp.csr_array([[0, 1e-12], [0, 0]]))
    False
    """
    diff = a - a.T
    if not diff.nnz:
        return True
    scale = float(np.abs(a.data).max()) if a.nnz else 0.0
    return float(np.abs(diff.data).max()) <= rtol * scale
