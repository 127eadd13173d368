"""The reference profile: exact JSON round trip, bins that re-count the training data, PSI, examples."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import Pipeline

from hone.data import PrepareSpec, build_preparation
from hone.data.profile import CategoricalProfile, NumericProfile, ReferenceProfile, psi
from hone.data.schema import FeatureSchema
from hone.errors import DataError

TARGET = "median_house_value"
DERIVED = {
    "rooms_per_hhold": "total_rooms / households",
    "pop_per_hhold": "population / households",
    "bedrooms_per_room": "total_bedrooms / total_rooms",
}


@pytest.fixture(scope="module")
def train(housing_split) -> pd.DataFrame:
    return housing_split.train.reset_index(drop=True)


@pytest.fixture(scope="module")
def features(train) -> pd.DataFrame:
    return train.drop(columns=TARGET)


@pytest.fixture(scope="module")
def schema(features) -> FeatureSchema:
    return FeatureSchema.from_frame(features, target=TARGET, imputed=["total_bedrooms"])


@pytest.fixture(scope="module")
def pipeline(train, features) -> Pipeline:
    spec = PrepareSpec(categorical=["ocean_proximity"], derived=DERIVED)
    steps = [("prepare", build_preparation(spec, train, TARGET)), ("model", LinearRegression())]
    return Pipeline(steps)


@pytest.fixture(scope="module")
def oof_predictions(pipeline, features, train) -> np.ndarray:
    return cross_val_predict(pipeline, features, train[TARGET], cv=3)


@pytest.fixture(scope="module")
def profile(features, schema, train, oof_predictions) -> ReferenceProfile:
    return ReferenceProfile.build(features, schema, y=train[TARGET], predictions=oof_predictions)


def test_round_trips_exactly_through_strict_json(profile):
    text = json.dumps(profile.to_dict(), allow_nan=False)  # raises on NaN or infinity
    again = ReferenceProfile.from_dict(json.loads(text))
    assert again == profile
    assert list(again.features) == list(profile.features)  # schema order survives


def test_stays_small(profile):
    # 101 percentiles for 11 columns dominate; anything much larger would bloat every registry row.
    assert len(json.dumps(profile.to_dict(), separators=(",", ":"))) < 16_000


def test_features_follow_the_schema(profile, schema):
    assert list(profile.features) == schema.names
    assert isinstance(profile.features["ocean_proximity"], CategoricalProfile)
    assert isinstance(profile.features["median_income"], NumericProfile)
    assert profile.n_rows == 16_512


def test_counts_sum_to_the_values_present(profile, features):
    for name, column in profile.features.items():
        present = int(features[name].notna().sum())
        total = sum(column.counts) if isinstance(column, NumericProfile) else sum(column.frequencies.values())
        assert total == present, name
        assert column.missing == pytest.approx(features[name].isna().mean())
    assert profile.features["total_bedrooms"].missing > 0  # the housing data has holes there


def test_bin_counts_of_the_training_data_reproduce_the_stored_counts(
    profile, features, train, oof_predictions
):
    for name, column in profile.features.items():
        counts = column.bin_counts(features[name].to_numpy())
        stored = column.counts if isinstance(column, NumericProfile) else (*column.frequencies.values(), 0)
        assert counts.tolist() == list(stored), name
    assert profile.target.bin_counts(train[TARGET].to_numpy()).tolist() == list(profile.target.counts)
    assert profile.predictions.bin_counts(oof_predictions).tolist() == list(profile.predictions.counts)


def test_numeric_bins_cover_values_never_seen(profile):
    income = profile.features["median_income"]
    counts = income.bin_counts(np.array([-1e9, income.low, income.high, income.high + 1, np.nan, np.inf]))
    assert counts.sum() == 5  # NaN is not counted
    assert counts[0] == 2 and counts[-1] == 3  # below the range with the minimum; the top with +inf
    assert income.edges == tuple(sorted(set(income.edges)))


def test_psi_is_small_for_fresh_data_and_large_for_a_shift(features):
    # The profile sees every other training row; the rows in between are a fresh sample of the same data.
    seen, fresh = features.iloc[::2], features.iloc[1::2]
    income = NumericProfile.build(seen["median_income"])
    assert psi(income.counts, income.bin_counts(fresh["median_income"].to_numpy())) < 0.02
    shifted = fresh["median_income"].to_numpy() * 1.5
    assert psi(income.counts, income.bin_counts(shifted)) > 0.25
    ocean = CategoricalProfile.build(seen["ocean_proximity"])
    fresh_counts = ocean.bin_counts(fresh["ocean_proximity"])
    assert psi(list(ocean.frequencies.values()) + [0], fresh_counts) < 0.02
    inland_only = ocean.bin_counts(np.array(["INLAND"] * 500, dtype=object))
    assert psi(fresh_counts, inland_only) > 0.25


def test_psi_refuses_mismatched_bins_and_is_nan_without_values():
    assert psi([10, 0, 5], [20, 1, 9]) > 0
    assert math.isnan(psi([0, 0], [3, 4]))
    with pytest.raises(ValueError, match="same bins"):
        psi([1, 2], [1, 2, 3])


def test_categorical_bins_put_unseen_values_last_and_skip_missing(profile):
    ocean = profile.features["ocean_proximity"]
    assert list(ocean.frequencies.values()) == sorted(ocean.frequencies.values(), reverse=True)
    counts = ocean.bin_counts(np.array(["INLAND", "INLAND", "MARS", None, "ISLAND"], dtype=object))
    assert counts[ocean.categories.index("INLAND")] == 2
    assert counts[ocean.categories.index("ISLAND")] == 1
    assert counts[-1] == 1 and counts.sum() == 4


def test_examples_pass_the_schema_and_the_model_predicts_them(profile, schema, pipeline, features, train):
    assert len(profile.examples) == 5
    rows = schema.check_records(profile.examples)  # raises SchemaViolation if any example is refused
    fitted = pipeline.fit(features.iloc[:2000], train[TARGET].iloc[:2000])
    predictions = fitted.predict(schema.frame_from_rows(rows))
    assert np.isfinite(predictions).all()
    incomes = [record["median_income"] for record in profile.examples]
    assert incomes == sorted(incomes) and incomes[0] < incomes[-1]  # quantiles 10 % .. 90 %
    assert profile.examples[0]["ocean_proximity"] == profile.features["ocean_proximity"].categories[0]


def test_correlations_and_target_profile(profile):
    assert profile.correlations["median_income"]["target"] > 0.6  # the book's strongest feature
    assert profile.correlations["median_income"]["prediction"] > 0.6
    assert "ocean_proximity" not in profile.correlations
    assert profile.target.high == 500_001.0  # the capped house values
    assert profile.duplicate_share == 0.0


def test_duplicate_share_counts_repeated_rows(features, schema):
    doubled = pd.concat([features.iloc[:300], features.iloc[:100]], ignore_index=True)
    profile = ReferenceProfile.build(doubled, schema)
    assert profile.duplicate_share == pytest.approx(100 / 400)
    assert profile.target is None and profile.predictions is None and profile.correlations == {}


def test_few_distinct_values_still_make_valid_bins():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "flag": rng.integers(0, 2, 1000).astype(float),
            "age": np.minimum(rng.integers(1, 80, 1000), 52).astype(float),  # capped like housing_median_age
            "constant": np.full(1000, 7.0),
        }
    )
    profile = ReferenceProfile.build(frame, FeatureSchema.from_frame(frame))
    flag = profile.features["flag"]
    assert set(flag.edges) <= {0.0, 1.0}
    assert flag.bin_counts(frame["flag"].to_numpy())[: len(flag.edges)].tolist() == [
        int((frame["flag"] == edge).sum()) for edge in flag.edges
    ]
    age = profile.features["age"]
    assert age.edges[-1] == 52.0 and age.counts[-1] == 0  # nothing above the cap...
    assert age.bin_counts(np.array([60.0]))[-1] == 1  # ...so a value above it shows up at once
    constant = profile.features["constant"]
    assert constant.edges == (7.0,) and constant.counts == (1000, 0)
    assert constant.distinct_share == pytest.approx(1 / 1000)
    assert {record["flag"] for record in profile.examples} <= {0.0, 1.0}


def test_an_all_missing_column_is_profiled_and_examples_still_pass():
    frame = pd.DataFrame(
        {"x": np.arange(50, dtype=float), "empty": np.full(50, np.nan), "label": [None] * 50}
    )
    schema = FeatureSchema.from_frame(frame)
    profile = ReferenceProfile.build(frame, schema, y=np.arange(50.0))
    empty = profile.features["empty"]
    assert empty.missing == 1.0 and empty.edges == () and empty.counts == (0,)
    assert empty.mean is None and empty.low is None and empty.percentiles == ()
    assert empty.bin_counts(np.array([1.0, np.nan])).tolist() == [1]
    assert profile.features["label"].frequencies == {}
    assert profile.correlations["empty"]["target"] is None
    schema.check_records(profile.examples)
    assert ReferenceProfile.from_dict(json.loads(json.dumps(profile.to_dict(), allow_nan=False))) == profile


def test_classification_profiles_labels_as_categories(features, schema):
    labels = np.where(features["median_income"].to_numpy() > 4, 1, 0)
    profile = ReferenceProfile.build(features, schema, y=labels, task="classification")
    assert isinstance(profile.target, CategoricalProfile)
    assert set(profile.target.frequencies) == {"0", "1"}
    assert profile.correlations == {}


def test_mismatched_inputs_are_data_errors(features, schema):
    with pytest.raises(DataError, match="lacks schema feature"):
        ReferenceProfile.build(features.drop(columns="median_income"), schema)
    with pytest.raises(DataError, match="target has 3 values"):
        ReferenceProfile.build(features, schema, y=[1.0, 2.0, 3.0])
    with pytest.raises(DataError, match="no rows"):
        ReferenceProfile.build(features.iloc[:0], schema)
