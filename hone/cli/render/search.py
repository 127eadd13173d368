"""Rendering search results for people: the seed's lines, a ranking of every candidate, a comparison."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from hone.search.scoring import format_score, score_decimals
from hone.search.space import describe_edges, expanded_grid
from hone.search.summary import SearchSummary
from hone.search.trials import plain_value


def plain_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as Python values, so they print like the seed's ``{'max_features': 8, ...}``."""
    return {name: _printable(value) for name, value in params.items()}


def _printable(value: Any) -> Any:
    plain = plain_value(value)
    return value if isinstance(plain, dict) else plain  # an estimator or array prints as itself


_STRATEGIES = {
    "grid": "grid search",
    "random": "randomized search",
    "halving": "successive halving",
    "tpe": "TPE search",
}


def seed_lines(console: Console, summary: SearchSummary) -> None:
    """As the seed prints: each candidate's score (RMSE for neg MSE) and params, then the best params."""
    strategy = _STRATEGIES.get(summary.strategy, summary.strategy)
    fits = summary.computed + summary.reused
    pruned = f", {summary.n_pruned} pruned after their first folds" if summary.n_pruned else ""
    console.print(
        f"[bold]{summary.model}[/bold] — {strategy}, {summary.n_candidates} candidates × {summary.n_splits} "
        f"folds{pruned} = {fits} fits ({summary.computed} fitted now, {summary.reused} read from the store)"
    )
    label = summary.label
    for index, params in enumerate(summary.cv_results["params"]):
        score = "pruned" if summary.is_pruned(index) else repr(summary.display_mean(index))
        line = f"{score} {plain_params(params)!r}"
        console.print(line, highlight=False, markup=False)
    best = f"{label} {format_score(summary.display_mean(summary.best_index), summary.decimals())}"
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
    label = summaries[0].label if summaries else "score"
    with_train = all(s.has_train_scores for s in summaries)
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
    rows = [(s, i) for s in summaries for i in range(s.n_candidates) if not s.is_pruned(i)]
    rows.sort(key=lambda row: _best_first(row[0].raw_mean(row[1])))
    shown = rows[:limit] if limit else rows
    decimals = score_decimals(
        [s.display_fold_std(i) for s, i in shown], [s.display_mean(i) for s, i in shown]
    )
    for rank, (summary, index) in enumerate(shown, start=1):
        cells = [
            str(rank),
            summary.model,
            format_score(summary.display_mean(index), decimals),
            format_score(summary.display_fold_std(index), decimals),
        ]
        if with_train:
            cells.append(format_score(summary.display_mean(index, "train"), decimals))
        cells.append(repr(plain_params(summary.cv_results["params"][index])))
        table.add_row(*cells)
    return table


def _best_first(raw: float) -> float:
    return -raw if np.isfinite(raw) else np.inf  # failed candidates (NaN) last


def comparison_table(summaries: Sequence[SearchSummary]) -> Table:
    """Each model's best candidate side by side, best model first."""
    label = summaries[0].label if summaries else "score"
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
    bests = [(s, s.best_index) for s in summaries]
    decimals = score_decimals(
        [s.display_fold_std(i) for s, i in bests], [s.display_mean(i) for s, i in bests]
    )
    for summary in sorted(summaries, key=lambda s: -s.best_score):
        best = summary.best_index
        table.add_row(
            summary.model,
            summary.strategy,
            str(summary.n_candidates),
            format_score(summary.display_mean(best), decimals),
            format_score(summary.display_fold_std(best), decimals),
            f"{summary.cv_results['mean_fit_time'][best]:.2f}",
            repr(plain_params(summary.best_params)),
        )
    return table


def direction_note(summaries: Sequence[SearchSummary]) -> str:
    label = summaries[0].label if summaries else "score"
    better = "lower" if summaries and summaries[0].lower_is_better else "higher"
    return f"{label}: {better} is better"


def summaries_report(console: Console, summaries: Sequence[SearchSummary], footer: str = "") -> None:
    """What `hone tune` and `hone results` print: each search as the seed does, ranking, comparison."""
    for summary in summaries:
        seed_lines(console, summary)
    console.print(ranking_table(summaries))
    console.print(comparison_table(summaries))
    console.print(f"({direction_note(summaries)}{footer})")
