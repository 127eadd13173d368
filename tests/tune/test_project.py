"""`hone.tune.tune` on a small project: the preparation inside the folds, and the locked test set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline

from hone.config.load import load_config
from hone.data import PrepareSpec, build_preparation
from hone.data.training import load_training_set
from hone.errors import StoreError
from hone.store.db import Store, sqlite_url
from hone.tune.project import tune

CONFIG = """\
project: folds
data: {{path: data.csv, target: median_house_value}}
split: {{test_size: 0.25, stratify: median_income, bins: [0, 2, 4, 6, .inf], seed: {seed}}}
prepare:
  categorical: [ocean_proximity]
  derived: {{rooms_per_hhold: total_rooms / households}}
search: {{cv: 4, scoring: neg_mean_absolute_error, prepare_in_folds: true}}
models:
  - name: knn
    estimator: sklearn.neighbors.KNeighborsRegressor
    grid: {{n_neighbors: [3, 7], weights: [uniform, distance]}}
"""


def _project(tmp_path: Path, housing, seed: int = 7) -> Path:
    housing.iloc[:800].to_csv(tmp_path / "data.csv", index=False)
    path = tmp_path / "hone.yaml"
    path.write_text(CONFIG.format(seed=seed))
    return path


def test_preparation_inside_the_folds_matches_a_sklearn_pipeline(tmp_path: Path, housing):
    config = load_config(_project(tmp_path, housing))
    outcome = tune(config, store=Store(sqlite_url(tmp_path / "s.db")))
    ours = outcome.models[0].search

    training = load_training_set(config)
    preparation = build_preparation(
        PrepareSpec(categorical=["ocean_proximity"], derived={"rooms_per_hhold": "total_rooms / households"}),
        training.split.train,
        "median_house_value",
    )
    pipeline = Pipeline([("prepare", preparation), ("model", KNeighborsRegressor())])
    grid = {"model__n_neighbors": [3, 7], "model__weights": ["uniform", "distance"]}
    theirs = GridSearchCV(pipeline, grid, cv=4, scoring="neg_mean_absolute_error").fit(training.X, training.y)
    assert ours.cv_results_["params"] == theirs.cv_results_["params"]
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"], rtol=1e-9
    )
    assert ours.best_params_ == theirs.best_params_


def test_the_test_set_is_recorded_once_and_a_different_split_is_refused(tmp_path: Path, housing):
    config = load_config(_project(tmp_path, housing))
    store = Store(sqlite_url(tmp_path / "s.db"))
    first = tune(config, store=store)
    assert first.split_recorded and (first.n_train, first.n_test) == (600, 200)
    locked = store.locked_split("folds")
    training = load_training_set(config)
    assert locked.test_ids_sha256 == training.split.test_ids_sha256 and locked.n_test == 200
    # Tuning never sees a test row.
    assert not set(training.split.test_index) & set(training.split.train_index)
    assert not set(training.X.index) & set(training.split.test_index)
    assert tune(config, store=store).split_recorded is False

    other = load_config(_project(tmp_path, housing, seed=8))
    with pytest.raises(StoreError, match="test set"):
        tune(other, store=store)


def test_the_study_name_follows_the_library_versions(tmp_path: Path, housing, monkeypatch):
    import sklearn

    from hone.tune.project import plan_model

    config = load_config(_project(tmp_path, housing))
    training = load_training_set(config)
    y = training.y.to_numpy()
    before = plan_model(config, config.models[0], training, y).study
    assert plan_model(config, config.models[0], training, y).study == before
    monkeypatch.setattr(sklearn, "__version__", "1.9.2")
    assert plan_model(config, config.models[0], training, y).study != before


def test_a_text_target_for_a_regressor_leaves_no_store(tmp_path: Path, housing):
    from hone.errors import DataError

    path = _project(tmp_path, housing)
    frame = housing.iloc[:800].copy()
    frame["median_house_value"] = frame["median_house_value"].gt(2e5).map({True: "high", False: "low"})
    frame.to_csv(tmp_path / "data.csv", index=False)
    with pytest.raises(DataError, match=r"data\.csv: target column 'median_house_value' must be numeric"):
        tune(load_config(path))
    assert not (tmp_path / ".hone").exists()
