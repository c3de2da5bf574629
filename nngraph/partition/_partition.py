"""A partition bound to the units of a graph, and its JSON file format.

The file format is documented in ``docs/partition-format.md``. Labels are stored per
layer name and unit index, so other tools can write partitions nngraph reads.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..graphs._canonical import as_neuron_graph
from ..graphs._neuron_graph import NeuronGraph
from ..utils._io import atomic_write, to_jsonable
from ..utils._validation import check_labels
from ._metrics import modularity, ncut

__all__ = ["Partition", "Subcluster", "GraphMismatchWarning"]

FORMAT = "nngraph.partition"
VERSION = 1


class GraphMismatchWarning(UserWarning):
    """A partition is bound to a graph with the same units but different edge weights."""


@dataclass(frozen=True)
class Subcluster:
    """The units of one layer that share a cluster (method.md section 2).

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


def _layout(graph: NeuronGraph) -> tuple[list[str], dict[str, int]]:
    """Layer names and extents (largest unit index + 1) of a graph, in graph order."""
    extents = np.zeros(len(graph.layer_names), dtype=np.int64)
    np.maximum.at(extents, graph.node_layer, graph.node_unit + 1)
    return list(graph.layer_names), {
        name: int(e) for name, e in zip(graph.layer_names, extents, strict=True)
    }


def structure_fingerprint(layer_sizes: Mapping[str, int]) -> str:
    """``sha256`` over the layer names and sizes, in order (``"name:size\\n"`` lines)."""
    text = "".join(f"{name}:{int(size)}\n" for name, size in layer_sizes.items())
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def adjacency_fingerprint(graph: Any) -> str:
    """``sha256`` over the canonical CSR of a graph's adjacency.

    Hashes the shape (two int64), then ``indptr`` (int64), ``indices`` (int32) and
    ``data`` (float64), little-endian, of the canonical matrix (sorted indices, no
    explicit zeros).
    """
    g = as_neuron_graph(graph)
    indptr, indices, data = g.csr_arrays()
    h = hashlib.sha256()
    h.update(np.asarray(g.adjacency.shape, dtype="<i8").tobytes())
    for arr, dtype in ((indptr, "<i8"), (indices, "<i4"), (data, "<f8")):
        h.update(np.ascontiguousarray(arr, dtype=dtype).data)
    return "sha256:" + h.hexdigest()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_optional_fields(document: Mapping[str, Any]) -> None:
    """Refuse optional fields of the wrong JSON type (``ValueError`` naming the field).

    Checked: the optional top-level fields and the nested values the reader uses
    (``metrics.ncut``, ``metrics.modularity``, ``graph.adjacency_sha256``).
    """

    def check(
        where: Mapping[str, Any], key: str, ok: Callable[[Any], bool], what: str, path: str
    ) -> None:
        value = where.get(key)
        if value is not None and not ok(value):
            raise ValueError(
                f"'{path}' must be {what} or null, got {type(value).__name__} {value!r}"
            )

    check(document, "method", lambda v: isinstance(v, str), "a string", "method")
    check(document, "params", lambda v: isinstance(v, Mapping), "an object", "params")
    check(
        document,
        "random_state",
        lambda v: isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)),
        "an integer or a string",
        "random_state",
    )
    for field in ("metrics", "graph"):
        check(document, field, lambda v: isinstance(v, Mapping), "an object", field)
    metrics = document.get("metrics") or {}
    for key in ("ncut", "modularity"):
        check(metrics, key, _is_number, "a number", f"metrics.{key}")
    graph = document.get("graph") or {}
    check(
        graph,
        "adjacency_sha256",
        lambda v: isinstance(v, str),
        "a string",
        "graph.adjacency_sha256",
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
    >>> import numpy as np, scipy.sparse as sp
    >>> from nngraph import NeuronGraph
    >>> a = sp.csr_array(np.array([[0, 1, 1, 0], [1, 0, 0, 1], [1, 0, 0, 1], [0, 1, 1, 0.]]))
    >>> g = NeuronGraph(a, ["input", "fc"], [0, 0, 1, 1], [0, 1, 0, 1])
    >>> p = Partition([0, 1, 0, 1], g, method="manual")
    >>> p.layer_labels["fc"]
    array([0, 1])
    >>> p.metrics["ncut"]    # two edges cut, each cluster has volume 4
    1.0
    >>> [(s.layer, s.cluster, s.units.tolist()) for s in p.subclusters(min_size=1)]
    [('input', 0, [0]), ('input', 1, [1]), ('fc', 0, [0]), ('fc', 1, [1])]
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
            names, extents = _layout(g)
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

    # ------------------------------------------------------------------ binding
    def _check_layout(self, graph: NeuronGraph) -> None:
        names, extents = _layout(graph)
        mine = self.layer_sizes
        for name in names:
            if name not in mine:
                raise ValueError(
                    f"the graph has a layer {name!r} that the partition does not have "
                    f"(partition layers: {self.layer_names})"
                )
            if mine[name] != extents[name]:
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
        """Groups of units that share a cluster and a layer (method.md section 2).

        Parameters
        ----------
        min_size : int, default=2
            Keep groups of at least this many units (paper: 2; 3 for feature
            visualisation, 5 for data-set examples).
        max_fraction : float, default=0.99
            Keep groups holding at most this fraction of the layer's units, all of them
            counted, including units labelled -1 (paper: 0.99 of the layer; 0.75 for
            data-set examples).

        Returns
        -------
        list of Subcluster
            In layer order, then by increasing cluster label.
        """
        if not isinstance(min_size, numbers.Integral) or min_size < 1:
            raise ValueError(f"min_size must be an integer >= 1, got {min_size!r}")
        if not 0 < max_fraction <= 1:
            raise ValueError(f"max_fraction must be in (0, 1], got {max_fraction!r}")
        out = []
        for name in self.layer_names:
            lab = self.layer_labels[name]
            units = np.flatnonzero(lab >= 0)
            if units.size == 0:
                continue
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

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``docs/partition-format.md`` as plain Python objects."""
        info = dict(self.graph_info)
        if self._graph is not None and info.get("adjacency_sha256") is None:
            info["adjacency_sha256"] = adjacency_fingerprint(self._graph)
            self.graph_info["adjacency_sha256"] = info["adjacency_sha256"]
        info = {k: v for k, v in info.items() if v is not None}
        return {
            "format": FORMAT,
            "version": VERSION,
            "layers": [
                {"name": name, "labels": self.layer_labels[name].tolist()}
                for name in self.layer_names
            ],
            "method": self.method,
            "params": self.params,
            "random_state": self.random_state,
            "metrics": to_jsonable(self.metrics, what="metrics", nonfinite="error"),
            "graph": to_jsonable(info, what="graph", nonfinite="error"),
        }

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
        """
        if not isinstance(document, Mapping):
            raise ValueError(
                f"a partition document is a JSON object, got {type(document).__name__}"
            )
        if document.get("format") != FORMAT:
            raise ValueError(
                f"not an nngraph partition (format {document.get('format')!r}, expected {FORMAT!r})"
            )
        version = document.get("version")
        if type(version) is not int or version != VERSION:
            raise ValueError(
                f"partition format version {version!r} is not supported; "
                f"this nngraph reads version {VERSION}"
            )
        _check_optional_fields(document)
        layers = document.get("layers")
        if not isinstance(layers, list):
            raise ValueError("'layers' must be a list of {'name': ..., 'labels': [...]}")
        labels: dict[str, np.ndarray] = {}
        for i, layer in enumerate(layers):
            if not isinstance(layer, Mapping) or "name" not in layer or "labels" not in layer:
                raise ValueError(f"layers[{i}] must be an object with 'name' and 'labels'")
            name = layer["name"]
            if not isinstance(name, str):
                raise ValueError(f"layers[{i}].name must be a string, got {name!r}")
            if name in labels:
                raise ValueError(f"layer {name!r} appears twice")
            values = layer["labels"]
            if not isinstance(values, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in values
            ):
                raise ValueError(f"layers[{i}].labels ({name!r}) must be a list of integers")
            labels[name] = check_labels(
                np.asarray(values, dtype=np.int64), name=f"labels of layer {name!r}"
            )
        part = cls(
            labels,
            None,
            method=document.get("method"),
            params=document.get("params") or {},
            random_state=document.get("random_state"),
        )
        stored_graph = document.get("graph") or {}
        stored_metrics = document.get("metrics") or {}
        if graph is None:
            part.metrics.update(
                {k: v for k, v in stored_metrics.items() if k in ("ncut", "modularity")}
            )
            if "adjacency_sha256" in stored_graph:
                part.graph_info["adjacency_sha256"] = stored_graph["adjacency_sha256"]
            return part
        g = as_neuron_graph(graph)
        part._check_layout(g)
        part._graph = g
        part._compute_graph_metrics(g)
        stored_hash = stored_graph.get("adjacency_sha256")
        if stored_hash is not None:
            actual = adjacency_fingerprint(g)
            part.graph_info["adjacency_sha256"] = actual
            if actual != stored_hash:
                warnings.warn(
                    "the graph has the partition's layers but different edge weights than "
                    "the graph it was computed on; metrics are recomputed on this graph",
                    GraphMismatchWarning,
                    stacklevel=2,
                )
        return part

    def save(self, path: str | os.PathLike) -> Path:
        """Write the partition as JSON (``docs/partition-format.md``), atomically.

        The document is serialised in memory first, written to a temporary file in the
        same directory and moved over ``path`` with ``os.replace``: a failure never
        leaves ``path`` half-written or replaces an existing file.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        path = Path(path)
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False)
        atomic_write(path, lambda fh: fh.write(text + "\n"), binary=False)
        return path

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
        """
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{path} is not a valid partition file (truncated or corrupt JSON: {exc})"
            ) from exc
        try:
            return cls.from_dict(document, graph=graph)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc

    @classmethod
    def from_estimator(cls, estimator: Any, graph: Any) -> Partition:
        """A partition from a fitted clustering estimator (``labels_``, ``get_params``).

        Records the estimator's class name as ``method``, its JSON-serialisable
        parameters as ``params`` and its ``random_state``.
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
