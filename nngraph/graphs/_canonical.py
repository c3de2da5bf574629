"""The one canonicaliser for every graph input: a NeuronGraph, a sparse or dense matrix."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..utils._sparse import SYMMETRY_RTOL, is_symmetric
from ._neuron_graph import NeuronGraph

__all__ = ["NonSymmetricWarning", "as_neuron_graph", "check_adjacency"]


class NonSymmetricWarning(UserWarning):
    """A non-symmetric adjacency matrix was symmetrised as ``(A + A.T) / 2``."""


def check_adjacency(graph: Any, *, symmetrize: bool = True) -> sp.csr_array:
    """Return a canonical adjacency: CSR array, float64, sorted indices, no explicit zeros.

    Parameters
    ----------
    graph : NeuronGraph, scipy sparse matrix or array, or array-like
        The graph. A dense array is converted to sparse.
    symmetrize : bool, default=True
        A non-symmetric matrix (beyond :data:`nngraph.utils._sparse.SYMMETRY_RTOL`, the
        tolerance :class:`NeuronGraph` uses too) is replaced by ``(A + A.T) / 2`` with a
        :class:`NonSymmetricWarning`; with ``False`` it raises ``ValueError``. A
        NeuronGraph is symmetric by construction and is not checked again.

    Returns
    -------
    scipy.sparse.csr_array
        May share its arrays with the caller's matrix: never write to them.

    Raises
    ------
    ValueError
        Empty, non-square, NaN/infinite or negative weights.
    TypeError
        Not a matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from nngraph.datasets import two_cliques
    >>> a, _ = two_cliques(3)
    >>> check_adjacency(a.toarray()).nnz == a.nnz
    True
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", NonSymmetricWarning)
    ...     check_adjacency(np.array([[0, 1.0], [3.0, 0]])).toarray()
    array([[0., 2.],
           [2., 0.]])
    """
    if isinstance(graph, NeuronGraph):
        a = graph.adjacency
    elif sp.issparse(graph):
        a = graph
    else:
        arr = np.asarray(graph)
        if arr.dtype == object:
            raise TypeError(
                f"expected a NeuronGraph, a scipy sparse matrix or a numeric array, "
                f"got {type(graph).__name__}"
            )
        if arr.ndim != 2:
            raise ValueError(f"adjacency must be a 2-D square matrix, got shape {arr.shape}")
        a = arr
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"adjacency must be square, got shape {a.shape}")
    if a.shape[0] == 0:
        raise ValueError("the graph is empty (0 nodes)")
    if np.dtype(a.dtype).kind == "c":
        raise ValueError("adjacency holds complex numbers; edge weights are real")
    a = sp.csr_array(a, dtype=np.float64)  # may share its arrays with the caller's matrix
    if not np.all(np.isfinite(a.data)):
        bad = int(np.flatnonzero(~np.isfinite(a.data))[0])
        row = int(np.searchsorted(a.indptr, bad, side="right") - 1)
        raise ValueError(f"adjacency has a NaN or infinite weight (first at row {row})")
    if a.nnz and a.data.min() < 0:
        bad = int(np.argmin(a.data))
        row = int(np.searchsorted(a.indptr, bad, side="right") - 1)
        raise ValueError(
            f"adjacency has negative weights (min {a.data[bad]:.4g} at row {row}, "
            f"column {a.indices[bad]}); edge weights must be >= 0"
        )
    # A NeuronGraph's matrix is canonical by construction (and symmetric, below). Any
    # other matrix is checked on the new wrapper, not on the caller's object, where
    # scipy would reuse a cached answer that edits in place since then make stale.
    if not isinstance(graph, NeuronGraph) and (
        not a.has_canonical_format or (a.nnz and not a.data.all())
    ):
        a = a.copy()  # the clean-up below works in place: never on the caller's arrays
        a.sum_duplicates()
        a.eliminate_zeros()
    if not isinstance(graph, NeuronGraph):
        if not is_symmetric(a):
            if not symmetrize:
                raise ValueError(
                    "adjacency is not symmetric (beyond a relative tolerance of "
                    f"{SYMMETRY_RTOL:g}); pass symmetrize=True to use (A + A.T) / 2"
                )
            warnings.warn(
                "adjacency is not symmetric; using (A + A.T) / 2",
                NonSymmetricWarning,
                stacklevel=3,
            )
            a = sp.csr_array((a + a.T) * 0.5)
            a.eliminate_zeros()
            a.sort_indices()
    return a


def as_neuron_graph(graph: Any, *, symmetrize: bool = True) -> NeuronGraph:
    """Wrap any accepted graph input as a :class:`NeuronGraph`.

    Parameters
    ----------
    graph : NeuronGraph, scipy sparse matrix or array, or array-like
        Returned as is when already a NeuronGraph; otherwise checked by
        :func:`check_adjacency`.
    symmetrize : bool, default=True
        See :func:`check_adjacency`.

    Returns
    -------
    NeuronGraph
        A matrix becomes one layer named ``"nodes"`` of kind ``"custom"``.

    Examples
    --------
    >>> from nngraph.datasets import two_cliques
    >>> a, _ = two_cliques(3)
    >>> g = as_neuron_graph(a)
    >>> g.layer_names, g.kind, g.n_nodes
    (['nodes'], 'custom', 6)
    """
    if isinstance(graph, NeuronGraph):
        return graph
    a = check_adjacency(graph, symmetrize=symmetrize)
    n = a.shape[0]
    return NeuronGraph(
        a,
        ["nodes"],
        np.zeros(n, dtype=np.int64),
        np.arange(n),
        kind="custom",
        validate=False,
    )
