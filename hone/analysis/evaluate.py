"""The one look at the test set: metrics with confidence intervals, and a guard that counts every look.

``load_test_set`` is the only place in hone that reads test rows, and only once the split they come from
is the one locked in the store by ``hone tune``. Each evaluation is recorded, so choosing between models
on the test set (which makes its estimate optimistic) is visible and warned about.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse, stats
from sklearn.base import is_classifier
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline

from hone.analysis.candidate import Candidate
from hone.config.schema import ProjectConfig
from hone.data import frame_sha256
from hone.data.training import TrainingSet, features_of, load_training_set, read_source
from hone.errors import DataError, HoneError, StoreError
from hone.search.scoring import display_score
from hone.store.db import Store
from hone.store.jsonable import finite_or_none, params_key

Task = Literal["regression", "classification"]
Values = dict[str, np.ndarray]

# Metric keys -> how people read them; the report uses both.
METRIC_LABELS = {
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R²",
    "accuracy": "accuracy",
    "f1": "F1",
    "roc_auc": "ROC AUC",
    "log_loss": "log loss",
}
LOWER_IS_BETTER = frozenset({"rmse", "mae", "log_loss"})
# The search's scoring name -> the test metric it is comparable with (the CV column of `hone evaluate`).
SCORING_METRICS = {
    "neg_mean_squared_error": "rmse",
    "neg_root_mean_squared_error": "rmse",
    "neg_mean_absolute_error": "mae",
    "r2": "r2",
    "accuracy": "accuracy",
    "f1": "f1",
    "f1_macro": "f1",
    "roc_auc": "roc_auc",
    "roc_auc_ovr": "roc_auc",
    "neg_log_loss": "log_loss",
}

# Bootstrap resamples are drawn in blocks of about this many cells, to bound memory on large test sets.
_BLOCK_CELLS = 2_000_000


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass
class TestEvaluation:
    """A candidate refitted on the training set and scored on the test set."""

    __test__ = False  # not a pytest test class, despite the name

    model: str
    study: str | None
    params: dict[str, Any]
    cv_metric: str  # the search's refit metric as people read it ("RMSE")
    cv_score: float  # the candidate's CV score in those units, to set beside the test metrics
    task: Task
    n_test: int
    confidence: float
    n_bootstrap: int
    metrics: dict[str, float]  # keys of METRIC_LABELS
    intervals: dict[str, Interval]  # percentile bootstrap, one per metric
    rmse_t_interval: Interval | None  # the book's t-interval on squared errors (regression only)
    index: np.ndarray = field(repr=False)  # the test rows' positions in the data
    y_true: np.ndarray = field(repr=False)
    y_pred: np.ndarray = field(repr=False)
    # Regression: y_pred - y_true (as the book's squared errors); classification: 1.0 where wrong.
    errors: np.ndarray = field(repr=False)
    proba: np.ndarray | None = field(repr=False)
    classes: list[Any] | None
    pipeline: Pipeline = field(repr=False)  # fitted on the whole training set: the final model
    cv_key: str | None = None  # the key of ``metrics`` the CV score compares with, if any
    cv_std: float = math.nan  # the CV score's fold standard deviation, in display units

    def to_dict(self) -> dict[str, Any]:
        """Metrics, intervals and the CV score as plain JSON (NaN as null), as stored with each look."""
        return {
            "task": self.task,
            "n_test": self.n_test,
            "confidence": self.confidence,
            "n_bootstrap": self.n_bootstrap,
            "metrics": {name: finite_or_none(value) for name, value in self.metrics.items()},
            "bootstrap": {name: _json_interval(i) for name, i in self.intervals.items()},
            "rmse_t_interval": None if self.rmse_t_interval is None else _json_interval(self.rmse_t_interval),
            "cv": {
                "metric": self.cv_metric,
                "score": finite_or_none(self.cv_score),
                "std": finite_or_none(self.cv_std),
                "key": self.cv_key,
            },
        }


@dataclass(frozen=True)
class Peeking:
    """How often the test set was looked at, as recorded in the store after this look."""

    evaluation_id: int
    n_before: int  # looks at this test set before this one
    models_before: list[str]  # their models, in order of first look
    final_before: str | None  # the model marked final before this look, if any
    final: bool  # this look marks its model as the final choice
    warning: str | None

    @property
    def n_looks(self) -> int:
        return self.n_before + 1



def _json_interval(interval: Interval) -> list[float | None]:
    return [finite_or_none(interval.low), finite_or_none(interval.high)]


# -- the test rows ---------------------------------------------------------------------------------


def load_test_set(
    config: ProjectConfig, store: Store, training: TrainingSet | None = None
) -> tuple[pd.DataFrame, pd.Series]:
    """The test rows (features, target), only if they are exactly the ones locked when tuning.

    Pass the ``training`` set already loaded, if any, to reuse its split instead of splitting again."""
    locked = store.locked_split(config.project)
    if locked is None:
        raise StoreError(
            f"project {config.project!r} has no locked test set: run `hone tune` first", where=store.url
        )
    split = (training or load_training_set(config)).split
    if split.data_sha256 != locked.data_sha256 or split.test_ids_sha256 != locked.test_ids_sha256:
        raise DataError(
            f"the data or split changed since tuning (test set locked on {locked.created_at:%Y-%m-%d});"
            " restore them, or tune again under a new project name",
            where=config.where("data"),
        )
    data = config.data
    frame = read_source(data.dataset, data.path)
    # Read a second time (load_training_set keeps the frame to itself): it must be the same table.
    if frame_sha256(frame) != split.data_sha256:
        raise DataError(
            "the data changed while it was being read; run the command again", where=config.where("data")
        )
    test = frame.iloc[split.test_index]
    return features_of(test, data.target, data.not_features), test[data.target]


# -- evaluation ------------------------------------------------------------------------------------


def evaluate(
    candidate: Candidate,
    training: TrainingSet,
    X_test: pd.DataFrame,  # noqa: N803 - scikit-learn's naming
    y_test: pd.Series,
    *,
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    random_state: int | None = 0,
) -> TestEvaluation:
    """Fit preparation + model on the training set, predict the test set (only transformed), score it."""
    if not 0 < confidence < 1:
        raise HoneError(f"confidence must be between 0 and 1, got {confidence!r}", where="confidence")
    if n_bootstrap < 1:
        raise HoneError(f"n_bootstrap must be at least 1, got {n_bootstrap!r}", where="n_bootstrap")
    pipeline = candidate.pipeline(training).fit(training.X, training.y)
    y = np.asarray(y_test)
    pred = np.asarray(pipeline.predict(X_test))
    proba: np.ndarray | None = None
    classes: list[Any] | None = None
    t_interval: Interval | None = None
    if is_classifier(pipeline.named_steps["model"]):
        task: Task = "classification"
        class_array = np.asarray(pipeline.classes_)
        classes = class_array.tolist()
        if hasattr(pipeline, "predict_proba"):
            proba = np.asarray(pipeline.predict_proba(X_test), dtype=np.float64)
        metrics, values = _classification(y, pred, proba, class_array)
        errors = (pred != y).astype(np.float64)
    else:
        task = "regression"
        y, pred = y.astype(np.float64), pred.astype(np.float64)
        metrics, values = _regression(y, pred)
        errors = pred - y
        t_interval = _rmse_t_interval(errors**2, confidence)
    cv_metric, cv_score = display_score(candidate.summary.scoring, candidate.cv_score)
    return TestEvaluation(
        model=candidate.model.name,
        study=candidate.summary.study,
        params=dict(candidate.params),
        cv_metric=cv_metric,
        cv_score=float(cv_score),
        task=task,
        n_test=len(y),
        confidence=confidence,
        n_bootstrap=n_bootstrap,
        metrics=metrics,
        intervals=_bootstrap(values, len(y), n_bootstrap, random_state, confidence),
        rmse_t_interval=t_interval,
        index=np.asarray(X_test.index),
        y_true=y,
        y_pred=pred,
        errors=errors,
        proba=proba,
        classes=classes,
        pipeline=pipeline,
        cv_key=SCORING_METRICS.get(str(candidate.summary.scoring)),
        cv_std=candidate.summary.display_fold_std(candidate.index),
    )


def _rmse_t_interval(squared_errors: np.ndarray, confidence: float) -> Interval:
    """The book's interval: a t-interval on the mean squared error, square-rooted."""
    scale = stats.sem(squared_errors)
    mse = squared_errors.mean()
    if scale == 0:  # every error the same size: scipy's interval degenerates to NaN
        return Interval(math.sqrt(mse), math.sqrt(mse))
    low, high = stats.t.interval(confidence, len(squared_errors) - 1, loc=mse, scale=scale)
    # A wide interval on few rows can reach below zero, where the square root is undefined.
    return Interval(math.sqrt(max(low, 0.0)), math.sqrt(high))


def _regression(y: np.ndarray, pred: np.ndarray) -> tuple[dict[str, float], Callable[[np.ndarray], Values]]:
    metrics = {
        "rmse": math.sqrt(mean_squared_error(y, pred)),
        "mae": float(mean_absolute_error(y, pred)),
        "r2": float(r2_score(y, pred)),
    }
    return metrics, lambda weights: regression_values(weights, y, pred)


def _classification(
    y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None, classes: np.ndarray
) -> tuple[dict[str, float], Callable[[np.ndarray], Values]]:
    binary = len(classes) == 2
    metrics = {"accuracy": float(accuracy_score(y, pred))}
    if binary:
        metrics["f1"] = float(f1_score(y, pred, pos_label=classes[1], zero_division=0.0))
    else:
        metrics["f1"] = float(f1_score(y, pred, average="macro", zero_division=0.0))
    if proba is not None:
        unseen = sorted(set(np.unique(y).tolist()) - set(classes.tolist()), key=str)
        if unseen:
            raise DataError(
                f"the test set has class(es) {unseen} that the training set never has;"
                " probabilities cannot score them (use a split stratified on the target)"
            )
        if binary:
            positive = y == classes[1]
            metrics["roc_auc"] = (
                float(roc_auc_score(positive, proba[:, 1])) if 0 < positive.sum() < len(y) else math.nan
            )
        else:
            try:
                metrics["roc_auc"] = float(
                    roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes)
                )
            except ValueError:  # a class missing from the test set: its one-vs-rest AUC is undefined
                metrics["roc_auc"] = math.nan
        metrics["log_loss"] = float(log_loss(y, proba, labels=classes))
    return metrics, lambda weights: classification_values(weights, y, pred, proba, classes)


# -- vectorised metrics on bootstrap resamples --------------------------------------------------------
# A resample is a row of counts (how often each test row was drawn), so every metric is a weighted
# sum over the test rows: one matrix product for all resamples instead of a Python loop.


def regression_values(weights: np.ndarray, y: np.ndarray, pred: np.ndarray) -> Values:
    total = weights.sum(axis=1)
    error = pred - y
    sse = weights @ error**2
    centred = y - y.mean()  # centring keeps the sum of squares accurate for large targets
    sst = weights @ centred**2 - (weights @ centred) ** 2 / total
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(sst > 0, 1 - sse / sst, np.nan)
    return {"rmse": np.sqrt(sse / total), "mae": weights @ np.abs(error) / total, "r2": r2}


def classification_values(
    weights: np.ndarray, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None, classes: np.ndarray
) -> Values:
    total = weights.sum(axis=1)
    values = {"accuracy": weights @ (pred == y).astype(np.float64) / total}
    f1 = []
    for label in classes:
        true, predicted = y == label, pred == label
        tp = weights @ (true & predicted).astype(np.float64)
        wrong = weights @ (true ^ predicted).astype(np.float64)  # false positives + false negatives
        denominator = 2 * tp + wrong
        with np.errstate(divide="ignore", invalid="ignore"):
            # A class neither in the resample nor predicted is left out of the macro average, as in sklearn.
            f1.append(np.where(denominator > 0, 2 * tp / denominator, np.nan))
    if len(classes) == 2:
        values["f1"] = np.nan_to_num(f1[1], nan=0.0)  # sklearn's zero_division=0 for the positive class
    else:
        with np.errstate(invalid="ignore"):
            values["f1"] = np.nanmean(np.column_stack(f1), axis=1)
    if proba is not None:
        if len(classes) == 2:
            values["roc_auc"] = _weighted_auc(weights, y == classes[1], proba[:, 1])
        else:
            per_class = [_weighted_auc(weights, y == label, proba[:, k]) for k, label in enumerate(classes)]
            values["roc_auc"] = np.mean(np.column_stack(per_class), axis=1)
        eps = np.finfo(proba.dtype).eps  # clipped as sklearn's log_loss does
        p_true = proba[np.arange(len(y)), np.searchsorted(classes, y)]
        values["log_loss"] = weights @ -np.log(np.clip(p_true, eps, 1 - eps)) / total
    return values


def _weighted_auc(weights: np.ndarray, positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """ROC AUC per resample as a Mann-Whitney statistic (ties count one half, as the ROC curve does)."""
    levels, group = np.unique(score, return_inverse=True)
    n, n_levels = len(score), len(levels)

    def per_level(mask: np.ndarray) -> np.ndarray:
        rows = np.flatnonzero(mask)
        members = sparse.csr_matrix(
            (np.ones(len(rows)), (rows, group[rows])), shape=(n, n_levels)
        )  # row -> its score level
        return np.asarray((members.T @ weights.T).T)

    pos, neg = per_level(positive), per_level(~positive)
    below = np.cumsum(neg, axis=1) - neg
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pairs > 0, (pos * (below + 0.5 * neg)).sum(axis=1) / pairs, np.nan)


def _bootstrap(
    values: Callable[[np.ndarray], Values],
    n: int,
    n_bootstrap: int,
    random_state: int | None,
    confidence: float,
) -> dict[str, Interval]:
    """Percentile intervals from ``n_bootstrap`` resamples of the test rows (seeded, so reproducible)."""
    rng = np.random.default_rng(random_state)
    block = max(1, _BLOCK_CELLS // n)
    drawn: dict[str, list[np.ndarray]] = {}
    for start in range(0, n_bootstrap, block):
        size = min(block, n_bootstrap - start)
        rows = rng.integers(0, n, size=(size, n))
        offsets = n * np.arange(size)[:, None]
        counts = np.bincount((rows + offsets).ravel(), minlength=size * n).reshape(size, n)
        for name, part in values(counts.astype(np.float64)).items():
            drawn.setdefault(name, []).append(part)
    tail = 100 * (1 - confidence) / 2
    intervals = {}
    for name, parts in drawn.items():
        sample = np.concatenate(parts)
        # Undefined resamples (one class only, for an AUC) are left out rather than poisoning the rest.
        sample = sample[np.isfinite(sample)]
        if sample.size == 0:
            intervals[name] = Interval(math.nan, math.nan)
            continue
        low, high = np.percentile(sample, [tail, 100 - tail])
        intervals[name] = Interval(float(low), float(high))
    return intervals


# -- the peeking guard -----------------------------------------------------------------------------


def record(
    store: Store,
    config: ProjectConfig,
    candidate: Candidate,
    evaluation: TestEvaluation,
    *,
    final: bool = False,
) -> Peeking:
    """Count this look at the test set and warn when the test set is being used to choose a model.

    Looking at another model (or other params) after a first look is a selection on the test set, which
    makes the chosen estimate optimistic. Re-evaluating the very same model and params is counted but
    not warned about: the same model seen twice is no new selection, so its estimate stays unbiased.
    """
    if evaluation.model != candidate.model.name or evaluation.params != candidate.params:
        raise ValueError("the evaluation is not of this candidate")
    locked = store.locked_split(config.project)
    if locked is None:
        raise StoreError(
            f"project {config.project!r} has no locked test set: run `hone tune` first", where=store.url
        )
    this = (candidate.model.name, params_key(candidate.params))
    before = [
        row for row in store.evaluations(config.project) if row.test_ids_sha256 == locked.test_ids_sha256
    ]
    final_row = next((row for row in reversed(before) if row.final), None)
    evaluation_id = store.record_evaluation(
        config.project,
        locked.test_ids_sha256,
        candidate.model.name,
        candidate.summary.study or "",
        candidate.params,
        evaluation.to_dict(),
        final=final,
    )
    warning = None
    if any((row.model, row.params) != this for row in before):
        models = ", ".join(dict.fromkeys([*(row.model for row in before), candidate.model.name]))
        chosen = ""
        if final_row is not None and (final_row.model, final_row.params) != this:
            chosen = f" and {final_row.model} was already chosen as final"
        warning = (
            f"the test set has now been used {len(before) + 1} times ({models}){chosen}:"
            " this estimate is optimistic; keep the first final choice or collect fresh test data"
        )
    return Peeking(
        evaluation_id=evaluation_id,
        n_before=len(before),
        models_before=list(dict.fromkeys(row.model for row in before)),
        final_before=None if final_row is None else final_row.model,
        final=final,
        warning=warning,
    )
