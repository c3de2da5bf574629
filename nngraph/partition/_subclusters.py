"""Sub-clusters: the units of one layer that share a cluster.

The importance and coherence tests work on sub-clusters, not on whole clusters: a
cluster usually spans several layers, and silencing or visualising units only makes
sense within one layer. Size filters keep groups that are neither single units nor
(almost) a whole layer.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..utils._validation import InvalidParameterError, check_int

__all__ = ["Subcluster", "subclusters"]


@dataclass(frozen=True)
class Subcluster:
    """The units of one layer that share a cluster.

    Attributes
    ----------
    layer : str
        Layer name.
    cluster : int
        Cluster label.
    units : ndarray of int64
        Unit indices within the layer, increasing.
    size : int
        ``len(units)``.
    fraction : float
        ``size`` divided by the layer's number of units (all of them, including units
        labelled -1).
    """

    layer: str
    cluster: int
    units: np.ndarray
    size: int
    fraction: float


def subclusters(
    layer_labels: Mapping[str, np.ndarray],
    layer_names: Sequence[str] | None = None,
    *,
    min_size: int = 2,
    max_fraction: float = 0.99,
) -> list[Subcluster]:
    """Return the groups of units that share a cluster and a layer, filtered by size.

    Parameters
    ----------
    layer_labels : mapping of str to ndarray of int
        Each layer's labels by unit index; -1 marks units left out (never grouped).
    layer_names : sequence of str, optional
        The layers to read, in order; by default those of ``layer_labels``.
    min_size, max_fraction
        The size filters, as for :meth:`nngraph.Partition.subclusters`.

    Returns
    -------
    list of Subcluster

    Raises
    ------
    ValueError
        ``min_size`` below 1 or ``max_fraction`` outside ``(0, 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> subs = subclusters({"fc1": np.array([0, 0, 1, -1]), "fc2": np.array([1, 1, 1])})
    >>> [(s.layer, s.cluster, s.units.tolist(), s.fraction) for s in subs]
    [('fc1', 0, [0, 1], 0.5)]
    """
    min_size = check_int("min_size", min_size, 1)
    if not isinstance(max_fraction, numbers.Real) or not 0 < max_fraction <= 1:
        raise InvalidParameterError(f"max_fraction must be in (0, 1], got {max_fraction!r}")
    out = []
    for name in layer_labels if layer_names is None else layer_names:
        lab = np.asarray(layer_labels[name])
        units = np.flatnonzero(lab >= 0)
        if units.size == 0:
            continue
        # Units sorted by label (stable: by unit index within a label), then cut into runs.
        order = units[np.argsort(lab[units], kind="stable")]
        clusters, starts, counts = np.unique(lab[order], return_index=True, return_counts=True)
        fractions = counts / lab.size
        keep = np.flatnonzero((counts >= min_size) & (fractions <= max_fraction))
        for i in keep:
            members = order[starts[i] : starts[i] + counts[i]].copy()
            out.append(
                Subcluster(name, int(clusters[i]), members, int(counts[i]), float(fractions[i]))
            )
    return out
