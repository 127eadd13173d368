"""Window metrics, their intervals, and the three rules against the registered test metrics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hone.config.schema import MonitorSettings, PerformanceRule
from hone.data.profile import ReferenceProfile
from hone.data.schema import FeatureSchema
from hone.monitor.checks import check_window
from hone.monitor.performance import (
    Estimate,
    judge,
    mean_error,
    reference_estimate,
    window_estimate,
)


def test_rmse_gets_the_books_t_interval():
    rng = np.random.default_rng(0)
    y = rng.normal(200_000, 80_000, 1500)
    pred = y + rng.standard_t(4, 1500) * 40_000
    squared = (pred - y) ** 2
    low, high = stats.t.interval(0.95, len(squared) - 1, loc=squared.mean(), scale=stats.sem(squared))
    rmse = window_estimate(y, pred, "rmse")
    assert rmse.value == pytest.approx(math.sqrt(squared.mean()))
    assert (rmse.low, rmse.high) == pytest.approx((math.sqrt(low), math.sqrt(high)))


def test_mae_is_a_mean_and_accuracy_a_proportion_with_a_wilson_interval():
    y = np.array([0, 1, 1, 0, 1, 1, 0, 1, 1, 1] * 20, dtype=float)
    pred = np.array([0, 1, 0, 0, 1, 1, 1, 1, 1, 1] * 20, dtype=float)
    accuracy = window_estimate(y.astype(int).astype(str), pred.astype(int).astype(str), "accuracy")
    assert accuracy.value == pytest.approx(0.8)
    wilson = stats.binomtest(160, 200).proportion_ci(0.95, method="wilson")
    assert (accuracy.low, accuracy.high) == pytest.approx((wilson.low, wilson.high))
    assert window_estimate(y, pred + 0.5, "mae").value == pytest.approx(np.abs(pred + 0.5 - y).mean())


@pytest.mark.parametrize("n_right", [49, 50])
def test_the_accuracy_interval_stays_inside_zero_and_one(n_right: int) -> None:
    # 49 of 50 right gave [0.952, 1.01] with a t-interval; 50 of 50 gave the empty [1, 1].
    y = np.array(["a"] * 50)
    pred = np.array(["a"] * n_right + ["b"] * (50 - n_right))
    accuracy = window_estimate(y, pred, "accuracy")
    assert 0.0 <= accuracy.low < accuracy.value <= accuracy.high <= 1.0
    assert accuracy.low < 0.99


def test_bootstrapped_metrics_are_seeded_and_narrow_with_more_rows():
    rng = np.random.default_rng(1)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.normal(size=n)
        return y, y + rng.normal(scale=0.5, size=n)

    y, pred = sample(2000)
    first, again = window_estimate(y, pred, "r2"), window_estimate(y, pred, "r2")
    assert first == again
    assert first.low < first.value < first.high
    assert first.value == pytest.approx(1 - np.sum((pred - y) ** 2) / np.sum((y - y.mean()) ** 2))
    # Beyond 20,000 rows a subsample is resampled and its spread shrunk by sqrt(m / n).
    small, big = window_estimate(*sample(20_000), "r2"), window_estimate(*sample(80_000), "r2")
    ratio = (small.high - small.low) / (big.high - big.low)
    assert ratio == pytest.approx(2.0, rel=0.2)
    labels = np.array(["a", "b"] * 200)
    f1 = window_estimate(labels, np.where(np.arange(400) % 5 == 0, "a", labels), "f1")
    assert 0 < f1.low <= f1.value <= f1.high <= 1


def test_each_rule_fires_on_its_own():
    reference = Estimate(50_000, 48_000, 52_000)
    only = {"threshold": None, "max_drop": None, "outside_test_interval": False}

    def verdict(window: Estimate, **rule):
        return judge(window, reference, "rmse", PerformanceRule(**{**only, **rule}))

    calm = Estimate(53_000, 50_000, 56_000)
    assert not verdict(calm, threshold=60_000).failed
    assert verdict(calm, threshold=52_500).failed
    assert not verdict(calm, max_drop=0.1).failed
    # A drop is judged at the interval's good end: 56,000 alone would be 12% worse, but not surely 10%.
    assert not verdict(Estimate(56_000, 53_000, 59_000), max_drop=0.1).failed
    assert verdict(Estimate(59_000, 56_000, 62_000), max_drop=0.1).failed
    assert not verdict(calm, outside_test_interval=True).failed
    beyond = verdict(Estimate(56_000, 52_500, 59_500), outside_test_interval=True)
    assert beyond.failed and "beyond the test interval" in beyond.reasons[0]
    both = verdict(
        Estimate(70_000, 65_000, 75_000), threshold=60_000, max_drop=0.2, outside_test_interval=True
    )
    assert len(both.reasons) == 3 and both.threshold == 52_000  # the bound met first


def test_scores_are_judged_the_other_way_round():
    reference = Estimate(0.90, 0.88, 0.92)
    rule = PerformanceRule(threshold=0.8, max_drop=0.1, outside_test_interval=True)
    assert not judge(Estimate(0.91, 0.89, 0.93), reference, "accuracy", rule).failed
    worse = judge(Estimate(0.75, 0.72, 0.78), reference, "accuracy", rule)
    assert worse.failed and len(worse.reasons) == 3 and worse.threshold == 0.88


def test_the_reference_is_read_from_the_stored_test_evaluation():
    stored = {
        "metrics": {"rmse": 50_000.0, "r2": 0.8},
        "bootstrap": {"rmse": [47_000.0, 53_000.0], "r2": [0.78, 0.82]},
        "rmse_t_interval": [48_000.0, 52_000.0],
    }
    assert reference_estimate(stored, "rmse") == Estimate(50_000.0, 48_000.0, 52_000.0)
    assert reference_estimate(stored, "r2") == Estimate(0.8, 0.78, 0.82)
    assert reference_estimate(stored, "mae") is None
    assert reference_estimate(None, "rmse") is None
    assert reference_estimate(
        {"metrics": {"rmse": 1.0}, "bootstrap": {"rmse": [None, None]}}, "rmse"
    ) == Estimate(1.0, 1.0, 1.0)


def test_the_mean_error_test_is_a_one_sample_t_test():
    rng = np.random.default_rng(2)
    y = rng.normal(size=300)
    pred = y + rng.normal(0.2, 1.0, 300)
    bias, p_value = mean_error(y, pred)
    expected = stats.ttest_1samp(pred - y, 0.0)
    assert bias == pytest.approx((pred - y).mean()) and p_value == pytest.approx(expected.pvalue)


def test_a_classifier_window_is_scored_on_accuracy():
    rng = np.random.default_rng(3)
    train = pd.DataFrame({"x": rng.normal(size=3000), "c": rng.choice(["a", "b"], 3000)})
    y = np.where(train["x"] > 0, "yes", "no")
    schema = FeatureSchema.from_frame(train)
    profile = ReferenceProfile.build(train, schema, y=y, predictions=y, task="classification")
    window = train.iloc[:400].copy()
    truth = pd.Series(y[:400])
    window["prediction"] = np.where(np.arange(400) % 4 == 0, truth, "no")  # right on about 5 rows in 8
    test_metrics = {"metrics": {"accuracy": 0.95}, "bootstrap": {"accuracy": [0.94, 0.96]}}
    report = check_window(
        window,
        truth,
        schema=schema,
        profile=profile,
        settings=MonitorSettings(),
        task="classification",
        test_metrics=test_metrics,
    )
    assert report.performance is not None
    assert report.performance.value == pytest.approx(np.mean(window["prediction"] == truth))
    checks = {c.key: c for c in report.checks}
    assert checks["performance:accuracy:*"].failed
    assert "performance:bias:*" not in checks
    assert "drift:chi2:prediction" in checks  # class predictions drift as categories
