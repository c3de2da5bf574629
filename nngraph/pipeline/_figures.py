"""The report's pictures: matplotlib figures written as PNG files (Agg, no pyplot state).

One function per picture, each taking what it draws and the path to write, and each
drawing a cluster in the same colour (:func:`cluster_colour`), so cluster 3 is the same
orange in the network, the p-value plots, the comparison and the tables of the report.
matplotlib is imported inside the functions: importing this module costs nothing.
"""

from __future__ import annotations

import colorsys
import contextlib
import io
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..utils._text import counted

__all__ = [
    "UNCLUSTERED",
    "clusterability_figure",
    "cluster_colour",
    "comparison_figure",
    "eigengap_figure",
    "examples_figure",
    "layer_label",
    "text_colour",
    "network_figure",
    "proxy_figure",
]

# Distinct colours for the first clusters (tab10 without its grey, then black and
# strong hues unlike those); further clusters get hues spaced by the golden angle.
# Grey is kept for units that are not clustered.
_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#17becf", "#bcbd22", "#000000", "#f032e6", "#00008b", "#7fff00", "#800000",
    "#008080", "#ffd700",
)  # fmt: skip
UNCLUSTERED = "#c4c4c4"
_SIGNIFICANT = "#c0392b"
_DPI = 110
# The HTML report's text column is about 1,020 pixels wide: a figure at most this wide
# (in inches, at _DPI) is shown at its own size, its fonts as readable as the text's.
_MAX_WIDTH = 9.3

_STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}


def cluster_colour(label: int) -> str:
    """Return the colour of cluster ``label`` as ``#rrggbb`` (grey for -1, not clustered).

    Examples
    --------
    >>> cluster_colour(0), cluster_colour(-1)
    ('#1f77b4', '#c4c4c4')
    >>> len({cluster_colour(i) for i in range(40)})
    40
    """
    if label < 0:
        return UNCLUSTERED
    if label < len(_PALETTE):
        return _PALETTE[label]
    hue = (0.11 + 0.618034 * (label - len(_PALETTE))) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.7, 0.62 + 0.18 * (label % 2))
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def text_colour(label: int) -> str:
    """Return cluster ``label``'s colour for text: darkened where it is too light to read.

    Examples
    --------
    >>> text_colour(0), text_colour(15)
    ('#1f77b4', '#8c7600')
    """
    colour = cluster_colour(label)
    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    if 0.2126 * r + 0.7152 * g + 0.0722 * b <= 0.6:
        return colour
    return f"#{round(r * 140):02x}{round(g * 140):02x}{round(b * 140):02x}"


def layer_label(name: str, graph: Any = None) -> str:
    """Name a layer for readers: ``"layer 2"`` for a bare index, ``"(output)"`` marked.

    Examples
    --------
    >>> layer_label("2"), layer_label("features.3"), layer_label("input")
    ('layer 2', 'features.3', 'input')
    """
    text = f"layer {name}" if name.isdigit() else name
    meta = getattr(graph, "meta", {}) or {}
    for layer in meta.get("layers", ()):
        if layer.get("name") == name and layer.get("is_output"):
            text += " (output)"
    return text


@contextlib.contextmanager
def _figure(path: Path, width: float, height: float, **kwargs: Any) -> Iterator[Any]:
    """Yield a new figure in the report's style; save it to ``path`` as PNG and free it."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(width, height), layout="constrained", **kwargs)
        yield fig
        _save_png(fig, path)


def _save_png(fig: Any, path: Path) -> None:
    """Write ``fig`` as PNG (at the report's resolution), its colours in a 256-colour palette.

    The faint edges of the network make a full-colour PNG of about a megabyte; a
    palette looks the same at a third of the size, which matters in an HTML file that
    embeds every picture. The palette holds every cluster colour exactly (and the
    report's other named colours), so a cluster keeps its colour from picture to
    picture; the rest of it is fitted to the picture (median cut, no dithering).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image  # matplotlib depends on Pillow

    fig.set_dpi(_DPI)
    canvas = FigureCanvasAgg(fig)  # rendered in memory: no full-colour PNG to encode
    canvas.draw()
    image = Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3])
    exact = [cluster_colour(c) for c in range(40)] + [text_colour(c) for c in range(40)]
    exact += [UNCLUSTERED, _SIGNIFICANT, "#ffffff", "#000000"]
    rgb = np.array(
        [[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in dict.fromkeys(exact)], dtype=np.int64
    )
    fitted = image.quantize(256 - len(rgb), method=Image.Quantize.MEDIANCUT)
    fitted_rgb = np.array(fitted.getpalette()[: 3 * (256 - len(rgb))], dtype=np.int64)
    palette = np.concatenate([rgb, fitted_rgb.reshape(-1, 3)])
    # Map each distinct colour of the picture to its nearest palette colour (exactly:
    # Pillow's own mapping to a given palette is approximate, and would shift them).
    pixels = np.asarray(image, dtype=np.int64)
    codes = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
    distinct, inverse = np.unique(codes.ravel(), return_inverse=True)
    colours = np.stack([distinct >> 16, (distinct >> 8) & 255, distinct & 255], axis=1)
    nearest = np.empty(distinct.size, dtype=np.uint8)
    for start in range(0, distinct.size, 4096):
        chunk = colours[start : start + 4096, None, :] - palette[None, :, :]
        nearest[start : start + 4096] = np.argmin((chunk * chunk).sum(axis=2), axis=1)
    height, width = codes.shape
    indexed = Image.frombytes("P", (width, height), nearest[inverse].tobytes())
    indexed.putpalette(palette.astype(np.uint8).ravel().tolist())
    small = io.BytesIO()
    indexed.save(small, format="png", optimize=True)
    path.write_bytes(small.getvalue())


# ------------------------------------------------------------------ the network


def _layer_positions(graph: Any, labels: np.ndarray) -> np.ndarray:
    """Place each unit at a height in [0, 1] within its layer: grouped by cluster, top down."""
    y = np.full(graph.n_nodes, 0.5)
    for index in range(len(graph.layer_names)):
        nodes = np.flatnonzero(graph.node_layer == index)
        if nodes.size < 2:
            continue
        key = np.where(labels[nodes] < 0, np.iinfo(np.int64).max, labels[nodes])
        order = np.lexsort((graph.node_unit[nodes], key))
        nodes, key = nodes[order], key[order]
        groups = np.concatenate([[0], np.cumsum(key[1:] != key[:-1])])
        pos = np.arange(nodes.size) + groups * max(1.0, 0.04 * nodes.size)
        y[nodes] = 1.0 - pos / pos[-1]
    return y


def _strongest_edges(graph: Any, max_edges: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Pick the strongest edges between layers, the same share from every pair of layers."""
    source, target, weight = graph.upper_edges()
    la, lb = graph.node_layer[source], graph.node_layer[target]
    between = la != lb
    n_within = int(np.count_nonzero(~between))
    source, target, weight = source[between], target[between], weight[between]
    pair = np.minimum(la[between], lb[between]) * len(graph.layer_names) + np.maximum(
        la[between], lb[between]
    )
    pairs = np.unique(pair)
    per_pair = max(10, max_edges // max(pairs.size, 1))
    keep = []
    for p in pairs:
        idx = np.flatnonzero(pair == p)
        if idx.size > per_pair:
            idx = idx[np.argpartition(-weight[idx], per_pair - 1)[:per_pair]]
        keep.append(idx)
    chosen = np.concatenate(keep) if keep else np.empty(0, dtype=np.int64)
    return source[chosen], target[chosen], n_within


def network_figure(
    graph: Any, labels: np.ndarray, path: Path, *, title: str, max_edges: int = 1600
) -> Path:
    """Draw the network layer by layer, its units coloured by cluster.

    One column per layer; a layer's units are dots, grouped by cluster (the group's
    number beside it), units not clustered in grey at the bottom. The strongest edges
    between layers (the same number from every pair of layers) are drawn faintly, in
    the cluster's colour when both ends share a cluster.
    """
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_rgba
    from matplotlib.lines import Line2D

    labels = np.asarray(labels)
    x = graph.node_layer.astype(np.float64)
    y = _layer_positions(graph, labels)
    sizes = graph.layer_sizes
    source, target, n_within = _strongest_edges(graph, max_edges)
    same = labels[source] == labels[target]
    same &= labels[source] >= 0
    n_layers = len(graph.layer_names)
    with _figure(path, min(_MAX_WIDTH, 2.2 + 1.5 * n_layers), 5.8) as fig:
        ax = fig.add_subplot()
        segments = np.stack(
            [np.column_stack([x[source], y[source]]), np.column_stack([x[target], y[target]])],
            axis=1,
        )
        grey = to_rgba("0.45", 0.10)
        ax.add_collection(LineCollection(segments[~same], colors=[grey], linewidths=0.4))
        colours = [to_rgba(cluster_colour(int(c)), 0.22) for c in labels[source[same]]]
        ax.add_collection(LineCollection(segments[same], colors=colours, linewidths=0.5))
        dot = float(np.clip(2400.0 / max(int(sizes.max()), 1), 3.0, 60.0))
        ax.scatter(x, y, s=dot, c=[cluster_colour(int(c)) for c in labels], linewidths=0, zorder=3)
        for index in range(n_layers):
            nodes = np.flatnonzero(graph.node_layer == index)
            for c in np.unique(labels[nodes]):
                group = nodes[labels[nodes] == c]
                if c < 0 or group.size < max(2, 0.06 * nodes.size):
                    continue
                ax.text(
                    index + 0.09,
                    float(np.mean(y[group])),
                    str(int(c)),
                    color=text_colour(int(c)),
                    fontsize=8,
                    fontweight="bold",
                    va="center",
                )
        ax.set_xticks(range(n_layers))
        ax.set_xticklabels(
            [
                f"{layer_label(n, graph)}\n{counted(s, 'unit')}"
                for n, s in zip(graph.layer_names, sizes, strict=True)
            ]
        )
        ax.set_xlim(-0.45, n_layers - 0.55)
        ax.set_ylim(-0.04, 1.04)
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
        ax.set_ylabel("units of each layer, grouped by cluster")
        ax.set_title(title)
        present = sorted(int(c) for c in np.unique(labels) if c >= 0)
        handles = [
            Line2D([], [], ls="", marker="o", color=cluster_colour(c), label=f"cluster {c}")
            for c in present
        ]
        if np.any(labels < 0):
            handles.append(
                Line2D([], [], ls="", marker="o", color=UNCLUSTERED, label="not clustered")
            )
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.0, 1.0),
            ncols=1 + len(handles) // 22,
            handletextpad=0.2,
        )
        what = f"lines: the {source.size} strongest edges between layers"
        if n_within:
            what += f" ({n_within} edges within layers not drawn)"
        ax.set_xlabel(f"layers, first to last; {what}", fontsize=9)
    return path


# ------------------------------------------------------------------ partition statistics


def eigengap_figure(eigengap: Any, k: int, path: Path, *, title: str) -> Path:
    """Draw the leading eigenvalues and their gaps, marking ``k`` and the suggested k."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    values = np.asarray(eigengap.eigenvalues, dtype=np.float64)
    gaps = np.asarray(eigengap.gaps, dtype=np.float64)
    suggested = int(eigengap.suggested_k)
    index = np.arange(1, values.size + 1)
    with _figure(path, _MAX_WIDTH, 3.7) as fig:
        left, right = fig.subplots(1, 2)
        left.plot(index, values, "o-", color="0.3", markersize=5)
        left.axvspan(suggested + 0.05, suggested + 0.95, color="C1", alpha=0.18, lw=0)
        left.axvline(k + 0.5, color="C0", ls="--", lw=1.2)
        left.set_xticks(index)
        left.set_xlabel("i (eigenvalues in decreasing order)")
        left.set_ylabel("eigenvalue λᵢ of D^-½ A D^-½")
        left.set_title("Leading eigenvalues")
        left.legend(
            handles=[
                Patch(color="C1", alpha=0.3, label=f"largest gap: after λ{suggested}"),
                Line2D([], [], color="C0", ls="--", label=f"k = {k}: cut after λ{k}"),
            ],
            loc="upper right",
        )
        bars = np.arange(2, gaps.size + 1)  # k = 1 is no partition: not a candidate
        colours = ["C1" if b == suggested else "0.6" for b in bars]
        right.bar(bars, gaps[1:], color=colours, width=0.7)
        if k <= gaps.size:
            right.axvline(k, color="C0", ls="--", lw=1.2)
        right.set_xticks(bars)
        right.set_xlabel("k (gap after the first k eigenvalues)")
        right.set_ylabel("eigengap λₖ − λₖ₊₁")
        right.set_title("Gap after the first k eigenvalues")
        right.legend(
            handles=[
                Line2D([], [], color="C0", ls="--", label=f"k = {k} (used)"),
                Patch(color="C1", label=f"suggested k = {suggested} (largest gap)"),
            ],
            loc="upper right",
        )
        fig.suptitle(title, fontsize=12, fontweight="bold")
    return path


def clusterability_figure(clus: Any, path: Path, *, title: str) -> Path:
    """Draw the shuffles' n-cuts as a histogram with the true n-cut marked."""
    with _figure(path, 7.5, 3.8) as fig:
        ax = fig.add_subplot()
        clus.plot(ax, bins=min(30, max(5, clus.n_shuffles // 2)))
        ax.set_title(title)
        ax.set_xlabel("n-cut of the partition (lower: fewer, weaker edges between clusters)")
        ax.set_ylabel("shuffled networks")
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        z = f"z = {clus.z:.2f}" if clus.n_shuffles >= 2 and np.isfinite(clus.z) else "z undefined"
        ax.text(
            1.02,
            0.05,
            f"{clus.n_shuffles} shuffles ({clus.method})\nmean {clus.mean:.4g} ± "
            f"{clus.std:.2g}\n{z}\np = {clus.p:.2g}",
            transform=ax.transAxes,
            fontsize=9,
            va="bottom",
        )
    return path


# ------------------------------------------------------------------ sub-clusters


def proxy_figure(
    res: Any, statistics: Sequence[tuple[str, str]], path: Path, *, title: str
) -> Path:
    """Draw each sub-cluster's p-value per layer, one panel per statistic.

    Dots are coloured by cluster; significant sub-clusters (Benjamini-Hochberg) are
    large, ringed in black and labelled with their cluster. ``statistics`` holds
    ``(name, plain words)`` pairs: the panels, in order.
    """
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    layers = list(dict.fromkeys(r["layer"] for r in res.rows))
    n_random = int(res.info.get("n_random", 19))
    n = len(statistics)
    width = min(_MAX_WIDTH, 1.2 + max(3.6, 0.9 * len(layers) + 1.4) * n)
    with _figure(path, width, 4.2) as fig:
        axes = np.atleast_1d(fig.subplots(1, n, sharey=True))
        offset = {}  # spread each layer's sub-clusters over [-0.3, 0.3] around the layer
        for layer in layers:
            mine = sorted(int(r["cluster"]) for r in res.rows if r["layer"] == layer)
            step = min(0.6 / max(len(mine) - 1, 1), 0.15)
            for i, c in enumerate(mine):
                offset[layer, c] = (i - (len(mine) - 1) / 2) * step
        for ax, (name, words) in zip(axes, statistics, strict=True):
            labelled: dict[str, int] = {}  # per layer: significant dots labelled so far
            dots: dict[bool, list[tuple[float, float, str]]] = {False: [], True: []}
            for r in res.rows:
                p = r[f"{name}_p"]
                if not np.isfinite(p):
                    continue
                c, sig = int(r["cluster"]), bool(r[f"{name}_significant"])
                xpos = layers.index(r["layer"]) + offset[r["layer"], c]
                dots[sig].append((xpos, p, cluster_colour(c)))
                if sig:  # labels alternate above and below, so neighbours stay apart
                    nth = labelled[r["layer"]] = labelled.get(r["layer"], -1) + 1
                    ax.annotate(
                        str(c),
                        (xpos, p),
                        xytext=(0, 7 if nth % 2 == 0 else -15),
                        textcoords="offset points",
                        ha="center",
                        fontsize=8,
                        fontweight="bold",
                        color=text_colour(c),
                    )
            for sig, found in dots.items():  # one collection each: quick to draw
                if found:
                    xs, ps, colours = zip(*found, strict=True)
                    ax.scatter(
                        xs,
                        ps,
                        s=80 if sig else 30,
                        color=colours,
                        edgecolors="black" if sig else "white",
                        linewidths=1.4 if sig else 0.5,
                        zorder=4 if sig else 3,
                    )
            ax.axhline(1 / (n_random + 1), color="0.35", lw=0.9, ls=":")
            ax.axhline(res.alpha, color=_SIGNIFICANT, lw=0.9, ls="--")
            ax.set_yscale("log")
            ax.set_xticks(range(len(layers)))
            ax.set_xticklabels([layer_label(n) for n in layers], rotation=25, ha="right")
            ax.set_xlim(-0.6, len(layers) - 0.4)
            wrapped = textwrap.fill(words, 42)
            ax.set_title(name.replace("_", " "), pad=6 + 11 * (wrapped.count("\n") + 1))
            ax.text(0.5, 1.02, wrapped, transform=ax.transAxes, ha="center", va="bottom",
                    fontsize=8.5, color="0.3")  # fmt: skip
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axes[0].set_ylabel("p-value against random same-size sets\n(log scale; lower: stronger)")
        axes[0].set_ylim(0.4 / (n_random + 1), 1.6)  # room for labels under the floor
        handles = [
            Line2D([], [], color=_SIGNIFICANT, ls="--", label=f"alpha = {res.alpha:g}"),
            Line2D([], [], color="0.35", ls=":", label=f"smallest possible p = 1/{n_random + 1}"),
            Line2D([], [], ls="", marker="o", color="0.6", mec="black", mew=1.4, ms=8,
                   label="significant (Benjamini-Hochberg)"),
            Line2D([], [], ls="", marker="o", color="0.6", mec="white", ms=5,
                   label="not significant"),
        ]  # fmt: skip
        fig.legend(handles=handles, loc="outside lower center", ncols=4 if n > 1 else 2)
        fig.suptitle(title, fontsize=12, fontweight="bold")
    return path


def examples_figure(
    inputs: Any,
    layer: str,
    path: Path,
    *,
    image_shape: tuple[int, ...] | None,
    dataset: Any = None,
    visualization: Any = None,
) -> Path:
    """Draw a layer's sub-clusters' feature visualisations and top examples, beside controls.

    A wrapper of :func:`nngraph.proxies.coherence_figure` that writes the PNG.
    """
    import matplotlib
    import matplotlib.pyplot as plt

    from ..proxies import coherence_figure

    with matplotlib.rc_context({"figure.facecolor": "white"}):
        fig = coherence_figure(
            inputs,
            layer,
            image_shape=image_shape,
            dataset=dataset,
            visualization=visualization,
            n_examples=5,
            n_controls=2,
            max_rows=6,
        )
        try:
            _save_png(fig, path)
        finally:
            plt.close(fig)
    return path


# ------------------------------------------------------------------ partitioners


def _contingency(a: np.ndarray, b: np.ndarray, max_columns: int) -> tuple[Any, ...]:
    keep = (a >= 0) & (b >= 0)
    rows, a_idx = np.unique(a[keep], return_inverse=True)
    cols, b_idx = np.unique(b[keep], return_inverse=True)
    table = np.zeros((rows.size, cols.size), dtype=np.int64)
    np.add.at(table, (a_idx, b_idx), 1)
    col_names = [str(int(c)) for c in cols]
    if cols.size > max_columns:  # the largest columns, the rest summed
        order = np.argsort(-table.sum(axis=0), kind="stable")
        big, rest = order[: max_columns - 1], order[max_columns - 1 :]
        table = np.column_stack([table[:, big], table[:, rest].sum(axis=1)])
        col_names = [col_names[i] for i in big] + [f"{rest.size} others"]
    return rows, col_names, table, int(np.count_nonzero(~keep))


def comparison_figure(comparison: Any, path: Path, *, title: str) -> Path:
    """Draw how the partitioners' clusters overlap, and their pairwise NMI and ARI.

    Left: the contingency table of spectral clustering (rows, in the cluster colours)
    against the first other method (columns): the share of each spectral cluster's units
    in each of its clusters. Right (three methods or more): NMI and ARI of every pair.
    """
    names = list(comparison.names)
    first = names.index("spectral") if "spectral" in names else 0
    second = next(i for i in range(len(names)) if i != first)
    a, b = names[first], names[second]
    rows, col_names, table, left_out = _contingency(
        comparison.labels[a], comparison.labels[b], max_columns=24
    )
    share = table / np.maximum(table.sum(axis=1, keepdims=True), 1)
    pairs = len(names) > 2
    width = min(12.5, 3.0 + 0.45 * len(col_names) + (4.2 if pairs else 0.0))
    height = min(9.0, 2.2 + 0.36 * rows.size)
    with _figure(path, min(max(width, 6.5), _MAX_WIDTH), max(height, 3.6)) as fig:
        axes = fig.subplots(1, 2 if pairs else 1, width_ratios=[2, 1] if pairs else None)
        ax = axes[0] if pairs else axes
        image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        if table.size <= 400:
            for (i, j), count in np.ndenumerate(table):
                if count:
                    ax.text(j, i, str(count), ha="center", va="center", fontsize=9,
                            color="white" if share[i, j] > 0.6 else "0.15")  # fmt: skip
        ax.set_yticks(range(rows.size))
        ax.set_yticklabels([f"cluster {int(r)}" for r in rows])
        for tick, r in zip(ax.get_yticklabels(), rows, strict=True):
            tick.set_color(text_colour(int(r)))
            tick.set_fontweight("bold")
        ax.set_xticks(range(len(col_names)))
        ax.set_xticklabels(col_names, rotation=90 if len(col_names) > 12 else 0)
        ax.set_ylabel(f"{a} clusters")
        ax.set_xlabel(
            f"{b} clusters" + (f" ({left_out} units left out by one of them)" if left_out else "")
        )
        ax.set_title(
            f"{a} against {b}: NMI {comparison.nmi[first, second]:.2f}, "
            f"ARI {comparison.ari[first, second]:.2f} (1: the same partition)",
            fontsize=10,
            fontweight="normal",
        )
        fig.colorbar(image, ax=ax, label=f"share of the {a} cluster's units", shrink=0.85)
        if pairs:
            both = np.where(np.tri(len(names), k=-1, dtype=bool), comparison.ari, comparison.nmi)
            heat = axes[1].imshow(both, cmap="viridis", vmin=0, vmax=1)
            for (i, j), v in np.ndenumerate(both):
                axes[1].text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8,
                             color="white" if v < 0.6 else "black")  # fmt: skip
            axes[1].set_xticks(range(len(names)))
            axes[1].set_xticklabels(names, rotation=30, ha="right")
            axes[1].set_yticks(range(len(names)))
            axes[1].set_yticklabels(names)
            axes[1].set_title("NMI (upper right), ARI (lower left)")
            fig.colorbar(heat, ax=axes[1], shrink=0.85)
        fig.suptitle(title, fontsize=12, fontweight="bold")
    return path
