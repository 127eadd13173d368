"""Pipeline candidates differing only in their last step share the fitted preparation, exactly."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.parity import assert_same_results
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, KFold, ParameterGrid
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler, TargetEncoder

import hone
from hone.data import PrepareSpec, build_preparation
from hone.search.families import forest
from hone.search.families.pipeline import SharedPreparation, same_matrix
from hone.search.plan import PLANNER, configure, plan

# A sharing family that falls back to independent fits would pass on scores alone: make it fail here.
pytestmark = pytest.mark.filterwarnings("error::hone.search.plan.SharingFallbackWarning")


TARGET = "median_house_value"


@pytest.fixture(scope="module")
def raw(housing_split):
    frame = housing_split.train.iloc[:1500]
    return frame, frame.drop(columns=TARGET), frame[TARGET]


def pipeline(frame, model) -> Pipeline:
    preparation = build_preparation(PrepareSpec(categorical=["ocean_proximity"]), frame, TARGET)
    return Pipeline([("prepare", preparation), ("model", model)])


def groups_of(estimator, grid) -> list[tuple[str, int]]:
    groups = plan(configure(estimator, list(ParameterGrid(grid))))
    return sorted((group.family, len(group.members)) for group in groups)


def test_forest_last_step_shares_preparation_and_trees(raw, monkeypatch):
    frame, X, y = raw
    model = pipeline(frame, RandomForestRegressor(random_state=42))
    grid = {"model__n_estimators": [3, 10, 20], "model__max_features": [2, 4]}
    assert groups_of(model, grid) == [("pipeline", 6)]
    finals = [m.steps[-1][1] for m in configure(model, list(ParameterGrid(grid)))]
    assert sorted((g.family, len(g.members)) for g in plan(finals)) == [("forest", 3), ("forest", 3)]

    forest_groups = []
    original = forest.ForestPrefix.run

    def counting(self, members, data, context, planner):
        forest_groups.append(len(members))
        assert isinstance(data.X_train, np.ndarray)  # the prepared matrix, not the raw frame
        return original(self, members, data, context, planner)

    monkeypatch.setattr(forest.ForestPrefix, "run", counting)
    settings = dict(cv=3, scoring="neg_mean_squared_error", return_train_score=True)
    theirs = GridSearchCV(model, grid, **settings).fit(X, y)
    ours = hone.GridSearch(model, grid, **settings).fit(X, y)
    assert_same_results(ours, theirs)
    assert forest_groups == [3] * 6  # two forest groups on each of 3 folds: nested sharing happened
    np.testing.assert_allclose(ours.predict(X[:20]), theirs.predict(X[:20]), rtol=1e-12)

    unshared = hone.GridSearch(model, grid, share=False, **settings).fit(X, y)
    for key in [k for k in theirs.cv_results_ if k.startswith(("split", "mean_t"))]:
        np.testing.assert_array_equal(ours.cv_results_[key], unshared.cv_results_[key], err_msg=key)


def test_grid_over_an_earlier_step_forms_one_group_per_preparation(raw):
    frame, X, y = raw
    model = pipeline(frame, Ridge())
    grid = {"prepare__num__impute__strategy": ["median", "mean"], "model__alpha": [0.1, 10.0, 300.0]}
    assert groups_of(model, grid) == [("pipeline", 3), ("pipeline", 3)]
    settings = dict(cv=4, scoring=["neg_mean_absolute_error", "r2"], refit="r2", return_train_score=True)
    theirs = GridSearchCV(model, grid, **settings).fit(X, y)
    ours = hone.GridSearch(model, grid, **settings).fit(X, y)
    assert_same_results(ours, theirs)


def test_replacing_the_last_step(raw):
    frame, X, y = raw
    model = pipeline(frame, Ridge())
    grid = [
        {"model": [Ridge(), KNeighborsRegressor()]},
        {"model": [KNeighborsRegressor()], "model__n_neighbors": [3, 12]},
    ]
    assert sorted((g.family, len(g.members)) for g in plan(configure(model, list(ParameterGrid(grid))))) == [
        ("pipeline", 4)
    ]
    theirs = GridSearchCV(model, grid, cv=3).fit(X, y)  # default scoring: the Pipeline's score (R²)
    ours = hone.GridSearch(model, grid, cv=3).fit(X, y)
    assert_same_results(ours, theirs)


def test_custom_scorer_sees_a_real_fitted_pipeline(raw):
    frame, X, y = raw
    seen = []

    def scorer(estimator, X_, y_):
        seen.append(type(estimator))
        return -float(np.mean(np.abs(estimator.predict(X_) - y_)))

    model = pipeline(frame, Ridge())
    grid = {"model__alpha": [0.1, 100.0]}
    theirs = GridSearchCV(model, grid, cv=3, scoring=scorer, return_train_score=True).fit(X, y)
    seen.clear()
    ours = hone.GridSearch(model, grid, cv=3, scoring=scorer, return_train_score=True).fit(X, y)
    assert_same_results(ours, theirs)
    assert set(seen) == {Pipeline}


def test_fit_transform_differing_from_transform_keeps_train_scores_exact(raw):
    # TargetEncoder cross-fits in fit_transform: the last step is fitted on other numbers than
    # the train rows are scored with; the train scores must still be sklearn's.
    _, X, y = raw
    encode = ColumnTransformer(
        [
            (
                "te",
                TargetEncoder(target_type="continuous", cv=KFold(3, shuffle=True, random_state=0)),
                ["ocean_proximity"],
            ),
            ("num", StandardScaler(), ["median_income", "housing_median_age"]),
        ]
    )
    model = Pipeline([("encode", encode), ("model", Ridge())])
    grid = {"model__alpha": [0.1, 1000.0]}
    assert groups_of(model, grid) == [("pipeline", 2)]
    prepared = clone(encode)
    assert not same_matrix(prepared.fit_transform(X, y), prepared.transform(X))  # the path under test
    settings = dict(cv=3, scoring="neg_mean_squared_error", return_train_score=True)
    theirs = GridSearchCV(model, grid, **settings).fit(X, y)
    ours = hone.GridSearch(model, grid, **settings).fit(X, y)
    assert_same_results(ours, theirs)


def test_classifier_pipeline_with_probability_scorers(raw):
    frame, X, y = raw
    labels = (y > y.median()).astype(int)
    model = pipeline(frame, LogisticRegression(max_iter=300))
    grid = {"model__C": [0.01, 1.0]}
    settings = dict(cv=3, scoring=["roc_auc", "neg_log_loss", "accuracy"], refit="roc_auc")
    theirs = GridSearchCV(model, grid, **settings).fit(X, labels)
    ours = hone.GridSearch(model, grid, **settings).fit(X, labels)
    assert_same_results(ours, theirs)


def test_unshareable_pipelines_have_no_key(raw, tmp_path):
    frame, _, _ = raw
    family = SharedPreparation()
    assert family.key(pipeline(frame, Ridge())) is not None
    assert family.key(Ridge()) is None
    assert family.key(Pipeline([("model", Ridge())])) is None
    assert family.key(Pipeline([("scale", "passthrough"), ("model", Ridge())])) is None
    assert (
        family.key(Pipeline([("scale", StandardScaler()), ("model", Ridge())], memory=str(tmp_path))) is None
    )
    a = Pipeline([("scale", StandardScaler()), ("model", Ridge(alpha=1))])
    b = Pipeline([("scale", StandardScaler()), ("model", Ridge(alpha=5))])
    c = Pipeline([("scale", StandardScaler(with_mean=False)), ("model", Ridge(alpha=1))])
    assert family.key(a) == family.key(b) != family.key(c)
    forest_pipeline = Pipeline([("scale", StandardScaler()), ("model", RandomForestRegressor(7))])
    assert family.units(forest_pipeline, PLANNER) == 7
