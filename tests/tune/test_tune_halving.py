"""`search: {strategy: halving}` in a project file: `hone tune` runs scikit-learn's successive halving."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy.stats import randint
from sklearn.ensemble import RandomForestRegressor
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import HalvingGridSearchCV, HalvingRandomSearchCV
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline

from hone.config import load_config
from hone.data import PrepareSpec, build_preparation
from hone.data.training import load_training_set
from hone.search.summary import read_summary, summarize
from hone.store.db import Store, sqlite_url
from hone.tune import tune

HONE = str(Path(sys.executable).parent / "hone")

CONFIG = """\
project: halving
data: {{path: data.csv, target: median_house_value}}
split: {{test_size: 0.25, stratify: median_income, bins: [0, 2, 4, 6, .inf], seed: 7}}
prepare:
  categorical: [ocean_proximity]
search: {{strategy: halving, cv: 3, scoring: {scoring}, factor: {factor}, random_state: 0{extra}}}
models:
  - name: knn
    estimator: sklearn.neighbors.KNeighborsRegressor
    grid: {{n_neighbors: [1, 3, 5, 9, 15, 25], weights: [uniform, distance]}}
  - name: forest
    estimator: sklearn.ensemble.RandomForestRegressor
    params: {{random_state: 0}}
    search: {{resource: n_estimators, min_resources: 2, max_resources: 16, n_candidates: 8}}
    distributions:
      max_features: randint(1, 8)
      min_samples_leaf: randint(1, 10)
store: store.db
"""


def _project(
    tmp_path: Path, housing, extra: str = "", scoring: str = "neg_mean_absolute_error", factor: str = "2"
) -> Path:
    housing.iloc[:600].to_csv(tmp_path / "data.csv", index=False)
    path = tmp_path / "hone.yaml"
    path.write_text(CONFIG.format(extra=extra, scoring=scoring, factor=factor))
    return path


def test_tune_halves_as_sklearn_and_the_store_reads_back_the_same_best(tmp_path: Path, housing):
    config = load_config(_project(tmp_path, housing, extra=", prepare_in_folds: true"))
    store = Store(sqlite_url(tmp_path / "s.db"))
    knn, forest = (model.search for model in tune(config, store=store).models)

    training = load_training_set(config)
    preparation = build_preparation(
        PrepareSpec(categorical=["ocean_proximity"]), training.split.train, "median_house_value"
    )
    common = dict(cv=3, scoring="neg_mean_absolute_error", factor=2, random_state=0, return_train_score=False)
    theirs_knn = HalvingGridSearchCV(
        Pipeline([("prepare", preparation), ("model", KNeighborsRegressor())]),
        {"model__n_neighbors": [1, 3, 5, 9, 15, 25], "model__weights": ["uniform", "distance"]},
        **common,
    ).fit(training.X, training.y)
    theirs_forest = HalvingRandomSearchCV(
        Pipeline([("prepare", preparation), ("model", RandomForestRegressor(random_state=0))]),
        {"model__max_features": randint(1, 8), "model__min_samples_leaf": randint(1, 10)},
        resource="model__n_estimators",
        min_resources=2,
        max_resources=16,
        n_candidates=8,
        **common,
    ).fit(training.X, training.y)
    for ours, theirs in ((knn, theirs_knn), (forest, theirs_forest)):
        assert ours.cv_results_["params"] == theirs.cv_results_["params"]
        np.testing.assert_array_equal(ours.cv_results_["iter"], theirs.cv_results_["iter"])
        np.testing.assert_allclose(
            ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"], rtol=1e-9
        )
        assert ours.best_params_ == theirs.best_params_
        assert ours.n_iterations_ > 1
        # What `hone tune` prints and what `hone results` / `hone evaluate` read back pick the same best,
        # the last iteration's (not a candidate that scored higher on fewer resources).
        assert summarize("m", ours, "halving").best_index == ours.best_index_
        assert read_summary(store.optuna, ours.study_name_).best_index == ours.best_index_


def run_hone(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"COLUMNS": "200"}
    return subprocess.run([HONE, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def test_hone_tune_with_strategy_halving(tmp_path: Path, housing):
    project = _project(tmp_path, housing, extra=", n_jobs: 1")
    done = run_hone("tune", str(project), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("successive halving") == 2
    best = [line for line in done.stdout.splitlines() if line.startswith("best params:")]
    assert len(best) == 2

    again = run_hone("tune", str(project), "--quiet", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "0 fitted now" in again.stdout
    assert [line for line in again.stdout.splitlines() if line.startswith("best params:")] == best

    results = run_hone("results", "--config", str(project), cwd=tmp_path)
    assert results.returncode == 0, results.stderr
    assert [line for line in results.stdout.splitlines() if line.startswith("best params:")] == best


def test_halving_settings_that_cannot_work_are_one_line_errors(tmp_path: Path, housing):
    for settings, message in [
        (dict(scoring="[r2, explained_variance], refit: r2"), "one metric"),
        (dict(extra=", resource: n_estimators"), "needs max_resources"),
        (dict(factor="1"), "greater than 1"),
    ]:
        project = _project(tmp_path, housing, **settings)
        done = run_hone("tune", str(project), cwd=tmp_path)
        assert done.returncode == 2, (settings, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "store.db").exists()
