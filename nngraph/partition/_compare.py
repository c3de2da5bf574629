"""Run several partitioners on one graph and tabulate how they compare.

:func:`compare_partitioners` fits a clone of each partitioner on the same graph and
returns a :class:`PartitionerComparison`: per method the fit time, number of clusters,
n-cut, modularity (resolution 1, so every method is scored alike) and cluster sizes,
plus the pairwise NMI and ARI between all methods. It prints as a fixed-width table
and writes CSV or JSON. ``nngraph compare`` is the same from the command line.
"""

from __future__ import annotations

import ast
import csv
import io
import math
import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import clone

from ..graphs._canonical import as_neuron_graph
from ..utils._io import atomic_write, json_text, to_jsonable
from ..utils._validation import seed_from
from ._label_propagation import LabelPropagation
from ._leiden import Leiden
from ._louvain import Louvain
from ._metrics import cluster_sizes, compare_partitions, modularity, ncut
from ._spectral_clustering import SpectralClustering

__all__ = [
    "PartitionerComparison",
    "compare_partitioners",
    "make_partitioner",
    "make_partitioners",
]

_SIZES_SHOWN = 8


# --------------------------------------------------------------------------- specs


def _registry() -> dict[str, type]:
    return {
        "spectral": SpectralClustering,
        "louvain": Louvain,
        "leiden": Leiden,
        "label_propagation": LabelPropagation,
        "lpa": LabelPropagation,
    }


def _parse_value(text: str) -> Any:
    """Read a spec's value: a Python literal, or true/false/none as in TOML, or the text."""
    words = {"true": True, "false": False, "none": None}
    if text.lower() in words:
        return words[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def make_partitioner(spec: str, *, n_clusters: int = 12, random_state: Any = None) -> Any:
    """Build a partitioner from a short text spec such as ``"louvain:resolution=2"``.

    Parameters
    ----------
    spec : str
        ``name`` or ``name:key=value,key=value``. Names: ``louvain``, ``leiden``,
        ``label_propagation`` (or ``lpa``) and ``spectral``. Values are Python literals
        (``2``, ``0.5``, ``None``, ``'igraph'``); anything else is taken as a string.
    n_clusters : int, default=12
        ``n_clusters`` for ``spectral`` when the spec does not set it.
    random_state : int, optional
        The seed of a partitioner that takes one, when the spec does not set it (a
        ``random_state`` in the spec wins).

    Returns
    -------
    estimator

    Examples
    --------
    >>> make_partitioner("louvain:resolution=2,backend=igraph")
    Louvain(backend='igraph', resolution=2)
    >>> make_partitioner("spectral:random_state=3", random_state=0).random_state
    3
    """
    name, _, rest = spec.partition(":")
    name = name.strip().lower().replace("-", "_")
    registry = _registry()
    if name not in registry:
        raise ValueError(f"unknown partitioner {name!r} in {spec!r}; known: {sorted(registry)}")
    params: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"expected key=value in {spec!r}, got {item!r}")
        if key.strip() in params:
            raise ValueError(f"{spec!r} sets {key.strip()!r} twice")
        params[key.strip()] = _parse_value(value.strip())
    if name == "spectral":
        params.setdefault("n_clusters", n_clusters)
    known = sorted(registry[name]().get_params(deep=False))  # __init__ only stores them
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(
            f"{spec!r}: {name} has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters: {', '.join(known)}"
        )
    est = registry[name](**params)
    if random_state is not None and "random_state" not in params:
        if "random_state" in est.get_params(deep=False):
            est.set_params(random_state=random_state)
    return est


def make_partitioners(
    specs: Sequence[str],
    *,
    n_clusters: int = 12,
    equal_k: bool = False,
    random_state: Any = None,
) -> dict[str, Any]:
    """Partitioners from text specs, named by their specs (repeats get ``-1``, ``-2``).

    Parameters
    ----------
    specs : sequence of str
        Specs for :func:`make_partitioner`.
    n_clusters : int, default=12
        ``n_clusters`` for ``spectral`` (and, with ``equal_k``, for the modularity
        methods, which then search the resolution that gives it).
    equal_k : bool, default=False
        Give Louvain and Leiden ``n_clusters=n_clusters`` where their spec sets none.
    random_state : int, optional
        As for :func:`make_partitioner`.

    Returns
    -------
    dict of str to estimator

    Examples
    --------
    >>> list(make_partitioners(["louvain", "louvain:resolution=2", "spectral"]))
    ['louvain', 'louvain:resolution=2', 'spectral']
    """
    if isinstance(specs, str):
        specs = [specs]
    estimators = []
    for spec in specs:
        est = make_partitioner(spec, n_clusters=n_clusters, random_state=random_state)
        params = est.get_params(deep=False)
        if equal_k and "resolution" in params and params.get("n_clusters", 0) is None:
            est.set_params(n_clusters=n_clusters)
        estimators.append(est)
    return dict(zip(_unique([s.strip() for s in specs]), estimators, strict=True))


def _unique(names: list[str]) -> list[str]:
    """Suffix repeated names with ``-1``, ``-2``, ... so that every name is unique."""
    counts = Counter(names)
    seen: Counter[str] = Counter()
    out = []
    for name in names:
        if counts[name] > 1:
            seen[name] += 1
            name = f"{name}-{seen[name]}"
        out.append(name)
    return out


def _named(partitioners: Any) -> list[tuple[str, Any]]:
    if isinstance(partitioners, Mapping):
        items = [(str(k), v) for k, v in partitioners.items()]
    elif isinstance(partitioners, (str, bytes)) or not isinstance(partitioners, Sequence):
        raise TypeError(
            "partitioners must be a dict name -> estimator, or a list of estimators or "
            f"specs, got {type(partitioners).__name__}"
        )
    else:
        names = [p.strip() if isinstance(p, str) else type(p).__name__ for p in partitioners]
        items = list(zip(_unique(names), partitioners, strict=True))
    if not items:
        raise ValueError("no partitioners to compare")
    out = []
    for name, p in items:
        est = make_partitioner(p) if isinstance(p, str) else p
        if not hasattr(est, "fit") or not hasattr(est, "get_params"):
            raise TypeError(
                f"partitioner {name!r} is not an estimator (needs fit and get_params): {est!r}"
            )
        out.append((name, est))
    return out


# --------------------------------------------------------------------------- result


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def _fixed_width(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _csv_value(value: Any) -> Any:
    return repr(float(value)) if isinstance(value, (float, np.floating)) else value


@dataclass(eq=False)
class PartitionerComparison:
    """The result of :func:`compare_partitioners`.

    Attributes
    ----------
    names : list of str
        The methods, in the order given.
    rows : list of dict
        Per method: ``method``, ``estimator`` (its repr), ``params``, ``seconds`` (wall
        time of ``fit``), ``n_clusters``, ``n_isolated`` (units labelled ``-1``),
        ``ncut``, ``modularity`` (resolution 1) and ``sizes`` (cluster sizes, largest
        first).
    labels : dict of str to ndarray
        Each method's labels.
    estimators : dict of str to estimator
        The fitted clones.
    nmi, ari : ndarray, shape (n_methods, n_methods)
        Pairwise normalised mutual information and adjusted Rand index.
    graph : dict
        ``n_nodes`` and ``n_edges`` of the graph.
    extra_columns : list of str
        Columns added to every row after the comparison (:meth:`add_column`), e.g. the
        proxies' summaries of :func:`nngraph.proxies.judge_partitions`; printed in a
        table of their own and written after ``modularity``.
    details : dict
        What the added columns were computed from, by method (e.g. the proxies'
        results); not written to files.
    """

    names: list[str]
    rows: list[dict[str, Any]]
    labels: dict[str, np.ndarray]
    estimators: dict[str, Any]
    nmi: np.ndarray
    ari: np.ndarray
    graph: dict[str, Any]
    extra_columns: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"PartitionerComparison(methods={self.names}, n_nodes={self.graph['n_nodes']})"

    def add_column(self, name: str, values: Mapping[str, Any]) -> None:
        """Add a column: ``values[method]`` for each method (missing methods get NaN).

        Parameters
        ----------
        name : str
            The column's name; not one of the comparison's own columns.
        values : mapping of str to value
            A number or short text per method.
        """
        own = {"method", "estimator", "params", "seconds", "n_clusters", "n_isolated"}
        if name in own | {"ncut", "modularity", "sizes"}:
            raise ValueError(f"{name!r} is one of the comparison's own columns")
        unknown = set(values) - set(self.names)
        if unknown:
            raise ValueError(f"no method named {sorted(unknown)} in {self.names}")
        for row in self.rows:
            row[name] = values.get(row["method"], float("nan"))
        if name not in self.extra_columns:
            self.extra_columns.append(name)

    def __str__(self) -> str:
        header = ["method", "seconds", "clusters", "isolated", "ncut", "modularity", "sizes"]
        rows = []
        for r in self.rows:
            sizes = " ".join(map(str, r["sizes"][:_SIZES_SHOWN]))
            if len(r["sizes"]) > _SIZES_SHOWN:
                sizes += " ..."
            rows.append(
                [
                    r["method"],
                    f"{r['seconds']:.3f}",
                    str(r["n_clusters"]),
                    str(r["n_isolated"]),
                    _fmt(r["ncut"]),
                    _fmt(r["modularity"]),
                    sizes,
                ]
            )
        parts = [
            f"{self.graph['n_nodes']} units, {self.graph['n_edges']} edges",
            _fixed_width(header, rows),
        ]
        if self.extra_columns:
            body = [
                [r["method"]] + [_fmt(r.get(c, "")) for c in self.extra_columns] for r in self.rows
            ]
            parts.append(_fixed_width(["method"] + self.extra_columns, body))
        for title, matrix in (("NMI", self.nmi), ("ARI", self.ari)):
            body = [[a] + [_fmt(float(v)) for v in matrix[i]] for i, a in enumerate(self.names)]
            parts.append(f"{title}\n" + _fixed_width([""] + self.names, body))
        return "\n\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict: ``graph``, ``methods`` (the rows), ``nmi`` and ``ari``.

        The pairwise scores are nested dicts, ``nmi[a][b]``; NaN becomes None.
        """

        def pairwise(m: np.ndarray) -> dict[str, dict[str, Any]]:
            return {
                a: {
                    b: to_jsonable(float(m[i, j]), unknown="repr") for j, b in enumerate(self.names)
                }
                for i, a in enumerate(self.names)
            }

        return {
            "graph": to_jsonable(self.graph, unknown="repr"),
            "methods": [to_jsonable(r, unknown="repr") for r in self.rows],
            "nmi": pairwise(self.nmi),
            "ari": pairwise(self.ari),
        }

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """Return the comparison as JSON text; also write it to ``path`` if given."""
        return json_text(self.to_dict(), path)

    def to_csv(self, path: str | os.PathLike[str] | None = None) -> str:
        """One row per method, with ``nmi_<other>`` and ``ari_<other>`` columns.

        ``sizes`` is a space-separated list. Written to ``path`` too if given. Returns
        the text.
        """
        columns = ["method", "seconds", "n_clusters", "n_isolated", "ncut", "modularity"]
        columns += self.extra_columns + ["sizes"]
        columns += [f"nmi_{b}" for b in self.names] + [f"ari_{b}" for b in self.names]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for i, r in enumerate(self.rows):
            writer.writerow(
                [
                    r["method"],
                    repr(r["seconds"]),
                    r["n_clusters"],
                    r["n_isolated"],
                    repr(r["ncut"]),
                    repr(r["modularity"]),
                ]
                + [_csv_value(r.get(c)) for c in self.extra_columns]
                + [
                    " ".join(map(str, r["sizes"])),
                ]
                + [repr(float(v)) for v in self.nmi[i]]
                + [repr(float(v)) for v in self.ari[i]]
            )
        text = buf.getvalue()
        if path is not None:
            atomic_write(path, lambda fh: fh.write(text), binary=False)
        return text


# --------------------------------------------------------------------------- main


def compare_partitioners(
    graph: Any, partitioners: Any, *, random_state: Any = None
) -> PartitionerComparison:
    """Fit several partitioners on one graph and compare their partitions.

    Each partitioner is cloned (:func:`sklearn.base.clone`) and fitted on the same
    graph; the originals are left unfitted.

    Parameters
    ----------
    graph : NeuronGraph, scipy sparse matrix or array, or array-like
        Symmetric, non-negative weights.
    partitioners : dict or list
        A dict ``name -> estimator``, or a list of estimators (named by class; a
        repeated class gets ``-1``, ``-2``, ... suffixes). An estimator may also be given
        as a spec string for :func:`make_partitioner` (e.g. ``"louvain:resolution=2"``,
        ``"spectral:n_clusters=12"``).
    random_state : None, int, numpy Generator or RandomState
        If given, every clone with a ``random_state`` parameter gets a seed drawn from
        it (one per method, in order), so the whole comparison is reproducible.
        Otherwise each keeps its own.

    Returns
    -------
    PartitionerComparison

    See Also
    --------
    compare_partitions : The NMI and ARI of two partitions, with their references.

    Examples
    --------
    >>> import nngraph as ng
    >>> from nngraph.datasets import layered_graph
    >>> graph, _ = layered_graph()           # 4 planted modules across 4 layers
    >>> cmp = ng.compare_partitioners(
    ...     graph, {"spectral": ng.SpectralClustering(4), "louvain": ng.Louvain()}, random_state=0
    ... )
    >>> [(r["method"], r["n_clusters"], round(r["ncut"], 3)) for r in cmp.rows]
    [('spectral', 4, 0.515), ('louvain', 4, 0.515)]
    >>> float(cmp.ari[0, 1])               # the same partition
    1.0
    """
    g = as_neuron_graph(graph)
    named = _named(partitioners)
    names = [n for n, _ in named]
    rng = None if random_state is None else np.random.default_rng(seed_from(random_state))
    rows, labels, fitted = [], {}, {}
    for name, est in named:
        est = clone(est)
        if rng is not None and "random_state" in est.get_params(deep=False):
            est.set_params(random_state=int(rng.integers(0, 2**31 - 1)))
        t0 = time.perf_counter()
        est.fit(g)
        seconds = time.perf_counter() - t0
        lab = np.asarray(est.labels_)
        sizes = np.sort(cluster_sizes(lab))[::-1]
        rows.append(
            {
                "method": name,
                "estimator": repr(est),
                "params": to_jsonable(est.get_params(deep=False), unknown="repr"),
                "seconds": float(seconds),
                "n_clusters": int(sizes.size),
                "n_isolated": int(np.count_nonzero(lab < 0)),
                "ncut": float(ncut(g, lab)),
                "modularity": float(modularity(g, lab)),
                "sizes": sizes.tolist(),
            }
        )
        labels[name] = lab
        fitted[name] = est
    m = len(names)
    nmi, ari = np.ones((m, m)), np.ones((m, m))
    for i in range(m):
        for j in range(i + 1, m):
            a, b = labels[names[i]], labels[names[j]]
            nmi[i, j] = nmi[j, i] = compare_partitions(a, b, method="nmi")
            ari[i, j] = ari[j, i] = compare_partitions(a, b, method="ari")
    info = {"n_nodes": g.n_nodes, "n_edges": g.n_edges, "kind": g.kind}
    return PartitionerComparison(names, rows, labels, fitted, nmi, ari, info)
