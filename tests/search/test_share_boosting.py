"""Boosting candidates differing only in their stage count share one fit, and still score as sklearn."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.parity import assert_same_results
from scipy.stats import randint
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, ShuffleSplit

import hone
from hone.search.families import boosting
from hone.search.families.boosting import BoostingStages
from hone.search.fitting import FoldContext, fit_and_score, fit_model, fold_data
from hone.search.plan import configure, plan, run_group
from hone.search.scoring import resolve_scoring

# A sharing family that falls back to independent fits would pass on scores alone: make it fail here.
pytestmark = pytest.mark.filterwarnings("error::hone.search.plan.SharingFallbackWarning")



def groups_of(estimator, grid) -> list[tuple[str, int]]:
    from sklearn.model_selection import ParameterGrid

    groups = plan(configure(estimator, list(ParameterGrid(grid))))
    return sorted((group.family, len(group.members)) for group in groups)


def test_regressor_stage_grid_matches_gridsearchcv(housing_slice):
    X, y = housing_slice
    model = GradientBoostingRegressor(subsample=0.8, random_state=0)
    grid = {"n_estimators": [5, 20, 40], "learning_rate": [0.1, 0.3]}
    assert groups_of(model, grid) == [("boosting", 3), ("boosting", 3)]
    settings = dict(cv=3, scoring="neg_mean_squared_error", return_train_score=True)
    theirs = GridSearchCV(model, grid, **settings).fit(X, y)
    ours = hone.GridSearch(model, grid, **settings).fit(X, y)
    assert_same_results(ours, theirs)
    unshared = hone.GridSearch(model, grid, share=False, **settings).fit(X, y)
    for key in [k for k in theirs.cv_results_ if k.startswith(("split", "mean_t"))]:
        np.testing.assert_array_equal(ours.cv_results_[key], unshared.cv_results_[key], err_msg=key)


def test_classifier_multimetric_matches_gridsearchcv(housing_slice):
    X, y = housing_slice
    labels = (y > np.median(y)).astype(int)
    model = GradientBoostingClassifier(max_features=0.5, subsample=0.7, random_state=3)
    grid = {"n_estimators": [4, 12, 25], "max_depth": [2, 3]}
    assert groups_of(model, grid) == [("boosting", 3), ("boosting", 3)]
    settings = dict(
        cv=3, scoring=["accuracy", "roc_auc", "neg_log_loss"], refit="roc_auc", return_train_score=True
    )
    theirs = GridSearchCV(model, grid, **settings).fit(X, labels)
    ours = hone.GridSearch(model, grid, **settings).fit(X, labels)
    assert_same_results(ours, theirs)
    assert ours.best_score_ == pytest.approx(theirs.best_score_, rel=1e-12)


def test_multiclass_random_search_matches(housing_slice):
    X, y = housing_slice
    labels = np.digitize(y, np.quantile(y, [0.33, 0.66]))  # three classes: estimators_ has 3 columns
    model = GradientBoostingClassifier(max_depth=2, random_state=1)
    space = {"n_estimators": randint(2, 15), "learning_rate": [0.2]}
    settings = dict(n_iter=4, cv=2, random_state=0, scoring="neg_log_loss")
    theirs = RandomizedSearchCV(model, space, **settings).fit(X, labels)
    ours = hone.RandomSearch(model, space, **settings).fit(X, labels)
    assert len(set(theirs.cv_results_["param_n_estimators"])) > 1
    assert_same_results(ours, theirs)


def test_hist_gradient_boosting_shares_when_early_stopping_is_off(housing_slice):
    X, y = housing_slice
    model = HistGradientBoostingRegressor(max_features=0.5, random_state=0)
    grid = {"max_iter": [5, 15, 30], "early_stopping": [False, "auto"]}
    assert groups_of(model, grid) == [("boosting", 3), ("boosting", 3)]
    settings = dict(cv=3, scoring="neg_mean_squared_error", return_train_score=True)
    theirs = GridSearchCV(model, grid, **settings).fit(X, y)
    ours = hone.GridSearch(model, grid, **settings).fit(X, y)
    assert_same_results(ours, theirs)

    labels = (y > np.median(y)).astype(int)
    classifier = HistGradientBoostingClassifier(early_stopping=False, random_state=0)
    grid = {"max_iter": [3, 10]}
    theirs = GridSearchCV(classifier, grid, cv=2, scoring="roc_auc").fit(X, labels)
    ours = hone.GridSearch(classifier, grid, cv=2, scoring="roc_auc").fit(X, labels)
    assert_same_results(ours, theirs)


@pytest.mark.parametrize(
    "model",
    [
        GradientBoostingRegressor(n_iter_no_change=3),
        GradientBoostingRegressor(warm_start=True),
        GradientBoostingRegressor(random_state=np.random.RandomState(0)),
        HistGradientBoostingRegressor(early_stopping=True),
        HistGradientBoostingRegressor(random_state=np.random.RandomState(0)),
    ],
)
def test_stage_dependent_fits_are_not_shared(model):
    assert BoostingStages().key(model) is None
    assert groups_of(
        model, {"n_estimators" if "n_estimators" in model.get_params() else "max_iter": [3, 6]}
    ) == [
        ("independent", 1),
        ("independent", 1),
    ]


def test_early_stopping_gradient_boosting_still_matches(housing_slice):
    X, y = housing_slice
    model = GradientBoostingRegressor(n_iter_no_change=2, learning_rate=0.5, random_state=0)
    grid = {"n_estimators": [10, 200]}
    theirs = GridSearchCV(model, grid, cv=2).fit(X, y)
    ours = hone.GridSearch(model, grid, cv=2).fit(X, y)
    assert_same_results(ours, theirs)


@pytest.mark.parametrize("early_stopping, shared_fits", [("auto", 0), (False, 1)])
def test_auto_early_stopping_on_many_rows_fits_independently(monkeypatch, early_stopping, shared_fits):
    # Above 10,000 training rows early_stopping="auto" is on: the group falls back to independent fits.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(13_000, 3))
    y = X[:, 0] + 0.1 * rng.normal(size=len(X))
    model = HistGradientBoostingRegressor(early_stopping=early_stopping, max_depth=2, random_state=0)
    members = list(enumerate(configure(model, [{"max_iter": 3}, {"max_iter": 8}])))
    (group,) = plan([m for _, m in members])
    assert group.family == "boosting"
    train, test = next(ShuffleSplit(1, test_size=0.2, random_state=0).split(X))
    data = fold_data(X, y, train, test)
    context = FoldContext(resolve_scoring(model, None, True).scorers, 0, False, np.nan)
    calls = []
    monkeypatch.setattr(boosting, "fit_model", lambda *a: calls.append(1) or fit_model(*a))
    shared = run_group(group.family, group.members, data, context)
    assert len(calls) == shared_fits
    alone = [fit_and_score(m, data, context, candidate=i) for i, m in members]
    for ours, theirs in zip(sorted(shared, key=lambda r: r.candidate), alone, strict=True):
        assert ours.test_scores == theirs.test_scores
