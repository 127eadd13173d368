"""The test-set evaluation: book parity, metrics against sklearn, the locked test set, the peeking guard."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)
from sklearn.model_selection import GridSearchCV, StratifiedShuffleSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from hone.analysis.candidate import find_candidate
from hone.analysis.evaluate import (
    classification_values,
    evaluate,
    load_test_set,
    record,
    regression_values,
)
from hone.config.load import load_config
from hone.data.training import load_training_set
from hone.errors import DataError, HoneError, StoreError
from hone.store.db import Store, sqlite_url
from hone.tune.project import tune

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "housing" / "hone.yaml"
TARGET = "median_house_value"

REGRESSION = """\
project: small
data: {path: data.csv, target: median_house_value}
split: {test_size: 0.25, stratify: median_income, bins: [0, 2, 4, 6, .inf], seed: 7}
prepare: {categorical: [ocean_proximity]}
search: {cv: 3, scoring: neg_mean_squared_error}
models:
  - name: knn
    estimator: sklearn.neighbors.KNeighborsRegressor
    grid: {n_neighbors: [5, 15]}
  - name: ridge
    estimator: sklearn.linear_model.Ridge
    grid: {alpha: [1.0]}
"""

CLASSIFICATION = """\
project: {project}
data: {{path: data.csv, target: {target}}}
split: {{test_size: 0.25, stratify: {target}, seed: 3}}
prepare: {{categorical: {categorical}}}
search: {{cv: 3, scoring: {scoring}}}
models:
  - name: logistic
    estimator: sklearn.linear_model.LogisticRegression
    params: {{max_iter: 2000}}
    grid: {{C: [1.0]}}
"""


def _small_frame(housing: pd.DataFrame) -> pd.DataFrame:
    # Every 25th row: all four common ocean_proximity values, ~830 rows, fast to fit.
    return housing.iloc[::25].reset_index(drop=True)


def _write(tmp_path: Path, frame: pd.DataFrame, text: str) -> Path:
    frame.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "hone.yaml").write_text(text)
    return tmp_path / "hone.yaml"


def _tuned(tmp_path: Path, frame: pd.DataFrame, text: str):
    config = load_config(_write(tmp_path, frame, text))
    store = Store(sqlite_url(tmp_path / "hone.db"))
    tune(config, store=store)
    return config, store


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, housing: pd.DataFrame) -> Path:
    """The regression project, tuned once; tests that record looks work on a copy of its store."""
    folder = tmp_path_factory.mktemp("small")
    _tuned(folder, _small_frame(housing), REGRESSION)
    return folder


def _copy(small: Path, tmp_path: Path):
    shutil.copy(small / "hone.db", tmp_path / "hone.db")
    return load_config(small / "hone.yaml"), Store(sqlite_url(tmp_path / "hone.db"))


def _evaluate(config, store, which=None, candidate=None, **options):
    chosen = find_candidate(config, store, which, candidate)
    X_test, y_test = load_test_set(config, store)
    return chosen, evaluate(chosen, load_training_set(config), X_test, y_test, **options)


# -- parity with the book ----------------------------------------------------------------------------


class CombinedAttributesAdder(BaseEstimator, TransformerMixin):
    """The book's three ratios (rooms, population and bedrooms per household / room)."""

    def fit(self, X, y=None):  # noqa: N803
        return self

    def transform(self, X):  # noqa: N803
        rooms, bedrooms, population, households = 3, 4, 5, 6
        return np.c_[
            X,
            X[:, rooms] / X[:, households],
            X[:, population] / X[:, households],
            X[:, bedrooms] / X[:, rooms],
        ]


def _book_test_rmse(housing: pd.DataFrame, grid: list[dict]) -> tuple[float, np.ndarray, list[int]]:
    """Chapter 2 of the book, as plain scikit-learn: split, full_pipeline, grid search, test RMSE."""
    housing = housing.copy()
    housing["income_cat"] = pd.cut(
        housing["median_income"], bins=[0.0, 1.5, 3.0, 4.5, 6.0, np.inf], labels=[1, 2, 3, 4, 5]
    )
    split = StratifiedShuffleSplit(n_splits=1, test_size=0.2, random_state=42)
    train_index, test_index = next(split.split(housing, housing["income_cat"]))
    strat_train_set = housing.loc[train_index].drop(columns="income_cat")
    strat_test_set = housing.loc[test_index].drop(columns="income_cat")

    features = strat_train_set.drop(TARGET, axis=1)
    labels = strat_train_set[TARGET].copy()
    num_attribs = list(features.drop("ocean_proximity", axis=1))
    num_pipeline = Pipeline(
        [
            ("imputer", SimpleImputer(strategy="median")),
            ("attribs_adder", FunctionTransformer(CombinedAttributesAdder().transform)),
            ("std_scaler", StandardScaler()),
        ]
    )
    full_pipeline = ColumnTransformer(
        [("num", num_pipeline, num_attribs), ("cat", OneHotEncoder(), ["ocean_proximity"])]
    )
    housing_prepared = full_pipeline.fit_transform(features)
    grid_search = GridSearchCV(
        RandomForestRegressor(random_state=42),
        grid,
        cv=5,
        scoring="neg_mean_squared_error",
        return_train_score=True,
        n_jobs=-1,
    ).fit(housing_prepared, labels)
    final_model = grid_search.best_estimator_

    X_test = strat_test_set.drop(TARGET, axis=1)  # noqa: N806
    y_test = strat_test_set[TARGET].copy()
    final_predictions = final_model.predict(full_pipeline.transform(X_test))
    final_rmse = np.sqrt(mean_squared_error(y_test, final_predictions))
    squared_errors = (final_predictions - y_test) ** 2
    interval = np.sqrt(
        stats.t.interval(
            0.95, len(squared_errors) - 1, loc=squared_errors.mean(), scale=stats.sem(squared_errors)
        )
    )
    return float(final_rmse), interval, [int(i) for i in test_index]


@pytest.mark.slow
def test_forest_grid_test_rmse_and_interval_match_the_book(tmp_path: Path, housing: pd.DataFrame):
    config = load_config(EXAMPLE)
    config.models = [m for m in config.models if m.name == "forest_grid"]
    store = Store(sqlite_url(tmp_path / "hone.db"))
    tune(config, store=store)
    candidate, evaluation = _evaluate(config, store)

    rmse, interval, test_index = _book_test_rmse(housing, config.models[0].grid)
    assert evaluation.params == {"max_features": 8, "n_estimators": 30}
    assert evaluation.n_test == 4128 and list(evaluation.index) == test_index
    assert evaluation.metrics["rmse"] == pytest.approx(rmse, rel=1e-9)
    t = evaluation.rmse_t_interval
    assert (t.low, t.high) == pytest.approx(tuple(interval), rel=1e-9)
    assert round(evaluation.metrics["rmse"]) == 47_873
    assert (round(t.low), round(t.high)) == (45_893, 49_774)
    # The CV score is shown in the same units, and the test estimate sits inside both intervals.
    assert evaluation.cv_metric == "RMSE" and 45_000 < evaluation.cv_score < 55_000
    boot = evaluation.intervals["rmse"]
    assert boot.low < evaluation.metrics["rmse"] < boot.high
    assert abs(boot.low - t.low) < 1_000 and abs(boot.high - t.high) < 1_000


# -- metrics ------------------------------------------------------------------------------------------


def test_binary_classifier_metrics_match_plain_sklearn(tmp_path: Path, housing: pd.DataFrame):
    frame = _small_frame(housing)
    frame["expensive"] = frame.pop(TARGET) > 200_000
    text = CLASSIFICATION.format(
        project="cls", target="expensive", categorical="[ocean_proximity]", scoring="roc_auc"
    )
    config, store = _tuned(tmp_path, frame, text)
    candidate, evaluation = _evaluate(config, store)

    # The same split, preparation and model, written with scikit-learn alone.
    split = StratifiedShuffleSplit(n_splits=1, test_size=0.25, random_state=3)
    train_index, test_index = next(split.split(np.zeros(len(frame)), frame["expensive"]))
    train, test = frame.iloc[train_index], frame.iloc[test_index]
    numeric = [c for c in frame.columns if c not in ("expensive", "ocean_proximity")]
    preparation = ColumnTransformer(
        [
            ("num", Pipeline([("i", SimpleImputer(strategy="median")), ("s", StandardScaler())]), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["ocean_proximity"]),
        ]
    )
    model = LogisticRegression(max_iter=2000, C=candidate.params["C"])
    plain = Pipeline([("prepare", preparation), ("model", model)])
    plain.fit(train.drop(columns="expensive"), train["expensive"])
    X_test, y_test = test.drop(columns="expensive"), test["expensive"].to_numpy()  # noqa: N806
    pred, proba = plain.predict(X_test), plain.predict_proba(X_test)

    assert evaluation.task == "classification" and evaluation.classes == [False, True]
    assert list(evaluation.index) == list(test_index) and evaluation.n_test == len(test_index)
    np.testing.assert_array_equal(evaluation.y_pred, pred)
    expected = {
        "accuracy": accuracy_score(y_test, pred),
        "f1": f1_score(y_test, pred),
        "roc_auc": roc_auc_score(y_test, proba[:, 1]),
        "log_loss": log_loss(y_test, proba),
    }
    assert evaluation.metrics == pytest.approx(expected, rel=1e-9)
    assert 0.7 < evaluation.metrics["roc_auc"] <= 1
    assert evaluation.rmse_t_interval is None
    np.testing.assert_array_equal(evaluation.errors, (pred != y_test).astype(float))
    for name, value in evaluation.metrics.items():
        interval = evaluation.intervals[name]
        assert interval.low <= value <= interval.high, name
    assert evaluation.cv_metric == "roc_auc" and evaluation.cv_score == pytest.approx(candidate.cv_score)


def test_multiclass_metrics_are_macro_and_one_vs_rest(tmp_path: Path, housing: pd.DataFrame):
    frame = _small_frame(housing)
    text = CLASSIFICATION.format(
        project="multi", target="ocean_proximity", categorical="[]", scoring="accuracy"
    )
    config, store = _tuned(tmp_path, frame, text)
    _, evaluation = _evaluate(config, store, n_bootstrap=300)
    y, pred, proba = evaluation.y_true, evaluation.y_pred, evaluation.proba
    assert evaluation.classes == ["<1H OCEAN", "INLAND", "NEAR BAY", "NEAR OCEAN"]
    assert evaluation.metrics["f1"] == pytest.approx(f1_score(y, pred, average="macro"), rel=1e-12)
    assert evaluation.metrics["roc_auc"] == pytest.approx(
        roc_auc_score(y, proba, multi_class="ovr", labels=evaluation.classes), rel=1e-12
    )
    assert evaluation.metrics["log_loss"] == pytest.approx(log_loss(y, proba), rel=1e-12)
    assert evaluation.metrics["f1"] != pytest.approx(f1_score(y, pred, average="micro"))


def _resampled(counts: np.ndarray) -> list[np.ndarray]:
    return [np.repeat(np.arange(counts.shape[1]), row.astype(int)) for row in counts]


def test_bootstrap_metrics_equal_sklearn_on_each_resample():
    rng = np.random.default_rng(5)
    n = 80
    counts = rng.integers(0, 3, size=(6, n)).astype(float)
    y = 2e5 + 1e5 * rng.normal(size=n)
    pred = y + 3e4 * rng.normal(size=n)
    values = regression_values(counts, y, pred)
    for b, rows in enumerate(_resampled(counts)):
        assert values["rmse"][b] == pytest.approx(np.sqrt(mean_squared_error(y[rows], pred[rows])), rel=1e-12)
        assert values["mae"][b] == pytest.approx(mean_absolute_error(y[rows], pred[rows]), rel=1e-12)
        assert values["r2"][b] == pytest.approx(r2_score(y[rows], pred[rows]), rel=1e-9)

    classes = np.array(["a", "b", "c"])
    truth = rng.choice(classes, size=n)
    proba = np.round(rng.dirichlet([1, 1, 1], size=n), 1) + 0.05  # rounded: many tied scores
    proba /= proba.sum(axis=1, keepdims=True)
    guess = classes[proba.argmax(axis=1)]
    multi = classification_values(counts, truth, guess, proba, classes)
    positive = truth == "a"
    binary_proba = np.column_stack([1 - proba[:, 0], proba[:, 0]])
    binary = classification_values(counts, positive, guess == "a", binary_proba, np.array([False, True]))
    for b, rows in enumerate(_resampled(counts)):
        t, g, p = truth[rows], guess[rows], proba[rows]
        assert multi["accuracy"][b] == pytest.approx(accuracy_score(t, g), rel=1e-12)
        assert multi["f1"][b] == pytest.approx(f1_score(t, g, average="macro"), rel=1e-12)
        auc = roc_auc_score(t, p, multi_class="ovr", labels=classes)
        assert multi["roc_auc"][b] == pytest.approx(auc, rel=1e-12)
        assert multi["log_loss"][b] == pytest.approx(log_loss(t, p, labels=classes), rel=1e-12)
        assert binary["f1"][b] == pytest.approx(f1_score(positive[rows], g == "a"), rel=1e-12)
        assert binary["roc_auc"][b] == pytest.approx(roc_auc_score(positive[rows], p[:, 0]), rel=1e-12)


def test_intervals_are_seeded_and_narrow_with_lower_confidence(small: Path, tmp_path: Path):
    config, store = _copy(small, tmp_path)
    _, first = _evaluate(config, store, "knn")
    _, again = _evaluate(config, store, "knn")
    _, other_seed = _evaluate(config, store, "knn", random_state=1)
    _, narrow = _evaluate(config, store, "knn", confidence=0.5)
    assert first.task == "regression" and set(first.metrics) == {"rmse", "mae", "r2"}
    assert first.intervals == again.intervals and first.intervals != other_seed.intervals
    for name, value in first.metrics.items():
        wide, small = first.intervals[name], narrow.intervals[name]
        assert wide.low < small.low <= value <= small.high < wide.high, name
    t = first.rmse_t_interval
    assert t.low < first.metrics["rmse"] < t.high
    np.testing.assert_allclose(first.errors, first.y_pred - first.y_true)
    assert np.sqrt(np.mean(first.errors**2)) == pytest.approx(first.metrics["rmse"], rel=1e-12)
    with pytest.raises(HoneError, match="confidence"):
        _evaluate(config, store, "knn", confidence=95)


# -- the test set stays locked ------------------------------------------------------------------------


def test_the_pipeline_is_fitted_on_training_rows_only(small: Path, tmp_path: Path, housing: pd.DataFrame):
    frame = _small_frame(housing)
    config, store = _copy(small, tmp_path)
    _, evaluation = _evaluate(config, store, "knn")
    training = load_training_set(config)
    numeric = [c for c in frame.columns if c not in (TARGET, "ocean_proximity")]

    imputer = evaluation.pipeline.named_steps["prepare"].named_transformers_["num"].named_steps["impute"]
    np.testing.assert_allclose(imputer.statistics_, training.X[numeric].median().to_numpy())
    # The medians of all rows differ, so a fit that had seen the test rows would show here.
    assert not np.allclose(imputer.statistics_, frame[numeric].median().to_numpy())
    assert evaluation.pipeline.named_steps["model"].n_samples_fit_ == len(training.X)
    assert not set(evaluation.index) & set(training.X.index)
    assert len(evaluation.index) + len(training.X) == len(frame)


def test_load_test_set_refuses_before_tuning_and_after_the_data_changed(tmp_path: Path, housing):
    frame = _small_frame(housing)
    config = load_config(_write(tmp_path, frame, REGRESSION))
    store = Store(sqlite_url(tmp_path / "hone.db"))
    with pytest.raises(StoreError, match=r"run `hone tune` first"):
        load_test_set(config, store)

    tune(config, store=store)
    X_test, y_test = load_test_set(config, store)  # noqa: N806
    split = load_training_set(config).split
    assert list(X_test.index) == list(split.test_index) and TARGET not in X_test
    np.testing.assert_array_equal(y_test.to_numpy(), frame[TARGET].to_numpy()[split.test_index])

    changed = frame.copy()
    changed.loc[0, TARGET] += 1  # one value: same rows, same split positions, different data
    changed.to_csv(tmp_path / "data.csv", index=False)
    with pytest.raises(DataError, match="changed since tuning") as error:
        load_test_set(config, store)
    assert "\n" not in str(error.value) and error.value.where

    frame.to_csv(tmp_path / "data.csv", index=False)
    config.split.seed = 8  # the same data split differently
    with pytest.raises(DataError, match="changed since tuning"):
        load_test_set(config, store)


# -- the peeking guard --------------------------------------------------------------------------------


def test_a_second_model_on_the_test_set_is_warned_about(small: Path, tmp_path: Path):
    config, store = _copy(small, tmp_path)
    knn, first = _evaluate(config, store, "knn", n_bootstrap=200)
    look = record(store, config, knn, first)
    assert (look.n_before, look.n_looks, look.models_before, look.warning) == (0, 1, [], None)

    ridge, second = _evaluate(config, store, "ridge", n_bootstrap=200)
    look = record(store, config, ridge, second)
    assert (look.n_before, look.models_before) == (1, ["knn"])
    assert look.warning is not None and "used 2 times (knn, ridge)" in look.warning
    assert "optimistic" in look.warning and "\n" not in look.warning

    rows = store.evaluations("small")
    assert [row.model for row in rows] == ["knn", "ridge"]
    assert json.loads(rows[0].metrics) == json.loads(json.dumps(first.to_dict(), allow_nan=False))
    assert json.loads(rows[1].params) == {"alpha": 1.0}
    assert rows[0].test_ids_sha256 == store.locked_split("small").test_ids_sha256


def test_the_same_model_again_is_counted_and_a_final_choice_is_kept(small: Path, tmp_path: Path):
    config, store = _copy(small, tmp_path)
    knn, evaluation = _evaluate(config, store, "knn", n_bootstrap=200)
    assert record(store, config, knn, evaluation).warning is None
    look = record(store, config, knn, evaluation)
    assert (look.n_before, look.warning) == (1, None)  # the same model and params: no new selection
    look = record(store, config, knn, evaluation, final=True)
    assert (look.n_before, look.final, look.final_before, look.warning) == (2, True, None, None)
    assert [row.final for row in store.evaluations("small")] == [False, False, True]

    # The same model with other params is another choice made on the test set.
    other_index = 1 - knn.index
    other, other_evaluation = _evaluate(config, store, "knn", candidate=other_index, n_bootstrap=200)
    assert other.params != knn.params
    look = record(store, config, other, other_evaluation, final=True)
    assert (look.n_before, look.final_before) == (3, "knn")
    assert look.warning is not None
    assert "used 4 times (knn) and knn was already chosen as final" in look.warning
    assert [row.final for row in store.evaluations("small")] == [False, False, False, True]

    with pytest.raises(ValueError, match="not of this candidate"):
        record(store, config, knn, other_evaluation)
