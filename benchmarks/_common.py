"""Shared helpers for the benchmark scripts: timing, peak memory in a fresh process."""

from __future__ import annotations

import json
import multiprocessing as mp
import platform
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def best_time(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Smallest wall time of ``repeat`` calls, and the last result.

    The previous result is freed before each call, so every call allocates afresh.
    """
    best, out = float("inf"), None
    for _ in range(repeat):
        out = None
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _child(target: Callable[..., Any], args: tuple, conn) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    try:
        result = target(*args)
        error = None
    except Exception as exc:  # report, don't hang the parent
        result, error = None, repr(exc)
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    conn.send(
        {"seconds": elapsed, "peak_mib": (peak - before) / 1024, "result": result, "error": error}
    )
    conn.close()


def isolated(target: Callable[..., Any], *args: Any) -> dict:
    """Run ``target(*args)`` in a fresh process: its time and peak RSS growth (MiB).

    ``target`` must be a module-level function; its return value must pickle. Peak
    memory is the growth of the child's maximum resident set over what it had after
    importing (Linux ``ru_maxrss``), so it counts every allocation the call made,
    numpy, torch, igraph or numba alike.
    """
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(target, args, child))
    proc.start()
    out = parent.recv()
    proc.join()
    if out["error"]:
        raise RuntimeError(f"{target.__name__} failed in the child: {out['error']}")
    return out


def write_results(name: str, payload: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    payload = {"machine": platform.platform(), "python": platform.python_version(), **payload}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=float))
    return path


def table(rows: list[dict], columns: list[str]) -> str:
    """Format ``rows`` as a plain fixed-width table."""
    cells = [[_fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def random_mlp(sizes):
    """Build an MLP of ``sizes`` with torch's default initialisation, seeded locally (seed 0)."""
    import torch
    import torch.nn as nn

    with torch.random.fork_rng():
        torch.manual_seed(0)
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        return nn.Sequential(*layers[:-1])
