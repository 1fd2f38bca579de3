"""The report as one self-contained HTML file.

Images are PNG ``data:`` URIs and the style is inline; the page has no
script and its Content-Security-Policy forbids loading anything else, so it
opens from disk with no server and no network.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from airsweep.sweep_report.figures import Figure

#: Nothing but inline style and data: images may load.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #212121; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ddd; margin-top: 2em; }
.subtitle, .note { color: #616161; }
.note { font-style: italic; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #e0e0e0; padding: 0.25em 0.6em; text-align: left; }
th { background: #f5f5f5; }
figure { margin: 1.2em 0; }
figcaption { font-weight: 600; margin-bottom: 0.3em; }
img { max-width: 100%; height: auto; }
nav a { margin-right: 1em; }
"""


@dataclass(frozen=True)
class Table:
    """A table of text cells.

    Attributes:
        columns: Header cells (all empty: no header row).
        rows: Body rows, one cell per column.
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Section:
    """One section of the report: a title, then an optional note, tables and figures.

    Attributes:
        title: The heading (also the anchor of the navigation bar).
        note: One line under the heading (e.g. why a part is missing).
        tables: Tables, shown first.
        figures: Figures, in order.
    """

    title: str
    note: str | None = None
    tables: tuple[Table, ...] = ()
    figures: tuple[Figure, ...] = field(default_factory=tuple)


def anchor(title: str) -> str:
    """The HTML id of a section title."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section"


def render_table(table: Table) -> str:
    """A table as HTML, every cell escaped; no header row when every column name is empty."""
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in table.rows
    )
    thead = f"<thead><tr>{head}</tr></thead>" if any(table.columns) else ""
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def render_figure(figure: Figure) -> str:
    """A figure as HTML: its caption, its PNG inline (if drawn) and its note."""
    parts = [f"<figure><figcaption>{escape(figure.title)}</figcaption>"]
    if figure.png is not None:
        data = base64.b64encode(figure.png).decode("ascii")
        parts.append(f'<img src="data:image/png;base64,{data}" alt="{escape(figure.title)}">')
    if figure.note:
        parts.append(f'<p class="note">{escape(figure.note)}</p>')
    return "".join(parts) + "</figure>"


def render_section(section: Section) -> str:
    """A section as HTML."""
    parts = [f'<section id="{anchor(section.title)}"><h2>{escape(section.title)}</h2>']
    if section.note:
        parts.append(f'<p class="note">{escape(section.note)}</p>')
    parts += [render_table(t) for t in section.tables]
    parts += [render_figure(f) for f in section.figures]
    return "\n".join(parts) + "</section>"


def render_page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The whole report page.

    Args:
        title: The page's title and heading.
        subtitle: One line under the heading.
        sections: The sections, in order (each gets a link in the navigation bar).

    Returns:
        A complete HTML document.
    """
    nav = " ".join(f'<a href="#{anchor(s.title)}">{escape(s.title)}</a>' for s in sections)
    body = "\n".join(render_section(s) for s in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n"
        f'<body><h1>{escape(title)}</h1><p class="subtitle">{escape(subtitle)}</p>'
        f"<nav>{nav}</nav>\n{body}\n</body></html>\n"
    )
