"""Rendering analysis and test evaluations for people (the CLI's half of `analyze` and `evaluate`)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from hone.analysis.bundle import Analysis
from hone.analysis.evaluate import LOWER_IS_BETTER, METRIC_LABELS, Peeking, TestEvaluation
from hone.cli.render.search import plain_params
from hone.search.scoring import format_score, score_decimals


def _number(value: float) -> str:
    return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.4f}"


def _cv_cell(result: TestEvaluation) -> str:
    """The CV score beside its test metric, with as many decimals as its fold spread needs."""
    decimals = score_decimals([result.cv_std], [result.cv_score])
    return f"{format_score(result.cv_score, decimals)} ± {format_score(result.cv_std, decimals)}"


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
        cv = _cv_cell(result) if key == result.cv_key else ""
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


def analysis(console: Console, result: Analysis, *, all_bins: bool = False) -> None:
    candidate = result.candidate
    summary = candidate.summary
    console.print(
        f"[bold]Analysis[/bold] of {candidate.model.name} {plain_params(candidate.params)!r} "
        f"(CV {summary.label} {format_score(summary.display_mean(candidate.index), summary.decimals())})",
        highlight=False,
    )
    if result.importances is not None:
        imp = result.importances
        console.print(f"\nfeature importances ({imp.kind}), as the seed prints them:", highlight=False)
        console.print(
            repr([(round(value, 6), name) for value, name in imp.pairs()]), highlight=False, markup=False
        )
        console.print(
            rows_table(
                "Importance per source column (one-hot summed back)",
                ["column", "importance"],
                [[g.source, g.importance] for g in imp.grouped],
            )
        )
    else:
        console.print(f"\n[yellow]no model importances:[/yellow] {result.importance_note}", highlight=False)
    if result.permutation is not None:
        perm = result.permutation
        console.print(
            rows_table(
                f"Permutation importance on the validation folds ({perm.n_folds} folds × {perm.n_repeats} "
                "repeats)",
                ["column", f"{perm.label} worse by", "± std"],
                [[p.feature, p.worse_by, p.worse_std] for p in perm.grouped],
            )
        )
    if result.drop is not None:
        drop = result.drop
        arrow = f"{drop.before:,.1f} → {drop.after:,.1f}"
        console.print(
            f"dropping {', '.join(drop.dropped)}: CV {drop.label} {arrow} (fold std {drop.fold_std:,.1f}) "
            f"→ [bold]{drop.verdict}[/bold]: {drop.reason}",
            highlight=False,
        )
    _errors(console, result, all_bins)


def _errors(console: Console, result: Analysis, all_bins: bool) -> None:
    report = result.errors
    regression = report.task == "regression"
    columns = ["slice", "rows", "RMSE", "MAE", "bias"] if regression else ["slice", "rows", "error rate"]

    def rows(slices: list[Any]) -> list[list[Any]]:
        if regression:
            return [[f"{s.column}: {s.slice}", s.n, s.rmse, s.mae, s.bias] for s in slices]
        return [[f"{s.column}: {s.slice}", s.n, s.error_rate] for s in slices]

    overall = report.overall
    headline = (
        f"RMSE {overall.rmse:,.1f}, MAE {overall.mae:,.1f}, bias {overall.bias:+,.1f}"
        if regression
        else f"error rate {overall.error_rate:.4f}"
    )
    console.print(f"\nout-of-fold errors on the training set: {headline}", highlight=False)
    if report.by_category:
        console.print(rows_table("Error by category", columns, rows(report.by_category)))
    shown = report.by_bin if all_bins else [s for s in report.by_bin if s.column == report.target]
    title = "Error by quantile bins" + (
        "" if all_bins else f" of {report.target} (--all-bins for every feature)"
    )
    console.print(rows_table(title, columns, rows(shown)))
    console.print(
        rows_table(
            "Worst-predicted rows",
            ["row", "truth", "prediction", "error"],
            [[str(w.row_id), float(w.truth), float(w.prediction), w.error] for w in report.worst],
        )
    )
    for finding in report.findings:
        console.print(f"[yellow]finding:[/yellow] {finding.message}", highlight=False)
