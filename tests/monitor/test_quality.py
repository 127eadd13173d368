"""Window counts and quality checks: the same rules as the schema, the same bins as the profile, by chunks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from hone.config.schema import MonitorSettings
from hone.data.profile import NumericProfile, ReferenceProfile
from hone.data.schema import FeatureSchema
from hone.monitor.checks import check_window
from hone.monitor.quality import (
    NumericColumn,
    Reservoir,
    WindowCounts,
    duplicate_share,
    repeat_share,
    row_sketch,
    sort_hashes,
)

TARGET = "median_house_value"


@pytest.fixture(scope="module")
def features(housing_split) -> pd.DataFrame:
    return housing_split.train.drop(columns=TARGET).reset_index(drop=True)


@pytest.fixture(scope="module")
def schema(features) -> FeatureSchema:
    return FeatureSchema.from_frame(features, target=TARGET, imputed=["total_bedrooms"])


def predict(features: pd.DataFrame) -> np.ndarray:
    """A stand-in model: enough for quality checks, which never look at how good predictions are."""
    return 45_000 * features["median_income"].to_numpy() + 40_000


@pytest.fixture(scope="module")
def profile(features, schema, housing_split) -> ReferenceProfile:
    return ReferenceProfile.build(
        features, schema, y=housing_split.train[TARGET].to_numpy(), predictions=predict(features)
    )


def check(rows: pd.DataFrame, schema, profile, settings: MonitorSettings | None = None):
    rows = rows.reset_index(drop=True).copy()
    if "prediction" not in rows:
        rows["prediction"] = predict(rows)
    return check_window(
        rows,
        None,
        schema=schema,
        profile=profile,
        settings=settings or MonitorSettings(),
        task="regression",
        test_metrics=None,
    )


def by_key(report) -> dict:
    return {c.key: c for c in report.checks}


def test_the_schema_share_counts_exactly_the_rows_check_frame_refuses(features, schema, profile):
    rows = features.iloc[:400].reset_index(drop=True).copy()
    rows["prediction"] = predict(rows)
    rows["housing_median_age"] = rows["housing_median_age"].astype(object)
    rows.loc[0, "housing_median_age"] = "old"  # text in a numeric column
    rows.loc[1, "housing_median_age"] = "31"  # a number written as text: accepted, as check_frame does
    rows.loc[2:4, "total_rooms"] = np.inf
    rows.loc[3:6, "population"] = np.nan  # not nullable
    rows.loc[7:9, "total_bedrooms"] = np.nan  # imputed: fine
    rows.loc[10:14, "ocean_proximity"] = "MARS"
    rows.loc[15, "ocean_proximity"] = None
    expected = schema.check_frame(rows).n_invalid
    assert expected == 12  # rows 0, 2-6 and 10-15
    report = check(rows, schema, profile)
    assert by_key(report)["quality:schema:*"].value == pytest.approx(expected / 400)
    assert by_key(report)["quality:schema:*"].failed
    assert "population 4" in by_key(report)["quality:schema:*"].message

    missing_column = rows.drop(columns="latitude")
    assert schema.check_frame(missing_column).n_invalid == 400
    assert by_key(check(missing_column, schema, profile))["quality:schema:*"].value == 1.0


def test_numeric_counts_are_the_profile_bins_whatever_the_chunks(profile):
    reference = profile.features["median_income"]
    assert isinstance(reference, NumericProfile)
    rng = np.random.default_rng(3)
    values = rng.choice(np.asarray(reference.percentiles), 5000) * rng.choice([1.0, 1.0, 1.3], 5000)
    values[:50] = np.nan
    values[50:55] = np.inf
    values[55:60] = reference.edges[0]  # exactly on an edge: the bin that edge closes
    whole, chunked = NumericColumn(reference, 0.5), NumericColumn(reference, 0.5)
    whole.add(values)
    for part in np.array_split(values, 7):
        chunked.add(part)
    assert whole.bins.tolist() == reference.bin_counts(values).tolist()
    assert chunked.bins.tolist() == whole.bins.tolist()
    assert chunked.at_or_below.tolist() == whole.at_or_below.tolist()
    assert (chunked.missing, chunked.present) == (whole.missing, whole.present) == (50, 4950)
    outside = np.sum(values[~np.isnan(values)] > reference.high) + np.sum(values < reference.low)
    assert chunked.out_of_range == whole.out_of_range == outside


def test_category_counts_are_the_profile_bins(features, schema, profile):
    rows = features.iloc[:300].copy()
    rows.iloc[:7, rows.columns.get_loc("ocean_proximity")] = "MARS"
    counts = WindowCounts(schema=schema, profile=profile, settings=MonitorSettings(), task="regression")
    counts.add(rows.assign(prediction=predict(rows)))
    reference = profile.features["ocean_proximity"]
    column = counts.columns["ocean_proximity"]
    assert column.counts.tolist() == reference.bin_counts(rows["ocean_proximity"]).tolist()
    assert column.unseen_values == {"MARS": 7}


def test_missing_values_out_of_range_values_and_unseen_categories_are_flagged(features, schema, profile):
    rows = features.iloc[:1000].reset_index(drop=True).copy()
    rows.loc[:199, "total_bedrooms"] = np.nan  # 20% missing; training had about 1%
    high = schema["population"].high
    rows.loc[:49, "population"] = high * 2  # 5% above anything seen in training
    rows.loc[:2, "ocean_proximity"] = "MARS"
    checks = by_key(check(rows, schema, profile))
    assert checks["quality:missing_jump:total_bedrooms"].failed
    assert checks["quality:missing_jump:total_bedrooms"].value == pytest.approx(
        rows["total_bedrooms"].isna().mean()
    )
    assert checks["quality:out_of_range:population"].failed
    assert checks["quality:out_of_range:population"].value == pytest.approx(0.05)
    assert checks["quality:unseen_category:ocean_proximity"].failed
    assert "'MARS'" in checks["quality:unseen_category:ocean_proximity"].message
    for quiet in ("quality:missing_jump:total_rooms", "quality:out_of_range:median_income"):
        assert not checks[quiet].failed


def test_a_stuck_feature_is_flagged_but_a_naturally_frequent_value_is_not(features, schema, profile):
    rows = features.iloc[:1000].reset_index(drop=True).copy()
    rows.loc[:599, "median_income"] = 3.1416  # a sensor that stopped updating for 60% of the window
    checks = by_key(check(rows, schema, profile))
    stuck = checks["quality:stuck:median_income"]
    assert stuck.failed and stuck.value == pytest.approx(0.6) and "3.142" in stuck.message
    # '<1H OCEAN' is about 44% in training and in the window, and 52 the most common house age: quiet.
    assert not checks["quality:stuck:ocean_proximity"].failed
    assert not checks["quality:stuck:housing_median_age"].failed


def test_a_feature_that_leaned_on_one_value_in_training_is_judged_halfway_to_stuck(features, schema):
    lopsided = features.copy()
    lopsided.loc[lopsided.index[: int(0.7 * len(lopsided))], "housing_median_age"] = 52.0
    profile = ReferenceProfile.build(lopsided, schema)
    window = lopsided.sample(1000, random_state=0).reset_index(drop=True)
    stuck = by_key(check(window, schema, profile))["quality:stuck:housing_median_age"]
    assert stuck.threshold == pytest.approx((0.7 + 1) / 2, abs=0.011) and not stuck.failed
    window.loc[:949, "housing_median_age"] = 52.0
    assert by_key(check(window, schema, profile))["quality:stuck:housing_median_age"].failed


def test_duplicate_rows_are_exact_repeats_of_all_features():
    frame = pd.DataFrame(
        {
            "x": [1.0, 1.0, np.nan, np.nan, 0.0, -0.0, 2.0, 2.0],
            "c": ["a", "a", "b", "b", "a", "a", "a", "b"],
        }
    )
    schema = FeatureSchema.from_frame(frame)
    profile = ReferenceProfile.build(frame, schema)
    counts = WindowCounts(schema=schema, profile=profile, settings=MonitorSettings(), task="regression")
    counts.add(pa.Table.from_pandas(frame.iloc[:5], preserve_index=False))
    counts.add(frame.iloc[5:])  # across chunks and input kinds
    # Repeats: row 1 (of 0), row 3 (NaN equals NaN), row 5 (-0.0 equals 0.0); rows 6 and 7 differ in c.
    assert duplicate_share(counts.ordered_hashes()) == pytest.approx(3 / 8)


def test_repeats_of_the_previous_window_are_counted_exactly_from_a_short_sketch():
    rng = np.random.default_rng(0)
    before = rng.integers(0, 2**63, 1000, dtype=np.uint64)
    now = np.concatenate([before[:300], before[:50], rng.integers(0, 2**63, 650, dtype=np.uint64)])
    sketch = row_sketch(sort_hashes([before, before[:10]]))  # repeats inside the window count once

    assert len(sketch) == 1000 and (np.diff(sketch.astype(np.float64)) > 0).all()
    assert repeat_share(sort_hashes([now]), sketch) == pytest.approx(350 / 1000)
    assert repeat_share(sort_hashes([now]), sketch[:0]) is None  # nothing to compare with


def test_repeats_are_estimated_from_a_full_sketch_of_a_big_window():
    rng = np.random.default_rng(1)
    before = rng.integers(0, 2**64 - 1, 200_000, dtype=np.uint64)
    now = np.concatenate([before[:60_000], rng.integers(0, 2**64 - 1, 140_000, dtype=np.uint64)])
    sketch = row_sketch(sort_hashes([before]), size=4096)

    assert len(sketch) == 4096
    # Only the rows hashed below the sketch's largest value are compared: ~4,096 of 200,000.
    assert repeat_share(sort_hashes([now]), sketch, size=4096) == pytest.approx(0.3, abs=0.03)
    assert repeat_share(sort_hashes([now[60_000:]]), sketch, size=4096) == 0.0


def test_the_correlation_sample_does_not_depend_on_chunking():
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(5000, 3))

    def sample(sizes: list[int]) -> np.ndarray:
        keys = np.random.default_rng(1)
        reservoir = Reservoir(800, 3)
        start = 0
        for size in sizes:
            reservoir.add(keys.random(size), rows[start : start + size])
            start += size
        return reservoir.rows[np.argsort(reservoir.keys)]

    one = sample([5000])
    assert one.shape == (800, 3)
    np.testing.assert_array_equal(one, sample([700] * 7 + [100]))
    np.testing.assert_array_equal(one, sample([1] * 10 + [4990]))


def test_ranks_are_average_ranks_and_their_correlation_is_spearmans():
    from scipy import stats

    from hone.monitor.drift import rank_correlation, ranks

    rng = np.random.default_rng(5)
    rows = rng.integers(0, 30, size=(2000, 2)).astype(float)  # many ties
    rows[:, 1] += rows[:, 0]
    ranked = ranks(rows)
    np.testing.assert_allclose(ranked[:, 0], stats.rankdata(rows[:, 0]))
    rho, n = rank_correlation(ranked[:, 0], ranked[:, 1])
    assert n == 2000 and rho == pytest.approx(stats.spearmanr(rows[:, 0], rows[:, 1]).statistic)
