"""The :class:`NeuronGraph`: a weighted, undirected graph of a network's units."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from ..utils._io import atomic_write
from ..utils._sparse import SYMMETRY_RTOL, is_symmetric, kernel_csr_arrays

if TYPE_CHECKING:  # pragma: no cover - optional dependencies, for annotations only
    import igraph
    import networkx

__all__ = ["NeuronGraph"]

_FORMAT = "nngraph.NeuronGraph"
_FORMAT_VERSION = 1
#: How a graph's edges were obtained.
KINDS = ("weight", "activation", "custom")

_ARRAYS = ("indptr", "indices", "data", "shape", "node_layer", "node_unit", "layer_pairs")


class NeuronGraph:
    """A weighted, undirected graph whose nodes are the units of a network.

    Parameters
    ----------
    adjacency : scipy sparse matrix or array, shape (n_nodes, n_nodes)
        Symmetric, non-negative edge weights. Stored as CSR with ``float64`` data,
        sorted indices and no explicit zeros.
    layer_names : sequence of str
        One name per layer: ``"input"`` for the input units, then module paths from
        ``model.named_modules()`` (e.g. ``"features.3"``).
    node_layer : array of int, shape (n_nodes,)
        For each node, the index of its layer in ``layer_names``.
    node_unit : array of int, shape (n_nodes,)
        For each node, its unit index within its layer (output feature of a ``Linear``,
        output channel of a convolution, input feature or channel for ``"input"``).
    layer_pairs : array of int, shape (n_pairs, 2), optional
        Pairs ``(producer, consumer)`` of layer indices joined by a weight matrix. The
        shuffled null models of :func:`nngraph.clusterability` permute these blocks.
        Empty for graphs without layer blocks (e.g. activation graphs).
    kind : str, default="weight"
        How the edges were obtained: ``"weight"``, ``"activation"`` or ``"custom"``.
    meta : dict, optional
        JSON-serialisable information about how the graph was built (options, per-layer
        details such as the module that normalises each layer).
    validate : bool, default=True
        Check symmetry, signs, finiteness and shapes.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> a = sp.csr_array(np.array([[0., 2.], [2., 0.]]))
    >>> g = NeuronGraph(a, ["input", "fc"], [0, 1], [0, 0])
    >>> g.n_nodes, g.n_edges
    (2, 1)
    >>> g.layer_sizes
    array([1, 1])
    """

    def __init__(
        self,
        adjacency: Any,
        layer_names: Sequence[str],
        node_layer: Any,
        node_unit: Any,
        *,
        layer_pairs: Any = None,
        kind: str = "weight",
        meta: dict | None = None,
        validate: bool = True,
    ) -> None:
        # Kept as given when already a CSR array (its cached format flags with it); either
        # way it may share arrays with the caller's matrix, so it is never cleaned in place.
        if getattr(adjacency, "dtype", None) is not None and np.dtype(adjacency.dtype).kind == "c":
            raise ValueError("adjacency holds complex numbers; edge weights are real")
        a = adjacency if isinstance(adjacency, sp.csr_array) else sp.csr_array(adjacency)
        if a.dtype != np.float64:
            a = a.astype(np.float64)
        if not a.has_canonical_format or (a.nnz and not a.data.all()):
            a = a.copy()  # clean our own copy: sorted, no duplicates, no explicit zeros
            a.sum_duplicates()
            a.eliminate_zeros()
        self.adjacency = a
        self.layer_names = [str(name) for name in layer_names]
        self.node_layer = _indices(node_layer, "node_layer")
        self.node_unit = _indices(node_unit, "node_unit")
        if layer_pairs is None:
            layer_pairs = np.empty((0, 2), dtype=np.int64)
        self.layer_pairs = np.asarray(layer_pairs, dtype=np.int64).reshape(-1, 2)
        self.kind = str(kind)
        self.meta = dict(meta or {})
        if validate:
            self._validate()

    # ------------------------------------------------------------------ properties
    @property
    def n_nodes(self) -> int:
        """Number of units (nodes)."""
        return int(self.adjacency.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of undirected edges with non-zero weight (self-loops count once)."""
        a = self.adjacency
        n_diag = int(np.count_nonzero(a.diagonal()))
        return (a.nnz - n_diag) // 2 + n_diag

    @property
    def layer_sizes(self) -> np.ndarray:
        """Number of units in each layer, in the order of ``layer_names``."""
        return np.bincount(self.node_layer, minlength=len(self.layer_names))

    @property
    def degree(self) -> np.ndarray:
        """Weighted degree of every node."""
        return np.asarray(self.adjacency.sum(axis=1)).ravel()

    def layer_nodes(self, layer: int | str) -> np.ndarray:
        """Return the indices of the nodes of one layer.

        Parameters
        ----------
        layer : int or str
            The layer's index in ``layer_names``, or its name.

        Returns
        -------
        ndarray of int64
            Node indices, increasing.

        Raises
        ------
        KeyError
            No layer has that name.
        IndexError
            No layer has that index.

        Examples
        --------
        >>> from nngraph.datasets import layered_graph
        >>> g, _ = layered_graph((4, 5, 3), 2, random_state=0)
        >>> g.layer_nodes("fc2")
        array([ 9, 10, 11])
        """
        if isinstance(layer, str):
            if layer not in self.layer_names:
                raise KeyError(f"no layer named {layer!r}; layers are {self.layer_names}")
            layer = self.layer_names.index(layer)
        elif not 0 <= layer < len(self.layer_names):
            raise IndexError(
                f"layer {layer} is not an index of layer_names (0..{len(self.layer_names) - 1})"
            )
        return np.flatnonzero(self.node_layer == layer)

    def __repr__(self) -> str:
        return (
            f"NeuronGraph(kind={self.kind!r}, n_nodes={self.n_nodes}, n_edges={self.n_edges}, "
            f"layers={len(self.layer_names)})"
        )

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        a = self.adjacency
        n = a.shape[0]
        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            raise ValueError(f"adjacency must be square, got shape {a.shape}")
        if a.nnz and (a.indices.min() < 0 or a.indices.max() >= n):
            raise ValueError(
                f"adjacency has a column index outside 0..{n - 1} (max {int(a.indices.max())})"
            )
        if not np.all(np.isfinite(a.data)):
            raise ValueError("adjacency contains NaN or infinite weights")
        if a.nnz and a.data.min() < 0:
            raise ValueError("adjacency contains negative weights; edge weights must be >= 0")
        for name, arr in (("node_layer", self.node_layer), ("node_unit", self.node_unit)):
            if arr.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
        if n and (self.node_layer.min() < 0 or self.node_layer.max() >= len(self.layer_names)):
            raise ValueError("node_layer holds an index outside layer_names")
        if n and self.node_unit.min() < 0:
            raise ValueError(
                f"node_unit holds a negative index ({int(self.node_unit.min())}); a unit's "
                "index within its layer is 0 or more"
            )
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        _json_header({"meta": self.meta})  # save() writes it as JSON
        if len(set(self.layer_names)) != len(self.layer_names):
            raise ValueError(f"layer_names must be unique, got {self.layer_names}")
        if self.layer_pairs.size and (
            self.layer_pairs.min() < 0 or self.layer_pairs.max() >= len(self.layer_names)
        ):
            raise ValueError("layer_pairs holds an index outside layer_names")
        keys = self.node_layer * (int(self.node_unit.max(initial=0)) + 1) + self.node_unit
        if np.unique(keys).size != n:
            raise ValueError("two nodes share the same (layer, unit)")
        if not is_symmetric(a):
            raise ValueError(
                f"adjacency is not symmetric (beyond a relative tolerance of {SYMMETRY_RTOL:g})"
            )

    # ------------------------------------------------------------------ arrays
    def csr_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the adjacency's CSR arrays in the dtypes every numba kernel of nngraph takes.

        Returns
        -------
        indptr : ndarray of int64
        indices : ndarray of int32
        data : ndarray of float64
            Contiguous; views of the adjacency's own arrays when they already have these
            dtypes, so never write to them (:func:`nngraph.utils._sparse.kernel_csr_arrays`).

        Examples
        --------
        >>> from nngraph.datasets import layered_graph
        >>> g, _ = layered_graph((4, 5, 3), 2, random_state=0)
        >>> [a.dtype.name for a in g.csr_arrays()]
        ['int64', 'int32', 'float64']
        """
        return kernel_csr_arrays(self.adjacency)

    def upper_edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each undirected edge once: ``(source, target, weight)`` with ``source <= target``.

        Returns
        -------
        source, target : ndarray of int64
        weight : ndarray of float64
            In CSR order (by source, then by target); a self-loop appears once.

        Examples
        --------
        >>> from nngraph.datasets import layered_graph
        >>> g, _ = layered_graph((4, 5, 3), 2, random_state=0)
        >>> source, target, weight = g.upper_edges()
        >>> source.size == g.n_edges, bool((source <= target).all())
        (True, True)
        """
        a = self.adjacency
        rows = np.repeat(np.arange(a.shape[0], dtype=np.int64), np.diff(a.indptr))
        keep = a.indices >= rows
        return rows[keep], a.indices[keep].astype(np.int64), a.data[keep]

    # ------------------------------------------------------------------ conversion
    def to_igraph(self) -> igraph.Graph:
        """Convert to a weighted, undirected ``igraph.Graph``.

        The edge attribute ``weight`` holds the weights; vertex attributes ``layer``
        (layer name) and ``unit`` hold each node's identity. The conversion never loops
        over edges in Python: the edge list goes to igraph's C reader in its binary
        GraphDB form (graphs of up to 65,535 nodes) or as a text edge list (larger
        graphs), through a temporary file that is removed afterwards.

        Returns
        -------
        igraph.Graph

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> a = sp.csr_array(np.array([[0., 2., 0.], [2., 0., 1.], [0., 1., 0.]]))
        >>> g = NeuronGraph(a, ["input", "fc"], [0, 1, 1], [0, 0, 1]).to_igraph()
        >>> g.ecount(), g.es["weight"]
        (2, [2.0, 1.0])
        """
        from ._igraph_convert import csr_to_igraph

        graph = csr_to_igraph(self.adjacency)
        names = np.asarray(self.layer_names, dtype=object)
        graph.vs["layer"] = names[self.node_layer].tolist()
        graph.vs["unit"] = self.node_unit.tolist()
        return graph

    def to_networkx(self) -> networkx.Graph:
        """Convert to a ``networkx.Graph`` with edge attribute ``weight``.

        Node attributes ``layer`` and ``unit`` name each unit. Requires networkx
        (``pip install networkx``).

        Returns
        -------
        networkx.Graph

        Examples
        --------
        >>> from nngraph.datasets import layered_graph
        >>> g, _ = layered_graph((4, 5, 3), 2, random_state=0)
        >>> nxg = g.to_networkx()
        >>> nxg.number_of_edges(), nxg.nodes[4]
        (35, {'layer': 'fc1', 'unit': 0})
        """
        try:
            import networkx as nx
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_networkx needs networkx: pip install networkx") from exc
        graph = nx.from_scipy_sparse_array(self.adjacency, edge_attribute="weight")
        names = self.layer_names
        attrs = {
            i: {"layer": names[layer], "unit": int(unit)}
            for i, (layer, unit) in enumerate(zip(self.node_layer, self.node_unit, strict=True))
        }
        nx.set_node_attributes(graph, attrs)
        return graph

    def write_graphml(self, path: str | os.PathLike) -> None:
        """Write the graph as GraphML (edge attribute ``weight``; nodes ``layer``, ``unit``).

        Parameters
        ----------
        path : str or path-like
            The file to write (through igraph; ``unit`` is declared an integer,
            ``long``, where igraph declares every number ``double``).

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from nngraph.datasets import layered_graph
        >>> g, _ = layered_graph((4, 5, 3), 2, random_state=0)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     g.write_graphml(pathlib.Path(tmp) / "g.graphml")
        ...     "<graphml" in (pathlib.Path(tmp) / "g.graphml").read_text()
        True
        """
        from ._igraph_convert import unit_as_integer

        self.to_igraph().write_graphml(os.fspath(path))
        unit_as_integer(path)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Save losslessly to a ``.npz`` file, written atomically.

        The format is documented in ``docs/graph-format.md`` in the repository.

        Parameters
        ----------
        path : str or path-like
            The file; ``.npz`` is appended when missing.

        Returns
        -------
        pathlib.Path
            The path written.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from nngraph.datasets import layered_graph
        >>> g, _ = layered_graph((4, 5, 3), 2, random_state=0)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = g.save(pathlib.Path(tmp) / "graph")
        ...     h = NeuronGraph.load(path)
        >>> path.name, (h.adjacency != g.adjacency).nnz, h.layer_names == g.layer_names
        ('graph.npz', 0, True)
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        a = self.adjacency
        header = {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "kind": self.kind,
            "layer_names": self.layer_names,
            "meta": self.meta,
        }
        arrays = {
            "header": np.array(_json_header(header)),
            "indptr": a.indptr,
            "indices": a.indices,
            "data": a.data,
            "shape": np.array(a.shape, dtype=np.int64),
            "node_layer": self.node_layer,
            "node_unit": self.node_unit,
            "layer_pairs": self.layer_pairs,
        }
        atomic_write(path, lambda fh: np.savez(fh, **arrays), binary=True)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> NeuronGraph:
        """Load a graph written by :meth:`save`.

        Parameters
        ----------
        path : str or path-like
            The ``.npz`` file.

        Returns
        -------
        NeuronGraph
            Validated as on construction.

        Raises
        ------
        ValueError
            Not a readable NeuronGraph file, another version, or missing arrays.
        """
        path = Path(path)
        with open(path, "rb") as fh:  # OSError (missing file, ...) as it is
            magic = fh.read(4)
        if magic != b"PK\x03\x04":
            raise ValueError(
                f"{path} is not a NeuronGraph file: a NeuronGraph file is a numpy .npz "
                f"archive written by NeuronGraph.save (this file starts with {magic!r})"
            )
        try:
            with np.load(path, allow_pickle=False) as f:
                header = json.loads(str(f["header"]))
                arrays = {k: f[k] for k in f.files if k != "header"}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{path} is not a readable NeuronGraph file: {exc}") from exc
        if not isinstance(header, dict):
            raise ValueError(f"{path} is not a NeuronGraph file (its header is not an object)")
        if header.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a NeuronGraph file (format {header.get('format')!r})")
        if header.get("version") != _FORMAT_VERSION:
            raise ValueError(
                f"{path} has NeuronGraph format version {header.get('version')}; "
                f"this nngraph reads version {_FORMAT_VERSION}"
            )
        missing = sorted(set(_ARRAYS) - set(arrays))
        if missing or not {"kind", "layer_names", "meta"} <= set(header):
            raise ValueError(
                f"{path} is an incomplete NeuronGraph file (missing: "
                f"{', '.join(missing) or 'header fields'})"
            )
        _check_file_fields(path, header, arrays)
        shape = tuple(int(s) for s in arrays["shape"])
        adjacency = sp.csr_array((arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape)
        return cls(
            adjacency,
            header["layer_names"],
            arrays["node_layer"],
            arrays["node_unit"],
            layer_pairs=arrays["layer_pairs"],
            kind=header["kind"],
            meta=header["meta"],
        )

    # ------------------------------------------------------------------ derived graphs
    def subgraph(self, nodes: Any) -> NeuronGraph:
        """Return the graph induced on ``nodes``, in the given order.

        Parameters
        ----------
        nodes : array-like of int or bool
            Node indices, or a boolean mask over the nodes.

        Returns
        -------
        NeuronGraph
            Same layers, kind, layer pairs and ``meta``; each node keeps its (layer,
            unit) identity.

        Examples
        --------
        >>> from nngraph.datasets import layered_graph
        >>> g, _ = layered_graph((4, 5, 3), 2, random_state=0)
        >>> h = g.subgraph(g.node_layer > 0)
        >>> h.n_nodes, h.layer_sizes.tolist()
        (8, [0, 5, 3])
        """
        nodes = np.asarray(nodes)
        if nodes.dtype == bool:
            if nodes.shape != (self.n_nodes,):
                raise ValueError(
                    f"a boolean mask of nodes must have shape ({self.n_nodes},), got {nodes.shape}"
                )
            nodes = np.flatnonzero(nodes)
        nodes = _indices(nodes, "nodes")
        if nodes.size and (nodes.min() < -self.n_nodes or nodes.max() >= self.n_nodes):
            raise IndexError(f"nodes holds an index outside 0..{self.n_nodes - 1}")
        nodes = nodes % max(self.n_nodes, 1)  # negative indices count from the end
        if np.unique(nodes).size != nodes.size:
            raise ValueError("nodes holds a node twice: each (layer, unit) may appear once")
        a = self.adjacency[nodes][:, nodes]
        return NeuronGraph(
            a,
            self.layer_names,
            self.node_layer[nodes],
            self.node_unit[nodes],
            layer_pairs=self.layer_pairs,
            kind=self.kind,
            meta=self.meta,
            validate=False,
        )

    def with_adjacency(self, adjacency: Any) -> NeuronGraph:
        """Return a graph with the same units and new edge weights (e.g. a shuffled copy).

        Parameters
        ----------
        adjacency : scipy sparse matrix or array, shape (n_nodes, n_nodes)
            The new weights (not validated).

        Returns
        -------
        NeuronGraph
            The same ``meta`` except ``network_sha256``: the new weights are not the
            network's.

        Examples
        --------
        >>> from nngraph.datasets import layered_graph
        >>> g, _ = layered_graph((4, 5, 3), 2, random_state=0)
        >>> h = g.with_adjacency(g.adjacency * 2)
        >>> bool(abs(h.degree.sum() - 2 * g.degree.sum()) < 1e-9), h.layer_names == g.layer_names
        (True, True)
        """
        return NeuronGraph(
            adjacency,
            self.layer_names,
            self.node_layer,
            self.node_unit,
            layer_pairs=self.layer_pairs,
            kind=self.kind,
            meta={k: v for k, v in self.meta.items() if k != "network_sha256"},
            validate=False,
        )


def _check_file_fields(path: Path, header: dict, arrays: dict[str, np.ndarray]) -> None:
    """Refuse a graph file whose fields have the wrong type or shape, naming the field."""

    def bad(field: str, what: str) -> ValueError:
        return ValueError(f"{path}: field {field!r} {what}")

    names = header["layer_names"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise bad("layer_names", f"must be a list of strings, got {type(names).__name__} {names!r}")
    if not isinstance(header["kind"], str):
        raise bad("kind", f"must be a string, got {header['kind']!r}")
    if not isinstance(header["meta"], dict):
        raise bad("meta", f"must be an object, got {type(header['meta']).__name__}")
    for name in ("indptr", "indices", "shape", "node_layer", "node_unit", "layer_pairs"):
        if arrays[name].dtype.kind not in "iu":
            raise bad(name, f"must hold integers, got dtype {arrays[name].dtype}")
    if arrays["data"].dtype.kind == "c":
        raise bad("data", "holds complex numbers; edge weights are real")
    if arrays["data"].dtype.kind not in "fiu":
        raise bad("data", f"must hold real numbers, got dtype {arrays['data'].dtype}")
    shape = arrays["shape"]
    if shape.shape != (2,) or shape[0] != shape[1] or shape[0] < 0:
        raise bad("shape", f"must be (n, n), got {shape.tolist()}")
    n = int(shape[0])
    indptr, indices, data = arrays["indptr"], arrays["indices"], arrays["data"]
    if indptr.shape != (n + 1,) or (n + 1 and (indptr[0] != 0 or np.any(np.diff(indptr) < 0))):
        raise bad("indptr", f"must be {n + 1} non-decreasing offsets starting at 0")
    if indices.shape != data.shape or indices.ndim != 1 or int(indptr[-1]) != data.size:
        raise bad("indices", f"and 'data' must both hold indptr[-1] = {int(indptr[-1])} entries")
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise bad("indices", f"holds a column outside 0..{n - 1} (max {int(indices.max())})")


def _indices(values: Any, name: str) -> np.ndarray:
    """``values`` as an int64 array; non-integral numbers are refused, not truncated."""
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        if not (np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))):
            raise ValueError(f"{name} must hold integer indices, got non-integral values")
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer indices, got {arr.dtype} values")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _json_header(header: dict) -> str:
    """``header`` as JSON; a ``meta`` that JSON cannot hold is refused, naming the value."""
    try:
        return json.dumps(header)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"meta must hold JSON values only (str, numbers, lists, dicts): {exc}"
        ) from None
