"""The papers' findings, reproduced side by side on the bundled networks.

Run: ``python benchmarks/study_findings.py [--networks N] [--shuffles S] [--parts ...]
[--figures DIR] [--tiny]``

Five independently trained networks per setting (seeds 0-4), each result cached in
``benchmarks/results/study_findings.json`` as soon as it is computed, so a rerun skips
what is done (``--fresh`` starts over):

* ``clusterability``: the digits MLP (64-256x4-10) trained plainly, with dropout 0.5,
  pruned to 90% (the papers' schedule), with dropout and pruning, with L1 (5e-5), and
  with the clusterability regulariser (Filan et al.'s: 0.1, k = 4); spectral k = 12
  against 50 shuffles of the "layer" null; n-cut, z and p per network, combined across
  networks (Bates).
* ``proxies``: on the weight and activation graphs of the plain and the dropout +
  pruned networks, spectral clustering, Louvain and Leiden at equal k = 12 judged by
  importance (lesions) and data-set coherence with 99 random sets per sub-cluster
  (``nngraph.proxies.judge_partitions``), each beside a partition drawn at random with
  the same sub-cluster sizes; pairwise NMI and ARI of the partitions.
* ``two_digits``: the two-digit MLP (128-64-64-20), plainly, pruned to 90% and 95%,
  and with the regulariser at k = 2: does a k = 2 spectral partition put each digit's
  input pixels and output head on their own side (ARI), and do its sub-clusters hurt
  one head and not the other when lesioned (``head_gap``); clusterability as above.
* ``size``: where our z differs in size from the paper's, the cheap checks of why: one
  plain network twice as wide, and one trained 10x longer.

``--tiny`` runs everything on tiny networks with a handful of shuffles and random sets
(seconds; the test suite does): its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS  # noqa: E402

SETTINGS: dict[str, dict[str, Any]] = {
    "plain": {},
    "dropout": {"dropout": 0.5},
    "pruned": {"prune": 0.9},
    "dropout + pruned": {"dropout": 0.5, "prune": 0.9},
    "L1": {"l1": 5e-5},
    "regulariser": {"cluster_lambda": 0.1, "cluster_k": 4},
}
PROXY_SETTINGS = ("plain", "dropout + pruned")
TWO_DIGIT_SETTINGS: dict[str, dict[str, Any]] = {
    "plain": {},
    "pruned 90%": {"prune": 0.9},
    "pruned 95%": {"prune": 0.95},
    "regulariser k=2": {"cluster_lambda": 1.0, "cluster_k": 2},
}
SIZE_CHECKS: dict[str, dict[str, Any]] = {
    "plain, 2x wider (512)": {"hidden": (512, 512, 512, 512)},
    "plain, 10x longer (300 epochs)": {"epochs": 300},
}
PARTS = ("clusterability", "proxies", "two_digits", "size")


class Store:
    """Results by task key in one JSON file, written (atomically) after every task."""

    def __init__(self, path: Path, config: dict[str, Any], fresh: bool = False) -> None:
        self.path = path
        config = json.loads(json.dumps(config, default=_json_default))  # as it reads back
        self.data: dict[str, Any] = {"config": config, "tasks": {}}
        if path.exists() and not fresh:
            saved = json.loads(path.read_text())
            if saved.get("config") == config:
                self.data = saved
            else:
                print(f"{path}: made with other settings; starting over", flush=True)

    def __contains__(self, key: str) -> bool:
        """Whether the task's result is stored."""
        return key in self.data["tasks"]

    def __getitem__(self, key: str) -> Any:
        """Return a task's result."""
        return self.data["tasks"][key]

    def put(self, key: str, value: Any) -> None:
        """Store a task's result and write the file."""
        self.data["tasks"][key] = value
        self.save()

    def save(self) -> None:
        """Write the file: a temporary file, then renamed over the old one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=_json_default))
        os.replace(tmp, self.path)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _nan(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


# --------------------------------------------------------------------------- tasks


def _model(name: str, seed: int, options: dict[str, Any], plan: dict[str, Any]):
    from nngraph.models import pretrained

    kwargs = {**plan["model"][name], **options}
    return pretrained(
        name, random_state=seed, cache_dir=plan["cache_dir"], return_history=True, **kwargs
    )


def clusterability_task(
    name: str, seed: int, options: dict[str, Any], plan: dict[str, Any]
) -> dict[str, Any]:
    """Train one network (or load it) and test its clusterability."""
    import nngraph as ng
    from nngraph.models import pretrained_data

    t0 = time.perf_counter()
    model, history = _model(name, seed, options, plan)
    trained = time.perf_counter() - t0
    data = pretrained_data(name)
    g = ng.weight_graph(model, data.x_train[:1])
    res = ng.clusterability(
        g,
        ng.SpectralClustering(plan["k"], random_state=seed),
        n_shuffles=plan["shuffles"],
        method="layer",
        random_state=seed,
        n_jobs=plan["jobs"],
    )
    return {
        "ncut": res.ncut,
        "null_mean": res.mean,
        "null_std": res.std,
        "z": _nan(res.z),
        "p": res.p,
        "n_units": res.n_units,
        "n_isolated": int(g.n_nodes - res.n_units),
        "test_accuracy": history.get("test_accuracy"),
        "sparsity": history.get("sparsity"),
        "train_seconds": history.get("train_seconds", trained),
        "seconds": time.perf_counter() - t0,
    }


def proxies_task(seed: int, options: dict[str, Any], graph: str, plan: dict[str, Any]) -> dict:
    """Spectral, Louvain and Leiden at equal k on one graph, judged by the proxies."""
    import nngraph as ng
    from nngraph.models import pretrained_data
    from nngraph.proxies import judge_partitions

    t0 = time.perf_counter()
    model, _ = _model("mlp", seed, options, plan)
    data = pretrained_data("mlp")
    if graph == "weights":
        g = ng.weight_graph(model, data.x_train[:1])
    else:
        g = ng.activation_graph(model, data.x_train)
    k = plan["k"]
    judged = judge_partitions(
        g,
        {
            "spectral": ng.SpectralClustering(k, random_state=seed),
            "louvain": ng.Louvain(n_clusters=k, random_state=seed),
            "leiden": ng.Leiden(n_clusters=k, random_state=seed),
        },
        model,
        data.x_test,
        data.y_test,
        proxies=("importance", "dataset"),
        n_random=plan["n_random"],
        n_null_partitions=plan["n_null"],
        baseline=True,
        random_state=seed,
    )
    rows = []
    for i, r in enumerate(judged.rows):
        row = {c: r[c] for c in ("method", "n_clusters", "n_isolated", "ncut", "modularity")}
        row.update({c: _nan(r[c]) for c in judged.extra_columns})
        row["largest_cluster"] = int(r["sizes"][0]) if r["sizes"] else 0
        for j, other in enumerate(judged.names):
            row[f"nmi_{other}"] = float(judged.nmi[i, j])
            row[f"ari_{other}"] = float(judged.ari[i, j])
        rows.append(row)
    return {"rows": rows, "seconds": time.perf_counter() - t0}


def halves_truth(g) -> np.ndarray:
    """Side of each input pixel and output logit of the two-digit task (-1: hidden units)."""
    truth = np.full(g.n_nodes, -1)
    names = np.asarray(g.layer_names)[g.node_layer]
    inputs = names == "input"
    truth[inputs] = (g.node_unit[inputs] % 16 >= 8).astype(int)  # 8x16 image, row by row
    outputs = g.node_layer == len(g.layer_names) - 1
    truth[outputs] = (g.node_unit[outputs] >= 10).astype(int)  # logits 0-9 left, 10-19 right
    return truth


def two_digits_task(seed: int, options: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
    """Recovery of the planted halves, head-selective importance and clusterability."""
    import nngraph as ng
    from nngraph.models import pretrained_data

    t0 = time.perf_counter()
    model, history = _model("two_digit_mlp", seed, options, plan)
    data = pretrained_data("two_digit_mlp")
    g = ng.weight_graph(model, data.x_train[:1])
    labels = ng.SpectralClustering(2, random_state=seed).fit(g).labels_
    truth = halves_truth(g)
    known = (truth >= 0) & (labels >= 0)
    ari = ng.compare_partitions(truth[known], labels[known], method="ari")
    out: dict[str, Any] = {
        "ari_halves": float(ari),
        "test_accuracy_heads": history.get("test_accuracy_heads"),
        "sparsity": history.get("sparsity"),
        "labels": labels.tolist() if seed == 0 else None,
        "layer_sizes": [int(s) for s in g.layer_sizes],
    }
    part = ng.Partition(labels, g, method="spectral k=2")
    try:
        res = ng.importance(
            model,
            part,
            data.x_test,
            data.y_test,
            n_random=plan["n_random"],
            n_null_partitions=plan["n_null"],
            random_state=seed,
        )
        rows = [
            {
                "layer": r["layer"],
                "cluster": r["cluster"],
                "size": r["size"],
                "drop_head0": res.info["intact"]["balanced_accuracy_head0"]
                - r["balanced_accuracy_head0"],
                "drop_head1": res.info["intact"]["balanced_accuracy_head1"]
                - r["balanced_accuracy_head1"],
                "head_gap": r["head_gap"],
                "head_gap_p": r["head_gap_p"],
                "head_gap_significant": r["head_gap_significant"],
            }
            for r in res.rows
        ]
        out.update(
            subclusters=len(rows),
            head_selective=int(sum(r["head_gap_significant"] for r in rows)),
            head_gap_p=res.combined_p("head_gap"),
            subcluster_rows=rows,
        )
    except ValueError as exc:  # the k = 2 partition left nothing to test (a whole layer)
        out.update(subclusters=0, head_selective=0, head_gap_p=None, note=str(exc))
    res = ng.clusterability(
        g,
        ng.SpectralClustering(plan["k"], random_state=seed),
        n_shuffles=plan["shuffles"],
        random_state=seed,
        n_jobs=plan["jobs"],
    )
    out.update(ncut=res.ncut, null_mean=res.mean, z=_nan(res.z), p=res.p)
    out["seconds"] = time.perf_counter() - t0
    return out


# --------------------------------------------------------------------------- plan


def make_plan(args: argparse.Namespace) -> dict[str, Any]:
    """Fix everything a result depends on (the cache file is only reused for the same plan)."""
    if args.tiny:
        return {
            "networks": args.networks or 2,
            "shuffles": args.shuffles or 3,
            "k": 4,
            "n_random": 9,
            "n_null": 2,
            "jobs": None,
            "model": {
                "mlp": {"hidden": (12, 12), "epochs": 2, "prune_epochs": 1},
                "two_digit_mlp": {"hidden": (8, 8), "epochs": 1, "prune_epochs": 1},
            },
            "size_checks": {"plain, 2x wider": {"hidden": (24, 24)}},
            "settings": ["plain", "dropout + pruned", "regulariser"],
            "two_digit_settings": ["plain", "pruned 90%"],
            "proxy_settings": ["plain"],
            "cache_dir": str(args.cache_dir) if args.cache_dir else None,
        }
    return {
        "networks": args.networks or 5,
        "shuffles": args.shuffles or 50,
        "k": 12,
        "n_random": 99,
        "n_null": 19,
        "jobs": args.jobs,
        "model": {"mlp": {}, "two_digit_mlp": {}},
        "size_checks": SIZE_CHECKS,
        "settings": list(SETTINGS),
        "two_digit_settings": list(TWO_DIGIT_SETTINGS),
        "proxy_settings": list(PROXY_SETTINGS),
        "cache_dir": str(args.cache_dir) if args.cache_dir else None,
    }


def tasks(plan: dict[str, Any], parts: list[str]) -> list[tuple[str, Callable[[], Any]]]:
    """List every task of the study as (cache key, function), cheapest parts first."""
    out: list[tuple[str, Callable[[], Any]]] = []
    seeds = range(plan["networks"])
    if "clusterability" in parts:
        for name in plan["settings"]:
            options = SETTINGS[name]
            for s in seeds:
                out.append(
                    (
                        f"clusterability|{name}|{s}",
                        lambda n="mlp", s=s, o=options: clusterability_task(n, s, o, plan),
                    )
                )
    if "two_digits" in parts:
        for name in plan["two_digit_settings"]:
            options = TWO_DIGIT_SETTINGS[name]
            for s in seeds:
                out.append(
                    (f"two_digits|{name}|{s}", lambda s=s, o=options: two_digits_task(s, o, plan))
                )
    if "size" in parts:
        for name, options in plan["size_checks"].items():
            out.append((f"size|{name}|0", lambda o=options: clusterability_task("mlp", 0, o, plan)))
    if "proxies" in parts:
        for name in plan["proxy_settings"]:
            for s in seeds:
                for graph in ("weights", "activations"):
                    out.append(
                        (
                            f"proxies|{name}|{s}|{graph}",
                            lambda s=s, o=SETTINGS[name], gr=graph: proxies_task(s, o, gr, plan),
                        )
                    )
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=None, help="per setting (5)")
    parser.add_argument("--shuffles", type=int, default=None, help="per network (50)")
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--jobs", type=int, default=None, help="shuffle worker processes")
    parser.add_argument("--results", type=Path, default=None, help="the JSON cache")
    parser.add_argument("--cache-dir", type=Path, default=None, help="checkpoint cache")
    parser.add_argument("--figures", type=Path, default=None, help="draw the pictures here")
    parser.add_argument("--markdown", type=Path, default=None, help="write the tables here")
    parser.add_argument("--fresh", action="store_true", help="ignore cached results")
    parser.add_argument("--tiny", action="store_true", help="tiny networks: a smoke test")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    import torch
    from _findings_report import report

    torch.set_num_threads(1)  # small networks, a shared machine: one thread is the fastest

    from nngraph.utils._progress import progress_bar

    plan = make_plan(args)
    default = RESULTS / ("study_findings_tiny.json" if args.tiny else "study_findings.json")
    store = Store(args.results or default, plan, fresh=args.fresh)
    todo = tasks(plan, args.parts)
    start = time.perf_counter()
    bar = progress_bar(len(todo), "study", enabled=not args.quiet, unit="task")
    computed = 0
    log = not args.quiet and not sys.stderr.isatty()  # a line per task in a log file
    for i, (key, fn) in enumerate(todo, 1):
        if key not in store:
            bar.set_postfix(task=key)
            t0 = time.perf_counter()
            store.put(key, fn())
            computed += 1
            if log:
                print(f"[{i}/{len(todo)}] {key}: {time.perf_counter() - t0:.0f} s", flush=True)
        bar.update(1)
    bar.close()
    run = {
        "computed": computed,
        "skipped": len(todo) - computed,
        "wall_seconds": time.perf_counter() - start,
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
    }
    store.data.setdefault("runs", []).append(run)
    store.save()
    text = report(store.data, plan, figures=args.figures)
    if args.markdown:
        args.markdown.write_text(text)
    if not args.quiet:
        print(text)
        print(f"\n{computed} tasks computed, {run['skipped']} cached, {run['wall_seconds']:.0f} s")
    return {"store": store.data, "run": run, "markdown": text}


if __name__ == "__main__":
    main()
