"""Where the tuned model goes wrong: out-of-fold errors sliced by category, by quantile bin, worst rows.

Out-of-fold predictions come from the search's own folds and path, so every training row is predicted
by a model that never saw it (the test set stays locked).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import is_classifier
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from hone.analysis.candidate import Candidate
from hone.analysis.importance import SearchPath, search_path
from hone.data.training import TrainingSet
from hone.errors import HoneError
from hone.store.jsonable import python_value

CAP_SHARE = 0.005  # a target maximum this common is a cap, not a coincidence
TOP_BIASED = 3  # how many of the most biased slices to report
MIN_RELATIVE_BIAS = 0.1  # ... when their bias is at least this share of the overall RMSE
MIN_SLICE_SHARE = 0.01  # ... and they hold at least this share of the rows (tiny slices are noise)


def oof_predictions(
    candidate: Candidate, training: TrainingSet, n_jobs: int | None = None, path: SearchPath | None = None
) -> np.ndarray:
    """Each training row predicted by the model fitted on the other folds (the search's folds and path)."""
    path = path or search_path(candidate, training)
    parts = Parallel(n_jobs=n_jobs)(delayed(_fold_predictions)(path, i) for i in range(len(path.folds)))
    predictions = np.empty(len(path.y), dtype=np.result_type(*(p for _, p in parts)))
    seen = np.zeros(len(path.y), dtype=int)
    for rows, predicted in parts:
        predictions[rows] = predicted
        seen[rows] += 1
    if not (seen == 1).all():
        raise HoneError("the search's folds do not predict every training row exactly once")
    return predictions


def _fold_predictions(path: SearchPath, index: int) -> tuple[np.ndarray, np.ndarray]:
    fold = path.fold(index)
    return fold.valid_rows, path.fitted(index).predict(fold.X_valid)


@dataclass
class SliceError:
    """Errors on some rows; regression fills rmse/mae/bias, classification error_rate."""

    column: str  # a data column, the target, or "(all)"
    slice: str  # a category, a bin such as "[3.1, 4.7)", or "missing"
    n: int
    rmse: float | None = None
    mae: float | None = None
    bias: float | None = None  # mean(prediction - truth): negative means under-predicted
    error_rate: float | None = None
    low: float | None = None  # a bin's edges, for charts
    high: float | None = None


@dataclass
class WorstRow:
    row_id: Any  # the row's label in the data (training.X.index)
    truth: Any
    prediction: Any
    error: float  # prediction - truth (classification: 1.0 for a wrong class)
    features: dict[str, Any] = field(default_factory=dict)


@dataclass
class Finding:
    """A systematic error worth a look, with the numbers behind its sentence."""

    kind: str  # "cap", "biased slice" (regression) or "error-prone slice" (classification)
    column: str
    slice: str
    n: int
    bias: float  # regression: mean(prediction - truth); classification: error rate
    message: str


@dataclass
class ErrorReport:
    model: str
    task: str  # "regression" or "classification"
    target: str
    overall: SliceError
    by_category: list[SliceError]
    by_bin: list[SliceError]  # quantile bins of each numeric column, then the target (classes if classifier)
    worst: list[WorstRow]
    findings: list[Finding]

    @property
    def accuracy(self) -> float | None:
        rate = self.overall.error_rate
        return None if rate is None else 1.0 - rate


def error_report(
    candidate: Candidate, training: TrainingSet, predictions: np.ndarray, *, bins: int = 5, worst: int = 10
) -> ErrorReport:
    """Slice the out-of-fold errors (see `oof_predictions`) by the data's columns and the target."""
    y = training.y.to_numpy()
    predictions = np.asarray(predictions)
    if predictions.shape != y.shape:
        raise ValueError(f"{predictions.shape[0]} predictions for {len(y)} training rows")
    classify = is_classifier(candidate.estimator())
    numeric, categorical = _feature_kinds(candidate, training)
    target = str(training.y.name)
    every = np.ones(len(y), dtype=bool)
    overall = _errors("(all)", "all", y, predictions, every, classify)
    by_category = [
        row
        for column in categorical
        for row in _by_category(column, training.X[column], y, predictions, classify)
    ]
    by_bin = [
        row
        for column in numeric
        for row in _by_bin(column, training.X[column], y, predictions, bins, classify)
    ]
    target_values = pd.Series(y)
    if classify:
        by_bin += _by_category(target, target_values, y, predictions, classify)
    else:
        by_bin += _by_bin(target, target_values, y, predictions, bins, classify)
    findings = _cap_findings(target, y, predictions, classify) + _biased_slices(
        overall, by_category + by_bin, len(y), classify
    )
    return ErrorReport(
        model=candidate.label,
        task="classification" if classify else "regression",
        target=target,
        overall=overall,
        by_category=by_category,
        by_bin=by_bin,
        worst=_worst_rows(training, y, predictions, worst, classify),
        findings=findings,
    )


def _feature_kinds(candidate: Candidate, training: TrainingSet) -> tuple[list[str], list[str]]:
    # The preparation knows which columns are features and which of them are categorical.
    numeric: list[str] = []
    categorical: list[str] = []
    for _, transformer, columns in candidate.pipeline(training)[0].transformers:
        kind = categorical if isinstance(transformer, OneHotEncoder | OrdinalEncoder) else numeric
        kind.extend(str(c) for c in columns)
    return numeric, categorical


def _errors(
    column: str, label: str, y: np.ndarray, predicted: np.ndarray, rows: np.ndarray, classify: bool
) -> SliceError:
    n = int(rows.sum())
    if n == 0:
        return SliceError(column, label, 0)
    if classify:
        return SliceError(column, label, n, error_rate=float(np.mean(y[rows] != predicted[rows])))
    error = predicted[rows].astype(float) - y[rows].astype(float)
    return SliceError(
        column,
        label,
        n,
        rmse=float(np.sqrt(np.mean(error**2))),
        mae=float(np.mean(np.abs(error))),
        bias=float(np.mean(error)),
    )


def _by_category(
    column: str, values: pd.Series, y: np.ndarray, predicted: np.ndarray, classify: bool
) -> list[SliceError]:
    values = values.reset_index(drop=True)
    missing = values.isna().to_numpy()
    rows = []
    for category in values.value_counts().index:
        rows.append(_errors(column, str(category), y, predicted, (values == category).to_numpy(), classify))
    if missing.any():
        rows.append(_errors(column, "missing", y, predicted, missing, classify))
    return rows


def _by_bin(
    column: str, values: pd.Series, y: np.ndarray, predicted: np.ndarray, bins: int, classify: bool
) -> list[SliceError]:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    missing = np.isnan(numbers)
    rows = []
    if (~missing).any():
        # Quantile edges; repeated values (a cap, many zeros) can merge bins, so fewer may come out.
        edges = np.unique(np.quantile(numbers[~missing], np.linspace(0, 1, bins + 1)))
        which = np.searchsorted(edges[1:-1], numbers, side="right")
        shown = _edge_labels(edges)
        for index in range(max(len(edges) - 1, 1)):
            top = min(index + 1, len(edges) - 1)
            low, high = edges[index], edges[top]
            closing = "]" if index >= len(edges) - 2 else ")"
            label = f"[{shown[index]}, {shown[top]}{closing}"
            row = _errors(column, label, y, predicted, (which == index) & ~missing, classify)
            row.low, row.high = float(low), float(high)
            rows.append(row)
    if missing.any():
        rows.append(_errors(column, "missing", y, predicted, missing, classify))
    return rows


def _worst_rows(
    training: TrainingSet, y: np.ndarray, predicted: np.ndarray, count: int, classify: bool
) -> list[WorstRow]:
    if classify:
        error = (y != predicted).astype(float)
        order = np.flatnonzero(error)[:count]  # no size to a wrong class: the first ones, in data order
    else:
        error = predicted.astype(float) - y.astype(float)
        order = np.argsort(-np.abs(error), kind="stable")[:count]
    return [
        WorstRow(
            row_id=python_value(training.X.index[i]),
            truth=python_value(y[i]),
            prediction=python_value(predicted[i]),
            error=float(error[i]),
            features={str(k): python_value(v) for k, v in training.X.iloc[i].items()},
        )
        for i in order
    ]


def _cap_findings(target: str, y: np.ndarray, predicted: np.ndarray, classify: bool) -> list[Finding]:
    if classify or len(y) == 0:
        return []
    top = float(np.max(y))
    at_top = y == top
    n = int(at_top.sum())
    if n < CAP_SHARE * len(y) or n < 2:
        return []
    bias = float(np.mean(predicted[at_top] - y[at_top]))
    direction = "under" if bias < 0 else "over"
    message = (
        f"{n} rows ({n / len(y):.1%}) have the target's maximum {target} = {_num(top)}, likely a cap:"
        f" they are {direction}-predicted by {_num(abs(bias))} on average"
    )
    return [Finding("cap", target, f"= {_num(top)}", n, bias, message)]


def _biased_slices(
    overall: SliceError, slices: list[SliceError], n_rows: int, classify: bool
) -> list[Finding]:
    big_enough = [s for s in slices if s.n >= max(MIN_SLICE_SHARE * n_rows, 2)]
    if classify:
        return _error_prone_slices(overall, big_enough)
    rmse = overall.rmse or 0.0
    findings: list[Finding] = []
    for s in sorted(big_enough, key=lambda s: -abs(s.bias or 0.0))[:TOP_BIASED]:
        bias = s.bias or 0.0
        if rmse == 0 or abs(bias) < MIN_RELATIVE_BIAS * rmse:
            break
        direction = "under" if bias < 0 else "over"
        message = (
            f"{s.column} {s.slice}: {direction}-predicted by {_num(abs(bias))} on average"
            f" ({abs(bias) / rmse:.2f} x the overall RMSE, {s.n} rows)"
        )
        findings.append(Finding("biased slice", s.column, s.slice, s.n, bias, message))
    return findings


def _error_prone_slices(overall: SliceError, slices: list[SliceError]) -> list[Finding]:
    base = overall.error_rate or 0.0
    worse = sorted((s for s in slices if (s.error_rate or 0.0) > base), key=lambda s: -(s.error_rate or 0.0))
    findings = []
    for s in worse[:TOP_BIASED]:
        rate = s.error_rate or 0.0
        message = f"{s.column} {s.slice}: error rate {rate:.1%} against {base:.1%} overall ({s.n} rows)"
        findings.append(Finding("error-prone slice", s.column, s.slice, s.n, rate, message))
    return findings


def _edge_labels(edges: np.ndarray) -> list[str]:
    # As few digits as keep neighbouring edges apart (-122.24 and -122.15 both read -122.2 at 4).
    for digits in range(3, 13):
        labels = [f"{v:,.0f}" if abs(v) >= 10**digits else f"{v:.{digits}g}" for v in edges]
        if len(set(labels)) == len(labels):
            return labels
    return [repr(float(v)) for v in edges]



def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
