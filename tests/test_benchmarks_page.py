"""``python -m benchmarks``: the headline table built from the suites' results files."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def runner(tmp_path, monkeypatch):
    """Load ``benchmarks/__main__.py`` reading its results from ``tmp_path``."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("bench_main", ROOT / "benchmarks/__main__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path)
    monkeypatch.setattr(module, "RUNS", tmp_path / "_runs.json")
    return module


def _spectral(ratio: float) -> dict:
    graph = {
        "sklearn": {"seconds": 10.0, "peak_mib": 100.0},
        "nngraph default": {"seconds": 10.0 / ratio, "peak_mib": 20.0},
        "speedup": ratio,
        "speedup_target": 10.0,
        "ncut_ratio": 0.999,
    }
    return {"machine": "test machine", "quick": False, "graphs": {"digits-mlp": graph}}


def test_page_from_results(runner, tmp_path):
    (tmp_path / "spectral.json").write_text(json.dumps(_spectral(12.5)))
    clus = {
        "n_shuffles": 50,
        "load_average": 0.3,
        "engines": [{"engine": "n_jobs=2 (kept pool)", "speedup": 1.2}],
    }
    (tmp_path / "clusterability_quick.json").write_text(json.dumps({**clus, "quick": True}))
    out = tmp_path / "page.md"
    assert runner.main(["--from-results", "--output", str(out)]) == 0
    text = out.read_text()
    row = next(line for line in text.splitlines() if "trained digits MLP" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3:6] == ["12.5x", "≥ 10x", "yes"]
    assert "n-cut 0.9990x" in cells[6]
    # A missed target says by how much; a quick run says it is one.
    row = next(line for line in text.splitlines() if "kept pool" in line)
    assert "| 1.20x | ≥ 1.6x | no (75%) |" in row
    assert "**quick mode**" in text
    # Suites without results are listed, not dropped.
    assert "| graph | *not measured* |" in text
    assert "Not measured: no results yet." in text


def test_kmeans_restarts_row(runner, tmp_path):
    # Issue 15, item 1: 100 restarts against scikit-learn's 10, as a ratio of times.
    payload = _spectral(12.5)
    payload["graphs"]["digits-mlp"]["kmeans"] = {
        "default_n_init": 100,
        "seconds": {"sklearn n_init 10, its threads": 0.2, "nngraph n_init 100 (default)": 0.5},
        "mean_inertia": {
            "sklearn n_init 10, its threads": 2.0,
            "nngraph n_init 100 (default)": 1.9,
        },
    }
    (tmp_path / "spectral.json").write_text(json.dumps(payload))
    out = tmp_path / "page.md"
    assert runner.main(["--from-results", "--output", str(out)]) == 0
    row = next(line for line in out.read_text().splitlines() if "k-means, 100 restarts" in line)
    assert "| 0.40x | ≥ 1x | no (40%) | mean inertia 0.9500x scikit-learn's |" in row


def test_a_failing_suite_is_reported_and_exits_1(runner, tmp_path, monkeypatch):
    calls = []

    def fake_call(command, cwd):
        calls.append(command)
        if command[1].endswith("bench_spectral.py"):
            (tmp_path / "spectral_quick.json").write_text(json.dumps(_spectral(8.0)))
            return 0
        return 3

    monkeypatch.setattr(runner.subprocess, "call", fake_call)
    out = tmp_path / "page.md"
    assert runner.main(["--quick", "--only", "spectral", "startup", "--output", str(out)]) == 1
    assert [Path(c[1]).name for c in calls] == ["bench_startup.py", "bench_spectral.py"]
    assert all(c[-1] == "--quick" for c in calls)
    text = out.read_text()
    assert "Not measured: the script failed (exit status 3)." in text
    assert "| 8.0x | ≥ 10x | no (80%) |" in text
    runs = json.loads((tmp_path / "_runs.json").read_text())
    assert runs["spectral"]["exit"] == 0 and runs["startup"]["exit"] == 3


def test_a_missing_output_folder_is_refused_before_any_run(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--output", str(tmp_path / "no" / "b.md")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "the folder does not exist" in proc.stderr
    assert "===" not in proc.stdout
