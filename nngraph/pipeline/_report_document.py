"""The report as one document of sections and blocks, rendered as HTML and as Markdown.

The report's content is built once (:mod:`._report`, :mod:`._report_graph`) from these
small objects; :mod:`._report_html` and :mod:`._report_markdown` render the same
document, so the two files never say different things. Text is plain: every inline
piece is a string, :class:`Strong` or :class:`Mono`, and each renderer escapes it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Block",
    "Bullets",
    "Callout",
    "Cell",
    "CodeBlock",
    "Document",
    "Figure",
    "Inline",
    "Mono",
    "Paragraph",
    "Pictures",
    "Section",
    "Strong",
    "Table",
    "format_number",
    "format_p",
    "format_seconds",
    "not_run",
    "picture_failed",
]


@dataclass(frozen=True)
class Strong:
    """Emphasised text."""

    text: str


@dataclass(frozen=True)
class Mono:
    """Code, a file name or an option, in a monospace font."""

    text: str


Inline = str | Strong | Mono


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of inline pieces; ``tone`` ``"muted"`` for asides, ``"lead"`` to open."""

    parts: tuple[Inline, ...]
    tone: str = ""

    @classmethod
    def of(cls, *parts: Inline, tone: str = "") -> Paragraph:
        """Build a paragraph from its pieces."""
        return cls(tuple(parts), tone)


@dataclass(frozen=True)
class Bullets:
    """A bulleted list; each item is a tuple of inline pieces."""

    items: tuple[tuple[Inline, ...], ...]

    @classmethod
    def of(cls, items: Sequence[Inline | Sequence[Inline]]) -> Bullets:
        """Build a list from items that are a piece or a sequence of pieces."""
        return cls(
            tuple(
                (item,) if isinstance(item, (str, Strong, Mono)) else tuple(item) for item in items
            )
        )


@dataclass(frozen=True)
class Callout:
    """A framed statement (the verdict); ``tone`` is ``"yes"``, ``"partly"`` or ``"no"``."""

    title: str
    parts: tuple[Inline, ...]
    tone: str = ""


@dataclass(frozen=True)
class Cell:
    """A table cell: its text, a smaller second line, highlighting, a colour swatch."""

    text: str
    highlight: bool = False
    swatch: str | None = None
    muted: bool = False
    detail: str = ""


@dataclass(frozen=True)
class Table:
    """A table of cells; ``numeric`` columns are right-aligned.

    Attributes
    ----------
    header : tuple of str
    rows : tuple of tuple of Cell
    numeric : frozenset of int
        Indices of the columns to right-align.
    caption : str
        Said above the table.
    """

    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    numeric: frozenset[int] = frozenset()
    caption: str = ""

    @classmethod
    def of(
        cls,
        header: Sequence[str],
        rows: Sequence[Sequence[Cell | str]],
        *,
        numeric: Sequence[int] = (),
        caption: str = "",
    ) -> Table:
        """Build a table; plain strings become plain cells."""
        return cls(
            tuple(header),
            tuple(tuple(c if isinstance(c, Cell) else Cell(str(c)) for c in row) for row in rows),
            frozenset(numeric),
            caption,
        )


@dataclass(frozen=True)
class Figure:
    """A picture of the report: ``path`` relative to the output folder (``figures/...``)."""

    path: str
    title: str
    caption: str = ""


@dataclass(frozen=True)
class CodeBlock:
    """Preformatted text (the configuration)."""

    text: str
    language: str = ""


Block = Paragraph | Bullets | Callout | Table | Figure | CodeBlock


@dataclass
class Section:
    """A titled part of the report: blocks, then subsections.

    Attributes
    ----------
    anchor : str
        Its id in the HTML (``#anchor``); unique in the document.
    title : str
    blocks : list of Block
    subsections : list of Section
    """

    anchor: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    subsections: list[Section] = field(default_factory=list)

    def add(self, *blocks: Block | None) -> Section:
        """Append blocks (None is skipped: a picture not drawn); return the section."""
        self.blocks.extend(b for b in blocks if b is not None)
        return self

    def walk(self, level: int = 2) -> Iterator[tuple[int, Section]]:
        """Yield ``(heading level, section)`` for this section and every subsection."""
        yield level, self
        for sub in self.subsections:
            yield from sub.walk(level + 1)


@dataclass
class Document:
    """The whole report: a title, a line under it, and the sections in order."""

    title: str
    subtitle: str
    sections: list[Section] = field(default_factory=list)

    def walk(self) -> Iterator[tuple[int, Section]]:
        """Yield ``(heading level, section)`` for every section, depth first."""
        for section in self.sections:
            yield from section.walk()

    def figures(self) -> list[Figure]:
        """Return every figure of the document, in order."""
        return [b for _, s in self.walk() for b in s.blocks if isinstance(b, Figure)]


class Pictures:
    """Draw pictures into ``folder/figures`` as figure blocks, keeping going when one fails.

    ``draw(name, make, title, caption)`` calls ``make(path)`` for
    ``figures/<prefix>-<name>.png`` and returns the :class:`Figure`; if ``make`` raises,
    a paragraph saying so (the message also goes to ``failures``); if pictures are
    disabled (no matplotlib), None, which :meth:`Section.add` skips. With a ``queue``
    (:class:`~nngraph.pipeline._report_drawing.PictureQueue`), ``make`` is queued and
    the figure returned at once; the queue draws it later.
    """

    def __init__(
        self,
        folder: Path,
        prefix: str,
        failures: list[str],
        enabled: bool = True,
        queue: Any = None,
    ) -> None:
        self.folder, self.prefix, self.failures, self.enabled = folder, prefix, failures, enabled
        self.queue = queue  # a PictureQueue: draw later, all together

    def draw(
        self, name: str, make: Callable[[Path], Any], title: str, caption: str = ""
    ) -> Figure | Paragraph | None:
        """Call ``make(path)``; return the figure, a paragraph saying it failed, or None."""
        if not self.enabled:
            return None
        relative = f"figures/{self.prefix}-{name}.png"
        if self.queue is not None:
            figure = Figure(relative, title, caption)
            self.queue.add(figure, make, self.folder / relative, relative)
            return figure
        try:
            make(self.folder / relative)
        except Exception as exc:  # noqa: BLE001 - one picture must not lose the report
            return picture_failed(relative, f"{type(exc).__name__}: {exc}", self.failures)
        return Figure(relative, title, caption)


def picture_failed(relative: str, error: str, failures: list[str]) -> Paragraph:
    """Say that picture ``relative`` could not be drawn (also into ``failures``)."""
    message = f"picture {relative} could not be drawn: {error}"
    failures.append(message)
    return Paragraph.of(message, tone="muted")


def not_run(option: str, what: str) -> Paragraph:
    """Say that a stage did not run, and which option skipped it."""
    return Paragraph.of(Strong("Not run"), f": {what} (", Mono(option), ").", tone="muted")


# ------------------------------------------------------------------ number formats


def format_p(p: float | None) -> str:
    """Format a p-value: two significant digits, scientific below 0.001.

    Examples
    --------
    >>> format_p(0.04321), format_p(0.00012), format_p(float("nan"))
    ('0.043', '1.2e-04', 'n/a')
    """
    if p is None or not math.isfinite(p):
        return "n/a"
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


def format_number(x: float | None, digits: int = 3, *, sign: bool = False) -> str:
    """Format a number with ``digits`` significant digits (``n/a`` when missing or NaN).

    Examples
    --------
    >>> format_number(0.123456), format_number(-0.0001234, sign=True), format_number(None)
    ('0.123', '-0.000123', 'n/a')
    >>> format_number(123.4, 2, sign=True), format_number(2.5e-05, 2)
    ('+123', '2.5e-05')
    """
    if x is None or not math.isfinite(x):
        return "n/a"
    if 1 <= abs(x) < 1e6:  # no exponent for large numbers: 123, not 1.2e+02
        digits = max(digits, int(math.log10(abs(x))) + 1)
    return f"{x:+.{digits}g}" if sign else f"{x:.{digits}g}"


def format_seconds(seconds: float) -> str:
    """Format a duration: ``0.42 s``, ``12.3 s``, ``4 min 05 s``.

    Examples
    --------
    >>> format_seconds(0.4213), format_seconds(12.34), format_seconds(245.0)
    ('0.42 s', '12.3 s', '4 min 05 s')
    """
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"
