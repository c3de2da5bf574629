"""Render the report's document as one self-contained HTML file.

Every picture is embedded as a base64 PNG and the style sheet is inline: the file opens
offline and names no external resource (no stylesheet, script, font or image to fetch).
Fonts are the reader's own system fonts.
"""

from __future__ import annotations

import base64
import html
import struct
from pathlib import Path

from ._report_document import (
    Block,
    Bullets,
    Callout,
    CodeBlock,
    Document,
    Figure,
    Inline,
    Mono,
    Paragraph,
    Section,
    Strong,
    Table,
)

__all__ = ["render_html"]

_CSS = """
:root {
  --ink: #1d232b; --muted: #5c6673; --line: #dfe3e8; --soft: #f5f7f9;
  --accent: #2563a8; --highlight: #fff0c2;
}
* { box-sizing: border-box; }
body {
  margin: 0; background: #fff; color: var(--ink);
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue",
    Arial, "Noto Sans", "DejaVu Sans", sans-serif;
}
main { max-width: 1080px; margin: 0 auto; padding: 2rem 1.75rem 4rem; }
h1 { font-size: 2rem; line-height: 1.2; margin: 0 0 .25rem; }
h2 {
  font-size: 1.5rem; margin: 2.75rem 0 .75rem; padding-bottom: .3rem;
  border-bottom: 2px solid var(--line);
}
h3 { font-size: 1.2rem; margin: 2rem 0 .5rem; }
h4 { font-size: 1.05rem; margin: 1.5rem 0 .4rem; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
p { margin: .55rem 0; }
p.subtitle { color: var(--muted); margin: 0 0 1.5rem; }
p.muted { color: var(--muted); font-size: .94rem; }
p.lead { font-size: 1.06rem; }
ul { margin: .4rem 0 .8rem; padding-left: 1.4rem; }
li { margin: .2rem 0; }
nav.toc {
  background: var(--soft); border: 1px solid var(--line); border-radius: 6px;
  padding: .7rem 1.2rem .8rem; margin: 0 0 1.5rem;
}
nav.toc > strong { display: block; margin-bottom: .25rem; }
nav.toc ol { margin: 0; padding-left: 1.3rem; }
nav.toc li { margin: .1rem 0; }
nav.toc .sub { font-size: .88rem; color: var(--muted); }
nav.toc .sub a { margin-right: .2rem; }
.callout {
  border-left: 6px solid #888; background: var(--soft); border-radius: 4px;
  padding: .9rem 1.2rem; margin: 1rem 0 1.4rem;
}
.callout .title { font-size: 1.4rem; font-weight: 700; margin-bottom: .2rem; }
.callout.yes { border-color: #2e8b57; background: #ebf6ef; }
.callout.partly { border-color: #d49a00; background: #fff6de; }
.callout.no { border-color: #a23b2f; background: #fbeeed; }
.table-wrap { overflow-x: auto; margin: .5rem 0 1.2rem; }
table { border-collapse: collapse; font-size: .9rem; }
p.caption { color: var(--muted); font-size: .9rem; margin: 0 0 .35rem; }
th, td {
  border-bottom: 1px solid var(--line); padding: .32rem .55rem; text-align: left;
  vertical-align: top;
}
th { background: var(--soft); font-weight: 600; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
td.hl { background: var(--highlight); font-weight: 600; }
td.muted { color: var(--muted); }
td small { color: var(--muted); font-size: .8rem; font-weight: normal; }
table.keys td:first-child { color: var(--muted); white-space: nowrap; }
.swatch {
  display: inline-block; width: .8em; height: .8em; border-radius: 50%;
  margin-right: .45em; vertical-align: -.05em;
}
figure { margin: 1.2rem 0 1.8rem; }
figure img {
  display: block; max-width: 100%; height: auto; border: 1px solid var(--line);
  border-radius: 4px;
}
figcaption { color: var(--muted); font-size: .9rem; margin-top: .45rem; max-width: 60rem; }
figcaption strong { color: var(--ink); }
pre {
  background: var(--soft); border: 1px solid var(--line); border-radius: 4px;
  padding: .75rem 1rem; overflow-x: auto; font-size: .84rem; line-height: 1.45;
}
code {
  font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace;
  font-size: .9em;
}
footer { color: var(--muted); font-size: .85rem; margin-top: 3rem; }
@media print { nav.toc { display: none; } h2 { break-before: page; } }
""".strip()


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _inline(parts: tuple[Inline, ...]) -> str:
    out = []
    for part in parts:
        if isinstance(part, Strong):
            out.append(f"<strong>{_e(part.text)}</strong>")
        elif isinstance(part, Mono):
            out.append(f"<code>{_e(part.text)}</code>")
        else:
            out.append(_e(part))
    return "".join(out)


def _png_size(data: bytes) -> tuple[int, int] | None:
    """Return a PNG's (width, height) from its header, or None if it is not a PNG."""
    if len(data) >= 24 and data[:8] == b"\x89PNG\r\n\x1a\n":
        return struct.unpack(">II", data[16:24])
    return None


def _figure(block: Figure, folder: Path) -> str:
    data = (folder / block.path).read_bytes()
    size = _png_size(data)
    dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
    src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    caption = f"<strong>{_e(block.title)}.</strong> {_e(block.caption)}".rstrip()
    return (
        f'<figure><img src="{src}" alt="{_e(block.title)}"{dims}>'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _table(block: Table) -> str:
    keys = not any(block.header)
    out = [
        '<div class="table-wrap"><table class="keys">'
        if keys
        else '<div class="table-wrap"><table>'
    ]
    if block.caption:  # above the table, as wide as the text (a <caption> is as narrow as it)
        out.insert(1, f'<p class="caption">{_e(block.caption)}</p>')
    if not keys:
        heads = "".join(
            (f'<th class="num">{_e(h)}</th>' if i in block.numeric else f"<th>{_e(h)}</th>")
            for i, h in enumerate(block.header)
        )
        out.append(f"<thead><tr>{heads}</tr></thead>")
    out.append("<tbody>")
    for row in block.rows:
        cells = []
        for i, cell in enumerate(row):
            classes = [
                name
                for name, on in (
                    ("num", i in block.numeric),
                    ("hl", cell.highlight),
                    ("muted", cell.muted),
                )
                if on
            ]
            attr = f' class="{" ".join(classes)}"' if classes else ""
            swatch = (
                f'<span class="swatch" style="background:{_e(cell.swatch)}"></span>'
                if cell.swatch
                else ""
            )
            detail = f"<br><small>{_e(cell.detail)}</small>" if cell.detail else ""
            cells.append(f"<td{attr}>{swatch}{_e(cell.text)}{detail}</td>")
        out.append(f"<tr>{''.join(cells)}</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _block(block: Block, folder: Path) -> str:
    if isinstance(block, Paragraph):
        tone = f' class="{block.tone}"' if block.tone else ""
        return f"<p{tone}>{_inline(block.parts)}</p>"
    if isinstance(block, Bullets):
        items = "".join(f"<li>{_inline(item)}</li>" for item in block.items)
        return f"<ul>{items}</ul>"
    if isinstance(block, Callout):
        return (
            f'<div class="callout {_e(block.tone)}"><div class="title">{_e(block.title)}</div>'
            f"<div>{_inline(block.parts)}</div></div>"
        )
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        return _figure(block, folder)
    if isinstance(block, CodeBlock):
        return f"<pre><code>{_e(block.text)}</code></pre>"
    raise TypeError(f"unknown block {type(block).__name__}")


def _toc(document: Document) -> str:
    items = []
    for section in document.sections:
        entry = f'<a href="#{_e(section.anchor)}">{_e(section.title)}</a>'
        if section.subsections:
            subs = " · ".join(
                f'<a href="#{_e(s.anchor)}">{_e(s.title.lower())}</a>' for s in section.subsections
            )
            entry += f'<br><span class="sub">{subs}</span>'
        items.append(f"<li>{entry}</li>")
    return f'<nav class="toc"><strong>Contents</strong><ol>{"".join(items)}</ol></nav>'


def _section(section: Section, level: int, folder: Path) -> str:
    out = [f'<section id="{_e(section.anchor)}">', f"<h{level}>{_e(section.title)}</h{level}>"]
    out += [_block(b, folder) for b in section.blocks]
    out += [_section(s, min(level + 1, 6), folder) for s in section.subsections]
    out.append("</section>")
    return "\n".join(out)


def render_html(document: Document, folder: Path) -> str:
    """Return the document as one self-contained HTML page.

    Parameters
    ----------
    document : Document
        The report.
    folder : Path
        The output folder: figure paths are relative to it; their PNGs are embedded.

    Returns
    -------
    str
    """
    body = "\n".join(_section(s, 2, folder) for s in document.sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(document.title)}</title>\n<style>\n{_CSS}\n</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{_e(document.title)}</h1>\n"
        f'<p class="subtitle">{_e(document.subtitle)}</p>\n'
        f"{_toc(document)}\n{body}\n"
        "<footer>Written by nngraph. Every number here is also in the JSON and CSV files "
        "of this folder (see Files).</footer>\n"
        "</main>\n</body>\n</html>\n"
    )
