"""Benchmark clusterability: serial vs a process pool vs a local Dask cluster (issue 6).

Run: ``python benchmarks/bench_clusterability.py [--quick] [--shuffles N]``

50 shuffles ("layer" null) of the weight graph of the trained digits MLP
(64-256-256-256-256-10), spectral clustering with k = 12, measured side by side in one
run: serially, with a 2-process pool, and with a 2-worker local Dask cluster (processes,
one thread each, on loopback). Reports the time per shuffle and each engine's overhead
(its time against the ideal, serial / workers). All three must give the same null.
Then the z-scores of the MLP trained with and without dropout (0.5), five networks each
(training seeds 0-4; the paper found dropout networks more clusterable).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, write_results  # noqa: E402

import nngraph as ng  # noqa: E402
from nngraph.models import pretrained, pretrained_data  # noqa: E402


def _graph(dropout: float, seed: int = 0) -> ng.NeuronGraph:
    model = pretrained("mlp", dropout=dropout, random_state=seed)
    return ng.weight_graph(model, pretrained_data("mlp").x_train[:1])


def _run(graph, executor, n_shuffles, n_init):
    part = ng.SpectralClustering(12, random_state=0, n_init=n_init)
    t0 = time.perf_counter()
    res = ng.clusterability(graph, part, n_shuffles=n_shuffles, random_state=0, executor=executor)
    return time.perf_counter() - t0, res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 shuffles, fewer k-means runs")
    parser.add_argument("--shuffles", type=int, default=None)
    parser.add_argument(
        "--seeds",
        type=int,
        default=5,
        help="networks per dropout setting in the z study (default 5)",
    )
    args = parser.parse_args()
    n_shuffles = args.shuffles or (10 if args.quick else 50)
    n_init = 5 if args.quick else None  # None: the paper's default (25 below 2,000 units)

    graph = _graph(0.0)
    _run(graph, None, 1, n_init)  # warm numba and BLAS in this process

    rows, results = [], {}

    def record(engine: str, workers: int, executor) -> None:
        """Time one engine; overhead against the ideal serial time / workers."""
        seconds, results[engine] = _run(graph, executor, n_shuffles, n_init)
        base = rows[0]["seconds"] if rows else seconds
        rows.append(
            {
                "engine": engine,
                "workers": workers,
                "seconds": seconds,
                "per_shuffle": seconds / n_shuffles,
                "overhead_pct": 100 * (seconds / (base / workers) - 1),
            }
        )

    record("serial", 1, None)
    serial = results["serial"]
    base = rows[0]["seconds"]

    with cf.ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as ex:
        list(ex.map(abs, [1, 2]))  # start the workers before timing
        record("process pool (spawn)", 2, ex)

    try:
        import distributed
    except ImportError:
        distributed = None
    if distributed is not None:
        with (
            distributed.LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            record("dask LocalCluster", 2, client.get_executor())

    for name, res in results.items():
        np.testing.assert_allclose(res.null, serial.null, rtol=1e-9, err_msg=name)
    print(table(rows, ["engine", "workers", "seconds", "per_shuffle", "overhead_pct"]))
    print("overhead_pct: time against the ideal serial/workers (0 = perfect scaling)")
    print(f"speed-up of the process pool: {base / rows[1]['seconds']:.2f}x on 2 workers")
    print()

    studies = []
    with cf.ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as ex:
        for dropout in (0.0, 0.5):
            for seed in range(args.seeds):
                g = _graph(dropout, seed)
                _, res = _run(g, ex, n_shuffles, n_init)
                studies.append(
                    {
                        "dropout": dropout,
                        "seed": seed,
                        "ncut": res.ncut,
                        "null_mean": res.mean,
                        "null_std": res.std,
                        "z": res.z,
                        "p": res.p,
                    }
                )
                print(f"dropout={dropout} seed={seed}: {res}")
            zs = [r["z"] for r in studies if r["dropout"] == dropout]
            print(f"dropout={dropout}: mean z over {len(zs)} networks {np.mean(zs):.2f}")
    path = write_results(
        "clusterability" + ("_quick" if args.quick else ""),
        {"n_shuffles": n_shuffles, "engines": rows, "dropout_study": studies},
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
