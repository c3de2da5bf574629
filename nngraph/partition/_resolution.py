"""Choosing a modularity resolution that gives a target number of clusters.

Louvain and Leiden do not take a number of clusters; their ``resolution`` (``gamma``)
sets how many they find, roughly monotonically: ``gamma -> 0`` merges every connected
component into one cluster, large ``gamma`` leaves every unit alone. To compare them
with a ``k``-cluster spectral partition at equal ``k``, :func:`resolution_for_k`
brackets ``k`` on a log scale and bisects, keeping the run that came closest. The
count is only roughly monotone (and a step of ``gamma`` can skip ``k`` altogether), so
when no resolution gives exactly ``k`` it says so with a :class:`ResolutionWarning`
and returns the closest ``k`` it found.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from sklearn.base import clone

from ..utils._validation import check_int, check_real
from ._base import n_clusters_of
from ._prepared import PreparedGraph

__all__ = ["ResolutionResult", "ResolutionWarning", "resolution_for_k", "search_resolution"]

_MIN_RESOLUTION = 1e-6
_MAX_RESOLUTION = 1e6
_EXPAND = 4.0


class ResolutionWarning(UserWarning):
    """No resolution tried gave exactly the requested number of clusters."""


class ResolutionResult(NamedTuple):
    """What :func:`resolution_for_k` found.

    Attributes
    ----------
    resolution : float
        The resolution of the returned partition.
    n_clusters : int
        Its number of clusters (the requested ``k`` when reachable; otherwise the
        closest found).
    labels : ndarray of int, shape (n_nodes,)
        The partition (``-1`` for isolated units).
    """

    resolution: float
    n_clusters: int
    labels: np.ndarray


def search_resolution(
    partition: Callable[[float], tuple[np.ndarray, Any]],
    k: int,
    *,
    start: float = 1.0,
    max_evals: int = 40,
    rtol: float = 1e-4,
    k_range: tuple[int, int] | None = None,
    bounds: tuple[float, float] = (_MIN_RESOLUTION, _MAX_RESOLUTION),
) -> tuple[float, np.ndarray, Any, list[tuple[float, int]]]:
    """Find a resolution whose partition has ``k`` clusters, or the closest one tried.

    Parameters
    ----------
    partition : callable
        ``partition(resolution) -> (labels, extra)``; labels numbered ``0..`` with ``-1``
        for units left out. It should be deterministic (a fixed seed) so that the
        search is reproducible.
    k : int
        Target number of clusters.
    start : float, default=1.0
        First resolution tried.
    max_evals : int, default=40
        Most calls of ``partition``.
    rtol : float, default=1e-4
        Stop bisecting when the bracket ``[lo, hi]`` has ``hi / lo < 1 + rtol``.
    k_range : (int, int), optional
        The fewest and most clusters possible (connected components, non-isolated
        units): the bracketing stops once it reaches either.
    bounds : (float, float), default=(1e-6, 1e6)
        The lowest and highest resolutions the bracketing tries.

    Returns
    -------
    resolution, labels, extra, history
        The best run (exactly ``k`` clusters, or the smallest ``|k_found - k|``, earliest
        first) and every ``(resolution, n_clusters)`` tried, in order.
    """
    history: list[tuple[float, int]] = []
    best: tuple[int, float, np.ndarray, Any] | None = None

    def count(resolution: float) -> int:
        nonlocal best
        labels, extra = partition(resolution)
        found = n_clusters_of(labels)
        history.append((resolution, found))
        if best is None or abs(found - k) < best[0]:
            best = (abs(found - k), resolution, labels, extra)
        return found

    def done() -> bool:
        return best is not None and best[0] == 0 or len(history) >= max_evals

    k_min, k_max = k_range if k_range is not None else (1, np.iinfo(np.int64).max)
    floor, ceiling = bounds
    lo = hi = None
    gamma = float(start)
    found = count(gamma)
    # Bracket k: lo gives fewer clusters than k, hi more.
    if found < k:
        lo = gamma
        while not done() and gamma < ceiling and found < k_max:
            gamma = min(gamma * _EXPAND, ceiling)
            found = count(gamma)
            if found < k:
                lo = gamma
            elif found > k:
                hi = gamma
                break
    elif found > k:
        hi = gamma
        while not done() and gamma > floor and found > k_min:
            gamma = max(gamma / _EXPAND, floor)
            found = count(gamma)
            if found > k:
                hi = gamma
            elif found < k:
                lo = gamma
                break
    # Bisect on log(gamma).
    if lo is not None and hi is not None:
        while not done() and hi / lo > 1.0 + rtol:
            gamma = math.sqrt(lo * hi)
            found = count(gamma)
            if found < k:
                lo = gamma
            elif found > k:
                hi = gamma
    assert best is not None
    return best[1], best[2], best[3], history


class ResolutionSearchMixin:
    """Gives Louvain and Leiden their ``n_clusters`` option and ``resolution_``.

    The class must define ``_partition(prep, resolution, seed) -> (labels, extra)`` and
    ``_set_extra(extra)``, and have the parameters ``resolution`` and ``n_clusters``.
    A resolution in units of edge weight (Leiden's CPM) overrides
    :meth:`_resolution_unit`, so that the search runs on the graph's own scale.
    """

    resolution: float
    n_clusters: int | None

    def _check_resolution_params(self) -> None:
        check_real("resolution", self.resolution, positive=True)
        check_int("n_clusters", self.n_clusters, 1, allow_none=True)

    def _fit_prepared(self, prep: PreparedGraph, seed: int) -> np.ndarray:
        if self.n_clusters is None:
            resolution = float(self.resolution)
            labels, extra = self._partition(prep, resolution, seed)
            self.resolution_history_ = [(resolution, n_clusters_of(labels))]
        else:
            k = int(self.n_clusters)
            k_range = (prep.n_components, int(prep.kept.size))
            if not k_range[0] <= k <= k_range[1]:
                warnings.warn(
                    f"n_clusters={k} is outside the reachable range: {k_range[0]} connected "
                    f"component(s), {k_range[1]} non-isolated units; the search returns "
                    "the closest number it finds",
                    ResolutionWarning,
                    stacklevel=3,
                )
            # The search runs on resolution / unit: 1 for modularity's resolution, which
            # has no unit; the weight scale for a resolution in units of weight.
            unit = self._resolution_unit(prep)
            bounds = self._resolution_bounds(prep)
            start = float(self.resolution) / unit
            if unit != 1.0:
                start = min(max(start, bounds[0]), bounds[1])
            resolution, labels, extra, history = search_resolution(
                lambda r: self._partition(prep, r * unit, seed),
                k,
                start=start,
                k_range=k_range,
                bounds=bounds,
            )
            resolution *= unit
            history = [(r * unit, c) for r, c in history]
            self.resolution_history_ = history
            found = n_clusters_of(labels)
            if found != k:
                tried = ", ".join(f"{r:.4g}->{c}" for r, c in history)
                warnings.warn(
                    f"{type(self).__name__}: no resolution gave {k} clusters; returning "
                    f"the closest, {found} clusters at resolution {resolution:.6g} "
                    f"(tried resolution->clusters: {tried})",
                    ResolutionWarning,
                    stacklevel=3,
                )
        self.resolution_ = resolution
        self._set_extra(extra)
        return labels

    def _quality_resolution(self) -> float:
        return self.resolution_

    def _resolution_unit(self, prep: PreparedGraph) -> float:
        """Resolution per unit of the search (1: the resolution has no unit)."""
        return 1.0

    def _resolution_bounds(self, prep: PreparedGraph) -> tuple[float, float]:
        """Return the lowest and highest resolutions the search tries, in its unit."""
        return _MIN_RESOLUTION, _MAX_RESOLUTION


def resolution_for_k(
    graph: Any,
    k: int,
    estimator: ResolutionSearchMixin,
    *,
    random_state: Any = None,
) -> ResolutionResult:
    """Find the modularity resolution at which a Louvain or Leiden estimator finds ``k`` clusters.

    Fits a clone of ``estimator`` with ``n_clusters=k``: it brackets ``k`` by
    multiplying or dividing the resolution by 4 from the estimator's ``resolution``,
    then bisects on a log scale, every run with the same seed. The number of clusters
    is only roughly monotone in the resolution, so the run that came closest is kept;
    if none has exactly ``k`` clusters (``k`` beyond the non-isolated units, or a jump
    over ``k``), a :class:`ResolutionWarning` names the closest ``k`` found and the
    resolutions tried.

    Parameters
    ----------
    graph : NeuronGraph, scipy sparse matrix or array, or array-like
        Symmetric, non-negative weights.
    k : int
        Target number of clusters (isolated units, labelled ``-1``, do not count).
    estimator : Louvain or Leiden
        The detector, with its parameters (``resolution`` is the starting point). It is
        cloned, not fitted; its ``n_clusters`` is replaced by ``k``.
    random_state : None, int, numpy Generator or RandomState
        If not None, replaces the estimator's ``random_state``. One seed is drawn from
        it and used for every run.

    Returns
    -------
    ResolutionResult
        ``(resolution, n_clusters, labels)``.

    Raises
    ------
    TypeError
        ``estimator`` does not search a resolution (not a Louvain or Leiden instance).

    Examples
    --------
    >>> from nngraph.datasets import planted_partition
    >>> from nngraph.partition import Louvain, resolution_for_k
    >>> a, truth = planted_partition([8, 8, 8, 8], 0.9, 0.05, random_state=0)
    >>> res = resolution_for_k(a, 2, Louvain(random_state=0))
    >>> res.n_clusters, round(res.resolution, 4)
    (2, 0.25)
    >>> res.labels
    array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1,
           1, 1, 1, 1, 1, 1, 1, 1, 1, 1])
    """
    if not isinstance(estimator, ResolutionSearchMixin):
        raise TypeError(
            "estimator must be a Louvain or Leiden instance (an estimator with a "
            f"resolution to search), got {type(estimator).__name__}"
        )
    check_int("k", k, 1)
    est = clone(estimator).set_params(n_clusters=k)
    if random_state is not None:
        est.set_params(random_state=random_state)
    est.fit(graph)
    return ResolutionResult(float(est.resolution_), int(est.n_clusters_), est.labels_)
