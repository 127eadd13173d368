"""Charts of a search: score against each parameter, a heatmap of two-parameter grids, train vs CV, and
the comparison of the tuned models."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.patches import Rectangle
from matplotlib.ticker import NullFormatter

from hone.report import format as fmt
from hone.report.figures import (
    ACCENT,
    ACCENT_CMAP,
    INK,
    MUTED,
    Chart,
    new_figure,
    shades,
    styled,
    text,
    thousands,
    to_svg,
)
from hone.report.model import SearchPanel

UNSET: Any = object()  # a candidate that does not set the parameter (another sub-grid)
MAX_LINES = 8
MAX_PARAM_PANELS = 4
MAX_TRAIN_ROWS = 25
MAX_GRID_VALUES = 12


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value))


def _key(value: Any) -> str:
    return fmt.DEFAULT if value is UNSET else fmt.param_value(value)


def _order(value: Any) -> tuple[int, float, str]:
    """Sort numbers by value, then everything else by its text; unset first."""
    if value is UNSET:
        return (0, 0.0, "")
    if _is_number(value):
        return (1, float(value), "")
    return (2, 0.0, fmt.param_value(value))


def param_columns(params: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    names = list(dict.fromkeys(name for p in params for name in p))
    return {name: [p.get(name, UNSET) for p in params] for name in names}


def varied(columns: dict[str, list[Any]]) -> list[str]:
    return [name for name, values in columns.items() if len({_key(v) for v in values}) > 1]


def _numeric(values: list[Any]) -> bool:
    present = [v for v in values if v is not UNSET]
    return all(_is_number(v) for v in present) and len({float(v) for v in present}) > 1


def _others_label(columns: dict[str, list[Any]], others: list[str], i: int) -> str:
    return ", ".join(f"{n}={fmt.param_value(columns[n][i])}" for n in others if columns[n][i] is not UNSET)


def _score_axis_label(panel: SearchPanel) -> str:
    return f"CV {panel.score_label} ({'lower' if panel.lower_is_better else 'higher'} is better)"


def best_title(panel: SearchPanel) -> str:
    return f"Best: {fmt.params(panel.best_params)} ({panel.score_label} {fmt.number(panel.best_score)})"


def _edge(columns: dict[str, list[Any]], name: str, panel: SearchPanel) -> str:
    """'largest'/'smallest' when the best value sits at the edge of its own sub-grid's values."""
    best = panel.best_params
    value = best.get(name, UNSET)
    if not _is_number(value):
        return ""
    shape = set(best)
    tried = sorted(
        {
            float(v)
            for p, v in zip(panel.params, columns[name], strict=False)
            if set(p) == shape and _is_number(v)
        }
    )
    if len(tried) < 2:
        return ""
    if float(value) == tried[-1]:
        return "largest"
    return "smallest" if float(value) == tried[0] else ""


def parameter_chart(panel: SearchPanel) -> Chart | None:
    """Score against each varied parameter, one line per combination of the others when few."""
    columns = param_columns(panel.params)
    names = varied(columns)
    if not names or not any(math.isfinite(s) for s in panel.scores):
        return None
    shown = sorted(names, key=lambda n: not _numeric(columns[n]))[:MAX_PARAM_PANELS]
    scores = np.asarray(panel.scores, dtype=float)
    edges = {name: _edge(columns, name, panel) for name in shown}
    with styled():
        ncols = min(len(shown), 2)
        nrows = math.ceil(len(shown) / ncols)
        fig = new_figure(9.2 if ncols == 2 else 6.8, 0.5 + 3.3 * nrows)
        axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True).ravel()
        for ax, name in zip(axes, shown, strict=False):
            others = [n for n in names if n != name]
            if _numeric(columns[name]):
                _numeric_panel(ax, panel, columns, name, others, scores)
            else:
                _categorical_panel(ax, panel, columns[name], name, scores)
            edge = f" (the {edges[name]} tried)" if edges[name] else ""
            ax.set_title(text(f"Best at {name}={_key(columns[name][panel.best_index])}{edge}"))
            ax.set_xlabel(text(name))
            thousands(ax.yaxis)
        for ax in axes[: len(shown) : ncols]:
            ax.set_ylabel(_score_axis_label(panel))
        for ax in axes[len(shown) :]:
            ax.remove()
        at_edge = [f"{n}={_key(columns[n][panel.best_index])}" for n in shown if edges[n]]
        if at_edge:
            title = f"{' and '.join(at_edge)} at the edge of the grid: the score may improve beyond"
        else:
            title = best_title(panel)
        fig.suptitle(text(title))
        svg = to_svg(fig, f"{panel.model}: CV score against each parameter")
    caption = "Each point is one candidate's mean CV score; the ringed point is the best candidate."
    return Chart(svg, caption)


def _numeric_panel(
    ax: Any,
    panel: SearchPanel,
    columns: dict[str, list[Any]],
    name: str,
    others: list[str],
    scores: np.ndarray,
) -> None:
    xs = columns[name]
    usable = [i for i, x in enumerate(xs) if _is_number(x) and math.isfinite(scores[i])]
    if not usable:
        return
    groups: dict[str, list[int]] = {}
    for i in sorted(usable, key=lambda i: tuple(_order(columns[n][i]) for n in others)):
        groups.setdefault(_others_label(columns, others, i), []).append(i)
    if len(groups) <= MAX_LINES and max(len(g) for g in groups.values()) > 1:
        for (label, members), color in zip(groups.items(), shades(len(groups)), strict=False):
            members = sorted(members, key=lambda i: float(xs[i]))
            ax.plot(
                [float(xs[i]) for i in members],
                scores[members],
                marker="o",
                markersize=4,
                linewidth=1.6,
                color=color,
                label=text(label) if label else "all",
            )
    else:
        ax.scatter(
            [float(xs[i]) for i in usable], scores[usable], s=18, color=ACCENT, alpha=0.75, linewidths=0
        )
    values = [float(xs[i]) for i in usable]
    if values and min(values) > 0 and max(values) / min(values) >= 20:
        ax.set_xscale("log")  # 3, 10, 30 or 0.001 .. 100: even spacing reads better
        ax.xaxis.set_minor_formatter(NullFormatter())  # mathtext 10^k labels are slow and noisy
    thousands(ax.xaxis)
    best = panel.best_index
    if best in usable:
        ax.scatter(
            [float(xs[best])],
            [scores[best]],
            s=140,
            facecolors="none",
            edgecolors=INK,
            linewidths=1.6,
            zorder=5,
        )
    if 1 < len(groups) <= MAX_LINES:
        ax.legend(fontsize=7, loc="best", handlelength=1.6)


def _categorical_panel(ax: Any, panel: SearchPanel, values: list[Any], name: str, scores: np.ndarray) -> None:
    categories = sorted({_key(v): v for v in values}.items(), key=lambda kv: _order(kv[1]))
    position = {key: i for i, (key, _v) in enumerate(categories)}
    members: dict[str, list[int]] = {}
    for i, v in enumerate(values):
        if math.isfinite(scores[i]):
            members.setdefault(_key(v), []).append(i)
    xs: dict[int, float] = {}
    for key, idx in members.items():
        offsets = np.linspace(-0.15, 0.15, len(idx)) if len(idx) > 1 else [0.0]
        xs.update({i: position[key] + off for i, off in zip(idx, offsets, strict=False)})
    order = sorted(xs)
    ax.scatter([xs[i] for i in order], scores[order], s=22, color=ACCENT, alpha=0.8, linewidths=0)
    if panel.best_index in xs:
        ax.scatter(
            [xs[panel.best_index]],
            [scores[panel.best_index]],
            s=140,
            facecolors="none",
            edgecolors=INK,
            linewidths=1.6,
            zorder=5,
        )
    ax.set_xticks(range(len(categories)), [text(key) for key, _v in categories])
    ax.set_xlim(-0.6, len(categories) - 0.4)
    ax.grid(axis="x", visible=False)


def _grid_pair(columns: dict[str, list[Any]], names: list[str], finite: list[int]) -> tuple[str, str] | None:
    """The two parameters that form the fullest grid (x gets the one with more values)."""
    best: tuple[tuple[int, int], tuple[str, str]] | None = None
    for a, b in itertools.combinations(names, 2):
        va = {_key(v) for v in columns[a] if v is not UNSET}
        vb = {_key(v) for v in columns[b] if v is not UNSET}
        repeat = len(finite) / 2  # grid values recur across candidates; continuous random draws do not
        if not all(2 <= len(v) <= min(MAX_GRID_VALUES, repeat) for v in (va, vb)):
            continue
        cells = {
            (_key(columns[a][i]), _key(columns[b][i]))
            for i in finite
            if columns[a][i] is not UNSET and columns[b][i] is not UNSET
        }
        if len(cells) < 4 or len(cells) < 0.5 * len(va) * len(vb):
            continue  # random draws of continuous values: a mostly empty grid says nothing
        rank = (len(cells), int(_numeric(columns[a])) + int(_numeric(columns[b])))
        if best is None or rank > best[0]:
            best = (rank, (a, b) if len(va) >= len(vb) else (b, a))
    return None if best is None else best[1]


def heatmap_chart(panel: SearchPanel) -> Chart | None:
    """A heatmap of two gridded parameters, one per combination of the others (the seed's sub-grids)."""
    columns = param_columns(panel.params)
    names = varied(columns)
    scores = np.asarray(panel.scores, dtype=float)
    finite = [i for i in range(len(scores)) if math.isfinite(scores[i])]
    pair = _grid_pair(columns, names, finite)
    if pair is None:
        return None
    x_name, y_name = pair
    others = [n for n in names if n not in pair]
    usable = [i for i in finite if columns[x_name][i] is not UNSET and columns[y_name][i] is not UNSET]
    groups: dict[str, list[int]] = {}
    for i in sorted(usable, key=lambda i: tuple(_order(columns[n][i]) for n in others)):
        groups.setdefault(", ".join(f"{n}={_key(columns[n][i])}" for n in others), []).append(i)
    aggregated = len(groups) > 3
    if aggregated:
        groups = {"": usable}
    layouts = [_grid_layout(columns, x_name, y_name, members) for members in groups.values()]
    norm = Normalize(float(np.min(scores[finite])), float(np.max(scores[finite])))
    cmap = (ACCENT_CMAP.reversed() if panel.lower_is_better else ACCENT_CMAP).with_extremes(bad="#f3f4f6")
    with styled():
        widths = [len(xv) for xv, _yv in layouts]
        height = max(len(yv) for _xv, yv in layouts)
        fig = new_figure(min(9.2, 1.8 + 0.95 * sum(widths)), 1.5 + 0.5 * height)
        axes = fig.subplots(1, len(layouts), squeeze=False, width_ratios=widths).ravel()
        image = None
        for ax, (label, members), (xv, yv) in zip(axes, groups.items(), layouts, strict=False):
            image = _draw_grid(ax, panel, columns, (x_name, y_name), members, (xv, yv), scores, norm, cmap)
            ax.set_title(text(label) if label else "")
            ax.set_xlabel(text(x_name))
        axes[0].set_ylabel(text(y_name))
        bar = fig.colorbar(image, ax=list(axes), shrink=0.9, pad=0.02)
        bar.set_label(f"CV {panel.score_label}")
        thousands(bar.ax.yaxis)
        bar.outline.set_visible(False)
        fig.suptitle(text(best_title(panel)))
        svg = to_svg(fig, f"{panel.model}: heatmap of {x_name} by {y_name}")
    caption = f"Mean CV {panel.score_label} per cell; the outlined cell is the best candidate."
    if aggregated:
        caption += " Each cell shows the best score over the other parameters."
    return Chart(svg, caption)


def _grid_layout(
    columns: dict[str, list[Any]], x_name: str, y_name: str, members: list[int]
) -> tuple[list[Any], list[Any]]:
    def values(name: str) -> list[Any]:
        unique = {_key(columns[name][i]): columns[name][i] for i in members}
        return sorted(unique.values(), key=_order)

    return values(x_name), values(y_name)


def _draw_grid(
    ax: Any,
    panel: SearchPanel,
    columns: dict[str, list[Any]],
    names: tuple[str, str],
    members: list[int],
    axes_values: tuple[list[Any], list[Any]],
    scores: np.ndarray,
    norm: Normalize,
    cmap: Any,
) -> Any:
    x_name, y_name = names
    xv, yv = axes_values
    col = {_key(v): j for j, v in enumerate(xv)}
    row = {_key(v): i for i, v in enumerate(yv)}
    matrix = np.full((len(yv), len(xv)), np.nan)
    where: dict[tuple[int, int], int] = {}
    sign = 1.0 if panel.lower_is_better else -1.0
    for i in members:  # a cell holds the best candidate that falls in it
        cell = (row[_key(columns[y_name][i])], col[_key(columns[x_name][i])])
        if cell not in where or sign * scores[i] < sign * scores[where[cell]]:
            where[cell] = i
            matrix[cell] = scores[i]
    image = ax.imshow(matrix, cmap=cmap, norm=norm, origin="lower", aspect="auto")
    for (r, c), i in where.items():
        darkness = 1 - norm(scores[i]) if panel.lower_is_better else norm(scores[i])
        ax.text(
            c,
            r,
            fmt.compact(float(scores[i])),
            ha="center",
            va="center",
            fontsize=8.5,
            color="white" if darkness > 0.55 else INK,
        )
        if i == panel.best_index:
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor=INK, linewidth=2.8))
    ax.set_xticks(range(len(xv)), [text(_key(v)) for v in xv])
    ax.set_yticks(range(len(yv)), [text(_key(v)) for v in yv])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(length=0)
    return image


def _gap_phrase(train: float, cv: float, lower_is_better: bool) -> str:
    gap = (cv - train) if lower_is_better else (train - cv)
    relative = gap / abs(cv) if cv else 0.0
    if relative > 0.3:
        return "a large gap: the model overfits the training folds"
    if relative > 0.1:
        return "a moderate gap"
    return "a small gap"


def train_vs_cv_chart(panel: SearchPanel) -> Chart | None:
    """Each candidate's train and CV score side by side, best first."""
    if panel.train_scores is None:
        return None
    scores = np.asarray(panel.scores, dtype=float)
    train = np.asarray(panel.train_scores, dtype=float)
    usable = [i for i in range(len(scores)) if math.isfinite(scores[i]) and math.isfinite(train[i])]
    if not usable:
        return None
    usable.sort(key=lambda i: scores[i] if panel.lower_is_better else -scores[i])
    shown = usable[:MAX_TRAIN_ROWS]
    columns = param_columns(panel.params)
    names = varied(columns)
    labels = [", ".join(f"{n}={_key(columns[n][i])}" for n in names) or "defaults" for i in shown]
    y = np.arange(len(shown))[::-1]
    with styled():
        fig = new_figure(9.2, 1.3 + 0.27 * len(shown))
        ax = fig.add_subplot()
        ax.hlines(y, train[shown], scores[shown], color=MUTED, linewidth=1.4, zorder=1)
        ax.scatter(
            train[shown], y, s=30, facecolors="white", edgecolors=INK, linewidths=1.2, label="train", zorder=2
        )
        ax.scatter(scores[shown], y, s=32, color=ACCENT, label="CV", zorder=3)
        ax.set_yticks(y, [text(label) for label in labels], fontsize=7.5)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(panel.score_label)
        thousands(ax.xaxis)
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2)  # above the rows, never on them
        best = panel.best_index
        best_train, best_cv = float(train[best]), float(scores[best])
        title = (
            f"Best candidate: train {panel.score_label} {fmt.number(best_train)} vs CV "
            f"{fmt.number(best_cv)}, {_gap_phrase(best_train, best_cv, panel.lower_is_better)}"
        )
        fig.suptitle(text(title))
        svg = to_svg(fig, f"{panel.model}: train vs CV score")
    caption = "Best candidate at the top; the line joins each candidate's train and CV score."
    if len(usable) > len(shown):
        caption += f" Showing the best {len(shown)} of {len(usable)} candidates."
    return Chart(svg, caption)


def comparison_chart(searches: Sequence[SearchPanel]) -> Chart | None:
    """Best CV score per tuned model, with the spread of its folds as error bars."""
    # Only scores on one scale compare: the first search's metric decides which.
    label = searches[0].score_label if searches else ""
    usable = [s for s in searches if math.isfinite(s.best_score) and s.score_label == label]
    if len(usable) < 2:
        return None
    lower = usable[0].lower_is_better
    usable.sort(key=lambda s: s.best_score if lower else -s.best_score)
    y = np.arange(len(usable))[::-1]
    values = np.array([s.best_score for s in usable])
    errors = np.array([s.best_std if math.isfinite(s.best_std) else 0.0 for s in usable])
    with styled():
        fig = new_figure(9.2, 1.4 + 0.42 * len(usable))
        ax = fig.add_subplot()
        for yi, value, error, search in zip(y, values, errors, usable, strict=False):
            color = ACCENT if search is usable[0] else MUTED
            ax.errorbar(value, yi, xerr=error, fmt="o", color=color, markersize=7, capsize=4, linewidth=1.6)
            ax.annotate(
                f"{fmt.number(float(value))} ± {fmt.number(float(error))}",
                (value + error, yi),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
        ax.set_yticks(y, [text(f"{s.model} ({s.strategy})") for s in usable])
        ax.set_ylim(-0.7, len(usable) - 0.3)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(f"best CV {usable[0].score_label} ± fold std")
        thousands(ax.xaxis)
        low, high = float(np.min(values - errors)), float(np.max(values + errors))
        span = high - low or abs(high) or 1.0
        ax.set_xlim(low - 0.08 * span, high + 0.3 * span)  # room for the value labels
        top = usable[0]
        score = f"{top.score_label} {fmt.number(top.best_score)} ± {fmt.number(top.best_std)}"
        fig.suptitle(text(f"Best model: {top.model} ({score})"))
        svg = to_svg(fig, "Best CV score per model")
    return Chart(svg, "Each model's best candidate; error bars are the standard deviation over CV folds.")
