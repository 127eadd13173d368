"""The seed's model for the serving benchmarks: the book's preparation + a 30-tree forest, fitted on the
housing training set (max_features 8, random_state 42). Imported by `serve.py` and `treewalk.py`."""

from __future__ import annotations

import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.pipeline import Pipeline

from hone.data import (
    build_preparation,
    housing_prepare_spec,
    housing_split_spec,
    load_housing,
    split_train_test,
)

TARGET = "median_house_value"


def housing_train() -> pd.DataFrame:
    """The housing training set (from HONE_DATA_DIR, the user cache or the download)."""
    return split_train_test(load_housing(), housing_split_spec()).train


def seed_model(train: pd.DataFrame) -> tuple[Pipeline, pd.DataFrame]:
    """The fitted seed pipeline and the training features it was fitted on."""
    X = train.drop(columns=TARGET)
    forest = RandomForestRegressor(n_estimators=30, max_features=8, random_state=42)
    pipeline = Pipeline(
        [("prepare", build_preparation(housing_prepare_spec(), train, TARGET)), ("model", forest)]
    )
    return pipeline.fit(X, train[TARGET]), X
