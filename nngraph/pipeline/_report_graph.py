"""The report's section on one graph: partition, clusterability, sub-clusters, comparison.

:func:`graph_section` turns a :class:`~nngraph.pipeline.GraphStudy` into a
:class:`~._report_document.Section` with six parts (partition and eigengap,
clusterability, the sub-cluster table, importance and coherence from
:mod:`._report_proxies`, the partitioners compared), drawing the pictures into
``figures/`` as it goes. A stage the study skipped is said to be "not run", with the
option that skips it; a picture that fails is said to have failed, and the rest of the
report is still written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import _figures as fig
from ._report_document import (
    Cell,
    Mono,
    Paragraph,
    Pictures,
    Section,
    Strong,
    Table,
    format_number,
    format_p,
    format_seconds,
    not_run,
)
from ._report_proxies import coherence_section, importance_section
from ._verdict import PROXY_STATISTICS

__all__ = ["graph_section"]

_SHORT = {
    ("importance", "balanced_accuracy"): "accuracy\u00a0Δ",
    ("importance", "loss"): "loss\u00a0Δ",
    ("importance", "selectivity"): "selectivity\u00a0Δ",
    ("dataset", "label_entropy"): "label entropy\u00a0Δ",
    ("visualization", "objective"): "vis. objective\u00a0Δ",
    ("visualization", "softmax_entropy"): "vis. entropy\u00a0Δ",
}
_NULLS = {
    "layer": "each weight matrix's entries permuted, zeros included",
    "layer_nonzero": "each weight matrix's non-zero entries permuted",
    "offdiagonal": "all the graph's edge weights permuted among the pairs of units",
}
# ------------------------------------------------------------------ partition


def _cluster_layer_table(graph: Any, labels: np.ndarray) -> Table:
    clusters = sorted(int(c) for c in np.unique(labels) if c >= 0)
    header = ["cluster", *(fig.layer_label(n, graph) for n in graph.layer_names), "all"]
    rows = []
    for c in clusters:
        counts = [
            int(np.count_nonzero(labels[graph.node_layer == i] == c))
            for i in range(len(graph.layer_names))
        ]
        cells = [Cell(str(n) if n else "·", muted=not n) for n in counts]
        rows.append([Cell(str(c), swatch=fig.cluster_colour(c)), *cells, str(sum(counts))])
    if np.any(labels < 0):
        counts = [
            int(np.count_nonzero(labels[graph.node_layer == i] < 0))
            for i in range(len(graph.layer_names))
        ]
        rows.append(
            [Cell("not clustered", swatch=fig.UNCLUSTERED), *map(str, counts), str(sum(counts))]
        )
    return Table.of(
        header,
        rows,
        numeric=range(1, len(header)),
        caption="Units of each cluster in each layer (a non-empty cell is a sub-cluster).",
    )


def _partition_section(kind: str, gs: Any, config: Any, draw: Pictures) -> Section:
    floor = config.subcluster_floor()
    graph, part = gs.graph, gs.partition
    labels = part.labels_for(graph)
    s = Section(f"{kind}-partition", "Partition and eigengap")
    s.add(
        Paragraph.of(
            f"Spectral clustering split the {graph.n_nodes:,} units into "
            f"{part.n_clusters} clusters with an n-cut of ",
            Strong(format_number(part.metrics.get("ncut"), 4)),
            f" (from 0 to {part.n_clusters}; lower means fewer and weaker edges between "
            f"clusters) and a modularity of {format_number(part.metrics.get('modularity'))}. "
            f"A cluster's units in one layer form a sub-cluster: there are "
            f"{len(part.subclusters(floor))} of at least {_units(floor)}.",
        )
    )
    gap_k = int(gs.eigengap.suggested_k)
    used = f"k = {config.k}" + (" (the papers' setting)" if config.k == 12 else "")
    finer = "finer" if config.k > gap_k else "coarser"
    s.add(
        Paragraph.of(
            f"The eigengap suggests k = {gap_k}"
            + (
                f", the k used: of the splits into at most {config.k} parts (the "
                f"eigenvalues computed), the clearest has {gap_k}."
                if gap_k == config.k
                else f": of the splits into at most {config.k} parts (the eigenvalues "
                f"computed), the clearest has {gap_k}, and {used} asks for {finer} groups "
                "than that."
            )
        )
    )
    s.add(
        draw.draw(
            "network",
            lambda p: fig.network_figure(
                graph, labels, p, title=f"{kind.capitalize()} graph: units coloured by cluster"
            ),
            "The network, layer by layer, units coloured by cluster",
            "Each column is a layer; each dot a unit, grouped by cluster (its number beside "
            "the group). Faint lines: the strongest edges between layers, in the cluster's "
            "colour where both ends share a cluster. The same colours mark the clusters in "
            "every picture and table of this report.",
        ),
        _cluster_layer_table(graph, labels),
        draw.draw(
            "eigengap",
            lambda p: fig.eigengap_figure(
                gs.eigengap, config.k, p, title=f"{kind.capitalize()} graph: eigengap"
            ),
            "Eigenvalue spectrum and eigengap",
            "Left: the leading eigenvalues of the normalised adjacency; right: the gap "
            "after each. A large gap after the first k eigenvalues means k well-separated "
            "groups.",
        ),
    )
    return s


# ------------------------------------------------------------------ clusterability


def _clusterability_section(kind: str, gs: Any, lines: list[str], draw: Pictures) -> Section:
    s = Section(f"{kind}-clusterability", "Clusterability")
    clus = gs.clusterability
    if clus is None:
        return s.add(not_run("n_shuffles = 0", "the test against shuffled networks was skipped"))
    line = next((x for x in lines if "shuffled copies" in x), None)
    if line:
        s.add(Paragraph.of(line, tone="lead"))
    s.add(
        Paragraph.of(
            f"Is the network's partition better than the partitions of networks with the "
            f"same weights in random places? Each of the {clus.n_shuffles} shuffled "
            f"networks ({_NULLS.get(clus.method, clus.method)}) was partitioned the same "
            f"way, with the same k. The p-value is the share of shuffles whose n-cut is at "
            f"least as low as the true one (counting the true network itself).",
        ),
        Paragraph.of(
            "The true n-cut is one k-means outcome: z can move noticeably between equally "
            "valid runs on the same network, so read it as a guide, and the p-value (from "
            "ranks) as the test.",
            tone="muted",
        ),
        draw.draw(
            "clusterability",
            lambda p: fig.clusterability_figure(
                clus, p, title=f"{kind.capitalize()} graph: true n-cut against shuffled networks"
            ),
            "True n-cut against the shuffled networks",
            "Grey: the n-cuts of the shuffled networks; red: the true network's. Left of "
            "the grey means more clusterable than chance.",
        ),
    )
    return s


# ------------------------------------------------------------------ sub-clusters


def _stat_columns(gs: Any) -> list[tuple[str, str, Any]]:
    """Return ``(proxy key, statistic, Statistic)`` for every column of the table."""
    out = []
    for key, res in gs.proxies().items():
        by_name = {st.name: st for st in res.statistics}
        out += [(key, name, by_name[name]) for name, _ in PROXY_STATISTICS[key] if name in by_name]
    return out


def _label_counts(labels: Any) -> str:
    """Summarise the labels of the top examples: each label with its count, commonest first.

    Examples
    --------
    >>> _label_counts([8, 0, 8, 1, 8, 6, 0, 8, 1, 8])
    '8×5 0×2 1×2 6'
    """
    if not labels:
        return "–"
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    order = np.argsort(-counts, kind="stable")
    return " ".join(f"{values[i]}×{counts[i]}" if counts[i] > 1 else str(values[i]) for i in order)


def _identity(sc: Any) -> list[Cell]:
    """Return a sub-cluster's first cells: its cluster (with its colour) and its size."""
    return [
        Cell(str(sc.cluster), swatch=fig.cluster_colour(sc.cluster)),
        Cell(str(sc.size), detail=f"{sc.fraction:.0%}"),
    ]


def _units(n: int) -> str:
    return "one unit" if n == 1 else ("two units" if n == 2 else f"{n} units")


def _subcluster_section(kind: str, gs: Any, config: Any) -> Section:
    s = Section(f"{kind}-subclusters", "Sub-cluster table")
    tested = {(r["layer"], r["cluster"]): r for r in gs.subcluster_table()}
    columns = _stat_columns(gs)
    subclusters = gs.partition.subclusters(config.subcluster_floor())
    if not columns:
        rows = [[fig.layer_label(x.layer, gs.graph), *_identity(x)] for x in subclusters]
        return s.add(
            not_run(
                "importance = false, coherence = []",
                "no sub-cluster was tested for importance or coherence; their sizes follow",
            ),
            Table.of(["layer", "cluster", "units"], rows, numeric=(2,)) if rows else None,
        )
    lower = [_SHORT.get((k, n), n)[:-2] for k, n, st in columns if st.alternative == "less"]
    higher = [_SHORT.get((k, n), n)[:-2] for k, n, st in columns if st.alternative != "less"]
    s.add(
        Paragraph.of(
            "Each cell shows Δ, the sub-cluster's value minus the mean of its "
            f"{config.n_random} random same-size sets, with its p-value below. ",
            Strong("Highlighted"),
            f" cells are significant after Benjamini-Hochberg at {config.alpha:g}. "
            "Stronger than random: "
            + "; ".join(
                part
                for part in (
                    f"a negative Δ for {', '.join(lower)}" if lower else "",
                    f"a positive Δ for {', '.join(higher)}" if higher else "",
                )
                if part
            )
            + ". A dash: too small for that test.",
        )
    )
    header = ["cluster", "units", *(_SHORT.get((k, n), n) for k, n, _ in columns)]
    has_classes = any(r.get("classes_hurt") for r in tested.values())
    has_labels = any(r.get("top_labels") for r in tested.values())
    header += ["hurts classes"] * has_classes + ["top-example labels"] * has_labels
    for layer in gs.graph.layer_names:
        rows = []
        mine = [x for x in subclusters if x.layer == layer]
        caption = (
            f"{fig.layer_label(layer, gs.graph)} ({int(gs.partition.layer_sizes[layer])} units)"
        )
        if mine and not any((layer, x.cluster) in tested for x in mine):
            # A layer no proxy tested (the input units): its sizes only.
            sizes = [_identity(x) for x in mine]
            untested = f"{caption}: not tested"
            s.add(Table.of(["cluster", "units"], sizes, numeric=(1,), caption=untested))
            continue
        for sc in mine:
            r = tested.get((layer, sc.cluster), {})
            cells = _identity(sc)
            for key, name, _ in columns:
                p = r.get(f"{key}.{name}_p")
                if p is None:
                    cells.append(Cell("–", muted=True))
                    continue
                cells.append(
                    Cell(
                        format_number(r.get(f"{key}.{name}_effect"), 2, sign=True),
                        highlight=bool(r.get(f"{key}.{name}_significant")),
                        detail=f"p {format_p(p)}",
                    )
                )
            if has_classes:
                cells.append(", ".join(map(str, r.get("classes_hurt") or [])) or "–")
            if has_labels:
                cells.append(_label_counts(r.get("top_labels")))
            rows.append(cells)
        if rows:
            s.add(
                Table.of(
                    header,
                    rows,
                    numeric=range(1, 2 + len(columns)),
                    caption=caption,
                )
            )
    if not subclusters:
        s.add(Paragraph.of("No sub-cluster has two units or more.", tone="muted"))
    return s


# ------------------------------------------------------------------ comparison


def _comparison_section(kind: str, gs: Any, draw: Pictures) -> Section:
    s = Section(f"{kind}-comparison", "Partitioners compared")
    comp = gs.comparison
    if comp is None or len(comp.names) < 2:
        return s.add(
            not_run("partitioners", "fewer than two partitioners were asked for")
            if comp is None
            else Paragraph.of(
                f"Only {comp.names[0]} was run: nothing to compare (add a partitioner to ",
                Mono("partitioners"),
                ").",
                tone="muted",
            )
        )
    ref = comp.names.index("spectral") if "spectral" in comp.names else 0
    s.add(
        Paragraph.of(
            f"Do other ways of finding groups agree with {comp.names[ref]} clustering? "
            "NMI (normalised mutual information) and ARI (adjusted Rand index) are 1 for "
            "the same partition and near 0 for unrelated ones. Modularity is that of "
            "Newman (higher: more edge weight inside clusters than chance)."
        )
    )
    rows = [
        [
            r["method"],
            str(r["n_clusters"]),
            str(r["n_isolated"]),
            format_number(r["ncut"], 4),
            format_number(r["modularity"], 3),
            f"{float(comp.nmi[ref, i]):.2f}",
            f"{float(comp.ari[ref, i]):.2f}",
            format_seconds(float(r["seconds"])),
        ]
        for i, r in enumerate(comp.rows)
    ]
    s.add(
        Table.of(
            [
                "method",
                "clusters",
                "left out",
                "n-cut",
                "modularity",
                f"NMI with {comp.names[ref]}",
                f"ARI with {comp.names[ref]}",
                "time",
            ],
            rows,
            numeric=range(1, 8),
        ),  # fmt: skip
        draw.draw(
            "comparison",
            lambda p: fig.comparison_figure(
                comp, p, title=f"{kind.capitalize()} graph: partitioners compared"
            ),
            "How the partitions overlap",
            "Rows: the clusters of spectral clustering (in their colours); columns: the "
            "other method's; each cell: units in both, shaded by the share of the row.",
        ),
    )
    return s


# ------------------------------------------------------------------ the section


def graph_section(
    kind: str,
    gs: Any,
    result: Any,
    verdict: Any,
    folder: Path,
    failures: list[str],
    pictures: bool = True,
    queue: Any = None,
) -> Section:
    """Build the report's section on one graph, drawing its pictures into ``folder``.

    Parameters
    ----------
    kind : str
        The graph's kind (``"weight"``, ``"activation"``).
    gs : GraphStudy
        What the study found on it.
    result : StudyResult
        The whole result (configuration, data).
    verdict : GraphVerdict
        The graph's verdict (its clusterability line opens that part).
    folder : Path
        The output folder (pictures go to ``folder / "figures"``).
    failures : list of str
        Receives a line for each picture that could not be drawn.
    pictures : bool, default=True
        Draw the pictures (False: the section has none).
    queue : PictureQueue, optional
        Queue the pictures there instead of drawing them now.

    Returns
    -------
    Section
    """
    draw = Pictures(folder, kind, failures, pictures, queue)
    graph = gs.graph
    edges = (
        "an edge joins two units of consecutive layers, weighted by the absolute weight "
        "between them (the inputs are units too)"
        if kind == "weight"
        else "an edge joins two units, weighted by the squared correlation of their "
        "activations over the training examples"
    )
    section = Section(kind, f"{kind.capitalize()} graph")
    section.add(
        Paragraph.of(
            f"The {kind} graph has {graph.n_nodes:,} units in {len(graph.layer_names)} "
            f"layers and {graph.n_edges:,} edges: {edges}. Its verdict is at the top of "
            "the report; here is each stage's evidence."
        )
    )
    section.subsections = [
        _partition_section(kind, gs, result.config, draw),
        _clusterability_section(kind, gs, verdict.lines, draw),
        _subcluster_section(kind, gs, result.config),
        importance_section(kind, gs, draw),
        coherence_section(kind, gs, result, draw),
        _comparison_section(kind, gs, draw),
    ]
    return section
