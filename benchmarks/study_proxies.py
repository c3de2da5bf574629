"""How many sub-clusters of the digits MLP are important? Real partitions against random.

Run: ``python benchmarks/study_importance.py [--n-random N] [--quick]``

The trained digits MLP (64-256x4-10) is partitioned four ways -- spectral clustering
(k = 12) and Louvain, each on the weight graph and on the activation graph (Pearson,
squared) -- and, for comparison, by partitions drawn at random within each layer with
the sub-cluster sizes of each real partition. For every partition: ``ng.importance``
with ``n_random`` random sets per sub-cluster (default 999: with the paper's 19, no
p-value can fall below 1/20 and Benjamini-Hochberg over 20+ sub-clusters rejects
nothing) and the default 19 random partitions. Reported: sub-clusters tested, how many
are significant after Benjamini-Hochberg at FDR 0.05 for each statistic, and the
combined p-values.
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


def _shuffled(ng, part, seed: int):
    """Permute the partition's labels within each layer's clustered units."""
    rng = np.random.default_rng(seed)
    labels = {}
    for name, lab in part.layer_labels.items():
        lab = lab.copy()
        clustered = np.flatnonzero(lab >= 0)
        lab[clustered] = lab[clustered][rng.permutation(clustered.size)]
        labels[name] = lab
    return ng.Partition(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-random", type=int, default=999)
    parser.add_argument("--quick", action="store_true", help="n_random 99, one random draw")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import nngraph as ng
    from nngraph.models import pretrained, pretrained_data

    n_random = 99 if args.quick else args.n_random
    model, data = pretrained("mlp"), pretrained_data("mlp")
    graphs = {
        "weights": ng.weight_graph(model, data.x_train[:1]),
        "activations": ng.activation_graph(model, data.x_train),
    }
    rows = []
    for gname, g in graphs.items():
        for pname, est in (
            ("spectral k=12", ng.SpectralClustering(12, random_state=0)),
            ("louvain", ng.Louvain(random_state=0)),
        ):
            part = ng.Partition(est.fit(g).labels_, g)
            candidates = [(f"{gname}, {pname}", part)]
            draws = 1 if args.quick else 3
            candidates += [
                (f"{gname}, {pname}: random #{i}", _shuffled(ng, part, i)) for i in range(draws)
            ]
            for label, p in candidates:
                t0 = time.perf_counter()
                try:
                    res = ng.importance(
                        model, p, data.x_test, data.y_test, n_random=n_random, random_state=0
                    )
                except ValueError as exc:  # e.g. nothing to test in a 2-cluster partition
                    rows.append({"partition": label, "sub-clusters": 0, "note": str(exc)[:60]})
                    continue
                rows.append(
                    {
                        "partition": label,
                        "sub-clusters": res.n_rows,
                        "BH bal. acc.": res.n_significant("balanced_accuracy"),
                        "BH selectivity": res.n_significant("selectivity"),
                        "BH loss": res.n_significant("loss"),
                        "p bal. acc.": res.combined_p("balanced_accuracy"),
                        "p selectivity": res.combined_p("selectivity"),
                        "p loss": res.combined_p("loss"),
                        "seconds": time.perf_counter() - t0,
                    }
                )
                print(rows[-1], flush=True)
    columns = [
        "partition",
        "sub-clusters",
        "BH bal. acc.",
        "BH selectivity",
        "BH loss",
        "p bal. acc.",
        "p selectivity",
        "p loss",
        "seconds",
    ]
    print(table(rows, columns))
    path = write_results("study_importance", {"n_random": n_random, "rows": rows})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
