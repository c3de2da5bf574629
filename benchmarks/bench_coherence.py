"""Benchmark coherence: every set of a layer at once against one set at a time.

Run: ``python benchmarks/bench_coherence.py [--quick] [--device cuda]``

On the trained digits MLP partitioned by spectral clustering of its weight graph
(k = 12), with the defaults: each sub-cluster, its 19 random controls and its
counterparts in 19 random partitions (39 sets per sub-cluster), on both sides:

1. Feature visualisation of every sub-cluster and its controls (Adam, lr 0.05, 64
   steps): all sets of a layer optimised as one batch (what ``ng.coherence`` does)
   against one optimisation per set; both must reach the same objectives (target:
   batched at least 5x faster).
2. The data-set statistic (top-10 label entropy) of every set: one product of the
   recorded activations with the layer's set-membership matrix against a loop that
   scores each set alone; the same entropies (target: at least 20x faster).
3. The whole ``ng.coherence`` call, both methods, with the defaults (19 random
   partitions too).

``--device cuda`` runs on the GPU (where available) and checks the statistics against
the CPU's.
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


def _prepare(device: str, n_random: int):
    import torch

    import nngraph as ng
    from nngraph.models import pretrained, pretrained_data
    from nngraph.proxies._controls import draw_controls, draw_null_partitions
    from nngraph.proxies._data import prepare

    model = pretrained("mlp").to(device).eval()
    data = pretrained_data("mlp")
    g = ng.weight_graph(model, data.x_train[:1])
    part = ng.Partition(ng.SpectralClustering(12, random_state=0).fit(g).labels_, g)
    prep = prepare(
        model,
        part,
        data.x_test,
        data.y_test,
        layers=None,
        min_size=3,
        max_fraction=0.99,
        site="pre",
    )
    controlled = draw_controls(prep.partition, prep.subclusters, n_random, 0)
    controlled = draw_null_partitions(prep.partition, controlled, n_random, 0)
    sets: dict[str, list[np.ndarray]] = {}
    for c in controlled:
        sets.setdefault(c.subcluster.layer, []).append(c.sets)
    return torch, ng, model, data, part, prep, sets


def _sync(torch, device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def bench_visualization(torch, prep, sets, device: str, steps: int) -> dict:
    from nngraph.proxies._coherence import _visualize, site_values
    from nngraph.proxies._visualization import optimise, parameterization

    param = parameterization("plain", prep.inputs)
    options = {
        "param": param,
        "preprocess": None,
        "steps": steps,
        "lr": 0.05,
        "jitter": 0,
        "scale": 0.0,
    }
    _visualize(prep, {k: v[:1] for k, v in list(sets.items())[:1]}, options, 0)  # warm up
    _sync(torch, device)
    t0 = time.perf_counter()
    batched, _ = _visualize(prep, sets, options, 0)
    _sync(torch, device)
    t_batched = time.perf_counter() - t0

    # One optimisation per set, from the same starting point as its row of the batch.
    gm = prep.trace.graph_module
    seeds = np.random.SeedSequence([0, 2]).generate_state(len(sets))
    t0 = time.perf_counter()
    alone: dict[str, np.ndarray] = {}
    n_sets = 0
    for (name, groups), seed in zip(sets.items(), seeds, strict=True):
        site = prep.sites[name]
        rows = [r for g in groups for r in g]  # sets of several sizes
        n = len(rows)
        theta0 = param.init(n, torch.Generator().manual_seed(int(seed)), torch.device(device))
        values = []
        for j in range(n):
            units = torch.as_tensor(rows[j], device=device)

            def objective(x, units=units, site=site):
                return site_values(gm, [site], x)[site.layer][:, units].abs().sum(1)

            x = optimise(
                objective,
                param,
                1,
                steps=steps,
                theta0=theta0[j : j + 1],
                device=device,
                dtype=prep.dtype,
            )
            with torch.no_grad():
                values.append(float(objective(x)[0]))
        alone[name] = np.array(values)
        n_sets += n
    _sync(torch, device)
    t_alone = time.perf_counter() - t0
    # float32: a product's rounding depends on how many rows it holds, and 64 Adam steps
    # carry it on; the two agree to about 1e-4 (2.6e-4 seen). The float64 test
    # (tests/proxies/test_coherence.py) checks the batching itself to 1e-6.
    for name in sets:
        np.testing.assert_allclose(batched["objective"][name], alone[name], rtol=1e-3, atol=1e-5)
    return {
        "part": "feature visualisation",
        "sets": n_sets,
        "one at a time s": t_alone,
        "batched s": t_batched,
        "speed-up": t_alone / t_batched,
        "target": 5,
    }


def bench_dataset(torch, prep, sets, device: str) -> dict:
    from nngraph.proxies._coherence import _dataset, _label_entropy, site_values

    _dataset(prep, sets, 10, "mean", 512)  # warm up
    _sync(torch, device)
    t0 = time.perf_counter()
    entropy, _ = _dataset(prep, sets, 10, "mean", 512)
    _sync(torch, device)
    t_batched = time.perf_counter() - t0

    t0 = time.perf_counter()
    x = prep.inputs.to(device)
    y = prep.targets.to(device)
    n_sets = 0
    with torch.inference_mode():
        acts = site_values(prep.trace.graph_module, [prep.sites[n] for n in sets], x)
        for name, groups in sets.items():
            values = []
            a = acts[name].double()
            for row in (r for g in groups for r in g):
                score = a[:, torch.as_tensor(row, device=device)].abs().sum(1)
                idx = torch.topk(score, 10).indices
                values.append(float(_label_entropy(y[idx][:, None, :], prep.n_classes)[0]))
            np.testing.assert_allclose(entropy[name], values, rtol=1e-12)
            n_sets += len(values)
    _sync(torch, device)
    t_loop = time.perf_counter() - t0
    return {
        "part": "data-set statistic",
        "sets": n_sets,
        "one at a time s": t_loop,
        "batched s": t_batched,
        "speed-up": t_loop / t_batched,
        "target": 20,
    }


def bench_total(ng, model, data, part) -> list[dict]:
    rows = []
    for method in ("dataset", "visualization"):
        t0 = time.perf_counter()
        res = ng.coherence(model, part, data.x_test, data.y_test, method=method, random_state=0)
        rows.append(
            {
                "part": f"ng.coherence(method={method!r}), defaults",
                "sets": res.n_rows * 39,
                "batched s": time.perf_counter() - t0,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 controls, 16 steps")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    n_random, steps = (5, 16) if args.quick else (19, 64)
    torch, ng, model, data, part, prep, sets = _prepare(args.device, n_random)
    rows = [
        bench_visualization(torch, prep, sets, args.device, steps),
        bench_dataset(torch, prep, sets, args.device),
        *bench_total(ng, model, data, part),
    ]
    for r in rows:
        r["device"] = args.device
    print(
        table(
            rows, ["part", "device", "sets", "one at a time s", "batched s", "speed-up", "target"]
        )
    )
    for r in rows[:2]:
        verdict = (
            "met"
            if r["speed-up"] >= r["target"]
            else f"MISSED by {r['target'] / r['speed-up']:.1f}x"
        )
        print(f"{r['part']}: {r['speed-up']:.1f}x (target {r['target']}x: {verdict})")
    path = write_results(f"coherence_{args.device}", {"quick": args.quick, "rows": rows})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
