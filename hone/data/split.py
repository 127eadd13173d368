"""Train/test split, done once and fingerprinted so the test set cannot drift or leak.

Only the training rows are handed out as a frame; the test rows are reachable through
``Split.test_index`` alone, which keeps the test set out of tuning by construction.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

from hone.errors import DataError


@dataclass
class SplitSpec:
    """How to split: test share, optional stratification column (cut into ``bins`` if given), seed."""

    test_size: float = 0.2
    stratify: str | None = None
    bins: list[float] | None = None
    seed: int = 42


@dataclass(frozen=True, eq=False)
class Split:
    """The training rows plus positions and fingerprints that pin the split down."""

    train: pd.DataFrame = field(repr=False)
    train_index: np.ndarray = field(repr=False)
    test_index: np.ndarray = field(repr=False)
    data_sha256: str
    test_ids_sha256: str


def frame_sha256(frame: pd.DataFrame) -> str:
    """A content hash of a frame's values and index (column names are not part of it)."""
    row_hashes = pd.util.hash_pandas_object(frame, index=True).to_numpy(dtype="<u8")
    return hashlib.sha256(row_hashes.tobytes()).hexdigest()


def positions_sha256(positions: np.ndarray) -> str:
    """A hash of row positions, in order, as little-endian int64."""
    return hashlib.sha256(np.asarray(positions, dtype="<i8").tobytes()).hexdigest()


def _check_sizes(n_rows: int, test_size: float) -> None:
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float)) or not 0 < test_size < 1:
        raise DataError(f"test_size must be a fraction between 0 and 1, got {test_size!r}", where="split")
    # Same arithmetic as scikit-learn's ShuffleSplit.
    n_test = math.ceil(test_size * n_rows)
    n_train = n_rows - n_test
    if n_test < 2 or n_train < 2:
        raise DataError(
            f"test_size {test_size} on {n_rows} rows leaves {n_train} training and {n_test} test rows;"
            " each side needs at least 2",
            where="split",
        )


def _strata(frame: pd.DataFrame, spec: SplitSpec) -> tuple[np.ndarray, list[str]]:
    """Integer stratum per row and a readable label per stratum code."""
    column = spec.stratify
    assert column is not None
    if column not in frame.columns:
        available = ", ".join(map(str, frame.columns))
        raise DataError(
            f"stratify column {column!r} not found; available columns: {available}", where="split"
        )
    values = frame[column]
    if spec.bins is not None:
        try:
            cut = pd.cut(values, bins=spec.bins)
        except (ValueError, TypeError) as exc:
            raise DataError(
                f"cannot cut column {column!r} into bins {spec.bins}: {' '.join(str(exc).split())}",
                where="split",
            ) from exc
        outside = cut.isna().to_numpy()
        if outside.any():
            first = int(outside.argmax())
            raise DataError(
                f"{int(outside.sum())} value(s) of {column!r} are missing or outside the bins {spec.bins}"
                f" (first at row {first + 1}: {values.iloc[first]!r})",
                where="split",
            )
        labels = [f"bin {interval} of {column!r}" for interval in cut.cat.categories]
        return cut.cat.codes.to_numpy(dtype=np.int64), labels
    missing = values.isna().to_numpy()
    if missing.any():
        first = int(missing.argmax())
        raise DataError(
            f"stratify column {column!r} has {int(missing.sum())} missing value(s)"
            f" (first at row {first + 1})",
            where="split",
        )
    # Sorted unique values, as StratifiedShuffleSplit itself would order the classes.
    keys = values.to_numpy() if pd.api.types.is_numeric_dtype(values) else values.astype(str).to_numpy()
    uniques, codes = np.unique(keys, return_inverse=True)
    labels = [f"value {u!r} of {column!r}" for u in uniques.tolist()]
    return codes.astype(np.int64), labels


def _check_strata(codes: np.ndarray, labels: list[str], n_rows: int, test_size: float) -> None:
    counts = np.bincount(codes, minlength=len(labels))
    for code, count in enumerate(counts):
        # Empty bins simply do not take part; a single row cannot be on both sides.
        if count == 1:
            raise DataError(
                f"{labels[code]} has only 1 row; each stratum needs at least 2 (merge or widen the bins)",
                where="split",
            )
    n_strata = int((counts > 0).sum())
    n_test = math.ceil(test_size * n_rows)
    n_train = n_rows - n_test
    if min(n_test, n_train) < n_strata:
        raise DataError(
            f"{n_strata} strata do not fit in {n_train} training / {n_test} test rows; "
            "use fewer bins or a different test_size",
            where="split",
        )


def split_train_test(frame: pd.DataFrame, spec: SplitSpec) -> Split:
    """Split ``frame`` once; stratified like the book when ``spec.stratify`` is set."""
    n_rows = len(frame)
    _check_sizes(n_rows, spec.test_size)
    if spec.stratify is None:
        splitter = ShuffleSplit(n_splits=1, test_size=spec.test_size, random_state=spec.seed)
        train_index, test_index = next(splitter.split(frame))
    else:
        codes, labels = _strata(frame, spec)
        _check_strata(codes, labels, n_rows, spec.test_size)
        stratified = StratifiedShuffleSplit(n_splits=1, test_size=spec.test_size, random_state=spec.seed)
        train_index, test_index = next(stratified.split(np.zeros((n_rows, 1)), codes))
    train_index = np.asarray(train_index, dtype=np.int64)
    test_index = np.asarray(test_index, dtype=np.int64)
    # Read-only, so the recorded split cannot be edited in place after its fingerprint is taken.
    train_index.flags.writeable = False
    test_index.flags.writeable = False
    return Split(
        train=frame.iloc[train_index].copy(),
        train_index=train_index,
        test_index=test_index,
        data_sha256=frame_sha256(frame),
        test_ids_sha256=positions_sha256(test_index),
    )
