"""Live performance of one window: its metric with a 95% interval, and the rules that judge it.

Pure numbers: ``hone.monitor.checks`` turns the verdict into a ``Check``. Means of per-row losses (RMSE
through the mean squared error, MAE) get a t-interval, as the book does for the test RMSE and as
``hone.analysis.evaluate`` stores it; accuracy, a proportion, a Wilson interval (inside [0, 1]); metrics
that are not a mean of rows (R², F1) get a seeded, vectorised percentile bootstrap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from hone.config.schema import PerformanceRule
from hone.errors import ConfigError

CONFIDENCE = 0.95
LOWER_IS_BETTER = frozenset({"rmse", "mse", "mae", "log_loss"})
# What the prediction log can score: probabilities are not logged, so roc_auc and log_loss are not here.
WINDOW_METRICS = {"regression": ("rmse", "mae", "r2"), "classification": ("accuracy", "f1")}
DEFAULT_METRIC = {"regression": "rmse", "classification": "accuracy"}
N_BOOTSTRAP = 1000
# Bootstraps beyond this many rows resample a seeded subsample and shrink its spread by sqrt(m / n):
# the interval of a mean-like statistic narrows as 1 / sqrt(n), and the cost stays bounded.
BOOTSTRAP_ROWS = 20_000
_BLOCK_CELLS = 4_000_000  # resample weights held at once (32 MB of float64)


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Verdict:
    failed: bool
    threshold: float | None  # the tightest bound among the rules that apply, for plotting
    reasons: list[str]  # one phrase per rule that fired


def metric_for(task: str, rule: PerformanceRule) -> str:
    metric = rule.metric or DEFAULT_METRIC[task]
    if metric not in WINDOW_METRICS[task]:
        choices = ", ".join(WINDOW_METRICS[task])
        raise ConfigError(
            f"the prediction log cannot score {metric!r} for {task}; use one of {choices}",
            where="monitor.performance.metric",
        )
    return metric


def window_estimate(y: np.ndarray, pred: np.ndarray, metric: str, *, random_state: int = 0) -> Estimate:
    """The window's ``metric`` on labelled rows ``y`` and their predictions, with its 95% interval."""
    if metric == "rmse":
        return _root_of(_t_interval((pred - y) ** 2))
    if metric == "mae":
        return _t_interval(np.abs(pred - y))
    if metric == "accuracy":
        return _wilson(int((pred == y).sum()), len(y))
    if metric == "r2":
        return _bootstrap(y, pred, _r2, random_state)
    return _bootstrap(y, pred, _f1, random_state)


def mean_error(y: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """The mean of prediction - label, and the two-sided t-test p-value of it being zero."""
    errors = pred - y
    mean = float(errors.mean())
    if len(errors) < 2:
        return mean, 1.0
    scale = float(errors.std(ddof=1)) / math.sqrt(len(errors))
    if scale == 0:
        return mean, 1.0 if mean == 0 else 0.0
    return mean, float(2 * stats.t.sf(abs(mean) / scale, len(errors) - 1))


def reference_estimate(test_metrics: Mapping[str, Any] | None, metric: str) -> Estimate | None:
    """The test-set metric and interval stored at registration (``TestEvaluation.to_dict()``), if any."""
    if not test_metrics:
        return None
    value = (test_metrics.get("metrics") or {}).get(metric)
    if value is None:
        return None
    interval = (test_metrics.get("bootstrap") or {}).get(metric)
    if metric == "rmse" and test_metrics.get("rmse_t_interval"):
        interval = test_metrics["rmse_t_interval"]  # the same kind of interval as the window's
    low, high = interval if interval and None not in interval else (value, value)
    return Estimate(float(value), float(low), float(high))


def judge(window: Estimate, reference: Estimate | None, metric: str, rule: PerformanceRule) -> Verdict:
    """Worse than the absolute threshold, than the test value by ``max_drop`` (confidently), or than its
    interval."""
    lower = metric in LOWER_IS_BETTER
    sign = 1.0 if lower else -1.0  # sign * (a - b) > 0 means a is worse than b

    def worse(a: float, b: float) -> bool:
        return sign * (a - b) > 0

    reasons: list[str] = []
    bounds: list[float] = []
    if rule.threshold is not None:
        bounds.append(rule.threshold)
        if worse(window.value, rule.threshold):
            reasons.append(f"worse than the threshold {_fmt(rule.threshold)}")
    if reference is not None and rule.max_drop is not None and reference.value != 0:
        limit = reference.value * (1 + sign * rule.max_drop)
        bounds.append(limit)
        # Judged on the window's best plausible value (its interval's good end): a small window's point
        # estimate alone crosses a 20% drop by chance on clean data (seen in the demo's 500-row windows).
        near_end = window.low if lower else window.high
        if worse(near_end, limit):
            drop = abs(near_end - reference.value) / abs(reference.value)
            reasons.append(
                f"at least {drop:.0%} worse than the test value {_fmt(reference.value)} with 95% confidence"
                f" (allowed {rule.max_drop:.0%})"
            )
    if reference is not None and rule.outside_test_interval:
        edge = reference.high if lower else reference.low
        bounds.append(edge)
        near_end = window.low if lower else window.high  # the window's best plausible value
        if worse(near_end, edge):
            reasons.append(
                f"its interval [{_fmt(window.low)}, {_fmt(window.high)}] lies beyond the test interval"
                f" [{_fmt(reference.low)}, {_fmt(reference.high)}]"
            )
    # The bound met first as the metric worsens: the smallest for a loss, the largest for a score.
    threshold = (min(bounds) if lower else max(bounds)) if bounds else None
    return Verdict(bool(reasons), threshold, reasons)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


# -- intervals ----------------------------------------------------------------------------------------


def _t_interval(values: np.ndarray) -> Estimate:
    mean = float(values.mean())
    if len(values) < 2:
        return Estimate(mean, math.nan, math.nan)
    scale = float(values.std(ddof=1)) / math.sqrt(len(values))
    if scale == 0:  # every row the same: scipy's interval degenerates to NaN
        return Estimate(mean, mean, mean)
    low, high = stats.t.interval(CONFIDENCE, len(values) - 1, loc=mean, scale=scale)
    return Estimate(mean, float(low), float(high))


def _wilson(successes: int, n: int) -> Estimate:
    """A proportion with its Wilson score interval: inside [0, 1], and not empty when every row is right.

    A t-interval on 0/1 values reached above 1 (``accuracy 0.98 [0.952, 1.01]``) and collapsed to a point
    on a window without a single error."""
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan)
    share = successes / n
    z = float(stats.norm.ppf(0.5 + CONFIDENCE / 2))
    shrink = 1 + z * z / n
    centre = (share + z * z / (2 * n)) / shrink
    half = z / shrink * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return Estimate(share, max(0.0, centre - half), min(1.0, centre + half))


def _root_of(mse: Estimate) -> Estimate:
    # A wide interval on few rows can reach below zero, where the square root is undefined.
    return Estimate(math.sqrt(mse.value), math.sqrt(max(mse.low, 0.0)), math.sqrt(max(mse.high, 0.0)))


def _r2(weights: np.ndarray, y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    total = weights.sum(axis=1)
    sse = weights @ (pred - y) ** 2
    centred = y - y.mean()  # centring keeps the sum of squares accurate for large targets
    sst = weights @ centred**2 - (weights @ centred) ** 2 / total
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sst > 0, 1 - sse / sst, np.nan)


def _f1(weights: np.ndarray, y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Binary F1 of the second class in sorted order (as scikit-learn's pos_label), else macro F1."""
    classes = np.unique(np.concatenate([y, pred]))
    per_class = []
    for label in classes:
        true, predicted = y == label, pred == label
        tp = weights @ (true & predicted).astype(np.float64)
        wrong = weights @ (true ^ predicted).astype(np.float64)  # false positives + false negatives
        with np.errstate(divide="ignore", invalid="ignore"):
            per_class.append(np.where(2 * tp + wrong > 0, 2 * tp / (2 * tp + wrong), np.nan))
    if len(classes) == 2:
        return np.nan_to_num(per_class[1], nan=0.0)
    with np.errstate(invalid="ignore"):
        return np.nanmean(np.column_stack(per_class), axis=1)


def _bootstrap(y: np.ndarray, pred: np.ndarray, statistic: Any, random_state: int) -> Estimate:
    n = len(y)
    value = float(statistic(np.ones((1, n)), y, pred)[0])
    rng = np.random.default_rng(random_state)
    if n > BOOTSTRAP_ROWS:
        rows = rng.choice(n, BOOTSTRAP_ROWS, replace=False)
        y, pred = y[rows], pred[rows]
    m = len(y)
    block = max(1, _BLOCK_CELLS // m)
    drawn = []
    for start in range(0, N_BOOTSTRAP, block):
        size = min(block, N_BOOTSTRAP - start)
        # A resample is a row of counts (how often each row was drawn): one matrix product per block.
        draws = rng.integers(0, m, size=(size, m)) + m * np.arange(size)[:, None]
        counts = np.bincount(draws.ravel(), minlength=size * m).reshape(size, m)
        drawn.append(statistic(counts.astype(np.float64), y, pred))
    sample = np.concatenate(drawn)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return Estimate(value, math.nan, math.nan)
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(sample, [tail, 100 - tail])
    centre = float(statistic(np.ones((1, m)), y, pred)[0])
    shrink = math.sqrt(m / n)
    return Estimate(value, value + (low - centre) * shrink, value + (high - centre) * shrink)
