"""The checks of why sizes differ in docs/findings.md, on five networks each.

Run from the repository root: ``python benchmarks/findings_size_checks.py`` (about 5 minutes
on 2 cores with the networks trained, 10 with training). It reuses the task functions of
``benchmarks/study_findings.py`` with its full settings (k = 12, 50 shuffles of the
"layer" null, 99 random sets per sub-cluster), prints one line per network and a
Markdown table, and writes every result to
``benchmarks/results/findings_size_checks.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import study_findings as sf  # noqa: E402

#: label -> (architecture and training in words, options of ``pretrained``)
CHECKS = {
    "plain, 2x wider": ("64-512x4-10, 30 epochs", {"hidden": (512, 512, 512, 512)}),
    "plain, 10x longer": ("64-256x4-10, 300 epochs", {"epochs": 300}),
    "L1, 10x longer": ("64-256x4-10, 300 epochs", {"l1": 5e-5, "epochs": 300}),
    "plain, the paper's regulariser shape": ("64-64x3-10, 30 epochs", {"hidden": (64, 64, 64)}),
    "regulariser, the paper's shape": (
        "64-64x3-10, 30 epochs",
        {"hidden": (64, 64, 64), "cluster_lambda": 0.1, "cluster_k": 4},
    ),
}
#: the two-digit MLP 4x wider and twice as deep, pruned to 90% (three networks)
WIDE_TWO_DIGITS = {"hidden": (256, 256, 256, 256)}


def main() -> dict:
    """Run every check, print its lines and the table, and save the results."""
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help
    warnings.simplefilter("ignore")
    import torch

    torch.set_num_threads(1)
    args = argparse.Namespace(tiny=False, networks=None, shuffles=None, jobs=None, cache_dir=None)
    plan = sf.make_plan(args)
    out: dict = {}
    start = time.perf_counter()
    rows = []
    for label, (what, options) in CHECKS.items():
        results = []
        for seed in range(5):
            r = sf.clusterability_task("mlp", seed, options, plan)
            print(f"{label}, seed {seed}: z = {r['z']:.2f} ({r['seconds']:.0f} s)", flush=True)
            results.append(r)
        out[label] = results
        zs = [r["z"] for r in results]
        rows.append(
            f"| {label} | {what} | {len(results)} "
            f"| {np.mean([r['test_accuracy'] for r in results]):.3f} "
            f"| {np.mean([r['ncut'] for r in results]):.2f} "
            f"| {np.mean([r['null_mean'] for r in results]):.2f} "
            f"| {np.mean(zs):.2f} ± {np.std(zs):.2f} | " + ", ".join(f"{z:.1f}" for z in zs) + " |"
        )
    wide = {**plan, "model": {**plan["model"], "two_digit_mlp": WIDE_TWO_DIGITS}}
    out["two-digit 128-256x4-20, pruned 90%"] = []
    for seed in range(3):
        r = sf.two_digits_task(seed, {"prune": 0.9}, wide)
        print(
            f"two-digit 256x4 pruned 90%, seed {seed}: ARI {r['ari_halves']:.2f}, "
            f"{r['head_selective']}/{r['subclusters']} head-selective, z = {r['z']:.2f}",
            flush=True,
        )
        out["two-digit 128-256x4-20, pruned 90%"].append(r)
    out["wall_seconds"] = time.perf_counter() - start
    path = ROOT / "benchmarks" / "results" / "findings_size_checks.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, default=sf._json_default))
    header = (
        "| networks | architecture, training | n | accuracy | n-cut | null | z (mean ± sd) "
        "| z, each network |"
    )
    print("\n".join([header, "|---" * 8 + "|", *rows]))
    print(f"{out['wall_seconds']:.0f} s")
    return out


if __name__ == "__main__":
    main()
