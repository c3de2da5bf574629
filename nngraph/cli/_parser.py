"""The argument parser of ``nngraph`` (argparse only: nothing heavy is imported here).

Options a user did not give are absent from the parsed namespace (``SUPPRESS``), so
that ``nngraph run`` can tell a flag from a default (flags override a ``--config``
file) and the graph commands can refuse model options given with ``--graph-file``.
The defaults shown in the help are those of :class:`nngraph.pipeline.StudyConfig`
(kept equal by a test).
"""

from __future__ import annotations

import argparse

__all__ = ["BUNDLED_MODELS", "DEFAULT_METHODS", "MODEL_OPTIONS", "build_parser"]

# The names nngraph.models.pretrained accepts (kept equal by a test, so that parsing
# needs no torch).
BUNDLED_MODELS = ("mlp", "small_cnn", "two_digit_mlp")
DEFAULT_METHODS = ("spectral", "louvain", "leiden", "label_propagation")
#: The options that train a bundled network (StudyConfig.TRAINING, kept equal by a test:
#: the parser imports nothing heavy).
TRAINING_OPTIONS = (
    "dropout",
    "weight_decay",
    "prune",
    "l1",
    "l2",
    "cluster_lambda",
    "cluster_k",
    "epochs",
)
#: Options that choose or build the network's graph: meaningless with --graph-file.
MODEL_OPTIONS = ("model", *TRAINING_OPTIONS, "graph", "normalize")

S = argparse.SUPPRESS


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def _nonnegative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {value}")
    return value


def _seed(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--seed",
        type=_int_at_least(0),
        default=S,
        help="one seed for training, partitioners, shuffles and random controls (default 0)",
    )


def _network(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("network")
    g.add_argument(
        "--model",
        default=S,
        metavar="NAME|MODULE:FUNCTION",
        help=f"a bundled network ({', '.join(BUNDLED_MODELS)}; trained once and cached) or "
        "'package.module:function' returning (model, data) (default: mlp)",
    )
    g.add_argument("--dropout", type=_fraction, default=S, help="dropout in training (0)")
    g.add_argument(
        "--weight-decay", type=_nonnegative, default=S, help="weight decay in training (0)"
    )
    g.add_argument(
        "--prune",
        type=_fraction,
        default=S,
        help="magnitude pruning to this sparsity after training, as the papers did (0: none)",
    )
    g.add_argument("--l1", type=_nonnegative, default=S, help="L1 penalty in training (0)")
    g.add_argument("--l2", type=_nonnegative, default=S, help="L2 penalty in training (0)")
    g.add_argument(
        "--cluster-lambda",
        type=_nonnegative,
        default=S,
        help="weight of the clusterability regulariser in training (0: none)",
    )
    g.add_argument(
        "--cluster-k",
        type=_int_at_least(2),
        default=S,
        help="clusters the regulariser promotes (4)",
    )
    g.add_argument(
        "--epochs", type=_int_at_least(1), default=S, help="training epochs (the network's own)"
    )
    _seed(g)


def _one_graph(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--graph",
        default=S,
        choices=["weight", "activation"],
        help="graph of weights or of activation correlations (default: weight)",
    )
    p.add_argument(
        "--normalize",
        action="store_true",
        default=S,
        help="remove the ReLU rescaling symmetry from weight graphs",
    )


def _graph_source(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--graph-file",
        default=None,
        help="a saved graph (.npz from `nngraph graph`); default: build the graph of --model "
        "(network options are refused with a graph file)",
    )
    _network(p)
    _one_graph(p)


def _output(p: argparse.ArgumentParser, default: str | None, what: str) -> None:
    p.add_argument("--output", default=default, help=what)


def _random_controls(p: argparse.ArgumentParser, *, null_partitions: bool = True) -> None:
    """``--n-random`` (and ``--null-partitions``): the random controls of the proxies."""
    p.add_argument(
        "--n-random", type=_int_at_least(1), default=99, help="random sets per sub-cluster (99)"
    )
    if null_partitions:
        p.add_argument(
            "--null-partitions",
            type=_int_at_least(0),
            default=19,
            help="random partitions for the dependent combination (default 19; 0 skips)",
        )


def _run(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser(
        "run",
        help="the main job: the whole study of a network, and its report",
        description="Build the network's graphs, partition them, test clusterability, "
        "importance and coherence, and write the report. Options override --config.",
    )
    run.add_argument(
        "--config", default=None, help="a TOML file of study options (flags override it)"
    )
    _network(run)
    st = run.add_argument_group("study")
    st.add_argument(
        "--graphs",
        nargs="+",
        default=S,
        choices=["weight", "activation"],
        help="graphs to study (default: weight activation)",
    )
    st.add_argument(
        "--normalize", action="store_true", default=S, help="rescale ReLU symmetry away"
    )
    st.add_argument("--k", type=_int_at_least(2), default=S, help="spectral clusters (12)")
    st.add_argument(
        "--partitioners",
        nargs="+",
        default=S,
        metavar="SPEC",
        help="partitioners compared with spectral clustering (default: spectral louvain)",
    )
    st.add_argument(
        "--shuffles",
        dest="n_shuffles",
        type=_int_at_least(0),
        default=S,
        help="shuffled networks in the clusterability test; 0 skips it (20)",
    )
    st.add_argument(
        "--null",
        default=S,
        choices=["auto", "layer", "layer_nonzero", "offdiagonal"],
        help="shuffle of the clusterability test (auto)",
    )
    st.add_argument(
        "--no-importance",
        dest="importance",
        action="store_false",
        default=S,
        help="skip the lesion test of sub-clusters",
    )
    st.add_argument(
        "--coherence",
        nargs="*",
        default=S,
        choices=["dataset", "visualization"],
        help="coherence statistics (default: dataset visualization; none given skips them)",
    )
    st.add_argument(
        "--n-random",
        type=_int_at_least(1),
        default=S,
        help="random same-size sets per sub-cluster (499; smallest p = 1/(n+1))",
    )
    st.add_argument(
        "--null-partitions",
        dest="n_null_partitions",
        type=_int_at_least(0),
        default=S,
        help="random partitions for combining p-values (19)",
    )
    st.add_argument(
        "--min-size", type=_int_at_least(1), default=S, help="smallest sub-cluster tested"
    )
    st.add_argument("--alpha", type=float, default=S, help="false discovery rate (0.05)")
    st.add_argument(
        "--steps", type=_int_at_least(1), default=S, help="feature visualisation steps (64)"
    )
    st.add_argument(
        "--jobs", type=_int_at_least(1), default=S, help="worker processes for shuffles (1)"
    )
    out = run.add_argument_group("output")
    _output(out, "nngraph-output", "output folder (default: nngraph-output)")
    out.add_argument("--force", action="store_true", help="replace an existing output folder whole")
    out.add_argument("--quiet", action="store_true", help="print only the final summary")


def build_parser() -> argparse.ArgumentParser:
    """Build the parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="nngraph", description="How modular is a trained neural network?"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _run(sub)

    graph = sub.add_parser("graph", help="build and save the graph of a network")
    _network(graph)
    _one_graph(graph)
    _output(graph, "graph.npz", "where to save (.npz)")
    graph.add_argument("--graphml", default=None, help="also write GraphML to this path")

    cluster = sub.add_parser("cluster", help="partition a graph and save the partition")
    _graph_source(cluster)
    cluster.add_argument(
        "--method",
        default="spectral",
        help="partitioner spec, e.g. spectral, louvain:resolution=2 (default spectral)",
    )
    cluster.add_argument("--k", type=_int_at_least(2), default=12, help="spectral clusters (12)")
    _output(cluster, "partition.json", "partition file (.json)")

    compare = sub.add_parser("compare", help="compare partitioners on one graph")
    _graph_source(compare)
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
        "--k", type=_int_at_least(2), default=12, help="n_clusters for spectral (and --equal-k)"
    )
    compare.add_argument(
        "--equal-k",
        action="store_true",
        help="give louvain and leiden n_clusters=k too (resolution search)",
    )
    compare.add_argument(
        "--proxies",
        nargs="*",
        default=None,
        choices=["importance", "dataset", "visualization"],
        help="also judge each partition by these proxies on the model's test data "
        "(given alone: importance dataset); not with --graph-file",
    )
    _random_controls(compare, null_partitions=False)
    _output(compare, None, "write the comparison to this .csv or .json file")

    clus = sub.add_parser(
        "clusterability", help="is the network more clusterable than shuffled copies?"
    )
    _graph_source(clus)
    clus.add_argument("--method", default="spectral", help="partitioner spec (default spectral)")
    clus.add_argument("--k", type=_int_at_least(2), default=12, help="spectral clusters (12)")
    clus.add_argument(
        "--shuffles", type=_int_at_least(1), default=50, help="shuffled copies (default 50)"
    )
    clus.add_argument(
        "--null",
        default=None,
        choices=["layer", "layer_nonzero", "offdiagonal"],
        help="null model (default: layer for weight graphs, offdiagonal otherwise)",
    )
    clus.add_argument(
        "--jobs", type=_int_at_least(1), default=1, help="worker processes (default 1)"
    )
    _output(clus, None, "write the result as JSON")

    imp = sub.add_parser(
        "importance",
        help="lesion each sub-cluster of a partition against random same-size sets",
    )
    _network(imp)
    imp.add_argument(
        "--partition",
        required=True,
        help="a partition file (.json, from `nngraph cluster` or any tool) of the model's units",
    )
    _random_controls(imp)
    imp.add_argument(
        "--min-size", type=_int_at_least(1), default=2, help="smallest sub-cluster tested (2)"
    )
    imp.add_argument("--site", default="read", choices=["read", "pre"], help="lesion point")
    _output(imp, None, "write the rows to this .csv or .json file")

    coh = sub.add_parser(
        "coherence",
        help="do each sub-cluster's units respond to the same features? (against random sets)",
    )
    _network(coh)
    coh.add_argument(
        "--partition", required=True, help="a partition file (.json) of the model's units"
    )
    coh.add_argument(
        "--method",
        default="dataset",
        choices=["dataset", "visualization"],
        help="(default dataset)",
    )
    _random_controls(coh)
    coh.add_argument(
        "--k", type=_int_at_least(1), default=10, help="top examples per set (dataset; 10)"
    )
    coh.add_argument(
        "--steps", type=_int_at_least(1), default=64, help="optimisation steps (visualization)"
    )
    _output(coh, None, "write the rows to this .csv or .json file")
    coh.add_argument(
        "--figure", default=None, help="also draw the first layer's sub-clusters to this .png"
    )
    return parser
