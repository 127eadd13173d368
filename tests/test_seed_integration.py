"""The seed's grid on the full housing training set, through the project file, against plain sklearn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.model_selection import GridSearchCV

from hone.config.load import load_config
from hone.store.db import Store, sqlite_url
from hone.tune.project import tune

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "housing" / "hone.yaml"


@pytest.mark.slow
def test_seed_grid_on_the_full_training_set_matches_sklearn(tmp_path: Path, housing_prepared):
    config = load_config(EXAMPLE)
    config.models = [m for m in config.models if m.name == "forest_grid"]
    store = Store(sqlite_url(tmp_path / "hone.db"))
    outcome = tune(config, store=store)
    search = outcome.models[0].search

    X, y, names = housing_prepared
    assert outcome.feature_names == names
    assert (outcome.n_train, outcome.n_test) == (16512, 4128)
    theirs = GridSearchCV(
        RandomForestRegressor(random_state=42),
        config.models[0].grid,
        cv=5,
        scoring="neg_mean_squared_error",
        return_train_score=True,
        n_jobs=-1,
    ).fit(X, y)
    assert search.cv_results_["params"] == theirs.cv_results_["params"]
    for key in [k for k in theirs.cv_results_ if k.startswith(("split", "mean_t", "std_t", "rank"))]:
        np.testing.assert_allclose(search.cv_results_[key], theirs.cv_results_[key], rtol=1e-9, err_msg=key)
    assert search.best_params_ == {"max_features": 8, "n_estimators": 30} == theirs.best_params_
    assert [h.param for h in search.edges_] == ["max_features", "n_estimators"]
