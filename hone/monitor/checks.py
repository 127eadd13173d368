"""The checks of one window of the prediction log: live performance, input data quality, drift.

``check_window`` judges a window against the model's schema, the reference profile stored at registration
and the test-set metrics, with the thresholds of ``hone.yaml``'s ``monitor`` section; ``cut_windows`` cuts a
log into complete windows. For windows too big to hold at once, feed ``hone.monitor.quality.WindowCounts``
chunk by chunk and call ``report_window``. Every verdict is guarded against sampling noise, so a clean
window of the training distribution fails nothing (``tests/monitor`` checks ten of them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd

from hone.config.schema import MonitorSettings, WindowSettings
from hone.data.profile import CategoricalProfile, NumericProfile, ReferenceProfile, psi
from hone.data.schema import FeatureSchema
from hone.monitor.drift import TestResult, chi2_test, correlation_differs, ks_test, rank_correlation, ranks
from hone.monitor.performance import (
    Estimate,
    judge,
    mean_error,
    metric_for,
    reference_estimate,
    window_estimate,
)
from hone.monitor.quality import (
    CategoricalColumn,
    NumericColumn,
    WindowCounts,
    duplicate_share,
    reference_top_share,
    repeat_share,
)
from hone.store.jsonable import finite_or_none

__all__ = [
    "Check",
    "Performance",
    "WindowReport",
    "check_window",
    "cut_windows",
    "report_window",
]

# A share above its limit is flagged only if it is also this many standard errors above the training
# share (one-sided p < 0.0005): a small window must not raise an alert by chance.
NOISE_Z = 3.29
# Regression: predictions off by this share of the test RMSE on average (and significantly so) mean the
# relation between features and target moved, even while the RMSE is still within its rule. 10% fired on
# a clean 500-row window of the demo (house-price errors are heavy-tailed, so the t-test's p runs small);
# a target scaled by 1.3 in one region shifts the mean error by 25-70% of the RMSE.
BIAS_SHARE = 0.2


@dataclass(frozen=True)
class Check:
    kind: str  # "performance" | "quality" | "drift"
    name: str  # "rmse", "schema", "missing_jump", "out_of_range", "unseen_category", "stuck", ...
    feature: str | None  # a schema feature, "prediction", or None for the whole window
    value: float
    threshold: float | None
    failed: bool
    message: str  # one sentence: what, how much, against what

    @property
    def key(self) -> str:
        """The identity alerts are de-duplicated on."""
        return f"{self.kind}:{self.name}:{self.feature or '*'}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "feature": self.feature,
            "value": finite_or_none(self.value),
            "threshold": finite_or_none(self.threshold),
            "failed": self.failed,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Check:
        threshold = data.get("threshold")
        return cls(
            kind=str(data["kind"]),
            name=str(data["name"]),
            feature=data.get("feature"),
            value=math.nan if data.get("value") is None else float(data["value"]),
            threshold=None if threshold is None else float(threshold),
            failed=bool(data["failed"]),
            message=str(data["message"]),
        )


@dataclass(frozen=True)
class Performance:
    metric: str
    value: float  # the window's metric and its 95% interval
    low: float
    high: float
    n_labelled: int
    reference: float | None  # the test-set metric and interval stored at registration
    reference_low: float | None
    reference_high: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            name: finite_or_none(value) if isinstance(value, float) else value
            for name, value in vars(self).items()
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Performance:
        def number(name: str) -> float:
            return math.nan if data.get(name) is None else float(data[name])

        def optional(name: str) -> float | None:
            return None if data.get(name) is None else float(data[name])

        return cls(
            metric=str(data["metric"]),
            value=number("value"),
            low=number("low"),
            high=number("high"),
            n_labelled=int(data["n_labelled"]),
            reference=optional("reference"),
            reference_low=optional("reference_low"),
            reference_high=optional("reference_high"),
        )


@dataclass
class WindowReport:
    start: datetime  # of the rows' ts (UTC), or the window's bounds when the caller gives them
    end: datetime
    n_rows: int
    n_labelled: int
    versions: list[int]
    performance: Performance | None  # None when fewer than min_labels labelled rows
    checks: list[Check]

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if check.failed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "n_rows": self.n_rows,
            "n_labelled": self.n_labelled,
            "versions": list(self.versions),
            "performance": None if self.performance is None else self.performance.to_dict(),
            "checks": [check.to_dict() for check in self.checks],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WindowReport:
        performance = data.get("performance")
        return cls(
            start=datetime.fromisoformat(data["start"]),
            end=datetime.fromisoformat(data["end"]),
            n_rows=int(data["n_rows"]),
            n_labelled=int(data["n_labelled"]),
            versions=[int(v) for v in data["versions"]],
            performance=None if performance is None else Performance.from_dict(performance),
            checks=[Check.from_dict(check) for check in data["checks"]],
        )



# -- the window ---------------------------------------------------------------------------------------


def check_window(
    rows: pd.DataFrame,
    labels: pd.Series | None,
    *,
    schema: FeatureSchema,
    profile: ReferenceProfile,
    settings: MonitorSettings,
    task: str,
    test_metrics: dict | None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> WindowReport:
    """Check one window of log rows (feature columns, ``prediction``, ``ts``, ``model_version``).

    ``labels`` is aligned with ``rows`` (NaN / None where no feedback came yet); ``test_metrics`` is the
    registered ``ModelVersion.metrics.get("test")``. ``start`` / ``end`` default to the rows' first and
    last ``ts``.
    """
    counts = WindowCounts(schema=schema, profile=profile, settings=settings, task=task)
    counts.add(rows, None if labels is None else np.asarray(labels))
    return report_window(counts, test_metrics=test_metrics, start=start, end=end)


def report_window(
    counts: WindowCounts,
    *,
    test_metrics: Mapping[str, Any] | None,
    start: datetime | None = None,
    end: datetime | None = None,
    previous_rows: np.ndarray | None = None,
) -> WindowReport:
    """The verdicts on a window counted with ``WindowCounts`` (possibly fed in chunks).

    ``previous_rows``: the window before's ``row_sketch``, to catch a feed repeating its rows.
    """
    settings = counts.settings
    checks: list[Check] = []
    performance = _performance(counts, test_metrics, checks)
    checks.append(_schema_check(counts))
    checks.append(_duplicate_check(counts))
    if previous_rows is not None:
        checks.extend(_repeat_check(counts, previous_rows))
    ranked = {"label": ranks(counts.labelled_sample.rows), "prediction": ranks(counts.sample.rows)}
    for name, column in counts.columns.items():
        reference = counts.profile.features.get(name)
        checks.extend(_quality_checks(name, column, reference, settings))
        checks.extend(_noise_checks(counts, name, ranked))
        checks.extend(_drift_checks(name, column, reference, settings))
    if counts.prediction.rows and counts.profile.predictions is not None:
        checks.extend(_drift_checks("prediction", counts.prediction, counts.profile.predictions, settings))
    moment = datetime.now(timezone.utc)
    return WindowReport(
        start=start or counts.start or moment,
        end=end or counts.end or moment,
        n_rows=counts.rows,
        n_labelled=counts.n_labelled,
        versions=sorted(counts.versions),
        performance=performance,
        checks=checks,
    )


# -- performance ----------------------------------------------------------------------------------------


def _performance(
    counts: WindowCounts, test_metrics: Mapping[str, Any] | None, checks: list[Check]
) -> Performance | None:
    rule = counts.settings.performance
    metric = metric_for(counts.task, rule)
    if counts.n_labelled < rule.min_labels:
        return None
    truth = np.concatenate(counts.labelled_truth)
    predicted = np.concatenate(counts.labelled_pred)
    if counts.task == "regression":
        known = np.isfinite(predicted)
        truth, predicted = truth[known], predicted[known].astype(np.float64)
    if len(truth) < rule.min_labels:
        return None
    window = window_estimate(truth, predicted, metric)
    reference = reference_estimate(test_metrics, metric)
    verdict = judge(window, reference, metric, rule)
    seen = f"{metric} {_span(window.value, window.low, window.high)} on {len(truth):,} labelled rows"
    if verdict.failed:
        message = f"{seen}: {'; '.join(verdict.reasons)}"
    elif reference is None:
        message = f"{seen}; no test metric to compare with"
    else:
        message = f"{seen}, in line with the test {_span(reference.value, reference.low, reference.high)}"
    checks.append(
        Check("performance", metric, None, window.value, verdict.threshold, verdict.failed, message)
    )
    if counts.task == "regression":
        checks.append(_bias_check(truth, predicted, reference if metric == "rmse" else None, counts))
    return Performance(
        metric,
        window.value,
        window.low,
        window.high,
        len(truth),
        None if reference is None else reference.value,
        None if reference is None else reference.low,
        None if reference is None else reference.high,
    )


def _bias_check(
    truth: np.ndarray, predicted: np.ndarray, reference: Estimate | None, counts: WindowCounts
) -> Check:
    """Concept drift in part of the data shows first as predictions off to one side, not as RMSE."""
    bias, p_value = mean_error(truth, predicted)
    scale = reference.value if reference is not None else window_estimate(truth, predicted, "rmse").value
    limit = BIAS_SHARE * scale
    side = "above" if bias > 0 else "below"
    message = (
        f"predictions are {_num(abs(bias))} {side} the labels on average (p = {p_value:.2g});"
        f" allowed {_num(limit)} ({BIAS_SHARE:.0%} of the {'test' if reference else 'window'} RMSE)"
    )
    failed = abs(bias) > limit and p_value < counts.settings.drift.p_value
    return Check("performance", "bias", None, bias, limit, failed, message)


# -- quality --------------------------------------------------------------------------------------------


def _schema_check(counts: WindowCounts) -> Check:
    share = counts.invalid_rows / counts.rows if counts.rows else 0.0
    if counts.invalid_rows:
        worst = sorted(counts.invalid_by_feature.items(), key=lambda item: -item[1])[:5]
        where = ", ".join(f"{name} {n:,}" for name, n in worst)
        message = f"{counts.invalid_rows:,} of {counts.rows:,} rows ({share:.1%}) fail the schema ({where})"
    else:
        message = f"all {counts.rows:,} rows pass the schema"
    # The schema is a contract: any row the model would refuse means a producer skipped validation.
    return Check("quality", "schema", None, share, 0.0, counts.invalid_rows > 0, message)


def _duplicate_check(counts: WindowCounts) -> Check:
    share = duplicate_share(counts.ordered_hashes())
    limit = counts.profile.duplicate_share + counts.settings.quality.duplicate_rows
    message = (
        f"{share:.1%} of rows repeat an earlier row of the window"
        f" (training {counts.profile.duplicate_share:.1%}, allowed {limit:.1%})"
    )
    return Check("quality", "duplicate_rows", None, share, limit, share > limit, message)


def _repeat_check(counts: WindowCounts, previous_rows: np.ndarray) -> list[Check]:
    # A stale feed re-sending yesterday's rows is new within its window, so it is compared with the last.
    share = repeat_share(counts.ordered_hashes(), previous_rows)
    if share is None:
        return []
    limit = counts.profile.duplicate_share + counts.settings.quality.duplicate_rows
    message = (
        f"{share:.1%} of rows repeat rows of the previous window"
        f" (training duplicates {counts.profile.duplicate_share:.1%}, allowed {limit:.1%})"
    )
    return [Check("quality", "repeated_rows", None, share, limit, share > limit, message)]


def _quality_checks(
    name: str, column: NumericColumn | CategoricalColumn, reference: Any, settings: MonitorSettings
) -> list[Check]:
    rules = settings.quality
    checks = []
    reference_missing = reference.missing if reference is not None else 0.0
    rate = column.missing / column.rows if column.rows else 0.0
    limit = reference_missing + rules.missing_jump
    failed = rate > limit and _beyond_noise(rate, reference_missing, column.rows)
    message = f"{rate:.1%} of values missing (training {reference_missing:.1%}, allowed {limit:.1%})"
    checks.append(Check("quality", "missing_jump", name, rate, limit, failed, message))
    if (
        isinstance(column, NumericColumn)
        and isinstance(reference, NumericProfile)
        and reference.low is not None
    ):
        share = column.out_of_range / column.present if column.present else 0.0
        message = (
            f"{share:.1%} of values outside the training range"
            f" [{_num(reference.low)}, {_num(reference.high)}]"
            f" (allowed {rules.out_of_range:.1%})"
        )
        checks.append(
            Check(
                "quality",
                "out_of_range",
                name,
                share,
                rules.out_of_range,
                share > rules.out_of_range,
                message,
            )
        )
    if isinstance(column, CategoricalColumn):
        share = column.unseen / column.present if column.present else 0.0
        shown = ", ".join(
            repr(v) for v in sorted(column.unseen_values, key=lambda v: -column.unseen_values[v])[:3]
        )
        message = f"{share:.1%} of values are categories never seen in training" + (
            f" ({shown})" if shown else ""
        )
        message += f" (allowed {rules.unseen_category:.1%})"
        checks.append(
            Check(
                "quality",
                "unseen_category",
                name,
                share,
                rules.unseen_category,
                share > rules.unseen_category,
                message,
            )
        )
    checks.append(_stuck_check(name, column, reference, rules.stuck_share))
    return checks


def _stuck_check(
    name: str, column: NumericColumn | CategoricalColumn, reference: Any, stuck_share: float
) -> Check:
    value, share = column.top()
    usual = reference_top_share(reference)
    # A value already common in training (at least half of stuck_share) is flagged only halfway from its
    # training share to 100%: a category that took 45% would otherwise be "stuck" at 50%, a mere change
    # of mix (seen in the scenario test).
    limit = stuck_share if usual < stuck_share / 2 else max(stuck_share, (usual + 1) / 2)
    failed = share > limit and _beyond_noise(share, usual, column.present)
    shown = (
        "no value"
        if value is None
        else f"the value {_num(value) if isinstance(value, float) else repr(value)}"
    )
    message = (
        f"{shown} takes {share:.0%} of the values (training: the most frequent took {usual:.0%},"
        f" allowed {limit:.0%})"
    )
    return Check("quality", "stuck", name, share, limit, failed, message)


def _beyond_noise(share: float, reference: float, n: int) -> bool:
    if n == 0:
        return False
    spread = max(reference * (1 - reference), 1 / n)
    return share - reference > NOISE_Z * math.sqrt(spread / n)


def _noise_checks(counts: WindowCounts, name: str, ranked: Mapping[str, np.ndarray]) -> list[Check]:
    """A feature whose values turned random loses its rank correlation with the label and prediction."""
    if name not in counts.sampled:
        return []
    reference = counts.profile.correlations.get(name) or {}
    position = counts.sampled.index(name)
    width = len(counts.sampled)
    candidates = []  # (departure, significant, what, window rho, training rho)
    for what, offset, minimum in (
        ("label", width + 1, counts.settings.performance.min_labels),
        ("prediction", width, 30),
    ):
        trained = reference.get("target" if what == "label" else "prediction")
        if trained is None:
            continue
        rho, n = rank_correlation(ranked[what][:, position], ranked[what][:, offset])
        if rho is None or n < minimum:
            continue
        candidates.append(
            (
                abs(rho - trained),
                correlation_differs(rho, trained, n, counts.settings.drift.p_value),
                what,
                rho,
                trained,
            )
        )
    if not candidates:
        return []
    limit = counts.settings.quality.noise_correlation
    departure, significant, what, rho, trained = max(candidates, key=lambda c: (c[0] > limit and c[1], c[0]))
    message = (
        f"rank correlation with the {what} {rho:.2f} (training {trained:.2f}): departs by {departure:.2f}"
        f" (allowed {limit:.2f})"
    )
    return [Check("quality", "noise", name, departure, limit, departure > limit and significant, message)]


# -- drift ----------------------------------------------------------------------------------------------


def _drift_checks(
    name: str, column: NumericColumn | CategoricalColumn, reference: Any, settings: MonitorSettings
) -> list[Check]:
    rules = settings.drift
    if (
        isinstance(column, NumericColumn)
        and isinstance(reference, NumericProfile)
        and column.bins is not None
    ):
        stability = psi(reference.counts, column.bins)
        test = ks_test(column.cdf, column.at_or_below, column.present, rules.p_value) if column.cdf else None
        test_name, statistic = "ks", "KS distance"
    elif isinstance(column, CategoricalColumn) and isinstance(reference, CategoricalProfile):
        assert column.counts is not None
        stability = psi([*reference.frequencies.values(), 0], column.counts)
        test = chi2_test(np.array([*reference.frequencies.values(), 0]), column.counts, rules.p_value)
        test_name, statistic = "chi2", "chi-square"
    else:
        return []
    checks = []
    if math.isnan(stability):
        checks.append(
            Check("drift", "psi", name, math.nan, rules.psi, False, "no values to compare with training")
        )
    else:
        message = f"PSI {stability:.3f} against the training bins (allowed {rules.psi:g})"
        checks.append(Check("drift", "psi", name, stability, rules.psi, stability > rules.psi, message))
    checks.append(_test_check(name, test_name, statistic, test, stability, settings))
    return checks


def _test_check(
    name: str,
    test_name: str,
    statistic: str,
    test: TestResult | None,
    stability: float,
    settings: MonitorSettings,
) -> Check:
    rules = settings.drift
    if test is None:
        return Check("drift", test_name, name, math.nan, None, False, "too few values for a test")
    significant = test.p_value < rules.p_value
    # With large windows a trivial shift is significant: it must also move the PSI halfway to its alarm.
    sizeable = not math.isnan(stability) and stability > rules.psi / 2
    message = f"{statistic} {test.statistic:.3g}, p = {test.p_value:.2g} (alarm below {rules.p_value:g}"
    message += f" with PSI above {rules.psi / 2:g})"
    return Check("drift", test_name, name, test.statistic, test.critical, significant and sizeable, message)


def _span(value: float, low: float, high: float) -> str:
    return f"{_num(value)} [{_num(low)}, {_num(high)}]"


def _num(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


# -- cutting the log ------------------------------------------------------------------------------------


def cut_windows(
    log: pd.DataFrame, window: WindowSettings, *, now: datetime | None = None
) -> list[tuple[datetime, datetime, pd.DataFrame]]:
    """Complete windows of ``log`` in time order, as ``(start, end, rows)``.

    By count: every full ``window.rows`` rows, start and end being their first and last ``ts`` (rows with
    the same ``ts`` keep their log order, so a batch may straddle two windows). By time: windows of
    ``window.every`` seconds aligned on the Unix epoch, ``[start, end)``, only those ending at or before
    ``now`` (default: the current time) and holding at least one row.
    """
    if len(log) == 0:
        return []
    micros = pd.to_datetime(log["ts"], utc=True).to_numpy(dtype="datetime64[us]").astype(np.int64)
    order = np.argsort(micros, kind="stable")
    if not np.all(order[1:] > order[:-1]):
        log, micros = log.iloc[order], micros[order]
    if window.rows is not None:
        size = window.rows
        return [
            (_moment(micros[i]), _moment(micros[i + size - 1]), log.iloc[i : i + size])
            for i in range(0, len(log) - size + 1, size)
        ]
    assert window.every is not None
    step = round(window.every * 1_000_000)
    limit = _micros(now or datetime.now(timezone.utc))
    bucket = micros // step
    edges = np.flatnonzero(np.diff(bucket)) + 1
    windows = []
    for first, last in zip(np.concatenate([[0], edges]), np.concatenate([edges, [len(log)]]), strict=True):
        start = int(bucket[first]) * step
        if start + step > limit:
            break
        windows.append((_moment(start), _moment(start + step), log.iloc[first:last]))
    return windows


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def _moment(micros: int | np.integer) -> datetime:
    return _EPOCH + int(micros) * _MICROSECOND


def _micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // _MICROSECOND
