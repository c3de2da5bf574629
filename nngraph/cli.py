"""The ``nngraph`` command line.

``nngraph run`` is the main job: with no arguments it trains (or loads from the cache) the
default MLP on the bundled digits data, builds its weight graph, partitions it (spectral
clustering, compared with Louvain and Leiden), tests its clusterability against
shuffled copies and writes the results to ``nngraph-output/``. One subcommand per stage
reads and writes files, so stages can be run (and replaced) one at a time.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._io import write_json

__all__ = ["main"]


def _load_model(name: str, *, dropout: float, weight_decay: float, random_state: int):
    from . import models

    model = models.pretrained(
        name,
        dropout=dropout,
        weight_decay=weight_decay,
        random_state=random_state,
        progress=sys.stderr.isatty(),
    )
    data = models.pretrained_data(name)
    return model, data


def _build_graph(args: argparse.Namespace):
    import nngraph as ng

    model, data = _load_model(
        args.model,
        dropout=args.dropout,
        weight_decay=args.weight_decay,
        random_state=args.seed,
    )
    if args.graph == "weight":
        return ng.weight_graph(model, data.x_train[:1], normalize=args.normalize), model, data
    return ng.activation_graph(model, data.x_train), model, data


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default="mlp",
        choices=["mlp", "small_cnn", "two_digit_mlp"],
        help="bundled network to train or load from the cache (default: mlp)",
    )
    p.add_argument("--dropout", type=float, default=0.0, help="dropout used in training")
    p.add_argument("--weight-decay", type=float, default=0.0, help="weight decay in training")
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument(
        "--graph",
        default="weight",
        choices=["weight", "activation"],
        help="graph of weights or of activation correlations (default: weight)",
    )
    p.add_argument(
        "--normalize",
        action="store_true",
        help="remove the ReLU rescaling symmetry from weight graphs",
    )


def _print_graph(g) -> None:
    sizes = ", ".join(f"{n}={s}" for n, s in zip(g.layer_names, g.layer_sizes, strict=True))
    print(f"graph: {g.n_nodes} units, {g.n_edges} edges ({g.kind}); layers: {sizes}")


def cmd_graph(args: argparse.Namespace) -> int:
    g, _, _ = _build_graph(args)
    _print_graph(g)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    path = g.save(out)
    print(f"saved {path}")
    if args.graphml:
        g.write_graphml(args.graphml)
        print(f"saved {args.graphml}")
    return 0


def _graph_from(args: argparse.Namespace):
    """A saved graph (``--graph-file``), or the graph of the bundled ``--model``."""
    import nngraph as ng

    if getattr(args, "graph_file", None):
        return ng.NeuronGraph.load(args.graph_file)
    return _build_graph(args)[0]


def cmd_cluster(args: argparse.Namespace) -> int:
    import nngraph as ng

    from ._compare import make_partitioner

    est = make_partitioner(args.method, n_clusters=args.k)
    if "random_state" in est.get_params():
        est.set_params(random_state=args.random_state)
    g = _graph_from(args)
    labels = est.fit(g).labels_
    part = ng.Partition(
        labels, g, method=args.method, params=est.get_params(), random_state=args.random_state
    )
    path = part.save(args.output)
    n_clusters = len(set(labels.tolist()) - {-1})
    print(
        f"{args.method}: {n_clusters} clusters, n-cut {ng.ncut(g, labels):.4f}, "
        f"modularity {ng.modularity(g, labels):.4f}; saved {path}"
    )
    return 0


def cmd_clusterability(args: argparse.Namespace) -> int:
    import concurrent.futures as cf
    import multiprocessing as mp

    import nngraph as ng

    from ._compare import make_partitioner

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
        res = ng.clusterability(
            g,
            est,
            n_shuffles=args.shuffles,
            method=args.null or _null_for(g),
            random_state=args.random_state,
            executor=executor,
            progress=sys.stderr.isatty(),
        )
    print(res)
    if args.output:
        res.to_json(args.output)
        print(f"saved {args.output}")
    return 0


def _finite(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _null_for(graph) -> str:
    """The clusterability null that fits the graph: layer blocks, or all pairs."""
    return "layer" if graph.layer_pairs.size else "offdiagonal"


def cmd_run(args: argparse.Namespace) -> int:
    """The main job: graph, spectral partition, metrics, clusterability, comparison."""
    import nngraph as ng

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    g, model, data = _build_graph(args)
    summary: dict[str, Any] = {
        "model": args.model,
        "graph": {
            "kind": g.kind,
            "n_nodes": g.n_nodes,
            "n_edges": g.n_edges,
            "layers": dict(zip(g.layer_names, map(int, g.layer_sizes), strict=True)),
        },
    }
    _print_graph(g)
    print(f"saved {g.save(out / 'graph.npz')}")

    est = ng.SpectralClustering(args.k, random_state=args.seed).fit(g)
    part = ng.Partition(
        est.labels_, g, method="spectral", params=est.get_params(), random_state=args.seed
    )
    part.save(out / "partition.json")
    subclusters = part.subclusters()
    summary["spectral"] = {
        "k": args.k,
        "ncut": ng.ncut(g, est.labels_),
        "modularity": ng.modularity(g, est.labels_),
        "suggested_k": int(est.suggested_k_),
        "n_subclusters": len(subclusters),
    }
    print(
        f"spectral clustering, k={args.k}: n-cut {summary['spectral']['ncut']:.4f}, "
        f"modularity {summary['spectral']['modularity']:.4f}, "
        f"{len(subclusters)} sub-clusters (cluster x layer); eigengap suggests "
        f"k={est.suggested_k_}; saved {out / 'partition.json'}"
    )

    comparison = ng.compare_partitioners(
        g,
        {
            "spectral": ng.SpectralClustering(args.k, random_state=args.seed),
            "louvain": ng.Louvain(random_state=args.seed),
            "leiden": ng.Leiden(random_state=args.seed),
        },
    )
    comparison.to_csv(out / "comparison.csv")
    print(comparison)

    if args.shuffles > 0:
        res = ng.clusterability(
            g,
            ng.SpectralClustering(args.k, random_state=args.seed),
            n_shuffles=args.shuffles,
            method=_null_for(g),
            random_state=args.seed,
            progress=sys.stderr.isatty(),
        )
        res.to_json(out / "clusterability.json")
        summary["clusterability"] = {k: v for k, v in res.to_dict().items() if k != "null"}
        print(res)
    summary["seconds"] = time.perf_counter() - t0
    write_json(out / "summary.json", _finite(summary))
    print(f"summary: {out / 'summary.json'} ({summary['seconds']:.1f} s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nngraph", description="How modular is a trained neural network?"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="the main job on the bundled default (or --model)")
    _add_model_options(run)
    run.add_argument("--k", type=int, default=12, help="number of clusters (default 12)")
    run.add_argument(
        "--shuffles",
        type=int,
        default=20,
        help="shuffles for the clusterability test; 0 skips it (default 20)",
    )
    run.add_argument("--output", default="nngraph-output", help="output directory")
    run.set_defaults(func=cmd_run)

    graph = sub.add_parser("graph", help="build and save the graph of a bundled network")
    _add_model_options(graph)
    graph.add_argument("--output", default="graph.npz", help="where to save (.npz)")
    graph.add_argument("--graphml", default=None, help="also write GraphML to this path")
    graph.set_defaults(func=cmd_graph)

    cluster = sub.add_parser("cluster", help="partition a graph and save the partition")
    _add_graph_source(cluster)
    cluster.add_argument(
        "--method",
        default="spectral",
        help="partitioner spec, e.g. spectral, louvain:resolution=2 (default spectral)",
    )
    cluster.add_argument("--k", type=int, default=12, help="clusters for spectral (default 12)")
    cluster.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    cluster.add_argument("--output", default="partition.json", help="partition file (.json)")
    cluster.set_defaults(func=cmd_cluster)

    from ._compare import add_compare_arguments, run_compare

    compare = sub.add_parser("compare", help="compare partitioners on one graph")
    add_compare_arguments(compare)
    compare.set_defaults(func=run_compare)

    clus = sub.add_parser(
        "clusterability", help="is the network more clusterable than shuffled copies?"
    )
    _add_graph_source(clus)
    clus.add_argument("--method", default="spectral", help="partitioner spec (default spectral)")
    clus.add_argument("--k", type=int, default=12, help="clusters for spectral (default 12)")
    clus.add_argument("--shuffles", type=int, default=50, help="shuffled copies (default 50)")
    clus.add_argument(
        "--null",
        default=None,
        choices=["layer", "layer_nonzero", "offdiagonal"],
        help="null model (default: layer for weight graphs, offdiagonal otherwise)",
    )
    clus.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    clus.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    clus.add_argument("--output", default=None, help="write the result as JSON")
    clus.set_defaults(func=cmd_clusterability)
    return parser


def _add_graph_source(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--graph-file",
        default=None,
        help="a saved graph (.npz); default: the graph of the bundled --model",
    )
    _add_model_options(p)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError) as exc:
        print(f"nngraph {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
