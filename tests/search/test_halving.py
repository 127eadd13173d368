"""Successive halving: hone's HalvingGridSearch / HalvingRandomSearch give scikit-learn's results."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.parity import assert_same_results
from scipy.stats import randint
from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import HalvingGridSearchCV, HalvingRandomSearchCV, KFold
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import hone
from hone.errors import SearchError
from hone.search.plan import configure, plan

ATTRIBUTES = [
    "n_resources_",
    "n_candidates_",
    "n_remaining_candidates_",
    "max_resources_",
    "min_resources_",
    "n_iterations_",
    "n_possible_iterations_",
    "n_required_iterations_",
    "best_params_",
    "best_index_",
    "n_splits_",
]


def assert_same_halving(ours, theirs) -> None:
    """cv_results_ within 1e-9 (times aside), iter / n_resources / params exactly, every attribute equal."""
    assert_same_results(ours, theirs, rtol=1e-9)
    for key in ("iter", "n_resources"):
        np.testing.assert_array_equal(ours.cv_results_[key], theirs.cv_results_[key], err_msg=key)
    for name in ATTRIBUTES:
        assert getattr(ours, name) == getattr(theirs, name), name
    assert ours.best_score_ == pytest.approx(theirs.best_score_, rel=1e-9)
    assert ours.n_iterations_ > 1, "a single iteration halves nothing: pick settings that halve"


@pytest.fixture()
def rows(housing_slice):
    X, y = housing_slice
    return X[:300], y[:300]


def _classes(y: np.ndarray) -> np.ndarray:
    return (y > np.median(y)).astype(int)


def test_grid_over_rows_regression_matches_sklearn(rows):
    X, y = rows
    grid = {"n_neighbors": [1, 3, 5, 8, 13, 21], "weights": ["uniform", "distance"]}
    settings = dict(factor=2, cv=3, random_state=0, scoring="neg_mean_absolute_error")
    theirs = HalvingGridSearchCV(KNeighborsRegressor(), grid, **settings).fit(X, y)
    ours = hone.HalvingGridSearch(KNeighborsRegressor(), grid, n_jobs=2, **settings).fit(X, y)
    assert_same_halving(ours, theirs)
    assert "mean_train_score" in ours.cv_results_  # return_train_score defaults to True, as in sklearn
    np.testing.assert_allclose(ours.predict(X[:30]), theirs.predict(X[:30]), rtol=1e-12)


def test_ties_keep_the_same_candidates(rows):
    # The algorithm does not change a k-NN's predictions: candidates tie in fours, and which of them
    # go on to the next iteration is decided by the tie rule alone.
    X, y = rows
    grid = {"n_neighbors": [2, 4, 7], "algorithm": ["brute", "kd_tree", "ball_tree", "auto"]}
    theirs = HalvingGridSearchCV(KNeighborsRegressor(), grid, cv=3, random_state=1).fit(X, y)
    ours = hone.HalvingGridSearch(KNeighborsRegressor(), grid, cv=3, random_state=1).fit(X, y)
    first = ours.cv_results_["iter"] == 0
    assert len(np.unique(ours.cv_results_["mean_test_score"][first])) < first.sum()  # there are ties
    assert_same_halving(ours, theirs)


def test_random_over_rows_classification_with_a_random_state_object(rows):
    # A RandomState object is consumed by the sampling, then by each iteration's row draws: hone draws
    # in sklearn's order, so both see the same candidates and rows.
    X, y = rows
    labels = _classes(y)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    space = {
        "logisticregression__C": np.logspace(-3, 2, 30).tolist(),
        "logisticregression__fit_intercept": [True, False],
    }
    theirs = HalvingRandomSearchCV(model, space, cv=3, random_state=np.random.RandomState(3)).fit(X, labels)
    ours = hone.HalvingRandomSearch(model, space, cv=3, random_state=np.random.RandomState(3)).fit(X, labels)
    assert_same_halving(ours, theirs)
    np.testing.assert_allclose(ours.predict_proba(X[:20]), theirs.predict_proba(X[:20]), rtol=1e-12)


def test_classifier_grid_with_aggressive_elimination(rows):
    X, y = rows
    labels = _classes(y)
    grid = {"n_neighbors": list(range(1, 28, 2)), "weights": ["uniform", "distance"]}
    settings = dict(cv=3, factor=3, min_resources=60, aggressive_elimination=True, random_state=7)
    theirs = HalvingGridSearchCV(KNeighborsClassifier(), grid, **settings).fit(X, labels)
    ours = hone.HalvingGridSearch(KNeighborsClassifier(), grid, **settings).fit(X, labels)
    assert_same_halving(ours, theirs)
    assert ours.n_resources_[0] == ours.n_resources_[1]  # the first resource is replayed


def test_grid_over_n_estimators_regression(rows):
    X, y = rows
    grid = {"max_features": [1, 3, 5, 8], "min_samples_leaf": [1, 4, 9]}
    settings = dict(
        resource="n_estimators", max_resources=27, min_resources=3, cv=3, return_train_score=False
    )
    model = RandomForestRegressor(random_state=1)
    theirs = HalvingGridSearchCV(model, grid, **settings).fit(X, y)
    ours = hone.HalvingGridSearch(model, grid, n_jobs=2, **settings).fit(X, y)
    assert_same_halving(ours, theirs)
    assert ours.cv_results_["param_n_estimators"].tolist() == ours.cv_results_["n_resources"].tolist()
    assert ours.best_estimator_.n_estimators == ours.n_resources_[-1]


def test_random_over_n_estimators_classification(rows):
    X, y = rows
    labels = _classes(y)
    space = {"max_depth": randint(1, 5), "learning_rate": [0.03, 0.1, 0.3]}
    settings = dict(resource="n_estimators", max_resources=40, n_candidates=9, factor=2, cv=3, random_state=4)
    model = GradientBoostingClassifier(random_state=0)
    theirs = HalvingRandomSearchCV(model, space, **settings).fit(X, labels)
    ours = hone.HalvingRandomSearch(model, space, **settings).fit(X, labels)
    assert_same_halving(ours, theirs)


def test_stored_study_resumes_without_refitting(tmp_path, rows):
    X, y = rows
    grid = {"n_neighbors": [1, 3, 5, 8, 13, 21], "weights": ["uniform", "distance"]}
    settings = dict(factor=2, cv=3, random_state=0)
    db = tmp_path / "store.db"
    theirs = HalvingGridSearchCV(KNeighborsRegressor(), grid, **settings).fit(X, y)
    first = hone.HalvingGridSearch(KNeighborsRegressor(), grid, store=db, study="h", **settings).fit(X, y)
    n_fits = len(first.cv_results_["params"]) * 3
    assert (first.n_fits_computed_, first.n_fits_reused_) == (n_fits, 0)
    second = hone.HalvingGridSearch(KNeighborsRegressor(), grid, store=db, study="h", **settings).fit(X, y)
    assert (second.n_fits_computed_, second.n_fits_reused_) == (0, n_fits)
    assert_same_halving(first, theirs)
    assert_same_halving(second, theirs)


def test_other_row_draws_are_another_study(tmp_path, rows):
    # The same grid with another random_state draws other rows: it must not read the first one's fits.
    X, y = rows
    grid = {"n_neighbors": [1, 3, 5, 8, 13, 21]}
    db = tmp_path / "store.db"
    hone.HalvingGridSearch(KNeighborsRegressor(), grid, cv=3, random_state=0, store=db).fit(X, y)
    other = hone.HalvingGridSearch(KNeighborsRegressor(), grid, cv=3, random_state=1, store=db).fit(X, y)
    assert other.n_fits_reused_ == 0


def test_bad_settings_are_refused_before_the_store_is_touched(tmp_path, rows):
    X, y = rows
    db = tmp_path / "store.db"
    grid = {"n_neighbors": [1, 3, 5]}
    knn = KNeighborsRegressor()
    forest = RandomForestRegressor()
    cases = [
        (
            hone.HalvingGridSearch(knn, grid, scoring=["r2", "neg_mean_absolute_error"], store=db),
            "one metric",
        ),
        (hone.HalvingGridSearch(knn, grid, factor=1, store=db), "factor"),
        (hone.HalvingGridSearch(knn, grid, resource="n_trees", store=db), "n_trees"),
        (
            hone.HalvingGridSearch(
                forest, {"n_estimators": [3, 9]}, resource="n_estimators", max_resources=9, store=db
            ),
            "searched parameter",
        ),
        (hone.HalvingGridSearch(forest, {"max_depth": [2]}, resource="n_estimators", store=db), "auto"),
        (hone.HalvingGridSearch(knn, grid, cv=KFold(3, shuffle=True), store=db), "same folds"),
        (hone.HalvingGridSearch(knn, grid, min_resources=400, store=db), "greater than"),
        (hone.HalvingGridSearch(knn, grid, min_resources="some", store=db), "min_resources"),
        (hone.HalvingRandomSearch(knn, grid, min_resources="exhaust", store=db), "both be 'exhaust'"),
        (hone.HalvingRandomSearch(knn, grid, n_candidates=0, store=db), "n_candidates"),
    ]
    for search, message in cases:
        with pytest.raises(SearchError, match=message):
            search.fit(X, y)
    assert not db.exists()


def test_fits_are_shared_within_an_iteration_only(rows):
    # Over n_estimators, an iteration's candidates share their n_estimators and differ in the rest: the
    # planner finds no forest prefixes to share (those would span iterations), so each fit runs alone.
    X, y = rows
    grid = {"max_features": [1, 3, 5, 8], "min_samples_leaf": [1, 4, 9]}
    model = RandomForestRegressor(random_state=1)
    search = hone.HalvingGridSearch(
        model, grid, resource="n_estimators", max_resources=27, min_resources=3, cv=3
    ).fit(X, y)
    for iteration in range(search.n_iterations_):
        rows_of_iteration = np.flatnonzero(search.cv_results_["iter"] == iteration)
        params = [search.cv_results_["params"][i] for i in rows_of_iteration]
        groups = plan(configure(model, params))
        assert len(groups) == len(params)
    # A grid over n_estimators itself (no halving) is shared: one forest per fold answers every size.
    assert len(plan(configure(model, [{"n_estimators": n} for n in (3, 9, 27)]))) == 1
