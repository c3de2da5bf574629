"""The argument parser of ``nngraph`` (argparse only: nothing heavy is imported here)."""

from __future__ import annotations

import argparse

__all__ = ["BUNDLED_MODELS", "DEFAULT_METHODS", "build_parser"]

# The names nngraph.models.pretrained accepts (kept equal by a test, so that parsing
# needs no torch).
BUNDLED_MODELS = ("mlp", "small_cnn", "two_digit_mlp")
DEFAULT_METHODS = ("spectral", "louvain", "leiden", "label_propagation")


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default="mlp",
        choices=BUNDLED_MODELS,
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


def _add_graph_source(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--graph-file",
        default=None,
        help="a saved graph (.npz from `nngraph graph`); default: the graph of the bundled --model",
    )
    _add_model_options(p)


def build_parser() -> argparse.ArgumentParser:
    """Build the parser of every subcommand."""
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

    graph = sub.add_parser("graph", help="build and save the graph of a bundled network")
    _add_model_options(graph)
    graph.add_argument("--output", default="graph.npz", help="where to save (.npz)")
    graph.add_argument("--graphml", default=None, help="also write GraphML to this path")

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

    compare = sub.add_parser("compare", help="compare partitioners on one graph")
    _add_graph_source(compare)
    compare.add_argument(
        "--methods",
        nargs="+",
        default=list(DEFAULT_METHODS),
        metavar="SPEC",
        help="partitioners: louvain, leiden, label_propagation (lpa), spectral, each "
        "optionally with parameters, e.g. louvain:resolution=2,backend=igraph "
        f"(default: {' '.join(DEFAULT_METHODS)})",
    )
    compare.add_argument(
        "--k", type=int, default=12, help="n_clusters for spectral (and with --equal-k)"
    )
    compare.add_argument(
        "--equal-k",
        action="store_true",
        help="give louvain and leiden n_clusters=k too (resolution search)",
    )
    compare.add_argument(
        "--random-state", type=int, default=0, help="seed of the partitioners (default 0)"
    )
    compare.add_argument(
        "--output", default=None, help="write the comparison to this .csv or .json file"
    )

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

    imp = sub.add_parser(
        "importance",
        help="lesion each sub-cluster of a partition against random same-size sets",
    )
    _add_model_options(imp)
    imp.add_argument(
        "--partition",
        required=True,
        help="a partition file (.json, from `nngraph cluster` or any tool) of the model's units",
    )
    imp.add_argument("--n-random", type=int, default=19, help="random sets per sub-cluster (19)")
    imp.add_argument(
        "--null-partitions",
        type=int,
        default=19,
        help="random partitions for the dependent combination (default 19; 0 skips)",
    )
    imp.add_argument("--min-size", type=int, default=2, help="smallest sub-cluster tested (2)")
    imp.add_argument("--site", default="read", choices=["read", "pre"], help="lesion point")
    imp.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    imp.add_argument("--output", default=None, help="write the rows to this .csv or .json file")

    coh = sub.add_parser(
        "coherence",
        help="do each sub-cluster's units respond to the same features? (against random sets)",
    )
    _add_model_options(coh)
    coh.add_argument(
        "--partition", required=True, help="a partition file (.json) of the model's units"
    )
    coh.add_argument(
        "--method",
        default="dataset",
        choices=["dataset", "visualization"],
        help="(default dataset)",
    )
    coh.add_argument("--n-random", type=int, default=19, help="random sets per sub-cluster (19)")
    coh.add_argument(
        "--null-partitions", type=int, default=19, help="random partitions (default 19; 0 skips)"
    )
    coh.add_argument("--k", type=int, default=10, help="top examples per set (dataset; 10)")
    coh.add_argument("--steps", type=int, default=64, help="optimisation steps (visualization; 64)")
    coh.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    coh.add_argument("--output", default=None, help="write the rows to this .csv or .json file")
    coh.add_argument(
        "--figure", default=None, help="also draw the first layer's sub-clusters to this .png"
    )
    return parser
