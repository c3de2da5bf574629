"""The report: report.html (self-contained, offline) and report.md, with their pictures."""

from __future__ import annotations

import base64
import dataclasses
import html.parser
import io
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import nngraph as ng
from nngraph.pipeline import _figures, _report
from nngraph.pipeline._report_document import (
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
)
from nngraph.pipeline._report_html import render_html
from nngraph.pipeline._report_markdown import render_markdown

matplotlib = pytest.importorskip("matplotlib")

SUBSECTIONS = (
    "partition",
    "clusterability",
    "subclusters",
    "importance",
    "coherence",
    "comparison",
)
HEADINGS = (
    "Partition and eigengap",
    "Clusterability",
    "Sub-cluster table",
    "Importance",
    "Coherence",
    "Partitioners compared",
)
TOP = ("verdict", "model", "warnings", "timings", "configuration", "versions", "files")
TOP_HEADINGS = (
    "Verdict",
    "Network and data",
    "Warnings",
    "Timings",
    "Configuration",
    "Library versions",
    "Files",
)


class _Page(html.parser.HTMLParser):
    """Collect what the tests look at: ids, headings, images, links, tags."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.tags: set[str] = set()
        self.headings: list[str] = []
        self.text: list[str] = []
        self._heading = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        for name in ("href", "src"):
            if name in attrs and tag != "img":
                self.links.append(attrs[name])
        self._heading = tag in ("h1", "h2", "h3", "h4")
        if self._heading:
            self.headings.append("")

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3", "h4"):
            self._heading = False

    def handle_data(self, data):
        self.text.append(data)
        if self._heading:
            self.headings[-1] += data


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def _png(data: bytes):
    import matplotlib.image

    return matplotlib.image.imread(io.BytesIO(data), format="png")


@pytest.fixture(scope="module")
def saved(small_study, tmp_path_factory):
    """Save the reduced study once: the folder the report tests read."""
    return small_study.save(tmp_path_factory.mktemp("report") / "run")


def test_save_writes_the_reports_and_the_pictures(saved, small_study):
    assert (saved / "report.html").is_file() and (saved / "report.md").is_file()
    names = {p.name for p in (saved / "figures").iterdir()}
    for kind in small_study.graphs:
        expected = ["network", "eigengap", "clusterability", "importance", "comparison"]
        expected += ["coherence-dataset", "coherence-visualization"]
        assert {f"{kind}-{n}.png" for n in expected} <= names
        assert any(n.startswith(f"{kind}-examples-") for n in names)
    for name in names:
        image = _png((saved / "figures" / name).read_bytes())
        assert image.shape[0] > 100 and image.shape[1] > 100


def test_html_parses_and_holds_every_section(saved, small_study):
    page = _parse(saved / "report.html")
    expected = list(TOP)
    for kind in small_study.graphs:
        expected += [kind] + [f"{kind}-{s}" for s in SUBSECTIONS]
    assert set(expected) <= set(page.ids)
    assert len(page.ids) == len(set(page.ids))  # anchors are unique
    # The verdict comes first, in plain words, with its headline.
    assert page.ids[0] == "verdict"
    text = " ".join(" ".join(page.text).split())
    verdict = small_study.verdict()
    assert f"Is it modular? {verdict.modular.capitalize()}." in text
    assert " ".join(verdict.headline.split()) in text
    # Every link of the table of contents points at a section of the page.
    assert all(link[1:] in page.ids for link in page.links if link.startswith("#"))


def test_html_embeds_every_picture_as_a_decodable_png(saved):
    page = _parse(saved / "report.html")
    figures = sorted((saved / "figures").iterdir())
    assert len(page.images) == len(figures)
    embedded = []
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert _png(data).size > 0
        embedded.append(data)
    assert sorted(embedded) == sorted(p.read_bytes() for p in figures)


def test_html_names_no_external_resource(saved):
    page = _parse(saved / "report.html")
    assert not page.tags & {"script", "link", "iframe", "object", "embed"}
    assert all(link.startswith("#") for link in page.links), page.links
    text = (saved / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text)
    assert "@import" not in text and "url(" not in text


def test_markdown_names_the_same_sections_and_its_images_exist(saved, small_study):
    text = (saved / "report.md").read_text(encoding="utf-8")
    prose = re.sub(r"^```.*?^```$", "", text, flags=re.MULTILINE | re.DOTALL)  # no code
    headings = re.findall(r"^#{1,6} (.+)$", prose, flags=re.MULTILINE)
    html_headings = [h.strip() for h in _parse(saved / "report.html").headings]
    assert headings == html_headings
    assert set(TOP_HEADINGS) <= set(headings)
    for kind in small_study.graphs:
        assert f"{kind.capitalize()} graph" in headings
    assert all(headings.count(h) == len(small_study.graphs) for h in HEADINGS)
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links and all((saved / link).is_file() for link in links)
    assert {f"figures/{p.name}" for p in (saved / "figures").iterdir()} == set(links)


def test_files_section_names_every_file_of_the_folder(saved):
    text = (saved / "report.html").read_text(encoding="utf-8")
    files = text[text.index('id="files"') :]
    for path in saved.rglob("*"):
        if path.is_file():
            assert f"<td>{path.relative_to(saved).as_posix()}</td>" in files


def test_timings_configuration_and_versions_are_reported(saved, small_study):
    text = " ".join(" ".join(_parse(saved / "report.html").text).split())
    assert "compile" in text
    assert f"k = {small_study.config.k}" in text and "n_shuffles = 3" in text
    for name, version in small_study.versions.items():
        assert name in text and (version is None or version in text)
    for warning in small_study.warnings:
        assert " ".join(warning.split()) in text


def _find_browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if found := shutil.which(name):
            return found
    return None


_CHECK = """<script>
window.addEventListener("load", function () {
  var images = Array.from(document.images);
  var decoded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute("data-images", images.length + "/" + decoded.length);
});
</script>"""


def test_a_real_browser_opens_it_offline_and_decodes_every_picture(saved, tmp_path):
    browser = _find_browser()
    if browser is None:
        pytest.skip("headless Chromium not installed: apt-get install chromium")
    page = tmp_path / "report.html"  # a copy with a check script; the report has none
    text = (saved / "report.html").read_text(encoding="utf-8")
    page.write_text(text.replace("</body>", _CHECK + "</body>"), encoding="utf-8")
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
             "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    found = re.search(r'data-images="(\d+)/(\d+)"', out.stdout)
    assert found, out.stderr[-2000:]
    n_images = len(list((saved / "figures").iterdir()))
    assert found.groups() == (str(n_images), str(n_images))


def test_skipped_stages_are_said_not_run(tmp_path):
    res = ng.study(
        graphs="weight", k=4, n_shuffles=0, importance=False, coherence=(), partitioners=()
    )
    folder = res.save(tmp_path / "run")
    page = _parse(folder / "report.html")
    assert {"weight-clusterability", "weight-importance", "weight-coherence"} <= set(page.ids)
    text = " ".join("".join(page.text).split())
    for option in ("n_shuffles = 0", "importance = false", "coherence = []", "partitioners"):
        assert f"({option})" in text
    assert text.count("Not run: ") == 5  # the sub-cluster table says it too
    names = {p.name for p in (folder / "figures").iterdir()}
    assert names == {"weight-network.png", "weight-eigengap.png"}
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    assert markdown.count("**Not run**") == 5
    # The sub-cluster table still lists every sub-cluster's size.
    assert len(res.graphs["weight"].partition.subclusters()) > 0
    assert "Sub-cluster table" in page.headings


def test_one_unit_sub_clusters_tested_with_min_size_1_are_listed(tmp_path):
    # Every tested sub-cluster has its row in the report's table, and is counted.
    res = ng.study(
        graphs="weight",
        k=40,
        min_size=1,
        n_shuffles=0,
        n_random=9,
        n_null_partitions=0,
        coherence=(),
        partitioners=(),
    )
    tested = res.graphs["weight"].subcluster_table()
    ones = [r for r in tested if r["size"] == 1]
    assert ones  # k = 40 on the MLP leaves some clusters one unit in a layer
    _report.write_report(res, tmp_path)
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    section = markdown.split("### Sub-cluster table", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    headers = [line for line in rows if line.startswith("| cluster ")]
    assert len(rows) - len(headers) == len(res.graphs["weight"].partition.subclusters(1))
    assert "sub-clusters (≥ 1 unit)" in markdown
    assert (
        f"| sub-clusters (≥ 1 unit) | {len(res.graphs['weight'].partition.subclusters(1))} |"
        in markdown
    )


def test_a_picture_that_fails_is_said_and_the_report_is_written(small_study, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no ink")

    for name in _figures.__all__:
        if name.endswith("_figure"):
            monkeypatch.setattr(_figures, name, broken)
    written = _report.write_report(small_study, tmp_path)
    assert [p.name for p in written] == ["report.html", "report.md"]
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "could not be drawn: RuntimeError: no ink" in text
    assert "<img" not in text and not (tmp_path / "figures").exists()


def test_a_report_that_fails_still_leaves_a_readable_page(small_study, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("bad section")

    monkeypatch.setattr(_report, "_verdict_section", broken)
    _report.write_report(small_study, tmp_path)
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "The full report could not be written" in text and "bad section" in text
    assert "Is it modular?" in text  # the terminal summary, with the verdict


# ------------------------------------------------------------------ the renderers


def _document() -> Document:
    section = Section("a", "A <section>")
    section.add(
        Callout("Is it modular? Yes.", ("it is",), "yes"),
        Paragraph.of("x < y & ", Strong("bold"), " and ", Mono("code_name")),
        Bullets.of(["one", ("two ", Strong("2"))]),
        Table.of(
            ["name", "value"],
            [[Cell("a|b", swatch="#ff0000"), Cell("1.5", highlight=True, detail="p 0.01")]],
            numeric=(1,),
            caption="a table",
        ),
        CodeBlock("k = 4", "toml"),
    )
    section.subsections.append(Section("b", "B"))
    return Document("Title", "sub", [section])


def test_html_escapes_text_and_marks_highlighted_cells(tmp_path):
    text = render_html(_document(), tmp_path)
    assert "A &lt;section&gt;" in text and "x &lt; y &amp; " in text
    assert '<td class="num hl">1.5<br><small>p 0.01</small></td>' in text
    assert 'class="swatch" style="background:#ff0000"' in text
    assert '<section id="b">' in text and "<h3>B</h3>" in text
    assert '<div class="callout yes">' in text


def test_markdown_escapes_table_cells_and_marks_highlighted_ones():
    text = render_markdown(_document())
    assert "## A \\<section\\>" in text and "### B" in text
    assert "| a\\|b | **1.5 (p 0.01)** |" in text
    assert "|---|---:|" in text
    assert "`code_name`" in text and "```toml\nk = 4\n```" in text
    assert "- [A \\<section\\>](#a-section)" in text


def test_the_training_options_of_a_bundled_network_are_named(small_study):
    import dataclasses

    info = {**small_study.model_info, "training": {"dropout": 0.5, "prune": 0.9, "l1": 5e-5}}
    result = dataclasses.replace(small_study, model_info=info)
    text = render_markdown(Document("t", "", [_report._model_section(result)]))
    words = "trained here (kept in the model cache); dropout 0.5, pruned to 90% sparsity, L1 5e-05"
    assert f"epochs, {words}" in text
    assert small_study.model_info["training"] == {}  # the default network: plain training


@pytest.mark.parametrize("workers", [1, 2])
def test_queued_pictures_are_drawn_and_failures_replaced(tmp_path, workers):
    from nngraph.pipeline._report_document import Figure, Pictures
    from nngraph.pipeline._report_drawing import PictureQueue

    def good(path):
        path.write_bytes(b"png of " + path.name.encode())

    def bad(path):
        raise RuntimeError("no ink")

    queue, failures = PictureQueue(workers), []
    draw = Pictures(tmp_path, "w", failures, queue=queue)
    (tmp_path / "figures").mkdir()
    s = Section("graph", "Graph")
    s.add(draw.draw("a", good, "A"), draw.draw("b", bad, "B"), draw.draw("c", good, "C"))
    assert not any((tmp_path / "figures").iterdir())  # queued, not drawn yet
    doc = Document("t", "", [s])
    queue.draw(doc, failures)
    assert (tmp_path / "figures/w-a.png").read_bytes() == b"png of w-a.png"
    assert (tmp_path / "figures/w-c.png").exists() and not (tmp_path / "figures/w-b.png").exists()
    assert [type(b).__name__ for b in s.blocks] == ["Figure", "Paragraph", "Figure"]
    assert failures == ["picture figures/w-b.png could not be drawn: RuntimeError: no ink"]
    assert "could not be drawn" in render_markdown(doc) and queue.jobs == []
    assert all(isinstance(b, Figure) for b in (s.blocks[0], s.blocks[2]))


@pytest.mark.parametrize(("value", "workers"), [("3", 3), ("", None), ("two", None), ("-1", None)])
def test_a_bad_report_workers_variable_warns_and_draws(monkeypatch, value, workers):
    from nngraph.pipeline._report_drawing import PictureQueue

    monkeypatch.setenv("NNGRAPH_REPORT_WORKERS", value)
    if workers is None and value:
        with pytest.warns(RuntimeWarning, match="NNGRAPH_REPORT_WORKERS"):
            queue = PictureQueue()
    else:
        queue = PictureQueue()
    assert queue.workers >= 1 and (workers is None or queue.workers == workers)


def test_counts_of_one_read_in_the_singular(small_study, tmp_path):
    """'1 sub-cluster was tested', '1 cluster', 'hurts class 4 most': never '1 ... were'."""
    from nngraph.pipeline import _report_proxies
    from nngraph.pipeline._report_document import Pictures
    from nngraph.pipeline._verdict import hurts_classes

    gs = small_study.graphs["weight"]
    row = dict(gs.importance.rows[0], loss_significant=True, classes_hurt=[4])
    one = dataclasses.replace(gs.importance, rows=[row])
    draw = Pictures(tmp_path, "w", [], enabled=False)
    section = Section("s", "S")
    section.add(*_report_proxies._proxy_blocks("importance", one, "weight", draw))
    text = render_markdown(Document("t", "", [section]))
    assert "1 sub-cluster was tested." in text and "sub-clusters were" not in text
    assert "; hurts class 4 most" in text
    assert hurts_classes([9, 5, 3]) == "hurts classes 9, 5, 3 most"
    assert hurts_classes([[9, 5], [2]]) == "hurts classes head 0: 9, 5; head 1: 2 most"
    assert str(one).startswith("importance: 1 sub-cluster, ")
    comparison = gs.comparison
    j = next(i for i, n in enumerate(comparison.names) if n != "spectral")
    rows = [dict(r, n_clusters=1) if i == j else r for i, r in enumerate(comparison.rows)]
    single = dataclasses.replace(gs, comparison=dataclasses.replace(comparison, rows=rows))
    lines = dataclasses.replace(small_study, graphs={"weight": single}).verdict().graphs["weight"]
    compared = [line for line in lines.lines if line.startswith("Spectral clustering against")]
    assert compared and ", 1 cluster)" in compared[0]
