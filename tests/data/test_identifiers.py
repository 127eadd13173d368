"""ID and dropped columns (data.id, data.drop), and text columns refused because they look like IDs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.cli import run_hone

from hone.config.load import load_config
from hone.data.schema import FeatureSchema
from hone.data.training import load_training_set
from hone.errors import ConfigError, DataError
from hone.launch.register import feature_schema

N = 60


def _table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=N)
    return pd.DataFrame(
        {
            "patient_id": [f"P{100000 + 2 * i}" for i in range(N)],
            "x": x,
            "z": rng.normal(size=N),
            "clinic": rng.choice(["north", "south"], N),
            "notes": ["a long free-text remark written by hand, one per visit " + str(i) for i in range(N)],
            "y": np.where(x + rng.normal(scale=0.5, size=N) > 0, "yes", "no"),
        }
    )


def _project(tmp_path: Path, data: str, frame: pd.DataFrame | None = None) -> Path:
    (frame if frame is not None else _table()).to_csv(tmp_path / "rows.csv", index=False)
    config = tmp_path / "hone.yaml"
    config.write_text(
        f"""project: ids
data:
  path: rows.csv
  target: y
{data}
split: {{test_size: 0.25, seed: 1}}
search: {{cv: 3, scoring: roc_auc, n_jobs: 1}}
models:
  - name: logistic
    estimator: sklearn.linear_model.LogisticRegression
    grid: {{C: [0.1, 1.0]}}
store: {tmp_path / "hone.db"}
"""
    )
    return config


def test_id_and_dropped_columns_are_not_features(tmp_path: Path) -> None:
    config = load_config(_project(tmp_path, "  id: patient_id\n  drop: [notes]"))
    training = load_training_set(config)
    assert list(training.X.columns) == ["x", "z", "clinic"]
    assert list(training.split.train.columns) == ["x", "z", "clinic", "y"]
    assert training.ids is not None and list(training.ids.columns) == ["patient_id"]
    assert training.ids.index.equals(training.X.index) and len(training.X) == 45
    schema = feature_schema(config, training)
    assert schema.names == ["x", "z", "clinic"] and schema.ids == ("patient_id",)
    assert FeatureSchema.from_dict(schema.to_dict()) == schema


def test_a_text_column_unique_per_row_is_refused_with_the_way_out(tmp_path: Path) -> None:
    config = load_config(_project(tmp_path, "  drop: [notes]"))
    with pytest.raises(DataError) as caught:
        load_training_set(config)
    message = str(caught.value)
    assert "'patient_id' looks like an ID" in message and "data.id" in message and "data.drop" in message
    assert "rows.csv" in message


def test_free_text_is_refused(tmp_path: Path) -> None:
    config = load_config(_project(tmp_path, "  id: patient_id"))
    frame = _table()
    frame["notes"] = [f"remark number {i % 7} that a clinician typed in at length" for i in range(N)]
    config = load_config(_project(tmp_path, "  id: patient_id", frame))
    with pytest.raises(DataError, match="'notes' looks like free text"):
        load_training_set(config)


def test_unknown_id_column_names_the_close_one(tmp_path: Path) -> None:
    config = load_config(_project(tmp_path, "  id: patient\n  drop: notes"))
    with pytest.raises(DataError, match="id column 'patient' .*not found.*did you mean 'patient_id'"):
        load_training_set(config)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("  id: y", "'y' is the target, not an id column"),
        ("  id: patient_id\n  drop: [notes, patient_id]", "'patient_id' is both an id and dropped"),
        ("  drop: [notes, notes]", "'notes' is listed twice"),
    ],
)
def test_bad_roles_are_config_errors(tmp_path: Path, data: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(_project(tmp_path, data))


def test_tune_refuses_an_id_column_in_one_line(tmp_path: Path) -> None:
    config = _project(tmp_path, "  drop: [notes]")
    result = run_hone("tune", str(config), cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines() + result.stdout.strip().splitlines()
    assert len(lines) == 1 and "looks like an ID" in lines[0] and "Traceback" not in result.stderr


def test_records_accept_and_echo_ids() -> None:
    frame = _table()[["x", "clinic"]]
    schema = FeatureSchema.from_frame(frame, ids=["patient_id"])
    records = [{"x": 0.5, "clinic": "north", "patient_id": "P999999"}, {"x": 1.0, "clinic": "south"}]
    assert schema.check_records(records) == [[0.5, "north"], [1.0, "south"]]
    assert schema.record_ids(records) == {"patient_id": ["P999999", None]}
    with pytest.raises(DataError, match="row 0, patient_id: expected an ID"):
        schema.check_records([{"x": 0.5, "clinic": "north", "patient_id": [1, 2]}])
    # A model without ids still refuses the field.
    with pytest.raises(DataError, match="patient_id: unknown field"):
        FeatureSchema.from_frame(frame).check_records(records[:1])


def test_a_declared_categorical_is_kept_as_a_feature(tmp_path: Path) -> None:
    config = _project(tmp_path, "  drop: [notes]")
    config.write_text(config.read_text() + "prepare: {categorical: [patient_id, clinic]}\n")
    training = load_training_set(load_config(config))
    assert "patient_id" in training.X.columns
