"""What both reports share: figures drawn off-screen as PNG, and the self-contained HTML page.

One stylesheet, tables, and images inlined as base64: a page needs no external CSS, JS or images.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Sequence

from matplotlib.figure import Figure

#: Resolution of every PNG the reports write.
DPI = 110

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1300px;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 2px solid #ddd; }
.meta, .note { color: #555; font-size: 0.9em; }
.answer, .verdict { background: #eef6ee; border-left: 6px solid #2ca02c; padding: 0.6em 1em; margin: 1em 0; }
.answer li { margin: 0.4em 0; } .verdict { font-size: 1.15em; }
.verdict.none { background: #fbeeee; border-left-color: #c33; }
.caveats { background: #fff6e5; border-left: 6px solid #ff9f1a; padding: 0.6em 1em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; vertical-align: top; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
table.points td:nth-child(2), table.points th:nth-child(2) { text-align: left; }
td small { color: #555; } tr.flagged td { background: #fdecea; }
tr.recommended td { background: #fff6c8; font-weight: 600; }
figure { margin: 1.2em 0; } img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
code { background: #f4f4f4; padding: 0 0.25em; }
"""


def new_figure(*grid: int, figsize: tuple[float, float], **kwargs: object) -> tuple[Figure, object]:
    """A Figure of its own and its axes (no pyplot: no global state, no GUI backend, nothing to close)."""
    figure = Figure(figsize=figsize)
    return figure, figure.subplots(*grid, **kwargs)


def to_png(figure: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def embedded_png(png: bytes, alt: str) -> str:
    """An ``<img>`` that carries the PNG itself, so the page needs no other file."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    row_classes: Sequence[str | None] | None = None,
    table_class: str | None = None,
) -> str:
    """An HTML table. The header is text (escaped here); cells are HTML, so callers escape text
    (``html.escape``) and may add markup."""
    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    body = []
    for row, css in zip(rows, row_classes or [None] * len(rows), strict=True):
        attribute = f' class="{css}"' if css else ""
        body.append(f"<tr{attribute}>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    attribute = f' class="{table_class}"' if table_class else ""
    rows_html = "\n".join(body)
    return f"<table{attribute}><thead><tr>{head}</tr></thead><tbody>\n{rows_html}\n</tbody></table>"


def page(title: str, body: Iterable[str]) -> str:
    """A whole HTML document around ``body`` (HTML parts), with the shared stylesheet."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{CSS}</style></head><body>",
            *body,
            "</body></html>",
        ]
    )
