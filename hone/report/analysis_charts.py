"""Charts of the analysis: importances, residuals, error by slice, and the test score next to the CV score."""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np

from hone.report import format as fmt
from hone.report.figures import (
    ACCENT,
    ACCENT_DARK,
    ACCENT_LIGHT,
    INK,
    MUTED,
    SAMPLE_SEED,
    Chart,
    new_figure,
    sample,
    styled,
    text,
    thousands,
    to_svg,
)
from hone.report.model import BarItem, Numbers, Table, TestPanel

MAX_BARS = 30
FIFTHS = ["lowest", "second", "middle", "fourth", "highest"]


def bar_chart(items: Sequence[BarItem], title: str, xlabel: str, aria: str) -> Chart | None:
    """Horizontal bars in the given order (first at the top), with error bars when any item has one."""
    usable = [item for item in items if math.isfinite(item.value)]
    if not usable:
        return None
    shown = usable[:MAX_BARS]
    y = np.arange(len(shown))[::-1]
    values = np.array([item.value for item in shown])
    errors = [item.error if item.error is not None and math.isfinite(item.error) else 0.0 for item in shown]
    has_errors = any(item.error is not None for item in shown)
    with styled():
        fig = new_figure(9.2, 1.2 + 0.26 * len(shown))
        ax = fig.add_subplot()
        ax.barh(
            y,
            values,
            xerr=errors if has_errors else None,
            color=ACCENT,
            height=0.66,
            error_kw={"ecolor": INK, "elinewidth": 1.0, "capsize": 2.5},
        )
        ends = values + np.where(values >= 0, errors, -np.asarray(errors))
        for yi, end, value in zip(y, ends, values, strict=False):
            ax.annotate(
                fmt.number(float(value)),
                (end, yi),
                xytext=(4 if end >= 0 else -4, 0),
                textcoords="offset points",
                ha="left" if end >= 0 else "right",
                va="center",
                fontsize=7.5,
            )
        ax.set_yticks(y, [text(item.name) for item in shown], fontsize=8)
        ax.set_ylim(-0.6, len(shown) - 0.4)
        ax.grid(axis="y", visible=False)
        ax.axvline(0, color="#9ca3af", linewidth=0.8)
        ax.set_xlabel(text(xlabel))
        thousands(ax.xaxis)
        low, high = min(0.0, float(ends.min())), max(0.0, float(ends.max()))
        span = (high - low) or 1.0
        ax.set_xlim(low - (0.12 * span if low < 0 else 0), high + 0.12 * span)  # room for value labels
        fig.suptitle(text(title))
        svg = to_svg(fig, aria)
    caption = f"Showing the first {len(shown)} of {len(usable)}." if len(usable) > len(shown) else ""
    return Chart(svg, caption)


def importance_title(items: Sequence[BarItem]) -> str:
    top = items[0]
    total = sum(item.value for item in items)
    if len(items) >= 3 and all(item.value >= 0 for item in items) and total > 0:
        share = sum(item.value for item in items[:3]) / total
        return f"{top.name} matters most ({fmt.number(top.value)}); the top 3 carry {share:.0%} of the total"
    return f"{top.name} matters most ({fmt.number(top.value)})"


def _clean(truth: Numbers, predicted: Numbers) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(truth, dtype=float), np.asarray(predicted, dtype=float)
    keep = np.isfinite(t) & np.isfinite(p)
    return t[keep], p[keep]


def bias_by_fifth(truth: Numbers, predicted: Numbers) -> tuple[str, float] | None:
    """The fifth of the true values (by quantile) where the mean error is largest, and that error."""
    t, p = _clean(truth, predicted)
    if len(t) < 10:
        return None
    edges = np.quantile(t, [0.2, 0.4, 0.6, 0.8])
    fifth = np.searchsorted(edges, t, side="right")
    means = [float(np.mean((p - t)[fifth == k])) if np.any(fifth == k) else 0.0 for k in range(5)]
    worst = int(np.argmax(np.abs(means)))
    return FIFTHS[worst], means[worst]


def residual_chart(truth: Numbers, predicted: Numbers, label: str, source: str) -> Chart | None:
    """Predicted vs truth with the diagonal, and error vs predicted with its binned mean."""
    (t, p), shown, total = sample(truth, predicted)
    if total == 0:
        return None
    error = p - t
    all_t, all_p = _clean(truth, predicted)
    rmse = float(np.sqrt(np.mean((all_p - all_t) ** 2)))
    with styled():
        fig = new_figure(9.2, 4.0)
        left, right = fig.subplots(1, 2)
        low, high = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
        left.scatter(t, p, s=5, color=ACCENT, alpha=0.25, linewidths=0, rasterized=True)
        left.plot([low, high], [low, high], color=INK, linestyle="--", linewidth=1.1, label="perfect")
        left.set_xlabel("truth")
        left.set_ylabel("predicted")
        left.set_title(f"Predicted vs truth ({label} {fmt.number(rmse)})")
        left.legend(loc="upper left")
        right.scatter(p, error, s=5, color=ACCENT, alpha=0.25, linewidths=0, rasterized=True)
        right.axhline(0, color=INK, linestyle="--", linewidth=1.1)
        centers, means = _binned_mean(all_p, all_p - all_t)
        right.plot(
            centers, means, color=ACCENT_DARK, linewidth=2.2, marker="o", markersize=3.5, label="mean error"
        )
        right.set_xlabel("predicted")
        right.set_ylabel("error (predicted − truth)")
        right.set_title("Error vs predicted")
        right.legend(loc="upper left")
        for ax in (left, right):
            thousands(ax.xaxis)
            thousands(ax.yaxis)
        fig.suptitle(text(_bias_title(truth, predicted)))
        svg = to_svg(fig, f"Residual plots ({source})")
    caption = f"{fmt.number(total)} {source}."
    if shown < total:
        caption += f" Showing a random sample of {fmt.number(shown)} points (seed {SAMPLE_SEED})."
    return Chart(svg, caption)


def _bias_title(truth: Numbers, predicted: Numbers) -> str:
    found = bias_by_fifth(truth, predicted)
    if found is None:
        return "Predicted vs truth"
    fifth, mean = found
    direction = "too low" if mean < 0 else "too high"
    size = fmt.number(abs(mean))
    return f"Largest bias in the {fifth} fifth of true values: predictions {direction} by {size} on average"


def _binned_mean(x: np.ndarray, y: np.ndarray, bins: int = 12) -> tuple[np.ndarray, np.ndarray]:
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    centers, means = [], []
    for k in range(len(edges) - 1):
        inside = which == k
        if np.any(inside):
            centers.append(float(np.mean(x[inside])))
            means.append(float(np.mean(y[inside])))
    return np.array(centers), np.array(means)


def slice_chart(table: Table, overall: float | None, label: str) -> Chart | None:
    """One bar per slice for the table's chart column; the worst slice in the accent colour."""
    if table.chart_column is None:
        return None
    column = table.columns.index(table.chart_column)
    rows = [r for r in table.rows if _finite(r[column])]
    if not rows:
        return None
    names = [fmt.param_value(r[0]) for r in rows]
    values = np.array([float(r[column]) for r in rows])
    worst = int(np.argmax(values))
    y = np.arange(len(rows))[::-1]
    with styled():
        fig = new_figure(9.2, 1.3 + 0.3 * len(rows))
        ax = fig.add_subplot()
        colors = [ACCENT if i == worst else ACCENT_LIGHT for i in range(len(rows))]
        ax.barh(y, values, color=colors, height=0.64, edgecolor=ACCENT, linewidth=0.6)
        for yi, value in zip(y, values, strict=False):
            ax.annotate(
                fmt.number(float(value)),
                (value, yi),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=7.5,
            )
        if overall is not None and math.isfinite(overall):
            ax.axvline(overall, color=INK, linestyle="--", linewidth=1.1)
            ax.annotate(
                f"overall {fmt.number(overall)}",
                (overall, len(rows) - 0.4),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=7.5,
            )
        ax.set_yticks(y, [text(n) for n in names], fontsize=8)
        ax.set_ylim(-0.6, len(rows) - 0.4)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(text(table.chart_column))
        ax.set_xlim(
            0 if values.min() >= 0 else None, float(values.max()) * 1.12 if values.max() > 0 else None
        )
        thousands(ax.xaxis)
        title = (
            f"{table.chart_column} by {table.columns[0]}: highest for {names[worst]} "
            f"({fmt.number(float(values[worst]))})"
        )
        fig.suptitle(text(title))
        svg = to_svg(fig, table.title)
    return Chart(svg, "")


def _finite(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value))


def interval_chart(test: TestPanel) -> Chart:
    """The test score with its interval(s), drawn on the same axis as the CV score."""
    intervals = test.headline_intervals()
    rows: list[tuple[str, float, tuple[float, float] | None, str]] = [
        ("cross-validation (training set)", test.cv_value, None, MUTED)
    ]
    if intervals:
        for name, (low, high, method) in intervals.items():
            rows.append((f"test set: {name}, {method}", test.headline, (low, high), ACCENT))
    else:
        rows.append(("test set", test.headline, None, ACCENT))
    y = np.arange(len(rows))[::-1]
    with styled():
        fig = new_figure(9.2, 1.5 + 0.45 * len(rows))
        ax = fig.add_subplot()
        points = [test.cv_value, test.headline]
        for yi, (_name, value, interval, color) in zip(y, rows, strict=False):
            if interval is not None:
                ax.hlines(yi, interval[0], interval[1], color=color, linewidth=5, alpha=0.35)
                for end in interval:
                    ax.annotate(
                        fmt.number(end),
                        (end, yi),
                        xytext=(0, 8),
                        textcoords="offset points",
                        ha="center",
                        fontsize=7.5,
                    )
                points.extend(interval)
            ax.plot([value], [yi], "o", color=color if color != MUTED else INK, markersize=8)
            ax.annotate(
                fmt.number(value),
                (value, yi),
                xytext=(0, -14),
                textcoords="offset points",
                ha="center",
                fontsize=8,
            )
        ax.axvline(test.cv_value, color=MUTED, linestyle=":", linewidth=1.2)
        ax.set_yticks(y, [text(name) for name, *_rest in rows], fontsize=8.5)
        ax.set_ylim(-0.8, len(rows) - 0.2)
        ax.grid(axis="y", visible=False)
        low, high = min(points), max(points)
        span = (high - low) or abs(high) * 0.1 or 1.0
        ax.set_xlim(low - 0.25 * span, high + 0.25 * span)
        ax.set_xlabel(test.label)
        thousands(ax.xaxis)
        fig.suptitle(text(_interval_title(test, intervals)))
        svg = to_svg(fig, f"Test {test.label} with its interval next to the CV score")
    return Chart(svg, f"{fmt.number(test.n_test)} test rows; {test.confidence:.0%} intervals.")


def _interval_title(test: TestPanel, intervals: dict[str, tuple[float, float, str]]) -> str:
    head = f"Test {test.label} {fmt.number(test.headline)}"
    if not intervals:
        return f"{head} vs CV {fmt.number(test.cv_value)}"
    low, high, _method = next(iter(intervals.values()))
    inside = "inside" if low <= test.cv_value <= high else "outside"
    return (
        f"{head} [{fmt.number(low)}, {fmt.number(high)}] vs CV {fmt.number(test.cv_value)}: "
        f"the CV score is {inside} the interval"
    )
