"""Importances of a tuned candidate, on a real small housing project tuned into a real SQLite store."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge

from hone.analysis.candidate import Candidate, find_candidate
from hone.analysis.importance import (
    drop_check,
    feature_importances,
    least_important,
    permutation_importances,
)
from hone.config.load import load_config
from hone.data import PrepareSpec, build_preparation
from hone.data.training import TrainingSet, load_training_set
from hone.errors import HoneError
from hone.store.db import Store
from hone.tune.project import tune

TARGET = "median_house_value"
NUMERIC = [
    "longitude",
    "latitude",
    "housing_median_age",
    "total_rooms",
    "total_bedrooms",
    "population",
    "households",
    "median_income",
]
DERIVED = {
    "rooms_per_hhold": "total_rooms / households",
    "pop_per_hhold": "population / households",
    "bedrooms_per_room": "total_bedrooms / total_rooms",
}

CONFIG = """\
project: slice
data: {{path: data.csv, target: median_house_value}}
split: {{test_size: 0.2, stratify: median_income, bins: [0, 1.5, 3.0, 4.5, 6.0, .inf], seed: 42}}
prepare:
  categorical: [ocean_proximity]
  derived:
    rooms_per_hhold: total_rooms / households
    pop_per_hhold: population / households
    bedrooms_per_room: total_bedrooms / total_rooms
search: {{cv: 3, scoring: neg_mean_squared_error, n_jobs: 1, prepare_in_folds: {in_folds}}}
models:
  - name: forest
    estimator: sklearn.ensemble.RandomForestRegressor
    params: {{random_state: 42}}
    grid: {{n_estimators: [5, 10], max_features: [4, 8]}}
{extra}
store: store.db
"""

OTHERS = """\
  - name: knn
    estimator: sklearn.neighbors.KNeighborsRegressor
    grid: {n_neighbors: [5, 10]}
  - name: ridge
    estimator: sklearn.linear_model.Ridge
    grid: {alpha: [1.0, 10.0]}
"""


def _tuned(directory: Path, housing: pd.DataFrame, *, in_folds: bool, extra: str = ""):
    housing.iloc[:1500].to_csv(directory / "data.csv", index=False)
    path = directory / "hone.yaml"
    path.write_text(CONFIG.format(in_folds=str(in_folds).lower(), extra=extra))
    config = load_config(path)
    tune(config)
    return config, load_training_set(config), Store(config.store_url)


@pytest.fixture(scope="module")
def project(tmp_path_factory, housing):
    return _tuned(tmp_path_factory.mktemp("importance"), housing, in_folds=False, extra=OTHERS)


@pytest.fixture(scope="module")
def forest(project) -> tuple[Candidate, TrainingSet]:
    config, training, store = project
    return find_candidate(config, store, "forest"), training


def _rmse(score: float) -> float:
    return math.sqrt(-score)


def test_importances_pair_the_seed_names_with_an_independent_refit(forest):
    candidate, training = forest
    found = feature_importances(candidate, training)
    # The seed's attribute list: numeric, then derived, then the categories the training rows hold.
    categories = sorted(training.X["ocean_proximity"].unique())
    attributes = NUMERIC + list(DERIVED) + categories
    preparation = build_preparation(
        PrepareSpec(categorical=["ocean_proximity"], derived=DERIVED), training.split.train, TARGET
    )
    model = RandomForestRegressor(random_state=42, **candidate.params)
    model.fit(preparation.fit_transform(training.X), training.y.to_numpy())
    assert list(preparation.get_feature_names_out()) == attributes
    assert found.kind == "feature_importances_"
    assert found.pairs() == sorted(zip(model.feature_importances_, attributes, strict=True), reverse=True)
    assert len(found.features) == 11 + len(categories)


def test_importances_sum_to_one_sorted_and_grouped_by_column(forest):
    found = feature_importances(*forest)
    values = [f.importance for f in found.features]
    assert sum(values) == pytest.approx(1.0)
    assert values == sorted(values, reverse=True)
    groups = {g.source: g for g in found.grouped}
    assert len(groups) == len(NUMERIC) + len(DERIVED) + 1
    ocean = groups["ocean_proximity"]
    by_name = {f.feature: f for f in found.features}
    assert ocean.importance == pytest.approx(sum(by_name[name].importance for name in ocean.features))
    assert all(by_name[name].source == "ocean_proximity" for name in ocean.features)
    assert groups["median_income"].features == ["median_income"]
    assert sum(g.importance for g in found.grouped) == pytest.approx(1.0)


def test_a_model_without_importances_is_a_hone_error_pointing_to_permutation(project):
    config, training, store = project
    with pytest.raises(HoneError, match="permutation importance"):
        feature_importances(find_candidate(config, store, "knn"), training)


def test_linear_models_report_absolute_coefficients(project):
    config, training, store = project
    candidate = find_candidate(config, store, "ridge")
    found = feature_importances(candidate, training)
    pipeline = candidate.pipeline(training).fit(training.X, training.y.to_numpy())
    assert isinstance(pipeline[-1], Ridge) and found.kind == "abs(coef_)"
    expected = dict(zip(pipeline[:-1].get_feature_names_out(), np.abs(pipeline[-1].coef_), strict=True))
    assert {f.feature: f.importance for f in found.features} == pytest.approx(expected)


def test_permutation_importances_work_for_nearest_neighbours(project):
    config, training, store = project
    candidate = find_candidate(config, store, "knn")
    found = permutation_importances(candidate, training, n_repeats=3)
    # The unpermuted validation folds are the search's: the baseline is the stored CV score.
    assert found.label == "RMSE"
    assert found.baseline == pytest.approx(_rmse(candidate.cv_score), rel=1e-9)
    features = {f.feature: f for f in found.features}
    groups = {g.feature: g for g in found.grouped}
    assert features["median_income"].mean > 0 and features["median_income"].worse_by > 0
    assert groups["median_income"] == features["median_income"]  # one column: the same shuffles
    assert "ocean_proximity" in groups and "INLAND" not in groups
    assert len(groups) == len(NUMERIC) + len(DERIVED) + 1
    assert [f.mean for f in found.features] == sorted((f.mean for f in found.features), reverse=True)
    assert found.n_folds == 3 and found.n_repeats == 3


def test_permutation_importances_are_reproducible_and_seeded(forest):
    first = permutation_importances(*forest, n_repeats=2, random_state=3)
    again = permutation_importances(*forest, n_repeats=2, random_state=3)
    other = permutation_importances(*forest, n_repeats=2, random_state=4)
    assert first == again
    assert first.features != other.features
    assert first.features[0].feature == "median_income"


def test_drop_check_reruns_the_search_without_the_weakest_features(forest):
    candidate, training = forest
    importances = feature_importances(candidate, training)
    check = drop_check(candidate, training, importances, share=0.05)
    assert check.before == pytest.approx(_rmse(candidate.cv_score), rel=1e-9)
    assert check.stored == pytest.approx(check.before, rel=1e-9)
    assert check.after != pytest.approx(check.before, rel=1e-6)
    # The dropped ones are the least important, together under 5 % ...
    values = {f.feature: f.importance for f in importances.features}
    kept = [v for name, v in values.items() if name not in check.dropped]
    assert check.dropped and max(values[name] for name in check.dropped) <= min(kept)
    assert sum(values[name] for name in check.dropped) < 0.05
    # ... and one more would have crossed the share.
    assert sum(values[name] for name in check.dropped) + min(kept) >= 0.05
    assert check.label == "RMSE" and len(check.before_folds) == len(check.after_folds) == 3
    better_or_close = check.after <= check.before + check.fold_std
    assert check.verdict == ("drop" if better_or_close else "keep")


def test_drop_check_takes_column_names_and_refuses_unknown_ones(forest):
    candidate, training = forest
    check = drop_check(candidate, training, ["ocean_proximity", "population"])
    categories = sorted(training.X["ocean_proximity"].unique())
    assert sorted(check.dropped) == sorted([*categories, "population"])
    assert check.selection == "given" and check.n_features == 11 + len(categories)
    # Folds in parallel workers give the same numbers.
    assert drop_check(candidate, training, ["ocean_proximity", "population"], n_jobs=2) == check
    with pytest.raises(HoneError, match="no prepared feature or column named 'income'"):
        drop_check(candidate, training, ["income"])


def test_least_important_stays_under_the_share():
    ranked = [("a", 0.5), ("b", 0.3), ("c", 0.15), ("d", 0.03), ("e", 0.02)]
    assert least_important(ranked, 0.05) == ["e"]
    assert least_important(ranked, 0.051) == ["e", "d"]
    # A feature that hurts (negative permutation importance) goes first.
    assert least_important([*ranked, ("f", -0.01)], 0.05) == ["f", "e", "d"]


def test_preparation_in_the_folds_follows_the_search_path(tmp_path: Path, housing):
    config, training, store = _tuned(tmp_path, housing, in_folds=True)
    candidate = find_candidate(config, store)
    assert candidate.settings.prepare_in_folds
    check = drop_check(candidate, training, ["ocean_proximity"])
    assert check.before == pytest.approx(_rmse(candidate.cv_score), rel=1e-9)
    assert check.after != pytest.approx(check.before, rel=1e-6)
    found = permutation_importances(candidate, training, n_repeats=2)
    assert found.baseline == pytest.approx(check.before, rel=1e-9)
    assert found.features[0].feature == "median_income"
