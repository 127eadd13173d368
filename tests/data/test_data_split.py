"""split_train_test on small frames: same rows as scikit-learn's splitters, fingerprints, errors."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

from hone.data import Split, SplitSpec, frame_sha256, split_train_test
from hone.errors import DataError

BINS = [0.0, 1.5, 3.0, 4.5, 6.0, np.inf]


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 200
    return pd.DataFrame(
        {
            "income": rng.uniform(0.5, 9.0, n),
            "rooms": rng.integers(1, 10, n).astype(float),
            "kind": rng.choice(["a", "b", "c"], n),
            "price": rng.normal(100, 10, n),
        }
    )


def _error(frame: pd.DataFrame, spec: SplitSpec) -> str:
    with pytest.raises(DataError) as info:
        split_train_test(frame, spec)
    return str(info.value)


def test_unstratified_matches_shuffle_split(frame: pd.DataFrame) -> None:
    split = split_train_test(frame, SplitSpec(test_size=0.25, seed=7))
    train, test = next(ShuffleSplit(n_splits=1, test_size=0.25, random_state=7).split(frame))
    np.testing.assert_array_equal(split.train_index, train)
    np.testing.assert_array_equal(split.test_index, test)
    pd.testing.assert_frame_equal(split.train, frame.iloc[train])
    assert len(split.test_index) == 50 and len(split.train) == 150


def test_stratified_with_bins_matches_the_book_recipe(frame: pd.DataFrame) -> None:
    split = split_train_test(frame, SplitSpec(stratify="income", bins=BINS, seed=42))
    income_cat = pd.cut(frame["income"], bins=BINS, labels=[1, 2, 3, 4, 5])
    splitter = StratifiedShuffleSplit(n_splits=1, test_size=0.2, random_state=42)
    train, test = next(splitter.split(frame, income_cat))
    np.testing.assert_array_equal(split.train_index, train)
    np.testing.assert_array_equal(split.test_index, test)
    pd.testing.assert_frame_equal(split.train, frame.loc[train])
    assert split.train.columns.tolist() == frame.columns.tolist()  # no helper column left behind


def test_stratified_on_values(frame: pd.DataFrame) -> None:
    split = split_train_test(frame, SplitSpec(stratify="kind", seed=3))
    splitter = StratifiedShuffleSplit(n_splits=1, test_size=0.2, random_state=3)
    train, test = next(splitter.split(frame, frame["kind"]))
    np.testing.assert_array_equal(split.test_index, test)
    np.testing.assert_array_equal(split.train_index, train)


def test_train_and_test_partition_the_rows(frame: pd.DataFrame) -> None:
    split = split_train_test(frame, SplitSpec(stratify="kind"))
    assert set(split.train_index).isdisjoint(split.test_index)
    assert sorted([*split.train_index, *split.test_index]) == list(range(len(frame)))
    assert not hasattr(split, "test")  # test rows only through test_index


def test_indices_are_read_only(frame: pd.DataFrame) -> None:
    split = split_train_test(frame, SplitSpec())
    with pytest.raises(ValueError):
        split.test_index[0] = 0


def test_fingerprints(frame: pd.DataFrame) -> None:
    split = split_train_test(frame, SplitSpec())
    expected_ids = hashlib.sha256(np.asarray(split.test_index, dtype=np.int64).tobytes()).hexdigest()
    assert split.test_ids_sha256 == expected_ids
    row_hashes = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    assert split.data_sha256 == hashlib.sha256(row_hashes.tobytes()).hexdigest() == frame_sha256(frame)


def test_fingerprints_are_stable_and_sensitive(frame: pd.DataFrame) -> None:
    first = split_train_test(frame, SplitSpec())
    again = split_train_test(frame.copy(), SplitSpec())
    assert (first.data_sha256, first.test_ids_sha256) == (again.data_sha256, again.test_ids_sha256)
    changed = frame.copy()
    changed.loc[5, "kind"] = "z"
    assert split_train_test(changed, SplitSpec()).data_sha256 != first.data_sha256
    assert split_train_test(frame, SplitSpec(seed=1)).test_ids_sha256 != first.test_ids_sha256


def test_split_is_a_dataclass_with_the_fields() -> None:
    names = list(Split.__dataclass_fields__)
    assert names == ["train", "train_index", "test_index", "data_sha256", "test_ids_sha256"]


def test_missing_stratify_column(frame: pd.DataFrame) -> None:
    message = _error(frame, SplitSpec(stratify="incme"))
    assert "'incme'" in message and "not found" in message and "income" in message


def test_bin_with_one_row_is_named(frame: pd.DataFrame) -> None:
    small = frame.copy()
    small["income"] = np.where(small["income"] > 6.0, 5.0, small["income"])
    small.loc[0, "income"] = 7.0  # the only row in (6, inf]
    message = _error(small, SplitSpec(stratify="income", bins=BINS))
    assert "(6.0, inf]" in message and "'income'" in message and "only 1 row" in message


def test_value_with_one_row_is_named(frame: pd.DataFrame) -> None:
    odd = frame.copy()
    odd.loc[3, "kind"] = "lonely"
    message = _error(odd, SplitSpec(stratify="kind"))
    assert "'lonely'" in message and "only 1 row" in message


def test_empty_bins_are_allowed(frame: pd.DataFrame) -> None:
    split = split_train_test(frame, SplitSpec(stratify="income", bins=[0.0, 5.0, 20.0, 30.0]))
    assert len(split.test_index) == 40


def test_values_outside_the_bins(frame: pd.DataFrame) -> None:
    message = _error(frame, SplitSpec(stratify="income", bins=[1.0, 5.0, 8.0]))
    assert "outside the bins" in message and "'income'" in message


def test_bad_bins(frame: pd.DataFrame) -> None:
    message = _error(frame, SplitSpec(stratify="income", bins=[5.0, 1.0, 8.0]))
    assert "cannot cut column 'income'" in message


def test_missing_stratify_values(frame: pd.DataFrame) -> None:
    holes = frame.copy()
    holes.loc[4, "kind"] = None
    message = _error(holes, SplitSpec(stratify="kind"))
    assert "'kind'" in message and "missing" in message and "row 5" in message


@pytest.mark.parametrize("size", [0, 0.0, 1, 1.0, 1.5, -0.1, True])
def test_test_size_out_of_range(frame: pd.DataFrame, size: float) -> None:
    message = _error(frame, SplitSpec(test_size=size))
    assert "test_size" in message and "between 0 and 1" in message


@pytest.mark.parametrize("size", [0.01, 0.99])
def test_split_leaving_too_few_rows(size: float) -> None:
    tiny = pd.DataFrame({"x": range(10)})
    message = _error(tiny, SplitSpec(test_size=size))
    assert "at least 2" in message and "10 rows" in message


def test_more_strata_than_test_rows() -> None:
    frame = pd.DataFrame({"kind": [f"k{i // 2}" for i in range(20)]})  # 10 strata of 2 rows
    message = _error(frame, SplitSpec(stratify="kind", test_size=0.2))
    assert "10 strata" in message and "4 test" in message
