"""Benchmark activation (correlation) graphs (issue 5).

Run: ``python benchmarks/bench_activation.py [--quick]``

1. **Dense Pearson statistics** on 4,096 units x 20,000 examples (float64): the
   streaming :class:`CorrelationAccumulator` (fed in batches of 500 rows, then
   ``correlation()``) against the single product ``X.T @ X`` on the same data, timed
   side by side in one process (best of 2). The fast path is first checked against
   ``numpy.corrcoef`` on a column subset.
2. **Dense activation graph end to end**: ``activation_graph`` on an MLP with ~4,100
   units (784-2048-2048-10) over 20,000 random examples (forward passes, statistics and
   the CSR graph of all 8.4 million pairs).
3. **k-NN graph of a wide MLP**: 784-10000-10000-10 (20,010 units, random init) over
   3,594 digits-derived examples (scikit-learn's 8x8 digits upsampled to 28x28, plus a
   noisy copy), ``n_neighbors=10``, for ``knn_method="nndescent"`` and ``"exact"``, each
   in a fresh process: its time, the child's peak resident set (model included; the
   target is 2 GB), and the recall of each sampled unit's 10 strongest graph neighbours
   against its exact top 10 by ``|r|``, computed from activations recorded by hand, on
   300 random units.

``--quick`` shrinks everything (1,024 units x 5,000 examples; 784-1000-1000-10 over
1,797 examples) to finish in under a minute. Results go to
``benchmarks/results/activation.json`` (``activation_quick.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import isolated, table, write_results  # noqa: E402


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _mlp(sizes, seed=0):
    import torch
    import torch.nn as nn

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        return nn.Sequential(*layers[:-1])


# ---------------------------------------------------------------------- 1. statistics
def case_dense_statistics(n_units: int, n_examples: int, batch: int) -> dict:
    from nngraph.graphs._correlation import CorrelationAccumulator

    rng = np.random.default_rng(0)
    mix = rng.normal(size=(64, n_units)) / 8
    x = rng.normal(size=(n_examples, n_units)) + rng.normal(size=(n_examples, 64)) @ mix
    x += 10.0  # an offset, as activations have

    def stream():
        acc = CorrelationAccumulator(n_units)
        for start in range(0, n_examples, batch):
            acc.update(x[start : start + batch])
        return acc.correlation(overwrite=True)

    # Correctness first, on a column subset.
    corr = stream()
    cols = np.arange(0, n_units, max(1, n_units // 256))
    ref = np.corrcoef(x[:, cols], rowvar=False)
    error = float(np.abs(corr[np.ix_(cols, cols)] - ref).max())
    assert error < 1e-10, error
    del corr

    t_gemm, t_stream = float("inf"), float("inf")
    for _ in range(2):  # interleaved, so both see the same machine load
        t0 = time.perf_counter()
        g = x.T @ x
        t_gemm = min(t_gemm, time.perf_counter() - t0)
        del g
        t0 = time.perf_counter()
        c = stream()
        t_stream = min(t_stream, time.perf_counter() - t0)
        del c
    return {
        "case": f"dense Pearson {n_units} units x {n_examples} examples",
        "seconds": t_stream,
        "baseline": "X.T @ X (float64)",
        "baseline_seconds": t_gemm,
        "ratio": t_stream / t_gemm,
        "max_abs_error_vs_corrcoef": error,
    }


# ---------------------------------------------------------------------- 2. dense graph
def case_dense_graph(sizes: list[int], n_examples: int) -> dict:
    import torch

    from nngraph.graphs._activation_graph import activation_graph

    model = _mlp(sizes)
    x = torch.randn(n_examples, sizes[0], generator=torch.Generator().manual_seed(0))
    activation_graph(_mlp([4, 3, 2]), torch.randn(5, 4))  # warm tracing code
    before = _peak_mib()
    t0 = time.perf_counter()
    g = activation_graph(model, x, batch_size=500)
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "graph_peak_mib": _peak_mib() - before,
        "n_units": g.n_nodes,
        "n_edges": g.n_edges,
    }


# ---------------------------------------------------------------------- 3. k-NN graph
def _digits_inputs(copies: int):
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    images = torch.from_numpy(load_digits().images.astype(np.float32) / 16.0)
    x = F.interpolate(images[:, None], size=(28, 28), mode="bilinear").reshape(-1, 784)
    gen = torch.Generator().manual_seed(0)
    parts = [x] + [x + 0.1 * torch.randn(x.shape, generator=gen) for _ in range(copies - 1)]
    return torch.cat(parts)


def _record_by_hand(model, x, batch: int = 512) -> np.ndarray:
    """(n_examples, n_units) float32 pre-activations of every Linear, without hooks."""
    import torch

    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    out = []
    with torch.no_grad():
        for start in range(0, x.shape[0], batch):
            h, acts = x[start : start + batch], []
            for i, layer in enumerate(linears):
                h = layer(h)
                acts.append(h)
                if i < len(linears) - 1:
                    h = torch.relu(h)
            out.append(torch.cat(acts, 1).numpy())
    return np.concatenate(out)


def case_knn(sizes: list[int], copies: int, k: int, method: str, n_sample: int) -> dict:
    import torch

    from nngraph.graphs._activation_graph import activation_graph

    x = _digits_inputs(copies)
    model = _mlp(sizes)
    activation_graph(_mlp([4, 3, 2]), torch.randn(5, 4))  # warm tracing code
    model_mib = _peak_mib()
    t0 = time.perf_counter()
    g = activation_graph(model, x, n_neighbors=k, knn_method=method, random_state=0)
    seconds = time.perf_counter() - t0
    peak_mib = _peak_mib()  # high-water mark of the graph build; recall comes after

    acts = _record_by_hand(model, x)
    acts -= acts.mean(axis=0)
    norms = np.linalg.norm(acts.astype(np.float64), axis=0)
    live = np.flatnonzero(norms > 0)
    sample = np.random.default_rng(1).choice(live, size=min(n_sample, live.size), replace=False)
    z_sample = (acts[:, sample] / norms[sample]).astype(np.float64)
    recalls = []
    for start in range(0, sample.size, 50):
        idx = sample[start : start + 50]
        r = np.abs((acts / np.where(norms > 0, norms, 1)).T @ z_sample[:, start : start + 50]).T
        r[np.arange(idx.size), idx] = -1.0
        for row, unit in zip(r, idx, strict=True):
            exact = set(np.argpartition(-row, k)[:k].tolist())
            lo, hi = g.adjacency.indptr[unit], g.adjacency.indptr[unit + 1]
            nb, w = g.adjacency.indices[lo:hi], g.adjacency.data[lo:hi]
            found = set(nb[np.argsort(-w)[:k]].tolist())
            recalls.append(len(exact & found) / k)
    return {
        "seconds": seconds,
        "child_peak_rss_mib": peak_mib,
        "rss_before_graph_mib": model_mib,
        "n_units": g.n_nodes,
        "n_examples": int(x.shape[0]),
        "n_edges": g.n_edges,
        "recall": float(np.mean(recalls)),
        "knn_method": g.meta["knn_method"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    args = parser.parse_args()
    quick = args.quick
    rows, results = [], {"quick": quick, "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE")}

    n_units, n_examples = (1024, 5000) if quick else (4096, 20000)
    stats = isolated(case_dense_statistics, n_units, n_examples, 500)["result"]
    results["dense_statistics"] = stats
    rows.append(
        {
            "case": stats["case"],
            "seconds": stats["seconds"],
            "baseline_s": stats["baseline_seconds"],
            "ratio": stats["ratio"],
        }
    )

    if not quick:
        sizes = [784, 2048, 2048, 10]
        out = isolated(case_dense_graph, sizes, 20000)
        dense = {**out["result"], "child_peak_growth_mib": out["peak_mib"]}
        results["dense_graph"] = dense
        rows.append(
            {
                "case": f"activation_graph dense {dense['n_units']} units x 20000 ex",
                "seconds": dense["seconds"],
                "peak_mib": dense["graph_peak_mib"],
            }
        )

    sizes = [784, 1000, 1000, 10] if quick else [784, 10000, 10000, 10]
    copies = 1 if quick else 2
    results["knn"] = []
    for method in ("nndescent", "exact"):
        out = isolated(case_knn, sizes, copies, 10, method, 300)["result"]
        results["knn"].append({"model": "-".join(map(str, sizes)), **out})
        rows.append(
            {
                "case": f"kNN k=10 {method}, {out['n_units']} units x {out['n_examples']} ex",
                "seconds": out["seconds"],
                "peak_mib": out["child_peak_rss_mib"],
                "recall": out["recall"],
            }
        )
    print(table(rows, ["case", "seconds", "baseline_s", "ratio", "peak_mib", "recall"]))
    print("peak_mib: child's peak RSS (kNN, model included) or growth during the call (dense)")
    path = write_results("activation_quick" if quick else "activation", results)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
