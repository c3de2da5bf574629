"""Benchmark graph construction and the CSR -> igraph conversion (issue 2).

Run: ``python benchmarks/bench_graph.py [--quick]``

Measured side by side in one run, each case in a fresh process, best of 5 calls (best
of 3 for the igraph conversion; one call of ``Weighted_Adjacency``), after a warm-up;
peak memory is the growth of the process's maximum resident set during the calls:

1. ``weight_graph`` on an MLP 784-2048-2048-2048-2048-10 (~9,000 units, ~14 million
   weights) against the baseline of writing the same weights into CSR arrays once
   (``|W|`` as float64 ``data`` plus ``indices``/``indptr``, one direction), and against
   the least work a symmetric CSR needs (every weight written twice).
2. ``weight_graph`` on ResNet-18 (torchvision's layout, random weights, 224x224 input).
3. ``NeuronGraph.to_igraph`` on the MLP graph against
   ``igraph.Graph.Weighted_Adjacency(csr, mode="undirected")``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, isolated, random_mlp, table, write_results  # noqa: E402


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def case_weight_graph(sizes):
    import torch

    import nngraph as ng

    model = random_mlp(sizes)
    ng.weight_graph(random_mlp([4, 3, 2]), torch.zeros(1, 4))  # warm imports and tracing code
    before = _peak_mib()
    seconds, g = best_time(lambda: ng.weight_graph(model, torch.zeros(1, sizes[0])), repeat=5)
    return {
        "seconds": seconds,
        "peak_mib": _peak_mib() - before,
        "n_nodes": g.n_nodes,
        "n_edges": g.n_edges,
    }


def case_csr_once(sizes):
    """Baseline: the weights written into CSR arrays once (one direction)."""
    import torch

    model = random_mlp(sizes)
    weights = [m.weight for m in model if isinstance(m, torch.nn.Linear)]

    def write():
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        nnz = sum(w.numel() for w in weights)
        data = np.empty(nnz)
        indices = np.empty(nnz, dtype=np.int32)
        indptr = np.zeros(offsets[-1] + 1, dtype=np.int64)
        pos = 0
        for i, w in enumerate(weights):
            n_out, n_in = w.shape
            d = data[pos : pos + w.numel()].reshape(n_out, n_in)
            np.abs(w.detach().numpy(), out=d, casting="unsafe")
            indices[pos : pos + w.numel()].reshape(n_out, n_in)[:] = np.arange(
                offsets[i], offsets[i + 1], dtype=np.int32
            )
            indptr[offsets[i + 1] + 1 : offsets[i + 2] + 1] = pos + n_in * np.arange(1, n_out + 1)
            pos += w.numel()
        return data, indices, indptr

    before = _peak_mib()
    seconds, (data, _, _) = best_time(write, repeat=5)
    return {"seconds": seconds, "peak_mib": _peak_mib() - before, "nnz": int(data.size)}


def case_csr_symmetric(sizes):
    """Write each weight block and its transpose once: the least a symmetric CSR costs."""
    import torch

    model = random_mlp(sizes)
    weights = [m.weight.detach().numpy() for m in model if isinstance(m, torch.nn.Linear)]

    def write():
        nnz = 2 * sum(w.size for w in weights)
        data = np.empty(nnz)
        indices = np.empty(nnz, dtype=np.int32)
        pos = 0
        for w in weights:
            for block in (w, w.T):
                d = data[pos : pos + block.size].reshape(block.shape)
                np.abs(block, out=d, casting="unsafe")
                indices[pos : pos + block.size].reshape(block.shape)[:] = np.arange(
                    block.shape[1], dtype=np.int32
                )
                pos += block.size
        return data, indices

    before = _peak_mib()
    seconds, (data, _) = best_time(write, repeat=5)
    return {"seconds": seconds, "peak_mib": _peak_mib() - before, "nnz": int(data.size)}


def case_resnet18(size):
    import torch

    import nngraph as ng
    from nngraph.models import resnet18

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = resnet18(num_classes=1000)
    ng.weight_graph(random_mlp([4, 3, 2]), torch.zeros(1, 4))
    before = _peak_mib()
    seconds, g = best_time(lambda: ng.weight_graph(model, torch.zeros(1, 3, size, size)), repeat=5)
    return {
        "seconds": seconds,
        "peak_mib": _peak_mib() - before,
        "n_nodes": g.n_nodes,
        "n_edges": g.n_edges,
    }


def _graph_file(sizes, path):
    import torch

    import nngraph as ng

    ng.weight_graph(random_mlp(sizes), torch.zeros(1, sizes[0])).save(path)


def case_to_igraph(path):
    import nngraph as ng

    g = ng.NeuronGraph.load(path)
    ng.NeuronGraph.load(path).subgraph(np.arange(10)).to_igraph()  # compile numba, warm igraph
    before = _peak_mib()
    seconds, out = best_time(g.to_igraph, repeat=3)
    return {"seconds": seconds, "peak_mib": _peak_mib() - before, "n_edges": out.ecount()}


def case_weighted_adjacency(path):
    import igraph
    import scipy.sparse as sp

    import nngraph as ng

    a = sp.csr_matrix(ng.NeuronGraph.load(path).adjacency)
    before = _peak_mib()
    t0 = time.perf_counter()
    out = igraph.Graph.Weighted_Adjacency(a, mode="undirected")
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "peak_mib": _peak_mib() - before, "n_edges": out.ecount()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller networks (< 1 minute)")
    args = parser.parse_args()
    width = 512 if args.quick else 2048
    sizes = [784, width, width, width, width, 10]
    resnet_size = 64 if args.quick else 224

    rows = []
    build = isolated(case_weight_graph, sizes)["result"]
    once = isolated(case_csr_once, sizes)["result"]
    sym = isolated(case_csr_symmetric, sizes)["result"]
    rows.append({"case": f"weight_graph MLP {'-'.join(map(str, sizes))}", **build})
    rows.append({"case": "baseline: weights -> CSR arrays once", **once})
    rows.append({"case": "baseline: symmetric CSR, least work", **sym})
    resnet = isolated(case_resnet18, resnet_size)["result"]
    rows.append({"case": f"weight_graph ResNet-18 ({resnet_size}x{resnet_size})", **resnet})

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "mlp.npz")
        isolated(_graph_file, sizes, path)
        conv = isolated(case_to_igraph, path)["result"]
        ref = isolated(case_weighted_adjacency, path)["result"]
    rows.append({"case": "NeuronGraph.to_igraph (MLP graph)", **conv})
    rows.append({"case": "igraph.Graph.Weighted_Adjacency", **ref})
    assert conv["n_edges"] == ref["n_edges"] == build["n_edges"]

    ratios = {
        "build_over_csr_once": build["seconds"] / once["seconds"],
        "build_over_symmetric_minimum": build["seconds"] / sym["seconds"],
        "weighted_adjacency_over_to_igraph": ref["seconds"] / conv["seconds"],
    }
    print(table(rows, ["case", "seconds", "peak_mib", "n_nodes", "n_edges", "nnz"]))
    print()
    print(
        f"weight_graph / CSR-once baseline:      {ratios['build_over_csr_once']:.2f}x "
        "(target <= 2x)"
    )
    print(f"weight_graph / symmetric-CSR minimum:  {ratios['build_over_symmetric_minimum']:.2f}x")
    print(
        f"to_igraph speed-up over Weighted_Adjacency: "
        f"{ratios['weighted_adjacency_over_to_igraph']:.1f}x (target >= 3x)"
    )
    path = write_results(
        "graph" + ("_quick" if args.quick else ""), {"rows": rows, "ratios": ratios}
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
