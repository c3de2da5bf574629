"""The whole study as one library function: :func:`study` returns a :class:`StudyResult`.

``nngraph run`` is a thin call of :func:`study` followed by :meth:`StudyResult.save`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..utils._io import to_jsonable, write_json
from ..utils._validation import (
    check_bool,
    check_choice,
    check_int,
    check_real,
    check_seed,
)

__all__ = ["GraphStudy", "StudyConfig", "StudyResult", "study"]

GRAPH_KINDS = ("weight", "activation")


@dataclass(frozen=True)
class StudyConfig:
    """Every option of a study (what :func:`study` takes as keywords).

    Attributes
    ----------
    model : str
        The bundled network to train or load (:func:`nngraph.models.pretrained`) when
        no model is passed.
    dropout, weight_decay : float
        Training options of the bundled network.
    seed : int
        Seed of training, of every partitioner and of the shuffles.
    graphs : tuple of {"weight", "activation"}
        Which graphs of the network to study.
    normalize : bool
        Remove the ReLU rescaling symmetry from weight graphs.
    k : int
        Clusters for spectral clustering (the paper: 12).
    partitioners : tuple of str
        Partitioners compared on each graph (specs of
        :func:`nngraph.partition.make_partitioner`); spectral clustering with ``k`` is
        always the study's partition.
    n_shuffles : int
        Shuffled networks in the clusterability test (0 skips it).
    """

    model: str = "mlp"
    dropout: float = 0.0
    weight_decay: float = 0.0
    seed: int = 0
    graphs: tuple[str, ...] = ("weight",)
    normalize: bool = False
    k: int = 12
    partitioners: tuple[str, ...] = ("spectral", "louvain", "leiden")
    n_shuffles: int = 20

    def __post_init__(self) -> None:
        check_real("dropout", self.dropout, maximum=1.0, below_maximum=True)
        check_real("weight_decay", self.weight_decay)
        check_seed("seed", self.seed)
        check_bool("normalize", self.normalize)
        check_int("k", self.k, 2)
        check_int("n_shuffles", self.n_shuffles, 0)
        graphs = (self.graphs,) if isinstance(self.graphs, str) else tuple(self.graphs)
        if not graphs:
            raise ValueError("graphs must name at least one of 'weight', 'activation'")
        for kind in graphs:
            check_choice("graphs", kind, GRAPH_KINDS)
        object.__setattr__(self, "graphs", tuple(dict.fromkeys(graphs)))
        parts = (self.partitioners,) if isinstance(self.partitioners, str) else self.partitioners
        object.__setattr__(self, "partitioners", tuple(parts))

    @classmethod
    def option_names(cls) -> list[str]:
        """Return the names of every option."""
        return [f.name for f in fields(cls)]


@dataclass
class GraphStudy:
    """Everything the study found on one graph of the network.

    Attributes
    ----------
    graph : NeuronGraph
    partition : Partition
        Spectral clustering with ``k`` clusters.
    eigengap : EigengapResult
        The eigenvalues and the number of clusters the largest gap suggests.
    comparison : PartitionerComparison
        The partitioners side by side.
    clusterability : ClusterabilityResult or None
        Against shuffled copies (None with ``n_shuffles=0``).
    """

    graph: Any
    partition: Any
    eigengap: Any
    comparison: Any
    clusterability: Any = None

    def summary(self) -> dict[str, Any]:
        """Return the headline numbers, JSON-ready."""
        g, part = self.graph, self.partition
        out: dict[str, Any] = {
            "kind": g.kind,
            "n_nodes": g.n_nodes,
            "n_edges": g.n_edges,
            "layers": dict(zip(g.layer_names, map(int, g.layer_sizes), strict=True)),
            "spectral": {
                "k": part.n_clusters,
                "ncut": part.metrics.get("ncut"),
                "modularity": part.metrics.get("modularity"),
                "suggested_k": int(self.eigengap.suggested_k),
                "n_subclusters": len(part.subclusters()),
            },
        }
        if self.clusterability is not None:
            out["clusterability"] = {
                k: v for k, v in self.clusterability.to_dict().items() if k != "null"
            }
        return to_jsonable(out)


@dataclass
class StudyResult:
    """What :func:`study` found: one :class:`GraphStudy` per graph, and how it was run.

    Attributes
    ----------
    config : StudyConfig
    model : torch.nn.Module
        The network studied.
    model_info : dict
        Its name and, for bundled networks, the training history.
    graphs : dict of str to GraphStudy
        By graph kind (``"weight"``, ``"activation"``).
    timings : dict of str to float
        Seconds per stage.
    """

    config: StudyConfig
    model: Any
    model_info: dict[str, Any]
    graphs: dict[str, GraphStudy] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Return the configuration, the model and each graph's headline numbers, JSON-ready."""
        return to_jsonable(
            {
                "config": asdict(self.config),
                "model": self.model_info,
                "graphs": {kind: gs.summary() for kind, gs in self.graphs.items()},
                "timings": self.timings,
            },
            unknown="repr",
        )

    def save(self, folder: str | Path) -> Path:
        """Write every result to ``folder`` (created if needed); returns the folder.

        Per graph kind ``<kind>``: ``graph-<kind>.npz``, ``partition-<kind>.json``
        (:doc:`partition-format`), ``comparison-<kind>.csv`` and, with shuffles,
        ``clusterability-<kind>.json``; then ``summary.json``.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for kind, gs in self.graphs.items():
            gs.graph.save(folder / f"graph-{kind}.npz")
            gs.partition.save(folder / f"partition-{kind}.json")
            gs.comparison.to_csv(folder / f"comparison-{kind}.csv")
            if gs.clusterability is not None:
                gs.clusterability.to_json(folder / f"clusterability-{kind}.json")
        write_json(folder / "summary.json", self.summary())
        return folder


def _null_for(graph: Any) -> str:
    """Choose the clusterability null that fits the graph: layer blocks, or all pairs."""
    return "layer" if graph.layer_pairs.size else "offdiagonal"


def _load_bundled(config: StudyConfig, progress: bool) -> tuple[Any, Any, dict[str, Any]]:
    from .. import models

    model, history = models.pretrained(
        config.model,
        dropout=config.dropout,
        weight_decay=config.weight_decay,
        random_state=config.seed,
        progress=progress,
        return_history=True,
    )
    data = models.pretrained_data(config.model)
    info = {
        "name": config.model,
        "test_accuracy": history.get("test_accuracy"),
        "train_accuracy": history.get("train_accuracy"),
    }
    return model, data, info


def _build_graph(kind: str, model: Any, data: Any, config: StudyConfig) -> Any:
    from ..graphs import activation_graph, weight_graph

    if kind == "weight":
        return weight_graph(model, data.x_train[:1], normalize=config.normalize)
    return activation_graph(model, data.x_train)


def _study_graph(graph: Any, config: StudyConfig, progress: bool) -> GraphStudy:
    from ..partition import (
        Partition,
        SpectralClustering,
        compare_partitioners,
        make_partitioner,
    )
    from ..stats import clusterability

    est = SpectralClustering(config.k, random_state=config.seed).fit(graph)
    partition = Partition.from_estimator(est, graph)
    gap = est.eigengap_
    partitioners = {}
    for spec in config.partitioners:
        p = make_partitioner(spec, n_clusters=config.k)
        if "random_state" in p.get_params(deep=False):
            p.set_params(random_state=config.seed)
        partitioners[spec] = p
    comparison = compare_partitioners(graph, partitioners)
    clus = None
    if config.n_shuffles > 0:
        clus = clusterability(
            graph,
            SpectralClustering(config.k, random_state=config.seed),
            n_shuffles=config.n_shuffles,
            method=_null_for(graph),
            random_state=config.seed,
            progress=progress,
        )
    return GraphStudy(graph, partition, gap, comparison, clus)


def study(
    model: Any = None, data: Any = None, *, progress: bool = False, **options: Any
) -> StudyResult:
    """Run the whole study on a network: graphs, partitions, comparison, clusterability.

    Parameters
    ----------
    model : torch.nn.Module or str, optional
        The network, or the name of a bundled one (:data:`nngraph.models.PRETRAINED_NAMES`,
        trained once and cached). Default: ``"mlp"``, an MLP trained on the bundled
        digits.
    data : nngraph.datasets.Dataset, optional
        The network's data (``x_train`` feeds the activation graph and the example
        input of the weight graph). Required with ``model``.
    progress : bool, default=False
        Show progress bars.
    **options
        Any field of :class:`StudyConfig` (``k``, ``graphs``, ``n_shuffles``, ...).

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
    >>> res = ng.study(n_shuffles=2, k=4, partitioners=("spectral", "louvain"))
    >>> sorted(res.graphs), res.graphs["weight"].partition.n_clusters
    (['weight'], 4)
    """
    unknown = sorted(set(options) - set(StudyConfig.option_names()) - {"model"})
    if unknown:
        raise TypeError(
            f"unknown study option(s) {unknown}; options are {StudyConfig.option_names()}"
        )
    if "model" in options:
        raise TypeError("pass the network (or a bundled network's name) as model")
    if model is None or isinstance(model, str):
        if data is not None:
            raise ValueError("data goes with a model of your own, not with a bundled network")
        config = StudyConfig(model=model or "mlp", **options)
        model = None
    else:
        if data is None:
            raise ValueError("pass the network's data with it (an nngraph.datasets.Dataset)")
        config = StudyConfig(model=type(model).__name__, **options)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if model is None:
        model, data, info = _load_bundled(config, progress)
    else:
        info = {"name": type(model).__name__}
    timings["model"] = time.perf_counter() - t0
    result = StudyResult(config, model, info, timings=timings)
    for kind in config.graphs:
        t0 = time.perf_counter()
        graph = _build_graph(kind, model, data, config)
        timings[f"graph-{kind}"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        result.graphs[kind] = _study_graph(graph, config, progress)
        timings[f"partition-{kind}"] = time.perf_counter() - t0
    return result
