"""The planner on its own: which fits share work, and what happens when a shared path fails."""

from __future__ import annotations

import warnings

import numpy as np
import optuna
import pytest
from sklearn.base import clone
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.feature_selection import SelectFromModel
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, ParameterGrid
from sklearn.pipeline import make_pipeline

import hone
from hone.search.families import forest
from hone.search.fitting import FoldContext, fold_data
from hone.search.plan import INDEPENDENT, SharingFallbackWarning, configure, plan, run_group
from hone.search.scoring import resolve_scoring
from hone.search.trials import stored_study


def test_forests_differing_only_in_tree_count_form_one_group_and_the_rest_fit_alone():
    grid = {"n_estimators": [3, 10], "max_features": [2, 4]}
    forests = configure(RandomForestRegressor(random_state=0), list(ParameterGrid(grid)))
    groups = plan([*forests, Ridge()])
    assert sorted((g.family, len(g.members)) for g in groups) == [
        ("forest", 2),
        ("forest", 2),
        (INDEPENDENT.name, 1),
    ]
    unshared = plan(forests, share=False)
    assert {g.family for g in unshared} == {INDEPENDENT.name} and len(unshared) == 4


def test_indices_number_the_members_as_the_caller_numbers_candidates():
    forests = configure(RandomForestRegressor(random_state=0), [{"n_estimators": n} for n in (3, 5)])
    (group,) = plan(forests, indices=[7, 9])
    assert [index for index, _ in group.members] == [7, 9]


def test_a_shared_path_that_fails_falls_back_to_one_fit_per_member(monkeypatch):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)), rng.normal(size=60)
    forests = configure(RandomForestRegressor(random_state=0), [{"n_estimators": n} for n in (3, 5)])
    (group,) = plan(forests)
    scoring = resolve_scoring(forests[0], "neg_mean_squared_error", True)
    context = FoldContext(scoring.scorers, 0, False, np.nan, {})
    data = fold_data(X, y, np.arange(40), np.arange(40, 60))
    shared = run_group(group.family, group.members, data, context)

    def broken(self, members, data, context, planner):
        raise RuntimeError("shared path broken")

    monkeypatch.setattr(forest.ForestPrefix, "run", broken)
    alone = run_group(group.family, group.members, data, context)
    assert [r.candidate for r in alone] == [r.candidate for r in shared]
    for ours, theirs in zip(alone, shared, strict=True):
        assert ours.test_scores == theirs.test_scores


def test_a_family_that_falls_back_in_a_search_warns_once_and_is_counted(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)), rng.normal(size=60)
    grid = {"n_estimators": [3, 5], "max_features": [2, 4]}

    def broken(self, members, data, context, planner):
        raise RuntimeError("shared path broken")

    monkeypatch.setattr(forest.ForestPrefix, "run", broken)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    search = hone.GridSearch(RandomForestRegressor(random_state=0), grid, cv=3, store=db, study="s")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        search.fit(X, y)
    fallbacks = [w for w in caught if issubclass(w.category, SharingFallbackWarning)]
    assert len(fallbacks) == 1  # once per search, though 2 groups x 3 folds fell back
    assert "forest: RuntimeError: shared path broken" in str(fallbacks[0].message)
    assert search.n_fallbacks_ == 6
    _, attrs, _ = stored_study(optuna.storages.RDBStorage(db), "s")
    assert attrs["fallbacks"] == {"count": 6, "first": "forest: RuntimeError: shared path broken"}
    theirs = GridSearchCV(RandomForestRegressor(random_state=0), grid, cv=3).fit(X, y)
    np.testing.assert_array_equal(
        search.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"]
    )


def test_a_search_that_shares_without_trouble_counts_no_fallback():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)), rng.normal(size=60)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SharingFallbackWarning)
        search = hone.GridSearch(RandomForestRegressor(random_state=0), {"n_estimators": [3, 5]}, cv=3)
        assert search.fit(X, y).n_fallbacks_ == 0


def test_a_scorer_that_raises_warns_as_scikit_learn_does():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)), rng.normal(size=60)

    def broken(estimator, X, y):  # noqa: N803 - scikit-learn's naming
        raise ValueError("scorer broken")

    with pytest.warns(UserWarning, match="Scoring failed") as ours:
        result = hone.GridSearch(Ridge(), {"alpha": [1.0]}, cv=2, scoring=broken).fit(X, y)
    with pytest.warns(UserWarning, match="Scoring failed") as theirs:
        GridSearchCV(Ridge(), {"alpha": [1.0]}, cv=2, scoring=broken).fit(X, y)
    assert np.isnan(result.cv_results_["mean_test_score"][0])
    first = lambda record: next(str(w.message) for w in record if "Scoring failed" in str(w.message))  # noqa: E731
    assert first(ours).split("Details")[0] == first(theirs).split("Details")[0]
    assert "scorer broken" in first(ours)


@pytest.mark.parametrize(
    "model",
    [
        RandomForestRegressor(random_state=None),
        GradientBoostingRegressor(random_state=None),
        make_pipeline(SelectFromModel(RandomForestRegressor(n_estimators=3)), Ridge()),
    ],
    ids=["forest", "boosting", "pipeline-step"],
)
def test_without_a_fixed_seed_every_candidate_fits_on_its_own(model):
    # scikit-learn draws afresh for each candidate: sharing one draw would make candidates nested.
    grid = (
        [{"n_estimators": n} for n in (3, 5)]
        if not hasattr(model, "steps")
        else [{"ridge__alpha": a} for a in (0.1, 1.0)]
    )
    groups = plan(configure(model, grid))
    assert [g.family for g in groups] == [INDEPENDENT.name, INDEPENDENT.name]
    seeded = clone(model).set_params(
        **(
            {"random_state": 0}
            if not hasattr(model, "steps")
            else {"selectfrommodel__estimator__random_state": 0}
        )
    )
    assert len(plan(configure(seeded, grid))) == 1
