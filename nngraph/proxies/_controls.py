"""Sub-clusters to test and their random controls (docs/method.md, sections 4 and 5).

Both proxies compare a sub-cluster (the units of one layer sharing a cluster) with
``n_random`` random sets of the same size drawn uniformly without replacement from the
same layer's *clustered* units (label >= 0: units the partition left out are never
drawn; the research code drew from the whole layer). Each sub-cluster draws from its
own child of ``numpy.random.SeedSequence(random_state)``, so its controls are the same
whatever else is tested and whichever executor runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..partition import Partition, Subcluster
from ..utils._validation import check_int

__all__ = ["Controlled", "draw_controls", "draw_null_partitions", "masks_for", "membership"]


@dataclass(frozen=True)
class Controlled:
    """A sub-cluster with its random controls.

    Attributes
    ----------
    subcluster : Subcluster
        Layer, cluster label, units, size, fraction of the layer.
    controls : ndarray of int64, shape (n_random, size)
        Each row a random set of the layer's clustered units, of the same size.
    """

    subcluster: Subcluster
    controls: np.ndarray
    null: np.ndarray | None = None

    @property
    def sets(self) -> np.ndarray:
        """Stack the true set, the controls and the null partitions' sets.

        ``(1 + n_random + n_null, size)`` rows, in that order.
        """
        parts = [self.subcluster.units[None, :], self.controls]
        if self.null is not None:
            parts.append(self.null)
        return np.vstack(parts)


def draw_controls(
    partition: Partition,
    subclusters: list[Subcluster],
    n_random: int,
    random_state: Any,
) -> list[Controlled]:
    """Draw ``n_random`` same-size random sets from each sub-cluster's layer.

    Parameters
    ----------
    partition : Partition
        The partition the sub-clusters come from.
    subclusters : list of Subcluster
        The sub-clusters to test.
    n_random : int
        Random sets per sub-cluster (the paper: 19).
    random_state : None or int
        Seed; sub-cluster ``i`` draws from child ``i`` of ``SeedSequence(random_state)``.

    Returns
    -------
    list of Controlled

    Examples
    --------
    >>> import numpy as np
    >>> from nngraph.partition import Partition
    >>> part = Partition({"fc": np.array([0, 0, 1, 1, 1, -1])})
    >>> [c.controls.shape for c in draw_controls(part, part.subclusters(), 3, random_state=0)]
    [(3, 2), (3, 3)]
    """
    n_random = check_int("n_random", n_random, 1)
    if random_state is not None:
        random_state = check_int("random_state", random_state, 0)
    seeds = np.random.SeedSequence(random_state).spawn(len(subclusters))
    out = []
    for sub, seed in zip(subclusters, seeds, strict=True):
        labels = partition.layer_labels[sub.layer]
        pool = np.flatnonzero(labels >= 0)
        rng = np.random.default_rng(seed)
        controls = np.stack(
            [np.sort(rng.choice(pool, size=sub.size, replace=False)) for _ in range(n_random)]
        )
        out.append(Controlled(sub, controls.astype(np.int64)))
    return out


def draw_null_partitions(
    partition: Partition,
    controlled: list[Controlled],
    n_null: int,
    random_state: Any,
) -> list[Controlled]:
    """Add, to each sub-cluster, its counterparts in ``n_null`` random partitions.

    A random partition relabels each layer's clustered units by a uniform permutation
    of their labels, so its sub-clusters have the partition's sizes and are disjoint as
    the partition's are; the counterpart of a sub-cluster is the units given its label.
    They measure how the sub-clusters' statistics depend on each other under the null
    (:func:`nngraph.stats.combine_dependent`).

    Parameters
    ----------
    partition : Partition
        The partition tested.
    controlled : list of Controlled
        Its sub-clusters with their controls.
    n_null : int
        Random partitions.
    random_state : int
        Seed (a stream of its own, apart from the controls').

    Returns
    -------
    list of Controlled
        The same, with ``null`` of shape ``(n_null, size)``.
    """
    n_null = check_int("n_null", n_null, 0)
    if n_null == 0:
        return controlled
    layers = list(dict.fromkeys(c.subcluster.layer for c in controlled))
    seeds = np.random.SeedSequence([int(random_state), 1]).spawn(len(layers))
    null: dict[tuple[str, int], list[np.ndarray]] = {}
    for layer, seed in zip(layers, seeds, strict=True):
        labels = partition.layer_labels[layer]
        pool = np.flatnonzero(labels >= 0)
        rng = np.random.default_rng(seed)
        for _ in range(n_null):
            shuffled = labels[pool][rng.permutation(pool.size)]
            for c in controlled:
                if c.subcluster.layer == layer:
                    units = pool[shuffled == c.subcluster.cluster]
                    null.setdefault((layer, c.subcluster.cluster), []).append(units)
    return [
        Controlled(
            c.subcluster,
            c.controls,
            np.stack(null[(c.subcluster.layer, c.subcluster.cluster)]).astype(np.int64),
        )
        for c in controlled
    ]


def masks_for(sets: np.ndarray, n_units: int) -> np.ndarray:
    """Masks that silence each set: ``(n_sets, n_units)``, 0 on the set's units, 1 elsewhere.

    Examples
    --------
    >>> masks_for(np.array([[0, 2], [1, 3]]), 4)
    array([[0., 1., 0., 1.],
           [1., 0., 1., 0.]], dtype=float32)
    """
    masks = np.ones((sets.shape[0], n_units), dtype=np.float32)
    np.put_along_axis(masks, sets, 0.0, axis=1)
    return masks


def membership(sets: np.ndarray, n_units: int) -> np.ndarray:
    """Build a set-membership matrix ``(n_units, n_sets)``: 1 where the unit is in the set.

    Examples
    --------
    >>> membership(np.array([[0, 2], [1, 3]]), 4).T
    array([[1., 0., 1., 0.],
           [0., 1., 0., 1.]], dtype=float32)
    """
    return 1.0 - masks_for(sets, n_units).T
