"""From hone's results (stored searches, an analysis, the recorded test evaluation) to ReportData."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

from hone.analysis.bundle import Analysis
from hone.analysis.error_slices import SliceError
from hone.analysis.evaluate import LOWER_IS_BETTER, METRIC_LABELS
from hone.report.model import (
    BarItem,
    DropPanel,
    ErrorSlices,
    ImportancePanel,
    ReportData,
    SearchPanel,
    Table,
    TestPanel,
)
from hone.search.scoring import lower_is_better
from hone.search.space import describe_edges
from hone.search.summary import SearchSummary

_LOWER_IS_BETTER_LABELS = {METRIC_LABELS[key] for key in LOWER_IS_BETTER}


def search_panel(summary: SearchSummary) -> SearchPanel:
    indices = range(summary.n_candidates)
    return SearchPanel(
        model=summary.model,
        strategy=summary.strategy,
        score_label=summary.label,
        lower_is_better=summary.lower_is_better,
        params=list(summary.cv_results["params"]),
        scores=[summary.display_mean(i) for i in indices],
        score_std=[summary.display_fold_std(i) for i in indices],
        best_index=summary.best_index,
        train_scores=[summary.display_mean(i, "train") for i in indices]
        if summary.has_train_scores
        else None,
        notes=describe_edges(summary.edges),
        n_splits=summary.n_splits,
    )


def importance_panel(analysis: Analysis) -> ImportancePanel | None:
    if analysis.importances is None and analysis.permutation is None:
        return None
    imp, perm = analysis.importances, analysis.permutation
    return ImportancePanel(
        model=analysis.candidate.label,
        features=[BarItem(f.feature, f.importance) for f in imp.features] if imp else [],
        grouped=[BarItem(g.source, g.importance) for g in imp.grouped] if imp else [],
        permutation=[BarItem(p.feature, p.worse_by, p.worse_std) for p in perm.grouped] if perm else [],
        permutation_label=f"{perm.label} worse when the column is shuffled" if perm else "",
    )


def drop_panel(analysis: Analysis) -> DropPanel | None:
    drop = analysis.drop
    if drop is None:
        return None
    return DropPanel(
        dropped=drop.dropped,
        before=drop.before,
        after=drop.after,
        label=drop.label,
        lower_is_better=lower_is_better(drop.scoring),
    )


def _slice_rows(slices: list[SliceError], regression: bool) -> list[list[Any]]:
    if regression:
        return [[s.column, s.slice, s.n, s.rmse, s.mae, s.bias] for s in slices]
    return [[s.column, s.slice, s.n, s.error_rate] for s in slices]


def error_slices(analysis: Analysis) -> ErrorSlices:
    report = analysis.errors
    regression = report.task == "regression"
    columns = (
        ["column", "slice", "rows", "RMSE", "MAE", "bias"]
        if regression
        else ["column", "slice", "rows", "error rate"]
    )
    chart = "RMSE" if regression else "error rate"
    tables = (
        [
            Table(
                title="Error by category",
                columns=columns,
                rows=_slice_rows(report.by_category, regression),
                chart_column=chart,
            )
        ]
        if report.by_category
        else []
    )
    target_bins = [s for s in report.by_bin if s.column == report.target]
    tables.append(
        Table(
            title=f"Error by {report.target} quantile",
            columns=columns,
            rows=_slice_rows(target_bins, regression),
            chart_column=chart,
        )
    )
    tables.append(
        Table(
            title="Error by quantile bins of each feature",
            columns=columns,
            rows=_slice_rows([s for s in report.by_bin if s.column != report.target], regression),
        )
    )
    worst = Table(
        title="Worst-predicted rows",
        columns=["row", "truth", "prediction", "error"],
        rows=[[str(w.row_id), w.truth, w.prediction, w.error] for w in report.worst],
    )
    overall = report.overall.rmse if regression else report.overall.error_rate
    return ErrorSlices(
        label="RMSE" if regression else "error rate",
        truth=analysis.truth,
        predicted=analysis.predictions,
        tables=tables,
        worst=worst,
        bias=[f.message for f in report.findings],
        overall=overall,
        model=analysis.candidate.label,
    )


def test_panel(row: Any, looks: int) -> TestPanel | None:
    """The latest recorded look at the test set (the report never looks again itself)."""
    if row is None:
        return None
    stored = json.loads(row.metrics)
    metrics = {METRIC_LABELS.get(k, k): v for k, v in stored["metrics"].items() if v is not None}
    intervals: dict[str, tuple[float, float, str]] = {}
    if stored.get("rmse_t_interval"):
        low, high = stored["rmse_t_interval"]
        intervals["RMSE"] = (low, high, "t-interval on squared errors")
    for key, bounds in stored.get("bootstrap", {}).items():
        if bounds and None not in bounds:
            intervals[f"{METRIC_LABELS.get(key, key)} (bootstrap)"] = (
                bounds[0],
                bounds[1],
                "percentile bootstrap",
            )
    label = "RMSE" if "RMSE" in metrics else next(iter(metrics))
    cv = stored.get("cv", {}).get("score")
    return TestPanel(
        metrics=metrics,
        intervals=intervals,
        n_test=int(stored["n_test"]),
        cv_value=cv if cv is not None else math.nan,
        label=label,
        times_test_set_used=looks,
        final=bool(row.final),
        model=row.model,
        confidence=float(stored.get("confidence", 0.95)),
        lower_is_better=label in _LOWER_IS_BETTER_LABELS,
        warning=(
            f"the test set has been used {looks} times: the estimate is optimistic" if looks > 1 else None
        ),
    )


def report_data(
    project: str, summaries: list[SearchSummary], analysis: Analysis | None, evaluation: Any, looks: int
) -> ReportData:
    return ReportData(
        project=project,
        generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        searches=[search_panel(s) for s in summaries],
        importances=importance_panel(analysis) if analysis else None,
        drop=drop_panel(analysis) if analysis else None,
        errors=error_slices(analysis) if analysis else None,
        test=test_panel(evaluation, looks),
    )
