"""What the community detectors share: input handling, isolated units, labels, seeds.

:class:`~nngraph.Louvain`, :class:`~nngraph.Leiden` and :class:`~nngraph.LabelPropagation`
derive from :class:`CommunityDetector`.

Every detector canonicalises its input once (:func:`~nngraph.graphs._canonical.check_adjacency`:
negative, NaN and empty inputs are refused with a clear error), leaves isolated units
(weighted degree 0) out with label ``-1``, numbers the clusters ``0..k-1`` by first
appearance in unit order, and reports the modularity of its partition with
:func:`nngraph.partition._metrics.modularity`.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

from ..graphs._canonical import check_adjacency
from ..utils._validation import canonical_labels, seed_from
from ._metrics import modularity
from ._prepared import PreparedGraph

__all__ = ["CommunityDetector", "igraph_seeded", "n_clusters_of", "relabel"]

_IGRAPH_RNG_LOCK = threading.Lock()


# --------------------------------------------------------------------------- helpers


def relabel(raw: np.ndarray, isolated: np.ndarray) -> np.ndarray:
    """Labels ``0..k-1`` numbered by first appearance, ``-1`` where ``isolated``.

    The numbering is spectral clustering's, so two label arrays describing the same
    partition give identical results whichever estimator produced them.

    Examples
    --------
    >>> relabel(np.array([7, 7, 3, 9, 3]), np.array([False, False, False, True, False]))
    array([ 0,  0,  1, -1,  1])
    """
    return canonical_labels(np.where(isolated, -1, np.asarray(raw, dtype=np.int64)))


@contextlib.contextmanager
def igraph_seeded(seed: int) -> Iterator[None]:
    """Run igraph's random choices from ``random.Random(seed)``, then restore the default.

    python-igraph draws its random numbers from a Python generator (by default the
    global :mod:`random` module). This installs a private, seeded one for the duration,
    so results are reproducible and the global :mod:`random` state is left alone; the
    default generator is reinstalled afterwards (python-igraph offers no way to read
    the current one, so a generator a user installed before is replaced by the default).
    A lock serialises nngraph's own seeded igraph calls across threads.
    """
    import igraph

    with _IGRAPH_RNG_LOCK:
        igraph.set_random_number_generator(random.Random(seed))
        try:
            yield
        finally:
            igraph.set_random_number_generator(random)


# --------------------------------------------------------------------------- estimator


class CommunityDetector(ClusterMixin, BaseEstimator):
    """Base class: :meth:`fit` canonicalises, partitions, relabels and scores.

    A subclass's ``__init__`` only stores its arguments (scikit-learn's rule); it
    implements :meth:`_check_params` (validation, called first in ``fit``) and
    :meth:`_fit_prepared`, which returns the final labels (already passed through
    :func:`relabel`), and may override :meth:`_quality_resolution`.
    """

    def _check_params(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _fit_prepared(self, prep: PreparedGraph, seed: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _quality_resolution(self) -> float:
        """Return the resolution at which ``modularity_`` is reported."""
        return 1.0

    def fit(self, graph: Any, y: None = None) -> CommunityDetector:
        """Partition ``graph``.

        Parameters
        ----------
        graph : NeuronGraph, scipy sparse matrix or array, or array-like
            Symmetric, non-negative weights.
        y : None
            Ignored (scikit-learn convention).

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Negative, NaN or infinite weights, a non-square or empty matrix, or a graph
            without edges.
        """
        self._check_params()
        # check_adjacency is called here, not by PreparedGraph.from_graph, so that its
        # NonSymmetricWarning names the caller of fit.
        prep = PreparedGraph(check_adjacency(graph))
        if prep.isolated.all():
            raise ValueError("the graph has no edges: every unit is isolated, nothing to cluster")
        seed = seed_from(self.random_state)
        labels = self._fit_prepared(prep, seed)
        self.labels_ = labels
        self.n_clusters_ = n_clusters_of(labels)
        self.modularity_ = float(
            modularity(prep.graph, labels, resolution=self._quality_resolution())
        )
        return self


def n_clusters_of(labels: np.ndarray) -> int:
    """Count the clusters in labels numbered ``0..k-1`` (``-1`` ignored)."""
    return int(labels.max()) + 1 if labels.size else 0
