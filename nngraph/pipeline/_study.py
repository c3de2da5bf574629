"""The whole study as one library function: :func:`study` returns a :class:`StudyResult`.

One network, its graphs (weights, activation correlations), spectral clustering with
the papers' ``k`` beside the eigengap's suggestion, the other partitioners compared,
clusterability against shuffled networks, and importance and coherence of every
sub-cluster against random same-size sets. ``nngraph run`` is a thin call of
:func:`study` followed by :meth:`StudyResult.save`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from ..utils._progress import Stages
from ._config import StudyConfig, load_config
from ._output import check_output
from ._result import GraphStudy, StudyResult
from ._source import as_dataset, is_source_spec, load_source

__all__ = ["study"]


def _null_for(graph: Any, null: str) -> str:
    """Choose the clusterability null that fits the graph: layer blocks, or all pairs."""
    if null != "auto":
        return null
    return "layer" if graph.layer_pairs.size else "offdiagonal"


def _resolve_config(model: Any, config: Any, options: dict[str, Any]) -> StudyConfig:
    if "model" in options:
        raise TypeError("pass the network (or a bundled network's name) as the first argument")
    if isinstance(model, str):
        options = {**options, "model": model}
    elif model is not None:
        options = {**options, "model": type(model).__name__}
    if config is None:
        base = StudyConfig()
    elif isinstance(config, StudyConfig):
        base = config
    elif isinstance(config, (str, os.PathLike)):
        return load_config(config, **options)  # the file and the options together
    else:
        raise TypeError(
            f"config must be a StudyConfig or the path of a TOML file, got {type(config).__name__}"
        )
    return base.replace(**options) if options else base


def _load_network(
    model: Any, data: Any, config: StudyConfig, progress: bool
) -> tuple[Any, Any, dict[str, Any]]:
    """Return the network, its data (a Dataset) and what the report says about it."""
    if model is not None and not isinstance(model, str):
        if data is None:
            raise ValueError(
                "pass the network's data with it: a Dataset, (x_train, y_train, x_test, "
                "y_test), a dict with those keys, or (train_loader, test_loader)"
            )
        return model, as_dataset(data, name="data"), {"name": type(model).__name__}
    if data is not None:
        raise ValueError("data goes with a network of your own, not with a bundled network")
    if is_source_spec(config.model):
        return load_source(config.model, seed=config.seed)
    from .. import models

    model, history = models.pretrained(
        config.model,
        **{name: getattr(config, name) for name in config.TRAINING},
        random_state=config.seed,
        progress=progress,
        return_history=True,
    )
    info = {
        "name": config.model,
        "bundled": True,
        "epochs": len(history.get("train_loss", [])) or None,
        "test_accuracy": history.get("test_accuracy"),
        "train_accuracy": history.get("train_accuracy"),
        "training": {
            name: getattr(config, name)
            for name in ("dropout", "weight_decay", "prune", "l1", "l2", "cluster_lambda")
            if getattr(config, name)
        },
    }
    if config.cluster_lambda:
        info["training"]["cluster_k"] = config.cluster_k
    return model, models.pretrained_data(config.model), info


def _warm_up(config: StudyConfig) -> None:
    """Compile (or load from numba's cache) the kernels on a small graph, untimed elsewhere."""
    import numpy as np
    import torch

    from ..graphs import activation_graph, weight_graph
    from ..partition import SpectralClustering, make_partitioner
    from ..stats import clusterability

    tiny = torch.nn.Sequential(
        torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8), torch.nn.ReLU()
    )
    tiny.append(torch.nn.Linear(8, 3))
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(64, 6)).astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graphs = []
        if "weight" in config.graphs:
            graphs.append(weight_graph(tiny, x[:1]))
        if "activation" in config.graphs:
            graphs.append(activation_graph(tiny, x))
        for g in graphs:
            SpectralClustering(2, random_state=0).fit(g)
            for spec in config.partitioners:
                make_partitioner(spec, n_clusters=2).fit(g)
            if config.n_shuffles:
                clusterability(
                    g,
                    SpectralClustering(2, random_state=0),
                    n_shuffles=1,
                    method=_null_for(g, config.null),
                    random_state=0,
                )


def _build_graph(kind: str, model: Any, data: Any, config: StudyConfig) -> Any:
    from ..graphs import activation_graph, weight_graph
    from ..graphs._fx import unwrap_model

    if kind == "weight":
        from ..graphs._tracing import unfoldable_batch_norms
        from ..utils._warnings import user_stacklevel

        unfoldable = unfoldable_batch_norms(unwrap_model(model))
        if unfoldable:
            warnings.warn(
                f"batch norm {', '.join(map(repr, unfoldable))} keeps no running statistics, "
                "so the weight graph leaves it unfolded: its edges are the weights alone",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        return weight_graph(
            model, data.x_train[:1], normalize=config.normalize, fold_batchnorm=not unfoldable
        )
    return activation_graph(model, data.x_train)


def _partition(graph: Any, config: StudyConfig) -> tuple[Any, Any, Any]:
    from ..partition import Partition, SpectralClustering, compare_partitioners, make_partitioners

    est = SpectralClustering(config.k, random_state=config.seed).fit(graph)
    partition = Partition.from_estimator(est, graph)
    partitioners = make_partitioners(
        config.partitioners, n_clusters=config.k, random_state=config.seed
    )
    comparison = compare_partitioners(graph, partitioners) if partitioners else None
    return partition, est.eigengap_, comparison


def _check_k(kind: str, graph: Any, config: StudyConfig) -> None:
    """Refuse a ``k`` above a graph's units with an edge (before any graph is studied)."""
    n = int((graph.degree > 0).sum())
    if config.k > n:
        raise ValueError(
            f"k = {config.k} clusters asked for, but the {kind} graph has {n} units with an "
            "edge; choose a smaller k"
        )


def _study_graph(
    kind: str,
    graph: Any,
    model: Any,
    data: Any,
    config: StudyConfig,
    stages: Stages,
) -> GraphStudy:
    from ..partition import SpectralClustering
    from ..proxies import coherence, importance
    from ..stats import clusterability

    progress = stages.enabled
    with stages(f"{kind}: partitions"):
        partition, eigengap, comparison = _partition(graph, config)
    gs = GraphStudy(graph, partition, eigengap, comparison)
    if config.n_shuffles > 0:
        with stages(f"{kind}: clusterability ({config.n_shuffles} shuffles)"):
            gs.clusterability = clusterability(
                graph,
                SpectralClustering(config.k, random_state=config.seed),
                n_shuffles=config.n_shuffles,
                method=_null_for(graph, config.null),
                random_state=config.seed,
                n_jobs=config.jobs,
                progress=progress,
            )
    common = {
        "n_random": config.n_random,
        "n_null_partitions": config.n_null_partitions,
        "random_state": config.seed,
        "alpha": config.alpha,
    }
    if config.importance:
        with stages(f"{kind}: importance ({config.n_random} random sets per sub-cluster)"):
            gs.importance = importance(
                model,
                partition,
                data.x_test,
                data.y_test,
                min_size=2 if config.min_size is None else config.min_size,
                progress=progress,
                **common,
            )
    for method in config.coherence:
        with stages(f"{kind}: coherence ({method})"):
            gs.coherence[method] = coherence(
                model,
                partition,
                data.x_test,
                data.y_test,
                method=method,
                min_size=config.min_size,
                steps=config.steps,
                progress=progress,
                **common,
            )
    return gs


def study(
    model: Any = None,
    data: Any = None,
    *,
    config: StudyConfig | str | os.PathLike[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    force: bool = False,
    progress: bool = False,
    **options: Any,
) -> StudyResult:
    """Run the whole study on a network and return everything it found.

    Builds the network's graphs, partitions each with spectral clustering (``k``
    clusters; the eigengap's suggestion is kept beside it) and compares the other
    partitioners, tests clusterability against shuffled networks, and tests every
    sub-cluster (a cluster's units in one layer) for importance and coherence against
    random same-size sets of its layer.

    Parameters
    ----------
    model : torch.nn.Module or str, optional
        The network (a trained classifier), the name of a bundled one (``"mlp"``,
        ``"small_cnn"``, ``"two_digit_mlp"``; trained once and cached), or
        ``"package.module:function"`` naming a function that returns ``(model, data)``
        (see :func:`nngraph.pipeline.load_source`). Default: the configuration's model,
        ``"mlp"`` (an MLP trained on the bundled digits).
    data : Dataset, tuple, dict or pair of loaders, optional
        The data of a network passed as a module: ``x_train`` feeds the activation
        graph and the example input of the weight graph, ``x_test``/``y_test`` the
        proxies. See :func:`nngraph.pipeline.as_dataset` for the forms accepted.
    config : StudyConfig or path, optional
        The options (a TOML file's path, or a :class:`StudyConfig`); ``options`` win.
    output : path, optional
        Save the result there (:meth:`StudyResult.save`). The folder is checked before
        any work starts, so a bad path fails at once.
    force : bool, default=False
        With ``output``: replace an existing folder whole.
    progress : bool, default=False
        Announce each stage with its time, and show progress (bars on a terminal,
        plain lines in a log).
    **options
        Any field of :class:`StudyConfig` (``k``, ``graphs``, ``n_shuffles``,
        ``n_random``, ...), checked before any work starts.

    Returns
    -------
    StudyResult

    References
    ----------
    .. [1] D. Filan, S. Casper, S. Hod, C. Wild, A. Critch and S. Russell, "Clusterability
       in neural networks", arXiv:2103.03386, 2021.
    .. [2] S. Hod, S. Casper, D. Filan, C. Wild, A. Critch and S. Russell, "Detecting
       modularity in deep neural networks", arXiv:2110.08058, 2021.

    Examples
    --------
    >>> import nngraph as ng
    >>> res = ng.study(graphs="weight", k=4, n_shuffles=2, n_random=9, coherence=())
    >>> res.graphs["weight"].partition.n_clusters
    4
    >>> res.verdict().modular in ("yes", "partly", "no")
    True
    """
    config = _resolve_config(model, config, options)
    if model is not None and not isinstance(model, str) and config.training_options():
        raise ValueError(config._no_training("a network passed as model"))
    if output is not None:
        check_output(output, force=force)
    stages = Stages(enabled=progress)
    from ..stats._worker_pool import start_workers_early

    start_workers_early(config.jobs, config.n_shuffles)  # they get ready as the network loads
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with stages("network"):
            model, data, info = _load_network(model, data, config, progress)
        with stages("compile (numba kernels: once per machine, then read from its cache)"):
            _warm_up(config)
        result = StudyResult(config, model, data, info, timings=stages.timings)
        graphs = {}
        for kind in config.graphs:  # every graph first: a bad k fails before any study
            with stages(f"{kind} graph"):
                graphs[kind] = _build_graph(kind, model, data, config)
            _check_k(kind, graphs[kind], config)
        for kind, graph in graphs.items():
            result.graphs[kind] = _study_graph(kind, graph, model, data, config, stages)
    raised = {str(w.message): w.message for w in caught}  # each once, in order
    result.warnings = result.statistical_warnings() + list(raised)
    for message in raised.values():
        warnings.warn(message, stacklevel=2)  # the original category
    if output is not None:
        # Timed apart from the study's stages (a later save must not list it), and
        # counted in the terminal's "in all", which is then the whole run.
        saving = Stages(enabled=progress)
        with saving("files and report"):
            result.save(Path(output), force=force)
        result.save_seconds = saving.timings["files and report"]
    return result
