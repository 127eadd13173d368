"""Forest prefix sharing: one fit of the largest forest per fold, scores equal to independent fits."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.parity import assert_same_results
from scipy.stats import randint
from sklearn.ensemble import ExtraTreesClassifier, RandomForestRegressor
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.tree import DecisionTreeRegressor

import hone
from hone.search.plan import configure, plan
from hone.search.space import grid_candidates

# A sharing family that falls back to independent fits would pass on scores alone: make it fail here.
pytestmark = pytest.mark.filterwarnings("error::hone.search.plan.SharingFallbackWarning")


GRID = [
    {"n_estimators": [2, 7, 15], "max_features": [3, 6]},
    {"bootstrap": [False], "n_estimators": [4, 9], "max_features": [3]},
]


def test_candidates_differing_only_in_n_estimators_form_one_group():
    groups = plan(configure(RandomForestRegressor(random_state=42), grid_candidates(GRID)))
    shared = sorted(sorted(g.indices) for g in groups if g.family == "forest")
    assert shared == [[0, 1, 2], [3, 4, 5], [6, 7]]
    assert all(g.family == "forest" for g in groups)
    # A RandomState object is consumed fit after fit: no prefix property, no sharing.
    unshared = plan(
        configure(RandomForestRegressor(random_state=np.random.RandomState(0)), grid_candidates(GRID))
    )
    assert all(g.family == "independent" for g in unshared)


def test_shared_forest_scores_equal_sklearn_with_train_scores(housing_slice):
    X, y = housing_slice
    settings = dict(cv=3, scoring="neg_mean_absolute_error", return_train_score=True)
    theirs = GridSearchCV(RandomForestRegressor(random_state=3), GRID, **settings).fit(X, y)
    ours = hone.GridSearch(RandomForestRegressor(random_state=3), GRID, n_jobs=2, **settings).fit(X, y)
    assert_same_results(ours, theirs)
    alone = hone.GridSearch(RandomForestRegressor(random_state=3), GRID, share=False, **settings).fit(X, y)
    assert_same_results(alone, theirs)


def test_shared_extra_trees_classifier_probabilities_equal_sklearn(housing_slice):
    X, y = housing_slice
    labels = np.digitize(y, np.quantile(y, [0.33, 0.66]))  # three classes
    space = {"n_estimators": randint(1, 25), "min_samples_leaf": [1, 5]}
    settings = dict(n_iter=8, cv=3, scoring="neg_log_loss", random_state=1)
    theirs = RandomizedSearchCV(ExtraTreesClassifier(random_state=5), space, **settings).fit(X, labels)
    ours = hone.RandomSearch(ExtraTreesClassifier(random_state=5), space, **settings).fit(X, labels)
    assert_same_results(ours, theirs)


def test_each_tree_predicts_a_folds_rows_once_and_scores_stay_bit_identical(housing_slice, monkeypatch):
    X, y = housing_slice
    grid = {"n_estimators": [3, 10, 20]}
    settings = dict(cv=3, scoring="neg_mean_squared_error", return_train_score=True)
    unshared = hone.GridSearch(RandomForestRegressor(random_state=0), grid, share=False, **settings).fit(X, y)
    calls = []
    original = DecisionTreeRegressor.predict

    def counting(self, X, check_input=True):
        calls.append(len(X))
        return original(self, X, check_input=check_input)

    monkeypatch.setattr(DecisionTreeRegressor, "predict", counting)
    shared = hone.GridSearch(RandomForestRegressor(random_state=0), grid, **settings).fit(X, y)
    # 20 trees x (test rows + training rows) x 3 folds, then nothing more: every prefix reads the sums.
    assert len(calls) == 20 * 2 * 3
    for key in [k for k in unshared.cv_results_ if k.startswith("split")]:
        np.testing.assert_array_equal(shared.cv_results_[key], unshared.cv_results_[key], err_msg=key)


def test_fit_time_is_apportioned_by_trees(housing_slice):
    X, y = housing_slice
    search = hone.GridSearch(RandomForestRegressor(random_state=0), {"n_estimators": [5, 20]}, cv=2).fit(X, y)
    small, large = search.cv_results_["mean_fit_time"]
    assert small == pytest.approx(large / 4, rel=1e-12)


def test_refit_on_threads_gives_sklearns_forest_and_params(housing_slice):
    X, y = housing_slice
    grid = {"n_estimators": [4, 12], "max_features": [3, 6]}
    theirs = GridSearchCV(RandomForestRegressor(random_state=7), grid, cv=3).fit(X, y)
    ours = hone.GridSearch(RandomForestRegressor(random_state=7), grid, cv=3, n_jobs=2).fit(X, y)
    # Built on two threads, the refit forest is still tree for tree sklearn's, with the same params.
    np.testing.assert_array_equal(ours.best_estimator_.predict(X), theirs.best_estimator_.predict(X))
    assert ours.best_estimator_.get_params() == theirs.best_estimator_.get_params()
    assert ours.best_estimator_.n_jobs is None
