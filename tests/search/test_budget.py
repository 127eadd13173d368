"""The best model within a time budget: built-in spaces, the proposer, the stop, resuming, selection."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hone.config.load import load_config
from hone.errors import ConfigError
from hone.search.budget import honest_scores
from hone.search.builtin_spaces import SMALL_DATA, DataShape, default_shortlist, space_for
from hone.search.proposer import LocalSearch
from hone.search.trials import stored_study
from hone.store.db import Store
from hone.tune import tune

PROJECT = """\
project: small
data: {{path: {data}, target: target}}
split: {{test_size: 0.2, seed: 0}}
prepare: {{categorical: [colour]}}
search: {{cv: 3, n_jobs: 1, random_state: 0{scoring}}}
store: {store}
"""


def _data(tmp_path: Path, task: str, n: int = 300) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(n, 4)), columns=["a", "b", "c", "d"])
    frame["colour"] = rng.choice(["red", "green", "blue"], size=n)
    signal_ = frame["a"] * 2 + frame["b"] ** 2 + (frame["colour"] == "red") + rng.normal(scale=0.3, size=n)
    frame["target"] = signal_ if task == "regression" else np.where(signal_ > signal_.median(), "yes", "no")
    path = tmp_path / f"{task}.csv"
    frame.to_csv(path, index=False)
    return path


def _project(tmp_path: Path, task: str, models: str = "", budget: str = "") -> Path:
    scoring = ", scoring: neg_mean_squared_error" if task == "regression" else ", scoring: accuracy"
    text = PROJECT.format(data=_data(tmp_path, task), store=tmp_path / "store.db", scoring=scoring)
    if budget:
        text = text.replace("random_state: 0", f"random_state: 0, budget: {budget}")
    path = tmp_path / "hone.yaml"
    path.write_text(text + models)
    return path


def test_the_budget_stops_the_run(tmp_path: Path) -> None:
    config = load_config(_project(tmp_path, "regression"))
    started = time.monotonic()
    outcome = tune(config, budget=4.0)
    elapsed = time.monotonic() - started
    assert elapsed < 4.0 + 6.0  # loading, the final replay and the refit: generous for a shared machine
    assert outcome.budget.total_seconds < 4.0 + 3.0
    chosen = next(m for m in outcome.models if m.name == outcome.budget.chosen)
    assert hasattr(chosen.search, "best_estimator_")


def test_a_larger_budget_continues_from_the_store(tmp_path: Path) -> None:
    config = load_config(_project(tmp_path, "regression"))
    first = tune(config, budget=3.0)
    store = Store(config.store_url)
    before = {m.name: stored_study(store.optuna, m.search.study_name_) for m in first.models}
    second = tune(config, budget=8.0)
    reused = sum(m.search.n_fits_reused_ for m in second.models)
    assert reused > 0
    grew = False
    for model in second.models:
        candidates, _, folds = stored_study(store.optuna, model.search.study_name_)
        keys = [repr(sorted(c.items())) for c in candidates]
        assert len(keys) == len(set(keys)), f"{model.name}: a candidate was proposed twice"
        if model.name not in before:
            continue
        old_candidates, _, old_folds = before[model.name]
        assert candidates[: len(old_candidates)] == old_candidates
        grew = grew or len(candidates) > len(old_candidates)
        for key, result in old_folds.items():  # every fit of the first run is kept, not redone
            assert folds[key].fit_time == result.fit_time
            assert folds[key].test_scores == result.test_scores
    assert grew


@pytest.mark.parametrize(
    ("task", "estimator"),
    [
        ("regression", "sklearn.ensemble.HistGradientBoostingRegressor"),
        ("classification", "lightgbm.LGBMClassifier"),
        ("classification", "sklearn.ensemble.RandomForestClassifier"),
    ],
)
def test_space_default_for_a_regressor_and_a_classifier(tmp_path: Path, task: str, estimator: str) -> None:
    models = _one_model(estimator)
    config = load_config(_project(tmp_path, task, models))
    outcome = tune(config, budget=6.0)
    (model,) = outcome.models
    assert model.name == "mine" and outcome.budget.chosen == "mine"
    search = model.search
    assert type(search.best_estimator_).__name__ == estimator.rsplit(".", 1)[-1]
    assert len(search.cv_results_["params"]) >= 1
    # trees see the category as one ordinal column, split on natively by the boosting models
    assert "colour" in outcome.feature_names and "red" not in outcome.feature_names


def test_the_default_shortlist_when_models_are_left_out(tmp_path: Path) -> None:
    config = load_config(_project(tmp_path, "regression"))
    assert config.models == []
    outcome = tune(config, budget=10.0)
    expected = [s.name for s in default_shortlist(DataShape("regression", outcome.n_train, 5))]
    tried = [m.name for m in outcome.models]  # in the shortlist's order, as far as the budget went
    assert len(tried) >= 2 and tried == expected[: len(tried)]
    assert {"knn", "svm", "ridge", "lightgbm"} <= set(expected)  # small data: k-NN and an SVM too
    large = [s.name for s in default_shortlist(DataShape("classification", SMALL_DATA * 10, 5))]
    assert "svm" not in large and "knn" not in large and "logistic" in large


def _one_model(estimator: str) -> str:
    return f"models:\n  - name: mine\n    estimator: {estimator}\n    space: default\n"


def test_space_default_needs_a_budget(tmp_path: Path) -> None:
    models = _one_model("sklearn.ensemble.RandomForestRegressor")
    config = load_config(_project(tmp_path, "regression", models))
    with pytest.raises(ConfigError, match="time budget"):
        tune(config)


def test_a_budget_refuses_models_without_a_builtin_space(tmp_path: Path) -> None:
    models = _one_model("sklearn.tree.DecisionTreeRegressor")
    config = load_config(_project(tmp_path, "regression", models, budget="5s"))
    with pytest.raises(ConfigError, match="no built-in space for DecisionTreeRegressor"):
        tune(config)


def test_cli_budget_bad_value_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = _project(tmp_path, "regression")
    env = os.environ | {"COLUMNS": "200"}
    run = subprocess.run(
        [sys.executable, "-m", "hone.cli", "tune", str(path), "--budget", "soon"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 2
    assert "--budget" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "store.db").exists()


def test_the_proposer_repeats_itself_given_the_same_scores() -> None:
    space = space_for("lightgbm.LGBMRegressor", DataShape("regression", 1000, 5))

    def proposals(seed: int) -> list[dict]:
        proposer, seen = LocalSearch(space, seed), []
        for step in range(8):
            batch = proposer.ask()
            seen += batch
            proposer.tell([float(-step - i) for i in range(len(batch))])
        return seen

    first = proposals(1)
    assert first == proposals(1)
    assert first[: len(space.starts)] == list(space.starts)  # the good starts come first, cheapest first
    assert first != proposals(2)
    keys = [repr(sorted(p.items())) for p in first]
    assert len(keys) == len(set(keys))


def test_selection_prefers_a_steady_candidate_over_one_lucky_fold() -> None:
    steady = [1.0, 1.0, 1.0, 1.0, 1.0]
    lucky = [0.0, 0.0, 0.0, 0.0, 6.0]  # higher mean (1.2), won on one fold
    scores = np.array([steady, lucky, [0.5] * 5])
    assert scores[1].mean() > scores[0].mean()
    honest = honest_scores(scores)
    assert int(np.nanargmax(honest)) == 0
    scores[2, 3] = np.nan  # a candidate missing a fold is never chosen
    assert np.isnan(honest_scores(scores)[2])


@pytest.mark.parametrize(
    ("task", "estimator"),
    [
        ("regression", "lightgbm.LGBMRegressor"),
        ("classification", "lightgbm.LGBMClassifier"),
        ("regression", "sklearn.ensemble.HistGradientBoostingRegressor"),
        ("classification", "sklearn.ensemble.HistGradientBoostingClassifier"),
        ("regression", "sklearn.ensemble.RandomForestRegressor"),
        ("classification", "sklearn.ensemble.ExtraTreesClassifier"),
        ("regression", "sklearn.linear_model.Ridge"),
        ("regression", "sklearn.linear_model.ElasticNet"),
        ("classification", "sklearn.linear_model.LogisticRegression"),
        ("regression", "sklearn.neighbors.KNeighborsRegressor"),
        ("classification", "sklearn.neighbors.KNeighborsClassifier"),
        ("regression", "sklearn.svm.SVR"),
        ("classification", "sklearn.svm.SVC"),
    ],
)
def test_every_builtin_space_fits_from_its_starts_and_its_corners(task: str, estimator: str) -> None:
    from hone.tune.resolve import resolve_estimator

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    X[:, 3] = rng.integers(0, 3, size=120)  # an ordinal-encoded category
    y = X[:, 0] + rng.normal(scale=0.1, size=120)
    y = y if task == "regression" else (y > 0).astype(int)
    space = space_for(estimator, DataShape(task, 120, 4, (3,)))
    corners = [space.params([0.0] * len(space.dimensions)), space.params([1.0] * len(space.dimensions))]
    for start in space.starts:  # a start is a point of the space: the proposer can move from it
        again = space.params(space.point(start))
        assert all(
            again[k] == pytest.approx(v) if not isinstance(v, str) else again[k] == v
            for k, v in start.items()
        )
    for params in [*space.starts, *corners]:
        model = resolve_estimator(space.estimator, {**space.fixed, **params}, "test")
        assert np.isfinite(model.fit(X, y).predict(X)).all()


def test_a_model_whose_fits_all_fail_is_dropped_and_the_others_go_on(tmp_path: Path) -> None:
    models = (
        "models:\n"
        "  - {name: broken, estimator: sklearn.ensemble.ExtraTreesClassifier, space: default,\n"
        "     params: {criterion: no_such_criterion}}\n"
        "  - {name: forest, estimator: sklearn.ensemble.RandomForestClassifier, space: default}\n"
    )
    outcome = tune(load_config(_project(tmp_path, "classification", models)), budget=5.0)
    assert list(outcome.budget.dropped) == ["broken"] and "failed" in outcome.budget.dropped["broken"]
    assert outcome.budget.chosen == "forest" and [m.name for m in outcome.models] == ["forest"]


def test_a_budget_refuses_a_model_with_a_grid(tmp_path: Path) -> None:
    models = (
        "models:\n  - name: grid\n    estimator: sklearn.linear_model.Ridge\n    grid: {alpha: [0.1, 1.0]}\n"
    )
    config = load_config(_project(tmp_path, "regression", models))
    with pytest.raises(ConfigError, match="space: default"):
        tune(config, budget=5.0)
    assert not (tmp_path / "store.db").exists()  # refused before the store was touched


def test_a_model_without_any_finite_score_is_dropped(tmp_path: Path) -> None:
    models = (
        "models:\n"
        "  - {name: svm, estimator: sklearn.svm.SVC, space: default}\n"  # no predict_proba: NaN log loss
        "  - {name: logistic, estimator: sklearn.linear_model.LogisticRegression, space: default}\n"
    )
    path = _project(tmp_path, "classification", models)
    path.write_text(path.read_text().replace("scoring: accuracy", "scoring: neg_log_loss"))
    outcome = tune(load_config(path), budget=4.0)
    assert outcome.budget.dropped == {"svm": "no candidate got a finite score"}
    assert outcome.budget.chosen == "logistic"
