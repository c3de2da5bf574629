"""Pictures of coherence: what each sub-cluster responds to, beside random sets.

:func:`coherence_figure` draws, for one layer, a row per sub-cluster: its feature
visualisation and its top data-set examples, then the visualisations (or top example)
of a few of its random controls, so that a coherent sub-cluster stands out from its
controls at a glance. Image inputs (``(C, H, W)``, or flat inputs with an
``image_shape``) are drawn as images; other inputs as bar plots of their features.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._result import ProxyResult

__all__ = ["coherence_figure"]


def _as_image(x: np.ndarray, image_shape: tuple[int, ...] | None) -> np.ndarray | None:
    """Return an input as an image ``(H, W)`` or ``(H, W, 3)`` in ``[0, 1]``, or None."""
    x = np.asarray(x, dtype=np.float64)
    if image_shape is not None:
        x = x.reshape(image_shape)
    if x.ndim == 3 and x.shape[0] in (1, 3):
        x = x[0] if x.shape[0] == 1 else np.moveaxis(x, 0, -1)
    if x.ndim not in (2, 3):
        return None
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def _draw(
    ax: Any, x: np.ndarray, image_shape: tuple[int, ...] | None, title: str, colour: str
) -> None:
    image = _as_image(x, image_shape)
    if image is not None:
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        flat = np.asarray(x, dtype=np.float64).reshape(-1)
        ax.bar(np.arange(flat.size), flat, color=colour, width=1.0)
        ax.set_xticks([])
        ax.tick_params(labelsize=6)
    for spine in ax.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(1.5)
    ax.set_title(title, fontsize=7, color=colour, pad=2)


def coherence_figure(
    inputs: Any,
    layer: str,
    *,
    dataset: ProxyResult | None = None,
    visualization: ProxyResult | None = None,
    image_shape: tuple[int, ...] | None = None,
    n_examples: int = 5,
    n_controls: int = 3,
    max_rows: int = 12,
) -> Any:
    """Draw what each sub-cluster of ``layer`` responds to, beside its random controls.

    Parameters
    ----------
    inputs : array-like, shape (n, ...)
        The data set ``dataset`` ranked (to show the top examples).
    layer : str
        The layer drawn.
    dataset, visualization : ProxyResult, optional
        Results of :func:`nngraph.coherence` with ``method="dataset"`` and
        ``"visualization"`` (either or both); rows are matched by (layer, cluster).
    image_shape : tuple of int, optional
        Reshape flat inputs to this image shape (``(8, 8)`` for the flattened digits).
    n_examples : int, default=5
        Top examples shown per sub-cluster.
    n_controls : int, default=3
        Random controls shown per sub-cluster.
    max_rows : int, default=12
        Sub-clusters shown at most (the largest first).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        Neither result given, or no sub-cluster of ``layer`` in them.
    """
    import matplotlib.pyplot as plt

    if dataset is None and visualization is None:
        raise ValueError("pass the result of coherence(method='dataset') or 'visualization'")
    x = np.asarray(inputs.detach().cpu() if hasattr(inputs, "detach") else inputs)
    rows: dict[int, dict[str, Any]] = {}
    for kind, res in (("dataset", dataset), ("visualization", visualization)):
        if res is None:
            continue
        for i, row in enumerate(res.rows):
            if row["layer"] == layer:
                entry = rows.setdefault(int(row["cluster"]), {"size": row["size"]})
                entry[kind] = (res, i, row)
    if not rows:
        raise ValueError(f"no sub-cluster of layer {layer!r} in the results given")
    chosen = sorted(rows, key=lambda c: -rows[c]["size"])[:max_rows]
    vis_cols = 1 if visualization is not None else 0
    ex_cols = n_examples if dataset is not None else 0
    n_cols = vis_cols + ex_cols + n_controls
    fig, axes = plt.subplots(
        len(chosen), n_cols, figsize=(1.15 * n_cols, 1.3 * len(chosen) + 0.4), squeeze=False
    )
    for r, cluster in enumerate(chosen):
        entry, col = rows[cluster], 0
        label = f"cluster {cluster} ({entry['size']} units)"
        if "visualization" in entry:  # only there when its result was given
            res, i, row = entry["visualization"]
            images = res.extras["inputs"][i]
            p = row["objective_p"]
            _draw(axes[r, col], images[0], image_shape, f"optimised\np={p:.2g}", "C3")
            col += 1
            controls = images[1 : 1 + n_controls]
        else:
            col += vis_cols
            controls = []
        if "dataset" in entry:
            res, i, row = entry["dataset"]
            top = res.extras["top_examples"][i]
            labels = row["top_labels"]
            for j in range(min(n_examples, top.shape[1])):
                _draw(axes[r, col + j], x[top[0, j]], image_shape, f"label {labels[j]}", "C0")
            label += f"\nlabels p={row['label_entropy_p']:.2g}"
            if not len(controls):
                controls = [x[top[1 + j, 0]] for j in range(min(n_controls, top.shape[0] - 1))]
        elif dataset is not None:
            note = axes[r, col].text(
                0.0,
                0.5,
                "too small for the data-set test",
                fontsize=7,
                color="0.4",
                transform=axes[r, col].transAxes,
            )
            # It runs on over the empty cells to its right: left out of tight_layout,
            # which otherwise widened every gap between columns to fit it and shrank
            # the pictures to a fraction of their cells.
            note.set_in_layout(False)
        col += ex_cols
        for j, img in enumerate(controls):
            _draw(axes[r, col + j], img, image_shape, f"random {j + 1}", "0.5")
        axes[r, 0].set_ylabel(label, fontsize=7)
        for ax in axes[r]:
            if not ax.has_data() and not ax.images:
                ax.axis("off")
    what = [n for n, res in (("visualisation", visualization), ("top examples", dataset)) if res]
    fig.suptitle(
        f"layer {layer}: {' and '.join(what)} of each sub-cluster (left), random same-size "
        "sets (grey, right)",
        fontsize=8,
    )
    fig.tight_layout()
    return fig
