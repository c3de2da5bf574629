"""Tables and pictures of benchmarks/study_findings.py, beside the papers' numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from _findings_paper import CLUSTERABILITY, PROXIES, TWO_DIGITS, paper_control, paper_z, verdict

from nngraph.stats import combine_across_networks


def _results(store: dict[str, Any], prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Group the cached results of one part by setting, in seed order."""
    out: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for key, value in store["tasks"].items():
        part, name, seed, *rest = key.split("|")
        if part == prefix:
            out.setdefault(name if not rest else f"{name}|{rest[0]}", []).append((int(seed), value))
    return {k: [v for _, v in sorted(rows, key=lambda sv: sv[0])] for k, rows in out.items()}


def _f(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    value = float(value)
    if not np.isfinite(value):
        return "-"
    if value != 0 and (abs(value) < 10 ** -(digits + 1) or abs(value) >= 1e5):
        return f"{value:.1e}"
    return f"{value:.{digits}f}"


def _p(value: Any) -> str:
    if value is None or not np.isfinite(float(value)):
        return "-"
    if float(value) < 1e-15:  # below what the combinations resolve (Brown's underflows to 0)
        return "< 1e-15"
    return f"{float(value):.2g}"


def _bates(ps: list[Any]) -> float | None:
    """Combine the networks' p-values (Bates); a p-value that underflowed to 0 counts as 1e-300."""
    ps = [max(float(p), 1e-300) for p in ps if p is not None and np.isfinite(float(p))]
    return combine_across_networks(ps) if ps else None


def _mean(values: list[Any]) -> float:
    vals = [float(v) for v in values if v is not None and np.isfinite(float(v))]
    return float(np.mean(vals)) if vals else float("nan")


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- tables


def clusterability_table(store: dict[str, Any], prefix: str = "clusterability") -> str:
    """One row per setting: ours (mean over networks) beside the paper's."""
    paper = CLUSTERABILITY if prefix == "clusterability" else TWO_DIGITS
    groups = _results(store, prefix)
    plain = "plain"
    ours_plain = _mean([r["z"] for r in groups.get(plain, [])])
    header = [
        "setting",
        "networks",
        "accuracy",
        "n-cut",
        "null",
        "z (mean ± sd)",
        "p combined",
        "paper n-cut / null",
        "paper z",
        "direction",
        "size",
    ]
    rows = []
    for name, results in groups.items():
        zs = [r["z"] for r in results if r["z"] is not None]
        z = _mean(zs)
        pz = paper_z(name, paper)
        control = None if name == plain else paper_control(name, paper)
        control_ours = None if name == plain else ours_plain
        direction, size = verdict(z, pz, control_ours, control)
        acc = [
            np.mean(r["test_accuracy_heads"]) if "test_accuracy_heads" in r else r["test_accuracy"]
            for r in results
        ]
        ref = paper.get(name)
        rows.append(
            [
                name,
                str(len(results)),
                _f(_mean(acc), 3),
                _f(_mean([r["ncut"] for r in results])),
                _f(_mean([r["null_mean"] for r in results])),
                f"{_f(z)} ± {_f(np.std(zs) if zs else None)}",
                _p(_bates([r["p"] for r in results])),
                f"{ref['ncut']:.2f} / {ref['null']:.2f}" if ref else "-",
                _f(pz) if pz is not None else "-",
                direction,
                size,
            ]
        )
    return _table(header, rows)


def size_table(store: dict[str, Any]) -> str:
    """Tabulate the checks of why a size differs: one network each."""
    rows = []
    for name, results in _results(store, "size").items():
        r = results[0]
        rows.append(
            [name, _f(r["test_accuracy"], 3), _f(r["ncut"]), _f(r["null_mean"]), _f(r["z"])]
        )
    plain = _results(store, "clusterability").get("plain")
    if plain:
        r = plain[0]
        rows.insert(
            0,
            [
                "plain (seed 0, as above)",
                _f(r["test_accuracy"], 3),
                _f(r["ncut"]),
                _f(r["null_mean"]),
                _f(r["z"]),
            ],
        )
    return _table(["network", "accuracy", "n-cut", "null", "z"], rows)


def proxies_table(store: dict[str, Any]) -> str:
    """Per setting, graph and method: sub-clusters significant, combined p, baselines."""
    header = [
        "setting",
        "graph",
        "method",
        "largest cluster",
        "importance: significant",
        "p",
        "random: significant",
        "p",
        "coherence: significant",
        "p",
        "random: significant",
        "p",
    ]
    rows = []
    for key, results in _results(store, "proxies").items():
        setting, graph = key.split("|")
        methods = [r["method"] for r in results[0]["rows"]]
        for i, method in enumerate(methods):
            per = [res["rows"][i] for res in results]

            def share(col: str, tested: str, per=per) -> str:
                n_sig = sum(
                    (r[col] or 0) * (r[tested] or 0)
                    for r in per
                    if r[col] is not None and r[tested]
                )
                n = sum(r[tested] or 0 for r in per)
                return f"{int(round(n_sig))}/{int(n)}" if n else "0/0"

            rows.append(
                [
                    setting,
                    graph,
                    method,
                    _f(_mean([r["largest_cluster"] for r in per]), 0),
                    share("importance_significant", "importance_tested"),
                    _p(_bates([r["importance_p"] for r in per])),
                    share("importance_random_significant", "importance_tested"),
                    _p(_bates([r["importance_random_p"] for r in per])),
                    share("dataset_significant", "dataset_tested"),
                    _p(_bates([r["dataset_p"] for r in per])),
                    share("dataset_random_significant", "dataset_tested"),
                    _p(_bates([r["dataset_random_p"] for r in per])),
                ]
            )
    return _table(header, rows)


def similarity_table(store: dict[str, Any]) -> str:
    """Mean NMI and ARI between the methods' partitions, per setting and graph."""
    pairs = [("spectral", "louvain"), ("spectral", "leiden"), ("louvain", "leiden")]
    header = ["setting", "graph"] + [f"NMI {a}-{b}" for a, b in pairs]
    header += [f"ARI {a}-{b}" for a, b in pairs]
    rows = []
    for key, results in _results(store, "proxies").items():
        setting, graph = key.split("|")
        by = [{r["method"]: r for r in res["rows"]} for res in results]
        nmi = [_f(_mean([b[x][f"nmi_{y}"] for b in by])) for x, y in pairs]
        ari = [_f(_mean([b[x][f"ari_{y}"] for b in by])) for x, y in pairs]
        rows.append([setting, graph] + nmi + ari)
    return _table(header, rows)


def two_digits_table(store: dict[str, Any]) -> str:
    """Recovery of the halves and head-selective importance, per setting."""
    header = [
        "setting",
        "accuracy (left, right)",
        "ARI with the halves (each network)",
        "sub-clusters",
        "head-selective (BH)",
        "head gap p combined",
    ]
    rows = []
    for name, results in _results(store, "two_digits").items():
        heads = np.mean([r["test_accuracy_heads"] for r in results], axis=0)
        rows.append(
            [
                name,
                f"{heads[0]:.3f}, {heads[1]:.3f}",
                f"{_f(_mean([r['ari_halves'] for r in results]))} ("
                + ", ".join(_f(r["ari_halves"]) for r in results)
                + ")",
                str(sum(r["subclusters"] for r in results)),
                str(sum(r["head_selective"] for r in results)),
                _p(_bates([r["head_gap_p"] for r in results])),
            ]
        )
    return _table(header, rows)


def report(store: dict[str, Any], plan: dict[str, Any], figures: Path | None = None) -> str:
    """Write the tables as Markdown (and the pictures into ``figures``)."""
    parts = [
        f"## Clusterability of the digits MLP (k = {plan['k']}, {plan['shuffles']} shuffles, "
        "layer null)",
        clusterability_table(store),
        "## Why sizes differ: one network each",
        size_table(store),
        "## Spectral, Louvain and Leiden at equal k, judged by the proxies "
        f"({plan['n_random']} random sets per sub-cluster)",
        proxies_table(store),
        f"Paper: importance {PROXIES['importance']}; coherence {PROXIES['dataset']}.",
        "## How similar the partitions are",
        similarity_table(store),
        "## The two-digit task",
        two_digits_table(store),
        clusterability_table(store, "two_digits"),
    ]
    runs = store.get("runs", [])
    if runs:
        total = sum(r["wall_seconds"] for r in runs)
        parts.append(
            f"Wall time of the runs that computed these results: {total / 60:.1f} min "
            f"({len(runs)} run(s); last on {runs[-1]['machine']}, {runs[-1]['cpus']} CPUs)."
        )
    if figures is not None:
        from _findings_figures import draw_two_digits, draw_z

        figures.mkdir(parents=True, exist_ok=True)
        parts.append(f"Pictures: {draw_z(store, figures)}, {draw_two_digits(store, plan, figures)}")
    return "\n\n".join(parts) + "\n"
