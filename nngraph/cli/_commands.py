"""The subcommands: each parses nothing and computes nothing of its own.

Every ``cmd_<name>(args)`` turns parsed arguments into one call of the library
(importing it only then, so that ``nngraph --help`` stays fast), prints what a user
needs to read, and writes the files asked for.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "cmd_cluster",
    "cmd_clusterability",
    "cmd_coherence",
    "cmd_compare",
    "cmd_graph",
    "cmd_importance",
    "cmd_run",
]


def _progress() -> bool:
    return sys.stderr.isatty()


def _bundled(args: argparse.Namespace) -> tuple[Any, Any]:
    from ..models import pretrained, pretrained_data

    model = pretrained(
        args.model,
        dropout=args.dropout,
        weight_decay=args.weight_decay,
        random_state=args.seed,
        progress=_progress(),
    )
    return model, pretrained_data(args.model)


def _build_graph(args: argparse.Namespace) -> Any:
    """Build the ``--graph`` graph of the bundled ``--model``."""
    from ..graphs import activation_graph, weight_graph

    model, data = _bundled(args)
    if args.graph == "weight":
        return weight_graph(model, data.x_train[:1], normalize=args.normalize)
    return activation_graph(model, data.x_train)


def _graph_from(args: argparse.Namespace) -> Any:
    """Load a saved graph (``--graph-file``), or build the graph of the bundled ``--model``."""
    from ..graphs import NeuronGraph

    if getattr(args, "graph_file", None):
        return NeuronGraph.load(args.graph_file)
    return _build_graph(args)


def _print_graph(g: Any) -> None:
    sizes = ", ".join(f"{n}={s}" for n, s in zip(g.layer_names, g.layer_sizes, strict=True))
    print(f"graph: {g.n_nodes} units, {g.n_edges} edges ({g.kind}); layers: {sizes}")


def _null_for(graph: Any) -> str:
    return "layer" if graph.layer_pairs.size else "offdiagonal"


def cmd_run(args: argparse.Namespace) -> int:
    """``nngraph run``: the whole study (:func:`nngraph.study`), saved to ``--output``."""
    from ..pipeline import study

    result = study(
        args.model,
        progress=_progress(),
        dropout=args.dropout,
        weight_decay=args.weight_decay,
        seed=args.seed,
        graphs=(args.graph,),
        normalize=args.normalize,
        k=args.k,
        n_shuffles=args.shuffles,
    )
    folder = result.save(args.output)
    for gs in result.graphs.values():
        _print_graph(gs.graph)
        s = gs.summary()["spectral"]
        print(
            f"spectral clustering, k={s['k']}: n-cut {s['ncut']:.4f}, modularity "
            f"{s['modularity']:.4f}, {s['n_subclusters']} sub-clusters (cluster x layer); "
            f"eigengap suggests k={s['suggested_k']}"
        )
        print(gs.comparison)
        if gs.clusterability is not None:
            print(gs.clusterability)
    print(f"results in {folder}/ ({sum(result.timings.values()):.1f} s)")
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    """``nngraph graph``: build and save the graph of a bundled network."""
    g = _build_graph(args)
    _print_graph(g)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"saved {g.save(out)}")
    if args.graphml:
        g.write_graphml(args.graphml)
        print(f"saved {args.graphml}")
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    """``nngraph cluster``: partition a graph and save the partition file."""
    from ..partition import Partition, make_partitioner

    est = make_partitioner(args.method, n_clusters=args.k)
    if "random_state" in est.get_params():
        est.set_params(random_state=args.random_state)
    g = _graph_from(args)
    part = Partition.from_estimator(est.fit(g), g)
    path = part.save(args.output)
    print(
        f"{args.method}: {part.n_clusters} clusters, n-cut {part.metrics['ncut']:.4f}, "
        f"modularity {part.metrics['modularity']:.4f}; saved {path}"
    )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """``nngraph compare``: several partitioners on one graph, as a table."""
    from ..partition import compare_partitioners, make_partitioners

    out = Path(args.output) if args.output else None
    if out is not None and out.suffix.lower() not in (".csv", ".json"):
        raise ValueError(f"--output must end in .csv or .json, got {out}")
    partitioners = make_partitioners(args.methods, n_clusters=args.k, equal_k=args.equal_k)
    g = _graph_from(args)
    result = compare_partitioners(g, partitioners, random_state=args.random_state)
    print(result)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".json":
            result.to_json(out)
        else:
            result.to_csv(out)
        print(f"\nsaved {out}")
    return 0


def cmd_clusterability(args: argparse.Namespace) -> int:
    """``nngraph clusterability``: the network against shuffled copies of itself."""
    import concurrent.futures as cf
    import multiprocessing as mp

    from ..partition import make_partitioner
    from ..stats import clusterability

    if args.shuffles < 1:
        raise ValueError(f"--shuffles must be at least 1, got {args.shuffles}")
    est = make_partitioner(args.method, n_clusters=args.k)
    g = _graph_from(args)
    pool = (
        cf.ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn"))
        if args.jobs > 1
        else contextlib.nullcontext(None)
    )
    with pool as executor:
        res = clusterability(
            g,
            est,
            n_shuffles=args.shuffles,
            method=args.null or _null_for(g),
            random_state=args.random_state,
            executor=executor,
            progress=_progress(),
        )
    print(res)
    if args.output:
        res.to_json(args.output)
        print(f"saved {args.output}")
    return 0


def _output_path(value: str | None) -> Path | None:
    out = Path(value) if value else None
    if out is not None and out.suffix.lower() not in (".csv", ".json"):
        raise ValueError(f"--output must end in .csv or .json, got {out}")
    if out is not None and not out.parent.exists():
        raise ValueError(f"--output {out}: the folder {out.parent} does not exist")
    return out


def cmd_importance(args: argparse.Namespace) -> int:
    """``nngraph importance``: lesion the sub-clusters of a partition file."""
    from ..partition import Partition
    from ..proxies import importance

    out = _output_path(args.output)
    part = Partition.load(args.partition)
    model, data = _bundled(args)
    res = importance(
        model,
        part,
        data.x_test,
        data.y_test,
        n_random=args.n_random,
        n_null_partitions=args.null_partitions,
        min_size=args.min_size,
        site=args.site,
        random_state=args.random_state,
        progress=_progress(),
    )
    print(res)
    if out is not None:
        (res.to_json if out.suffix.lower() == ".json" else res.to_csv)(out)
        print(f"saved {out}")
    return 0


def cmd_coherence(args: argparse.Namespace) -> int:
    """``nngraph coherence``: data-set examples or feature visualisation of sub-clusters."""
    from ..partition import Partition
    from ..proxies import coherence

    out = _output_path(args.output)
    figure = Path(args.figure) if args.figure else None
    if figure is not None and (figure.suffix.lower() != ".png" or not figure.parent.exists()):
        raise ValueError(f"--figure must be a .png path in an existing folder, got {figure}")
    part = Partition.load(args.partition)
    model, data = _bundled(args)
    res = coherence(
        model,
        part,
        data.x_test,
        data.y_test,
        method=args.method,
        n_random=args.n_random,
        n_null_partitions=args.null_partitions,
        k=args.k,
        steps=args.steps,
        random_state=args.random_state,
    )
    print(res)
    if out is not None:
        (res.to_json if out.suffix.lower() == ".json" else res.to_csv)(out)
        print(f"saved {out}")
    if figure is not None:
        import matplotlib

        matplotlib.use("Agg")
        from ..proxies import coherence_figure

        kind = {"dataset": "dataset", "visualization": "visualization"}[args.method]
        fig = coherence_figure(
            data.x_test, res.rows[0]["layer"], image_shape=data.image_shape, **{kind: res}
        )
        fig.savefig(figure, dpi=120)
        print(f"saved {figure}")
    return 0
