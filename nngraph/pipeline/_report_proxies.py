"""The report's importance and coherence sections of one graph.

Per proxy: what was done in plain words, what each statistic means, how many
sub-clusters are significant after Benjamini-Hochberg and the graph's combined
p-values, which sub-clusters they are, a picture of every sub-cluster's p-value, and
for coherence the pictures of what the sub-clusters respond to.
"""

from __future__ import annotations

from typing import Any

from ..utils._text import counted
from . import _figures as fig
from ._report_document import (
    Bullets,
    Cell,
    Paragraph,
    Pictures,
    Section,
    Strong,
    Table,
    format_p,
    not_run,
)
from ._verdict import PROXY_STATISTICS, hurts_classes

__all__ = ["PROXY_TITLES", "coherence_section", "importance_section"]

PROXY_TITLES = {
    "importance": "Importance",
    "dataset": "Coherence: data-set examples",
    "visualization": "Coherence: feature visualisation",
}
_COMBINATIONS = {
    "null_t": "t on random partitions",
    "brown": "Brown",
    "partition_rank": "partition rank",
    "fisher_exact": "Fisher",
    "fisher_halfbin": "Fisher half-bin",
}


def _layer_names(rows: list[dict[str, Any]], graph: Any) -> list[str]:
    present = {r["layer"] for r in rows}
    return [name for name in graph.layer_names if name in present]


# ------------------------------------------------------------------ proxies


def _combined_table(key: str, res: Any) -> Table:
    names = [n for n, _ in PROXY_STATISTICS[key] if n in res.combined]
    methods = list(dict.fromkeys(m for n in names for m in res.combined[n]))
    rows = []
    for n in names:
        k = res.n_significant(n)
        rows.append(
            [
                n.replace("_", " "),
                Cell(f"{k} of {res.n_rows}", highlight=k > 0),
                *(format_p(res.combined[n][m].p) if m in res.combined[n] else "–" for m in methods),
            ]
        )
    return Table.of(
        ["statistic", "significant", *(_COMBINATIONS.get(m, m) for m in methods)],
        rows,
        numeric=range(1, 2 + len(methods)),
        caption="Per statistic: the sub-clusters significant after Benjamini-Hochberg, and "
        "their p-values combined into one p-value for the graph, by each method (the "
        "first is the default).",
    )


def _proxy_blocks(key: str, res: Any, kind: str, draw: Pictures) -> list[Any]:
    stats = [(n, w) for n, w in PROXY_STATISTICS[key] if n in res.combined]
    descriptions = {st.name: st.description for st in res.statistics}
    n_random = res.info.get("n_random")
    if not stats or res.n_rows == 0:
        return [Paragraph.of("No sub-cluster was large enough to test.", tone="muted")]
    what = {
        "importance": "Each sub-cluster was lesioned (its units' outputs set to zero where "
        f"the next layer reads them) and the network evaluated on "
        f"{res.info.get('n_examples', 'the')} held-out examples",
        "dataset": f"For each sub-cluster, the {res.info.get('k', 10)} held-out examples "
        "that excite it most were found and the entropy of their labels measured",
        "visualization": "For each sub-cluster, an input was optimised to excite its units "
        f"({res.info.get('steps')} steps)",
    }[key]
    blocks: list[Any] = [
        Paragraph.of(
            f"{what}; the same was done for {n_random} random same-size sets of its layer, "
            f"and the sub-cluster's p-value is the share of them that did at least as well. "
            f"{counted(res.n_rows, 'sub-cluster')} {'was' if res.n_rows == 1 else 'were'} tested."
        )
    ]
    intact = res.info.get("intact") or {}
    if key == "importance" and intact.get("balanced_accuracy") is not None:
        blocks.append(
            Paragraph.of(
                f"The intact network: balanced accuracy "
                f"{intact['balanced_accuracy']:.3f}, loss {intact.get('loss', float('nan')):.3f}."
            )
        )
    blocks.append(
        Bullets.of(
            [(Strong(n.replace("_", " ")), f": {descriptions.get(n, w)}.") for n, w in stats]
        )
    )
    blocks.append(_combined_table(key, res))
    significant = [r for r in res.rows if any(r.get(f"{n}_significant") for n, _ in stats)]
    if significant:
        items = []
        for r in significant:
            which = [n.replace("_", " ") for n, _ in stats if r.get(f"{n}_significant")]
            item = (
                f"{fig.layer_label(r['layer'])}, cluster {r['cluster']} ({r['size']} units): "
                f"{', '.join(which)}"
            )
            if r.get("classes_hurt"):
                item += f"; {hurts_classes(r['classes_hurt'])}"
            items.append(item)
        blocks += [Paragraph.of(Strong("Significant sub-clusters:")), Bullets.of(items)]
    else:
        blocks.append(Paragraph.of("No sub-cluster is significant after Benjamini-Hochberg."))
    blocks.append(
        draw.draw(
            key if key == "importance" else f"coherence-{key}",
            lambda p: fig.proxy_figure(
                res, stats, p, title=f"{kind.capitalize()} graph: {res.proxy}, per sub-cluster"
            ),
            f"{PROXY_TITLES[key]}: p-value of each sub-cluster",
            "One dot per sub-cluster, by layer, in its cluster's colour; large ringed dots "
            "are significant after Benjamini-Hochberg. Dots on the dotted line reached the "
            "smallest p-value the number of random sets allows.",
        )
    )
    return blocks


def _examples_layers(gs: Any) -> list[str]:
    """Choose the layers whose coherence pictures are drawn (significant ones, or the first)."""
    rows = [r for res in gs.coherence.values() for r in res.rows]
    stats = {n for key in gs.coherence for n, _ in PROXY_STATISTICS[key]}
    hits = [r for r in rows if any(r.get(f"{n}_significant") for n in stats)]
    layers = _layer_names(hits, gs.graph)[:3]
    if not layers:
        hidden = [n for n in _layer_names(rows, gs.graph) if n != "input"]
        layers = hidden[:1] or _layer_names(rows, gs.graph)[:1]
    return layers


def coherence_section(kind: str, gs: Any, result: Any, draw: Pictures) -> Section:
    s = Section(f"{kind}-coherence", "Coherence")
    if not gs.coherence:
        return s.add(not_run("coherence = []", "no coherence statistic was asked for"))
    s.add(
        Paragraph.of(
            "Do a sub-cluster's units respond to the same features of the input, more "
            "consistently than random sets of units of its layer?"
        )
    )
    for key, res in gs.coherence.items():
        s.add(Paragraph.of(Strong(PROXY_TITLES[key])), *_proxy_blocks(key, res, kind, draw))
    data = result.data
    for layer in _examples_layers(gs):
        name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in layer)
        s.add(
            draw.draw(
                f"examples-{name}",
                lambda p, layer=layer: fig.examples_figure(
                    data.x_test,
                    layer,
                    p,
                    image_shape=getattr(data, "image_shape", None),
                    dataset=gs.coherence.get("dataset"),
                    visualization=gs.coherence.get("visualization"),
                ),
                f"What the sub-clusters of {fig.layer_label(layer, gs.graph)} respond to",
                "Per sub-cluster (largest first): its optimised input (red frame), the "
                "held-out examples that excite it most with their labels (blue), and the "
                "same for random same-size sets of the layer (grey). A coherent sub-cluster "
                "looks more consistent than its random sets.",
            )
        )
    return s


def importance_section(kind: str, gs: Any, draw: Pictures) -> Section:
    s = Section(f"{kind}-importance", "Importance")
    if gs.importance is None:
        return s.add(not_run("importance = false", "no sub-cluster was lesioned"))
    s.add(
        Paragraph.of(
            "Does silencing a sub-cluster hurt the network more than silencing a random set "
            "of units of the same size in the same layer?"
        ),
        *_proxy_blocks("importance", gs.importance, kind, draw),
    )
    return s
