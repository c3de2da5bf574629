"""Benchmark the community detectors against igraph, side by side (issues 4 and 15).

Run: ``python benchmarks/bench_community.py [--quick] [--section default|hard]``

**Default section** (issue 4). Graphs: the weight graph of an MLP
784-1024-1024-1024-1024-10 with random weights (``--quick``: 784-256x4-10) and of the
trained digits MLP (``pretrained("mlp")``), at resolution 1 (two communities each).

Before anything is timed, the quality is checked: the mean modularity of ``ng.Louvain``
over three seeds must be at least igraph's ``community_multilevel`` (same seeds, the
same graph) minus 0.5%. Then every case runs in a fresh process (best of ``--repeat``
calls after a warm-up). Peak memory is the process's peak resident set during the
measured calls minus its resident set just before them (the peak mark is reset first
through ``/proc/self/clear_refs``), so it counts numpy, numba and igraph allocations
alike, and the result the call returns:

- ``ng.Louvain`` end to end from the CSR graph, against igraph's ``community_multilevel``
  including the conversion ``NeuronGraph.to_igraph()`` (target: at least 3x faster,
  modularity at least igraph's minus 0.5%);
- ``ng.Leiden`` (conversion included) against igraph's ``community_leiden`` on a graph
  built as a user would (``igraph.Graph.Weighted_Adjacency(csr_matrix, mode="undirected")``)
  and, for a fair comparison, on the fast conversion;
- ``ng.LabelPropagation`` against igraph's ``community_label_propagation``;
- ``ng.SpectralClustering(12)``.

numba compile time (empty cache) and cache-load time are measured separately, each in
a fresh process.

**Hard section** (issue 15, item 4): graphs on which Louvain and Leiden work hard. The
kNN activation graph (``n_neighbors=10``) of a random MLP 784-10000-10000-10 (20,010
units; ``--quick``: 784-1000-1000-10) over the 1,797 digits upsampled to 28x28; a planted
partition of 200 blocks of 5,000 nodes (``--quick``: 250), each node with on average 7
neighbours in its block and 3 outside (1,000,000 nodes, ~5M edges: Louvain needs three
levels); the two weight graphs above at the resolution where ``ng.Louvain(random_state=0)``
finds 12 clusters (:func:`~nngraph.resolution_for_k`).

Each graph runs in one fresh process whose calls are interleaved, so that both sides see
the same load on a shared machine: per seed (``--seeds``; by default 40 on the kNN
graph, 8 on the digits MLP, 3 on the random MLP, 2 on the planted partition),
``ng.Louvain`` then igraph's ``community_multilevel`` including ``to_igraph()``, at the
same resolution; the time is the best call, the modularity (at that resolution) the
mean over the seeds. Then, once:
``ng.Leiden`` at its default ``n_iterations=-1`` and at ``n_iterations=2``, and
``leidenalg.find_partition`` (``RBConfigurationVertexPartition``, its default
``n_iterations=2``; ``pip install leidenalg``; skipped above ``--leidenalg-max-nodes``,
500,000) on ``to_igraph()``. Target: ng.Louvain at least 3x faster than igraph end to
end, mean modularity at least igraph's minus 0.5%.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import isolated, table, write_results  # noqa: E402

QUALITY_RTOL = 0.005
SPEEDUP_TARGET = 3.0
QUALITY_SEEDS = (0, 1, 2)


def _status_mib(key: str) -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _start_peak() -> float:
    """Reset the peak-RSS mark (Linux ``clear_refs``) and return the baseline RSS (MiB).

    Without the reset, ``ru_maxrss`` keeps the high-water mark of loading the graph and
    a call that stays below it would show no growth at all.
    """
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return _status_mib("VmRSS")
    except OSError:  # not Linux, or not permitted: growth of ru_maxrss instead
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _peak_since(baseline: float) -> float:
    hwm = _status_mib("VmHWM")
    if hwm is None:
        hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return hwm - baseline


def _random_mlp_graph(sizes, path):
    import torch
    import torch.nn as nn

    import nngraph as ng

    with torch.random.fork_rng():
        torch.manual_seed(0)
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        model = nn.Sequential(*layers[:-1])
    ng.weight_graph(model, torch.zeros(1, sizes[0])).save(path)


def _trained_mlp_graph(path):
    import nngraph as ng
    from nngraph.models import pretrained, pretrained_data

    model = pretrained("mlp")
    ng.weight_graph(model, pretrained_data("mlp").x_train[:1]).save(path)


# --------------------------------------------------------------------------- compile


def case_compile(cache_dir):
    """First Louvain + label propagation fit in a fresh process (numba cache at cache_dir)."""
    os.environ["NUMBA_CACHE_DIR"] = cache_dir
    t0 = time.perf_counter()
    from nngraph.partition._label_propagation import LabelPropagation
    from nngraph.partition._louvain import Louvain

    blocks = np.kron(np.eye(2), np.ones((3, 3))) + 0.01
    t1 = time.perf_counter()
    Louvain(random_state=0).fit(blocks)
    t2 = time.perf_counter()
    LabelPropagation(random_state=0).fit(blocks)
    t3 = time.perf_counter()
    return {"import": t1 - t0, "louvain": t2 - t1, "label_propagation": t3 - t2}


# --------------------------------------------------------------------------- cases


def _measure(setup, run, repeat):
    """Warm up with ``setup()``; time ``run()`` ``repeat`` times; best time, peak growth."""
    setup()
    baseline = _start_peak()
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - t0)
    return best, _peak_since(baseline), out


def _tiny_graph():
    import nngraph as ng

    a = np.kron(np.eye(4), np.ones((8, 8))) + 0.01
    np.fill_diagonal(a, 0.0)
    return ng.NeuronGraph(a, ["nodes"], np.zeros(32, dtype=int), np.arange(32))


def _scores(g, labels):
    from nngraph.partition._metrics import modularity, ncut

    labels = np.asarray(labels)
    return {
        "modularity": modularity(g, labels),
        "ncut": ncut(g, labels),
        "n_clusters": len(set(labels[labels >= 0].tolist())),
    }


def case_nngraph(path, spec, repeat):
    """Run an nngraph estimator, end to end from the loaded NeuronGraph."""
    import nngraph as ng
    from nngraph.partition._compare import make_partitioner

    g = ng.NeuronGraph.load(path)
    est = make_partitioner(spec)
    seconds, peak, fitted = _measure(
        lambda: make_partitioner(spec).fit(_tiny_graph()), lambda: est.fit(g), repeat
    )
    return {"seconds": seconds, "peak_mib": peak, **_scores(g, fitted.labels_)}


def case_igraph(path, algorithm, conversion, repeat):
    """Run igraph's own algorithm; the conversion is timed with it (and reported apart)."""
    import igraph
    import scipy.sparse as sp

    import nngraph as ng
    from nngraph.utils._validation import seed_from

    g = ng.NeuronGraph.load(path)

    def convert(graph):
        if conversion == "weighted_adjacency":
            return igraph.Graph.Weighted_Adjacency(
                sp.csr_matrix(graph.adjacency), mode="undirected"
            )
        return graph.to_igraph()

    def detect(ig):
        if algorithm == "multilevel":
            return ig.community_multilevel(weights="weight")
        if algorithm == "leiden":
            return ig.community_leiden(
                objective_function="modularity", weights="weight", n_iterations=-1
            )
        return ig.community_label_propagation(weights="weight")

    convert_seconds = []

    def run():
        # The seed nngraph's estimators draw from random_state=0: igraph's default
        # generator is the global `random` module, so both sides make the same draws.
        random.seed(seed_from(0))
        t0 = time.perf_counter()
        ig = convert(g)
        convert_seconds.append(time.perf_counter() - t0)
        return detect(ig)

    seconds, peak, result = _measure(lambda: detect(convert(_tiny_graph())), run, repeat)
    return {
        "seconds": seconds,
        "convert_seconds": min(convert_seconds),
        "peak_mib": peak,
        **_scores(g, result.membership),
    }


def quality_check(path):
    """Mean modularity over seeds: ng.Louvain and igraph's multilevel (fast conversion)."""
    import igraph

    import nngraph as ng
    from nngraph.partition._louvain import Louvain

    g = ng.NeuronGraph.load(path)
    ig = g.to_igraph()
    ours, theirs = [], []
    for seed in QUALITY_SEEDS:
        ours.append(Louvain(random_state=seed).fit(g).modularity_)
        igraph.set_random_number_generator(random.Random(seed))
        try:
            theirs.append(ig.community_multilevel(weights="weight").modularity)
        finally:
            igraph.set_random_number_generator(random)
    return {"louvain": float(np.mean(ours)), "igraph_multilevel": float(np.mean(theirs))}


# --------------------------------------------------------------------------- hard graphs

HARD_K = 12


def _planted_graph(n_blocks, block_size, deg_in, deg_out, path, seed=0):
    """Save a sparse planted partition: ``deg_in`` neighbours inside, ``deg_out`` outside.

    Pairs are drawn uniformly with replacement (inside a block, or across two blocks),
    duplicates merged; weights ``Uniform(0.5, 1.5)``. (``datasets.planted_partition``
    samples every pair, which a million nodes do not allow.)
    """
    import scipy.sparse as sp

    import nngraph as ng

    rng = np.random.default_rng(seed)
    n = n_blocks * block_size
    m_in, m_out = n * deg_in // 2, n * deg_out // 2
    first = rng.integers(0, block_size, m_in)
    second = rng.integers(0, block_size - 1, m_in)
    offset = rng.integers(0, n_blocks, m_in) * block_size
    src_in, dst_in = offset + first, offset + second + (second >= first)
    src_out = rng.integers(0, n, m_out)
    dst_out = rng.integers(0, n - block_size, m_out)  # skip the source's block
    dst_out += block_size * (dst_out // block_size >= src_out // block_size)
    src, dst = np.concatenate([src_in, src_out]), np.concatenate([dst_in, dst_out])
    key = np.unique(np.minimum(src, dst) * n + np.maximum(src, dst))
    lo, hi, w = key // n, key % n, rng.uniform(0.5, 1.5, key.size)
    a = sp.csr_array((w, (lo, hi)), shape=(n, n))
    a = sp.csr_array(a + a.T)
    ng.NeuronGraph(a, ["nodes"], np.zeros(n, dtype=np.int64), np.arange(n)).save(path)


def _knn_activation_graph(sizes, path):
    from bench_activation import _digits_inputs, _mlp

    import nngraph as ng

    model, x = _mlp(sizes), _digits_inputs(1)
    ng.activation_graph(model, x, n_neighbors=10, random_state=0).save(path)


def _timed(fn):
    """Call ``fn()``: its result, wall time and peak resident growth (MiB)."""
    baseline = _start_peak()
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, _peak_since(baseline)


def case_hard(path, resolution, seeds, leidenalg_max_nodes):
    """ng.Louvain and igraph multilevel interleaved over seeds; Leiden cases once.

    ``resolution=None``: the one at which ``ng.Louvain(random_state=0)`` finds ``HARD_K``.
    """
    import nngraph as ng
    from nngraph.partition._base import igraph_seeded
    from nngraph.partition._leiden import Leiden
    from nngraph.partition._louvain import Louvain
    from nngraph.partition._metrics import modularity
    from nngraph.partition._resolution import resolution_for_k

    try:
        import leidenalg
    except ImportError:
        leidenalg = None
    g = ng.NeuronGraph.load(path)
    if g.n_nodes > leidenalg_max_nodes:
        leidenalg = None  # minutes on a million nodes
    if resolution is None:
        found = resolution_for_k(g, HARD_K, Louvain(random_state=0))
        assert found.n_clusters == HARD_K, found.n_clusters
        resolution = found.resolution
    quality = functools.partial(modularity, g, resolution=resolution)
    kept = np.diff(g.adjacency.indptr) > 0

    def multilevel(graph, seed):
        with igraph_seeded(seed):
            t0 = time.perf_counter()
            ig = graph.to_igraph()
            convert = time.perf_counter() - t0
            return ig.community_multilevel(weights="weight", resolution=resolution), convert

    def leiden_alg(graph, seed):
        kind = leidenalg.RBConfigurationVertexPartition
        options = dict(weights="weight", resolution_parameter=resolution, n_iterations=2)
        return leidenalg.find_partition(graph.to_igraph(), kind, seed=seed, **options)

    tiny = _tiny_graph()  # warm up numba, igraph and leidenalg
    Louvain(random_state=0).fit(tiny)
    Leiden(random_state=0).fit(tiny)
    multilevel(tiny, 0)
    if leidenalg is not None:
        leiden_alg(tiny, 0)

    rows = {}

    def record(case, seconds, peak, labels, **extra):
        row = rows.setdefault(case, {"seconds": [], "peak_mib": [], "modularity": []})
        row["seconds"].append(seconds)
        row["peak_mib"].append(peak)
        labels = np.asarray(labels)
        row["modularity"].append(quality(labels))
        row["n_clusters"] = np.unique(labels[kept]).size  # igraph's isolated singletons aside
        for key, value in extra.items():
            row.setdefault(key, []).append(value)

    for seed in seeds:
        est, seconds, peak = _timed(
            lambda s=seed: Louvain(resolution=resolution, random_state=s).fit(g)
        )
        record("ng.Louvain", seconds, peak, est.labels_, levels=est.n_levels_)
        (result, convert), seconds, peak = _timed(lambda s=seed: multilevel(g, s))
        record("igraph multilevel + to_igraph", seconds, peak, result.membership, convert=convert)
    for case, n in [("ng.Leiden", -1), ("ng.Leiden n_iterations=2", 2)]:
        leiden = Leiden(resolution=resolution, n_iterations=n, random_state=seeds[0])
        est, seconds, peak = _timed(lambda est=leiden: est.fit(g))
        record(case, seconds, peak, est.labels_)
    if leidenalg is not None:
        part, seconds, peak = _timed(lambda: leiden_alg(g, seeds[0]))
        record("leidenalg n_iterations=2 + to_igraph", seconds, peak, part.membership)
    out = [
        {
            "case": case,
            "seconds": min(row["seconds"]),
            "convert_seconds": min(row.get("convert", [np.nan])),
            "peak_mib": max(row["peak_mib"]),
            "modularity": float(np.mean(row["modularity"])),
            "modularity_per_seed": row["modularity"],
            "n_clusters": row["n_clusters"],
            "levels": max(row.get("levels", [0])),
            "calls": len(row["seconds"]),
        }
        for case, row in rows.items()
    ]
    version = None if leidenalg is None else leidenalg.version
    return {
        "n_nodes": g.n_nodes,
        "n_edges": g.n_edges,
        "resolution": resolution,
        "leidenalg": version,
        "rows": out,
    }


def _hard_summary(name, result):
    by_case = {r["case"]: r for r in result["rows"]}
    ours, ref = by_case["ng.Louvain"], by_case["igraph multilevel + to_igraph"]
    speedup, dq = ref["seconds"] / ours["seconds"], ours["modularity"] / ref["modularity"] - 1
    summary = {"graph": name, "resolution": result["resolution"], "louvain_speedup": speedup}
    summary["louvain_modularity_vs_igraph"] = dq
    summary["louvain_targets_met"] = bool(speedup >= SPEEDUP_TARGET and dq >= -QUALITY_RTOL)
    alg = by_case.get("leidenalg n_iterations=2 + to_igraph")
    for case, key in [("ng.Leiden", "default"), ("ng.Leiden n_iterations=2", "2")]:
        if alg is not None:
            row = by_case[case]
            summary[f"leiden_{key}_speedup_vs_leidenalg"] = alg["seconds"] / row["seconds"]
            dq = row["modularity"] / alg["modularity"] - 1.0
            summary[f"leiden_{key}_modularity_vs_leidenalg"] = dq
    return summary


def hard_section(quick, n_seeds_all, leidenalg_max_nodes, tmp):
    width = 1000 if quick else 10000
    block = 250 if quick else 5000
    sizes = [784, 256 if quick else 1024, *(3 * [256 if quick else 1024]), 10]
    paths = [str(Path(tmp) / f"hard_{i}.npz") for i in range(4)]
    # Seeds: enough to average out Louvain's spread (a standard deviation of ~1% of the
    # modularity from seed to seed on the kNN graph, on both sides: with 8 seeds the
    # means still differed by 0.56% one way or the other; with 40, by 0.1%), as few as
    # that allows on the planted partition (igraph needs half a minute per run).
    graphs = [
        (f"kNN activation graph 784-{width}-{width}-10", paths[0], 1.0, 40),
        (f"planted partition 200 x {block}", paths[1], 1.0, 2),
        (f"random MLP {'-'.join(map(str, sizes))}, k={HARD_K}", paths[2], None, 3),
        (f"trained digits MLP, k={HARD_K}", paths[3], None, 8),
    ]
    t0 = time.perf_counter()
    isolated(_knn_activation_graph, [784, width, width, 10], paths[0])
    isolated(_planted_graph, 200, block, 7, 3, paths[1])
    isolated(_random_mlp_graph, sizes, paths[2])
    isolated(_trained_mlp_graph, paths[3])
    print(f"hard graphs built in {time.perf_counter() - t0:.0f} s", flush=True)
    rows, summaries = [], []
    for name, path, resolution, n_seeds in graphs:
        seeds = list(range(n_seeds if n_seeds_all is None else n_seeds_all))
        result = isolated(case_hard, path, resolution, seeds, leidenalg_max_nodes)["result"]
        rows += [{"graph": name, **r} for r in result["rows"]]
        summaries.append(_hard_summary(name, result))
        print(
            f"{name} ({result['n_nodes']} nodes, {result['n_edges']} edges, "
            f"resolution {result['resolution']:.6g}): "
            + ", ".join(f"{r['case']} {r['seconds']:.2f} s" for r in result["rows"]),
            flush=True,
        )
    return rows, summaries


def _print_hard(rows, summaries):
    columns = ["graph", "case", "seconds", "convert_seconds", "peak_mib", "modularity"]
    print(table(rows, columns + ["n_clusters", "levels", "calls"]) + "\n")
    for s in summaries:
        line = (
            f"{s['graph']}: ng.Louvain {s['louvain_speedup']:.1f}x faster than igraph "
            f"multilevel (incl. conversion; target >= {SPEEDUP_TARGET:.0f}x), modularity "
            f"{100 * s['louvain_modularity_vs_igraph']:+.2f}% (target >= -0.5%): "
            + ("met" if s["louvain_targets_met"] else "NOT met")
        )
        if "leiden_2_speedup_vs_leidenalg" in s:
            line += "; against leidenalg (n_iterations=2): " + ", ".join(
                f"ng.Leiden n_iterations={n} {s[f'leiden_{key}_speedup_vs_leidenalg']:.2f}x "
                f"({100 * s[f'leiden_{key}_modularity_vs_leidenalg']:+.2f}% modularity)"
                for n, key in [(-1, "default"), (2, "2")]
            )
        print(line)


# --------------------------------------------------------------------------- main


def _bench_graph(name, path, repeat, has_spectral):
    quality = isolated(quality_check, path)["result"]
    floor = quality["igraph_multilevel"] - QUALITY_RTOL * abs(quality["igraph_multilevel"])
    assert quality["louvain"] >= floor, f"{name}: Louvain modularity below igraph's: {quality}"

    cases = [
        ("ng.Louvain (numba)", case_nngraph, ("louvain:random_state=0", repeat)),
        ("igraph multilevel + to_igraph", case_igraph, ("multilevel", "fast", repeat)),
        ("ng.Leiden (incl. to_igraph)", case_nngraph, ("leiden:random_state=0", repeat)),
        ("igraph leiden + Weighted_Adjacency", case_igraph, ("leiden", "weighted_adjacency", 1)),
        ("igraph leiden + to_igraph", case_igraph, ("leiden", "fast", repeat)),
        ("ng.LabelPropagation (numba)", case_nngraph, ("lpa:random_state=0", repeat)),
        ("igraph label_propagation + to_igraph", case_igraph, ("lpa", "fast", repeat)),
    ]
    if has_spectral:
        cases.append(
            ("ng.SpectralClustering k=12", case_nngraph, ("spectral:random_state=0", repeat))
        )
    rows = []
    for label, fn, args in cases:
        out = isolated(fn, path, *args)["result"]
        rows.append({"graph": name, "case": label, **out})
        print(f"  {label}: {out['seconds']:.3f} s", flush=True)
    by_case = {r["case"]: r for r in rows}
    ours, ref = by_case["ng.Louvain (numba)"], by_case["igraph multilevel + to_igraph"]
    summary = {
        "graph": name,
        "quality_check": quality,
        "louvain_speedup": ref["seconds"] / ours["seconds"],
        "louvain_modularity_vs_igraph": ours["modularity"] / ref["modularity"] - 1.0,
        "leiden_speedup_vs_weighted_adjacency": by_case["igraph leiden + Weighted_Adjacency"][
            "seconds"
        ]
        / by_case["ng.Leiden (incl. to_igraph)"]["seconds"],
        "leiden_speedup_vs_fast_conversion": by_case["igraph leiden + to_igraph"]["seconds"]
        / by_case["ng.Leiden (incl. to_igraph)"]["seconds"],
    }
    summary["louvain_targets_met"] = bool(
        summary["louvain_speedup"] >= SPEEDUP_TARGET
        and summary["louvain_modularity_vs_igraph"] >= -QUALITY_RTOL
    )
    return rows, summary


def default_section(quick, repeat):
    width = 256 if quick else 1024
    repeat = repeat or (1 if quick else 3)
    sizes = [784, width, width, width, width, 10]
    try:
        import nngraph.partition._spectral_clustering  # noqa: F401

        has_spectral = True
    except ImportError:
        has_spectral = False

    with tempfile.TemporaryDirectory() as cache:
        cold = isolated(case_compile, cache)["result"]
        warm = isolated(case_compile, cache)["result"]
    compile_info = {"cold_cache": cold, "warm_cache": warm}
    print(
        f"numba first fit, empty cache: Louvain {cold['louvain']:.2f} s, label propagation "
        f"{cold['label_propagation']:.2f} s; from the cache: {warm['louvain']:.2f} s, "
        f"{warm['label_propagation']:.2f} s"
    )

    rows, summaries = [], []
    with tempfile.TemporaryDirectory() as tmp:
        graphs = {
            f"random MLP {'-'.join(map(str, sizes))}": str(Path(tmp) / "random.npz"),
            "trained digits MLP": str(Path(tmp) / "trained.npz"),
        }
        paths = list(graphs.values())
        isolated(_random_mlp_graph, sizes, paths[0])
        isolated(_trained_mlp_graph, paths[1])
        for name, path in graphs.items():
            print(f"{name}:", flush=True)
            graph_rows, summary = _bench_graph(name, path, repeat, has_spectral)
            rows += graph_rows
            summaries.append(summary)

    print()
    columns = ["graph", "case", "seconds", "convert_seconds", "peak_mib", "modularity"]
    print(table(rows, columns + ["ncut", "n_clusters"]))
    print()
    for s in summaries:
        verdict = "met" if s["louvain_targets_met"] else "NOT met"
        print(
            f"{s['graph']}: ng.Louvain {s['louvain_speedup']:.1f}x faster than igraph multilevel "
            f"(incl. conversion; target >= {SPEEDUP_TARGET:.0f}x), modularity "
            f"{100 * s['louvain_modularity_vs_igraph']:+.2f}% (target >= -0.5%): {verdict}; "
            f"ng.Leiden {s['leiden_speedup_vs_weighted_adjacency']:.1f}x faster than igraph "
            f"leiden via Weighted_Adjacency, {s['leiden_speedup_vs_fast_conversion']:.2f}x "
            "via to_igraph"
        )
    return {
        "sizes": sizes,
        "repeat": repeat,
        "compile": compile_info,
        "rows": rows,
        "summaries": summaries,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller graphs, one repeat")
    parser.add_argument("--repeat", type=int, default=None, help="timed calls per case")
    parser.add_argument("--seeds", type=int, help="seeds per graph (hard section; default 2-8)")
    parser.add_argument("--leidenalg-max-nodes", type=int, default=500_000)
    parser.add_argument("--section", choices=["all", "default", "hard"], default="all")
    args = parser.parse_args()
    results = {"quick": args.quick}
    if args.section in ("all", "default"):
        results["default"] = default_section(args.quick, args.repeat)
    if args.section in ("all", "hard"):
        with tempfile.TemporaryDirectory() as tmp:
            most = args.leidenalg_max_nodes
            rows, summaries = hard_section(args.quick, args.seeds, most, tmp)
        print()
        _print_hard(rows, summaries)
        results["hard"] = {"seeds": args.seeds, "rows": rows, "summaries": summaries}
    name = "community" + ("_quick" if args.quick else "")
    if args.section != "all":
        name += f"_{args.section}"
    print(f"results: {write_results(name, results)}")


if __name__ == "__main__":
    main()
