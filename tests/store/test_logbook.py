"""The prediction log: Parquet parts by date, written in the background, read back columnar."""

from __future__ import annotations

import logging
import math
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from hone.data.schema import Feature, FeatureSchema
from hone.errors import StoreError
from hone.store.logbook import (
    PredictionIds,
    PredictionLog,
    compact,
    id_key,
    label_text,
    main,
    read_feedback,
    read_predictions,
)

SCHEMA = FeatureSchema(
    (
        Feature("income", "numeric", "float64", nullable=True),
        Feature("rooms", "numeric", "int64", nullable=False),
        Feature("ocean", "categorical", "object", nullable=False, categories=("INLAND", "NEAR BAY")),
    )
)
DAY_ONE = datetime(2026, 3, 1, 23, 59, 59, tzinfo=timezone.utc)
DAY_TWO = datetime(2026, 3, 2, 0, 0, 1, tzinfo=timezone.utc)


def _log(tmp_path: Path, **options: float) -> PredictionLog:
    return PredictionLog(tmp_path / "log", "housing", **options)


def test_rows_come_back_with_their_types_and_values(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.log_predictions(
        ["a", "b"],
        3,
        [[1.5, 4.0, "INLAND"], [math.nan, 7.0, "NEAR BAY"]],
        np.array([10.0, 20.5]),
        DAY_ONE,
        schema=SCHEMA,
    )
    log.log_feedback(["a"], [11.0], DAY_TWO)
    log.close()

    table = read_predictions(tmp_path / "log", "housing")
    assert table.schema.field("prediction_id").type == pa.string()
    assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("model_version").type == pa.int32()
    assert table.schema.field("income").type == pa.float64()
    assert table.schema.field("ocean").type == pa.string()
    assert table.schema.field("prediction").type == pa.float64()
    rows = table.sort_by("prediction_id").to_pylist()
    assert [row["prediction_id"] for row in rows] == ["a", "b"]
    assert [row["model_version"] for row in rows] == [3, 3]
    assert rows[0]["income"] == 1.5 and rows[1]["income"] is None  # a missing value is stored as null
    assert [row["ocean"] for row in rows] == ["INLAND", "NEAR BAY"]
    assert [row["prediction"] for row in rows] == [10.0, 20.5]
    assert rows[0]["ts"] == DAY_ONE
    feedback = read_feedback(tmp_path / "log", "housing").to_pylist()
    assert feedback == [{"prediction_id": "a", "ts": DAY_TWO, "label": 11.0}]


def test_parts_are_partitioned_by_day_and_the_range_prunes_them(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.log_predictions(["one"], 1, [[1.0, 1.0, "INLAND"]], np.array([1.0]), DAY_ONE, schema=SCHEMA)
    log.log_predictions(["two"], 1, [[2.0, 2.0, "INLAND"]], np.array([2.0]), DAY_TWO, schema=SCHEMA)
    log.close()

    folders = sorted(p.name for p in (tmp_path / "log" / "housing" / "predictions").iterdir())
    assert folders == ["date=2026-03-01", "date=2026-03-02"]
    root = tmp_path / "log"
    assert read_predictions(root, "housing", since=date(2026, 3, 2))["prediction_id"].to_pylist() == ["two"]
    assert read_predictions(root, "housing", until=DAY_TWO)["prediction_id"].to_pylist() == ["one"]
    later = read_predictions(root, "housing", since="2026-03-01T23:59:59.500000+00:00")
    assert later["prediction_id"].to_pylist() == ["two"]
    assert read_predictions(root, "housing", since=DAY_TWO + timedelta(days=5)).num_rows == 0


def test_columns_are_projected_and_an_unknown_one_is_named(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.log_predictions(["a"], 1, [[1.0, 2.0, "INLAND"]], np.array([5.0]), DAY_ONE, schema=SCHEMA)
    log.close()

    table = read_predictions(tmp_path / "log", "housing", columns=["income", "prediction"])
    assert table.column_names == ["income", "prediction"]
    with pytest.raises(StoreError, match="no column 'wealth'"):
        read_predictions(tmp_path / "log", "housing", columns=["wealth"])


def test_versions_with_different_features_read_as_one_table(tmp_path: Path) -> None:
    narrower = FeatureSchema(SCHEMA.features[:2])
    log = _log(tmp_path)
    log.log_predictions(["old"], 1, [[1.0, 2.0, "INLAND"]], np.array([1.0]), DAY_ONE, schema=SCHEMA)
    log.log_predictions(["new"], 2, [[3.0, 4.0]], np.array([2.0]), DAY_ONE, schema=narrower)
    log.close()

    rows = read_predictions(tmp_path / "log", "housing").sort_by("prediction_id").to_pylist()
    assert [(row["prediction_id"], row["ocean"]) for row in rows] == [("new", None), ("old", "INLAND")]


def test_classification_labels_are_text_that_predictions_and_feedback_share(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.log_predictions(
        ["a", "b"],
        1,
        [[1.0, 2.0, "INLAND"]] * 2,
        np.array([1, 0]),
        DAY_ONE,
        schema=SCHEMA,
        task="classification",
    )
    log.log_feedback(["a", "b"], [1.0, "0"], DAY_ONE, task="classification")
    log.close()

    assert read_predictions(tmp_path / "log", "housing")["prediction"].to_pylist() == ["1", "0"]
    assert read_feedback(tmp_path / "log", "housing")["label"].to_pylist() == ["1", "0"]
    assert [label_text(v) for v in (np.int64(2), 2.0, "2", 2.5, True)] == ["2", "2", "2", "2.5", "True"]


def test_batches_are_written_by_rows_or_by_time(tmp_path: Path) -> None:
    log = _log(tmp_path, flush_rows=3, flush_seconds=60.0)
    for number in range(7):
        log.log_predictions([f"r{number}"], 1, [[1.0, 2.0, "INLAND"]], np.array([1.0]), schema=SCHEMA)
    log.flush()
    assert log.rows_written == 7
    parts = list((tmp_path / "log" / "housing" / "predictions").rglob("part-*.parquet"))
    assert len(parts) == 3  # 3 + 3 rows by count, the last one by the flush

    timed = PredictionLog(tmp_path / "timed", "housing", flush_rows=1000, flush_seconds=0.05)
    timed.log_predictions(["t"], 1, [[1.0, 2.0, "INLAND"]], np.array([1.0]), schema=SCHEMA)
    deadline = time.monotonic() + 10
    while timed.rows_written == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert timed.rows_written == 1  # written by the timer, without flush or close
    timed.close()
    log.close()


def test_half_written_parts_are_invisible_to_readers(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.log_predictions(["a"], 1, [[1.0, 2.0, "INLAND"]], np.array([1.0]), DAY_ONE, schema=SCHEMA)
    log.close()
    folder = tmp_path / "log" / "housing" / "predictions" / "date=2026-03-01"
    (folder / ".part-999-1-0.parquet.tmp").write_bytes(b"PAR1 half a file")

    assert read_predictions(tmp_path / "log", "housing").num_rows == 1


def test_a_failing_write_is_counted_and_the_writer_keeps_going(tmp_path: Path) -> None:
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "housing").write_text("a file where the model's folder should be")
    log = _log(tmp_path)
    log.log_predictions(["lost"], 1, [[1.0, 2.0, "INLAND"]], np.array([1.0]), DAY_ONE, schema=SCHEMA)
    log.flush()
    assert (log.write_errors, log.rows_dropped, log.rows_written) == (1, 1, 0)

    (tmp_path / "log" / "housing").unlink()
    log.log_predictions(["kept"], 1, [[1.0, 2.0, "INLAND"]], np.array([1.0]), DAY_ONE, schema=SCHEMA)
    log.close()
    assert log.rows_written == 1
    assert read_predictions(tmp_path / "log", "housing")["prediction_id"].to_pylist() == ["kept"]


def test_close_drains_everything_and_is_idempotent(tmp_path: Path) -> None:
    log = _log(tmp_path, flush_rows=10_000, flush_seconds=60.0)
    for number in range(500):
        log.log_predictions([f"r{number}"], 1, [[1.0, 2.0, "INLAND"]], np.array([1.0]), schema=SCHEMA)
    log.close()
    log.close()
    assert read_predictions(tmp_path / "log", "housing").num_rows == 500
    log.log_predictions(["late"], 1, [[1.0, 2.0, "INLAND"]], np.array([1.0]), schema=SCHEMA)
    assert log.rows_dropped == 1  # after close nothing is written, and that is counted


def test_a_full_queue_drops_counts_and_says_so_instead_of_growing(tmp_path: Path, caplog) -> None:
    log = PredictionLog(
        tmp_path / "log", "housing", flush_rows=10_000, flush_seconds=60.0, max_pending_rows=3
    )
    with caplog.at_level(logging.WARNING, logger="hone.log"):
        for number in range(5):
            log.log_predictions([f"r{number}"], 1, [[1.0, 2.0, "INLAND"]], np.array([1.0]), schema=SCHEMA)
        log.close()
    assert (log.rows_written, log.rows_dropped) == (3, 2)
    dropped = [record.getMessage() for record in caplog.records if "dropped" in record.getMessage()]
    assert dropped == ["prediction log: 2 row(s) dropped: the writer fell max_pending_rows (3) behind"]


def test_reading_a_log_that_does_not_exist_gives_an_empty_table(tmp_path: Path) -> None:
    table = read_predictions(tmp_path, "nothing")
    assert table.num_rows == 0
    assert table.column_names == ["prediction_id", "ts", "model_version"]


def test_prediction_ids_are_unique_within_and_across_processes() -> None:
    first, second = PredictionIds(), PredictionIds()
    ids = first.take(1000) + first.take(5) + second.take(1000)
    assert len(set(ids)) == len(ids)
    assert all(len(identifier) == 48 and int(identifier, 16) >= 0 for identifier in ids)


def test_prediction_ids_carry_a_check_under_the_logs_key(tmp_path: Path) -> None:
    key = id_key(tmp_path / "housing")
    assert id_key(tmp_path / "housing") == key  # a second service on the same log shares it
    assert (tmp_path / "housing" / ".id-key").stat().st_mode & 0o777 == 0o600
    one, other = PredictionIds(key), PredictionIds(key)
    issued = one.take(3)
    assert all(other.issued(identifier) for identifier in issued)
    assert sorted(issued) == issued  # still in serving order within a process
    assert not PredictionIds().issued(issued[0])  # another log's key
    forged = issued[0][:32] + "0" * 16
    assert not any(one.issued(bad) for bad in (forged, issued[0][:32], "../../etc/passwd", ""))


def test_compaction_merges_small_parts_and_keeps_every_row_once(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log", "housing", flush_rows=1, compact_parts=4)
    for number in range(50):
        log.log_predictions(
            [f"r{number}"], 1, [[1.0, 2.0, "INLAND"]], np.array([float(number)]), schema=SCHEMA
        )
        if number % 5 == 0:
            log.flush()  # at least ten separate parts, whatever the writer's pace
    log.close()

    day = next((tmp_path / "log" / "housing" / "predictions").iterdir())
    assert list(day.glob("merged-*.parquet"))
    assert len(list(day.glob("*.parquet"))) < 20
    table = read_predictions(tmp_path / "log", "housing")
    assert sorted(table["prediction_id"].to_pylist()) == sorted(f"r{n}" for n in range(50))


def test_an_interrupted_compaction_never_shows_a_row_twice(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log", "housing", flush_rows=1, compact_parts=1000)
    for number in range(4):
        log.log_predictions(
            [f"r{number}"], 1, [[1.0, 2.0, "INLAND"]], np.array([1.0]), DAY_ONE, schema=SCHEMA
        )
        log.flush()
    log.close()
    day = tmp_path / "log" / "housing" / "predictions" / "date=2026-03-01"
    first = sorted(day.glob("part-*.parquet"))[0]
    saved = first.read_bytes()

    assert compact(day, parts=4)
    first.write_bytes(saved)  # as if the compaction had stopped before removing the parts it merged
    assert sorted(read_predictions(tmp_path / "log", "housing")["prediction_id"].to_pylist()) == [
        "r0",
        "r1",
        "r2",
        "r3",
    ]
    assert not compact(day, parts=4)  # nothing left to merge; the leftover part is removed on the way
    assert not first.exists()


def test_a_child_process_merges_parts_while_the_log_keeps_running(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log", "housing", flush_rows=1, compact_parts=4)
    for number in range(4):
        log.log_predictions(
            [f"r{number}"], 1, [[1.0, 2.0, "INLAND"]], np.array([1.0]), DAY_ONE, schema=SCHEMA
        )
        log.flush()
    day = tmp_path / "log" / "housing" / "predictions" / "date=2026-03-01"
    deadline = time.monotonic() + 30
    while list(day.glob("part-*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)  # the child starts a Python of its own: under a second on a quiet machine

    assert len(list(day.glob("merged-*.parquet"))) == 1 and not list(day.glob("part-*.parquet"))
    log.log_predictions(["r4"], 1, [[1.0, 2.0, "INLAND"]], np.array([1.0]), DAY_ONE, schema=SCHEMA)
    log.close()
    ids = read_predictions(tmp_path / "log", "housing")["prediction_id"].to_pylist()
    assert sorted(ids) == ["r0", "r1", "r2", "r3", "r4"]


def test_the_compaction_command_merges_a_folder_and_fails_in_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = PredictionLog(tmp_path / "log", "housing", flush_rows=1, compact_parts=1000)
    for number in range(3):
        log.log_predictions([f"r{number}"], 1, [[1.0, 2.0, "INLAND"]], np.array([1.0]), schema=SCHEMA)
        log.flush()
    log.close()
    day = next((tmp_path / "log" / "housing" / "predictions").iterdir())

    assert main(["compact", str(day), "--parts", "3"]) == 0
    assert [path.name[:7] for path in day.glob("*.parquet")] == ["merged-"]
    assert main(["compact", str(tmp_path / "nowhere")]) == 1
    assert "could not compact" in caplog.text and "nowhere" in caplog.text
