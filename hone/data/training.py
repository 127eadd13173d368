"""The training set a search sees (raw training rows, the locked split), read as the project file says."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hone.data.datasets import load_dataset
from hone.data.identifiers import check_not_features, refuse_identifiers
from hone.data.prepare import PrepareSpec, build_preparation, check_derived_values
from hone.data.sources import read_table, validate_frame
from hone.data.split import Split, SplitSpec, frame_sha256, positions_sha256, split_train_test

if TYPE_CHECKING:
    from sklearn.compose import ColumnTransformer

    from hone.config.schema import ProjectConfig


@dataclass
class TrainingSet:
    """The training rows only: the test rows stay behind ``split.test_index``."""

    X: pd.DataFrame
    y: pd.Series
    split: Split  # ``split.train`` holds the features and the target only, as ``X`` and ``y``
    n_rows: int
    ids: pd.DataFrame | None = None  # the id columns (data.id) of the training rows, if any


def training_set_from_frame(frame: pd.DataFrame, target: str) -> TrainingSet:
    """Every row of ``frame`` (features and target) as training rows, with no test rows.

    For data assembled after tuning (`hone retrain`: the training set plus labelled production rows),
    whose test rows, if any, are held out by the caller.
    """
    frame = frame.reset_index(drop=True)
    positions = np.arange(len(frame))
    split = Split(
        train=frame,
        train_index=positions,
        test_index=positions[:0],
        data_sha256=frame_sha256(frame),
        test_ids_sha256=positions_sha256(positions[:0]),
    )
    return TrainingSet(frame.drop(columns=target), frame[target], split, len(frame))


def read_source(dataset: str | None, path: Path | None) -> pd.DataFrame:
    """The one switch between a built-in dataset and a table on disk (the project file allows one of them)."""
    if dataset is not None:
        return load_dataset(dataset)
    if path is None:
        raise ValueError("a data source needs a dataset or a path")
    return read_table(path)


def data_source(config: ProjectConfig) -> str:
    """How messages name the project's data: its file, or the built-in dataset."""
    data = config.data
    return f"dataset {data.dataset!r}" if data.dataset is not None else str(data.path)


def load_training_set(config: ProjectConfig) -> TrainingSet:
    """The project's table, checked and split; only the training rows are handed out."""
    data = config.data
    frame = read_source(data.dataset, data.path)
    source = data_source(config)
    check_not_features(frame, data.id, data.drop, source=source)
    candidates = frame.drop(columns=data.not_features)  # the target and the columns that may be features
    validate_frame(candidates, target=data.target, source=source, numeric=config.prepare.numeric)
    refuse_identifiers(candidates, config, source=source)
    check_derived_values(config.prepare.derived, frame, source)
    spec = SplitSpec(
        test_size=config.split.test_size,
        stratify=config.split.stratify,
        bins=None if config.split.bins is None else list(config.split.bins),
        seed=config.split.seed,
    )
    # The split (and its fingerprint) covers the whole table as read; the model sees the features only.
    split = split_train_test(frame, spec)
    train = split.train
    ids = train[data.id] if data.id else None  # indexed as X: rows join on the index
    split = dataclasses.replace(split, train=train.drop(columns=data.not_features))
    features = features_of(train, data.target, data.not_features)
    return TrainingSet(features, train[data.target], split, len(frame), ids)


def features_of(frame: pd.DataFrame, target: str, not_features: list[str]) -> pd.DataFrame:
    """The feature columns of rows read from the project's table: no target, id or dropped column."""
    return frame.drop(columns=[target, *not_features])


def prepare_spec(config: ProjectConfig) -> PrepareSpec:
    """The project file's ``prepare`` section as the data package's spec."""
    p = config.prepare
    return PrepareSpec(
        numeric=p.numeric,
        categorical=p.categorical,
        impute=p.impute,
        scale=p.scale,
        one_hot=p.one_hot,
        derived=dict(p.derived),
    )


def project_preparation(config: ProjectConfig, training: TrainingSet) -> ColumnTransformer:
    """The project's preparation, unfitted, with its columns chosen from the training rows."""
    return build_preparation(prepare_spec(config), training.split.train, config.data.target)
