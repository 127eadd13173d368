"""TPESearch: reproducible proposals, resumable from the store (even after kill -9), honest pruning."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from rich.console import Console
from scipy.stats import loguniform, norm, randint, uniform
from sklearn.base import clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeRegressor

import hone
from hone.cli.render.search import seed_lines
from hone.errors import SearchError
from hone.search.summary import read_summary

RIDGE = {"alpha": loguniform(1e-3, 1e6), "fit_intercept": [True, False]}


@pytest.fixture(scope="module")
def small(housing_prepared) -> tuple[np.ndarray, np.ndarray]:
    X, y, _ = housing_prepared
    return X[:300], y[:300]


def ridge_search(**settings) -> hone.TPESearch:
    defaults = dict(n_trials=16, n_startup_trials=4, cv=5, scoring="r2", random_state=0, n_jobs=1)
    return hone.TPESearch(Ridge(), RIDGE, **(defaults | settings))


def stored_folds(db: Path) -> dict[tuple[int, str], dict]:
    """Fold records straight from the SQLite file: (trial, key) -> record."""
    if not db.exists():
        return {}
    with sqlite3.connect(db) as connection:
        try:
            rows = connection.execute(
                "SELECT trial_id, key, value_json FROM trial_user_attributes WHERE key LIKE 'fold.%'"
            ).fetchall()
        except sqlite3.OperationalError:  # Optuna's tables are not created yet
            return {}
    return {(trial, key): json.loads(value) for trial, key, value in rows}


def assert_cross_validate_scores(search, X, y, n_splits: int) -> None:
    """Every fold a candidate ran scores what scikit-learn's cross_validate gives on the same fold."""
    results = search.cv_results_
    for index, params in enumerate(results["params"]):
        model = clone(search.estimator).set_params(**params)
        theirs = cross_validate(model, X, y, cv=KFold(n_splits), scoring=search.scoring)["test_score"]
        ours = np.array([results[f"split{f}_test_score"][index] for f in range(n_splits)])
        ran = ~np.isnan(ours)
        assert ran.all() or results["pruned"][index], f"candidate {index} lacks folds but is not pruned"
        np.testing.assert_allclose(ours[ran], theirs[ran], rtol=1e-9, atol=0, err_msg=str(params))


def test_same_random_state_same_candidates_and_a_batch_per_core(small):
    X, y = small
    first = ridge_search(n_jobs=2, n_trials=10).fit(X, y)
    again = ridge_search(n_jobs=2, n_trials=10).fit(X, y)
    other = ridge_search(n_jobs=2, n_trials=10, random_state=1).fit(X, y)
    assert first.cv_results_["params"] == again.cv_results_["params"]
    assert first.cv_results_["params"] != other.cv_results_["params"]
    alphas = [p["alpha"] for p in first.cv_results_["params"]]
    assert len(set(alphas)) == len(alphas), "a batch asked at once proposed the same point twice"
    assert all(1e-3 <= a <= 1e6 for a in alphas)
    key = "split0_test_score"
    np.testing.assert_array_equal(first.cv_results_[key], again.cv_results_[key])


def test_scores_equal_cross_validate_and_pruned_candidates_never_win(small, tmp_path):
    X, y = small
    db = tmp_path / "store.db"
    search = ridge_search(n_trials=20, store=db, study="ridge").fit(X, y)
    results = search.cv_results_
    pruned = results["pruned"]
    assert pruned.any(), "this space has hopeless alphas: some candidate should be pruned"
    assert search.n_pruned_ == int(pruned.sum())
    assert not pruned[: search.n_startup_trials].any()
    assert not pruned[search.best_index_]
    ranks = results["rank_test_score"]
    assert ranks[pruned].min() > ranks[~pruned].max()
    assert np.isnan(results["mean_test_score"][pruned]).all()
    first = 3  # prune_after's default with 5 folds: half of them, rounded up
    for fold in range(5):
        ran = np.isfinite(results[f"split{fold}_test_score"][pruned])
        assert ran.all() if fold < first else not ran.any(), fold
    assert search.n_fits_computed_ == 5 * (~pruned).sum() + first * pruned.sum()
    assert_cross_validate_scores(search, X, y, 5)

    # The rule, recomputed from what was known when each candidate had run its first folds (n_jobs=1:
    # one candidate per batch, so that is every candidate before it, and its own first folds).
    means = results["mean_test_score"]
    for index in range(search.n_startup_trials, len(means)):
        best = np.nanmax(means[:index])
        record = np.nanmax([results[f"split{f}_test_score"][: index + 1] for f in range(5)])
        ran = sum(results[f"split{f}_test_score"][index] for f in range(first))
        bound = (ran + (5 - first) * record) / 5
        assert pruned[index] == (not bound > best), index

    study = optuna.load_study(study_name="ridge", storage=f"sqlite:///{db}")
    states = {t.user_attrs["hone.candidate"]: t.state for t in study.trials}
    state = optuna.trial.TrialState
    assert {i for i, s in states.items() if s == state.PRUNED} == set(np.flatnonzero(pruned))
    assert {i for i, s in states.items() if s == state.COMPLETE} == set(np.flatnonzero(~pruned))

    # Read back from the store (`hone results`): the same pruned candidates, the same best.
    summary = read_summary(optuna.storages.RDBStorage(f"sqlite:///{db}"), "ridge")
    np.testing.assert_array_equal(summary.cv_results["pruned"], pruned)
    assert (summary.n_pruned, summary.best_index) == (search.n_pruned_, search.best_index_)
    console = Console(record=True, width=200)
    seed_lines(console, summary)
    printed = console.export_text()
    assert f"{len(pruned)} candidates × 5 folds, {search.n_pruned_} pruned after their first folds" in printed
    assert printed.count("\npruned {") == search.n_pruned_


def test_without_pruning_every_candidate_runs_every_fold(small):
    X, y = small
    search = ridge_search(prune=False, n_trials=10).fit(X, y)
    assert search.n_pruned_ == 0 and not search.cv_results_["pruned"].any()
    assert search.n_fits_computed_ == 50
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_rerun_with_a_store_refits_nothing_and_more_trials_continue(small, tmp_path):
    X, y = small
    db = tmp_path / "store.db"
    first = ridge_search(store=db, study="s").fit(X, y)
    assert first.n_fits_computed_ > 0 and first.n_fits_reused_ == 0
    second = ridge_search(store=db, study="s").fit(X, y)
    assert (second.n_fits_computed_, second.n_fits_reused_) == (0, first.n_fits_computed_)
    assert second.cv_results_["params"] == first.cv_results_["params"]
    np.testing.assert_array_equal(second.cv_results_["pruned"], first.cv_results_["pruned"])
    for key in [k for k in first.cv_results_ if k.startswith(("split", "mean_test", "rank"))]:
        np.testing.assert_array_equal(second.cv_results_[key], first.cv_results_[key], err_msg=key)
    assert second.best_params_ == first.best_params_

    longer = ridge_search(store=db, study="s", n_trials=20).fit(X, y)
    assert longer.cv_results_["params"][:16] == first.cv_results_["params"]
    assert longer.n_fits_reused_ == first.n_fits_computed_
    assert longer.n_fits_computed_ > 0


def test_a_repeated_proposal_is_told_the_earlier_result_not_fitted_again(small):
    X, y = small
    alphas = [0.01, 1.0, 100.0]
    search = hone.TPESearch(
        Ridge(), {"alpha": alphas}, n_trials=10, n_startup_trials=2, cv=3, scoring="r2", random_state=0
    ).fit(X, y)
    tried = [p["alpha"] for p in search.cv_results_["params"]]
    assert sorted(tried) == alphas, "ten proposals over three values: each value once"
    assert search.n_fits_computed_ == 3 * 3 - 1 * search.n_pruned_
    assert_cross_validate_scores(search, X, y, 3)


def test_a_failed_first_fold_is_pruned_and_the_sampler_moves_on(small):
    X, y = small
    # Ridge's lbfgs solver refuses positive=False: every fit with it fails and scores NaN.
    space = {"solver": ["auto", "lbfgs"], "alpha": loguniform(1e-2, 1e2)}
    search = hone.TPESearch(Ridge(), space, n_trials=12, n_startup_trials=4, cv=3, random_state=0)
    with pytest.warns(FitFailedWarning):
        search.fit(X, y)
    results = search.cv_results_
    failed = np.array([p["solver"] == "lbfgs" for p in results["params"]])
    assert failed[4:].any(), "the space should propose lbfgs after the start-up"
    late = np.arange(len(failed)) >= 4
    assert results["pruned"][failed & late].all() and not results["pruned"][~late].any()
    assert np.isnan(results["split0_test_score"][failed]).all()
    assert results["params"][search.best_index_]["solver"] == "auto"


def test_timeout_stops_before_the_next_batch_but_the_first_one_runs(small):
    X, y = small
    search = ridge_search(n_jobs=1, timeout=1e-9).fit(X, y)
    assert len(search.cv_results_["params"]) == 1 and search.best_index_ == 0


def test_conditional_space_picks_a_sub_space_then_its_params(small):
    X, y = small
    pipeline = Pipeline([("model", Ridge())])
    space = [
        {"model": [Ridge()], "model__alpha": loguniform(1e-2, 1e2)},
        {"model": [DecisionTreeRegressor(random_state=0)], "model__max_depth": randint(1, 8)},
    ]
    search = hone.TPESearch(
        pipeline, space, n_trials=14, n_startup_trials=4, cv=4, scoring="r2", random_state=0
    ).fit(X, y)
    kinds = set()
    for params in search.cv_results_["params"]:
        kind = type(params["model"]).__name__
        kinds.add(kind)
        expected = {"model", "model__alpha"} if kind == "Ridge" else {"model", "model__max_depth"}
        assert set(params) == expected
    assert kinds == {"Ridge", "DecisionTreeRegressor"}
    assert_cross_validate_scores(search, X, y, 4)


def test_optuna_and_scipy_distributions_are_sampled_in_their_bounds(small):
    X, y = small
    space = {
        "alpha": optuna.distributions.FloatDistribution(0.5, 2.0),
        "max_iter": randint(100, 103),
        "tol": uniform(1e-4, 1e-3),
        "solver": optuna.distributions.CategoricalDistribution(["auto", "svd"]),
    }
    search = hone.TPESearch(Ridge(), space, n_trials=6, n_startup_trials=2, cv=3, random_state=0).fit(X, y)
    for params in search.cv_results_["params"]:
        assert 0.5 <= params["alpha"] <= 2.0
        assert params["max_iter"] in (100, 101, 102) and isinstance(params["max_iter"], int)
        assert 1e-4 <= params["tol"] <= 1.1e-3
        assert params["solver"] in ("auto", "svd")


@pytest.mark.parametrize(
    ("space", "settings", "message"),
    [
        ({"alpha": norm(0, 1)}, {}, r"param_distributions\['alpha'\]: TPE cannot sample scipy.stats norm"),
        ({"alpha": []}, {}, "empty"),
        ({"alpha": 3.0}, {}, "not something TPE can sample"),
        ({}, {}, "non-empty dict"),
        ([{"alpha": [1.0]}, {}], {}, r"param_distributions\[1\] must be a non-empty dict"),
        (RIDGE, {"n_trials": 0}, "n_trials must be a positive integer"),
        (RIDGE, {"timeout": -1}, "timeout must be a positive number"),
        (RIDGE, {"prune_after": 5}, "prune_after=5 leaves no fold to skip"),
        (RIDGE, {"prune_after": 0}, "prune_after must be a positive integer"),
    ],
)
def test_bad_input_is_refused_before_the_store_is_touched(small, tmp_path, space, settings, message):
    X, y = small
    db = tmp_path / "store.db"
    with pytest.raises(SearchError, match=message):
        hone.TPESearch(Ridge(), space, cv=5, store=db, **settings).fit(X, y)
    assert not db.exists()


KILLED_RUN = """
import sys
import numpy as np
from scipy.stats import randint
from sklearn.ensemble import RandomForestRegressor
from sklearn.exceptions import FitFailedWarning
import hone

X, y = np.load(sys.argv[1]), np.load(sys.argv[2])
space = {"n_estimators": randint(40, 160), "max_features": randint(1, 8)}
hone.TPESearch(
    RandomForestRegressor(random_state=0), space, n_trials=12, n_startup_trials=4, cv=3,
    scoring="neg_mean_squared_error", random_state=7, store=sys.argv[3], study="forest",
).fit(X, y)
"""


def killed_run_search(db: Path | None) -> hone.TPESearch:
    space = {"n_estimators": randint(40, 160), "max_features": randint(1, 8)}
    return hone.TPESearch(
        RandomForestRegressor(random_state=0),
        space,
        n_trials=12,
        n_startup_trials=4,
        cv=3,
        scoring="neg_mean_squared_error",
        random_state=7,
        store=db,
        study="forest",
    )


def test_kill_9_mid_run_then_resume_refits_no_finished_fold(small, tmp_path):
    X, y = small
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    db = tmp_path / "store.db"
    env = os.environ | {"PYTHONPATH": str(Path(hone.__file__).resolve().parents[1])}
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(tmp_path / "X.npy"), str(tmp_path / "y.npy"), str(db)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while len(stored_folds(db)) < 8 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = stored_folds(db)

    clean = killed_run_search(None).fit(X, y)
    total = clean.n_fits_computed_
    assert 8 <= len(before) < total, "the kill should land mid-search"

    resumed = killed_run_search(db).fit(X, y)
    assert resumed.n_fits_reused_ == len(before)
    assert resumed.n_fits_computed_ == total - len(before)
    after = stored_folds(db)
    assert len(after) == total
    for key, record in before.items():
        assert after[key] == record, "a fold finished before the kill was recomputed"
    assert resumed.cv_results_["params"] == clean.cv_results_["params"]
    np.testing.assert_array_equal(resumed.cv_results_["pruned"], clean.cv_results_["pruned"])
    for fold in range(3):
        key = f"split{fold}_test_score"
        np.testing.assert_array_equal(resumed.cv_results_[key], clean.cv_results_[key], err_msg=key)
