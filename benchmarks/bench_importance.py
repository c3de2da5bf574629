"""Benchmark importance: the batched lesion engine against one forward pass per lesion.

Run: ``python benchmarks/bench_importance.py [--quick] [--device cuda]``

For the trained digits MLP (64-256x4-10) and the small CNN, each partitioned by spectral
clustering of its weight graph (k = 12), ``ng.importance`` runs with ``n_random=19`` and
19 random partitions (the defaults), once with the batched engine and once with the
naive reference (one full forward pass per lesion, same lesions), in one run. Reported:

- the engines' times (the lesion passes only, and the whole call) and their ratio
  (target: the batched engine at least 5x faster), after checking that both give the
  same statistics (accuracy-based ones exactly, the loss to 1e-6);
- lesions per second;
- the effective throughput of the batched engine, examples x weighted layers after
  the cut per second, against the model's plain batched inference throughput
  (examples x weighted layers per second on the same data; target: at least half);
- the multiply-accumulates the naive engine would spend against the batched one's
  (a bound on what reusing the part before the cut can save).

``--device cuda`` runs both on the GPU (where one is available) and checks that the
statistics agree with the CPU's.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, write_results  # noqa: E402


def _setup(name: str, device: str):
    import torch

    import nngraph as ng
    from nngraph.models import pretrained, pretrained_data

    model = pretrained(name).to(device).eval()
    data = pretrained_data(name)
    g = ng.weight_graph(model, data.x_train[:1])
    part = ng.Partition(ng.SpectralClustering(12, random_state=0).fit(g).labels_, g)
    return torch, ng, model, data, part


def _plain_throughput(torch, model, x, n_layers: int, device: str, repeat: int = 20) -> float:
    """Examples x weighted layers per second of the intact model on the evaluation set."""
    x = x.to(device)
    with torch.inference_mode():
        model(x)
        best = float("inf")
        for _ in range(repeat):
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            model(x)
            if device == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
    return x.shape[0] * n_layers / best


def _layers_after_cut(ng, model, res, x) -> tuple[float, float, int]:
    """Per lesion: weighted layers after its cut; and the MACs of naive vs batched."""
    from nngraph.graphs._tracing import trace_model

    trace = trace_model(model, x[:1])
    names = [layer.name for layer in trace.layers if layer.kind != "input"]
    macs = {
        layer.name: layer.module.weight.numel() for layer in trace.layers if layer.kind != "input"
    }
    per_lesion = res.info["n_random"] + 1 + res.info["n_null_partitions"]
    layers_after, naive_macs, fast_macs = 0, 0, 0
    total = sum(macs.values())
    for row in res.rows:
        after = names[names.index(row["layer"]) + 1 :]
        layers_after += per_lesion * len(after)
        naive_macs += per_lesion * total
        fast_macs += per_lesion * sum(macs[n] for n in after)
    return layers_after, naive_macs / max(fast_macs, 1), len(names)


def run(name: str, device: str, quick: bool) -> dict:
    torch, ng, model, data, part = _setup(name, device)
    kw = {"n_random": 19, "random_state": 0}
    if quick:
        kw.update(n_random=9, n_null_partitions=4)
    x, y = data.x_test, data.y_test
    ng.importance(model, part, x, y, **kw)  # warm up
    results = {}
    for engine in ("batched", "naive"):
        t0 = time.perf_counter()
        results[engine] = ng.importance(model, part, x, y, engine=engine, **kw)
        results[engine].info["wall"] = time.perf_counter() - t0
    fast, naive = results["batched"], results["naive"]
    # float32 logits: the loss agrees to float rounding (a GPU sums in other orders)
    rtol = 1e-6 if device == "cpu" else 1e-3
    for s in fast.statistics:
        np.testing.assert_allclose(fast.true[s.name], naive.true[s.name], rtol=rtol, atol=1e-9)
        np.testing.assert_allclose(fast.random[s.name], naive.random[s.name], rtol=rtol, atol=1e-9)
    for s in ("balanced_accuracy", "selectivity"):
        np.testing.assert_array_equal(fast.true[s], naive.true[s])
    layers_after, mac_ratio, n_layers = _layers_after_cut(ng, model, fast, x)
    lesions = fast.info["n_lesions"]
    engine_fast, engine_naive = fast.info["engine_seconds"], naive.info["engine_seconds"]
    effective = lesions and layers_after * x.shape[0] / engine_fast
    plain = _plain_throughput(torch, model, x, n_layers, device)
    return {
        "network": name,
        "device": device,
        "sub-clusters": fast.n_rows,
        "lesions": lesions,
        "naive s": engine_naive,
        "batched s": engine_fast,
        "speed-up": engine_naive / engine_fast,
        "whole call speed-up": naive.info["wall"] / fast.info["wall"],
        "lesions/s": lesions / engine_fast,
        "effective/plain": effective / plain,
        "MAC bound": mac_ratio,
        "_stats": {s.name: fast.true[s.name].tolist() for s in fast.statistics},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer random sets")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rows = [run(name, args.device, args.quick) for name in ("mlp", "small_cnn")]
    if args.device != "cpu":  # the same statistics as on the CPU
        for row in rows:
            cpu = run(row["network"], "cpu", args.quick)
            for k, v in row["_stats"].items():
                np.testing.assert_allclose(v, cpu["_stats"][k], rtol=1e-4, atol=1e-7)
            row["agrees with cpu"] = True
    columns = [
        "network",
        "device",
        "sub-clusters",
        "lesions",
        "naive s",
        "batched s",
        "speed-up",
        "whole call speed-up",
        "lesions/s",
        "effective/plain",
        "MAC bound",
    ]
    if args.device != "cpu":
        columns.append("agrees with cpu")
    print(table(rows, columns))
    for row in rows:
        verdict = "met" if row["speed-up"] >= 5 else f"MISSED by {5 / row['speed-up']:.1f}x"
        half = "met" if row["effective/plain"] >= 0.5 else "MISSED"
        print(f"{row['network']}: speed-up target 5x {verdict}; throughput target 0.5 {half}")
    for row in rows:
        row.pop("_stats")
    path = write_results(f"importance_{args.device}", {"quick": args.quick, "rows": rows})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
