"""Out-of-fold errors of a tuned candidate, sliced, on real housing projects in a real SQLite store."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import cross_val_predict

from hone.analysis.candidate import find_candidate
from hone.analysis.error_slices import error_report, oof_predictions
from hone.config.load import load_config
from hone.data.training import load_training_set
from hone.store.db import Store
from hone.tune.project import tune

TARGET = "median_house_value"
CAP = 500_001

CONFIG = """\
project: errors
data: {{{data}, target: {target}}}
split: {{test_size: 0.2, stratify: median_income, bins: [0, 1.5, 3.0, 4.5, 6.0, .inf], seed: 42}}
prepare:
  {categorical}
  derived: {{rooms_per_hhold: total_rooms / households, pop_per_hhold: population / households}}
search: {{cv: 3, scoring: {scoring}, n_jobs: 1, prepare_in_folds: {in_folds}}}
models:
  - name: model
    estimator: {estimator}
    {params}
    grid: {grid}
store: store.db
"""

FOREST = dict(
    target=TARGET,
    categorical="categorical: [ocean_proximity]",
    scoring="neg_mean_squared_error",
    estimator="sklearn.ensemble.RandomForestRegressor",
    params="params: {random_state: 42}",
    grid="{n_estimators: [5, 10], max_features: [4, 8]}",
)


def _tuned(directory: Path, housing: pd.DataFrame | None, *, in_folds: bool = False, **settings: str):
    if housing is None:
        data = "dataset: housing"
    else:
        housing.iloc[:1500].to_csv(directory / "data.csv", index=False)
        data = "path: data.csv"
    path = directory / "hone.yaml"
    path.write_text(CONFIG.format(data=data, in_folds=str(in_folds).lower(), **settings))
    config = load_config(path)
    tune(config)
    training = load_training_set(config)
    return find_candidate(config, Store(config.store_url)), training


@pytest.fixture(scope="module")
def forest(tmp_path_factory, housing):
    return _tuned(tmp_path_factory.mktemp("errors"), housing, **FOREST)


@pytest.fixture(scope="module")
def forest_report(forest):
    candidate, training = forest
    predictions = oof_predictions(candidate, training)
    return predictions, error_report(candidate, training, predictions, bins=4, worst=10)


def test_oof_predictions_are_cross_val_predict_on_the_search_folds(forest):
    candidate, training = forest
    ours = oof_predictions(candidate, training)
    preparation = candidate.pipeline(training)[0]
    prepared = preparation.fit_transform(training.X)
    y = training.y.to_numpy()
    theirs = cross_val_predict(candidate.estimator(), prepared, y, cv=candidate.folds(prepared, y))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_overall_errors_agree_with_the_stored_cv_score(forest, forest_report):
    candidate, training = forest
    predictions, report = forest_report
    assert report.task == "regression" and report.target == TARGET
    error = predictions - training.y.to_numpy()
    assert report.overall.n == len(training.y)
    assert report.overall.mae == pytest.approx(np.mean(np.abs(error)))
    assert report.overall.bias == pytest.approx(np.mean(error))
    # 1200 rows in 3 equal folds: the pooled out-of-fold MSE is the mean of the fold MSEs.
    assert report.overall.rmse == pytest.approx(math.sqrt(-candidate.cv_score), rel=1e-9)


def test_slices_cover_every_row(forest, forest_report):
    _, training = forest
    _, report = forest_report
    n = len(training.y)
    categories = [s for s in report.by_category if s.column == "ocean_proximity"]
    assert sum(s.n for s in categories) == n
    assert {s.slice for s in categories} == set(training.X["ocean_proximity"].unique())
    columns = {s.column for s in report.by_bin}
    assert columns == {c for c in training.X.columns if c != "ocean_proximity"} | {TARGET}
    for column in columns:
        bins = [s for s in report.by_bin if s.column == column]
        assert sum(s.n for s in bins) == n, column
        assert len([s for s in bins if s.slice != "missing"]) <= 4
    # total_bedrooms has missing values in the housing data: they get their own slice.
    missing = [s for s in report.by_bin if s.column == "total_bedrooms" and s.slice == "missing"]
    assert missing and missing[0].n == int(training.X["total_bedrooms"].isna().sum())
    # Every bin's errors are its rows' errors.
    top = [s for s in report.by_bin if s.column == TARGET][-1]
    y = training.y.to_numpy()
    rows = y >= top.low
    assert top.n == int(rows.sum()) and top.high == y.max()


def test_worst_rows_are_the_largest_errors_with_their_ids(forest, forest_report):
    _, training = forest
    predictions, report = forest_report
    assert len(report.worst) == 10
    errors = [abs(row.error) for row in report.worst]
    assert errors == sorted(errors, reverse=True)
    assert errors[0] == pytest.approx(np.max(np.abs(predictions - training.y.to_numpy())))
    for row in report.worst:
        position = training.X.index.get_loc(row.row_id)
        assert row.truth == training.y.loc[row.row_id]
        assert row.prediction == predictions[position]
        assert row.error == pytest.approx(row.prediction - row.truth)
        assert row.features["median_income"] == training.X.loc[row.row_id, "median_income"]


def test_findings_name_the_most_biased_slices(forest_report):
    _, report = forest_report
    biased = [f for f in report.findings if f.kind == "biased slice"]
    assert biased, report.findings
    slices = {(s.column, s.slice): s for s in report.by_category + report.by_bin}
    for finding in biased:
        assert slices[(finding.column, finding.slice)].bias == finding.bias
        assert abs(finding.bias) >= 0.1 * report.overall.rmse
        assert ("under" in finding.message) == (finding.bias < 0)
    magnitudes = [abs(f.bias) for f in biased]
    assert magnitudes == sorted(magnitudes, reverse=True)


def test_the_capped_target_is_found_on_the_full_housing_data(tmp_path: Path, housing_split):
    candidate, training = _tuned(
        tmp_path,
        None,
        **{
            **FOREST,
            "estimator": "sklearn.linear_model.LinearRegression",
            "params": "",
            "grid": "{fit_intercept: [true]}",
        },
    )
    report = error_report(candidate, training, oof_predictions(candidate, training))
    capped = housing_split.train[TARGET] == CAP
    assert len(training.y) == len(housing_split.train)
    (cap,) = [f for f in report.findings if f.kind == "cap"]
    assert cap.n == int(capped.sum()) > 0.005 * len(training.y)
    assert cap.bias < -50_000  # a linear model cannot reach the cap's rows: strongly under-predicted
    assert "500,001" in cap.message and "under-predicted" in cap.message


def test_preparation_in_the_folds_predicts_along_the_pipeline(tmp_path: Path, housing):
    candidate, training = _tuned(tmp_path, housing, in_folds=True, **FOREST)
    assert candidate.settings.prepare_in_folds
    ours = oof_predictions(candidate, training)
    y = training.y.to_numpy()
    folds = candidate.folds(training.X, y)
    theirs = cross_val_predict(candidate.pipeline(training), training.X, y, cv=folds)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    report = error_report(candidate, training, ours)
    assert report.overall.rmse == pytest.approx(math.sqrt(-candidate.cv_score), rel=1e-9)


def test_classification_reports_error_rates(tmp_path: Path, housing):
    candidate, training = _tuned(
        tmp_path,
        housing,
        target="ocean_proximity",
        categorical="",
        scoring="accuracy",
        estimator="sklearn.tree.DecisionTreeClassifier",
        params="params: {random_state: 0}",
        grid="{max_depth: [3, 5]}",
    )
    predictions = oof_predictions(candidate, training)
    y = training.y.to_numpy()
    prepared = candidate.pipeline(training)[0].fit_transform(training.X)
    theirs = cross_val_predict(candidate.estimator(), prepared, y, cv=candidate.folds(prepared, y))
    assert (predictions == theirs).all()
    report = error_report(candidate, training, predictions, worst=5)
    assert report.task == "classification" and report.by_category == []
    assert report.accuracy == pytest.approx(np.mean(predictions == y))
    assert report.overall.rmse is None and report.overall.error_rate == pytest.approx(
        np.mean(predictions != y)
    )
    classes = [s for s in report.by_bin if s.column == "ocean_proximity"]
    assert {s.slice for s in classes} == set(y) and sum(s.n for s in classes) == len(y)
    assert all(row.truth != row.prediction and row.error == 1.0 for row in report.worst)
    assert not [f for f in report.findings if f.kind == "cap"]
