"""One fit: a candidate's estimator trained on one fold's training rows and scored on its test rows.

This runs in worker processes; it returns plain data and never touches the store.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
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

    def to_record(self) -> dict[str, Any]:
        return {
            "test": self.test_scores,
            "train": self.train_scores,
            "fit_time": self.fit_time,
            "score_time": self.score_time,
            "error": self.error,
        }

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
        )


def take_rows(data: Any, rows: np.ndarray) -> Any:
    """Rows of an array, a DataFrame/Series (by position) or a list."""
    if data is None:
        return None
    if hasattr(data, "iloc"):
        return data.iloc[rows]
    if hasattr(data, "shape"):
        return data[rows]
    return [data[i] for i in rows]


def fit_and_score(
    estimator: Any,
    params: dict[str, Any],
    X: Any,
    y: Any,
    train: np.ndarray,
    test: np.ndarray,
    scorers: dict[str, Scorer],
    *,
    candidate: int,
    fold: int,
    return_train_score: bool,
    error_score: Any,
    fit_params: dict[str, Any] | None = None,
) -> FoldResult:
    """Fit a fresh clone with ``params`` on ``train`` and score it, exactly as GridSearchCV does."""
    model = clone(estimator).set_params(**clone(params, safe=False))
    X_train, y_train = take_rows(X, train), take_rows(y, train)
    X_test, y_test = take_rows(X, test), take_rows(y, test)
    fit_kwargs = {
        k: _fold_param(v, train, len(train) if y is None else len(y)) for k, v in (fit_params or {}).items()
    }
    start = time.perf_counter()
    try:
        if y_train is None:
            model.fit(X_train, **fit_kwargs)
        else:
            model.fit(X_train, y_train, **fit_kwargs)
    except Exception as error:
        if error_score == "raise":
            raise
        fit_time = time.perf_counter() - start
        failed = {name: float(error_score) for name in scorers}
        return FoldResult(
            candidate,
            fold,
            failed,
            dict(failed) if return_train_score else None,
            fit_time,
            0.0,
            error="".join(traceback.format_exception_only(type(error), error)).strip(),
        )
    fit_time = time.perf_counter() - start
    test_scores = _score_all(model, X_test, y_test, scorers, error_score)
    score_time = time.perf_counter() - start - fit_time
    train_scores = _score_all(model, X_train, y_train, scorers, error_score) if return_train_score else None
    return FoldResult(candidate, fold, test_scores, train_scores, fit_time, score_time)


def _score_all(model: Any, X: Any, y: Any, scorers: dict[str, Scorer], error_score: Any) -> dict[str, float]:
    scores = {}
    for name, scorer in scorers.items():
        try:
            value = scorer(model, X, y) if y is not None else scorer(model, X)
        except Exception:
            if error_score == "raise":
                raise
            value = error_score
        if not isinstance(value, Real):
            raise TypeError(f"scorer {name!r} returned {value!r}, not a number")
        scores[name] = float(value)
    return scores


def _fold_param(value: Any, rows: np.ndarray, n_samples: int) -> Any:
    # Per-sample fit params (sample_weight, ...) follow the fold; anything else passes through.
    if hasattr(value, "__len__") and not isinstance(value, str | dict) and len(value) == n_samples:
        return take_rows(
            value if hasattr(value, "shape") or hasattr(value, "iloc") else np.asarray(value), rows
        )
    return value
