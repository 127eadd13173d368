"""Searches persisted to a real SQLite file and a real PostgreSQL database: resumed without refitting,
guarded against mix-ups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
import sqlalchemy as sa
from sklearn.ensemble import RandomForestRegressor
from sklearn.neighbors import KNeighborsRegressor

import hone
from hone.errors import SearchError, StoreError
from hone.search.trials import stored_study

GRID = {"n_neighbors": [1, 3, 5, 9], "weights": ["uniform", "distance"]}


def test_every_fit_is_a_stored_trial_and_a_rerun_reuses_them(store_url, housing_slice):
    X, y = housing_slice
    db = store_url
    first = hone.GridSearch(KNeighborsRegressor(), GRID, cv=3, store=db, study="knn").fit(X, y)
    assert (first.n_fits_computed_, first.n_fits_reused_) == (24, 0)

    study = optuna.load_study(study_name="knn", storage=db)
    trials = study.get_trials()
    assert len(trials) == 8
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert {t.params["n_neighbors"] for t in trials} == {1, 3, 5, 9}
    by_candidate = {t.user_attrs["hone.candidate"]: t for t in trials}
    np.testing.assert_allclose(
        [by_candidate[i].value for i in range(8)], first.cv_results_["mean_test_score"], rtol=1e-12
    )

    second = hone.GridSearch(KNeighborsRegressor(), GRID, cv=3, store=db, study="knn").fit(X, y)
    assert (second.n_fits_computed_, second.n_fits_reused_) == (0, 24)
    for key in first.cv_results_:
        if key.startswith(("split", "mean_test", "rank", "mean_fit_time")):
            np.testing.assert_array_equal(second.cv_results_[key], first.cv_results_[key], err_msg=key)


def test_partial_study_resumes_only_missing_fits(store_url, housing_slice):
    X, y = housing_slice
    db = store_url
    small = {"n_neighbors": [1, 3], "weights": ["uniform", "distance"]}
    full = hone.GridSearch(KNeighborsRegressor(), small, cv=3).fit(X, y)
    search = hone.GridSearch(KNeighborsRegressor(), small, cv=3, store=db, study="s")
    search.fit(X, y)
    # Forget two folds of one candidate, as if the run had been killed while they were in flight.
    storage = optuna.storages.RDBStorage(db)
    engine = sa.create_engine(db)
    with engine.begin() as connection:
        removed = connection.execute(
            sa.text(
                "DELETE FROM trial_user_attributes WHERE key IN ('fold.1', 'fold.2') AND trial_id = "
                "(SELECT MIN(trial_id) FROM trials)"
            )
        ).rowcount
        connection.execute(
            sa.text("UPDATE trials SET state='RUNNING' WHERE trial_id = (SELECT MIN(trial_id) FROM trials)")
        )
    engine.dispose()
    assert removed == 2
    resumed = hone.GridSearch(KNeighborsRegressor(), small, cv=3, store=db, study="s").fit(X, y)
    assert (resumed.n_fits_computed_, resumed.n_fits_reused_) == (2, 10)
    np.testing.assert_allclose(
        resumed.cv_results_["mean_test_score"], full.cv_results_["mean_test_score"], rtol=1e-12
    )
    _, attrs, folds = stored_study(storage, "s")
    storage.engine.dispose()
    assert len(folds) == 12 and attrs["n_splits"] == 3


def test_study_name_reused_for_another_search_is_refused(store_url, housing_slice):
    X, y = housing_slice
    db = store_url
    hone.GridSearch(KNeighborsRegressor(), GRID, cv=3, store=db, study="mine").fit(X, y)
    with pytest.raises(StoreError, match="different search"):
        hone.GridSearch(KNeighborsRegressor(), GRID, cv=3, store=db, study="mine").fit(X[:600], y[:600])


def test_bad_input_is_refused_before_the_store_is_touched(store_url, housing_slice):
    X, y = housing_slice
    db = store_url
    with pytest.raises(SearchError, match="folds"):
        hone.GridSearch(KNeighborsRegressor(), GRID, cv=50, store=db).fit(X[:10], y[:10])
    with pytest.raises(SearchError, match="param_grid"):
        hone.GridSearch(KNeighborsRegressor(), {"n_neighbors": []}, store=db).fit(X, y)
    with pytest.raises(SearchError, match="refit must name"):
        hone.GridSearch(KNeighborsRegressor(), GRID, scoring=["r2", "neg_mean_absolute_error"], store=db).fit(
            X, y
        )
    with pytest.raises(SearchError, match="unknown scoring"):
        hone.GridSearch(KNeighborsRegressor(), GRID, scoring="rmse", store=db).fit(X, y)
    assert _untouched(db)


def _untouched(url: str) -> bool:
    """No SQLite file, or a PostgreSQL database without tables."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return not Path(parsed.database).exists()
    engine = sa.create_engine(url)
    try:
        return sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_refit_false_keeps_best_params_but_no_estimator(housing_slice):
    X, y = housing_slice
    search = hone.GridSearch(
        RandomForestRegressor(random_state=0), {"n_estimators": [2, 4]}, cv=3, refit=False
    )
    search.fit(X, y)
    assert search.best_params_ in search.cv_results_["params"]
    assert not hasattr(search, "best_estimator_")
    with pytest.raises(AttributeError):
        search.predict(X)
