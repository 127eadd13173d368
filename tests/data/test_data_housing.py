"""Parity with the book on the real housing data: same training rows, same prepared matrix."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from hone.data import (
    HOUSING_TARGET,
    build_preparation,
    housing_prepare_spec,
    housing_split_spec,
    load_housing,
    read_table,
    source_columns,
    split_train_test,
    validate_frame,
)
from hone.errors import DataError

pytestmark = pytest.mark.skipif(
    not os.environ.get("HONE_DATA_DIR"),
    reason="set HONE_DATA_DIR to the folder holding housing/housing.csv to run the housing parity tests",
)

NUM_ATTRIBS = [
    "longitude",
    "latitude",
    "housing_median_age",
    "total_rooms",
    "total_bedrooms",
    "population",
    "households",
    "median_income",
]
FEATURE_NAMES = [
    *NUM_ATTRIBS,
    "rooms_per_hhold",
    "pop_per_hhold",
    "bedrooms_per_room",
    "<1H OCEAN",
    "INLAND",
    "ISLAND",
    "NEAR BAY",
    "NEAR OCEAN",
]


@pytest.fixture(scope="module")
def housing() -> pd.DataFrame:
    return load_housing()


@pytest.fixture(scope="module")
def book(housing: pd.DataFrame) -> dict[str, object]:
    """The book's own code, verbatim in substance: income_cat, StratifiedShuffleSplit, full_pipeline."""
    with_cat = housing.copy()
    with_cat["income_cat"] = pd.cut(
        with_cat["median_income"], bins=[0.0, 1.5, 3.0, 4.5, 6.0, np.inf], labels=[1, 2, 3, 4, 5]
    )
    split = StratifiedShuffleSplit(n_splits=1, test_size=0.2, random_state=42)
    train_index, test_index = next(split.split(with_cat, with_cat["income_cat"]))
    strat_train_set = with_cat.loc[train_index].drop("income_cat", axis=1)
    rooms_ix, bedrooms_ix, population_ix, households_ix = 3, 4, 5, 6

    def add_extra_features(X):  # noqa: N803 - the book's naming
        rooms_per_household = X[:, rooms_ix] / X[:, households_ix]
        population_per_household = X[:, population_ix] / X[:, households_ix]
        bedrooms_per_room = X[:, bedrooms_ix] / X[:, rooms_ix]
        return np.c_[X, rooms_per_household, population_per_household, bedrooms_per_room]

    num_pipeline = Pipeline(
        [
            ("imputer", SimpleImputer(strategy="median")),
            ("attribs_adder", FunctionTransformer(add_extra_features, validate=False)),
            ("std_scaler", StandardScaler()),
        ]
    )
    full_pipeline = ColumnTransformer(
        [("num", num_pipeline, NUM_ATTRIBS), ("cat", OneHotEncoder(), ["ocean_proximity"])]
    )
    housing_features = strat_train_set.drop(HOUSING_TARGET, axis=1)
    prepared = full_pipeline.fit_transform(housing_features)
    if hasattr(prepared, "toarray"):
        prepared = prepared.toarray()
    return {
        "train": strat_train_set,
        "train_index": train_index,
        "test_index": test_index,
        "prepared": prepared,
    }


def test_training_rows_match_the_book(housing: pd.DataFrame, book: dict[str, object]) -> None:
    split = split_train_test(housing, housing_split_spec())
    np.testing.assert_array_equal(split.train_index, book["train_index"])
    np.testing.assert_array_equal(split.test_index, book["test_index"])
    pd.testing.assert_frame_equal(split.train, book["train"])
    assert split.train.index[:5].tolist() == [12655, 15502, 2908, 14053, 20496]
    assert "income_cat" not in split.train.columns and "income_cat" not in housing.columns
    assert (len(split.train), len(split.test_index)) == (16512, 4128)


def test_prepared_matrix_matches_the_book(housing: pd.DataFrame, book: dict[str, object]) -> None:
    split = split_train_test(housing, housing_split_spec())
    preparation = build_preparation(housing_prepare_spec(), split.train, HOUSING_TARGET)
    prepared = preparation.fit_transform(split.train.drop(columns=HOUSING_TARGET))
    assert isinstance(prepared, np.ndarray) and prepared.dtype == np.float64
    assert prepared.shape == book["prepared"].shape == (16512, 16)
    np.testing.assert_allclose(prepared, book["prepared"], rtol=0, atol=1e-12)
    assert preparation.get_feature_names_out().tolist() == FEATURE_NAMES
    sources = source_columns(preparation)
    assert list(sources) == FEATURE_NAMES
    assert sources["INLAND"] == "ocean_proximity" and sources["pop_per_hhold"] == "pop_per_hhold"


def test_fingerprints_are_pinned(housing: pd.DataFrame) -> None:
    first = split_train_test(housing, housing_split_spec())
    second = split_train_test(load_housing(), housing_split_spec())
    assert (first.data_sha256, first.test_ids_sha256) == (second.data_sha256, second.test_ids_sha256)
    assert len(first.data_sha256) == len(first.test_ids_sha256) == 64


def test_housing_validates(housing: pd.DataFrame) -> None:
    source = str(Path(os.environ["HONE_DATA_DIR"]) / "housing" / "housing.csv")
    assert validate_frame(housing, target=HOUSING_TARGET, source=source, numeric=NUM_ATTRIBS) is None


def test_a_typo_in_a_copy_is_reported_by_line(tmp_path: Path) -> None:
    original = Path(os.environ["HONE_DATA_DIR"]) / "housing" / "housing.csv"
    lines = original.read_text().splitlines()
    fields = lines[1000].split(",")  # line 1001 of the file
    fields[3] = "88O"  # letter O typed for a zero in total_rooms
    lines[1000] = ",".join(fields)
    edited = tmp_path / "housing.csv"
    edited.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        validate_frame(read_table(edited), target=HOUSING_TARGET, source=str(edited))
    message = str(info.value)
    assert str(edited) in message and "'total_rooms'" in message
    assert "line 1001" in message and "'88O'" in message
