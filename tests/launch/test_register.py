"""The schema a registered version is given: which features accept missing values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hone.config.load import load_config
from hone.data.schema import SchemaViolation
from hone.data.training import training_set_from_frame
from hone.launch.register import feature_schema

PROJECT = """\
project: gaps
data: {{path: data.csv, target: y}}
prepare: {{impute: median}}
models:
  - name: forest
    estimator: sklearn.ensemble.RandomForestRegressor
    grid: {{n_estimators: [5]}}
serve: {{allow_missing: {allow}}}
"""


def _schema(tmp_path: Path, allow: bool):
    frame = pd.DataFrame(
        {
            "complete": [1.0, 2.0, 3.0, 4.0],
            "gappy": [1.0, np.nan, 3.0, 4.0],
            "colour": ["red", "blue", "red", "blue"],
            "y": [1.0, 2.0, 3.0, 4.0],
        }
    )
    frame.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "hone.yaml").write_text(PROJECT.format(allow=str(allow).lower()))
    config = load_config(tmp_path / "hone.yaml")
    return feature_schema(config, training_set_from_frame(frame, "y"))


def test_a_feature_complete_in_training_refuses_missing_values(tmp_path: Path) -> None:
    schema = _schema(tmp_path, allow=False)
    assert not schema["complete"].nullable and schema["gappy"].nullable
    with pytest.raises(SchemaViolation) as refused:
        schema.check_records([{"complete": 1.0, "gappy": 2.0, "colour": "red"}, {"complete": None}])
    assert "row 1, complete" in str(refused.value)
    assert schema.check_records([{"complete": 1.0, "gappy": None, "colour": "red"}])[0][1] != 0.0
    # Batch prediction checks with the same schema: the same row is refused there.
    checked = schema.check_frame(
        pd.DataFrame({"complete": [np.nan, 1.0], "gappy": [np.nan] * 2, "colour": "red"})
    )
    assert checked.valid.tolist() == [False, True]
    assert (checked.problems[0].row, checked.problems[0].field) == (0, "complete")


def test_allow_missing_lets_every_imputed_numeric_feature_take_them(tmp_path: Path) -> None:
    schema = _schema(tmp_path, allow=True)
    assert schema["complete"].nullable and schema["gappy"].nullable
    assert not schema["colour"].nullable  # the preparation imputes numbers only
