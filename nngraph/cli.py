"""The ``nngraph`` command line.

``nngraph run`` is the main job: with no arguments it trains (or loads from the cache) the
default MLP on the bundled digits data, builds its weight graph, partitions it and writes
the results to ``nngraph-output/``. One subcommand per stage reads and writes files, so
stages can be run (and replaced) one at a time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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


def cmd_run(args: argparse.Namespace) -> int:
    """Everything available, on the bundled default: graph, partition, metrics."""
    import nngraph as ng

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"model": args.model, "graph_kind": args.graph}
    t0 = time.perf_counter()
    g, model, data = _build_graph(args)
    summary["graph"] = {
        "n_nodes": g.n_nodes,
        "n_edges": g.n_edges,
        "layers": dict(zip(g.layer_names, map(int, g.layer_sizes), strict=True)),
    }
    _print_graph(g)
    print(f"saved {g.save(out / 'graph.npz')}")
    if hasattr(ng, "SpectralClustering"):
        est = ng.SpectralClustering(args.k, random_state=args.seed).fit(g)
        part = ng.Partition(
            est.labels_, g, method="spectral", params={"n_clusters": args.k}, random_state=args.seed
        )
        part.save(out / "partition.json")
        summary["spectral"] = {
            "k": args.k,
            "ncut": ng.ncut(g, est.labels_),
            "modularity": ng.modularity(g, est.labels_),
            "suggested_k": int(getattr(est, "suggested_k_", args.k)),
        }
        print(
            f"spectral clustering k={args.k}: n-cut {summary['spectral']['ncut']:.4f}, "
            f"modularity {summary['spectral']['modularity']:.4f}; "
            f"saved {out / 'partition.json'}"
        )
    summary["seconds"] = time.perf_counter() - t0
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    print(f"summary: {out / 'summary.json'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nngraph", description="How modular is a trained neural network?"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="the main job on the bundled default (or --model)")
    _add_model_options(run)
    run.add_argument("--k", type=int, default=12, help="number of clusters (default 12)")
    run.add_argument("--output", default="nngraph-output", help="output directory")
    run.set_defaults(func=cmd_run)

    graph = sub.add_parser("graph", help="build and save the graph of a bundled network")
    _add_model_options(graph)
    graph.add_argument("--output", default="graph.npz", help="where to save (.npz)")
    graph.add_argument("--graphml", default=None, help="also write GraphML to this path")
    graph.set_defaults(func=cmd_graph)
    return parser


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
