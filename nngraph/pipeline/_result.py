"""What :func:`nngraph.study` returns: per graph, everything found; and how it was run.

:class:`StudyResult` answers in plain words (:meth:`~StudyResult.verdict`), prints a
terminal summary, and saves one folder per run (:meth:`~StudyResult.save`): the report
(HTML and Markdown, pictures), the JSON/CSV of every result, the graph and partition
files, the exact configuration and the library versions.
"""

from __future__ import annotations

import csv
import io
import math
import os
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from ..utils._io import atomic_write, to_jsonable, write_json
from ._config import StudyConfig
from ._output import write_folder
from ._verdict import PROXY_STATISTICS, Verdict, make_verdict

__all__ = ["GraphStudy", "StudyResult", "library_versions"]

_LIBRARIES = (
    "nngraph",
    "numpy",
    "scipy",
    "torch",
    "scikit-learn",
    "numba",
    "igraph",
    "pynndescent",
    "matplotlib",
)


def library_versions() -> dict[str, str | None]:
    """Return the versions of Python and of the libraries a result depends on."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["platform"] = platform.platform()
    out["cpus"] = str(os.cpu_count())
    return out


@dataclass
class GraphStudy:
    """Everything the study found on one graph of the network.

    Attributes
    ----------
    graph : NeuronGraph
    partition : Partition
        Spectral clustering with ``k`` clusters: the partition whose sub-clusters are
        tested.
    eigengap : EigengapResult
        The leading eigenvalues and the number of clusters the largest gap suggests.
    comparison : PartitionerComparison or None
        The partitioners side by side (n-cut, modularity, NMI/ARI).
    clusterability : ClusterabilityResult or None
        Against shuffled copies (None with ``n_shuffles=0``).
    importance : ProxyResult or None
        Lesions of the sub-clusters against random same-size sets.
    coherence : dict of str to ProxyResult
        By method (``"dataset"``, ``"visualization"``).
    """

    graph: Any
    partition: Any
    eigengap: Any
    comparison: Any = None
    clusterability: Any = None
    importance: Any = None
    coherence: dict[str, Any] = field(default_factory=dict)

    def proxies(self) -> dict[str, Any]:
        """Return the proxies' results by key (``importance``, ``dataset``, ...)."""
        out = {"importance": self.importance} if self.importance is not None else {}
        return out | dict(self.coherence)

    def subcluster_table(self) -> list[dict[str, Any]]:
        """One row per sub-cluster tested: size, and each proxy's effect and p-value.

        Columns: ``layer``, ``cluster``, ``size``; per proxy statistic
        ``<proxy>.<statistic>_effect``, ``_p`` and ``_significant``;
        ``classes_hurt`` (importance) and ``top_labels`` (data-set coherence).
        """
        rows: dict[tuple[str, int], dict[str, Any]] = {}
        for key, res in self.proxies().items():
            names = [s for s, _ in PROXY_STATISTICS[key] if s in res.combined]
            for r in res.rows:
                row = rows.setdefault(
                    (r["layer"], int(r["cluster"])),
                    {"layer": r["layer"], "cluster": int(r["cluster"]), "size": int(r["size"])},
                )
                for name in names:
                    for suffix in ("effect", "p", "significant"):
                        row[f"{key}.{name}_{suffix}"] = r[f"{name}_{suffix}"]
                if key == "importance":
                    row["classes_hurt"] = r.get("classes_hurt")
                if key == "dataset":
                    row["top_labels"] = r.get("top_labels")
        order = {name: i for i, name in enumerate(self.graph.layer_names)}
        return sorted(rows.values(), key=lambda r: (order.get(r["layer"], 0), r["cluster"]))

    def summary(self) -> dict[str, Any]:
        """Return the headline numbers, JSON-ready."""
        g, part = self.graph, self.partition
        out: dict[str, Any] = {
            "kind": g.kind,
            "n_nodes": g.n_nodes,
            "n_edges": g.n_edges,
            "layers": dict(zip(g.layer_names, map(int, g.layer_sizes), strict=True)),
            "spectral": {
                "k": part.n_clusters,
                "ncut": part.metrics.get("ncut"),
                "modularity": part.metrics.get("modularity"),
                "suggested_k": int(self.eigengap.suggested_k),
                "eigenvalues": self.eigengap.eigenvalues,
                "n_subclusters": len(part.subclusters()),
            },
        }
        if self.clusterability is not None:
            out["clusterability"] = {
                k: v for k, v in self.clusterability.to_dict().items() if k != "null"
            }
        for key, res in self.proxies().items():
            out[key] = {
                "n_subclusters": res.n_rows,
                "n_random": res.info.get("n_random"),
                **{
                    s.name: {
                        "n_significant": res.n_significant(s.name),
                        "combined_p": res.combined_p(s.name),
                    }
                    for s in res.statistics
                    if s.name in res.combined
                },
            }
        return to_jsonable(out, unknown="repr")


def _short(stage: str) -> str:
    """Shorten a stage's name for one line: ``"weight: importance (499 ...)"`` -> ``...``."""
    head, _, detail = stage.partition(" (")
    return f"{head} ({detail}" if detail in ("dataset)", "visualization)") else head


def _csv_text(rows: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for r in rows:
        columns += [c for c in r if c not in columns]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c)
            if isinstance(v, (list, tuple)):
                v = " ".join(map(str, v))
            cells.append("" if v is None else v)
        writer.writerow(cells)
    return buf.getvalue()


@dataclass
class StudyResult:
    """What :func:`nngraph.study` found: one :class:`GraphStudy` per graph, and how.

    Attributes
    ----------
    config : StudyConfig
        Every option, as run.
    model : torch.nn.Module
        The network studied.
    data : Dataset
        Its data.
    model_info : dict
        Its name and, for bundled networks, the training figures.
    graphs : dict of str to GraphStudy
        By graph kind (``"weight"``, ``"activation"``).
    timings : dict of str to float
        Seconds per stage (kernel compilation is its own stage).
    save_seconds : float or None
        Seconds :func:`nngraph.study` took to write the files and the report into its
        ``output`` folder (None without one); not a stage of the study.
    warnings : list of str
        What limits the statistics (too few shuffles or controls to be significant)
        and the warnings raised during the run.
    """

    config: StudyConfig
    model: Any
    data: Any
    model_info: dict[str, Any]
    graphs: dict[str, GraphStudy] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    save_seconds: float | None = None
    versions: dict[str, str | None] = field(default_factory=library_versions)
    created: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds")
    )

    def verdict(self) -> Verdict:
        """Answer "is it modular, where, and what do the parts do?" (:class:`Verdict`)."""
        return make_verdict(self)

    def statistical_warnings(self) -> list[str]:
        """Say where the shuffles or controls are too few for a meaningful p-value."""
        cfg = self.config
        out = cfg.limits()
        for kind, gs in self.graphs.items():
            for res in gs.proxies().values():
                m = res.n_rows
                if not m:
                    continue
                p_min = 1 / (int(res.info.get("n_random", cfg.n_random)) + 1)
                if cfg.alpha / m < p_min <= cfg.alpha:
                    need = math.ceil(p_min * m / cfg.alpha - 1e-9)  # not 29.000000000000004
                    out.append(
                        f"{kind} graph, {res.proxy}: with {cfg.n_random} random sets the "
                        f"smallest p-value is {p_min:.3g}, above alpha/m = "
                        f"{cfg.alpha / m:.3g} for m = {m} sub-clusters; after "
                        f"Benjamini-Hochberg a sub-cluster can be significant only when "
                        f"at least {need} are. More random sets (n_random) lift this limit."
                    )
        return out

    def summary(self) -> dict[str, Any]:
        """Return the configuration, the verdict and each graph's numbers, JSON-ready."""
        return to_jsonable(
            {
                "verdict": self.verdict().to_dict(),
                "config": self.config.to_dict(),
                "model": self.model_info,
                "data": {
                    "name": self.data.name,
                    "n_train": int(self.data.x_train.shape[0]),
                    "n_test": int(self.data.x_test.shape[0]),
                    "n_classes": self.data.n_classes,
                },
                "graphs": {kind: gs.summary() for kind, gs in self.graphs.items()},
                "timings": self.timings,
                "warnings": self.warnings,
                "versions": self.versions,
                "created": self.created,
            },
            unknown="repr",
        )

    def text(self) -> str:
        """Return the terminal summary: the verdict, then where the files are."""
        lines = [self.verdict().text()]
        timings = dict(self.timings)
        if self.save_seconds is not None:
            timings["files and report"] = self.save_seconds
        lines.append(
            f"\n{sum(timings.values()):.1f} s in all: "
            + ", ".join(f"{_short(name)} {s:.1f} s" for name, s in timings.items())
        )
        return "\n".join(lines)

    __str__ = text

    def write_files(self, folder: str | os.PathLike[str]) -> list[Path]:
        """Write every result file (not the report) into an existing ``folder``.

        Per graph kind ``<kind>``: ``graph-<kind>.npz``, ``partition-<kind>.json``,
        ``comparison-<kind>.csv``, ``clusterability-<kind>.json``,
        ``importance-<kind>.csv``/``.json``, ``coherence-<kind>-<method>.csv``/``.json``
        and ``subclusters-<kind>.csv``; then ``summary.json``, ``config.toml`` and
        ``versions.json``. Returns the paths written.
        """
        folder = Path(folder)
        written: list[Path] = []

        def out(name: str) -> Path:
            written.append(folder / name)
            return folder / name

        for kind, gs in self.graphs.items():
            gs.graph.save(out(f"graph-{kind}.npz"))
            gs.partition.save(out(f"partition-{kind}.json"))
            if gs.comparison is not None:
                gs.comparison.to_csv(out(f"comparison-{kind}.csv"))
            if gs.clusterability is not None:
                gs.clusterability.to_json(out(f"clusterability-{kind}.json"))
            for key, res in gs.proxies().items():
                stem = "importance" if key == "importance" else f"coherence-{key}"
                res.to_csv(out(f"{stem}-{kind}.csv"))
                res.to_json(out(f"{stem}-{kind}.json"))
            table = _csv_text(gs.subcluster_table())
            atomic_write(
                out(f"subclusters-{kind}.csv"), lambda fh, t=table: fh.write(t), binary=False
            )
        write_json(out("summary.json"), self.summary())
        toml = self.config.to_toml()
        atomic_write(out("config.toml"), lambda fh: fh.write(toml), binary=False)
        write_json(out("versions.json"), self.versions)
        return written

    def save(self, folder: str | os.PathLike[str], *, force: bool = False) -> Path:
        """Write the report and every result to ``folder``; return the folder.

        The folder must not exist or be empty, unless ``force`` (then it is replaced
        whole, so files of two runs are never mixed). Everything is written into a
        hidden sibling folder first and renamed into place: an interrupted save leaves
        nothing behind. Contents: ``report.html`` (self-contained, opens offline),
        ``report.md``, ``figures/*.png``, and the files of :meth:`write_files`.
        """
        from ._report import write_report

        def write(tmp: Path) -> None:
            self.write_files(tmp)
            write_report(self, tmp)

        return write_folder(folder, write, force=force)
