"""Weighted label propagation, seeded, in numba."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..utils._kernels import rng_state
from ..utils._validation import check_int
from ._base import CommunityDetector, relabel
from ._label_propagation_kernels import label_propagation as _lpa_kernel
from ._prepared import PreparedGraph

__all__ = ["LabelPropagation"]


class LabelPropagation(CommunityDetector):
    """Community detection by asynchronous, weighted label propagation [1]_.

    Every unit starts in its own cluster. In each sweep the units, visited in a random
    order drawn from the seed, take the label carrying the largest total edge weight
    among their neighbours (a unit keeps its label when it is one of the largest; other
    ties are broken at random from the seed; self-loops do not vote). It stops after a
    sweep that changes nothing (every unit then holds a label of maximal weight among
    its neighbours) or after ``max_iter`` sweeps. Fast, but on dense, weakly structured
    graphs (such as the weight graphs of MLPs, trained or not) it often ends with one
    giant cluster.

    Parameters
    ----------
    random_state : None, int, numpy Generator or RandomState
        Seed of the visiting orders and tie breaks. The same seed gives the same
        partition.
    max_iter : int, default=100
        Most sweeps; a :class:`~sklearn.exceptions.ConvergenceWarning` is raised when
        the last one still changed labels.

    Attributes
    ----------
    labels_ : ndarray of int, shape (n_nodes,)
        Cluster of each unit, ``0..n_clusters_-1`` by first appearance; ``-1`` for
        isolated units.
    n_clusters_ : int
        Number of clusters.
    modularity_ : float
        Modularity of ``labels_`` (resolution 1).
    n_iter_ : int
        Sweeps done.
    converged_ : bool
        Whether the last sweep changed nothing.

    References
    ----------
    .. [1] U. N. Raghavan, R. Albert and S. Kumara, "Near linear time algorithm to detect
       community structures in large-scale networks", Physical Review E 76, 036106, 2007.

    Examples
    --------
    >>> import nngraph as ng
    >>> from nngraph.datasets import two_cliques
    >>> a, cliques = two_cliques(5)          # two 5-cliques joined by one light edge
    >>> ng.LabelPropagation(random_state=0).fit_predict(a)
    array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    """

    def __init__(self, *, random_state: Any = None, max_iter: int = 100) -> None:
        self.random_state = random_state
        self.max_iter = max_iter

    def _check_params(self) -> None:
        check_int("max_iter", self.max_iter, 1)

    def _fit_prepared(self, prep: PreparedGraph, seed: int) -> np.ndarray:
        indptr, indices, data = prep.csr
        raw, n_iter, converged = _lpa_kernel(
            indptr, indices, data, int(self.max_iter), rng_state(seed)
        )
        self.n_iter_ = int(n_iter)
        self.converged_ = bool(converged)
        if not converged:
            warnings.warn(
                f"label propagation still changed labels after max_iter={self.max_iter} "
                "sweeps; increase max_iter",
                ConvergenceWarning,
                stacklevel=3,
            )
        return relabel(raw, prep.isolated)
