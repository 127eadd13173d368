"""Drift tests from stored summaries agree with scipy's tests on the raw data they summarise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hone.config.schema import MonitorSettings
from hone.data.profile import NumericProfile, ReferenceProfile
from hone.data.schema import FeatureSchema
from hone.monitor.checks import check_window
from hone.monitor.drift import RESOLUTION, ReferenceCdf, chi2_test, ks_test
from hone.monitor.quality import NumericColumn


def ks_from_profile(reference: np.ndarray, window: np.ndarray, p_level: float = 0.001):
    profile = NumericProfile.build(reference)
    column = NumericColumn(profile, 0.5)
    column.add(window)
    return ks_test(column.cdf, column.at_or_below, column.present, p_level)


def test_the_ks_distance_from_stored_percentiles_is_the_two_sample_one_within_a_percentile():
    rng = np.random.default_rng(0)
    reference = rng.lognormal(size=20_000)
    for shift in (0.0, 0.05, 0.3):
        window = rng.lognormal(mean=shift, size=3000)
        ours = ks_from_profile(reference, window)
        exact = stats.ks_2samp(reference, window)
        assert ours is not None
        # Never above the exact distance by more than the percentile resolution, and close to it.
        assert exact.statistic - 0.011 <= ours.statistic <= exact.statistic + RESOLUTION
        if shift == 0.0:
            assert ours.p_value > 0.05 and exact.pvalue > 0.05
        if shift == 0.3:
            assert ours.p_value < 1e-6 and exact.pvalue < 1e-6


def test_discrete_features_do_not_look_drifted_in_huge_windows():
    """Many ties (house ages 1-52): a step CDF must not be compared with an interpolated one."""
    rng = np.random.default_rng(1)
    levels = np.arange(1, 53)
    weights = np.linspace(1, 3, 52)
    weights[-1] = 12  # a pile at the top, like housing_median_age's 52
    weights /= weights.sum()
    reference = rng.choice(levels, 16_000, p=weights).astype(float)
    window = rng.choice(levels, 300_000, p=weights).astype(float)
    result = ks_from_profile(reference, window)
    assert result is not None and result.p_value > 0.001
    assert result.statistic < result.critical


def test_the_reference_cdf_levels_bracket_the_true_cdf():
    rng = np.random.default_rng(2)
    values = np.round(rng.gamma(2.0, size=10_000), 1)  # continuous-looking with ties
    cdf = ReferenceCdf.from_profile(NumericProfile.build(values))
    assert cdf is not None
    true = np.searchsorted(np.sort(values), cdf.knots, side="right") / len(values)
    assert np.all(np.abs(true - cdf.levels) <= RESOLUTION + 1e-12)
    assert cdf.levels[-1] == 1.0


def test_chi_square_is_scipys_test_of_homogeneity():
    reference = np.array([7000, 5000, 2000, 1500, 0])  # the last slot: categories unseen in training
    window = np.array([300, 380, 90, 60, 4])
    ours = chi2_test(reference, window, 0.001)
    statistic, p_value, dof, _ = stats.chi2_contingency(np.vstack([reference, window]), correction=False)
    assert ours is not None
    assert ours.statistic == pytest.approx(statistic) and ours.p_value == pytest.approx(p_value)
    assert ours.critical == pytest.approx(stats.chi2.isf(0.001, dof))
    assert chi2_test(reference, np.array([3, 4, 1, 0, 0]), 0.001) is None  # too few values


def test_a_significant_but_trivial_shift_in_a_big_window_is_not_an_alarm():
    rng = np.random.default_rng(4)
    train = pd.DataFrame({"x": rng.normal(size=20_000), "c": rng.choice(["a", "b"], 20_000)})
    schema = FeatureSchema.from_frame(train)
    profile = ReferenceProfile.build(train, schema)
    window = pd.DataFrame({"x": rng.normal(loc=0.05, size=200_000), "c": rng.choice(["a", "b"], 200_000)})
    report = check_window(
        window,
        None,
        schema=schema,
        profile=profile,
        settings=MonitorSettings(),
        task="regression",
        test_metrics=None,
    )
    checks = {c.key: c for c in report.checks}
    ks, stability = checks["drift:ks:x"], checks["drift:psi:x"]
    assert ks.value > ks.threshold  # significant at p < 0.001 ...
    assert stability.value < 0.125 and not ks.failed  # ... but the PSI says the shift is small
    moved = window.assign(x=window["x"] + 1.0)
    checks = {
        c.key: c
        for c in check_window(
            moved,
            None,
            schema=schema,
            profile=profile,
            settings=MonitorSettings(),
            task="regression",
            test_metrics=None,
        ).checks
    }
    assert checks["drift:ks:x"].failed and checks["drift:psi:x"].failed
    assert not checks["drift:chi2:c"].failed
