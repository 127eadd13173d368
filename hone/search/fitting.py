"""Fitting and scoring on one fold, in worker processes: plain data out, the store never touched."""

from __future__ import annotations

import time
import traceback
import warnings
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import numpy as np
from sklearn.base import clone

from hone.search.scoring import Scorer


@dataclass
class FoldResult:
    """The outcome of fitting candidate ``candidate`` on fold ``fold``."""

    candidate: int
    fold: int
    test_scores: dict[str, float]
    train_scores: dict[str, float] | None
    fit_time: float
    score_time: float
    error: str | None = None  # the fit's exception, when it failed and error_score stood in
    # The sharing family that failed on this fold and why ("forest: ValueError: ..."): the result is an
    # independent fit's, as it would be without sharing, but the shared speed-up was lost.
    fallback: str | None = None

    def to_record(self) -> dict[str, Any]:
        record = {
            "test": self.test_scores,
            "train": self.train_scores,
            "fit_time": self.fit_time,
            "score_time": self.score_time,
            "error": self.error,
        }
        if self.fallback is not None:  # only then: earlier trial logs read back unchanged
            record["fallback"] = self.fallback
        return record

    @classmethod
    def from_record(cls, candidate: int, fold: int, record: dict[str, Any]) -> FoldResult:
        return cls(
            candidate,
            fold,
            {k: float(v) for k, v in record["test"].items()},
            None if record["train"] is None else {k: float(v) for k, v in record["train"].items()},
            float(record["fit_time"]),
            float(record["score_time"]),
            record.get("error"),
            record.get("fallback"),
        )


@dataclass
class FoldData:
    """One fold's rows; shared fits may hand transformed versions of it to an inner step."""

    X_train: Any
    y_train: Any
    X_test: Any
    y_test: Any


@dataclass(frozen=True)
class FoldContext:
    """What every fit of a search scores with, and how it treats failures."""

    scorers: dict[str, Scorer]
    fold: int
    return_train_score: bool
    error_score: Any
    fit_kwargs: dict[str, Any] = field(default_factory=dict)  # this fold's rows of per-sample fit params


def take_rows(data: Any, rows: np.ndarray) -> Any:
    """Rows of an array, a DataFrame/Series (by position) or a list."""
    if data is None:
        return None
    if hasattr(data, "iloc"):
        return data.iloc[rows]
    if hasattr(data, "shape"):
        return data[rows]
    return [data[i] for i in rows]


def fold_data(X: Any, y: Any, train: np.ndarray, test: np.ndarray) -> FoldData:
    return FoldData(take_rows(X, train), take_rows(y, train), take_rows(X, test), take_rows(y, test))


def fit_params_for(fit_params: dict[str, Any] | None, train: np.ndarray, n_samples: int) -> dict[str, Any]:
    """Per-sample fit params (sample_weight, ...) follow the fold's rows; anything else passes through."""
    out = {}
    for key, value in (fit_params or {}).items():
        if hasattr(value, "__len__") and not isinstance(value, str | dict) and len(value) == n_samples:
            value = take_rows(value if hasattr(value, "shape") else np.asarray(value), train)
        out[key] = value
    return out


def fit_model(model: Any, data: FoldData, fit_kwargs: dict[str, Any]) -> float:
    """Fit in place; returns the seconds it took."""
    start = time.perf_counter()
    if data.y_train is None:
        model.fit(data.X_train, **fit_kwargs)
    else:
        model.fit(data.X_train, data.y_train, **fit_kwargs)
    return time.perf_counter() - start


def failed_result(candidate: int, context: FoldContext, error: BaseException, fit_time: float) -> FoldResult:
    failed = {name: float(context.error_score) for name in context.scorers}
    return FoldResult(
        candidate,
        context.fold,
        failed,
        dict(failed) if context.return_train_score else None,
        fit_time,
        0.0,
        error="".join(traceback.format_exception_only(type(error), error)).strip(),
    )


def score_fitted(
    model: Any, data: FoldData, context: FoldContext, *, candidate: int, fit_time: float
) -> FoldResult:
    """Score a fitted model on the fold, test first then train, timing the test scoring as sklearn does."""
    start = time.perf_counter()
    test_scores = score_all(model, data.X_test, data.y_test, context)
    score_time = time.perf_counter() - start
    train_scores = (
        score_all(model, data.X_train, data.y_train, context) if context.return_train_score else None
    )
    return FoldResult(candidate, context.fold, test_scores, train_scores, fit_time, score_time)


def fit_and_score(model: Any, data: FoldData, context: FoldContext, *, candidate: int) -> FoldResult:
    """Fit a fresh clone of a configured candidate and score it, exactly as GridSearchCV does."""
    fitted = clone(model)
    start = time.perf_counter()
    try:
        fit_time = fit_model(fitted, data, context.fit_kwargs)
    except Exception as error:
        if context.error_score == "raise":
            raise
        return failed_result(candidate, context, error, time.perf_counter() - start)
    return score_fitted(fitted, data, context, candidate=candidate, fit_time=fit_time)


def score_all(model: Any, X: Any, y: Any, context: FoldContext) -> dict[str, float]:
    scores = {}
    for name, scorer in context.scorers.items():
        try:
            value = scorer(model, X, y) if y is not None else scorer(model, X)
        except Exception:
            if context.error_score == "raise":
                raise
            # scikit-learn's own warning (model_selection._validation._score), word for word.
            warnings.warn(
                "Scoring failed. The score on this train-test partition for "
                f"these parameters will be set to {context.error_score}. Details: \n"
                f"{traceback.format_exc()}",
                UserWarning,
                stacklevel=2,
            )
            value = context.error_score
        if not isinstance(value, Real):
            raise TypeError(f"scorer {name!r} returned {value!r}, not a number")
        scores[name] = float(value)
    return scores
