"""The monitoring page: one self-contained HTML file of the stored windows and alerts of the served model.

Same style and safety as the report (``hone.report``): inline CSS and SVG, a Content-Security-Policy that
forbids any fetch, every user string escaped. Built from the store only, so any machine with the database
can draw it: performance over time against the test-set interval and the alert threshold, drift and data
quality per feature as heat strips (blue within the threshold, red beyond it), and the alert list.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import LinearSegmentedColormap, Normalize

from hone.config.schema import ProjectConfig
from hone.monitor.checks import WindowReport
from hone.monitor.history import Alert, stored_alerts, stored_windows_with_versions
from hone.report import format as fmt
from hone.report.assets import COUNT_SCRIPT, CSS, ERROR_SCRIPT
from hone.report.figures import (
    ACCENT,
    ACCENT_LIGHT,
    INK,
    MUTED,
    Chart,
    new_figure,
    styled,
    text,
    thousands,
    to_svg,
)
from hone.report.kit import CSP, Charts, card_html, e, table_html
from hone.store.db import Store
from hone.store.registry import CHAMPION, Registry

MAX_WINDOWS = 240  # the page shows the latest windows; older ones stay in the store
MAX_ALERTS = 200
MAX_TICKS = 8
ANNOTATE_CELLS = 16  # heat strips with at most this many windows print each cell's value
BAD = "#b91c1c"
WARN = "#d97706"
NO_DATA = "#eceff3"

# Heat-strip colours: a cell's value divided by its threshold, 0..1 in blues (darker: closer to the
# threshold), 1..2 in reds (beyond it). A failed check is always red, a passed one always blue.
_STRIP_CMAP = LinearSegmentedColormap.from_list(
    "hone_strip", [(0.0, "#f3f7ff"), (0.499, "#93b4f5"), (0.5, "#fcd9b6"), (0.75, "#f97316"), (1.0, BAD)]
)
QUALITY_TITLES = {
    "schema": "Schema violations (share of rows)",
    "missing_jump": "Missing values above the training rate",
    "out_of_range": "Values outside the training range (share)",
    "unseen_category": "Categories never seen in training (share)",
    "stuck": "Stuck values (share of the most frequent value)",
    "duplicate_rows": "Rows repeating an earlier row (share)",
    "repeated_rows": "Rows repeating the previous window's rows (share)",
    "noise": "Drop of rank correlation with the prediction",
}


@dataclass(frozen=True)
class _Window:
    version: int  # the registered version the window was checked against
    report: WindowReport


def write_monitor_page(store: Store, config: ProjectConfig, path: str | os.PathLike[str]) -> Path:
    """Render the page of ``config``'s served model from the store and write it atomically."""
    name = config.model_name
    windows = stored_windows_with_versions(store, name, limit=MAX_WINDOWS)
    alerts = stored_alerts(store, name, limit=MAX_ALERTS)
    champion = Registry.of_project(config, store).alias_version(name, CHAMPION)
    html = render_monitor_page(name, champion, windows, alerts, config)
    return _write(html, Path(path))


def render_monitor_page(
    name: str,
    champion: int | None,
    windows: Sequence[tuple[int, WindowReport]],
    alerts: Sequence[Alert],
    config: ProjectConfig,
) -> str:
    """The page as one HTML string; ``windows`` oldest first, as (version, report)."""
    shown = [_Window(version, report) for version, report in windows]
    charts = Charts()
    parts = [
        _header(name, champion, shown, alerts),
        _toc(),
        _performance_section(shown, config, charts),
        _strip_section("drift", shown, charts),
        _strip_section("quality", shown, charts),
        _alerts_section(alerts),
        _windows_section(shown),
        "<footer>Made by hone monitor. This page is self-contained: it works offline and loads nothing."
        "</footer>",
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>hone monitor: {e(name)}</title>\n<style>{CSS}{_EXTRA_CSS}</style>\n</head>\n"
        f'<body data-charts-expected="{charts.count}">\n<script>{ERROR_SCRIPT}</script>\n<main>\n'
        + "\n".join(part for part in parts if part)
        + f"\n</main>\n<script>{COUNT_SCRIPT}</script>\n</body>\n</html>\n"
    )


_EXTRA_CSS = """
.status { font-size: 17px; font-weight: 600; padding: 8px 14px; border-radius: 6px; margin: 12px 0; }
.status.ok { background: #ecfdf3; border-left: 4px solid #16a34a; }
.status.bad { background: #fef2f2; border-left: 4px solid #b91c1c; }
td.failed { color: #b91c1c; font-weight: 600; }
"""


# ---- header ---------------------------------------------------------------------------------------------


def _header(name: str, champion: int | None, windows: Sequence[_Window], alerts: Sequence[Alert]) -> str:
    cards = [card_html("Champion", f"v{champion}" if champion is not None else "none", _served(windows))]
    if windows:
        first, last = windows[0].report, windows[-1].report
        cards.append(
            card_html(
                "Windows checked",
                fmt.number(len(windows)),
                e(f"{_time(first.start)} to {_time(last.end)}"),
            )
        )
    else:
        hint = "run <code>hone monitor</code> once traffic is logged"
        cards.append(card_html("Windows checked", "0", hint))
    sent = sum(1 for alert in alerts if not alert.suppressed)
    cards.append(
        card_html(
            "Alerts", fmt.number(len(alerts)), e(f"{sent} sent, {len(alerts) - sent} suppressed by cool-down")
        )
    )
    latest = next((w.report.performance for w in reversed(windows) if w.report.performance), None)
    if latest is not None:
        test = ""
        if latest.reference is not None:
            test = f"test {fmt.number(latest.reference)}"
            if latest.reference_low is not None and latest.reference_high is not None:
                test += f" [{fmt.number(latest.reference_low)}, {fmt.number(latest.reference_high)}]"
        cards.append(
            card_html(
                f"Latest live {latest.metric}",
                fmt.number(latest.value),
                e(f"[{fmt.number(latest.low)}, {fmt.number(latest.high)}] {test}".strip()),
            )
        )
    return (
        f"<header><h1>hone monitor: {e(name)}</h1>"
        f'<p class="meta">Generated {e(_time(datetime.now(timezone.utc)))}</p>'
        f'<div class="cards">{"".join(cards)}</div>{_status(windows)}</header>'
    )


def _served(windows: Sequence[_Window]) -> str:
    versions = sorted({w.version for w in windows})
    return e("windows checked against " + ", ".join(f"v{v}" for v in versions)) if versions else ""


def _status(windows: Sequence[_Window]) -> str:
    if not windows:
        return '<p class="status ok">No window checked yet.</p>'
    failed = windows[-1].report.failed
    if not failed:
        return '<p class="status ok">Every check of the latest window passed.</p>'
    names = ", ".join(check.key for check in failed[:6]) + (", ..." if len(failed) > 6 else "")
    return f'<p class="status bad">{len(failed)} check(s) failed in the latest window: {e(names)}</p>'


SECTIONS = {
    "performance": "Live performance",
    "drift": "Drift against the reference profile",
    "quality": "Input data quality",
    "alerts": "Alerts",
    "windows": "Windows",
}


def _toc() -> str:
    items = "".join(f'<li><a href="#{key}">{e(title)}</a></li>' for key, title in SECTIONS.items())
    return f'<nav class="toc"><strong>Contents</strong><ol>{items}</ol></nav>'


def _section(key: str, body: str) -> str:
    return f'<section id="{key}"><h2>{e(SECTIONS[key])}</h2>\n{body}</section>'


# ---- performance ----------------------------------------------------------------------------------------


def _performance_section(windows: Sequence[_Window], config: ProjectConfig, charts: Charts) -> str:
    metrics = list(dict.fromkeys(w.report.performance.metric for w in windows if w.report.performance))
    rule = config.monitor.performance
    if not metrics:
        body = (
            f'<p class="note">No window had {rule.min_labels} labelled rows yet: send feedback labels '
            "(POST /feedback) to measure live performance.</p>"
        )
        return _section("performance", body)
    parts = [
        f"<p>Each point is one window's metric on its labelled rows, with its 95% interval (band); the "
        f"grey band is the test-set interval stored at registration. Windows with fewer than "
        f"{rule.min_labels} labelled rows have no verdict and are not drawn.</p>"
    ]
    for metric in metrics:
        parts.append(charts.figure(lambda metric=metric: _performance_chart(windows, metric, rule.threshold)))
    return _section("performance", "\n".join(p for p in parts if p))


def _performance_chart(windows: Sequence[_Window], metric: str, configured: float | None) -> Chart | None:
    points = [(w.report, w.report.performance) for w in windows]
    points = [(r, p) for r, p in points if p is not None and p.metric == metric]
    if not points:
        return None
    x = np.array([_numeric_time(r.end) for r, _ in points])
    value = np.array([p.value for _, p in points], dtype=float)
    low = np.array([p.low for _, p in points], dtype=float)
    high = np.array([p.high for _, p in points], dtype=float)
    failed = np.array(
        [any(c.kind == "performance" and c.name == metric for c in r.failed) for r, _ in points]
    )
    thresholds = _performance_thresholds(points, metric, configured)
    reference = next((p for _, p in reversed(points) if p.reference is not None), None)
    with styled():
        fig = new_figure(9.2, 3.4)
        ax = fig.add_subplot()
        if (
            reference is not None
            and reference.reference_low is not None
            and reference.reference_high is not None
        ):
            ax.axhspan(
                reference.reference_low,
                reference.reference_high,
                color=MUTED,
                alpha=0.25,
                lw=0,
                label="test-set interval",
            )
        if reference is not None and reference.reference is not None:
            ax.axhline(
                reference.reference, color=MUTED, linestyle="--", linewidth=1.0, label="test-set value"
            )
        ax.fill_between(x, low, high, color=ACCENT_LIGHT, alpha=0.9, label="window 95% interval")
        ax.plot(x, value, "-o", color=ACCENT, markersize=3.5, linewidth=1.5, label=f"live {metric}")
        if failed.any():
            ax.plot(x[failed], value[failed], "o", color=BAD, markersize=6, label="alert raised")
        for bound, label in thresholds:
            ax.axhline(bound, color=WARN, linestyle=":", linewidth=1.4, label=label)
        _time_axis(ax, x)
        thousands(ax.yaxis)
        ax.set_ylabel(text(metric))
        ax.legend(loc="upper left", ncols=3)
        last = points[-1][1]
        fig.suptitle(
            text(
                f"Live {metric}: last window {fmt.number(last.value)} "
                f"[{fmt.number(last.low)}, {fmt.number(last.high)}]"
            )
        )
        svg = to_svg(
            fig, f"Live {metric} per window with its interval, the test-set interval and the threshold"
        )
    labelled = sum(p.n_labelled for _, p in points)
    return Chart(svg, f"{len(points)} windows with a verdict, {fmt.number(labelled)} labelled rows in all.")


def _performance_thresholds(
    points: Sequence[tuple[WindowReport, Any]], metric: str, configured: float | None
) -> list[tuple[float, str]]:
    """The alert thresholds the checks used (the latest of each), else the configured absolute one."""
    found: dict[float, str] = {}
    for report, _ in reversed(points):
        for check in report.checks:
            if (
                check.kind == "performance"
                and check.name == metric
                and check.threshold is not None
                and math.isfinite(check.threshold)
            ):
                found.setdefault(float(check.threshold), f"alert threshold ({fmt.number(check.threshold)})")
        if found:
            break
    if not found and configured is not None:
        found[float(configured)] = f"alert threshold ({fmt.number(configured)})"
    return list(found.items())


# ---- heat strips: drift and quality per feature over windows --------------------------------------------


def _strip_section(kind: str, windows: Sequence[_Window], charts: Charts) -> str:
    """The section of one kind of check ("drift" or "quality"): a heat strip per check name."""
    groups = _check_groups(windows, kind)
    if not groups:
        return _section(kind, '<p class="note">No window checked yet.</p>')
    parts = [
        "<p>One row per feature, one column per window (oldest left). Blue cells are within the threshold "
        "(darker: closer to it), red cells beyond it, grey cells were not measured.</p>"
    ]
    for name in groups:
        parts.append(charts.figure(lambda name=name: _strip_chart(windows, kind, name)))
    parts.append(_latest_table(windows, kind))
    return _section(kind, "\n".join(p for p in parts if p))


def _check_groups(windows: Sequence[_Window], kind: str) -> list[str]:
    names = [c.name for w in windows for c in w.report.checks if c.kind == kind]
    order = {"psi": 0, "ks": 1, "chi2": 2, **{n: 3 + i for i, n in enumerate(QUALITY_TITLES)}}
    return sorted(dict.fromkeys(names), key=lambda n: (order.get(n, 99), n))


def _strip_chart(windows: Sequence[_Window], kind: str, name: str) -> Chart | None:
    features = list(
        dict.fromkeys(
            c.feature or "(all rows)"
            for w in windows
            for c in w.report.checks
            if c.kind == kind and c.name == name
        )
    )
    if not features:
        return None
    ratio = np.full((len(features), len(windows)), np.nan)
    values = np.full_like(ratio, np.nan)
    threshold: float | None = None
    for j, window in enumerate(windows):
        for check in window.report.checks:
            if check.kind != kind or check.name != name:
                continue
            i = features.index(check.feature or "(all rows)")
            values[i, j] = check.value
            ratio[i, j] = _ratio(check.value, check.threshold, check.failed)
            threshold = check.threshold if check.threshold is not None else threshold
    with styled():
        fig = new_figure(9.2, 1.1 + 0.28 * len(features))
        ax = fig.add_subplot()
        ax.set_facecolor(NO_DATA)
        ax.imshow(
            np.ma.masked_invalid(ratio),
            aspect="auto",
            cmap=_STRIP_CMAP,
            norm=Normalize(0.0, 2.0),
            interpolation="nearest",
        )
        if len(windows) <= ANNOTATE_CELLS:
            _annotate(ax, values, ratio)
        ax.set_yticks(range(len(features)), [text(f) for f in features], fontsize=8)
        ticks = _tick_positions(len(windows))
        ax.set_xticks(ticks, [_short_time(windows[t].report.end) for t in ticks], fontsize=7.5)
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        n_failed = int((ratio >= 1.0).sum())
        limit = f" (threshold {fmt.number(threshold)})" if threshold is not None else ""
        title = _strip_title(kind, name) + limit
        fig.suptitle(
            text(f"{title}: {n_failed} cell(s) beyond it" if n_failed else f"{title}: all within it")
        )
        svg = to_svg(fig, f"{title} per feature over windows")
    return Chart(svg, f"{len(features)} feature(s) over {len(windows)} window(s).")


def _strip_title(kind: str, name: str) -> str:
    if kind == "drift":
        return {
            "psi": "Population stability index (PSI)",
            "ks": "Kolmogorov-Smirnov distance (against its critical value)",
            "chi2": "Chi-square statistic (against its critical value)",
        }.get(name, name)
    return QUALITY_TITLES.get(name, name)


def _ratio(value: float, threshold: float | None, failed: bool) -> float:
    """Where a cell sits on the strip's 0..2 scale: below 1 passed, 1 and above failed."""
    if value is None or not math.isfinite(value):
        return math.nan
    if threshold is not None and threshold > 0 and value >= 0:
        ratio = value / threshold
    else:  # a zero threshold: the verdict alone decides the colour
        ratio = 1.5 if failed else 0.25
    return min(max(ratio, 1.0), 2.0) if failed else min(ratio, 0.98)


def _annotate(ax: Any, values: np.ndarray, ratio: np.ndarray) -> None:
    for (i, j), value in np.ndenumerate(values):
        if math.isfinite(value):
            color = "white" if ratio[i, j] >= 1.4 else INK
            ax.text(j, i, _cell_text(value), ha="center", va="center", fontsize=6.5, color=color)


def _cell_text(value: float) -> str:
    if value == 0:
        return "0"
    return f"{value:.2g}" if abs(value) < 0.01 else f"{value:.2f}"


def _latest_table(windows: Sequence[_Window], kind: str) -> str:
    latest = windows[-1].report
    checks = [c for c in latest.checks if c.kind == kind]
    if not checks:
        return ""
    checks.sort(key=lambda c: (not c.failed, c.name, c.feature or ""))
    rows = [
        [
            c.name,
            c.feature or "(all rows)",
            float(c.value),
            c.threshold,
            "FAILED" if c.failed else "ok",
            c.message,
        ]
        for c in checks
    ]
    return table_html(
        f"Latest window ({_time(latest.start)} to {_time(latest.end)})",
        ["check", "feature", "value", "threshold", "verdict", "message"],
        rows,
    )


# ---- alerts and windows ---------------------------------------------------------------------------------


def _alerts_section(alerts: Sequence[Alert]) -> str:
    if not alerts:
        return _section("alerts", '<p class="note">No alert raised.</p>')
    rows = [
        [
            _time(alert.at),
            f"v{alert.version}" if alert.version is not None else "",
            alert.key,
            alert.message,
            "suppressed (cool-down)" if alert.suppressed else ", ".join(alert.delivered) or "not delivered",
        ]
        for alert in reversed(alerts)
    ]
    title = f"Latest {len(alerts)} alerts, newest first" if len(alerts) == MAX_ALERTS else "Newest first"
    return _section("alerts", table_html(title, ["raised", "version", "key", "message", "delivered"], rows))


def _windows_section(windows: Sequence[_Window]) -> str:
    if not windows:
        return _section("windows", '<p class="note">No window checked yet.</p>')
    rows = []
    for window in reversed(windows):
        report = window.report
        performance = report.performance
        live = (
            f"{performance.metric} {fmt.number(performance.value)} "
            f"[{fmt.number(performance.low)}, {fmt.number(performance.high)}]"
            if performance is not None
            else "no verdict"
        )
        failed = ", ".join(c.key for c in report.failed) or "none"
        rows.append(
            [
                _time(report.start),
                _time(report.end),
                f"v{window.version}",
                report.n_rows,
                report.n_labelled,
                live,
                failed,
            ]
        )
    return _section(
        "windows",
        table_html(
            "Newest first",
            ["start", "end", "version", "rows", "labelled", "live metric", "failed checks"],
            rows,
        ),
    )


# ---- small helpers --------------------------------------------------------------------------------------


def _numeric_time(moment: datetime) -> float:
    from matplotlib.dates import date2num

    return float(date2num(moment))


def _time_axis(ax: Any, x: np.ndarray) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    # minticks=3: with the default 5, a span of a few minutes asks for more second-ticks than exist.
    locator = AutoDateLocator(minticks=3, maxticks=MAX_TICKS)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    if len(x) == 1 or float(x.max() - x.min()) == 0:  # one instant: give it a visible span
        ax.set_xlim(float(x[0]) - 1 / 24, float(x[0]) + 1 / 24)


def _tick_positions(n: int) -> list[int]:
    if n <= MAX_TICKS:
        return list(range(n))
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, MAX_TICKS)})


def _time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _short_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%m-%d %H:%M")


def _write(page: str, target: Path) -> Path:
    """Written beside the target and renamed: a reader sees the old page or the new one, never half."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(page)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
