"""The headline figures of every benchmark suite, read from its results JSON.

Each suite's script writes ``benchmarks/results/<name>.json`` (``<name>_quick.json``
with ``--quick``). :data:`SUITES` names the script and a function that turns that
payload into headline rows: what was measured, against which baseline, the ratio
(baseline time / nngraph time, so above 1 is faster), the target where the issues set
one, the quality check beside it and the peak memory. ``python -m benchmarks`` runs
the scripts and writes these rows into ``docs/benchmarks.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Row:
    """One headline figure."""

    suite: str
    case: str
    baseline: str
    ratio: float | None
    target: float | None = None
    quality: str = ""
    memory: str = ""

    @property
    def met(self) -> str:
        """``yes``/``no`` against the target, ``-`` without one."""
        if self.target is None or self.ratio is None:
            return "-"
        return "yes" if self.ratio >= self.target else f"no ({self.ratio / self.target:.0%})"


@dataclass
class Suite:
    """A benchmark script and how to read its results."""

    name: str
    script: str
    results: str
    summarise: Callable[[dict[str, Any]], list[Row]]
    what: str
    needs_gpu: bool = False
    #: Results of a run of one section (``--section hard``): its sections replace the
    #: main file's when newer.
    sections: tuple[str, ...] = field(default_factory=tuple)


def _mib(value: Any) -> str:
    return "" if value is None else f"{float(value):,.0f} MiB"


def _get(d: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        if not isinstance(d, dict) or key not in d:
            return default
        d = d[key]
    return d


def _graph(p: dict[str, Any]) -> list[Row]:
    rows = {r["case"]: r for r in p.get("rows", [])}
    out = []
    build = next((r for c, r in rows.items() if c.startswith("weight_graph MLP")), None)
    least = rows.get("baseline: symmetric CSR, least work")
    if build and least:
        out.append(
            Row(
                "graph",
                f"weight_graph, MLP 784-2048x4-10 ({build['n_edges'] / 1e6:.1f}M edges)",
                "writing the symmetric CSR once (the least work)",
                least["seconds"] / build["seconds"],
                target=0.5,
                memory=f"{_mib(build['peak_mib'])} (least: {_mib(least['peak_mib'])})",
            )
        )
    conv, ref = (
        rows.get("NeuronGraph.to_igraph (MLP graph)"),
        rows.get("igraph.Graph.Weighted_Adjacency"),
    )
    if conv and ref:
        out.append(
            Row(
                "graph",
                "NeuronGraph.to_igraph, same graph",
                "igraph.Graph.Weighted_Adjacency",
                ref["seconds"] / conv["seconds"],
                target=3.0,
                memory=f"{_mib(conv['peak_mib'])} (igraph: {_mib(ref['peak_mib'])})",
            )
        )
    return out


def _activation(p: dict[str, Any]) -> list[Row]:
    out = []
    stats = p.get("dense_statistics")
    if stats:
        out.append(
            Row(
                "activation",
                f"streaming Pearson statistics ({stats.get('case', '')})",
                "one product X^T X of all the data",
                stats["baseline_seconds"] / stats["seconds"],
                target=0.5,  # at most twice the product's time
            )
        )
    for knn in p.get("knn", []):
        out.append(
            Row(
                "activation",
                f"kNN graph k=10 ({knn['knn_method']}), {knn['n_units']:,} units",
                "-",
                None,
                quality=f"recall {knn['recall']:.3f} of the exact neighbours",
                memory=_mib(knn.get("child_peak_rss_mib")),
            )
        )
    return out


def _activation_gpu(p: dict[str, Any]) -> list[Row]:
    return [
        Row(
            "activation (GPU)",
            f"statistics on {p.get('device', 'the GPU')}, {c['network']} ({c['examples']:,} ex.)",
            "the same model on the CPU",
            c["speedup_vs_cpu"],
            quality=f"float64 correlations equal to {c['max_abs_diff_float64']:.1e}",
        )
        for c in p.get("cases", [])
    ]


def _spectral(p: dict[str, Any]) -> list[Row]:
    names = {"mlp-2048": "MLP 784-2048x4-10", "digits-mlp": "trained digits MLP"}
    out = []
    for key, g in p.get("graphs", {}).items():
        default = g.get("nngraph default", {})
        ratio = _get(g, "speedup")
        ncut = _get(g, "ncut_ratio")
        out.append(
            Row(
                "spectral",
                f"SpectralClustering(12) at its defaults, {names.get(key, key)}",
                "scikit-learn SpectralClustering (arpack, n_init 10)",
                ratio,
                target=_get(g, "speedup_target"),
                quality="" if ncut is None else f"n-cut {ncut:.4f}x scikit-learn's",
                memory=f"{_mib(default.get('peak_mib'))} (sklearn: "
                f"{_mib(_get(g, 'sklearn', 'peak_mib'))})",
            )
        )
        out.extend(_kmeans_rows(names.get(key, key), g.get("kmeans")))
    return out


def _kmeans_rows(graph: str, km: dict[str, Any] | None) -> list[Row]:
    """Issue 15, item 1: our restarts at the default n_init against scikit-learn's 10."""
    if not km:
        return []
    seconds, inertia = km.get("seconds", {}), km.get("mean_inertia", {})
    ours = next((k for k in seconds if k.endswith("(default)")), None)
    sk = "sklearn n_init 10, its threads"
    if ours is None or sk not in seconds:
        return []
    n_init = km.get("default_n_init")
    quality = ""
    if ours in inertia and sk in inertia:
        quality = f"mean inertia {inertia[ours] / inertia[sk]:.4f}x scikit-learn's"
    return [
        Row(
            "spectral",
            f"k-means, {n_init} restarts (the default) on the embedding of the {graph}",
            "scikit-learn KMeans(12, n_init=10), its threads",
            seconds[sk] / seconds[ours],
            # The target (100 restarts cheaper than scikit-learn's 10) is for n_init 100.
            target=1.0 if n_init == 100 else None,
            quality=quality,
        )
    ]


def _clusterability(p: dict[str, Any]) -> list[Row]:
    engines = {e["engine"]: e for e in p.get("engines", [])}
    n = p.get("n_shuffles", "")
    out = []
    for name, label in (
        ("n_jobs=2 (kept pool)", "clusterability n_jobs=2 (kept pool)"),
        ("process: n_jobs=2", "nngraph clusterability --jobs 2, whole process"),
    ):
        if name in engines:
            e = engines[name]
            load = p.get("load_average")
            out.append(
                Row(
                    "clusterability",
                    f"{label}, {n} shuffles of the digits MLP",
                    "serial" if name.startswith("n_jobs") else "the same command, serial",
                    e["speedup"],
                    target=1.6,
                    quality="same null as serial"
                    + ("" if load is None else f"; load average {load:.1f}"),
                )
            )
    return out


def _community(p: dict[str, Any]) -> list[Row]:
    default = p.get("default", p)  # the default section, nested or (older files) at the top
    out = []
    for s in [*default.get("summaries", []), *_get(p, "hard", "summaries", default=[])]:
        out.append(
            Row(
                "community",
                f"Louvain, {s['graph']}",
                "igraph community_multilevel + conversion",
                s.get("louvain_speedup"),
                target=3.0,
                quality=f"modularity {s.get('louvain_modularity_vs_igraph', 0):+.2%} vs igraph",
            )
        )
        if s.get("leiden_default_speedup_vs_leidenalg") is not None:
            diff = s.get("leiden_default_modularity_vs_leidenalg", 0)
            out.append(
                Row(
                    "community",
                    f"Leiden, {s['graph']}",
                    "leidenalg + conversion",
                    s["leiden_default_speedup_vs_leidenalg"],
                    quality=f"modularity {diff:+.2%} vs leidenalg",
                )
            )
    return out


def _importance(p: dict[str, Any]) -> list[Row]:
    return [
        Row(
            "importance",
            f"lesions of every sub-cluster and control, {r['network']} ({r['lesions']} lesions)",
            "one forward pass per lesion",
            r["speed-up"],
            target=5.0,
            quality="same statistics",
        )
        for r in p.get("rows", [])
    ]


def _coherence(p: dict[str, Any]) -> list[Row]:
    return [
        Row(
            "coherence",
            f"{r['part']}, {r['sets']} sets of the digits MLP",
            "one set at a time",
            r["speed-up"],
            target=r.get("target"),
            quality="same objectives" if "visual" in r["part"] else "same statistic",
        )
        for r in p.get("rows", [])
        if "speed-up" in r
    ]


def _architectures(p: dict[str, Any]) -> list[Row]:
    rows = p.get("rows", [])
    works = [r for r in rows if r.get("status") == "works"]
    # Below 10 MiB a graph's peak is the interpreter's fixed overhead, not the method's.
    large = [r for r in works if r.get("graph_mib", 0) >= 10]
    if not large:
        return []
    worst = max(large, key=lambda r: r["peak/graph"])
    refused = ", ".join(r["network"] for r in rows if r.get("status") != "works")
    return [
        Row(
            "architectures",
            f"weight_graph reads {len(works)} of {len(rows)} architectures "
            f"(refused, with a reason: {refused or 'none'})",
            "-",
            None,
            quality=f"peak at most {worst['peak/graph']:.2f}x the final graph on graphs "
            f"over 10 MiB (target 1.5x; {worst['network']})",
            memory=_mib(worst.get("peak_mib")),
        )
    ]


def _startup(p: dict[str, Any]) -> list[Row]:
    rows = {r["command"]: r for r in p.get("rows", [])}
    torch = rows.get("import torch")
    return [
        Row(
            "start-up",
            f"`{cmd}`",
            "`import torch`",
            torch["seconds"] / rows[cmd]["seconds"],
        )
        for cmd in ("import nngraph", "nngraph --help")
        if torch and cmd in rows
    ]


SUITES: tuple[Suite, ...] = (
    Suite("startup", "bench_startup.py", "startup", _startup, "import and --help time"),
    Suite("graph", "bench_graph.py", "graph", _graph, "weight graphs and igraph conversion"),
    Suite(
        "architectures",
        "bench_architectures.py",
        "architectures",
        _architectures,
        "which architectures weight_graph reads, and its peak memory",
    ),
    Suite(
        "activation",
        "bench_activation.py",
        "activation",
        _activation,
        "activation statistics and kNN graphs",
    ),
    Suite(
        "spectral",
        "bench_spectral.py",
        "spectral",
        _spectral,
        "spectral clustering against scikit-learn",
    ),
    Suite(
        "community",
        "bench_community.py",
        "community",
        _community,
        "Louvain and Leiden against igraph",
        sections=("community_default", "community_hard"),
    ),
    Suite(
        "clusterability",
        "bench_clusterability.py",
        "clusterability",
        _clusterability,
        "shuffles in parallel against serial",
    ),
    Suite(
        "importance",
        "bench_importance.py",
        "importance_cpu",
        _importance,
        "the batched lesion engine against one pass per lesion",
    ),
    Suite(
        "coherence",
        "bench_coherence.py",
        "coherence_cpu",
        _coherence,
        "batched feature visualisation and data-set statistic against one set at a time",
    ),
    Suite(
        "activation_gpu",
        "bench_activation_gpu.py",
        "activation_gpu",
        _activation_gpu,
        "activation statistics on a CUDA GPU against the CPU",
        needs_gpu=True,
    ),
)
