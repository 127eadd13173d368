"""The planner on its own: which fits share work, and what happens when a shared path fails."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import ParameterGrid

from hone.search.families import forest
from hone.search.fitting import FoldContext, fold_data
from hone.search.plan import INDEPENDENT, configure, plan, run_group
from hone.search.scoring import resolve_scoring


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
