"""The study's answer in plain words, with the numbers behind it.

:func:`make_verdict` reads a :class:`~nngraph.pipeline.StudyResult` and says, per graph
and overall: is the network more clusterable than shuffled copies of itself (at what p,
from how many shuffles), how many sub-clusters are important or coherent after
Benjamini-Hochberg (and which), and what the numbers mean. The report opens with it
and ``nngraph run`` ends with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..utils._text import counted

__all__ = ["PROXY_STATISTICS", "GraphVerdict", "Verdict", "make_verdict"]

# Per proxy, its statistics in the order the verdict names them, with plain words for
# "this sub-cluster is significant for it".
PROXY_STATISTICS: dict[str, list[tuple[str, str]]] = {
    "importance": [
        ("balanced_accuracy", "lesioning it lowers accuracy more than lesioning random sets"),
        ("loss", "lesioning it raises the loss more than lesioning random sets"),
        ("selectivity", "its lesion hurts some classes more than others, beyond random sets"),
        # Networks with several heads (the two-digit task) only:
        ("head_gap", "its lesion hurts one head (task) more than another, beyond random sets"),
    ],
    "dataset": [
        ("label_entropy", "the inputs that excite it most share their labels"),
    ],
    "visualization": [
        ("objective", "an input optimised for it excites it more than random sets"),
        ("softmax_entropy", "its optimised input is classified more confidently"),
    ],
}


def _p(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


@dataclass
class GraphVerdict:
    """What the study says about one graph of the network.

    Attributes
    ----------
    kind : str
        ``"weight"`` or ``"activation"``.
    clusterable : bool or None
        More clusterable than shuffled networks at ``alpha`` (None: not tested).
    significant : dict of str to list of dict
        Per proxy key (``"importance"``, ``"dataset"``, ``"visualization"``): the
        sub-clusters significant for any of its statistics, each with ``layer``,
        ``cluster``, ``size`` and ``statistics`` (the names it is significant for).
    lines : list of str
        The findings in plain words, with their numbers.
    """

    kind: str
    clusterable: bool | None
    significant: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    @property
    def n_significant(self) -> int:
        """Sub-clusters significant for at least one proxy (each counted once)."""
        keys = {(r["layer"], r["cluster"]) for rows in self.significant.values() for r in rows}
        return len(keys)


@dataclass
class Verdict:
    """The study's answer: ``modular`` in one word, the headline, and per graph details.

    Attributes
    ----------
    modular : {"yes", "partly", "no", "untested"}
        "yes": a graph is more clusterable than its shuffles *and* some of its
        sub-clusters are significantly important or coherent; "partly": one of the
        two; "no": neither; "untested": no test was run.
    headline : str
        One sentence.
    graphs : dict of str to GraphVerdict
    notes : list of str
        What the reader needs to read the numbers right.
    """

    modular: str
    headline: str
    graphs: dict[str, GraphVerdict]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the verdict as plain JSON types."""
        return {
            "modular": self.modular,
            "headline": self.headline,
            "graphs": {
                k: {
                    "clusterable": g.clusterable,
                    "significant": g.significant,
                    "lines": g.lines,
                }
                for k, g in self.graphs.items()
            },
            "notes": self.notes,
        }

    def text(self) -> str:
        """Return the verdict as plain text (the end of ``nngraph run``)."""
        out = [f"Is it modular? {self.modular.upper()}. {self.headline}"]
        for g in self.graphs.values():
            out.append(f"\n{g.kind} graph:")
            out += [f"  - {line}" for line in g.lines]
        if self.notes:
            out.append("")
            out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)

    __str__ = text


def _clusterability_line(clus: Any, alpha: float) -> tuple[bool, str]:
    n = clus.n_shuffles
    p_min = 1.0 / (n + 1)
    more = clus.p <= alpha and clus.ncut < clus.mean
    z = clus.z
    z_text = f"z = {z:.2f}" if n >= 2 and abs(z) != float("inf") else "z undefined"
    floor = " (the smallest p that many shuffles can give)" if clus.p <= p_min * 1.0001 else ""
    where = "below" if clus.ncut < clus.mean else "not below"
    if more:
        head = "More clusterable than shuffled copies of the network"
    else:
        head = "Not shown to be more clusterable than shuffled copies of the network"
    return more, (
        f"{head}: its partition's n-cut {clus.ncut:.3f} is {where} the shuffles' "
        f"{clus.mean:.3f} ± {clus.std:.3f} ({z_text}; a negative z means fewer, weaker "
        f"edges between clusters than chance), p = {_p(clus.p)} from {n} shuffles{floor}."
    )


def _describe(row: dict[str, Any]) -> str:
    layer = str(row["layer"])
    layer = f"layer {layer}" if layer.isdigit() else layer
    return f"{layer}, cluster {row['cluster']} ({row['size']} units)"


def _classes(hurt: Any) -> str:
    """Write ``[9, 5, 3]`` as ``9, 5, 3`` and per-head lists as ``head 0: 9, 5; head 1: 2``."""
    if hurt and isinstance(hurt[0], (list, tuple)):
        return "; ".join(f"head {h}: {', '.join(map(str, c)) or '-'}" for h, c in enumerate(hurt))
    return ", ".join(map(str, hurt))


def _heads(row: dict[str, Any]) -> list[tuple[float, float]]:
    """Per head: balanced accuracy with the sub-cluster lesioned, and with random sets."""
    out, h = [], 0
    while f"balanced_accuracy_head{h}" in row:
        out.append(
            (row[f"balanced_accuracy_head{h}"], row[f"balanced_accuracy_head{h}_random_mean"])
        )
        h += 1
    return out


def _what_it_does(hit: dict[str, Any]) -> str:
    """Say what lesioning a significant sub-cluster does: to which head, or to which classes."""
    heads = hit.get("heads")
    if heads:
        worst = min(range(len(heads)), key=lambda h: heads[h][0] - heads[h][1])
        others = ", ".join(f"head {h} at {v:.2f}" for h, (v, _) in enumerate(heads) if h != worst)
        value, random = heads[worst]
        return (
            f"lesioning {_describe(hit)} leaves head {worst} at a balanced accuracy of "
            f"{value:.2f} (random sets: {random:.2f}) and {others}"
        )
    return f"lesioning {_describe(hit)} {hurts_classes(hit['classes_hurt'])}"


def hurts_classes(hurt: Any) -> str:
    """``hurts classes 9, 5, 3 most``; ``hurts class 4 most``; per head for several heads."""
    one = len(hurt) == 1 and not isinstance(hurt[0], (list, tuple))
    return f"hurts class{'' if one else 'es'} {_classes(hurt)} most"


def _proxy_lines(key: str, res: Any, out: GraphVerdict) -> None:
    stats = [(s, words) for s, words in PROXY_STATISTICS[key] if s in res.combined]
    if not stats or res.n_rows == 0:
        out.lines.append(f"{res.proxy}: no sub-cluster large enough to test.")
        return
    parts, hits = [], {}
    for name, words in stats:
        n = res.n_significant(name)
        parts.append(
            f"{n} of {res.n_rows} significant for {name.replace('_', ' ')} ({words}; "
            f"combined p = {_p(res.combined_p(name))})"
        )
        for row in res.rows:
            if row.get(f"{name}_significant"):
                hit = hits.setdefault(
                    (row["layer"], row["cluster"]),
                    {
                        "layer": row["layer"],
                        "cluster": int(row["cluster"]),
                        "size": int(row["size"]),
                        "statistics": [],
                    },
                )
                hit["statistics"].append(name)
                if key == "importance" and row.get("classes_hurt") is not None:
                    hit["classes_hurt"] = row["classes_hurt"]
                if name == "head_gap":
                    hit["heads"] = _heads(row)
    out.significant[key] = list(hits.values())
    line = f"{res.proxy.capitalize()}: " + "; ".join(parts) + "."
    if hits:
        named = [_describe(h) for h in list(hits.values())[:6]]
        more = f" and {len(hits) - 6} more" if len(hits) > 6 else ""
        line += f" Significant: {'; '.join(named)}{more}."
        if key == "importance":
            classes = [
                _what_it_does(h)
                for h in list(hits.values())[:3]
                if h.get("heads") or h.get("classes_hurt")
            ]
            if classes:
                line += " What they do: " + "; ".join(classes) + "."
    out.lines.append(line)


def _graph_verdict(kind: str, gs: Any, config: Any) -> GraphVerdict:
    out = GraphVerdict(kind, None)
    part = gs.partition
    gap_k = int(gs.eigengap.suggested_k)
    papers = " (the papers' setting)" if part.n_clusters == 12 else ""
    k_line = (
        f"Spectral clustering with k = {part.n_clusters}{papers}: n-cut "
        f"{part.metrics['ncut']:.3f}, {len(part.subclusters(config.subcluster_floor()))} "
        "sub-clusters (a cluster's units in one layer)."
    )
    if gap_k != config.k:
        k_line += (
            f" The eigengap suggests k = {gap_k}: of the splits into at most {config.k} "
            f"parts, the clearest has {gap_k}; k = {config.k} asks for finer groups."
        )
    out.lines.append(k_line)
    if gs.clusterability is not None:
        out.clusterable, line = _clusterability_line(gs.clusterability, config.alpha)
        out.lines.append(line)
    for key, res in gs.proxies().items():
        _proxy_lines(key, res, out)
    if gs.comparison is not None and len(gs.comparison.names) > 1:
        names = gs.comparison.names
        if "spectral" in names:
            i = names.index("spectral")
            others = [
                f"{n} (NMI {gs.comparison.nmi[i, j]:.2f}, ARI {gs.comparison.ari[i, j]:.2f}, "
                f"{counted(gs.comparison.rows[j]['n_clusters'], 'cluster')})"
                for j, n in enumerate(names)
                if j != i
            ]
            out.lines.append("Spectral clustering against " + ", ".join(others) + ".")
    return out


def make_verdict(result: Any) -> Verdict:
    """Read a study's result and answer "is it modular, where, and what do the parts do?".

    Parameters
    ----------
    result : StudyResult
        What :func:`nngraph.study` found.

    Returns
    -------
    Verdict
    """
    config = result.config
    graphs = {kind: _graph_verdict(kind, gs, config) for kind, gs in result.graphs.items()}
    clusterable = [k for k, g in graphs.items() if g.clusterable]
    with_parts = [k for k, g in graphs.items() if g.n_significant]
    both = [k for k in clusterable if k in with_parts]
    tested = any(g.clusterability is not None or g.proxies() for g in result.graphs.values())
    if not tested:
        modular = "untested"
        headline = (
            "Nothing was tested: the clusterability test (n_shuffles = 0) and the proxies "
            "(importance, coherence) were switched off; the partitions are below."
        )
    elif both:
        modular = "yes"
        counts = [graphs[k].n_significant for k in both]
        headline = (
            f"The {both[0]} graph is more clusterable than shuffled networks, and "
            f"{counts[0]} of its sub-clusters {'is' if counts[0] == 1 else 'are'} "
            f"significantly important or "
            f"coherent after Benjamini-Hochberg at {config.alpha:g}."
            if len(both) == 1
            else f"The {' and '.join(both)} graphs are each more clusterable than shuffled "
            f"networks, and {' and '.join(map(str, counts))} of their sub-clusters "
            f"respectively are significantly important or coherent after "
            f"Benjamini-Hochberg at {config.alpha:g}."
        )
    elif clusterable or with_parts:
        modular = "partly"
        if clusterable:
            headline = (
                f"The {clusterable[0]} graph is more clusterable than shuffled networks, "
                f"but no sub-cluster is significantly important or coherent."
                if not with_parts
                else f"The {clusterable[0]} graph is more clusterable than shuffled "
                f"networks; significant sub-clusters are found in the {with_parts[0]} graph."
            )
        else:
            shuffled = any(g.clusterable is not None for g in graphs.values())
            headline = (
                f"Some sub-clusters of the {with_parts[0]} graph are significantly important "
                f"or coherent, "
                + (
                    "but no graph is more clusterable than shuffled networks."
                    if shuffled
                    else "but clusterability was not tested (n_shuffles = 0)."
                )
            )
    else:
        modular = "no"
        headline = (
            "No graph is more clusterable than shuffled networks and no sub-cluster is "
            "significantly important or coherent: no evidence of parts at these settings."
        )
    notes = [
        f"p-values count how many of the random draws are at least as extreme; with N "
        f"draws the smallest possible p is 1/(N+1). Sub-clusters are tested against "
        f"{config.n_random} random same-size sets of their layer (smallest p "
        f"{_p(1 / (config.n_random + 1))}), and their p-values are corrected for testing "
        f"many sub-clusters with Benjamini-Hochberg at a false discovery rate of "
        f"{config.alpha:g}.",
    ]
    notes += list(getattr(result, "warnings", []))
    return Verdict(modular, headline, graphs, notes)
