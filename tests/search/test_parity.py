"""hone's searches give scikit-learn's cv_results_: same candidates, order, scores, ranks, best params."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.parity import assert_same_results
from scipy.stats import randint, uniform
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import hone

# A sharing family that falls back to independent fits would pass on scores alone: make it fail here.
pytestmark = pytest.mark.filterwarnings("error::hone.search.plan.SharingFallbackWarning")


SEED_GRID = [
    {"n_estimators": [3, 10, 30], "max_features": [2, 4, 6, 8]},
    {"bootstrap": [False], "n_estimators": [3, 10], "max_features": [2, 3, 4]},
]


def test_seed_grid_matches_gridsearchcv(housing_slice):
    X, y = housing_slice
    settings = dict(cv=5, scoring="neg_mean_squared_error", return_train_score=True)
    theirs = GridSearchCV(RandomForestRegressor(random_state=42), SEED_GRID, **settings).fit(X, y)
    ours = hone.GridSearch(RandomForestRegressor(random_state=42), SEED_GRID, n_jobs=2, **settings).fit(X, y)
    assert_same_results(ours, theirs)
    assert ours.best_score_ == pytest.approx(theirs.best_score_, rel=1e-12)
    assert ours.n_splits_ == theirs.n_splits_ == 5
    np.testing.assert_allclose(ours.predict(X[:50]), theirs.predict(X[:50]), rtol=1e-12)
    assert ours.score(X, y) == pytest.approx(theirs.score(X, y), rel=1e-12)


def test_book_random_search_matches_randomizedsearchcv(housing_slice):
    X, y = housing_slice
    distributions = {"n_estimators": randint(1, 40), "max_features": randint(1, 8)}
    settings = dict(
        n_iter=8, cv=4, scoring="neg_mean_squared_error", random_state=42, return_train_score=True
    )
    theirs = RandomizedSearchCV(RandomForestRegressor(random_state=42), distributions, **settings).fit(X, y)
    ours = hone.RandomSearch(RandomForestRegressor(random_state=42), distributions, **settings).fit(X, y)
    assert_same_results(ours, theirs)


def test_random_search_with_lists_of_dicts_and_continuous_distributions(housing_slice):
    X, y = housing_slice
    space = [{"n_neighbors": randint(1, 30), "weights": ["uniform", "distance"]}, {"p": uniform(1, 1)}]
    settings = dict(n_iter=7, cv=3, random_state=0)
    theirs = RandomizedSearchCV(KNeighborsRegressor(), space, **settings).fit(X, y)
    ours = hone.RandomSearch(KNeighborsRegressor(), space, **settings).fit(X, y)
    assert_same_results(ours, theirs)


def _housing_classes(y: np.ndarray) -> np.ndarray:
    return (y > np.median(y)).astype(int)


def test_classifier_multimetric_matches_gridsearchcv(housing_slice):
    X, y = housing_slice
    labels = _housing_classes(y)
    scoring = ["accuracy", "f1", "roc_auc", "neg_log_loss"]
    grid = {"n_estimators": [5, 15], "max_depth": [3, None]}
    settings = dict(cv=4, scoring=scoring, refit="roc_auc", return_train_score=True)
    theirs = GridSearchCV(RandomForestClassifier(random_state=0), grid, **settings).fit(X, labels)
    ours = hone.GridSearch(RandomForestClassifier(random_state=0), grid, n_jobs=2, **settings).fit(X, labels)
    assert_same_results(ours, theirs)
    assert ours.best_score_ == pytest.approx(theirs.best_score_, rel=1e-12)
    np.testing.assert_allclose(ours.predict_proba(X[:20]), theirs.predict_proba(X[:20]))
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)


def test_classifier_default_scoring_pipeline_matches(housing_slice):
    X, y = housing_slice
    labels = _housing_classes(y)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    grid = {"logisticregression__C": [0.01, 0.1, 1.0, 10.0]}
    theirs = GridSearchCV(model, grid, cv=3).fit(X, labels)
    ours = hone.GridSearch(model, grid, cv=3).fit(X, labels)
    assert_same_results(ours, theirs)


def test_failing_fits_score_error_score_like_sklearn(housing_slice):
    X, y = housing_slice
    # min_samples_split=1 is refused at fit time: both must record error_score, not crash.
    grid = {"min_samples_split": [2, 1], "n_estimators": [3]}
    with pytest.warns(Warning):
        theirs = GridSearchCV(RandomForestRegressor(random_state=1), grid, cv=3).fit(X, y)
    with pytest.warns(Warning, match="fits failed"):
        ours = hone.GridSearch(RandomForestRegressor(random_state=1), grid, cv=3).fit(X, y)
    assert np.isnan(ours.cv_results_["mean_test_score"][1])
    assert_same_results(ours, theirs)
