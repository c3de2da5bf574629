"""How many sub-clusters are important and coherent? Real partitions against random.

Run: ``python benchmarks/study_proxies.py [--networks mlp small_cnn] [--n-random N]
[--draws D] [--quick]``

Each trained bundled network is partitioned four ways -- spectral clustering (k = 12)
and Louvain, each on the weight graph and on the activation graph (Pearson, squared) --
and, for comparison, by ``D`` partitions drawn at random within each layer with the
sub-cluster sizes of each real partition. For every partition: ``ng.importance``,
``ng.coherence(method="dataset")`` and ``ng.coherence(method="visualization")`` with
``n_random`` random sets per sub-cluster (default 999: with the paper's 19, no p-value
can fall below 1/20 and Benjamini-Hochberg over 20+ sub-clusters rejects nothing) and
the default 19 random partitions. Reported per statistic: sub-clusters tested, how many
are significant after Benjamini-Hochberg at FDR 0.05, and the combined p-value.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, write_results  # noqa: E402

PROXIES = {
    "importance": ("importance", {}),
    "coherence (dataset)": ("coherence", {"method": "dataset"}),
    "coherence (visualization)": ("coherence", {"method": "visualization"}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", default=["mlp", "small_cnn"])
    parser.add_argument("--n-random", type=int, default=999)
    parser.add_argument("--draws", type=int, default=1, help="random partitions per real one")
    parser.add_argument("--quick", action="store_true", help="n_random 99")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import nngraph as ng
    from nngraph.models import pretrained, pretrained_data
    from nngraph.proxies import random_relabel

    n_random = 99 if args.quick else args.n_random
    rows = []
    for network in args.networks:
        model, data = pretrained(network), pretrained_data(network)
        graphs = {
            "weights": ng.weight_graph(model, data.x_train[:1]),
            "activations": ng.activation_graph(model, data.x_train),
        }
        for gname, g in graphs.items():
            for pname, est in (
                ("spectral k=12", ng.SpectralClustering(12, random_state=0)),
                ("louvain", ng.Louvain(random_state=0)),
            ):
                part = ng.Partition(est.fit(g).labels_, g)
                candidates = [(f"{gname}, {pname}", part)]
                candidates += [
                    (f"{gname}, {pname}: random #{i}", random_relabel(part, random_state=i))
                    for i in range(args.draws)
                ]
                for label, p in candidates:
                    for proxy, (fn, kw) in PROXIES.items():
                        t0 = time.perf_counter()
                        try:
                            res = getattr(ng, fn)(
                                model,
                                p,
                                data.x_test,
                                data.y_test,
                                n_random=n_random,
                                random_state=0,
                                **kw,
                            )
                        except ValueError as exc:  # nothing to test (sizes)
                            print(f"{network} {label} {proxy}: {exc}", flush=True)
                            continue
                        for stat in res.statistics:
                            rows.append(
                                {
                                    "network": network,
                                    "partition": label,
                                    "proxy": proxy,
                                    "statistic": stat.name,
                                    "sub-clusters": res.n_rows,
                                    "significant (BH)": res.n_significant(stat.name),
                                    "combined p": res.combined_p(stat.name),
                                    "seconds": time.perf_counter() - t0,
                                }
                            )
                            print(rows[-1], flush=True)
    columns = [
        "network",
        "partition",
        "proxy",
        "statistic",
        "sub-clusters",
        "significant (BH)",
        "combined p",
        "seconds",
    ]
    print(table(rows, columns))
    path = write_results("study_proxies", {"n_random": n_random, "rows": rows})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
