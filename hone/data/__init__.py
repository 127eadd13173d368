"""Data: loading tables and built-in datasets, validation, the train/test split and preparation.

Names are imported on first use: the preparation pulls in scikit-learn (about 120 MB and a second of
start-up), which serving, batch prediction and monitoring processes should not pay for unless they need it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES = {
    "HOUSING_TARGET": "datasets",
    "housing_path": "datasets",
    "housing_prepare_spec": "datasets",
    "housing_split_spec": "datasets",
    "load_dataset": "datasets",
    "load_housing": "datasets",
    "DerivedFeatures": "prepare",
    "PrepareSpec": "prepare",
    "build_preparation": "prepare",
    "source_columns": "prepare",
    "read_table": "sources",
    "validate_frame": "sources",
    "Split": "split",
    "SplitSpec": "split",
    "frame_sha256": "split",
    "split_train_test": "split",
}

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


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'hone.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hone.data.{_HOMES[name]}"), name)
