"""A partition bound to the units of a graph: labels by (layer name, unit index).

:class:`Partition` holds the labels of each layer's units, checks that a graph has the
same layers (names and sizes) before applying them to it, and records the partition's
quality on the graph. Its JSON file format lives in :mod:`._partition_file`, its
sub-clusters in :mod:`._subclusters`; the methods here are thin doors to both.
"""

from __future__ import annotations

import numbers
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..graphs._canonical import as_neuron_graph
from ..graphs._neuron_graph import NeuronGraph
from ..utils._io import to_jsonable
from ..utils._validation import check_labels
from ..utils._warnings import user_stacklevel
from ._metrics import modularity, ncut
from ._partition_file import (
    ADJACENCY_ORDER,
    adjacency_fingerprint,
    parse_document,
    partition_document,
    read_document,
    same_adjacency,
    structure_fingerprint,
    write_document,
)
from ._subclusters import Subcluster, subclusters

__all__ = ["GraphMismatchWarning", "Partition", "Subcluster"]


class GraphMismatchWarning(UserWarning):
    """A partition is bound to a graph with the same units but different edge weights."""


def _layout(graph: NeuronGraph) -> tuple[list[str], dict[str, int], dict[str, int]]:
    """Layer names, sizes and unit extents (largest unit index + 1) of a graph, in order.

    A layer's size is its unit extent, or the number of units its network layer has
    (``meta["layers"]`` of a graph built from a network) when that is more: a subgraph
    keeps the sizes of the layers its units come from (the units left out are labelled
    -1), so that its partition still fits the network.
    """
    names = list(graph.layer_names)
    units = np.zeros(len(names), dtype=np.int64)  # 0 for a layer without nodes
    np.maximum.at(units, graph.node_layer, graph.node_unit + 1)
    sizes = units.copy()
    layers = graph.meta.get("layers")
    if (
        isinstance(layers, list)
        and [entry.get("name") if isinstance(entry, dict) else None for entry in layers] == names
    ):
        for i, entry in enumerate(layers):
            n_units = entry.get("n_units")
            if isinstance(n_units, int) and not isinstance(n_units, bool):
                sizes[i] = max(sizes[i], n_units)
    return (
        names,
        dict(zip(names, sizes.tolist(), strict=True)),
        dict(zip(names, units.tolist(), strict=True)),
    )


def _seed_record(random_state: Any) -> int | str | None:
    if random_state is None:
        return None
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state)
    if isinstance(random_state, str):
        return random_state
    # A Generator or RandomState: recorded by its repr (not reproducible from the file).
    return repr(random_state)


class Partition:
    """Cluster labels bound to the units of a graph by (layer name, unit index).

    Parameters
    ----------
    labels : array-like of int, or mapping of str to array-like of int
        Either one label per node of ``graph`` (node order), or a mapping from layer
        name to the labels of its units by unit index (then ``graph`` is optional).
        -1 marks units left out (e.g. isolated units).
    graph : NeuronGraph, scipy sparse matrix or array, or array-like, optional
        The graph the labels refer to. A plain matrix is one layer named ``"nodes"``.
        When given, the n-cut, modularity and the graph's fingerprints are recorded.
    method : str, optional
        How the partition was obtained (e.g. ``"SpectralClustering"``).
    params : dict, optional
        Parameters of the method (JSON-serialisable).
    random_state : int, optional
        The seed used. Other seeds (a Generator) are recorded by their ``repr``.

    Attributes
    ----------
    layer_names : list of str
        Layers in order.
    layer_labels : dict of str to ndarray of int64
        Labels of each layer's units by unit index.
    method, params, random_state
        As given.
    metrics : dict
        ``ncut``, ``modularity``, ``n_clusters``, ``n_unlabelled`` (the first two only
        when a graph was given).
    graph_info : dict
        ``layer_sizes`` (name to number of units), ``fingerprint`` (sha256 of the layer
        names and sizes) and, when a graph was given, ``adjacency_sha256``.

    Notes
    -----
    Which fingerprint is checked when: binding a partition to a graph
    (:meth:`labels_for`, :meth:`load` or :meth:`from_dict` with ``graph=``) requires
    the same layer names and sizes and raises ``ValueError`` naming the first layer that
    differs. The adjacency hash is only compared by :meth:`load`/:meth:`from_dict` with
    ``graph=``: a difference (same units, other weights: a retrained or shuffled
    network) gives a :class:`GraphMismatchWarning`, not an error, and the metrics are
    recomputed on the given graph.

    Examples
    --------
    >>> from nngraph.datasets import layered_graph
    >>> g, modules = layered_graph((4, 5, 3), 2, random_state=0)    # 2 planted modules
    >>> p = Partition(modules, g, method="planted")
    >>> p.layer_labels["fc1"]
    array([0, 0, 0, 1, 1])
    >>> p.n_clusters, round(p.metrics["ncut"], 4)
    (2, 0.1034)
    >>> [(s.layer, s.cluster, s.size) for s in p.subclusters()]    # single units left out
    [('input', 0, 2), ('input', 1, 2), ('fc1', 0, 3), ('fc1', 1, 2), ('fc2', 0, 2)]
    """

    def __init__(
        self,
        labels: Any,
        graph: Any = None,
        *,
        method: str | None = None,
        params: Mapping[str, Any] | None = None,
        random_state: Any = None,
    ) -> None:
        self.method = None if method is None else str(method)
        self.params = to_jsonable(dict(params or {}), what="params", nonfinite="error")
        self.random_state = _seed_record(random_state)
        self._graph: NeuronGraph | None = None
        if isinstance(labels, Mapping):
            self.layer_names = [str(name) for name in labels]
            self.layer_labels = {
                str(name): check_labels(lab, name=f"labels of layer {name!r}")
                for name, lab in labels.items()
            }
            if graph is not None:
                g = as_neuron_graph(graph)
                self._check_layout(g)
                self._graph = g
        else:
            if graph is None:
                raise ValueError(
                    "a graph is needed to bind labels given in node order; "
                    "or pass a mapping {layer name: labels by unit index}"
                )
            g = as_neuron_graph(graph)
            flat = check_labels(labels, g.n_nodes)
            names, extents, _ = _layout(g)
            self.layer_names = names
            self.layer_labels = {}
            for index, name in enumerate(names):
                lab = np.full(extents[name], -1, dtype=np.int64)
                nodes = g.node_layer == index
                lab[g.node_unit[nodes]] = flat[nodes]
                self.layer_labels[name] = lab
            self._graph = g
        self.graph_info: dict[str, Any] = {
            "layer_sizes": self.layer_sizes,
            "fingerprint": structure_fingerprint(self.layer_sizes),
        }
        self.metrics: dict[str, Any] = self._label_counts()
        if self._graph is not None:
            self._compute_graph_metrics(self._graph)

    # ------------------------------------------------------------------ basics
    @property
    def layer_sizes(self) -> dict[str, int]:
        """Number of units of each layer (length of its label list)."""
        return {name: int(self.layer_labels[name].shape[0]) for name in self.layer_names}

    @property
    def labels(self) -> np.ndarray:
        """Labels in node order of the bound graph (or layer by layer when unbound)."""
        if self._graph is not None:
            return self.labels_for(self._graph)
        parts = [self.layer_labels[name] for name in self.layer_names]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    @property
    def n_clusters(self) -> int:
        """Number of distinct labels >= 0."""
        return int(self.metrics["n_clusters"])

    def __repr__(self) -> str:
        n_units = sum(self.layer_sizes.values())
        return (
            f"Partition(method={self.method!r}, n_clusters={self.n_clusters}, "
            f"layers={len(self.layer_names)}, units={n_units})"
        )

    def _label_counts(self) -> dict[str, Any]:
        every = self.labels if self.layer_names else np.empty(0, dtype=np.int64)
        return {
            "n_clusters": int(np.unique(every[every >= 0]).size),
            "n_unlabelled": int(np.count_nonzero(every < 0)),
        }

    def _compute_graph_metrics(self, graph: NeuronGraph) -> None:
        labels = self.labels_for(graph)
        for name, fn in (("ncut", ncut), ("modularity", modularity)):
            try:
                self.metrics[name] = float(fn(graph, labels))
            except ValueError:  # no edges between labelled units: undefined
                self.metrics[name] = None
        self.graph_info["adjacency_sha256"] = None  # computed lazily by to_dict()
        self.graph_info["adjacency_order"] = None
        # A graph built from a network names it: the proxies check they get the same one.
        network = graph.meta.get("network_sha256")
        if isinstance(network, str):
            self.graph_info["kind"] = graph.kind
            self.graph_info["network_sha256"] = network

    # ------------------------------------------------------------------ binding
    def _check_layout(self, graph: NeuronGraph) -> None:
        # A subgraph's layers may also be sized by their largest unit (as partitions of
        # subgraphs were before their network's layer sizes were used).
        names, extents, units = _layout(graph)
        mine = self.layer_sizes
        for name in names:
            if name not in mine:
                raise ValueError(
                    f"the graph has a layer {name!r} that the partition does not have "
                    f"(partition layers: {self.layer_names})"
                )
            if mine[name] != extents[name] and mine[name] != units[name]:
                raise ValueError(
                    f"layer {name!r} has {mine[name]} units in the partition but "
                    f"{extents[name]} in the graph"
                )
        for name in self.layer_names:
            if name not in extents:
                raise ValueError(
                    f"the partition has a layer {name!r} that the graph does not have "
                    f"(graph layers: {names})"
                )

    def labels_for(self, graph: Any) -> np.ndarray:
        """Labels in the node order of ``graph``.

        Parameters
        ----------
        graph : NeuronGraph, scipy sparse matrix or array, or array-like
            Must have the same layer names and sizes as the partition.

        Returns
        -------
        ndarray of int64, shape (n_nodes,)

        Raises
        ------
        ValueError
            A layer is missing on either side or has a different number of units.

        Examples
        --------
        >>> from nngraph.datasets import layered_graph
        >>> g, truth = layered_graph((4, 5, 3), 2, random_state=0)
        >>> p = Partition(truth, g)
        >>> reversed_order = g.subgraph(np.arange(g.n_nodes)[::-1])
        >>> bool((p.labels_for(reversed_order) == truth[::-1]).all())
        True
        """
        g = as_neuron_graph(graph)
        self._check_layout(g)
        out = np.empty(g.n_nodes, dtype=np.int64)
        for index, name in enumerate(g.layer_names):
            nodes = g.node_layer == index
            out[nodes] = self.layer_labels[name][g.node_unit[nodes]]
        return out

    # ------------------------------------------------------------------ sub-clusters
    def subclusters(self, min_size: int = 2, max_fraction: float = 0.99) -> list[Subcluster]:
        """Return the groups of units that share a cluster and a layer.

        Computed by :func:`nngraph.partition._subclusters.subclusters`.

        Parameters
        ----------
        min_size : int, default=2
            Keep groups of at least this many units (the paper: 2; 3 for feature
            visualisation, 5 for data-set examples).
        max_fraction : float, default=0.99
            Keep groups holding at most this fraction of the layer's units, all of them
            counted, including units labelled -1 (the paper: 0.99 of the layer; 0.75 for
            data-set examples).

        Returns
        -------
        list of Subcluster
            In layer order, then by increasing cluster label.

        References
        ----------
        .. [1] S. Hod, S. Casper, D. Filan, C. Wild, A. Critch and S. Russell, "Detecting
           modularity in deep neural networks", arXiv:2110.08058, 2021.

        Examples
        --------
        >>> p = Partition({"fc1": [0, 0, 1, -1], "fc2": [1, 1, 1]})
        >>> [(s.layer, s.cluster, s.units.tolist()) for s in p.subclusters()]
        [('fc1', 0, [0, 1])]
        """
        return subclusters(
            self.layer_labels, self.layer_names, min_size=min_size, max_fraction=max_fraction
        )

    # ------------------------------------------------------------------ file format
    def to_dict(self) -> dict[str, Any]:
        """Return the JSON document of the partition file format, as plain Python objects.

        The format (``nngraph.partition``, version 1) is documented in
        ``docs/partition-format.md`` in the repository.

        Returns
        -------
        dict

        Examples
        --------
        >>> Partition({"fc": [0, 1]}).to_dict()["layers"]
        [{'name': 'fc', 'labels': [0, 1]}]
        """
        if self._graph is not None and self.graph_info.get("adjacency_sha256") is None:
            self.graph_info["adjacency_sha256"] = adjacency_fingerprint(self._graph)
            self.graph_info["adjacency_order"] = ADJACENCY_ORDER
        return partition_document(
            self.layer_labels,
            self.layer_names,
            method=self.method,
            params=self.params,
            random_state=self.random_state,
            metrics=self.metrics,
            graph_info=self.graph_info,
        )

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], graph: Any = None) -> Partition:
        """Rebuild a partition from :meth:`to_dict`'s document (or one another tool wrote).

        Parameters
        ----------
        document : mapping
            The decoded JSON document.
        graph : NeuronGraph, scipy sparse matrix or array, or array-like, optional
            Bind to this graph: its layers must match (``ValueError`` otherwise); a
            different adjacency hash gives a :class:`GraphMismatchWarning` and the
            metrics are recomputed on ``graph``.

        Returns
        -------
        Partition

        Raises
        ------
        ValueError
            Another format or version, malformed layers, an optional field of the wrong
            type, or layers that do not match ``graph``.

        Examples
        --------
        >>> from nngraph.datasets import layered_graph
        >>> g, truth = layered_graph((4, 5, 3), 2, random_state=0)
        >>> doc = Partition(truth, g).to_dict()
        >>> q = Partition.from_dict(doc, graph=g)
        >>> bool((q.labels == truth).all())
        True
        """
        stored = parse_document(document)
        part = cls(
            stored.layer_labels,
            None,
            method=stored.method,
            params=stored.params,
            random_state=stored.random_state,
        )
        stored_network = {"kind": stored.graph_kind, "network_sha256": stored.network_sha256}
        if graph is None:
            part.metrics.update(stored.metrics)
            if stored.adjacency_sha256 is not None:
                part.graph_info["adjacency_sha256"] = stored.adjacency_sha256
                part.graph_info["adjacency_order"] = stored.adjacency_order
            part.graph_info.update({k: v for k, v in stored_network.items() if v is not None})
            return part
        g = as_neuron_graph(graph)
        part._check_layout(g)
        part._graph = g
        part._compute_graph_metrics(g)
        if "network_sha256" not in part.graph_info and stored.network_sha256 is not None:
            part.graph_info.update(stored_network)  # a graph that does not name its network
        if stored.adjacency_sha256 is not None:
            actual = part.graph_info["adjacency_sha256"] = adjacency_fingerprint(g)
            part.graph_info["adjacency_order"] = ADJACENCY_ORDER
            old_file = stored.adjacency_order is None  # hashed in its graph's node order
            if not same_adjacency(
                g,
                stored.adjacency_sha256,
                part.layer_names,
                node_order=old_file,
                fingerprint=actual,
            ):
                warnings.warn(
                    "the graph has the partition's layers but different edge weights than "
                    "the graph it was computed on; metrics are recomputed on this graph",
                    GraphMismatchWarning,
                    stacklevel=user_stacklevel(),
                )
        return part

    def save(self, path: str | os.PathLike) -> Path:
        """Write the partition as JSON, atomically.

        The document is serialised in memory first, written to a temporary file in the
        same directory and moved over ``path`` with ``os.replace``: a failure never
        leaves ``path`` half-written or replaces an existing file.

        Parameters
        ----------
        path : str or path-like
            The file to write.

        Returns
        -------
        pathlib.Path
            The path written.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = Partition({"fc": [0, 1, 1]}).save(pathlib.Path(tmp) / "p.json")
        ...     Partition.load(path).layer_labels
        {'fc': array([0, 1, 1])}
        """
        return write_document(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike, graph: Any = None) -> Partition:
        """Read a partition file written by :meth:`save` (or by another tool).

        Parameters
        ----------
        path : str or path-like
            The JSON file.
        graph : NeuronGraph, scipy sparse matrix or array, or array-like, optional
            Bind to this graph; see :meth:`from_dict`.

        Returns
        -------
        Partition

        Raises
        ------
        ValueError
            Truncated or invalid JSON, another format or version, malformed layers, or
            layers that do not match ``graph``.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from nngraph.datasets import layered_graph
        >>> g, truth = layered_graph((4, 5, 3), 2, random_state=0)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = Partition(truth, g).save(pathlib.Path(tmp) / "p.json")
        ...     q = Partition.load(path, graph=g)
        >>> q.layer_names, q.n_clusters
        (['input', 'fc1', 'fc2'], 2)
        """
        document = read_document(path)
        try:
            return cls.from_dict(document, graph=graph)
        except ValueError as exc:
            raise ValueError(f"{Path(path)}: {exc}") from exc

    @classmethod
    def from_estimator(cls, estimator: Any, graph: Any) -> Partition:
        """Build a partition from a fitted clustering estimator (``labels_``, ``get_params``).

        Records the estimator's class name as ``method``, its JSON-serialisable
        parameters as ``params`` and its ``random_state``.

        Parameters
        ----------
        estimator : fitted estimator
            Has ``labels_`` (one label per node of ``graph``) and ``get_params``.
        graph : NeuronGraph, scipy sparse matrix or array, or array-like
            The graph the estimator was fitted on.

        Returns
        -------
        Partition

        Examples
        --------
        >>> import nngraph as ng
        >>> from nngraph.datasets import layered_graph
        >>> g, _ = layered_graph((4, 5, 3), 2, random_state=0)
        >>> p = Partition.from_estimator(ng.SpectralClustering(2, random_state=0).fit(g), g)
        >>> p.method, p.params["n_clusters"], p.random_state
        ('SpectralClustering', 2, 0)
        """
        params = {}
        for key, value in estimator.get_params(deep=False).items():
            try:
                params[key] = to_jsonable(value, what=key, nonfinite="error")
            except (TypeError, ValueError):
                params[key] = repr(value)
        params.pop("random_state", None)
        return cls(
            estimator.labels_,
            graph,
            method=type(estimator).__name__,
            params=params,
            random_state=getattr(estimator, "random_state", None),
        )
