"""Rendering analysis and test evaluations for people (the CLI's half of `analyze` and `evaluate`)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from hone.analysis.evaluate import LOWER_IS_BETTER, METRIC_LABELS, Peeking, TestEvaluation
from hone.render import plain_params


def _number(value: float) -> str:
    return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.4f}"


def evaluation(console: Console, result: TestEvaluation, peeking: Peeking) -> None:
    console.print(
        f"[bold]Test evaluation[/bold] of {result.model} {plain_params(result.params)!r}\n"
        f"on {result.n_test:,} locked test rows (pipeline fitted on the training set only; "
        "test rows transformed, never fitted)",
        highlight=False,
    )
    level = f"{result.confidence:.0%}"
    table = Table()
    for column in ("metric", "test", f"{level} t-interval", f"{level} bootstrap", "CV"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for key, value in result.metrics.items():
        t_interval = result.rmse_t_interval if key == "rmse" else None
        boot = result.intervals.get(key)
        cv = _number(result.cv_score) if METRIC_LABELS[key] == result.cv_metric else ""
        table.add_row(
            METRIC_LABELS[key] + (" ↓" if key in LOWER_IS_BETTER else " ↑"),
            _number(value),
            f"[{_number(t_interval.low)}, {_number(t_interval.high)}]" if t_interval else "",
            f"[{_number(boot.low)}, {_number(boot.high)}]" if boot else "",
            cv,
        )
    console.print(table)
    look = f"look #{peeking.n_looks} at this test set" + (
        " — marked as the final choice" if peeking.final else ""
    )
    console.print(look)
    if peeking.warning:
        console.print(f"[yellow]warning:[/yellow] {peeking.warning}", highlight=False)


def rows_table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in rows:
        table.add_row(*[_number(v) if isinstance(v, float) else str(v) for v in row])
    return table
