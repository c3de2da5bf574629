"""The subcommands: each parses nothing and computes nothing of its own.

Every ``cmd_<name>(args)`` checks its output paths, turns parsed arguments into one
call of the library (importing it only then, so that ``nngraph --help`` stays fast),
prints what a user needs to read, and writes the files asked for.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ..pipeline._config import StudyConfig
from ._parser import MODEL_OPTIONS, TRAINING_OPTIONS

__all__ = [
    "cmd_cluster",
    "cmd_clusterability",
    "cmd_coherence",
    "cmd_compare",
    "cmd_graph",
    "cmd_importance",
    "cmd_run",
]


def _opt(args: argparse.Namespace, name: str) -> Any:
    """Return an option's value: the flag's if given, else the study's default."""
    return getattr(args, name, "weight" if name == "graph" else getattr(StudyConfig, name))


def _progress() -> bool:
    return sys.stderr.isatty()


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _p_floor(n: int, what: str, option: str) -> None:
    """Warn when ``n`` random draws cannot give a p-value below 0.05."""
    if 1 / (n + 1) > 0.05:
        extra = "; z is undefined with one shuffle" if n == 1 and what == "shuffles" else ""
        _warn(
            f"with {n} {what} the smallest possible p-value is 1/{n + 1} = {1 / (n + 1):.3g}: "
            f"nothing can be significant at 0.05{extra}. Use {option} 19 or more."
        )


def _output_file(value: str | None, suffixes: tuple[str, ...], option: str) -> Path | None:
    """Check an output file's name and folder before any work starts."""
    if value is None:
        return None
    out = Path(value)
    if out.suffix.lower() not in suffixes:
        raise ValueError(f"{option} must end in {' or '.join(suffixes)}, got {value!r}")
    if out.is_dir():
        raise ValueError(f"{option} {value!r} is a folder, not a file")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"{option} {value!r}: the folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"{option} {value!r}: cannot write in {str(parent)!r}")
    return out


def _network(args: argparse.Namespace) -> tuple[Any, Any]:
    """Load ``--model``: a bundled network (trained once, cached) or module:function."""
    from ..pipeline._source import is_source_spec, load_source

    spec = _opt(args, "model")
    training = {name: _opt(args, name) for name in TRAINING_OPTIONS}
    if is_source_spec(spec):
        StudyConfig(model=spec, **training)  # refuses training options, as `run` does
        model, data, _ = load_source(spec, seed=_opt(args, "seed"))
        return model, data
    from ..models import PRETRAINED_NAMES, pretrained, pretrained_data

    if spec not in PRETRAINED_NAMES:
        raise ValueError(
            f"--model {spec!r}: not a bundled network ({', '.join(PRETRAINED_NAMES)}) nor "
            f"'package.module:function'"
        )
    model = pretrained(
        spec,
        **training,
        random_state=_opt(args, "seed"),
        progress=_progress(),
    )
    return model, pretrained_data(spec)


def _build_graph(args: argparse.Namespace) -> Any:
    """Build the ``--graph`` graph of ``--model``."""
    from ..graphs import activation_graph, weight_graph

    if _opt(args, "graph") == "activation" and hasattr(args, "normalize"):
        raise ValueError("--normalize applies to weight graphs only (not with --graph activation)")
    model, data = _network(args)
    if _opt(args, "graph") == "weight":
        return weight_graph(model, data.x_train[:1], normalize=_opt(args, "normalize"))
    return activation_graph(model, data.x_train)


def _graph_from(args: argparse.Namespace) -> Any:
    """Load ``--graph-file`` (refusing network options with it), or build the graph."""
    from ..graphs import NeuronGraph

    if args.graph_file:
        given = [f"--{n.replace('_', '-')}" for n in MODEL_OPTIONS if hasattr(args, n)]
        if given:
            raise ValueError(
                f"{', '.join(given)} cannot be used with --graph-file (the graph is already "
                f"built); drop them, or drop --graph-file"
            )
        return NeuronGraph.load(args.graph_file)
    return _build_graph(args)


def _print_graph(g: Any) -> None:
    sizes = ", ".join(f"{n}={s}" for n, s in zip(g.layer_names, g.layer_sizes, strict=True))
    print(f"graph: {g.n_nodes} units, {g.n_edges} edges ({g.kind}); layers: {sizes}")


def cmd_run(args: argparse.Namespace) -> int:
    """``nngraph run``: the whole study (:func:`nngraph.study`) and its report."""
    from ..pipeline import StudyConfig, check_output, load_config, study

    names = StudyConfig.option_names()
    options = {k: v for k, v in vars(args).items() if k in names}
    if args.config:
        config = load_config(args.config, **options)
    else:
        config = StudyConfig.from_options(options, where="the command line")
    check_output(args.output, force=args.force)
    for message in config.limits():
        _warn(message)
    result = study(config=config, output=args.output, force=args.force, progress=not args.quiet)
    print(result.text())
    print(f"\nreport: {Path(args.output) / 'report.html'} (and report.md, figures/, data files)")
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    """``nngraph graph``: build and save the graph of a network."""
    out = _output_file(args.output, (".npz",), "--output")
    graphml = _output_file(args.graphml, (".graphml", ".xml"), "--graphml")
    g = _build_graph(args)
    _print_graph(g)
    print(f"saved {g.save(out)}")
    if graphml is not None:
        g.write_graphml(graphml)
        print(f"saved {graphml}")
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    """``nngraph cluster``: partition a graph and save the partition file."""
    from ..partition import Partition, make_partitioner

    out = _output_file(args.output, (".json",), "--output")
    est = make_partitioner(args.method, n_clusters=args.k, random_state=_opt(args, "seed"))
    g = _graph_from(args)
    part = Partition.from_estimator(est.fit(g), g)
    path = part.save(out)
    print(
        f"{args.method}: {part.n_clusters} cluster{'' if part.n_clusters == 1 else 's'}, "
        f"n-cut {part.metrics['ncut']:.4f}, "
        f"modularity {part.metrics['modularity']:.4f}; saved {path}"
    )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """``nngraph compare``: several partitioners on one graph, as a table."""
    from ..partition import compare_partitioners, make_partitioners

    out = _output_file(args.output, (".csv", ".json"), "--output")
    # Each gets --seed itself (as in `nngraph cluster`), unless its spec names one.
    partitioners = make_partitioners(
        args.methods, n_clusters=args.k, equal_k=args.equal_k, random_state=_opt(args, "seed")
    )
    if args.proxies is not None and args.graph_file:
        raise ValueError("--proxies needs the network itself: drop --graph-file")
    g = _graph_from(args)
    result = compare_partitioners(g, partitioners)
    if args.proxies is not None:
        from ..proxies import judge_partitions

        model, data = _network(args)
        result = judge_partitions(
            g,
            None,
            model,
            data.x_test,
            data.y_test,
            proxies=args.proxies or ("importance", "dataset"),
            n_random=args.n_random,
            random_state=_opt(args, "seed"),
            comparison=result,
            progress=_progress(),
        )
    print(result)
    if out is not None:
        (result.to_json if out.suffix.lower() == ".json" else result.to_csv)(out)
        print(f"\nsaved {out}")
    return 0


def cmd_clusterability(args: argparse.Namespace) -> int:
    """``nngraph clusterability``: the network against shuffled copies of itself."""
    from ..partition import make_partitioner
    from ..pipeline._study import _null_for
    from ..stats import clusterability

    out = _output_file(args.output, (".json",), "--output")
    _p_floor(args.shuffles, "shuffles", "--shuffles")
    seed = _opt(args, "seed")
    est = make_partitioner(args.method, n_clusters=args.k, random_state=seed)
    from ..stats._worker_pool import start_workers_early

    start_workers_early(args.jobs, args.shuffles)  # they get ready as the graph is built
    g = _graph_from(args)
    res = clusterability(
        g,
        est,
        n_shuffles=args.shuffles,
        method=_null_for(g, args.null or "auto"),
        random_state=seed,
        n_jobs=args.jobs,
        progress=_progress(),
    )
    print(res)
    if out is not None:
        res.to_json(out)
        print(f"saved {out}")
    return 0


def _proxy_common(args: argparse.Namespace) -> dict[str, Any]:
    _p_floor(args.n_random, "random sets per sub-cluster", "--n-random")
    return {
        "n_random": args.n_random,
        "n_null_partitions": args.null_partitions,
        "random_state": _opt(args, "seed"),
    }


def _write_rows(res: Any, out: Path | None) -> None:
    print(res)
    if out is not None:
        (res.to_json if out.suffix.lower() == ".json" else res.to_csv)(out)
        print(f"saved {out}")


def cmd_importance(args: argparse.Namespace) -> int:
    """``nngraph importance``: lesion the sub-clusters of a partition file."""
    from ..partition import Partition
    from ..proxies import importance

    out = _output_file(args.output, (".csv", ".json"), "--output")
    common = _proxy_common(args)
    part = Partition.load(args.partition)
    model, data = _network(args)
    res = importance(
        model,
        part,
        data.x_test,
        data.y_test,
        min_size=args.min_size,
        site=args.site,
        progress=_progress(),
        **common,
    )
    _write_rows(res, out)
    return 0


def cmd_coherence(args: argparse.Namespace) -> int:
    """``nngraph coherence``: data-set examples or feature visualisation of sub-clusters."""
    from ..partition import Partition
    from ..proxies import coherence

    out = _output_file(args.output, (".csv", ".json"), "--output")
    figure = _output_file(args.figure, (".png",), "--figure")
    common = _proxy_common(args)
    part = Partition.load(args.partition)
    model, data = _network(args)
    res = coherence(
        model,
        part,
        data.x_test,
        data.y_test,
        method=args.method,
        k=args.k,
        steps=args.steps,
        progress=_progress(),
        **common,
    )
    _write_rows(res, out)
    if figure is not None:
        import matplotlib

        matplotlib.use("Agg")
        from ..proxies import coherence_figure

        fig = coherence_figure(
            data.x_test,
            res.rows[0]["layer"],
            image_shape=data.image_shape,
            **{args.method: res},
        )
        fig.savefig(figure, dpi=120)
        print(f"saved {figure}")
    return 0
