"""Shared fixtures: the housing data comes from HONE_DATA_DIR (set by the Makefile and .ci/run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# Serving fixtures (a registry of real forests, live uvicorn servers) for the serve, CLI and launch tests.
pytest_plugins = ["helpers.serving"]

TARGET = "median_house_value"
DERIVED = {
    "rooms_per_hhold": "total_rooms / households",
    "pop_per_hhold": "population / households",
    "bedrooms_per_room": "total_bedrooms / total_rooms",
}


@pytest.fixture(scope="session")
def housing() -> pd.DataFrame:
    # Without HONE_DATA_DIR the loader tries its cache and the download, and says where to put the file.
    from hone.data import load_housing

    return load_housing()


@pytest.fixture(scope="session")
def housing_split(housing: pd.DataFrame):
    from hone.data import SplitSpec, split_train_test

    return split_train_test(
        housing,
        SplitSpec(test_size=0.2, stratify="median_income", bins=[0, 1.5, 3.0, 4.5, 6.0, np.inf], seed=42),
    )


@pytest.fixture(scope="session")
def housing_prepared(housing_split) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The whole training set prepared as the seed does (16 features)."""
    from hone.data import PrepareSpec, build_preparation

    train = housing_split.train
    features = train.drop(columns=TARGET)
    preparation = build_preparation(
        PrepareSpec(categorical=["ocean_proximity"], derived=DERIVED), train, TARGET
    )
    X = preparation.fit_transform(features)
    return X, train[TARGET].to_numpy(), list(preparation.get_feature_names_out())


@pytest.fixture(scope="session")
def housing_slice(housing_prepared) -> tuple[np.ndarray, np.ndarray]:
    """A small slice for unit tests: fast, still real data."""
    X, y, _ = housing_prepared
    return X[:1200], y[:1200]


@pytest.fixture()
def project_dir(tmp_path: Path) -> Path:
    return tmp_path
