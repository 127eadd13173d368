"""Rendering search results for people: the seed's lines, a ranking of every candidate, a comparison."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from hone.search.scoring import display_score, lower_is_better
from hone.search.space import describe_edges, expanded_grid
from hone.search.summary import SearchSummary
from hone.store.trials import plain_value


def plain_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as Python values, so they print like the seed's ``{'max_features': 8, ...}``."""
    return {
        name: plain_value(value) if not isinstance(plain_value(value), dict) else value
        for name, value in params.items()
    }


def _mean(summary: SearchSummary, index: int, part: str = "test") -> float:
    return display_score(summary.scoring, summary.cv_results[f"mean_{part}_{summary.refit_metric}"][index])[1]


def _fold_std(summary: SearchSummary, index: int) -> float:
    folds = [
        summary.cv_results[f"split{k}_test_{summary.refit_metric}"][index] for k in range(summary.n_splits)
    ]
    return float(np.std([display_score(summary.scoring, f)[1] for f in folds]))


def _label(summary: SearchSummary) -> str:
    return display_score(summary.scoring, -1.0)[0]


def seed_lines(console: Console, summary: SearchSummary) -> None:
    """As the seed prints: each candidate's score (RMSE for neg MSE) and params, then the best params."""
    strategy = "grid search" if summary.strategy == "grid" else "randomized search"
    fits = summary.n_candidates * summary.n_splits
    console.print(
        f"[bold]{summary.model}[/bold] — {strategy}, {summary.n_candidates} candidates × {summary.n_splits} "
        f"folds = {fits} fits ({summary.computed} fitted now, {summary.reused} read from the store)"
    )
    label = _label(summary)
    for index, params in enumerate(summary.cv_results["params"]):
        console.print(f"{_mean(summary, index)!r} {plain_params(params)!r}", highlight=False, markup=False)
    best = f"{label} {_mean(summary, summary.best_index):,.1f}"
    console.print(
        f"best params: {plain_params(summary.best_params)!r}  ({best})", highlight=False, markup=False
    )
    sentences = describe_edges(summary.edges)
    if sentences and summary.strategy == "grid":
        proposal = {
            k: [plain_value(v) for v in vs]
            for k, vs in expanded_grid(summary.edges, summary.best_params).items()
        }
        console.print(f"[yellow]tip:[/yellow] {'; '.join(sentences)}.", highlight=False)
        console.print(
            f"     try next: {proposal!r}  (or run `hone tune --expand`)", highlight=False, markup=False
        )
    elif sentences:
        console.print(f"[yellow]note:[/yellow] {'; '.join(sentences)}.", highlight=False)
    console.print()


def ranking_table(summaries: Sequence[SearchSummary], limit: int | None = None) -> Table:
    """Every candidate of every model, best first."""
    label = _label(summaries[0]) if summaries else "score"
    with_train = all(f"mean_train_{s.refit_metric}" in s.cv_results for s in summaries)
    table = Table(title="All candidates, best first", title_justify="left")
    for column, justify in [
        ("rank", "right"),
        ("model", "left"),
        (f"CV {label}", "right"),
        ("± fold std", "right"),
    ]:
        table.add_column(column, justify=justify)
    if with_train:
        table.add_column(f"train {label}", justify="right")
    table.add_column("params")
    rows = [(s, i) for s in summaries for i in range(s.n_candidates)]
    rows.sort(key=lambda row: -_raw(row[0], row[1]) if np.isfinite(_raw(row[0], row[1])) else np.inf)
    for rank, (summary, index) in enumerate(rows[:limit] if limit else rows, start=1):
        cells = [
            str(rank),
            summary.model,
            f"{_mean(summary, index):,.1f}",
            f"{_fold_std(summary, index):,.1f}",
        ]
        if with_train:
            cells.append(f"{_mean(summary, index, 'train'):,.1f}")
        cells.append(repr(plain_params(summary.cv_results["params"][index])))
        table.add_row(*cells)
    return table


def _raw(summary: SearchSummary, index: int) -> float:
    return float(summary.cv_results[f"mean_test_{summary.refit_metric}"][index])


def comparison_table(summaries: Sequence[SearchSummary]) -> Table:
    """Each model's best candidate side by side, best model first."""
    label = _label(summaries[0]) if summaries else "score"
    table = Table(title="Best candidate of each model", title_justify="left")
    for column, justify in [
        ("model", "left"),
        ("search", "left"),
        ("candidates", "right"),
        (f"CV {label}", "right"),
        ("± fold std", "right"),
        ("mean fit s", "right"),
        ("best params", "left"),
    ]:
        table.add_column(column, justify=justify)
    for summary in sorted(summaries, key=lambda s: -s.best_score):
        best = summary.best_index
        table.add_row(
            summary.model,
            summary.strategy,
            str(summary.n_candidates),
            f"{_mean(summary, best):,.1f}",
            f"{_fold_std(summary, best):,.1f}",
            f"{summary.cv_results['mean_fit_time'][best]:.2f}",
            repr(plain_params(summary.best_params)),
        )
    return table


def direction_note(summaries: Sequence[SearchSummary]) -> str:
    label = _label(summaries[0]) if summaries else "score"
    better = "lower" if summaries and lower_is_better(summaries[0].scoring) else "higher"
    return f"{label}: {better} is better"
