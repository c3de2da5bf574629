"""One canonicaliser for every graph input, and seed handling."""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._graph import NeuronGraph

__all__ = ["check_adjacency", "as_neuron_graph", "seed_from", "NonSymmetricWarning"]


class NonSymmetricWarning(UserWarning):
    """A non-symmetric adjacency matrix was symmetrised as ``(A + A.T) / 2``."""


def check_adjacency(graph: Any, *, symmetrize: bool = True) -> sp.csr_array:
    """Return a canonical adjacency: CSR array, float64, sorted indices, no explicit zeros.

    Parameters
    ----------
    graph : NeuronGraph, scipy sparse matrix or array, or array-like
        The graph. A dense array is converted to sparse.
    symmetrize : bool, default=True
        A non-symmetric matrix is replaced by ``(A + A.T) / 2`` with a
        :class:`NonSymmetricWarning`; with ``False`` it raises ``ValueError``.

    Raises
    ------
    ValueError
        Empty, non-square, NaN/infinite or negative weights.
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
    if not a.has_canonical_format or (a.nnz and not a.data.all()):
        a = a.copy()  # the clean-up below works in place: never on the caller's arrays
        a.sum_duplicates()
        a.eliminate_zeros()
    if not isinstance(graph, NeuronGraph):
        diff = a - a.T
        scale = float(a.data.max()) if a.nnz else 1.0
        if diff.nnz and float(np.abs(diff.data).max()) > 1e-10 * scale:
            if not symmetrize:
                raise ValueError("adjacency is not symmetric")
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
    """Wrap any accepted graph input as a :class:`NeuronGraph` (one ``"custom"`` layer)."""
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


def seed_from(random_state: Any) -> int:
    """A 31-bit integer seed drawn from ``random_state`` (None, int, Generator, RandomState).

    The same int always gives the same seed; None gives a fresh one.
    """
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if random_state is None or isinstance(
        random_state, (numbers.Integral, np.random.Generator, np.random.SeedSequence)
    ):
        return int(np.random.default_rng(random_state).integers(0, 2**31 - 1))
    raise TypeError(
        f"random_state must be None, an int, a numpy Generator or RandomState, "
        f"got {type(random_state).__name__}"
    )


def check_int(name: str, value: Any, minimum: int, allow_none: bool = False) -> int | None:
    """``value`` as an int ``>= minimum`` (None passes when ``allow_none``).

    Raises
    ------
    ValueError
        Not an integer (a bool is not one), or below ``minimum``.
    """
    if value is None and allow_none:
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_real(name: str, value: Any, *, positive: bool = False) -> float:
    """A finite float (``> 0`` if ``positive``, else ``>= 0``).

    Raises
    ------
    TypeError
        Not a real number (a bool is not one).
    ValueError
        Infinite, NaN, negative, or 0 when ``positive``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (positive and value == 0):
        kind = "positive" if positive else "non-negative"
        raise ValueError(f"{name} must be a finite {kind} number, got {value}")
    return value


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of the strings ``choices``, else ``ValueError``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def canonical_labels(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0, 1, ... in order of their first unit; -1 stays -1.

    Examples
    --------
    >>> canonical_labels(np.array([5, -1, 2, 5, 2]))
    array([ 0, -1,  1,  0,  1])
    """
    out = np.full(labels.shape, -1, dtype=np.int64)
    mask = labels >= 0
    if not mask.any():
        return out
    uniq, first, inverse = np.unique(labels[mask], return_index=True, return_inverse=True)
    rank = np.empty(uniq.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(uniq.size)
    out[mask] = rank[inverse]
    return out
