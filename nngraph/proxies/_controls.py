"""Sub-clusters to test and their random controls (docs/method.md, sections 4 and 5).

Both proxies compare a sub-cluster (the units of one layer sharing a cluster) with
``n_random`` random sets of the same size drawn uniformly without replacement from the
same layer's *clustered* units (label >= 0: units the partition left out are never
drawn; the research code drew from the whole layer). Each sub-cluster draws from its
own child of ``numpy.random.SeedSequence(random_state)``, so its controls are the same
whatever else is tested and whichever executor runs them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..partition import Partition, Subcluster
from ..utils._validation import check_int

__all__ = [
    "Controlled",
    "Lesions",
    "draw_controls",
    "draw_lesions",
    "draw_null_partitions",
    "layer_membership",
    "masks_for",
    "membership",
]


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

    def describe(self) -> dict[str, Any]:
        """Describe the sub-cluster for a result row: layer, cluster, size, fraction, units."""
        sub = self.subcluster
        return {
            "layer": sub.layer,
            "cluster": sub.cluster,
            "size": sub.size,
            "fraction": sub.fraction,
            "units": sub.units.tolist(),
        }


@dataclass(frozen=True)
class Lesions:
    """Every sub-cluster's sets, grouped by layer, as both proxies evaluate them.

    Layer ``name``'s sets are those of its sub-clusters ``by_layer[name]`` in turn, each
    ``1 + n_random + n_null`` rows (:attr:`Controlled.sets`): a layer's statistics are
    one array per statistic, row ``lo`` the true set of the sub-cluster at offset ``lo``.
    """

    seed: int
    controlled: list[Controlled]
    by_layer: dict[str, list[int]]
    n_random: int
    n_null: int

    @property
    def sets(self) -> dict[str, list[np.ndarray]]:
        """Per layer, each of its sub-clusters' sets (true, controls, null)."""
        return {name: [self.controlled[i].sets for i in ks] for name, ks in self.by_layer.items()}

    def offsets(self) -> Iterator[tuple[str, int, int]]:
        """``(layer, i, lo)``: sub-cluster ``i``'s true set is row ``lo`` of its layer's."""
        per_set = 1 + self.n_random + self.n_null
        for name, ks in self.by_layer.items():
            for j, i in enumerate(ks):
                yield name, i, j * per_set

    def split(
        self, values: Mapping[str, Mapping[str, np.ndarray]], names: list[str]
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Per statistic, the true sets', the controls' and the null partitions' values.

        ``values[layer][name]`` holds a layer's statistic for every set; returns
        ``(n,)``, ``(n, n_random)`` and ``(n, n_null)`` arrays, row ``i`` sub-cluster ``i``.
        """
        n, r = len(self.controlled), self.n_random
        true = {s: np.empty(n) for s in names}
        random = {s: np.empty((n, r)) for s in names}
        null = {s: np.empty((n, self.n_null)) for s in names}
        for name, i, lo in self.offsets():
            for s in names:
                v = values[name][s]
                true[s][i] = v[lo]
                random[s][i] = v[lo + 1 : lo + 1 + r]
                null[s][i] = v[lo + 1 + r : lo + 1 + r + self.n_null]
        return true, random, null


def draw_lesions(
    partition: Partition,
    subclusters: list[Subcluster],
    n_random: int,
    n_null: int,
    random_state: Any,
) -> Lesions:
    """Draw every sub-cluster's controls and null sets, grouped by layer.

    A ``random_state`` of None draws a seed, recorded in :attr:`Lesions.seed` so that
    the run can be repeated.
    """
    seed = random_state
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % 2**32)
    controlled = draw_controls(partition, subclusters, n_random, seed)
    controlled = draw_null_partitions(partition, controlled, n_null, seed)
    by_layer: dict[str, list[int]] = {}
    for i, c in enumerate(controlled):
        by_layer.setdefault(c.subcluster.layer, []).append(i)
    return Lesions(seed, controlled, by_layer, n_random, n_null)


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
    clusters: dict[str, list[int]] = {}
    for c in controlled:
        clusters.setdefault(c.subcluster.layer, []).append(c.subcluster.cluster)
    seeds = np.random.SeedSequence([int(random_state), 1]).spawn(len(clusters))
    null: dict[tuple[str, int], list[np.ndarray]] = {}
    for (layer, labels_tested), seed in zip(clusters.items(), seeds, strict=True):
        labels = partition.layer_labels[layer]
        pool = np.flatnonzero(labels >= 0)
        clustered = labels[pool]
        rng = np.random.default_rng(seed)
        for _ in range(n_null):
            shuffled = clustered[rng.permutation(pool.size)]
            for cluster in labels_tested:
                null.setdefault((layer, cluster), []).append(pool[shuffled == cluster])
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


def layer_membership(groups: list[np.ndarray], n_units: int) -> np.ndarray:
    """Membership of a layer's groups of sets side by side: ``(n_units, n_sets)``."""
    return np.concatenate([membership(g, n_units) for g in groups], axis=1)
