"""The study's report: ``report.html`` (self-contained) and ``report.md``, with pictures.

:func:`write_report` is called by :meth:`StudyResult.save` after the result files are
written. It builds one :class:`~._report_document.Document` (the verdict first, in
plain words with the numbers behind it; then per graph the partition, clusterability,
sub-clusters, importance, coherence and the partitioners compared; then the network
and data, warnings, timings, configuration, versions and the files of the folder),
draws the pictures into ``figures/``, and renders the document twice: as HTML with
every picture embedded (opens offline) and as Markdown that links ``figures/*.png``.
"""

from __future__ import annotations

import importlib.util
import math
import os
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ._report_document import (
    Bullets,
    Callout,
    Cell,
    CodeBlock,
    Document,
    Mono,
    Paragraph,
    Section,
    Strong,
    Table,
    format_p,
    format_seconds,
)
from ._report_drawing import PictureQueue
from ._report_graph import graph_section
from ._report_html import render_html
from ._report_markdown import render_markdown
from ._verdict import PROXY_STATISTICS

__all__ = ["build_document", "write_report"]

_PROXY_ROWS = {
    "importance": "important sub-clusters",
    "dataset": "coherent sub-clusters (data-set examples)",
    "visualization": "coherent sub-clusters (feature visualisation)",
}
_MODEL_LINES = 40


# ------------------------------------------------------------------ the verdict


def _clusterability_cells(gs: Any, more: bool | None) -> tuple[Cell, Cell]:
    """Return the clusterability cells; ``more``: the verdict's answer (None: not tested)."""
    clus = gs.clusterability
    if clus is None:
        return Cell("not run", muted=True), Cell("not run", muted=True)
    z = f"z = {clus.z:.2f}, " if clus.n_shuffles >= 2 and math.isfinite(clus.z) else ""
    answer = Cell(
        f"{'yes' if more else 'no'} ({z}p = {format_p(clus.p)}, {clus.n_shuffles} shuffles)",
        highlight=bool(more),
    )
    numbers = Cell(f"{clus.ncut:.4g} vs {clus.mean:.4g} ± {clus.std:.2g}")
    return answer, numbers


def _proxy_cell(gs: Any, key: str) -> Cell:
    res = gs.proxies().get(key)
    if res is None:
        return Cell("not run", muted=True)
    if not res.n_rows:
        return Cell("none large enough to test", muted=True)
    names = [n for n, _ in PROXY_STATISTICS[key] if n in res.combined]
    counts = [(n, res.n_significant(n)) for n in names]
    text = "; ".join(f"{k} of {res.n_rows} ({n.replace('_', ' ')})" for n, k in counts)
    return Cell(text, highlight=any(k for _, k in counts))


def _key_numbers(result: Any, verdict: Any) -> Table:
    kinds = list(result.graphs)
    rows: list[list[Any]] = []
    answers, numbers = zip(
        *(_clusterability_cells(result.graphs[k], verdict.graphs[k].clusterable) for k in kinds),
        strict=True,
    )
    rows.append(["more clusterable than its shuffles?", *answers])
    rows.append(["n-cut: true vs shuffles (mean ± std)", *numbers])
    rows.append(
        [
            "clusters: k used / eigengap's k",
            *(
                f"{result.graphs[k].partition.n_clusters} / "
                f"{int(result.graphs[k].eigengap.suggested_k)}"
                for k in kinds
            ),
        ]
    )
    floor = result.config.subcluster_floor()
    rows.append(
        [
            f"sub-clusters (≥ {floor} unit{'s' if floor > 1 else ''})",
            *(str(len(result.graphs[k].partition.subclusters(floor))) for k in kinds),
        ]
    )
    for key, label in _PROXY_ROWS.items():
        if any(key in result.graphs[k].proxies() for k in kinds) or (
            key == "importance" or key in result.config.coherence
        ):
            cells = [_proxy_cell(result.graphs[k], key) for k in kinds]
            rows.append([f"{label}, after Benjamini-Hochberg", *cells])
    return Table.of(
        ["", *(f"{k} graph" for k in kinds)],
        rows,
        caption="The numbers behind the verdict (highlighted: evidence of modularity).",
    )


def _verdict_section(result: Any, verdict: Any) -> Section:
    s = Section("verdict", "Verdict")
    title = f"Is it modular? {verdict.modular.capitalize()}."
    s.add(Callout(title, (verdict.headline,), verdict.modular))
    if result.graphs:
        s.add(_key_numbers(result, verdict))
    for kind, gv in verdict.graphs.items():
        s.add(Paragraph.of(Strong(f"{kind.capitalize()} graph")), Bullets.of(gv.lines))
    notes = [n for n in verdict.notes if n not in result.warnings]
    reading = [
        "The graph's units are the network's neurons; a partition splits them into "
        "clusters, and a sub-cluster is the units of one cluster in one layer.",
        "n-cut: the weight of the edges leaving each cluster divided by the cluster's "
        "total edge weight, summed over clusters (0 to k; lower is more modular).",
        *notes,
    ]
    if any(gs.proxies() for gs in result.graphs.values()):
        reading.append(
            "Combined p: one statistic's p-values over all sub-clusters of a graph, combined "
            "into one. t on random partitions (the default): Fisher's statistic against its "
            "null measured on random partitions (a Student t on cube roots), which allows for "
            "the sub-clusters of a layer being disjoint; Brown: a scaled chi-squared with the "
            "same null's mean and variance; partition rank: the true partition's rank among "
            "those random partitions; Fisher: assumes independent p-values (conservative "
            "here); Fisher half-bin: the papers'."
        )
    if result.warnings:
        reading.append(
            f"{len(result.warnings)} warning(s) limit what these statistics can show: "
            "see Warnings, below."
        )
    s.add(Paragraph.of(Strong("How to read these numbers")), Bullets.of(reading))
    return s


# ------------------------------------------------------------------ about the run


#: How the report names each training option of a bundled network.
_TRAINING_WORDS = {
    "dropout": lambda v: f"dropout {v:g}",
    "weight_decay": lambda v: f"weight decay {v:g}",
    "prune": lambda v: f"pruned to {v:.0%} sparsity",
    "l1": lambda v: f"L1 {v:g}",
    "l2": lambda v: f"L2 {v:g}",
    "cluster_lambda": lambda v: f"clusterability regulariser {v:g}",
    "cluster_k": lambda v: f"k = {v}",
}


def _model_section(result: Any) -> Section:
    s = Section("model", "Network and data")
    info, data = dict(result.model_info), result.data
    rows = [["network", str(info.get("name", "?"))]]
    if info.get("bundled"):
        options = ", ".join(_TRAINING_WORDS[k](v) for k, v in info.get("training", {}).items())
        epochs = info.get("epochs") or "?"
        trained = f"bundled network, {epochs} epochs, trained here (kept in the model cache)"
        rows.append(["trained", f"{trained}; {options}" if options else trained])
    for key, label in (("test_accuracy", "test accuracy"), ("train_accuracy", "train accuracy")):
        if info.get(key) is not None:
            rows.append([label, f"{info[key]:.4f}"])
    rows += [
        ["data", str(data.name)],
        ["examples", f"{data.x_train.shape[0]:,} training, {data.x_test.shape[0]:,} held out"],
        ["classes", str(data.n_classes or "?")],
    ]
    shape = getattr(data, "image_shape", None)
    if shape:
        rows.append(["inputs drawn as images of", " × ".join(map(str, shape))])
    for kind, gs in result.graphs.items():
        g = gs.graph
        layers = ", ".join(
            f"{n} ({int(z)})" for n, z in zip(g.layer_names, g.layer_sizes, strict=True)
        )
        what = f"{g.n_nodes:,} units, {g.n_edges:,} edges; layers: {layers}"
        rows.append([f"{kind} graph", what])
    s.add(Table.of(["", ""], rows))
    text = str(result.model)
    lines = text.splitlines()
    if len(lines) > _MODEL_LINES:
        text = "\n".join(lines[:_MODEL_LINES] + [f"... ({len(lines) - _MODEL_LINES} more lines)"])
    s.add(Paragraph.of("The network as PyTorch prints it:"), CodeBlock(text))
    return s


def _warnings_section(result: Any, failures: list[str]) -> Section:
    s = Section("warnings", "Warnings")
    items = list(result.warnings) + failures
    if not items:
        return s.add(Paragraph.of("None: nothing limited the statistics of this run."))
    return s.add(
        Paragraph.of("What limits the statistics, and the warnings raised during the run:"),
        Bullets.of(items),
    )


def _timings_section(result: Any) -> Section:
    s = Section("timings", "Timings")
    timings = dict(result.timings)
    if not timings:
        return s.add(Paragraph.of("No stage was timed.", tone="muted"))
    total = sum(timings.values()) or 1.0
    rows = []
    for name, seconds in timings.items():
        stage, _, detail = name.partition(" (")
        share = seconds / total
        rows.append(
            [
                stage,
                Cell(detail.rstrip(")"), muted=True),
                format_seconds(seconds),
                f"{share:.0%}" if share >= 0.005 else "<1%",
            ]
        )
    rows.append(["total", "", format_seconds(total), "100%"])
    return s.add(
        Paragraph.of(
            "Wall time of each stage. Compiling the numba kernels is its own stage: it "
            "happens once per machine, later runs read the compiled kernels from a cache."
        ),
        Table.of(["stage", "detail", "time", "share"], rows, numeric=(2, 3)),
    )


def _configuration_section(result: Any) -> Section:
    s = Section("configuration", "Configuration")
    return s.add(
        Paragraph.of(
            "Every option of the run, as run (also in ",
            Mono("config.toml"),
            "). Run it again with ",
            Mono("nngraph run --config config.toml"),
            ", or ",
            Mono('nngraph.study(config="config.toml")'),
            ".",
        ),
        CodeBlock(result.config.to_toml().rstrip("\n"), "toml"),
    )


def _versions_section(result: Any) -> Section:
    s = Section("versions", "Library versions")
    rows = [[name, version or "not installed"] for name, version in result.versions.items()]
    return s.add(
        Paragraph.of(f"Created {_when(result.created)} with:"),
        Table.of(["library", "version"], rows),
    )


def _describe_file(name: str, figures: dict[str, str]) -> str:
    """Say in one line what a file of the output folder holds.

    Examples
    --------
    >>> _describe_file("coherence-dataset-weight.csv", {})[:50]
    'coherence (dataset) of each sub-cluster of the wei'
    >>> _describe_file("graph-activation.npz", {})
    'the activation graph (NeuronGraph.load)'
    """
    stem, _, suffix = name.rpartition(".")
    kind = stem.rpartition("-")[2]
    fixed = {
        "report.html": "this report, self-contained: it opens offline, pictures included",
        "report.md": "the same report in Markdown (its pictures are in figures/)",
        "summary.json": "the headline numbers of every graph, the verdict, the "
        "configuration and the timings",
        "config.toml": "the exact configuration: nngraph run --config config.toml reruns it",
        "versions.json": "the versions of Python and of the libraries",
    }
    if name in fixed:
        return fixed[name]
    if name in figures:
        graph = Path(name).stem.split("-")[0]
        return f"picture of the {graph} graph: {figures[name][:1].lower()}{figures[name][1:]}"
    patterns = {
        "graph": f"the {kind} graph (NeuronGraph.load)",
        "partition": f"the spectral partition of the {kind} graph (Partition.load)",
        "comparison": f"the partitioners compared on the {kind} graph: n-cut, modularity, "
        "NMI and ARI",
        "clusterability": f"the {kind} graph's true n-cut and every shuffle's n-cut",
        "subclusters": f"the sub-cluster table of the {kind} graph: each proxy's effect, "
        "p-value and significance",
        "importance": f"importance of each sub-cluster of the {kind} graph against its random sets",
        "coherence": f"coherence ({stem.split('-')[1]}) of each sub-cluster of the "
        f"{kind} graph against its random sets",
    }
    head = stem.split("-")[0]
    if head in patterns:
        more = {"json": " (all values, with the random sets')", "csv": " (one row each)"}
        extra = more.get(suffix, "") if head in ("importance", "coherence") else ""
        return patterns[head] + extra
    return ""


def _files_section(folder: Path, figures: dict[str, str]) -> Section:
    s = Section("files", "Files")
    names = {"report.html", "report.md"}
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for f in files:
            if not f.startswith("."):
                names.add(Path(root, f).relative_to(folder).as_posix())
    order = ["report.html", "report.md", "summary.json", "config.toml", "versions.json"]
    ranked = sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))
    rows = [[Cell(n), _describe_file(n, figures)] for n in ranked]
    return s.add(
        Paragraph.of(f"The {len(ranked)} files of this folder:"),
        Table.of(["file", "what it holds"], rows),
    )


# ------------------------------------------------------------------ the document


def build_document(
    result: Any,
    folder: Path,
    failures: list[str],
    *,
    pictures: bool = True,
    queue: PictureQueue | None = None,
) -> Document:
    """Build the report of ``result``, drawing its pictures into ``folder / "figures"``.

    Parameters
    ----------
    result : StudyResult
        What the study found.
    folder : Path
        The output folder (the result files are already there).
    failures : list of str
        Receives a line for each picture that could not be drawn.
    pictures : bool, default=True
        Draw the pictures (False: the report has none).
    queue : PictureQueue, optional
        Queue the pictures there and draw them all together (:meth:`PictureQueue.draw`,
        in parallel where it can) once the graph sections are built, instead of one by
        one as they are built.

    Returns
    -------
    Document
    """
    verdict = result.verdict()
    name = result.model_info.get("name", "the network")
    doc = Document(
        f"Is {name} modular?",
        f"nngraph report on the network {name} and the data {result.data.name}, "
        f"{_when(result.created)}",
    )
    doc.sections += [_verdict_section(result, verdict), _model_section(result)]
    for kind, gs in result.graphs.items():
        doc.sections.append(
            graph_section(kind, gs, result, verdict.graphs[kind], folder, failures, pictures, queue)
        )
    if queue is not None:  # drawn now: the warnings and the files sections follow them
        queue.draw(doc, failures)
    doc.sections += [
        _warnings_section(result, failures),
        _timings_section(result),
        _configuration_section(result),
        _versions_section(result),
    ]
    figures = {f.path: f.title for f in doc.figures()}
    doc.sections.append(_files_section(folder, figures))
    return doc


def _when(created: str) -> str:
    """Format the result's creation time (ISO 8601) for readers.

    Examples
    --------
    >>> _when("2026-11-27T15:17:01+00:00")
    '27 November 2026, 15:17 UTC'
    """
    try:
        moment = datetime.fromisoformat(created).astimezone(timezone.utc)
    except (TypeError, ValueError):
        return str(created)
    return f"{moment.day} {moment:%B %Y, %H:%M} UTC"


def _fallback_document(result: Any, exc: BaseException) -> Document:
    """Return a minimal report saying what went wrong, so the results are still saved."""
    s = Section("verdict", "Verdict")
    s.add(
        Callout("The full report could not be written", (f"{type(exc).__name__}: {exc}",), "no"),
        Paragraph.of("The study's results are in the other files of this folder. Its summary:"),
        CodeBlock(result.text()),
        Paragraph.of("Where the report failed:"),
        CodeBlock("".join(traceback.format_exception(exc)).rstrip()),
    )
    return Document("nngraph report", _when(result.created), [s])


def write_report(result: Any, folder: str | os.PathLike[str]) -> list[Path]:
    """Write ``report.html``, ``report.md`` and ``figures/*.png`` into ``folder``.

    The HTML holds every picture (base64 PNG) and its own style: it opens offline
    and names no external resource. The Markdown links the pictures in ``figures/``.
    A picture that cannot be drawn is said so in the report (and under Warnings);
    without matplotlib the report is written without pictures.

    Parameters
    ----------
    result : StudyResult
        What the study found.
    folder : path-like
        An existing folder that already holds the result files
        (:meth:`StudyResult.write_files`).

    Returns
    -------
    list of Path
        The files written: the two reports, then the pictures.
    """
    folder = Path(folder)
    figures_dir = folder / "figures"
    figures_dir.mkdir(exist_ok=True)
    failures: list[str] = []
    pictures = importlib.util.find_spec("matplotlib") is not None
    if not pictures:
        failures.append("no pictures: they need matplotlib (pip install matplotlib)")
    queue = PictureQueue()
    try:
        document = build_document(result, folder, failures, pictures=pictures, queue=queue)
    except Exception as exc:  # noqa: BLE001 - the results must be saved whatever happens
        document = _fallback_document(result, exc)
    html_path, md_path = folder / "report.html", folder / "report.md"
    html_path.write_text(render_html(document, folder), encoding="utf-8")
    md_path.write_text(render_markdown(document), encoding="utf-8")
    drawn = [folder / f.path for f in document.figures()]
    if not any(figures_dir.iterdir()):
        figures_dir.rmdir()
    return [html_path, md_path, *drawn]
