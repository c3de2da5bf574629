"""The documentation runs: every Python example of ``docs/*.md`` and ``README.md``.

Each page's ```` ```python ```` blocks run in order, in one namespace (a later block uses
what an earlier one made), in a fresh temporary working directory, with the checkpoint
cache of the session (``NNGRAPH_CACHE_DIR``, set for every test by ``conftest.py``) so
nothing is written to ``~/.cache``. A traceback names the page and its line.

Two comments on the line before a block change what happens to it:

- ``<!-- file: NAME -->``: the block is a file the reader writes (a module of their
  own, a TOML configuration); it is written to ``NAME`` in the working directory,
  where the blocks after it can use it, instead of being run.
- ``<!-- no-test -->``: the block is shown but not run. Only for examples that need
  what a test machine lacks, such as a GPU or a Dask cluster's address.

Pages whose examples take more than about 20 s are marked ``slow`` (``-m "not slow"``
leaves them out).

Every ```` ```bash ```` line that starts with ``nngraph`` is parsed by the real parser
(``nngraph.cli._parser.build_parser``). ``docs/cli.md`` must name every subcommand and, in
that subcommand's section, every option; ``docs/study.md``'s table of options must
list the fields of ``StudyConfig`` with their defaults and flags.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
NO_TEST = "<!-- no-test -->"
_FILE = re.compile(r"^<!-- file: ([\w.-]+) -->$")
#: Pages whose examples take more than about 20 s on two cores (studies, process pools,
#: feature visualisation).
SLOW = {"clusterability.md", "coherence.md", "quickstart.md", "study.md"}
#: Optional libraries an example may import: the page is skipped when one is missing.
OPTIONAL = ("distributed", "networkx", "pandas")

_FENCE = re.compile(r"^(\s*)```(\w*)\s*$")


@dataclasses.dataclass
class Block:
    page: Path
    line: int  # the line of the block's first code line, 1-based
    lang: str
    code: str
    skip: bool
    file: str | None  # written to this file instead of run


def blocks(page: Path) -> list[Block]:
    """Return the fenced code blocks of a Markdown page, in order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        before = next((s.strip() for s in reversed(lines[:i]) if s.strip()), "")
        indent, lang = opening.groups()
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        body = [s[len(indent) :] if s.startswith(indent) else s for s in lines[i + 1 : j]]
        code = textwrap.dedent("\n".join(body))
        file = _FILE.match(before)
        out.append(Block(page, i + 2, lang, code, before == NO_TEST, file and file.group(1)))
        i = j + 1
    return out


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def _runs(block: Block) -> bool:
    return block.lang == "python" and not block.skip and block.file is None


def _python_pages() -> list:
    params = []
    for page in PAGES:
        if any(_runs(b) for b in blocks(page)):
            marks = [pytest.mark.slow] if page.name in SLOW else []
            params.append(pytest.param(page, id=_page_id(page), marks=marks))
    return params


@pytest.mark.parametrize("page", _python_pages())
def test_python_examples_run(page, tmp_path, monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    found = [b for b in blocks(page) if _runs(b) or b.file]
    source = "\n".join(b.code for b in found if b.lang == "python")
    for name in OPTIONAL:
        if re.search(rf"^\s*(import|from) {name}\b", source, re.MULTILINE):
            pytest.importorskip(name)
    monkeypatch.chdir(tmp_path)
    # As in the reader's script: code under `if __name__ == "__main__":` runs.
    namespace: dict = {"__name__": "__main__"}
    modules = [b.file[:-3] for b in found if b.file and b.file.endswith(".py")]
    for name in modules:
        sys.modules.pop(name, None)
    try:
        for b in found:
            if b.file:
                (tmp_path / b.file).write_text(b.code + "\n", encoding="utf-8")
                continue
            # Padded so that a traceback's line numbers are the page's.
            code = compile("\n" * (b.line - 1) + b.code, str(page), "exec")
            exec(code, namespace)
    finally:
        for name in modules:  # a module of the reader's, imported from tmp_path
            sys.modules.pop(name, None)
        import matplotlib.pyplot as plt

        plt.close("all")


def _command_lines(block: Block) -> list[tuple[int, list[str]]]:
    """Return the ``nngraph ...`` command lines of a bash block (continuations joined)."""
    out = []
    lines = block.code.splitlines()
    i = 0
    while i < len(lines):
        start, text = i, lines[i]
        while text.endswith("\\") and i + 1 < len(lines):
            i += 1
            text = text[:-1] + " " + lines[i]
        i += 1
        words = shlex.split(text, comments=True)
        if words and words[0] == "nngraph":
            out.append((block.line + start, words[1:]))
    return out


def _bash_commands() -> list:
    params = []
    for page in PAGES:
        for b in blocks(page):
            if b.lang in ("bash", "sh", "console", "shell"):
                for line, argv in _command_lines(b):
                    params.append(pytest.param(argv, id=f"{_page_id(page)}:{line}"))
    return params


@pytest.mark.parametrize("argv", _bash_commands())
def test_shell_commands_parse(argv):
    from nngraph.cli._parser import build_parser

    args = build_parser().parse_args(argv)
    assert args.command == argv[0]


def test_fences_are_closed_and_markers_precede_blocks():
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        fences = [s for s in text.splitlines() if _FENCE.match(s)]
        assert len(fences) % 2 == 0, f"{_page_id(page)}: a code fence is not closed"
        found = blocks(page)
        skipped = [b for b in found if b.skip]
        assert all(b.lang == "python" for b in skipped), f"{_page_id(page)}: no-test on non-Python"
        assert text.count("<!-- file:") == sum(bool(b.file) for b in found), _page_id(page)
        assert text.count(NO_TEST) == len(skipped), f"{_page_id(page)}: a stray no-test comment"


# ---------------------------------------------------------------- docs/cli.md


def _sections(page: Path) -> dict[str, str]:
    """Split a page into its ``## `` sections, by heading."""
    out: dict[str, str] = {}
    heading = ""
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
        out[heading] = out.get(heading, "") + line + "\n"
    return out


def _subcommands():
    import argparse

    from nngraph.cli._parser import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def test_cli_page_names_every_subcommand_and_option():
    sections = _sections(ROOT / "docs" / "cli.md")
    missing, stale = [], []
    for name, parser in _subcommands().items():
        heading = next((h for h in sections if re.search(rf"`nngraph {name}`", h)), None)
        if heading is None:
            missing.append(f"a '## `nngraph {name}`' section")
            continue
        text = sections[heading]
        options = {o for a in parser._actions for o in a.option_strings} - {"-h", "--help"}
        for option in sorted(options):
            if not re.search(rf"`{re.escape(option)}(?![\w-])", text):
                missing.append(f"{option} of nngraph {name}")
        # and the other way round: every option the section names is one of the command's
        named = set(re.findall(r"`(--[\w-]+)", text))
        stale += [f"{o} of nngraph {name}" for o in sorted(named - options)]
    assert not missing, "docs/cli.md lacks: " + ", ".join(missing)
    assert not stale, "docs/cli.md names options that do not exist: " + ", ".join(stale)


# ---------------------------------------------------------------- docs/study.md


def _toml_default(value) -> str:
    from nngraph.pipeline._config import _toml_value

    return "(none)" if value is None else _toml_value(value)


def test_study_page_lists_every_option_with_its_default_and_flag():
    from nngraph.pipeline import StudyConfig

    text = (ROOT / "docs" / "study.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| `([^`]*)` \| ([^|]*) \|", text, re.MULTILINE)
    documented = {name: (default, flag.strip()) for name, default, flag in rows}
    fields = dataclasses.fields(StudyConfig)
    assert [name for name, _, _ in rows] == [f.name for f in fields]
    run = _subcommands()["run"]
    flags = {a.dest: a.option_strings[0] for a in run._actions if a.option_strings}
    for f in fields:
        default, flag = documented[f.name]
        assert default == _toml_default(f.default), f.name
        expected = f"`{flags[f.name]}`" if f.name in flags else "-"
        assert flag == expected, f.name


# ---------------------------------------------------------------- links

#: Pages linked before they exist (none now; docs/benchmarks.md is written by
#: ``python -m benchmarks``).
TO_COME: set[str] = set()


def _prose(page: Path) -> list[str]:
    """Return the page's lines outside code blocks."""
    out, inside = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            inside = not inside
        elif not inside:
            out.append(line)
    return out


def _anchors(page: Path) -> set[str]:
    """Return GitHub's anchors of a page's headings."""
    out = set()
    for line in _prose(page):
        if line.startswith("#"):
            text = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return out


def test_links_between_pages_resolve():
    broken = []
    for page in PAGES:
        for line in _prose(page):
            for target in re.findall(r"\]\(([^)\s]+)\)", line):
                if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                    continue
                path, _, anchor = target.partition("#")
                linked = (page.parent / path).resolve() if path else page
                if linked.name in TO_COME and not linked.exists():
                    continue
                if not linked.exists():
                    broken.append(f"{_page_id(page)}: {target} (no such file)")
                elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                    broken.append(f"{_page_id(page)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)
