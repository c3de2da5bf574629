"""Render the report's document as Markdown (``report.md``), linking ``figures/*.png``.

The same sections as the HTML report, in GitHub-flavoured Markdown: pipe tables (a
highlighted cell in bold), fenced code, and images linked by their path in the folder.
"""

from __future__ import annotations

import re

from ._report_document import (
    Block,
    Bullets,
    Callout,
    Cell,
    CodeBlock,
    Document,
    Figure,
    Inline,
    Mono,
    Paragraph,
    Strong,
    Table,
)

__all__ = ["github_slug", "render_markdown"]

_SPECIAL = re.compile(r"([\\`*<>])")


def _e(text: str) -> str:
    return _SPECIAL.sub(r"\\\1", text)


def github_slug(title: str) -> str:
    """Return the anchor GitHub gives a heading.

    Examples
    --------
    >>> github_slug("Weight graph"), github_slug("Library versions: Python & co.")
    ('weight-graph', 'library-versions-python--co')
    """
    text = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return text.replace(" ", "-")


def _inline(parts: tuple[Inline, ...]) -> str:
    out = []
    for part in parts:
        if isinstance(part, Strong):
            out.append(f"**{_e(part.text)}**")
        elif isinstance(part, Mono):
            out.append(f"`{part.text}`" if "`" not in part.text else f"`` {part.text} ``")
        else:
            out.append(_e(part))
    return "".join(out)


def _cell(cell: Cell) -> str:
    text = _e(cell.text + (f" ({cell.detail})" if cell.detail else ""))
    text = text.replace("|", "\\|").replace("\n", " ")
    if cell.highlight and text:
        return f"**{text}**"
    return text


def _table(block: Table) -> str:
    lines = [f"*{_e(block.caption)}*", ""] if block.caption else []
    header = [_e(h) or " " for h in block.header]
    lines.append("| " + " | ".join(header) + " |")
    lines.append(
        "|" + "|".join("---:" if i in block.numeric else "---" for i in range(len(header))) + "|"
    )
    for row in block.rows:
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(lines)


def _block(block: Block) -> str:
    if isinstance(block, Paragraph):
        text = _inline(block.parts)
        return f"*{text}*" if block.tone == "muted" and "*" not in text else text
    if isinstance(block, Bullets):
        return "\n".join(f"- {_inline(item)}" for item in block.items)
    if isinstance(block, Callout):
        return f"> **{_e(block.title)}** {_inline(block.parts)}"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        caption = f"*{_e(block.title)}.* {_e(block.caption)}".rstrip()
        return f"![{_e(block.title)}]({block.path})\n\n{caption}"
    if isinstance(block, CodeBlock):
        fence = "````" if "```" in block.text else "```"
        return f"{fence}{block.language}\n{block.text}\n{fence}"
    raise TypeError(f"unknown block {type(block).__name__}")


def render_markdown(document: Document) -> str:
    """Return the document as Markdown.

    Parameters
    ----------
    document : Document
        The report.

    Returns
    -------
    str
    """
    parts = [f"# {_e(document.title)}", f"*{_e(document.subtitle)}*"]
    toc = [f"- [{_e(s.title)}](#{github_slug(s.title)})" for s in document.sections]
    parts.append("**Contents**\n\n" + "\n".join(toc))
    for level, section in document.walk():
        parts.append(f"{'#' * min(level, 6)} {_e(section.title)}")
        parts += [_block(b) for b in section.blocks]
    return "\n\n".join(parts) + "\n"
