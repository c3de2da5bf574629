"""benchmarks/study_findings.py end to end on tiny networks: tables, pictures, resuming."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import study_findings
    finally:
        sys.path.remove(str(BENCHMARKS))
    folder = tmp_path_factory.mktemp("findings")
    argv = [
        "--tiny",
        "--networks",
        "1",
        "--cache-dir",
        str(folder / "cache"),
        "--results",
        str(folder / "results.json"),
        "--figures",
        str(folder / "figures"),
        "--markdown",
        str(folder / "findings.md"),
        "--quiet",
    ]
    first = study_findings.main(argv)
    second = study_findings.main(argv)
    return folder, first, second


def test_every_part_runs_and_is_tabulated(study):
    folder, first, _ = study
    tasks = first["store"]["tasks"]
    parts = {key.split("|")[0] for key in tasks}
    assert parts == {"clusterability", "proxies", "two_digits", "size"}
    assert first["run"]["computed"] == len(tasks) and first["run"]["skipped"] == 0
    clus = tasks["clusterability|dropout + pruned|0"]
    assert {"ncut", "null_mean", "z", "p", "n_isolated", "sparsity"} <= set(clus)
    assert clus["sparsity"] == pytest.approx(0.9, abs=0.01)
    judged = tasks["proxies|plain|0|weights"]["rows"]
    assert [r["method"] for r in judged] == ["spectral", "louvain", "leiden"]
    assert {"importance_p", "importance_random_p", "dataset_significant", "nmi_leiden"} <= set(
        judged[0]
    )
    two = tasks["two_digits|pruned 90%|0"]
    assert -1 <= two["ari_halves"] <= 1 and two["labels"] is not None
    text = (folder / "findings.md").read_text()
    for title in ("Clusterability of the digits MLP", "judged by the proxies", "two-digit task"):
        assert title in text
    assert "| dropout + pruned | 1 |" in text  # a row per setting, beside the paper's
    assert (folder / "figures" / "z_per_setting.png").stat().st_size > 0
    assert (folder / "figures" / "two_digits_clusters.png").stat().st_size > 0


def test_a_rerun_skips_what_is_done(study):
    folder, first, second = study
    assert second["run"]["computed"] == 0
    assert second["run"]["skipped"] == len(first["store"]["tasks"])
    saved = json.loads((folder / "results.json").read_text())
    assert len(saved["runs"]) == 2 and saved["tasks"] == second["store"]["tasks"]
