"""Building blocks of every hone page: escaping, the CSP, cards, tables, sections, chart collection."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape
from typing import Any

from hone.report import format as fmt
from hone.report.figures import Chart, scope_ids

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


def e(value: Any) -> str:
    return escape(str(value), quote=True)


class Charts:
    """Numbers the charts (ids must be unique on the page) and keeps one failed chart from losing the rest."""

    def __init__(self) -> None:
        self.count = 0

    def figure(self, make: Callable[[], Chart | None]) -> str:
        try:
            chart = make()
        except Exception as error:  # a report missing one chart is more useful than no report
            return f'<p class="warning">Chart unavailable: {e(type(error).__name__)}: {e(error)}</p>'
        if chart is None:
            return ""
        self.count += 1
        caption = f"<figcaption>{e(chart.caption)}</figcaption>" if chart.caption else ""
        return f"<figure>{scope_ids(chart.svg, f'c{self.count}')}{caption}</figure>"


def card_html(key: str, value: str, sub: str = "") -> str:
    sub_html = f'<div class="s">{sub}</div>' if sub else ""
    return f'<div class="card"><div class="k">{e(key)}</div><div class="v">{e(value)}</div>{sub_html}</div>'


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def cell_html(value: Any, numeric: bool) -> str:
    align = ' class="num"' if numeric else ""
    if is_number(value):
        return f"<td{align}>{e(fmt.number(value))}</td>"
    if value is None:
        return f"<td{align}>{fmt.MISSING}</td>"
    return f"<td{align}>{e(value)}</td>"


def table_html(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], highlight: int | None = None
) -> str:
    numeric = [
        bool(rows) and all(is_number(r[j]) or r[j] is None for r in rows) for j in range(len(columns))
    ]
    head = "".join(
        f'<th class="num">{e(c)}</th>' if n else f"<th>{e(c)}</th>"
        for c, n in zip(columns, numeric, strict=False)
    )
    body = "".join(
        f"<tr{' class=best' if i == highlight else ''}>"
        f"{''.join(cell_html(v, n) for v, n in zip(row, numeric, strict=True))}</tr>"
        for i, row in enumerate(rows)
    )
    caption = f"<caption>{e(title)}</caption>" if title else ""
    table = f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{table}</div>'
