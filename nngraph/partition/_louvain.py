"""Louvain modularity maximisation: numba kernels on the CSR arrays, or igraph."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..utils._kernels import rng_state
from ..utils._validation import check_bool, check_choice, check_int, check_real
from ._base import CommunityDetector, igraph_seeded, relabel
from ._louvain_kernels import louvain as _louvain_kernel
from ._prepared import PreparedGraph
from ._resolution import ResolutionSearchMixin

__all__ = ["Louvain"]


def louvain_levels(
    prep: PreparedGraph,
    resolution: float,
    seed: int,
    *,
    tol: float = 1e-7,
    max_levels: int | None = None,
    backend: str = "numba",
) -> list[np.ndarray]:
    """Every level of one Louvain run, finest first, labels relabelled (``-1`` isolated).

    Parameters
    ----------
    prep : PreparedGraph
        The canonical graph (with at least one edge).
    resolution : float
        Modularity resolution ``gamma``.
    seed : int
        Seed of the node visiting order.
    tol : float, default=1e-7
        Local moving stops after a pass that gains at most ``tol`` modularity (numba).
    max_levels : int, optional
        Keep at most this many levels.
    backend : {"numba", "igraph"}
        Our kernels on the CSR arrays, or igraph's ``community_multilevel``.
    """
    if backend == "numba":
        indptr, indices, data = prep.csr
        state = rng_state(seed)
        rows = _louvain_kernel(indptr, indices, data, resolution, tol, max_levels or 0, state)
        return [relabel(row, prep.isolated) for row in rows]
    graph = prep.igraph
    with igraph_seeded(seed):
        result = graph.community_multilevel(
            weights="weight", resolution=resolution, return_levels=True
        )
    if not result:  # igraph returns no level when nothing moves
        return [relabel(np.arange(prep.n_nodes), prep.isolated)]
    levels = [relabel(np.asarray(c.membership), prep.isolated) for c in result]
    return levels[:max_levels] if max_levels else levels


class Louvain(ResolutionSearchMixin, CommunityDetector):
    """Louvain community detection [1]_: multilevel greedy modularity [2]_ maximisation.

    Each level moves units one at a time, in a random order drawn from the seed, to the
    neighbouring community with the largest modularity gain (with resolution ``gamma``,
    the gain of moving unit ``i`` into community ``C`` is
    ``[k_i,in(C) - gamma * k_i * tot(C) / 2m] / m``, compared with putting it back in
    its own community), until a pass over all units gains at most ``tol``; the
    communities then become the units of a coarser graph (their internal weight a
    self-loop) and the next level starts. It stops when a level moves nothing. A pass
    skips the units whose community provably still wins (a bound on how much the moves
    since their last evaluation can have changed the scores): the partitions are those
    of full passes, for a fraction of the work once few units move.

    Parameters
    ----------
    resolution : float, default=1.0
        ``gamma`` in ``Q = sum_c [in_c / 2m - gamma * (tot_c / 2m)^2]``: higher gives
        more, smaller clusters. With ``n_clusters``, the starting point of the search.
    random_state : None, int, numpy Generator or RandomState
        Seed of the visiting order. The same seed gives the same partition.
    max_levels : int, optional
        Stop after this many levels (default: until a level moves nothing).
    tol : float, default=1e-7
        A level's local moving stops after a pass that gains at most ``tol`` modularity.
        The igraph backend uses its own criterion.
    backend : {"numba", "igraph"}, default="numba"
        ``"numba"``: nngraph's kernels on the CSR arrays (no conversion);
        ``"igraph"``: igraph's ``community_multilevel``, for reference.
    return_levels : bool, default=False
        Also keep every level's partition in ``levels_``.
    n_clusters : int, optional
        If given, search the resolution that gives this many clusters (see
        :func:`~nngraph.resolution_for_k`); the resolution used is ``resolution_``.

    Attributes
    ----------
    labels_ : ndarray of int, shape (n_nodes,)
        Cluster of each unit, ``0..n_clusters_-1`` by first appearance; ``-1`` for
        isolated units (no edges).
    n_clusters_ : int
        Number of clusters.
    modularity_ : float
        Modularity of ``labels_`` at resolution ``resolution_`` (the objective that was
        maximised; ``nngraph.modularity(graph, labels_)`` gives it at resolution 1).
    resolution_ : float
        The resolution used.
    resolution_history_ : list of (float, int)
        Every ``(resolution, number of clusters)`` tried (one entry without
        ``n_clusters``).
    levels_ : list of ndarray or None
        With ``return_levels=True``: the partition after each level, finest first (the
        last is ``labels_``); otherwise None.
    n_levels_ : int
        Number of levels.

    References
    ----------
    .. [1] V. D. Blondel, J.-L. Guillaume, R. Lambiotte and E. Lefebvre, "Fast unfolding of
       communities in large networks", Journal of Statistical Mechanics, P10008, 2008.
    .. [2] M. E. J. Newman, "Modularity and community structure in networks", Proceedings of
       the National Academy of Sciences 103(23), 2006.

    Examples
    --------
    >>> import nngraph as ng
    >>> from nngraph.datasets import layered_graph
    >>> graph, modules = layered_graph()     # 4 planted modules across 4 layers
    >>> est = ng.Louvain(random_state=0).fit(graph)
    >>> est.n_clusters_, round(est.modularity_, 3)
    (4, 0.621)
    >>> ng.compare_partitions(est.labels_, modules, "ari")    # the planted modules
    1.0
    """

    def __init__(
        self,
        *,
        resolution: float = 1.0,
        random_state: Any = None,
        max_levels: int | None = None,
        tol: float = 1e-7,
        backend: str = "numba",
        return_levels: bool = False,
        n_clusters: int | None = None,
    ) -> None:
        self.resolution = resolution
        self.random_state = random_state
        self.max_levels = max_levels
        self.tol = tol
        self.backend = backend
        self.return_levels = return_levels
        self.n_clusters = n_clusters

    def _check_params(self) -> None:
        self._check_resolution_params()
        check_int("max_levels", self.max_levels, 1, allow_none=True)
        check_real("tol", self.tol)
        check_choice("backend", self.backend, ("numba", "igraph"))
        check_bool("return_levels", self.return_levels)

    def _partition(
        self, prep: PreparedGraph, resolution: float, seed: int
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        levels = louvain_levels(
            prep,
            resolution,
            seed,
            tol=float(self.tol),
            max_levels=self.max_levels,
            backend=self.backend,
        )
        return levels[-1], levels

    def _set_extra(self, levels: list[np.ndarray]) -> None:
        self.n_levels_ = len(levels)
        self.levels_ = list(levels) if self.return_levels else None
