"""Coherence: a sub-cluster's units respond to the same features, or not.

Do a sub-cluster's units respond to the same features of the input, more consistently
than random same-size sets of their layer? (docs/method.md, section 5.)

Two methods, each against the same random controls (and random partitions) as
importance, with the same result:

- ``"dataset"``: every example is scored by the set's summed absolute activation (at
  the units' site, before their nonlinearity by default; a convolution channel
  summarised over space); the entropy of the true labels of the ``k`` top-scoring
  examples is low when the units respond to the same kind of input. Every set of a
  layer is scored at once: one product of the recorded activations with the layer's
  set-membership matrix.
- ``"visualization"``: an input is optimised to drive the set's units
  (:mod:`._visualization`); the objective reached is high, and the entropy of the
  network's softmax on that input low, when they respond to a common feature. Every
  set of a layer is one row of the same optimised batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.fx as fx
import torch.nn as nn

from ..graphs._fx import frozen
from ..graphs._sites import UnitSite
from ..utils._progress import progress_bar
from ..utils._validation import check_alpha, check_choice, check_int, check_real
from ._controls import draw_lesions, layer_membership
from ._data import Prepared, prepare
from ._forward import batch_statistics, chunks
from ._result import ProxyResult, Statistic
from ._visualization import PARAMETERIZATIONS, entropy_bits, optimise
from ._visualization import parameterization as make_parameterization

__all__ = ["METHODS", "coherence", "site_values"]

METHODS = ("dataset", "visualization")


def _unit_values(value: torch.Tensor, site: UnitSite, spatial: str) -> torch.Tensor:
    """``(n, n_units)``: each unit's value per example, summarised over space or tokens."""
    if site.flat_input:
        return value.reshape(value.shape[0], -1)
    if site.unit_dim % value.dim() != 1:
        value = value.movedim(site.unit_dim, 1)
    if value.dim() > 2:
        dims = tuple(range(2, value.dim()))
        value = value.abs().mean(dim=dims) if spatial == "mean_abs" else value.mean(dim=dims)
    return value


def site_values(
    gm: fx.GraphModule, sites: Sequence[UnitSite], x: torch.Tensor, spatial: str = "mean"
) -> dict[str, torch.Tensor]:
    """Run ``gm`` on ``x`` up to the last of ``sites``; each site's ``(n, n_units)`` values.

    Gradients flow when enabled (feature visualisation differentiates through this).
    """
    wanted = {s.node: s for s in sites}
    interp = fx.Interpreter(gm, garbage_collect_values=False)
    env: dict[fx.Node, Any] = {}
    interp.env = env
    # The input feeds the first placeholder; the others (forward's extra arguments) take
    # their traced defaults, as in Interpreter.run.
    interp.args_iter = iter((x,))
    out: dict[str, torch.Tensor] = {}
    for node in gm.graph.nodes:
        if node.op == "output":
            break
        env[node] = interp.run_node(node)
        if node in wanted:
            site = wanted[node]
            out[site.layer] = _unit_values(env[node], site, spatial)
            if len(out) == len(wanted):
                break
    return out


def _label_entropy(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Entropy in bits of the labels of each column: ``labels`` ``(k, n_sets, n_heads)``."""
    k, n_sets, n_heads = labels.shape
    counts = torch.zeros(n_sets, n_heads, n_classes, dtype=torch.float64, device=labels.device)
    index = labels.permute(1, 2, 0)  # (n_sets, n_heads, k)
    counts.scatter_add_(2, index, torch.ones_like(index, dtype=torch.float64))
    return entropy_bits(counts / k).mean(dim=1)


def _dataset(
    prep: Prepared,
    sets: dict[str, list[np.ndarray]],
    k: int,
    spatial: str,
    batch_size: int,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per layer: each set's top-k label entropy, and the top-k examples of every set."""
    sites = [prep.sites[name] for name in sets]
    values: dict[str, list[torch.Tensor]] = {name: [] for name in sets}
    with frozen(prep.model), torch.inference_mode():
        for piece in chunks(prep.inputs.shape[0], batch_size):
            x = prep.inputs[piece].to(prep.device)
            if x.is_floating_point():
                x = x.to(prep.dtype)
            for name, v in site_values(prep.trace.graph_module, sites, x, spatial).items():
                values[name].append(v.double())
    entropy, top = {}, {}
    y = prep.targets.to(prep.device)
    for name, groups in sets.items():
        activity = torch.cat(values[name]).abs()  # (n_examples, n_units)
        member = layer_membership(groups, prep.sites[name].n_units)  # (n_units, n_sets)
        scores = activity @ torch.from_numpy(member).to(activity)  # (n_examples, n_sets)
        idx = torch.topk(scores, k, dim=0).indices  # (k, n_sets)
        entropy[name] = _label_entropy(y[idx], prep.n_classes).cpu().numpy()
        top[name] = idx.t().cpu().numpy()
    return entropy, top


def _visualize(
    prep: Prepared,
    sets: dict[str, list[np.ndarray]],
    options: dict[str, Any],
    seed: int,
    progress: bool = False,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Per layer: each set's objective and softmax entropy, and the optimised inputs."""
    param = options["param"]
    preprocess = options["preprocess"] or (lambda v: v)
    spatial = options["spatial"]
    stats: dict[str, dict[str, np.ndarray]] = {"objective": {}, "softmax_entropy": {}}
    images: dict[str, np.ndarray] = {}
    gm = prep.trace.graph_module
    seeds = np.random.SeedSequence([seed, 2]).generate_state(len(sets))
    bar = progress_bar(
        len(sets) * options["steps"], "feature visualisation", enabled=progress, unit="step"
    )
    with frozen(prep.model):
        for (name, groups), layer_seed in zip(sets.items(), seeds, strict=True):
            site = prep.sites[name]
            member = torch.from_numpy(layer_membership(groups, site.n_units)).to(
                prep.device, prep.dtype
            )

            def objective(x: torch.Tensor, site=site, member=member) -> torch.Tensor:
                values = site_values(gm, [site], preprocess(x), spatial)[site.layer]
                return (values.abs() * member.t()).sum(dim=1)

            x = optimise(
                objective,
                param,
                member.shape[1],
                steps=options["steps"],
                lr=options["lr"],
                jitter=options["jitter"],
                scale=options["scale"],
                seed=int(layer_seed),
                device=prep.device,
                dtype=prep.dtype,
                on_step=bar.update,
            )
            with torch.no_grad():
                reached = objective(x)
                logits = prep.model(preprocess(x))
                if isinstance(logits, (tuple, list)):
                    logits = logits[0]
                probs = torch.softmax(
                    logits.reshape(x.shape[0], prep.n_heads, prep.n_classes).double(), dim=-1
                )
            stats["objective"][name] = reached.double().cpu().numpy()
            stats["softmax_entropy"][name] = entropy_bits(probs).mean(dim=1).cpu().numpy()
            images[name] = x.detach().cpu().numpy()
    bar.close()
    return stats, images


_STATS = {
    "dataset": [
        Statistic(
            "label_entropy",
            "less",
            "entropy (bits) of the true labels of the k examples that drive the set most "
            "(lower: the units respond to the same kind of input)",
        )
    ],
    "visualization": [
        Statistic(
            "objective",
            "greater",
            "sum of |mean activation| of the set's units reached by the optimised input "
            "(higher: a common feature drives them)",
        ),
        Statistic(
            "softmax_entropy",
            "less",
            "entropy (bits) of the network's softmax on the optimised input (lower: the "
            "feature the set responds to reads as one class)",
        ),
    ],
}


def coherence(
    model: nn.Module,
    partition: Any,
    inputs: Any,
    targets: Any,
    *,
    method: str = "dataset",
    n_random: int = 19,
    random_state: int | None = None,
    n_null_partitions: int = 19,
    k: int = 10,
    min_size: int | None = None,
    max_fraction: float | None = None,
    layers: Sequence[str] | None = None,
    site: str = "pre",
    spatial: str = "mean",
    batch_size: int = 512,
    parameterization: str = "auto",
    steps: int = 64,
    lr: float = 0.05,
    jitter: int = 0,
    scale: float = 0.0,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    alpha: float = 0.05,
    progress: bool = False,
) -> ProxyResult:
    """Test whether each sub-cluster's units respond to the same features of the input.

    Parameters
    ----------
    model : torch.nn.Module
        A trained classifier, on any device; never modified.
    partition : Partition or path
        Labels of the model's units (its layers must match the model's).
    inputs : torch.Tensor or numpy.ndarray, shape (n, ...)
        Examples (``"dataset"``: ranked; ``"visualization"``: their range bounds the
        optimised inputs).
    targets : torch.Tensor or numpy.ndarray of int, shape (n,) or (n, n_heads)
        Their classes.
    method : {"dataset", "visualization"}, default="dataset"
        See the module's description.
    n_random : int, default=19
        Random sets per sub-cluster.
    random_state : int, optional
        Seed of the random sets and of the optimisation.
    n_null_partitions : int, default=19
        Random partitions for the dependent combination (as :func:`importance`).
    k : int, default=10
        Top examples per set (``"dataset"``; the paper: 10).
    min_size, max_fraction : int, float, optional
        Sub-clusters tested (the paper: at least 5 units and at most 75% of the layer
        for ``"dataset"``, 3 and 99% for ``"visualization"``, the defaults).
    layers : sequence of str, optional
        Layers tested (default: the hidden layers the partition labels).
    site : {"pre", "read"}, default="pre"
        Where the units' activations are read: before their nonlinearity, or as the next
        layer reads them.
    spatial : {"mean", "mean_abs"}, default="mean"
        How a convolution channel is summarised over space (as in the activation graph).
        ``"visualization"`` maximises the absolute value of this summary: ``|mean|``
        (the paper's) or the mean of ``|activation|``.
    batch_size : int, default=512
        Examples per batch for ``"dataset"``.
    parameterization : {"auto", "plain", "fourier"}, default="auto"
        How inputs are optimised (``"auto"``: Fourier for images ``(C, H, W)``, else
        plain).
    steps, lr : int, float, default=64, 0.05
        Adam's steps and learning rate (the paper's).
    jitter, scale : int, float, default=0, 0.0
        Random translation (pixels) and rescaling before each step (none in the paper).
    preprocess : callable, optional
        Applied to an optimised input before the model (the model's own input
        preprocessing, when ``inputs`` are raw).
    alpha : float, default=0.05
        False discovery rate of the ``significant`` columns.
    progress : bool, default=False
        Show the optimisation's progress (``"visualization"``).

    Returns
    -------
    ProxyResult
        One row per sub-cluster: ``label_entropy`` (``"dataset"``, with
        ``top_examples``) or ``objective`` and ``softmax_entropy``
        (``"visualization"``), with random means, p-values, effects, significance and
        combined p-values. ``extras`` holds the top examples of every set
        (``"dataset"``) or the optimised inputs of each sub-cluster and its first
        controls (``"visualization"``), for :func:`coherence_figure`.

    Raises
    ------
    ValueError
        As :func:`importance`, and: a visualisation of inputs it cannot parameterise
        (not real numbers; ``"fourier"`` on non-images), ``k`` larger than the data set.

    References
    ----------
    .. [1] S. Hod, S. Casper, D. Filan, C. Wild, A. Critch and S. Russell, "Detecting
       Modularity in Deep Neural Networks", arXiv:2110.08058, 2021.
    .. [2] C. Olah, A. Mordvintsev and L. Schubert, "Feature Visualization", Distill, 2017.

    Examples
    --------
    >>> import nngraph as ng
    >>> from nngraph.models import pretrained, pretrained_data
    >>> model, data = pretrained("mlp", hidden=(32, 32), epochs=5), pretrained_data("mlp")
    >>> g = ng.weight_graph(model, data.x_train[:1])
    >>> part = ng.Partition(ng.SpectralClustering(3, random_state=0).fit(g).labels_, g)
    >>> res = ng.coherence(model, part, data.x_test, data.y_test, n_random=9, random_state=0)
    >>> res.statistics[0].name
    'label_entropy'
    """
    t0 = time.perf_counter()
    check_choice("method", method, METHODS)
    check_choice("site", site, ("pre", "read"))
    check_choice("spatial", spatial, ("mean", "mean_abs"))
    check_choice("parameterization", parameterization, ("auto", *PARAMETERIZATIONS))
    n_random = check_int("n_random", n_random, 1)
    k = check_int("k", k, 1)
    steps = check_int("steps", steps, 1)
    lr = check_real("lr", lr, positive=True)
    jitter = check_int("jitter", jitter, 0)
    scale = check_real("scale", scale, maximum=0.9)
    batch_size = check_int("batch_size", batch_size, 1)
    alpha = check_alpha(alpha)
    dataset = method == "dataset"
    min_size = (5 if dataset else 3) if min_size is None else min_size
    max_fraction = (0.75 if dataset else 0.99) if max_fraction is None else max_fraction
    prep = prepare(
        model,
        partition,
        inputs,
        targets,
        layers=layers,
        min_size=min_size,
        max_fraction=max_fraction,
        site=site,
    )
    if dataset and k > prep.inputs.shape[0]:
        raise ValueError(
            f"k={k} top examples asked for, but the data set holds {prep.inputs.shape[0]}"
        )
    options: dict[str, Any] = {}
    if not dataset:
        normalised = batch_statistics(prep.trace.graph_module)
        if normalised is not None:
            raise ValueError(
                f"feature visualisation optimises many inputs in one batch, but layer "
                f"{normalised} normalises with the statistics of its batch, so they would "
                "change each other's objectives; use method='dataset'"
            )
        kind = parameterization
        if kind == "auto":
            shape = tuple(prep.inputs.shape[1:])
            kind = "fourier" if len(shape) == 3 and min(shape[1:]) >= 4 else "plain"
        options = {
            "param": make_parameterization(kind, prep.inputs),
            "preprocess": preprocess,
            "steps": steps,
            "lr": lr,
            "jitter": jitter,
            "scale": scale,
            "spatial": spatial,
        }
    lesions = draw_lesions(
        prep.partition, prep.subclusters, n_random, n_null_partitions, random_state
    )
    seed, controlled, sets = lesions.seed, lesions.controlled, lesions.sets
    t_engine = time.perf_counter()
    extras: dict[str, Any] = {}
    if dataset:
        entropy, top = _dataset(prep, sets, k, spatial, batch_size)
        per_layer = {"label_entropy": entropy}
    else:
        per_layer, images = _visualize(prep, sets, options, seed, progress)
    engine_seconds = time.perf_counter() - t_engine
    stats = _STATS[method]
    true, random, null = lesions.split(
        {name: {s: v[name] for s, v in per_layer.items()} for name in sets},
        [s.name for s in stats],
    )
    rows: list[tuple[int, dict[str, Any]]] = []
    for name, i, lo in lesions.offsets():
        row = controlled[i].describe()
        # Row i of the result is sub-cluster i: extras are keyed by it.
        if dataset:
            row["top_examples"] = top[name][lo].tolist()
            row["top_labels"] = prep.targets[top[name][lo]].squeeze(-1).tolist()
            extras.setdefault("top_examples", {})[i] = top[name][lo : lo + 1 + n_random]
        else:
            extras.setdefault("inputs", {})[i] = images[name][lo : lo + 1 + min(n_random, 3)]
        rows.append((i, row))
    rows_sorted = [row for _, row in sorted(rows, key=lambda ir: ir[0])]
    info = {
        "method": method,
        "n_random": n_random,
        "n_null_partitions": n_null_partitions,
        "random_state": seed,
        "site": site,
        "sites": {name: prep.sites[name].description for name in sets},
        "k": k if dataset else None,
        "parameterization": options["param"].kind if not dataset else None,
        "steps": steps if not dataset else None,
        "lr": lr if not dataset else None,
        "n_examples": int(prep.inputs.shape[0]),
        "input_shape": list(prep.inputs.shape[1:]),
        "engine_seconds": engine_seconds,
        "device": str(prep.device),
        "seconds": time.perf_counter() - t0,
    }
    result = ProxyResult.build(
        f"coherence ({method})",
        stats,
        rows_sorted,
        true,
        random,
        null=null if n_null_partitions >= 2 else None,
        alpha=alpha,
        random_state=seed,
        info=info,
    )
    result.extras = extras
    return result
