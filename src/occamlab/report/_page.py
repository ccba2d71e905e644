"""An HTML report: sections of text, tables and PNG figures, written atomically.

The page is self-contained (figures are embedded as base64) and the PNGs are also kept beside it
in ``figures/`` so they can be used on their own.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from occamlab._io import write_text, write_with

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #444}h2{margin-top:2em;border-bottom:1px solid #bbb}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;
text-align:right}th{background:#f3f3f3}figure{margin:1em 0}img{max-width:100%}
figcaption{font-size:.9em;color:#555}.note{background:#fff8e0;padding:.5em 1em}
"""


class Section:
    """One section of the report: call ``text``, ``table``, ``figure`` in reading order."""

    def __init__(self, key: str, title: str, figures_dir: Path):
        self.key, self.title, self.figures_dir = key, title, figures_dir
        self.parts: list[str] = []
        self.findings: list[str] = []

    def finding(self, paragraph: str) -> None:
        """What the section's numbers show, in one or two sentences computed from them: shown
        highlighted in the section and collected into the summary at the top of the page."""
        self.findings.append(paragraph)
        self.text(paragraph, note=True)

    def text(self, paragraph: str, *, note: bool = False) -> None:
        """A paragraph of plain text (escaped). ``note=True`` highlights it."""
        cls = ' class="note"' if note else ""
        self.parts.append(f"<p{cls}>{html.escape(paragraph)}</p>")

    def table(self, rows: Sequence[dict[str, Any]], *, caption: str = "",
              digits: int = 4) -> None:
        """A table from a list of dicts with the same keys (the header)."""
        if not rows:
            return
        head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])

        def fmt(v: Any) -> str:
            return f"{v:.{digits}g}" if isinstance(v, float) else str(v)

        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for v in r.values()) + "</tr>"
            for r in rows
        )
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self.parts.append(f"<table>{cap}<tr>{head}</tr>{body}</table>")

    def figure(self, fig: Any, name: str, *, caption: str = "") -> Path:
        """Save a matplotlib figure as ``figures/<key>_<name>.png``, embed it, and close it."""
        import matplotlib.pyplot as plt

        path = self.figures_dir / f"{self.key}_{name}.png"
        write_with(path, lambda p: fig.savefig(p, dpi=110, bbox_inches="tight", format="png"))
        plt.close(fig)
        data = base64.b64encode(path.read_bytes()).decode()
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self.parts.append(
            f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{data}">{cap}'
            "</figure>"
        )
        return path

    def html(self) -> str:
        return f'<section id="{self.key}"><h2>{html.escape(self.title)}</h2>' + "".join(
            self.parts) + "</section>"


def render_page(title: str, intro: str, fragments: Sequence[str], *,
                header: Sequence[tuple[str, str]] = (),
                contents: Sequence[tuple[str, str, float | None]] = (),
                findings: Sequence[tuple[str, str]] = ()) -> str:
    """The whole HTML document around section fragments.

    Arguments:
        header: (name, value) rows of the run's settings (version, date, seeds, command).
        contents: (key, title, seconds) of each section, for the table of contents.
        findings: (section title, finding) pairs for the summary at the top.
    """
    parts = [f"<p>{html.escape(intro)}</p>"]
    if header:
        parts.append("<table class='header'>" + "".join(
            f"<tr><th>{html.escape(k)}</th><td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in header) + "</table>")
    if findings:
        parts.append("<h2>Summary of findings</h2><ul>" + "".join(
            f"<li><b>{html.escape(t)}</b>: {html.escape(f)}</li>" for t, f in findings)
            + "</ul>")
    if contents:
        parts.append("<h2>Contents</h2><ol>" + "".join(
            f"<li><a href='#{html.escape(k)}'>{html.escape(t)}</a>"
            + (f" ({s:.0f} s)" if s is not None else "") + "</li>" for k, t, s in contents)
            + "</ol>")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"{''.join(parts)}{''.join(fragments)}</body></html>"
    )


def write_page(path: Path, title: str, intro: str, fragments: Sequence[str], **kw: Any) -> Path:
    return write_text(path, render_page(title, intro, fragments, **kw))
