"""The report as one self-contained HTML page: inline CSS, inline SVG charts, a tiny inline script.

Nothing in the page refers to another resource, and a Content-Security-Policy forbids any fetch, so it
opens offline and leaks nothing when mailed around. Every string that came from the user is escaped.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hone.report import format as fmt
from hone.report.analysis_charts import (
    bar_chart,
    importance_title,
    interval_chart,
    residual_chart,
    slice_chart,
)
from hone.report.assets import COUNT_SCRIPT, CSS, ERROR_SCRIPT
from hone.report.kit import CSP, Charts, card_html, e, table_html
from hone.report.model import (
    DropPanel,
    ErrorSlices,
    ImportancePanel,
    ReportData,
    SearchPanel,
    Table,
    TestPanel,
)
from hone.report.search_charts import comparison_chart, heatmap_chart, parameter_chart, train_vs_cv_chart

SECTIONS: dict[str, str] = {
    "search": "Hyperparameter search",
    "comparison": "Model comparison",
    "importances": "Feature importances",
    "drop": "Dropping features",
    "errors": "Error analysis",
    "test": "Test set evaluation",
}
MAX_RANKING_ROWS = 20


def _prose(value: str) -> str:
    """Escaped text where `backticks` become <code>: hints name commands to run."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", e(value))


def _section(key: str, body: str) -> str:
    return f'<section id="{key}"><h2>{e(SECTIONS[key])}</h2>\n{body}</section>'


def _missing(key: str, hints: dict[str, str]) -> str:
    return _section(key, f'<p class="note">{_prose(hints.get(key, "Not available yet."))}</p>')


def render_report(data: ReportData) -> str:
    """The whole report as one HTML string."""
    charts = Charts()
    parts = [
        _header(data),
        _toc(data),
        _search_section(data.searches, charts),
        _comparison_section(data.searches, charts),
        _importance_section(data.importances, data.hints, charts),
        _drop_section(data.drop, data.hints),
        _error_section(data.errors, data.hints, charts),
        _test_section(data.test, data.hints, charts),
        "<footer>Made by hone. This page is self-contained: it works offline and loads nothing.</footer>",
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>hone report: {e(data.project)}</title>\n<style>{CSS}</style>\n</head>\n"
        f'<body data-charts-expected="{charts.count}">\n<script>{ERROR_SCRIPT}</script>\n<main>\n'
        + "\n".join(part for part in parts if part)
        + f"\n</main>\n<script>{COUNT_SCRIPT}</script>\n</body>\n</html>\n"
    )


def write_report(data: ReportData, path: str | os.PathLike[str]) -> Path:
    """Render and write atomically: a reader sees the old file or the new one, never half of one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    page = render_report(data)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(page)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return target


# ---- header and table of contents -------------------------------------------------------------------


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{fmt.number(n)} {noun if n == 1 else plural or noun + 's'}"


def _header(data: ReportData) -> str:
    best = data.best_search()
    cards = []
    if best is not None:
        cards.append(
            card_html(
                f"Best CV {best.score_label}",
                f"{fmt.number(best.best_score)} ± {fmt.number(best.best_std)}",
                f"{e(best.model)}: {e(fmt.params(best.best_params))}",
            )
        )
    test = data.test
    if test is not None:
        interval = next(iter(test.headline_intervals().values()), None)
        sub = f"[{fmt.number(interval[0])}, {fmt.number(interval[1])}] {e(interval[2])}" if interval else ""
        cards.append(card_html(f"Test {test.label}", fmt.number(test.headline), sub))
    else:
        cards.append(card_html("Test set", "not evaluated", "the test set is still untouched"))
    candidates = sum(len(s.params) for s in data.searches)
    cards.append(
        card_html(
            "Candidates tried", fmt.number(candidates), _count(len(data.searches), "search", "searches")
        )
    )
    return (
        f"<header><h1>hone report: {e(data.project)}</h1>"
        f'<p class="meta">Generated {e(data.generated_at)}</p>'
        f'<div class="cards">{"".join(cards)}</div></header>'
    )


def _toc(data: ReportData) -> str:
    present = {
        "search": True,
        "comparison": True,
        "importances": data.importances is not None,
        "drop": data.drop is not None,
        "errors": data.errors is not None,
        "test": data.test is not None,
    }
    items = []
    for key, title in SECTIONS.items():
        missing = "" if present[key] else ' <span class="note">(not yet)</span>'
        sub = ""
        if key == "search":
            links = "".join(
                f'<li><a href="#search-{i}">{e(s.model)} ({e(s.strategy)})</a></li>'
                for i, s in enumerate(data.searches)
            )
            sub = f"<ol>{links}</ol>"
        items.append(f'<li><a href="#{key}">{e(title)}</a>{missing}{sub}</li>')
    return f'<nav class="toc"><strong>Contents</strong><ol>{"".join(items)}</ol></nav>'


# ---- tables -----------------------------------------------------------------------------------------


def _plain_table(table: Table) -> str:
    return table_html(table.title, table.columns, table.rows)


# ---- sections ---------------------------------------------------------------------------------------


def _search_section(searches: Sequence[SearchPanel], charts: Charts) -> str:
    return _section("search", "\n".join(_search_panel(i, s, charts) for i, s in enumerate(searches)))


def _search_panel(index: int, panel: SearchPanel, charts: Charts) -> str:
    folds = f", {panel.n_splits}-fold cross-validation" if panel.n_splits else ""
    lines = [
        f'<h3 id="search-{index}">{e(panel.model)}: {e(panel.strategy)} search</h3>',
        f"<p>{_count(len(panel.params), 'candidate')}{folds}. "
        f"Best: <strong>{e(fmt.params(panel.best_params))}</strong> with CV {e(panel.score_label)} "
        f"<strong>{fmt.number(panel.best_score)}</strong> ± {fmt.number(panel.best_std)}.</p>",
    ]
    lines += [f'<p class="callout">{_prose(note)}</p>' for note in panel.notes]
    lines.append(charts.figure(lambda: parameter_chart(panel)))
    lines.append(charts.figure(lambda: heatmap_chart(panel)))
    lines.append(charts.figure(lambda: train_vs_cv_chart(panel)))
    lines.append(_ranking(panel))
    return "\n".join(line for line in lines if line)


def _ranking(panel: SearchPanel) -> str:
    sign = 1.0 if panel.lower_is_better else -1.0
    order = sorted(
        range(len(panel.scores)),
        key=lambda i: (
            not math.isfinite(panel.scores[i]),
            sign * panel.scores[i] if math.isfinite(panel.scores[i]) else 0,
        ),
    )
    names = list(dict.fromkeys(name for p in panel.params for name in p))
    columns = ["rank", *names, f"CV {panel.score_label}", "± std"]
    if panel.train_scores is not None:
        columns.append(f"train {panel.score_label}")
    rows = []
    for rank, i in enumerate(order[:MAX_RANKING_ROWS], start=1):
        params = [fmt.param_value(panel.params[i][n]) if n in panel.params[i] else fmt.DEFAULT for n in names]
        row: list[Any] = [rank, *params, float(panel.scores[i]), float(panel.score_std[i])]
        if panel.train_scores is not None:
            row.append(float(panel.train_scores[i]))
        rows.append(row)
    shown = min(len(order), MAX_RANKING_ROWS)
    title = (
        f"Candidates, best first ({shown} of {len(order)})"
        if shown < len(order)
        else "Candidates, best first"
    )
    best_row = order.index(panel.best_index) if order.index(panel.best_index) < shown else None
    return table_html(title, columns, rows, highlight=best_row)


def _comparison_section(searches: Sequence[SearchPanel], charts: Charts) -> str:
    parts = []
    if len(searches) < 2:
        parts.append(
            '<p class="note">Only one model was tuned: add models to the shortlist to compare them.</p>'
        )
    parts.append(charts.figure(lambda: comparison_chart(searches)))
    rows = [
        [s.model, s.strategy, len(s.params), s.best_score, s.best_std, fmt.params(s.best_params)]
        for s in searches
    ]
    label = searches[0].score_label if searches else "score"
    parts.append(
        table_html("", ["model", "strategy", "candidates", f"best CV {label}", "± std", "best params"], rows)
    )
    return _section("comparison", "\n".join(p for p in parts if p))


def _importance_section(panel: ImportancePanel | None, hints: dict[str, str], charts: Charts) -> str:
    if panel is None:
        return _missing("importances", hints)
    parts = [f"<p>Model: <strong>{e(panel.model)}</strong></p>"] if panel.model else []
    if panel.features:
        parts.append("<h3>Per feature</h3>")
        parts.append(
            charts.figure(
                lambda: bar_chart(
                    panel.features, importance_title(panel.features), "importance", "Feature importances"
                )
            )
        )
    if panel.grouped:
        parts.append("<h3>Per source column</h3>")
        title = f"By source column: {importance_title(panel.grouped)}"
        parts.append(
            charts.figure(lambda: bar_chart(panel.grouped, title, "importance", "Importance per column"))
        )
    if panel.permutation:
        top = panel.permutation[0]
        spread = f" ± {fmt.number(top.error)}" if top.error is not None else ""
        title = f"Shuffling {top.name} hurts most ({fmt.number(top.value)}{spread})"
        parts.append("<h3>Permutation importance</h3>")
        parts.append(
            charts.figure(
                lambda: bar_chart(
                    panel.permutation, title, panel.permutation_label, "Permutation importances"
                )
            )
        )
    return _section("importances", "\n".join(p for p in parts if p))


def _drop_section(panel: DropPanel | None, hints: dict[str, str]) -> str:
    if panel is None:
        return _missing("drop", hints)
    change = panel.after - panel.before
    improved = change < 0 if panel.lower_is_better else change > 0
    verdict = "better" if improved else "no better" if change == 0 else "worse"
    dropped = ", ".join(panel.dropped) or "nothing"
    body = (
        f'<p class="callout big">CV {e(panel.label)} {fmt.number(panel.before)} → {fmt.number(panel.after)} '
        f"({fmt.signed(change)}): {verdict}</p>"
        f"<p>Dropped {_count(len(panel.dropped), 'feature')}: {e(dropped)}.</p>"
    )
    return _section("drop", body)


def _error_section(panel: ErrorSlices | None, hints: dict[str, str], charts: Charts) -> str:
    if panel is None:
        return _missing("errors", hints)
    parts = [f"<p>Model: <strong>{e(panel.model)}</strong>; {e(panel.source)}.</p>"] if panel.model else []
    parts.append(
        charts.figure(lambda: residual_chart(panel.truth, panel.predicted, panel.label, panel.source))
    )
    if panel.bias:
        parts.append("<ul>" + "".join(f"<li>{_prose(b)}</li>" for b in panel.bias) + "</ul>")
    for table in panel.tables:
        parts.append(f"<h3>{e(table.title)}</h3>")
        parts.append(charts.figure(lambda table=table: slice_chart(table, panel.overall, panel.label)))
        parts.append(table_html("", table.columns, table.rows))
    if panel.worst is not None:
        parts.append(f"<h3>{e(panel.worst.title)}</h3>")
        parts.append(table_html("", panel.worst.columns, panel.worst.rows))
    return _section("errors", "\n".join(p for p in parts if p))


def _test_section(panel: TestPanel | None, hints: dict[str, str], charts: Charts) -> str:
    if panel is None:
        return _missing("test", hints)
    badge = (
        '<span class="badge">final</span>'
        if panel.final
        else '<span class="badge provisional">provisional</span>'
    )
    times = panel.times_test_set_used
    used = f"The test set has been used {'once' if times == 1 else f'{fmt.number(times)} times'}."
    parts = [
        f"<p>{badge} {fmt.number(panel.n_test)} test rows"
        + (f", model <strong>{e(panel.model)}</strong>" if panel.model else "")
        + f". {used}</p>"
    ]
    if panel.warning:
        parts.append(f'<p class="warning">{_prose(panel.warning)}</p>')
    parts.append(charts.figure(lambda: interval_chart(panel)))
    rows = []
    for name, value in panel.metrics.items():
        low, high, method = panel.intervals.get(name, (None, None, ""))
        rows.append([name, float(value), low, high, method or fmt.MISSING])
    extra = [k for k in panel.intervals if k not in panel.metrics]
    for name in extra:
        low, high, method = panel.intervals[name]
        rows.append([name, None, low, high, method])
    parts.append(table_html("", ["metric", "test value", "low", "high", "interval method"], rows))
    parts.append(
        f"<p>Cross-validated {e(panel.label)} on the training set: "
        f"<strong>{fmt.number(panel.cv_value)}</strong>.</p>"
    )
    if panel.truth is not None and panel.predicted is not None:
        truth, predicted = panel.truth, panel.predicted
        parts.append(
            charts.figure(lambda: residual_chart(truth, predicted, panel.label, "test set predictions"))
        )
    return _section("test", "\n".join(p for p in parts if p))
