"""Drift statistics against the reference profile: KS-type test on stored percentiles, chi-square, ranks.

Pure numbers from counts (``hone.monitor.quality`` counts the window, ``hone.monitor.checks`` turns them
into verdicts). PSI itself is ``hone.data.profile.psi`` on the profile's bins.

Why a KS test against 101 stored percentiles is valid enough: the percentiles are the training data's
empirical CDF sampled at 1% steps. Comparing the window's CDF with it only at those points can miss part of
the largest gap, so the statistic is never larger than the full two-sample one (the test errs on the quiet
side); where a percentile sits between two levels we take the middle and subtract that half-step (0.005)
from the statistic; and the training data's own sampling noise is counted by using the two-sample effective
size n·m/(n+m) in the asymptotic Kolmogorov distribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from hone.data.profile import NumericProfile

# Half a percentile step: how far the reference CDF at a stored percentile can be from the level we use.
RESOLUTION = 0.005
# Fewer values than this in the window: no drift test (the asymptotic p-values would mean little).
MIN_VALUES = 30


@dataclass(frozen=True)
class ReferenceCdf:
    """The training CDF at each distinct stored percentile value."""

    knots: np.ndarray  # increasing distinct values
    levels: np.ndarray  # F_training(knot), to within RESOLUTION
    n: int  # training values behind it

    @classmethod
    def from_profile(cls, profile: NumericProfile) -> ReferenceCdf | None:
        percentiles = np.asarray(profile.percentiles, dtype=np.float64)
        if percentiles.size < 2:
            return None
        knots, first = np.unique(percentiles, return_index=True)
        # A value repeated over percentiles k1..k2 holds F in [k2/100, (k2+1)/100): take the middle.
        last = np.append(first[1:], percentiles.size) - 1
        step = 1.0 / (percentiles.size - 1)
        levels = np.minimum((last + 0.5) * step, 1.0)
        levels[-1] = 1.0  # the largest training value: everything is at or below it
        return cls(knots, levels, profile.n)


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # not a pytest test class, despite the name

    statistic: float
    p_value: float
    critical: float  # the statistic's value at which p equals the configured level


def ks_test(cdf: ReferenceCdf, at_or_below: np.ndarray, n: int, p_level: float) -> TestResult | None:
    """KS-type test of a window (``at_or_below[j]`` of its ``n`` values are <= knot j) against ``cdf``."""
    if n < MIN_VALUES or cdf.n < MIN_VALUES:
        return None
    gap = float(np.max(np.abs(at_or_below / n - cdf.levels)))
    n_effective = n * cdf.n / (n + cdf.n)
    root = math.sqrt(n_effective)
    p_value = float(stats.kstwobign.sf(root * max(gap - RESOLUTION, 0.0)))
    critical = float(stats.kstwobign.isf(p_level)) / root + RESOLUTION
    return TestResult(gap, p_value, critical)


def chi2_test(reference_counts: np.ndarray, window_counts: np.ndarray, p_level: float) -> TestResult | None:
    """Chi-square test of homogeneity: are the window's category counts drawn like the training ones?

    Two-sample (a 2 x k table) rather than goodness of fit, so the training counts' own noise is counted.
    """
    reference = np.asarray(reference_counts, dtype=np.float64)
    window = np.asarray(window_counts, dtype=np.float64)
    if window.sum() < MIN_VALUES or reference.sum() < MIN_VALUES:
        return None
    table = np.vstack([reference, window])
    table = table[:, table.sum(axis=0) > 0]  # a category neither side has tells nothing
    dof = table.shape[1] - 1
    if dof < 1:
        return TestResult(0.0, 1.0, math.inf)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    return TestResult(statistic, float(stats.chi2.sf(statistic, dof)), float(stats.chi2.isf(p_level, dof)))


# -- the relation of a feature to the label and prediction (the noise check) ---------------------------


def ranks(rows: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean rank) of each column's finite values; NaN stays NaN.

    Ranked once per column rather than per pair: with a few missing values in the other column of a pair,
    the Pearson correlation of these ranks differs from Spearman's on the complete pairs only negligibly.
    """
    ranks = np.full(rows.shape, np.nan)
    for j in range(rows.shape[1]):
        finite = np.isfinite(rows[:, j])
        values = rows[finite, j]
        ordered = np.sort(values)
        left = np.searchsorted(ordered, values, side="left")
        right = np.searchsorted(ordered, values, side="right")
        ranks[finite, j] = (left + right + 1) / 2
    return ranks


def rank_correlation(a: np.ndarray, b: np.ndarray) -> tuple[float | None, int]:
    both = np.isfinite(a) & np.isfinite(b)
    n = int(both.sum())
    if n < 3:
        return None, n
    a, b = a[both], b[both]
    if a.std() == 0 or b.std() == 0:
        return None, n  # a constant column has no correlation (the stuck check speaks for it)
    return float(np.corrcoef(a, b)[0, 1]), n


def correlation_differs(rho: float, trained: float, n: int, p_level: float) -> bool:
    """Fisher's z test of a window's Spearman rho against the training one (variance 1.06 / (n - 3))."""
    if n <= 3:
        return False
    z = abs(math.atanh(np.clip(rho, -0.9999, 0.9999)) - math.atanh(np.clip(trained, -0.9999, 0.9999)))
    return bool(2 * stats.norm.sf(z / math.sqrt(1.06 / (n - 3))) < p_level)
