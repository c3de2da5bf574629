"""Leiden community detection through igraph's C implementation."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..utils._validation import check_choice, check_int, check_real
from ._base import CommunityDetector, igraph_seeded, relabel
from ._prepared import PreparedGraph
from ._resolution import ResolutionSearchMixin

__all__ = ["Leiden"]

_OBJECTIVES = {"modularity": "modularity", "cpm": "CPM"}


class Leiden(ResolutionSearchMixin, CommunityDetector):
    """Leiden community detection [1]_ with igraph.

    Runs igraph's ``Graph.community_leiden`` on the graph converted with
    :meth:`NeuronGraph.to_igraph`, always with the edge weights, seeded through a
    private Python generator (see :func:`~nngraph.partition._base.igraph_seeded`). Unlike
    igraph, whose default objective is the Constant Potts Model (one cluster per unit on
    typical weight graphs at resolution 1), the default objective here is modularity.

    Parameters
    ----------
    resolution : float, default=1.0
        Modularity resolution ``gamma`` (for ``objective="cpm"``, the CPM resolution:
        the density a cluster must exceed). With ``n_clusters``, the starting point of
        the search.
    random_state : None, int, numpy Generator or RandomState
        Seed. The same seed gives the same partition.
    n_iterations : int, default=-1
        Iterations of the Leiden algorithm; negative: until an iteration leaves the
        partition unchanged.
    beta : float, default=0.01
        Randomness of the refinement step.
    objective : {"modularity", "cpm"}, default="modularity"
        The quality function maximised.
    n_clusters : int, optional
        If given, search the resolution that gives this many clusters (see
        :func:`~nngraph.resolution_for_k`); the resolution used is ``resolution_``.
        CPM's resolution is searched relative to the power of two of the largest
        weight, down to the resolution that keeps every connected component whole:
        multiplying the weights, ``resolution`` and ``beta`` by ``2**p`` multiplies
        ``resolution_`` by ``2**p`` and leaves the partition unchanged (``beta`` is in
        units of weight too).

    Attributes
    ----------
    labels_ : ndarray of int, shape (n_nodes,)
        Cluster of each unit, ``0..n_clusters_-1`` by first appearance; ``-1`` for
        isolated units.
    n_clusters_ : int
        Number of clusters.
    modularity_ : float
        Modularity of ``labels_`` at resolution ``resolution_`` (at resolution 1 for
        ``objective="cpm"``).
    quality_ : float
        The value of the objective igraph reports.
    resolution_ : float
        The resolution used.
    resolution_history_ : list of (float, int)
        Every ``(resolution, number of clusters)`` tried.

    References
    ----------
    .. [1] V. A. Traag, L. Waltman and N. J. van Eck, "From Louvain to Leiden: guaranteeing
       well-connected communities", Scientific Reports 9, 5233, 2019.

    Examples
    --------
    >>> import nngraph as ng
    >>> from nngraph.datasets import planted_partition
    >>> a, blocks = planted_partition([8, 8, 8], 0.9, 0.05, random_state=0)
    >>> est = ng.Leiden(random_state=0).fit(a)
    >>> est.n_clusters_, bool((est.labels_ == blocks).all())    # the planted blocks
    (3, True)
    >>> round(est.modularity_, 3)
    0.562
    """

    def __init__(
        self,
        *,
        resolution: float = 1.0,
        random_state: Any = None,
        n_iterations: int = -1,
        beta: float = 0.01,
        objective: str = "modularity",
        n_clusters: int | None = None,
    ) -> None:
        self.resolution = resolution
        self.random_state = random_state
        self.n_iterations = n_iterations
        self.beta = beta
        self.objective = objective
        self.n_clusters = n_clusters

    def _check_params(self) -> None:
        self._check_resolution_params()
        check_int("n_iterations", self.n_iterations, -(2**31))
        if self.n_iterations == 0:
            raise ValueError("n_iterations must be positive, or negative for 'until stable'")
        check_real("beta", self.beta, positive=True)
        check_choice("objective", self.objective, tuple(_OBJECTIVES))

    def _partition(
        self, prep: PreparedGraph, resolution: float, seed: int
    ) -> tuple[np.ndarray, float]:
        graph = prep.igraph
        # The CPM resolution and beta are in units of weight: scaled with the weights
        # (modularity's resolution has no unit; igraph's quality does not change).
        scale = prep.igraph_scale
        with igraph_seeded(seed):
            result = graph.community_leiden(
                objective_function=_OBJECTIVES[self.objective],
                weights="weight",
                resolution=resolution * scale if self.objective == "cpm" else resolution,
                beta=float(self.beta) * scale,
                n_iterations=int(self.n_iterations),
            )
        return relabel(np.asarray(result.membership), prep.isolated), float(result.quality)

    def _resolution_unit(self, prep: PreparedGraph) -> float:
        # CPM's resolution is in units of edge weight: searched on the graph's scale
        # (PreparedGraph.weight_scale, a power of two), whatever that scale.
        return prep.weight_scale if self.objective == "cpm" else 1.0

    def _resolution_bounds(self, prep: PreparedGraph) -> tuple[float, float]:
        low, high = super()._resolution_bounds(prep)
        if self.objective != "cpm" or prep.adjacency.nnz == 0:
            return low, high
        # Below min(weight) / n**2 (in the search's unit), joining any two parts of a
        # connected component gains more weight than CPM charges for the pairs it
        # joins: the search can reach the components themselves (k = their number).
        w_min = float(prep.adjacency.data.min()) / prep.weight_scale
        floor = w_min / float(prep.kept.size) ** 2
        return max(min(low, floor), 1e-300), high

    def _set_extra(self, quality: float) -> None:
        self.quality_ = quality

    def _quality_resolution(self) -> float:
        return self.resolution_ if self.objective == "modularity" else 1.0
