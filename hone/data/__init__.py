"""Data: loading tables and built-in datasets, validation, the train/test split and preparation."""

from __future__ import annotations

from hone.data.datasets import (
    HOUSING_TARGET,
    housing_path,
    housing_prepare_spec,
    housing_split_spec,
    load_dataset,
    load_housing,
)
from hone.data.prepare import DerivedFeatures, PrepareSpec, build_preparation, source_columns
from hone.data.sources import read_table, validate_frame
from hone.data.split import Split, SplitSpec, frame_sha256, split_train_test

__all__ = [
    "HOUSING_TARGET",
    "DerivedFeatures",
    "PrepareSpec",
    "Split",
    "SplitSpec",
    "build_preparation",
    "frame_sha256",
    "housing_path",
    "housing_prepare_spec",
    "housing_split_spec",
    "load_dataset",
    "load_housing",
    "read_table",
    "source_columns",
    "split_train_test",
    "validate_frame",
]
