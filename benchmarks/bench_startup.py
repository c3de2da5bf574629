"""Benchmark start-up: ``import nngraph`` and ``nngraph --help`` against ``import torch``.

Run: ``python benchmarks/bench_startup.py [--quick]``

Each command runs in a fresh interpreter (best of several runs, wall time of the whole
process, so interpreter start-up is included and shown on its own as ``python -c pass``):

- ``import nngraph`` (public names load lazily, on first use);
- ``nngraph --help`` (the parser imports no torch, numba, scikit-learn, scipy or numpy);
- ``import nngraph; nngraph.ncut`` (the partition stage: numba and scikit-learn, no torch);
- ``import nngraph; nngraph.weight_graph`` (the graph builders: torch);
- ``import torch`` alone, the baseline.

Target (issue 9): ``nngraph --help`` under 1 s.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, write_results  # noqa: E402


def _wall(cmd: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 runs per command instead of 5")
    args = parser.parse_args()
    repeat = 2 if args.quick else 5
    py = sys.executable
    cli = shutil.which("nngraph")
    cases = [
        ("python -c pass", [py, "-c", "pass"]),
        ("import torch", [py, "-c", "import torch"]),
        ("import nngraph", [py, "-c", "import nngraph"]),
        ("nngraph --help", [cli, "--help"] if cli else [py, "-m", "nngraph", "--help"]),
        ("nngraph.ncut (numba, sklearn)", [py, "-c", "import nngraph; nngraph.ncut"]),
        ("nngraph.weight_graph (torch)", [py, "-c", "import nngraph; nngraph.weight_graph"]),
    ]
    rows = []
    for name, cmd in cases:
        rows.append({"command": name, "seconds": _wall(cmd, repeat)})
    torch_s = rows[1]["seconds"]
    for r in rows:
        r["vs import torch"] = r["seconds"] / torch_s
    print(table(rows, ["command", "seconds", "vs import torch"]))
    help_s = rows[3]["seconds"]
    print(f"\nnngraph --help: {help_s:.3f} s (target < 1 s: {'met' if help_s < 1 else 'MISSED'})")
    path = write_results("startup", {"repeat": repeat, "rows": rows})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
