"""Run every benchmark suite and write their headline figures into one Markdown table.

Run: ``python -m benchmarks [--quick] [--only NAME ...] [--from-results] [--output PATH]``

Each suite (``benchmarks/bench_*.py``) runs in its own interpreter, one after the
other, its output shown as it goes; each measures nngraph side by side with its
baseline (scikit-learn, igraph, leidenalg, the naive one-at-a-time engines) in the same
run and writes ``benchmarks/results/<name>.json``. The headline figures of every suite
(the ratio baseline / nngraph, the target where one is set, the quality check, the peak
memory) then go into one table in ``docs/benchmarks.md``, with the machine it ran on,
the load average before and after each suite, and the command that reproduces each row.

``--quick`` runs every suite in its quick mode (minutes instead of about an hour; its
figures are not the targets' sizes). ``--from-results`` runs nothing and rebuilds the
page from the results already on disk (the newest full run of each suite, else its
quick run). The GPU suite runs only where CUDA is available; its figures from another
machine are kept, with that machine named. A suite that fails is listed as failed, and
the exit status is 1.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import RESULTS  # noqa: E402
from _summary import SUITES, Row, Suite  # noqa: E402

from nngraph.utils._io import atomic_write, json_text  # noqa: E402

DEFAULT_OUTPUT = HERE.parent / "docs" / "benchmarks.md"
RUNS = RESULTS / "_runs.json"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 2**20:.0f} GiB"
    except OSError:
        pass
    return "unknown"


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in ("nngraph", "numpy", "scipy", "numba", "torch", "scikit-learn", "igraph"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _has_cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


def _load() -> float:
    return os.getloadavg()[0]


#: Seconds a file's modification time may lag ``time.time()``. The two need not agree to
#: the millisecond (a file system may stamp from a coarser clock): one full test run saw
#: the file of an instant fake suite stamped before the start it recorded.
_CLOCK_SLACK = 1.0


def _result_file(suite: Suite, quick: bool, since: float | None) -> Path | None:
    """Return the suite's results: its newest file written since ``since`` (if given)."""
    names = [f"{suite.results}_quick", suite.results] if quick else [suite.results]
    if since is None and not quick:
        names.append(f"{suite.results}_quick")  # from results: full first, else quick
    for name in names:
        path = RESULTS / f"{name}.json"
        if path.exists() and (since is None or path.stat().st_mtime >= since - _CLOCK_SLACK):
            return path
    return None


def run_suite(suite: Suite, quick: bool) -> dict[str, Any]:
    """Run one suite's script in a fresh interpreter; its exit status, time and load."""
    command = [sys.executable, str(HERE / suite.script), *(["--quick"] if quick else [])]
    shown = " ".join([f"benchmarks/{suite.script}", *command[2:]])
    print(f"\n=== {suite.name}: {suite.what}\n$ python {shown}", flush=True)
    start, load_before = time.time(), _load()
    t0 = time.perf_counter()
    code = subprocess.call(command, cwd=HERE.parent)
    return {
        "suite": suite.name,
        "exit": code,
        "seconds": time.perf_counter() - t0,
        "load_before": load_before,
        "load_after": _load(),
        "started": start,
        "quick": quick,
    }


def _fmt_ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}x" if value >= 1.95 else f"{value:.2f}x"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|")


def render(
    sections: list[tuple[Suite, Path | None, dict | None, list[Row], dict | None]],
    machine: dict[str, Any],
) -> str:
    """Return the Markdown page: how it was made, the machine, the table, the suites."""
    lines = [
        "# Benchmarks",
        "",
        "Every figure below was measured by a script in `benchmarks/`, side by side with",
        "its baseline in the same run on the same machine. **ratio** is the baseline's",
        "time over nngraph's (above 1: nngraph is faster); **target** is the ratio the",
        "project set itself; **quality** is the check that both sides computed the same",
        "thing. On a shared machine, compare ratios, not seconds.",
        "",
        "Regenerate: `python -m benchmarks` (everything, about an hour on 2 cores),",
        "`python -m benchmarks --only spectral community`, or `python -m benchmarks",
        "--from-results` to rebuild this page from the results on disk.",
        "",
        "## Machine",
        "",
        f"- CPU: {machine['cpu']}, {machine['cores']} cores, {machine['memory']} memory",
        f"- {machine['platform']}, Python {machine['python']}",
        "- " + ", ".join(f"{k} {v}" for k, v in machine["versions"].items()),
        f"- page written {machine['written']}",
        "",
        "## Headline figures",
        "",
        "| suite | measurement | baseline | ratio | target | met | quality | peak memory |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for suite, path, _, rows, _ in sections:
        if path is None:
            lines.append(f"| {suite.name} | *not measured* | | | | | | |")
        for r in rows:
            target = "-" if r.target is None else f"≥ {r.target:g}x"
            lines.append(
                f"| {r.suite} | {_cell(r.case)} | {_cell(r.baseline)} | {_fmt_ratio(r.ratio)} "
                f"| {target} | {r.met} | {_cell(r.quality)} | {_cell(r.memory)} |"
            )
    lines += ["", "## The suites", ""]
    for suite, path, payload, _, run in sections:
        lines.append(f"### {suite.name}")
        lines.append("")
        lines.append(
            f"{suite.what[0].upper()}{suite.what[1:]}: `python benchmarks/{suite.script}`."
        )
        if path is None:
            why = "no CUDA GPU on this machine" if suite.needs_gpu else "no results yet"
            if run is not None and run["exit"] != 0:
                why = f"the script failed (exit status {run['exit']})"
            lines += ["", f"Not measured: {why}.", ""]
            continue
        when = _dt.datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
        shown = path.relative_to(HERE.parent) if path.is_relative_to(HERE.parent) else path
        facts = [f"results `{shown}` of {when}"]
        if payload.get("quick"):
            facts.append("**quick mode** (smaller than the targets' sizes)")
        where = payload.get("device") or payload.get("machine")
        if where:
            facts.append(f"measured on {where}")
        if run is not None:
            facts.append(
                f"{run['seconds']:.0f} s, load average {run['load_before']:.1f} before and "
                f"{run['load_after']:.1f} after"
            )
        lines += ["", "; ".join(facts) + ".", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    names = [s.name for s in SUITES]
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="every suite in its quick mode")
    parser.add_argument("--only", nargs="+", choices=names, metavar="NAME", help=", ".join(names))
    parser.add_argument("--from-results", action="store_true", help="run nothing; rebuild the page")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the Markdown page")
    args = parser.parse_args(argv)
    if not args.output.parent.is_dir():
        parser.error(f"--output {str(args.output)!r}: the folder does not exist")

    runs: dict[str, Any] = json.loads(RUNS.read_text()) if RUNS.exists() else {}
    cuda = _has_cuda()
    written: dict[str, Path | None] = {}  # per suite run now: its results, None if it failed
    for suite in SUITES:
        if args.from_results or (args.only and suite.name not in args.only):
            continue
        if suite.needs_gpu and not cuda:
            print(f"\n=== {suite.name}: skipped, no CUDA GPU here", flush=True)
            continue
        run = run_suite(suite, args.quick)
        path = _result_file(suite, args.quick, run["started"])
        written[suite.name] = path if run["exit"] == 0 else None
        runs[suite.name] = run
        RESULTS.mkdir(exist_ok=True)
        json_text(runs, RUNS)
    failed = [name for name, path in written.items() if path is None]

    sections = []
    for suite in SUITES:
        run = runs.get(suite.name)
        if suite.name in written:
            path = written[suite.name]
        else:  # from earlier runs: the full results, else the quick ones
            path = _result_file(suite, False, None)
        payload = json.loads(path.read_text()) if path else None
        for name in suite.sections if payload is not None else ():
            part = RESULTS / f"{name}.json"
            if part.exists() and part.stat().st_mtime > path.stat().st_mtime:
                newer = json.loads(part.read_text())
                payload.update({k: v for k, v in newer.items() if k not in ("machine", "python")})
        rows = suite.summarise(payload) if payload else []
        # A run's facts (time, load) belong to the file it wrote, not to an older one.
        if path is not None and (
            run is None or path.stat().st_mtime < run["started"] - _CLOCK_SLACK
        ):
            run = None
        sections.append((suite, path, payload, rows, run))
    machine = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory": _memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": _versions(),
        "written": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
    }
    text = render(sections, machine) + "\n"
    atomic_write(args.output, lambda fh: fh.write(text), binary=False)
    print(f"\nwrote {args.output}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
