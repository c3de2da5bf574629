"""Partitioners judged by the proxies: whose sub-clusters are more important and coherent.

:func:`judge_partitions` runs :func:`~nngraph.partition.compare_partitioners` (or takes
its result) and then :func:`~nngraph.proxies.importance` and
:func:`~nngraph.proxies.coherence` on every method's partition, adding their summaries
to the comparison as columns: for each proxy, the sub-clusters tested, the share of
them significant after Benjamini-Hochberg, and the combined p-value. With
``baseline=True`` the same proxies also judge, for each method, a partition drawn at
random with the same sub-cluster sizes (each layer's labels permuted): what "more
important than chance" looks like for that partition.

The comparison lives in ``partition`` (stage 3) and the proxies in ``proxies`` (stage
5): the pipeline's import order (``docs/architecture.md``) puts the proxy-aware
comparison here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch.nn as nn

from ..graphs._canonical import as_neuron_graph
from ..partition import Partition, PartitionerComparison, compare_partitioners
from ..utils._validation import check_choice, check_int, check_seed
from ._coherence import coherence
from ._importance import importance
from ._result import ProxyResult

__all__ = ["PROXIES", "judge_partitions", "random_relabel"]

#: The proxies :func:`judge_partitions` knows, by the name its columns carry.
PROXIES = ("importance", "dataset", "visualization")


def random_relabel(partition: Partition, random_state: int = 0) -> Partition:
    """Draw a partition at random with the same sub-cluster sizes.

    Each layer's clustered units (label >= 0) get a uniform permutation of their
    labels; units left out (-1) stay out. The sub-clusters keep their sizes and stay
    disjoint, so the random partition is the partition's natural null.

    Parameters
    ----------
    partition : Partition
        The partition to mimic.
    random_state : int, default=0
        Seed (each layer in turn draws from one generator).

    Returns
    -------
    Partition
        Unbound to any graph (layer by layer), with ``method`` ``"<method> (random)"``.

    Examples
    --------
    >>> import numpy as np
    >>> part = Partition({"fc": np.array([0, 0, 1, 1, 1, -1])}, method="spectral")
    >>> shuffled = random_relabel(part, random_state=1)
    >>> sorted(shuffled.layer_labels["fc"][:5].tolist()), int(shuffled.layer_labels["fc"][5])
    ([0, 0, 1, 1, 1], -1)
    """
    rng = np.random.default_rng(check_seed("random_state", random_state))
    labels = {}
    for name in partition.layer_names:
        lab = partition.layer_labels[name].copy()
        clustered = np.flatnonzero(lab >= 0)
        lab[clustered] = lab[clustered][rng.permutation(clustered.size)]
        labels[name] = lab
    return Partition(labels, method=f"{partition.method or 'partition'} (random)")


def _run(
    proxy: str,
    model: nn.Module,
    partition: Partition,
    inputs: Any,
    targets: Any,
    options: dict[str, Any],
) -> ProxyResult | None:
    """Run one proxy; None when the partition has no sub-cluster it can test."""
    try:
        if proxy == "importance":
            return importance(model, partition, inputs, targets, **options)
        return coherence(model, partition, inputs, targets, method=proxy, **options)
    except ValueError as exc:
        if "no sub-cluster to test" in str(exc):
            return None
        raise


def _summary(res: ProxyResult | None, statistic: str | None) -> dict[str, Any]:
    if res is None:
        return {"tested": 0, "significant": float("nan"), "p": float("nan")}
    stat = statistic or res.statistics[0].name
    if stat not in {s.name for s in res.statistics}:
        raise ValueError(
            f"{res.proxy} has no statistic {stat!r}; it has {[s.name for s in res.statistics]}"
        )
    share = res.n_significant(stat) / res.n_rows if res.n_rows else float("nan")
    p = res.combined_p(stat) if stat in res.combined else float("nan")
    return {"tested": res.n_rows, "significant": share, "p": p}


def judge_partitions(
    graph: Any,
    partitioners: Any,
    model: nn.Module,
    inputs: Any,
    targets: Any,
    *,
    proxies: Sequence[str] = ("importance", "dataset"),
    statistics: Mapping[str, str] | None = None,
    n_random: int = 99,
    n_null_partitions: int = 19,
    baseline: bool = False,
    random_state: int | None = 0,
    comparison: PartitionerComparison | None = None,
    alpha: float = 0.05,
    progress: bool = False,
) -> PartitionerComparison:
    """Compare partitioners on a graph and judge their partitions by importance and coherence.

    Parameters
    ----------
    graph : NeuronGraph
        A graph of ``model``'s units (weights or activations): the partitions bind to
        its layers, which must be the model's.
    partitioners : dict or list
        As for :func:`~nngraph.partition.compare_partitioners` (ignored when
        ``comparison`` is given).
    model : torch.nn.Module
        The trained classifier the graph was built from.
    inputs, targets : tensor or array
        Held-out examples and their classes (one column per head for several heads).
    proxies : sequence of {"importance", "dataset", "visualization"}
        Which proxies judge: lesions (:func:`importance`), data-set examples and feature
        visualisation (:func:`coherence` with that ``method``).
    statistics : mapping of proxy to statistic name, optional
        The statistic each proxy's columns report; default the proxy's first
        (``balanced_accuracy``, ``label_entropy``, ``objective``).
    n_random : int, default=99
        Random same-size sets per sub-cluster (with 19, no single sub-cluster can be
        significant after Benjamini-Hochberg).
    n_null_partitions : int, default=19
        Random partitions for the combined p-value (see :func:`importance`).
    baseline : bool, default=False
        Also judge, per method, a partition drawn at random with the same sub-cluster
        sizes (:func:`random_relabel`): columns ``<proxy>_random_significant`` and
        ``<proxy>_random_p``.
    random_state : int, optional
        Seed of the comparison's partitioners (when ``comparison`` is not given), the
        random controls and the baseline partitions. Default 0.
    comparison : PartitionerComparison, optional
        A comparison already made on ``graph``: its partitions are judged as they are.
    alpha : float, default=0.05
        False discovery rate of Benjamini-Hochberg.
    progress : bool, default=False
        Show the proxies' progress bars.

    Returns
    -------
    PartitionerComparison
        The comparison with, for each proxy, the columns ``<proxy>_tested`` (sub-clusters
        tested), ``<proxy>_significant`` (share of them significant after
        Benjamini-Hochberg) and ``<proxy>_p`` (the combined p-value, default
        combination); with ``baseline`` the same for the random partitions. The
        proxies' results are in ``details[method][proxy]`` (and
        ``details[method][proxy + " (random)"]``).

    Examples
    --------
    >>> import nngraph as ng
    >>> from nngraph.models import pretrained, pretrained_data
    >>> model = pretrained("mlp", hidden=(16, 16), epochs=5)
    >>> data = pretrained_data("mlp")
    >>> g = ng.weight_graph(model, data.x_train[:1])
    >>> judged = judge_partitions(
    ...     g, {"spectral": ng.SpectralClustering(4), "louvain": ng.Louvain(n_clusters=4)},
    ...     model, data.x_test, data.y_test, proxies=["importance"], n_random=19,
    ... )
    >>> judged.extra_columns
    ['importance_tested', 'importance_significant', 'importance_p']
    """
    proxies = [check_choice("proxies", p, PROXIES) for p in proxies]
    if not proxies:
        raise ValueError("no proxies to judge by: give at least one of " + ", ".join(PROXIES))
    statistics = dict(statistics or {})
    for name in statistics:
        check_choice("statistics", name, PROXIES)
    n_random = check_int("n_random", n_random, 1)
    seed = 0 if random_state is None else check_seed("random_state", random_state)
    g = as_neuron_graph(graph)
    cmp = (
        comparison
        if comparison is not None
        else compare_partitioners(g, partitioners, random_state=seed)
    )
    options = {
        "n_random": n_random,
        "n_null_partitions": n_null_partitions,
        "random_state": seed,
        "alpha": alpha,
        "progress": progress,
    }
    columns: dict[str, dict[str, Any]] = {}
    for index, name in enumerate(cmp.names):
        part = Partition(cmp.labels[name], g, method=name)
        judged: list[tuple[str, Partition]] = [("", part)]
        if baseline:
            judged.append(("_random", random_relabel(part, random_state=seed + index)))
        details = cmp.details.setdefault(name, {})
        for proxy in proxies:
            for suffix, candidate in judged:
                res = _run(proxy, model, candidate, inputs, targets, options)
                details[proxy + (" (random)" if suffix else "")] = res
                for key, value in _summary(res, statistics.get(proxy)).items():
                    if suffix and key == "tested":
                        continue
                    columns.setdefault(f"{proxy}{suffix}_{key}", {})[name] = value
    for column, values in columns.items():
        cmp.add_column(column, values)
    return cmp
