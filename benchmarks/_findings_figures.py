"""Pictures of benchmarks/study_findings.py: z per setting, the two-digit network's clusters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from _findings_paper import CLUSTERABILITY, TWO_DIGITS

_EDGES = 600  # edges drawn per network


def _matplotlib():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    """Save a figure as a 128-colour PNG (a third of the size; the pictures are committed)."""
    from PIL import Image

    fig.savefig(path, dpi=130)
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def _by_setting(store: dict[str, Any], prefix: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for key, value in store["tasks"].items():
        part, name, _ = key.split("|")[:3]
        if part == prefix and value.get("z") is not None:
            out.setdefault(name, []).append(float(value["z"]))
    return out


def draw_z(store: dict[str, Any], folder: Path) -> str:
    """Draw each network's z per setting, ours beside the papers' (``z_per_setting.png``)."""
    plt = _matplotlib()
    panels = [
        ("digits MLP 64-256x4-10 (paper: MNIST 784-256x4-10)", "clusterability", CLUSTERABILITY),
        ("two-digit MLP 128-64-64-20 (paper: MNIST halves)", "two_digits", TWO_DIGITS),
    ]
    fig, axes = plt.subplots(
        1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [6, 4]}, constrained_layout=True
    )
    for ax, (title, prefix, paper) in zip(axes, panels, strict=True):
        ours = _by_setting(store, prefix)
        names = list(ours)
        for i, name in enumerate(names):
            zs = np.asarray(ours[name])
            jitter = np.linspace(-0.12, 0.12, zs.size) if zs.size > 1 else np.zeros(1)
            ax.scatter(i - 0.15 + jitter, zs, s=16, color="C0", alpha=0.8, zorder=3)
            ax.hlines(zs.mean(), i - 0.3, i, color="C0", lw=2, zorder=4)
            if name in paper:
                pz = np.asarray(paper[name]["z"])
                jitter = np.linspace(-0.12, 0.12, pz.size)
                ax.scatter(i + 0.15 + jitter, pz, s=16, marker="D", color="C3", alpha=0.7)
                ax.hlines(pz.mean(), i, i + 0.3, color="C3", lw=2)
        ax.axhline(0, color="0.4", lw=0.8)
        ax.axhline(-1.96, color="0.6", lw=0.6, ls=":")
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=25, ha="right")
        ax.set_ylabel("z of the n-cut vs its shuffles")
        ax.set_title(title, fontsize=10)
    axes[0].annotate(
        "negative z: more clusterable than shuffled copies; dotted: z = -1.96.\n"
        "The paper's regulariser networks were 49-64x3-10 MLPs of 7x7 MNIST.",
        (0.0, -0.32),
        xycoords="axes fraction",
        fontsize=7.5,
        color="0.3",
    )
    axes[0].scatter([], [], color="C0", s=16, label="nngraph, each network (bar: mean)")
    axes[0].scatter([], [], color="C3", marker="D", s=16, label="Filan et al., each network")
    axes[0].legend(frameon=False, fontsize=8, loc="upper left")
    path = folder / "z_per_setting.png"
    _save(fig, path)
    plt.close(fig)
    return str(path)


def _two_digit_model(options: dict[str, Any], plan: dict[str, Any]):
    from nngraph.models import pretrained

    return pretrained(
        "two_digit_mlp",
        random_state=0,
        cache_dir=plan["cache_dir"],
        **{**plan["model"]["two_digit_mlp"], **options},
    )


def _draw_network(ax_img, ax_graph, model, labels, title: str) -> None:
    import nngraph as ng
    from nngraph.models import pretrained_data

    data = pretrained_data("two_digit_mlp")
    g = ng.weight_graph(model, data.x_train[:1])
    labels = np.asarray(labels)
    colors = np.array(["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"])
    inputs = g.node_layer == 0
    pixels = np.full(g.layer_sizes[0], -1)
    pixels[g.node_unit[inputs]] = labels[inputs]
    rgb = np.ones((pixels.size, 3))
    for c in range(2):
        rgb[pixels == c] = [int(colors[c][i : i + 2], 16) / 255 for i in (1, 3, 5)]
    ax_img.imshow(rgb.reshape(8, 16, 3), interpolation="nearest")
    ax_img.axvline(7.5, color="k", lw=1)
    ax_img.set_xticks([3.5, 11.5])
    ax_img.set_xticklabels(["left digit", "right digit"], fontsize=8)
    ax_img.tick_params(length=0)
    ax_img.set_yticks([])
    ax_img.set_title(f"{title}\ninput pixels by cluster (white: no edges left)", fontsize=8.5)
    # the layered graph: one column per layer, units sorted by cluster
    pos = np.zeros((g.n_nodes, 2))
    for layer in range(len(g.layer_names)):
        nodes = np.flatnonzero(g.node_layer == layer)
        order = nodes[np.lexsort((g.node_unit[nodes], labels[nodes]))]
        pos[order, 0] = layer
        pos[order, 1] = np.linspace(0, 1, order.size) if order.size > 1 else 0.5
    adj = g.adjacency.tocoo()
    upper = adj.row < adj.col
    rows, cols, w = adj.row[upper], adj.col[upper], adj.data[upper]
    keep = np.zeros(w.size, bool)
    keep[np.argsort(-w, kind="stable")[:_EDGES]] = True
    w = w / w[keep].max() if keep.any() else w
    same = labels[rows] == labels[cols]
    for mask, color in ((keep & ~same, "0.55"), (keep & same, "0.15")):
        for r, c, weight in zip(rows[mask], cols[mask], w[mask], strict=True):
            ax_graph.plot(
                pos[[r, c], 0], pos[[r, c], 1], color=color, lw=0.3, alpha=min(1, 0.15 + weight)
            )
    node_colors = np.where(labels >= 0, colors[np.clip(labels, 0, 3)], "white")
    ax_graph.scatter(pos[:, 0], pos[:, 1], s=6, c=node_colors, edgecolors="0.3", linewidths=0.2)
    last = len(g.layer_names) - 1
    for node in np.flatnonzero(g.node_layer == last):  # which digit each logit reads
        unit = int(g.node_unit[node])
        side = f"L{unit}" if unit < 10 else f"R{unit - 10}"
        ax_graph.text(last + 0.06, pos[node, 1], side, fontsize=5.5, va="center", color="0.25")
    ax_graph.set_xlim(-0.15, last + 0.3)
    ax_graph.set_xticks(range(len(g.layer_names)))
    ax_graph.set_xticklabels(["pixels", "hidden 1", "hidden 2", "logits"], fontsize=8)
    ax_graph.set_yticks([])
    ax_graph.set_title(
        f"units coloured by cluster; its {_EDGES} strongest edges (dark: within a cluster,\n"
        "light: between); L3, R3: the logit of class 3 of the left, right digit",
        fontsize=8.5,
    )


def draw_two_digits(store: dict[str, Any], plan: dict[str, Any], folder: Path) -> str:
    """Draw the two-digit networks (seed 0) coloured by their k = 2 clusters."""
    from study_findings import TWO_DIGIT_SETTINGS

    plt = _matplotlib()
    names = [n for n in ("plain", "pruned 95%") if f"two_digits|{n}|0" in store["tasks"]]
    fig, axes = plt.subplots(
        len(names), 2, figsize=(10, 3.2 * len(names)), squeeze=False, constrained_layout=True
    )
    for row, name in zip(axes, names, strict=True):
        result = store["tasks"][f"two_digits|{name}|0"]
        model = _two_digit_model(TWO_DIGIT_SETTINGS[name], plan)
        ari = round(result["ari_halves"], 2) + 0.0  # no "-0.00"
        title = f"{name}, seed 0: ARI with the planted halves {ari:.2f}"
        _draw_network(row[0], row[1], model, result["labels"], title)
    path = folder / "two_digits_clusters.png"
    _save(fig, path)
    plt.close(fig)
    return str(path)
