"""Plain inputs of the HTML report: numbers already in display units, nothing tied to hone's store.

Glue code fills these from the search summaries and analysis results; the renderer only reads them, so
the report can be built (and tested) from made-up numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Numbers = Sequence[float]  # a list or a 1-d numpy array

DEFAULT_HINTS: dict[str, str] = {
    "importances": "Run `hone analyze` to add feature importances.",
    "drop": "No feature-dropping experiment yet: try dropping the least useful features and tune again.",
    "errors": "Run `hone analyze` to add the error analysis.",
    "test": "Run `hone evaluate` to add the test evaluation.",
}


@dataclass(kw_only=True)
class SearchPanel:
    """One tuned model: every candidate's parameters and cross-validated score."""

    model: str
    strategy: str  # "grid", "random", ...
    score_label: str  # "RMSE"
    lower_is_better: bool
    params: list[dict[str, Any]]
    scores: list[float]  # mean CV score per candidate, display units (RMSE, not neg MSE)
    score_std: list[float]  # std of the fold scores per candidate
    best_index: int
    train_scores: list[float] | None = None
    notes: list[str] = field(default_factory=list)  # e.g. hone.search.space.describe_edges(...)
    n_splits: int | None = None

    def __post_init__(self) -> None:
        n = len(self.params)
        if n == 0:
            raise ValueError(f"SearchPanel {self.model!r}: no candidates")
        lengths = {"scores": len(self.scores), "score_std": len(self.score_std)}
        if self.train_scores is not None:
            lengths["train_scores"] = len(self.train_scores)
        for name, length in lengths.items():
            if length != n:
                raise ValueError(f"SearchPanel {self.model!r}: {name} has {length} values for {n} candidates")
        if not 0 <= self.best_index < n:
            raise ValueError(f"SearchPanel {self.model!r}: best_index {self.best_index} is not in 0..{n - 1}")

    @property
    def best_score(self) -> float:
        return float(self.scores[self.best_index])

    @property
    def best_std(self) -> float:
        return float(self.score_std[self.best_index])

    @property
    def best_params(self) -> dict[str, Any]:
        return self.params[self.best_index]


@dataclass
class BarItem:
    """One bar: a feature (or source column) and its importance, with an optional spread (std)."""

    name: str
    value: float
    error: float | None = None


@dataclass(kw_only=True)
class ImportancePanel:
    """Importances of one fitted model; lists are drawn in the order given (sort them, largest first)."""

    model: str  # which candidate, e.g. "random_forest {'max_features': 8, 'n_estimators': 30}"
    features: list[BarItem]  # impurity (or coefficient) importance per prepared feature
    grouped: list[BarItem] = field(default_factory=list)  # summed per source column
    permutation: list[BarItem] = field(default_factory=list)  # score loss when shuffled, error = std
    permutation_label: str = "Score loss when the column is shuffled"


@dataclass(kw_only=True)
class DropPanel:
    """A before/after of dropping features and tuning again."""

    dropped: list[str]
    before: float
    after: float
    label: str  # "RMSE"
    lower_is_better: bool = True


@dataclass(kw_only=True)
class Table:
    """A plain table; cells may be str, int or float (floats get thousands separators)."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    chart_column: str | None = None  # draw this numeric column as bars, labelled by the first column

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"table {self.title!r}: row {row!r} does not match columns {self.columns!r}")
        if self.chart_column is not None and self.chart_column not in self.columns:
            raise ValueError(f"table {self.title!r}: chart_column {self.chart_column!r} is not a column")


@dataclass(kw_only=True)
class ErrorSlices:
    """Where the chosen model errs: out-of-fold predictions and error tables by slice."""

    label: str  # "RMSE"
    truth: Numbers
    predicted: Numbers
    tables: list[Table] = field(default_factory=list)  # error by category, by quantile bin, ...
    worst: Table | None = None  # the rows with the largest errors
    bias: list[str] = field(default_factory=list)  # sentences, e.g. "Underestimates houses above 450,000"
    overall: float | None = None  # overall error, drawn as a reference line on the slice bars
    source: str = "out-of-fold predictions on the training set"
    model: str = ""

    def __post_init__(self) -> None:
        if len(self.truth) != len(self.predicted):
            raise ValueError(f"ErrorSlices: {len(self.truth)} truths but {len(self.predicted)} predictions")


@dataclass(kw_only=True)
class TestPanel:
    """The evaluation on the locked test set.

    ``metrics[label]`` is the headline; every interval whose key is ``label`` or starts with ``label``
    (e.g. "RMSE", "RMSE (bootstrap)") is drawn next to the CV score; the others are only listed.
    """

    __test__ = False  # its name starts with "Test": keep pytest from collecting it

    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float, str]]  # name -> (low, high, method)
    n_test: int
    cv_value: float
    label: str  # "RMSE"
    truth: Numbers | None = None
    predicted: Numbers | None = None
    times_test_set_used: int = 1
    warning: str | None = None
    final: bool = False
    model: str = ""
    confidence: float = 0.95
    lower_is_better: bool = True

    def __post_init__(self) -> None:
        if self.label not in self.metrics:
            raise ValueError(f"TestPanel: metrics has no {self.label!r} (has {sorted(self.metrics)})")
        if (self.truth is None) != (self.predicted is None):
            raise ValueError("TestPanel: give both truth and predicted, or neither")
        if self.truth is not None and len(self.truth) != len(self.predicted):  # type: ignore[arg-type]
            raise ValueError("TestPanel: truth and predicted differ in length")

    @property
    def headline(self) -> float:
        return float(self.metrics[self.label])

    def headline_intervals(self) -> dict[str, tuple[float, float, str]]:
        return {k: v for k, v in self.intervals.items() if k.startswith(self.label)}


@dataclass(kw_only=True)
class ReportData:
    """Everything one report shows; every section but the searches may be missing."""

    project: str
    generated_at: str
    searches: list[SearchPanel]
    importances: ImportancePanel | None = None
    drop: DropPanel | None = None
    errors: ErrorSlices | None = None
    test: TestPanel | None = None
    hints: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_HINTS))  # shown for a missing section

    def best_search(self) -> SearchPanel | None:
        """The search whose best candidate scores best, among those scored like the first one."""
        label = self.searches[0].score_label if self.searches else ""
        finite = [s for s in self.searches if math.isfinite(s.best_score) and s.score_label == label]
        if not finite:
            return None
        lower = finite[0].lower_is_better
        return min(finite, key=lambda s: s.best_score if lower else -s.best_score)
