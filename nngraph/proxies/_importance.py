"""Importance: silencing a sub-cluster against silencing random same-size sets.

Does silencing a sub-cluster hurt the network more than silencing random same-size sets
of its layer? (docs/method.md, section 4.)

For every sub-cluster and each of its random controls, the network is evaluated on
held-out data with those units set to zero at their site (the value the next layer
reads, :mod:`nngraph.graphs._sites`). The forward pass up to each layer is computed
once per batch and reused by every lesion of that layer; the lesions then run through
the rest of the network together, stacked along the batch dimension
(:class:`._forward.LesionRunner`). Per lesion and head the counts of correct
predictions per class and the summed loss are kept; the statistics come from them.
"""

from __future__ import annotations

import concurrent.futures as cf
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..graphs._byte_sizes import parse_bytes
from ..graphs._fx import frozen
from ..graphs._sites import unit_sites
from ..graphs._tracing import trace_model
from ..utils._progress import progress_bar
from ..utils._validation import check_alpha, check_choice, check_int
from ._controls import Controlled, draw_lesions
from ._data import prepare
from ._forward import LesionRunner, batch_statistics, chunks, lesioned_forward
from ._result import ProxyResult, Statistic

__all__ = ["importance", "lesion_statistics"]

ENGINES = ("batched", "naive")

#: Default bytes of stacked lesions per chunk. On the CPU, tensors over glibc's
#: largest heap-served size (32 MiB) are memory maps returned on free and zeroed again
#: on the next chunk: at 512 MiB that took as long as the arithmetic (10.6 million
#: page faults for the default study of the digits MLP); at 32 MiB nearly none.
CPU_CHUNK_BYTES = 32 * 2**20
DEVICE_CHUNK_BYTES = 512 * 2**20
#: At most this many bytes of intact values are kept per batch (every value of the
#: network, from which the lesions re-run): above it the batch is made smaller. A
#: ResNet-18 on 224-pixel images keeps 32 MiB per example, 16 GiB for 512 of them.
CPU_INTACT_BYTES = 2**30
DEVICE_INTACT_BYTES = 4 * 2**30


@dataclass
class Counts:
    """Per lesion and head: correct predictions per class, and the summed loss."""

    correct: np.ndarray  # (n_lesions, n_heads, n_classes)
    loss: np.ndarray  # (n_lesions, n_heads)


def _score(logits: torch.Tensor, y: torch.Tensor, n_heads: int, n_classes: int) -> tuple:
    """Count correct predictions per class and sum the loss, per lesion and head.

    ``logits`` are stacked ``(m, batch, heads * classes)``, ``y`` is ``(batch, heads)``;
    returns ``(m, heads, classes)`` counts and ``(m, heads)`` loss sums.
    """
    m, batch = logits.shape[:2]
    logits = logits.reshape(m, batch, n_heads, n_classes).float()
    pred = logits.argmax(-1)  # (m, batch, heads)
    hit = (pred == y.unsqueeze(0)).to(torch.float64)
    one_hot = F.one_hot(y, n_classes).to(torch.float64)  # (batch, heads, classes)
    correct = torch.einsum("mbh,bhc->mhc", hit, one_hot)
    logp = torch.log_softmax(logits.double(), dim=-1)
    picked = logp.gather(-1, y.unsqueeze(0).expand(m, -1, -1).unsqueeze(-1)).squeeze(-1)
    loss = -picked.sum(dim=1)  # (m, heads)
    return correct.cpu().numpy(), loss.cpu().numpy()


def _rows_per_chunk(runner: LesionRunner, site: Any, set_size: int, budget: float) -> int:
    """Choose how many lesions of ``set_size`` units to stack so they fit ``budget`` bytes.

    Every value after the cut is counted, and what the lesions gather before it: an
    upper bound on what is alive at once.
    """
    return max(1, int(budget // max(1, runner.bytes_per_lesion(site, set_size))))


def _layer_counts(
    model: nn.Module,
    layers: Sequence[str],
    sets: dict[str, list[np.ndarray]],
    inputs: torch.Tensor,
    targets: torch.Tensor,
    n_heads: int,
    n_classes: int,
    batch_size: int,
    budget: float,
    site: str,
    engine: str,
    progress: bool = False,
) -> tuple[Counts, dict[str, Counts]]:
    """Count the intact network's results and every lesion's, for the ``layers`` given.

    Module-level so that it pickles to worker processes: the model is traced there
    again (deterministically), so any executor gives the same numbers.
    """
    from ..graphs._fx import model_device_dtype

    device, dtype = model_device_dtype(model)
    trace = trace_model(model, inputs[:1])
    sites = unit_sites(trace, site)
    runner = LesionRunner(trace.graph_module)
    intact = Counts(np.zeros((1, n_heads, n_classes)), np.zeros((1, n_heads)))
    size = {name: sum(g.shape[0] for g in sets[name]) for name in layers}
    out = {
        name: Counts(np.zeros((size[name], n_heads, n_classes)), np.zeros((size[name], n_heads)))
        for name in layers
    }
    set_tensors = {name: [torch.from_numpy(s).to(device) for s in sets[name]] for name in layers}
    n = inputs.shape[0]
    bar = _bar(progress, len(range(0, n, batch_size)) * max(1, len(layers)))
    with frozen(model), torch.inference_mode():
        for piece in chunks(n, batch_size):
            x = inputs[piece].to(device)
            if x.is_floating_point():
                x = x.to(dtype)
            y = targets[piece].to(device)
            base = runner.run(x)
            c, loss = _score(base.unsqueeze(0), y, n_heads, n_classes)
            intact.correct += c
            intact.loss += loss
            for name in layers:
                st = sites[name]
                row = 0
                for group in set_tensors[name]:  # lesions of one size
                    if engine == "naive":
                        for j in range(group.shape[0]):
                            mask = torch.ones(st.n_units, device=device)
                            mask[group[j]] = 0.0
                            logits = lesioned_forward(trace.graph_module, st, mask, x)
                            c, loss = _score(logits.unsqueeze(0), y, n_heads, n_classes)
                            out[name].correct[row + j] += c[0]
                            out[name].loss[row + j] += loss[0]
                    else:
                        step = _rows_per_chunk(runner, st, group.shape[1], budget)
                        for part in chunks(group.shape[0], step):
                            logits = runner.lesioned(st, group[part])
                            c, loss = _score(logits, y, n_heads, n_classes)
                            rows = slice(row + part.start, row + part.stop)
                            out[name].correct[rows] += c
                            out[name].loss[rows] += loss
                    row += group.shape[0]
                bar.update(1)
    bar.close()
    return intact, out


def _intact_batch_size(prep: Any, batch_size: int) -> int:
    """Return ``batch_size``, smaller where a batch's intact values would be too many.

    At most :data:`CPU_INTACT_BYTES` (:data:`DEVICE_INTACT_BYTES` on a GPU), as
    measured on one example.
    """
    runner = LesionRunner(prep.trace.graph_module)
    x = prep.inputs[:1].to(prep.device)
    if x.is_floating_point():
        x = x.to(prep.dtype)
    with frozen(prep.model), torch.inference_mode():
        runner.run(x)
    per_example = max(1, runner.kept_bytes())
    limit = CPU_INTACT_BYTES if prep.device.type == "cpu" else DEVICE_INTACT_BYTES
    return max(1, min(batch_size, limit // per_example))


def _bar(progress: bool, total: int):
    return progress_bar(total, "lesions", enabled=progress, unit="layer-batch")


def lesion_statistics(
    counts: Counts, intact: Counts, class_totals: np.ndarray
) -> dict[str, np.ndarray]:
    """Compute the statistics of each lesion, per head and averaged over heads.

    Parameters
    ----------
    counts : Counts
        Per lesion: correct predictions per (head, class), summed loss per head.
    intact : Counts
        The same for the intact network (one row).
    class_totals : ndarray, shape (n_heads, n_classes)
        Examples of each class per head.

    Returns
    -------
    dict of str to ndarray
        ``accuracy``, ``balanced_accuracy`` (mean per-class accuracy), ``loss`` (mean
        cross-entropy), ``selectivity`` and ``range_over_mean``, each ``(n_lesions,)``
        averaged over heads; ``balanced_accuracy_head<h>`` and ``head_gap`` with several
        heads; ``drops`` ``(n_lesions, n_heads, n_classes)``: per-class accuracy drops.

    Notes
    -----
    Class selectivity of the accuracy drops ``d_c = acc_c(intact) - acc_c(lesioned)``
    (over the classes present) is ``max_c d_c - mean_c d_c``: how much more the most hurt
    class loses than the classes on average, in accuracy units, in ``[0, 1]``; 0 when
    every class loses the same, and finite when the mean drop is near zero. The paper's
    ``(max_c d_c - min_c d_c) / mean_c d_c`` is reported as ``range_over_mean`` where the
    mean drop is positive (NaN otherwise: it explodes as the mean goes to 0).
    ``head_gap`` is ``max_h D_h - min_h D_h`` for the balanced-accuracy drops ``D_h`` of
    the heads: large when the lesion hurts one head and not another.

    Examples
    --------
    >>> import numpy as np
    >>> totals = np.array([[10.0, 10.0]])
    >>> intact = Counts(np.array([[[9.0, 8.0]]]), np.array([[4.0]]))
    >>> lesion = Counts(np.array([[[1.0, 8.0]]]), np.array([[9.0]]))
    >>> s = lesion_statistics(lesion, intact, totals)
    >>> float(s["balanced_accuracy"][0]), float(s["selectivity"][0])
    (0.45, 0.4)
    """
    with warnings.catch_warnings():  # all-NaN slices (no drop defined) give NaN, quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        return _lesion_statistics(counts, intact, class_totals)


def _lesion_statistics(
    counts: Counts, intact: Counts, class_totals: np.ndarray
) -> dict[str, np.ndarray]:
    present = class_totals > 0
    n = class_totals.sum(axis=1)  # examples per head (all heads see every example)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc_c = np.where(present, counts.correct / np.where(present, class_totals, 1), np.nan)
        base_c = np.where(present, intact.correct[0] / np.where(present, class_totals, 1), np.nan)
    balanced = np.nanmean(acc_c, axis=2)  # (m, heads)
    accuracy = counts.correct.sum(axis=2) / n
    loss = counts.loss / n
    drops = base_c[None] - acc_c
    mean_drop = np.nanmean(drops, axis=2)
    selectivity = np.nanmax(drops, axis=2) - mean_drop
    spread = np.nanmax(drops, axis=2) - np.nanmin(drops, axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        range_over_mean = np.where(mean_drop > 1e-12, spread / mean_drop, np.nan)
    out = {
        "accuracy": accuracy.mean(axis=1),
        "balanced_accuracy": balanced.mean(axis=1),
        "loss": loss.mean(axis=1),
        "selectivity": selectivity.mean(axis=1),
        "range_over_mean": np.nanmean(range_over_mean, axis=1),
        "drops": drops,
    }
    if drops.shape[1] > 1:
        base_balanced = np.nanmean(base_c, axis=1)
        head_drop = base_balanced[None, :] - balanced
        for h in range(drops.shape[1]):
            out[f"balanced_accuracy_head{h}"] = balanced[:, h]
        out["head_gap"] = head_drop.max(axis=1) - head_drop.min(axis=1)
    return out


def _statistics(n_heads: int) -> list[Statistic]:
    stats = [
        Statistic(
            "balanced_accuracy",
            "less",
            "mean per-class accuracy on held-out data after the lesion (lower: more important)",
        ),
        Statistic(
            "selectivity",
            "greater",
            "max minus mean of the per-class accuracy drops (higher: the damage is "
            "concentrated on fewer classes)",
        ),
        Statistic(
            "loss", "greater", "mean cross-entropy after the lesion (higher: more important)"
        ),
    ]
    for h in range(n_heads if n_heads > 1 else 0):
        stats.append(
            Statistic(f"balanced_accuracy_head{h}", "less", f"balanced accuracy of head {h}")
        )
    if n_heads > 1:
        stats.append(
            Statistic(
                "head_gap",
                "greater",
                "largest minus smallest balanced-accuracy drop over the heads (higher: "
                "hurts one head more than another)",
            )
        )
    return stats


def importance(
    model: nn.Module,
    partition: Any,
    inputs: Any,
    targets: Any,
    *,
    n_random: int = 19,
    random_state: int | None = None,
    n_null_partitions: int = 19,
    min_size: int = 2,
    max_fraction: float = 0.99,
    layers: Sequence[str] | None = None,
    site: str = "read",
    batch_size: int = 512,
    max_memory: float | str | None = None,
    executor: cf.Executor | None = None,
    engine: str = "batched",
    alpha: float = 0.05,
    progress: bool = False,
) -> ProxyResult:
    """Test whether sub-clusters are important: lesion each, and random same-size sets.

    Parameters
    ----------
    model : torch.nn.Module
        A trained classifier (class scores of shape ``(n, n_classes)``, or
        ``(n, n_heads * n_classes)`` for multi-head targets), on any device. Never
        modified: lesions are applied to values in a traced copy of its graph.
    partition : Partition or path
        Labels of the model's units (``Partition``, or a partition file: any tool can
        write one). Its layers must be layers of the model, with the same sizes.
    inputs : torch.Tensor or numpy.ndarray, shape (n, ...)
        Held-out examples.
    targets : torch.Tensor or numpy.ndarray of int, shape (n,) or (n, n_heads)
        Their classes (one per head).
    n_random : int, default=19
        Random sets per sub-cluster (the paper's).
    random_state : int, optional
        Seed of the random sets (each sub-cluster its own child seed).
    n_null_partitions : int, default=19
        Random partitions (each layer's labels permuted) whose sub-clusters are lesioned
        too, to measure how the sub-clusters' p-values depend on each other: the
        combined p-value (``"null_t"``) then keeps its size under the null although
        the sub-clusters of a layer are disjoint. 0 skips them (and the combination
        falls back on Fisher's, which assumes independence and is conservative).
    min_size : int, default=2
        Sub-clusters of fewer units are not tested (the paper: 2).
    max_fraction : float, default=0.99
        Nor those holding more of their layer (the paper: 0.99).
    layers : sequence of str, optional
        The layers whose sub-clusters are tested. Default: every hidden layer the
        partition labels (not the input, not the output).
    site : {"read", "pre"}, default="read"
        Where units are silenced: ``"read"``, their value as the next layer reads it
        (after their activation and any batch norm of their own; in a residual
        network, their contribution before the add, so the skip path still carries
        its input); ``"pre"``, before their nonlinearity.
    batch_size : int, default=512
        Examples per batch (the evaluation set is streamed). Smaller where a batch's
        intact values (every value of the network, kept for the lesions to re-run
        from) would take more than 1 GiB on the CPU or 4 GiB on a GPU; ``info`` holds
        the size used.
    max_memory : int or str, optional
        How much the stacked lesions after a cut may take per batch. By default 32 MiB
        on the CPU and 512 MiB on a GPU: on the CPU, larger chunks are fresh memory
        maps that the system zeroes on every chunk (with the C library's allocator),
        which costs as much time as the arithmetic on the digits MLP.
    executor : concurrent.futures.Executor, optional
        Run the layers' lesions in parallel (a process pool, or a Dask cluster through
        ``distributed.Client(...).get_executor()``); the numbers are the same.
    engine : {"batched", "naive"}, default="batched"
        ``"naive"`` runs one full forward pass per lesion (the reference, slow). A
        network that normalises with its batch's statistics in eval mode (a batch norm
        with ``track_running_stats=False``) is run naively, with a warning.
    alpha : float, default=0.05
        False discovery rate of the Benjamini-Hochberg ``significant`` columns.
    progress : bool, default=False
        Show a progress bar.

    Returns
    -------
    ProxyResult
        One row per sub-cluster: ``balanced_accuracy``, ``selectivity``, ``loss`` (and
        per head with several heads) with their random means, p-values, effects and
        significance; ``classes_hurt``; combined p-values per statistic. See
        :func:`lesion_statistics` for the statistics.

    Raises
    ------
    ValueError
        A partition that does not match the model, targets out of range or of the wrong
        shape, inputs and targets of different lengths, NaN or infinite inputs, model
        parameters or buffers, size filters that leave nothing to test, a model whose
        output is not class scores.

    References
    ----------
    .. [1] S. Hod, S. Casper, D. Filan, C. Wild, A. Critch and S. Russell, "Detecting
       Modularity in Deep Neural Networks", arXiv:2110.08058, 2021.

    Examples
    --------
    >>> import torch, nngraph as ng
    >>> from nngraph.models import pretrained, pretrained_data
    >>> model, data = pretrained("mlp", hidden=(32, 32), epochs=5), pretrained_data("mlp")
    >>> g = ng.weight_graph(model, data.x_train[:1])
    >>> part = ng.Partition(ng.SpectralClustering(4, random_state=0).fit(g).labels_, g)
    >>> res = ng.importance(model, part, data.x_test, data.y_test, n_random=9, random_state=0)
    >>> res.statistics[0].name, res.n_rows > 0
    ('balanced_accuracy', True)
    """
    t0 = time.perf_counter()
    n_random = check_int("n_random", n_random, 1)
    check_choice("site", site, ("read", "pre"))
    check_choice("engine", engine, ENGINES)
    batch_size = check_int("batch_size", batch_size, 1)
    alpha = check_alpha(alpha)
    if max_memory is None:
        from ..graphs._fx import model_device_dtype

        on_cpu = model_device_dtype(model)[0].type == "cpu"
        max_memory = CPU_CHUNK_BYTES if on_cpu else DEVICE_CHUNK_BYTES
    budget = parse_bytes("max_memory", max_memory)
    if executor is not None and not isinstance(executor, cf.Executor):
        raise TypeError(
            f"executor must be a concurrent.futures.Executor, got {type(executor).__name__}"
        )
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
    normalised = batch_statistics(prep.trace.graph_module)
    if engine == "batched" and normalised is not None:
        warnings.warn(
            f"layer {normalised} normalises with the statistics of its batch, so lesions "
            "stacked in one batch would change each other's results: running one forward "
            "pass per lesion (engine='naive') instead",
            UserWarning,
            stacklevel=2,
        )
        engine = "naive"
    if normalised is None:  # (with batch statistics, the batch is part of the model)
        batch_size = _intact_batch_size(prep, batch_size)
    lesions = draw_lesions(
        prep.partition, prep.subclusters, n_random, n_null_partitions, random_state
    )
    controlled = lesions.controlled
    # Each layer's lesions (every sub-cluster's true set, then its controls) as groups
    # of sets of one size; lesion j of a layer is row j of its groups in order.
    sets = lesions.sets
    args = (
        prep.inputs,
        prep.targets,
        prep.n_heads,
        prep.n_classes,
        batch_size,
        budget,
        site,
        engine,
    )
    names = list(lesions.by_layer)
    t_engine = time.perf_counter()
    if executor is None:
        intact, counts = _layer_counts(prep.model, names, sets, *args, progress=progress)
    else:
        futures = [
            executor.submit(_layer_counts, prep.model, [name], {name: sets[name]}, *args)
            for name in names
        ]
        counts = {}
        for fut in futures:
            intact, part = fut.result()
            counts.update(part)
    engine_seconds = time.perf_counter() - t_engine
    totals = _class_totals(prep.targets, prep.n_heads, prep.n_classes)
    base = lesion_statistics(intact, intact, totals)
    stats = _statistics(prep.n_heads)
    values = {name: lesion_statistics(counts[name], intact, totals) for name in names}
    true, random, null = lesions.split(values, [s.name for s in stats])
    n_null = n_null_partitions
    rows = []
    for name, k, lo in lesions.offsets():
        rows.append((k, _row(controlled[k], values[name], lo)))
    rows = [row for _, row in sorted(rows, key=lambda kr: kr[0])]
    info = {
        "n_random": n_random,
        "n_null_partitions": n_null,
        "random_state": lesions.seed,
        "site": site,
        "sites": {name: prep.sites[name].description for name in names},
        "n_examples": int(prep.inputs.shape[0]),
        "n_heads": prep.n_heads,
        "n_classes": prep.n_classes,
        "intact": {k: float(v[0]) for k, v in base.items() if k != "drops" and np.ndim(v) == 1},
        "engine": engine,
        "batch_size": batch_size,
        "n_lesions": int(sum(len(c.sets) for c in controlled)),
        "engine_seconds": engine_seconds,
        "device": str(prep.device),
        "seconds": time.perf_counter() - t0,
    }
    return ProxyResult.build(
        "importance",
        stats,
        rows,
        true,
        random,
        null=null if n_null >= 2 else None,
        alpha=alpha,
        random_state=lesions.seed,
        info=info,
    )


def _class_totals(targets: torch.Tensor, n_heads: int, n_classes: int) -> np.ndarray:
    y = targets.cpu().numpy()
    return np.stack([np.bincount(y[:, h], minlength=n_classes) for h in range(n_heads)]).astype(
        np.float64
    )


def _row(c: Controlled, values: dict[str, np.ndarray], lo: int) -> dict[str, Any]:
    """Describe a row: the sub-cluster, and the classes its lesion hurts most."""
    drops = values["drops"][lo]  # (heads, classes)
    hurt = []
    for h in range(drops.shape[0]):
        order = np.argsort(-np.nan_to_num(drops[h], nan=-np.inf))
        top = [int(k) for k in order[:3] if np.isfinite(drops[h][k]) and drops[h][k] > 0]
        hurt.append(top)
    return {
        **c.describe(),
        "classes_hurt": hurt[0] if len(hurt) == 1 else hurt,
        "range_over_mean": float(values["range_over_mean"][lo]),
    }
