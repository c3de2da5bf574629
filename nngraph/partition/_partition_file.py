"""The JSON file format of a partition (``nngraph.partition``, version 1).

A partition file names every unit by layer name and unit index, so any tool that knows
a network's layers can write one nngraph reads. This module holds the format alone:
building the document, checking a document's fields, the two fingerprints that identify
the graph a partition was computed on, and reading and writing the file. Binding the
labels to a graph is :class:`nngraph.Partition`'s job. The format is documented in
``docs/partition-format.md`` in the repository.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..graphs._canonical import as_neuron_graph
from ..utils._io import to_jsonable, write_json
from ..utils._sparse import kernel_csr_arrays
from ..utils._validation import check_labels

__all__ = [
    "FORMAT",
    "VERSION",
    "StoredPartition",
    "ADJACENCY_ORDER",
    "adjacency_fingerprint",
    "parse_document",
    "partition_document",
    "read_document",
    "same_adjacency",
    "structure_fingerprint",
    "write_document",
]

FORMAT = "nngraph.partition"
VERSION = 1
#: How :func:`adjacency_fingerprint` orders the units (``graph.adjacency_order``).
ADJACENCY_ORDER = "layer, unit"


# ---------------------------------------------------------------------- fingerprints
def structure_fingerprint(layer_sizes: Mapping[str, int]) -> str:
    r"""``sha256`` over the layer names and sizes, in order (``"name:size\n"`` lines).

    Identifies the units (the architecture), not the weights.

    Parameters
    ----------
    layer_sizes : mapping of str to int
        Layer name to number of units, in layer order.

    Returns
    -------
    str
        ``"sha256:"`` followed by 64 hexadecimal digits.

    Examples
    --------
    >>> import hashlib
    >>> fp = structure_fingerprint({"input": 2, "fc": 3})
    >>> fp == "sha256:" + hashlib.sha256(b"input:2\nfc:3\n").hexdigest()
    True
    """
    text = "".join(f"{name}:{int(size)}\n" for name, size in layer_sizes.items())
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def adjacency_fingerprint(graph: Any) -> str:
    """``sha256`` over the canonical CSR of a graph's adjacency.

    Hashes the shape (two int64), then ``indptr`` (int64), ``indices`` (int32) and
    ``data`` (float64), little-endian, of the canonical matrix: units in (layer, unit
    index) order, sorted indices, no explicit zeros. Identifies the weights, whatever
    the order of the graph's nodes.

    Parameters
    ----------
    graph : NeuronGraph, scipy sparse matrix or array, or array-like
        The graph.

    Returns
    -------
    str
        ``"sha256:"`` followed by 64 hexadecimal digits.

    Examples
    --------
    >>> from nngraph.datasets import layered_graph
    >>> g, _ = layered_graph((4, 5, 3), 2, random_state=0)
    >>> adjacency_fingerprint(g) == adjacency_fingerprint(g.adjacency.toarray())
    True
    >>> adjacency_fingerprint(g) == adjacency_fingerprint(g.adjacency * 2)
    False
    >>> adjacency_fingerprint(g) == adjacency_fingerprint(g.subgraph(range(11, -1, -1)))
    True
    """
    g = as_neuron_graph(graph)
    # Units in (layer, unit index) order, whatever the graph's node order.
    return _hash_in_order(g, np.lexsort((g.node_unit, g.node_layer)))


def _hash_in_order(g: Any, order: np.ndarray) -> str:
    """``sha256`` over the canonical CSR of ``g``'s adjacency with its nodes in ``order``."""
    if np.array_equal(order, np.arange(order.size)):
        indptr, indices, data = g.csr_arrays()
    else:
        a = sp.csr_array(g.adjacency[order][:, order])
        a.sort_indices()
        indptr, indices, data = kernel_csr_arrays(a)
    h = hashlib.sha256()
    h.update(np.asarray(g.adjacency.shape, dtype="<i8").tobytes())
    for arr, dtype in ((indptr, "<i8"), (indices, "<i4"), (data, "<f8")):
        h.update(np.ascontiguousarray(arr, dtype=dtype).data)
    return "sha256:" + h.hexdigest()


def same_adjacency(
    graph: Any,
    stored: str,
    layer_names: Sequence[str],
    *,
    node_order: bool = False,
    fingerprint: str | None = None,
) -> bool:
    """Whether ``stored`` (a file's ``graph.adjacency_sha256``) fingerprints ``graph``.

    Besides :func:`adjacency_fingerprint`, the units in the order of ``layer_names``
    are accepted (a partition's layers, for a graph that lists the same layers in
    another order: the same weights between the same (layer name, unit) pairs). With
    ``node_order``, also the graph's own node order: how files written before the
    (layer, unit) order hashed (they do not record ``graph.adjacency_order``). That
    one is ambiguous (a graph with units renumbered can match it), so it is for those
    files only. Each order is hashed only if the one before did not match.

    Parameters
    ----------
    graph : NeuronGraph, scipy sparse matrix or array, or array-like
        The graph.
    stored : str
        The stored fingerprint.
    layer_names : sequence of str
        The partition's layers, in its order.
    node_order : bool, default=False
        Accept a hash in the graph's node order too.
    fingerprint : str, optional
        The graph's :func:`adjacency_fingerprint`, if the caller has it already.

    Returns
    -------
    bool

    Examples
    --------
    >>> from nngraph.datasets import layered_graph
    >>> g, _ = layered_graph((4, 5, 3), 2, random_state=0)
    >>> same_adjacency(g.subgraph(range(11, -1, -1)), adjacency_fingerprint(g), g.layer_names)
    True
    """
    g = as_neuron_graph(graph)
    if stored == (fingerprint or adjacency_fingerprint(g)):
        return True
    tried = [np.lexsort((g.node_unit, g.node_layer))]  # adjacency_fingerprint's order
    rank = {name: i for i, name in enumerate(layer_names)}
    layer_rank = np.array([rank.get(name, len(rank)) for name in g.layer_names], dtype=np.int64)
    orders = [np.lexsort((g.node_unit, layer_rank[g.node_layer]))]
    if node_order:
        orders.append(np.arange(g.n_nodes))
    for order in orders:  # each order hashed once (they often coincide)
        if any(np.array_equal(order, seen) for seen in tried):
            continue
        tried.append(order)
        if stored == _hash_in_order(g, order):
            return True
    return False


# ---------------------------------------------------------------------- writing
def partition_document(
    layer_labels: Mapping[str, np.ndarray],
    layer_names: Sequence[str],
    *,
    method: str | None,
    params: Mapping[str, Any],
    random_state: int | str | None,
    metrics: Mapping[str, Any],
    graph_info: Mapping[str, Any],
) -> dict[str, Any]:
    """Build the JSON document of a partition, as plain Python objects.

    Parameters
    ----------
    layer_labels : mapping of str to ndarray of int
        Each layer's labels by unit index.
    layer_names : sequence of str
        The layers, in order.
    method, params, random_state, metrics, graph_info
        The optional fields; ``graph_info`` entries that are None are left out.

    Returns
    -------
    dict
        ``format``, ``version``, ``layers``, ``method``, ``params``, ``random_state``,
        ``metrics`` and ``graph``.

    Raises
    ------
    ValueError
        A metric or graph value JSON cannot hold (NaN, infinity).

    Examples
    --------
    >>> import numpy as np
    >>> doc = partition_document({"fc": np.array([0, 1])}, ["fc"], method=None, params={},
    ...                          random_state=None, metrics={}, graph_info={})
    >>> doc["format"], doc["version"], doc["layers"]
    ('nngraph.partition', 1, [{'name': 'fc', 'labels': [0, 1]}])
    """
    info = {k: v for k, v in graph_info.items() if v is not None}
    return {
        "format": FORMAT,
        "version": VERSION,
        "layers": [
            {"name": name, "labels": np.asarray(layer_labels[name]).tolist()}
            for name in layer_names
        ],
        "method": method,
        "params": params,
        "random_state": random_state,
        "metrics": to_jsonable(dict(metrics), what="metrics", nonfinite="error"),
        "graph": to_jsonable(info, what="graph", nonfinite="error"),
    }


def write_document(path: str | os.PathLike, document: Mapping[str, Any]) -> Path:
    """Write ``document`` to ``path`` as the format's JSON (indent 1), atomically.

    :meth:`nngraph.Partition.save` says what "atomically" guarantees;
    :func:`~nngraph.utils.write_json` does the writing.
    """
    return write_json(path, document, indent=1)


# ---------------------------------------------------------------------- reading
@dataclass(frozen=True)
class StoredPartition:
    """The checked content of a partition document.

    Attributes
    ----------
    layer_labels : dict of str to ndarray of int64
        Each layer's labels, in the document's layer order.
    method : str or None
    params : dict
    random_state : int, str or None
    metrics : dict
        The stored ``ncut`` and ``modularity`` (those present).
    adjacency_sha256 : str or None
        The stored adjacency fingerprint.
    adjacency_order : str or None
        How it was hashed: ``"layer, unit"``, or None in files written before the
        field (the graph's node order).
    graph_kind : str or None
        The kind of graph (``"weight"``, ``"activation"``) built from the network.
    network_sha256 : str or None
        The fingerprint of the network's parameters.
    """

    layer_labels: dict[str, np.ndarray]
    method: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    random_state: int | str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    adjacency_sha256: str | None = None
    adjacency_order: str | None = None
    graph_kind: str | None = None
    network_sha256: str | None = None


def read_document(path: str | os.PathLike) -> Any:
    """Read the JSON of a partition file (not yet checked: see :func:`parse_document`).

    Parameters
    ----------
    path : str or path-like
        The file.

    Returns
    -------
    Any
        The decoded JSON value.

    Raises
    ------
    ValueError
        Truncated or invalid JSON.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "p.json"
    ...     _ = path.write_text('{"format": "nngraph.partition"')
    ...     read_document(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ... is not a valid partition file (truncated or corrupt JSON: ...)
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{path} is not a valid partition file (truncated or corrupt JSON: {exc})"
        ) from exc


def parse_document(document: Any) -> StoredPartition:
    """Check a decoded partition document and return its content.

    Parameters
    ----------
    document : Any
        The decoded JSON document.

    Returns
    -------
    StoredPartition

    Raises
    ------
    ValueError
        Not an object, another format or version, malformed layers, or an optional
        field of the wrong JSON type (the message names the field).

    Examples
    --------
    >>> doc = {"format": "nngraph.partition", "version": 1,
    ...        "layers": [{"name": "fc", "labels": [0, -1]}]}
    >>> parse_document(doc).layer_labels
    {'fc': array([ 0, -1])}
    >>> parse_document(dict(doc, params=[1]))
    Traceback (most recent call last):
    ...
    ValueError: 'params' must be an object or null, got list [1]
    """
    if not isinstance(document, Mapping):
        raise ValueError(f"a partition document is a JSON object, got {type(document).__name__}")
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
    stored_metrics = document.get("metrics") or {}
    graph = document.get("graph") or {}
    return StoredPartition(
        layer_labels=_layer_labels(document.get("layers")),
        method=document.get("method"),
        params=dict(document.get("params") or {}),
        random_state=document.get("random_state"),
        metrics={k: v for k, v in stored_metrics.items() if k in ("ncut", "modularity")},
        adjacency_sha256=graph.get("adjacency_sha256"),
        adjacency_order=graph.get("adjacency_order"),
        graph_kind=graph.get("kind"),
        network_sha256=graph.get("network_sha256"),
    )


def _layer_labels(layers: Any) -> dict[str, np.ndarray]:
    """Parse the ``layers`` field as ``{name: labels}``: unique names, integer labels >= -1."""
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
        # Checked as Python ints first: a label beyond int64 is an error, not an overflow.
        labels[name] = check_labels(values, name=f"labels of layer {name!r}")
    return labels


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_optional_fields(document: Mapping[str, Any]) -> None:
    """Refuse optional fields of the wrong JSON type (``ValueError`` naming the field).

    Checked: the optional top-level fields and the nested values the reader uses
    (``metrics.ncut``, ``metrics.modularity``, ``graph.adjacency_sha256``,
    ``graph.adjacency_order``, ``graph.kind``, ``graph.network_sha256``).
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
    for key in ("metrics", "graph"):
        check(document, key, lambda v: isinstance(v, Mapping), "an object", key)
    metrics = document.get("metrics") or {}
    for key in ("ncut", "modularity"):
        check(metrics, key, _is_number, "a number", f"metrics.{key}")
    graph = document.get("graph") or {}
    for key in ("adjacency_sha256", "adjacency_order", "kind", "network_sha256"):
        check(graph, key, lambda v: isinstance(v, str), "a string", f"graph.{key}")
