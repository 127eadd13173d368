"""Streaming batch prediction on real files, a real SQLite database and a real fitted pipeline."""

from __future__ import annotations

import gc
import re
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from sklearn.ensemble import RandomForestRegressor
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier

from hone.data import build_preparation, housing_prepare_spec
from hone.data.schema import FeatureSchema, SchemaViolation
from hone.errors import DataError
from hone.launch.batch import BatchReport, SqlSource, predict_table

TARGET = "median_house_value"
SPEC = housing_prepare_spec()  # the book's preparation
# Planted in the bad-rows file (1-based input rows).
NOT_A_NUMBER, UNSEEN, MISSING_REQUIRED, SHORT_ROW = 3, 10, 17, 25


@pytest.fixture(scope="module")
def train(housing_split) -> pd.DataFrame:
    return housing_split.train.reset_index(drop=True)


@pytest.fixture(scope="module")
def features(train) -> pd.DataFrame:
    return train.drop(columns=TARGET)


@pytest.fixture(scope="module")
def schema(features) -> FeatureSchema:
    return FeatureSchema.from_frame(features, target=TARGET, imputed=["total_bedrooms"])


@pytest.fixture(scope="module")
def pipeline(train, features) -> Pipeline:
    steps = [
        ("prepare", build_preparation(SPEC, train, TARGET)),
        ("model", RandomForestRegressor(n_estimators=30, max_features=8, random_state=42)),
    ]
    return Pipeline(steps).fit(features.iloc[:2000], train[TARGET].iloc[:2000])


@pytest.fixture(scope="module")
def rows(features) -> pd.DataFrame:
    """300 housing rows, one with a missing (imputed, so accepted) total_bedrooms, and ids like 00042."""
    picked = features.iloc[2000:2300].reset_index(drop=True)
    picked.loc[5, "total_bedrooms"] = np.nan
    return pd.concat([pd.DataFrame({"id": [f"{i:05d}" for i in range(300)]}), picked], axis=1)


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, compression="gzip" if path.name.endswith(".gz") else None)
    return path


def _bad_rows_csv(rows: pd.DataFrame, path: Path) -> Path:
    planted = rows.astype(object)
    planted.loc[NOT_A_NUMBER - 1, "median_income"] = "abc"
    planted.loc[UNSEEN - 1, "ocean_proximity"] = "MARS"
    planted.loc[MISSING_REQUIRED - 1, "housing_median_age"] = None
    lines = planted.to_csv(index=False).splitlines()
    # The header is line 1, so input row r is line r + 1; drop the last field of the short row.
    lines[SHORT_ROW] = lines[SHORT_ROW].rsplit(",", 1)[0]
    path.write_text("\n".join(lines) + "\n")
    return path


def _output(path: Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def _leftovers(folder: Path, *expected: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p not in expected)


@pytest.mark.parametrize("name", ["in.csv", "in.csv.gz", "in.parquet"])
def test_predictions_equal_the_pipeline_on_the_same_rows(tmp_path, rows, schema, pipeline, name):
    source = _write(rows, tmp_path / name)
    report = predict_table(pipeline.predict, schema, source, tmp_path / "out.parquet", keep=["id"])
    assert isinstance(report, BatchReport)
    assert (report.n_rows, report.n_predicted, report.n_invalid, report.problems) == (300, 300, 0, [])
    out = _output(tmp_path / "out.parquet")
    assert list(out.columns) == ["row", "id", "prediction", "problem"]
    assert out["row"].tolist() == list(range(1, 301))
    assert out["id"].tolist() == rows["id"].tolist()  # "00007" survives a CSV
    np.testing.assert_array_equal(out["prediction"].to_numpy(), pipeline.predict(rows[schema.names]))
    assert out["problem"].isna().all()
    assert report.rows_per_second > 0


def test_bad_rows_are_reported_by_input_row_and_good_rows_still_predicted(tmp_path, rows, schema, pipeline):
    source = _bad_rows_csv(rows, tmp_path / "in.csv")
    report = predict_table(pipeline.predict, schema, source, tmp_path / "out.parquet", keep=["id"])
    bad = [NOT_A_NUMBER, UNSEEN, MISSING_REQUIRED, SHORT_ROW]
    assert (report.n_rows, report.n_invalid, report.n_predicted) == (300, 4, 296)
    assert [(p.row, p.field) for p in report.problems] == [
        (NOT_A_NUMBER, "median_income"),
        (UNSEEN, "ocean_proximity"),
        (MISSING_REQUIRED, "housing_median_age"),
        (SHORT_ROW, "(row)"),
    ]
    assert "not a number" in report.problems[0].message
    assert "MARS" in report.problems[1].message
    assert report.problems[3].message == "malformed CSV row: expected 10 fields, got 9"
    out = _output(tmp_path / "out.parquet")
    assert out["row"].tolist() == list(range(1, 301))
    ids = pq.read_table(tmp_path / "out.parquet").column("id").to_pylist()
    assert ids == [None if row == SHORT_ROW else f"{row - 1:05d}" for row in range(1, 301)]
    flagged = out["problem"].notna()
    assert out.loc[flagged, "row"].tolist() == bad
    assert out["prediction"].isna().tolist() == flagged.tolist()
    good = ~rows.index.isin([r - 1 for r in bad])
    np.testing.assert_array_equal(
        out.loc[~flagged, "prediction"].to_numpy(), pipeline.predict(rows.loc[good, schema.names])
    )


def test_strict_stops_at_the_first_bad_row_and_leaves_no_output(tmp_path, rows, schema, pipeline):
    source = _bad_rows_csv(rows, tmp_path / "in.csv")
    output = tmp_path / "out.parquet"
    with pytest.raises(SchemaViolation, match=rf"row {NOT_A_NUMBER}, median_income: not a number") as caught:
        predict_table(pipeline.predict, schema, source, output, strict=True, chunk_rows=7)
    assert str(source) in str(caught.value)
    assert not output.exists()
    assert _leftovers(tmp_path, source) == []  # no temporary file either


def test_strict_names_a_row_that_did_not_parse(tmp_path, rows, schema, pipeline):
    lines = rows.to_csv(index=False).splitlines()
    lines[SHORT_ROW] = lines[SHORT_ROW] + ",1,2"
    source = tmp_path / "in.csv"
    source.write_text("\n".join(lines) + "\n")
    with pytest.raises(SchemaViolation, match=rf"row {SHORT_ROW}, \(row\): malformed CSV row: expected 10"):
        predict_table(pipeline.predict, schema, source, tmp_path / "out.parquet", strict=True)
    assert _leftovers(tmp_path, source) == []


@pytest.mark.parametrize("name", ["in.csv", "in.parquet"])
def test_chunk_boundaries_do_not_change_the_output(tmp_path, rows, schema, pipeline, name):
    if name.endswith(".csv"):
        source = _bad_rows_csv(rows, tmp_path / name)
    else:
        planted = rows.copy()
        planted["median_income"] = planted["median_income"].astype(str)
        planted.loc[NOT_A_NUMBER - 1, "median_income"] = "abc"  # a text column: checked row by row
        source = _write(planted, tmp_path / name)
    done: list[int] = []
    small = predict_table(
        pipeline.predict,
        schema,
        source,
        tmp_path / "small.parquet",
        chunk_rows=7,
        keep=["id"],
        progress=done.append,
    )
    large = predict_table(pipeline.predict, schema, source, tmp_path / "large.parquet", keep=["id"])
    assert pq.read_table(tmp_path / "small.parquet").equals(pq.read_table(tmp_path / "large.parquet"))
    assert small.problems == large.problems and small.n_invalid == large.n_invalid >= 1
    assert len(done) > 10 and done == sorted(done) and done[-1] == 300


def test_sql_source_from_a_real_sqlite_file(tmp_path, rows, schema, pipeline):
    database = tmp_path / "rows.db"
    engine = sa.create_engine(f"sqlite:///{database}")
    rows.to_sql("houses", engine, index=False)
    engine.dispose()
    with sqlite3.connect(database) as connection:  # SQLite keeps text in a REAL column as text
        connection.execute("UPDATE houses SET median_income = 'n/a' WHERE id = '00004'")
    source = SqlSource(f"sqlite:///{database}", "SELECT * FROM houses ORDER BY id")
    report = predict_table(
        pipeline.predict, schema, source, tmp_path / "out.parquet", keep=["id"], chunk_rows=64
    )
    assert (report.n_rows, report.n_invalid) == (300, 1)
    assert (report.problems[0].row, report.problems[0].field) == (5, "median_income")
    out = _output(tmp_path / "out.parquet")
    assert out["id"].tolist() == rows["id"].tolist()
    good = rows.index != 4
    np.testing.assert_array_equal(
        out["prediction"].to_numpy()[good], pipeline.predict(rows.loc[good, schema.names])
    )


def test_bad_sql_is_one_data_error_naming_the_database(tmp_path, schema, pipeline):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(DataError, match="query failed") as caught:
        predict_table(
            pipeline.predict, schema, SqlSource(url, "SELECT * FROM nowhere"), tmp_path / "o.parquet"
        )
    assert caught.value.where == url and "\n" not in str(caught.value)
    with pytest.raises(DataError, match="database URL"):
        predict_table(
            pipeline.predict, schema, SqlSource("nosuchdb://x/y", "SELECT 1"), tmp_path / "o.parquet"
        )
    assert _leftovers(tmp_path, tmp_path / "empty.db") == []


def test_unusable_inputs_are_one_line_data_errors(tmp_path, rows, schema, pipeline):
    output = tmp_path / "out.parquet"
    good = _write(rows, tmp_path / "in.csv")

    def error(source, **options) -> DataError:
        with pytest.raises(DataError) as caught:
            predict_table(pipeline.predict, schema, source, options.pop("output", output), **options)
        assert "\n" not in str(caught.value)
        return caught.value

    assert error(tmp_path / "absent.csv").message == "no such file"
    assert "unknown file type" in error(_write(rows, tmp_path / "in.txt")).message
    assert "not found" in error(_write(rows.drop(columns="median_income"), tmp_path / "short.csv")).message
    assert "kept column 'ids' not found (did you mean 'id'?)" in error(good, keep=["ids"]).message
    assert "own column" in error(good, keep=["prediction"]).message
    assert "must end in .parquet or .csv" in error(good, output=tmp_path / "out.json").message
    assert "does not exist" in error(good, output=tmp_path / "no" / "out.parquet").message
    (tmp_path / "empty.csv").write_text("")
    assert "empty" in error(tmp_path / "empty.csv").message
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 definitely not parquet")
    assert "not a readable Parquet file" in error(tmp_path / "broken.parquet").message
    latin1 = rows.head(3).assign(ocean_proximity="\xc9LE").to_csv(index=False).encode("latin-1")
    (tmp_path / "latin1.csv").write_bytes(latin1)
    assert "cannot read the CSV" in error(tmp_path / "latin1.csv").message
    assert _leftovers(tmp_path, *tmp_path.glob("*.*")) == [] and not output.exists()


def test_csv_output_and_an_input_with_only_a_header(tmp_path, rows, schema, pipeline):
    source = _write(rows.head(20), tmp_path / "in.parquet")
    predict_table(pipeline.predict, schema, source, tmp_path / "out.csv", keep=["id"])
    written = pd.read_csv(tmp_path / "out.csv", dtype={"id": str})
    assert written["id"].tolist() == rows["id"].head(20).tolist()
    np.testing.assert_allclose(written["prediction"], pipeline.predict(rows.head(20)[schema.names]))
    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(rows.columns) + "\n")
    report = predict_table(pipeline.predict, schema, header_only, tmp_path / "none.parquet", keep=["id"])
    assert report.n_rows == 0
    empty = pq.read_table(tmp_path / "none.parquet")
    assert empty.num_rows == 0 and empty.schema.field("prediction").type == pa.float64()


def test_every_invalid_row_gets_a_problem_text_beyond_the_checker_limit(tmp_path, rows, schema, pipeline):
    many = pd.concat([rows] * 6, ignore_index=True).astype(object)  # 1800 rows, 1200 with two problems each
    many.loc[many.index % 3 != 0, "median_income"] = "junk"
    many.loc[many.index % 3 != 0, "ocean_proximity"] = "MOON"
    source = _write(many, tmp_path / "many.csv")
    report = predict_table(pipeline.predict, schema, source, tmp_path / "out.parquet")
    assert (report.n_invalid, report.n_problems, len(report.problems)) == (1200, 2400, 100)
    out = _output(tmp_path / "out.parquet")
    invalid = out["problem"].notna()
    assert invalid.sum() == 1200 and out.loc[invalid, "prediction"].isna().all()
    assert out.loc[invalid, "problem"].str.contains("median_income: not a number; ocean_proximity").all()
    assert out["prediction"].notna().sum() == 600


def test_classification_labels_are_text_even_after_a_chunk_with_no_valid_row(
    tmp_path, rows, schema, train, features
):
    labels = np.where(train[TARGET].iloc[:2000] > 200_000, "dear", "cheap")
    classifier = Pipeline(
        [
            ("prepare", build_preparation(SPEC, train, TARGET)),
            ("model", DecisionTreeClassifier(random_state=0)),
        ]
    ).fit(features.iloc[:2000], labels)
    planted = rows.astype(object)
    planted.loc[:9, "ocean_proximity"] = "ATLANTIS"  # the whole first chunk is invalid
    source = _write(planted, tmp_path / "in.csv")
    report = predict_table(classifier.predict, schema, source, tmp_path / "out.parquet", chunk_rows=10)
    assert report.n_invalid == 10
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.schema.field("prediction").type == pa.string()
    predictions = table.column("prediction").to_pylist()
    assert predictions[:10] == [None] * 10
    assert predictions[10:] == classifier.predict(rows.iloc[10:][schema.names]).tolist()


def _peak_growth_mb(run) -> float:
    """How far the process's peak resident memory rises while ``run`` runs (Linux /proc)."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM) to the current size

    def status(key: str) -> int:
        return int(re.search(rf"{key}:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1))

    before = status("VmRSS")
    run()
    return (status("VmHWM") - before) / 1024


@pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc to read peak memory"
)
def test_memory_stays_flat_for_a_file_many_chunks_long(tmp_path, features, schema, pipeline):
    chunk = 4_000
    sampled = features.sample(n=chunk * 30, replace=True, random_state=0).reset_index(drop=True)
    big = _write(sampled, tmp_path / "big.csv")  # 30 chunks
    one = _write(sampled.head(chunk), tmp_path / "one.csv")  # 1 chunk

    def run(source: Path) -> None:
        predict_table(pipeline.predict, schema, source, tmp_path / f"{source.stem}.parquet", chunk_rows=chunk)

    def whole_file_at_once() -> None:  # what streaming avoids, measured the same way for reference
        pipeline.predict(schema.check_frame(pd.read_csv(big)).frame)

    run(one)  # warm up: imports, thread start, allocator pools
    growth_one = _peak_growth_mb(lambda: run(one))
    growth_big = _peak_growth_mb(lambda: run(big))
    growth_whole = _peak_growth_mb(whole_file_at_once)
    assert growth_big < 2 * growth_one + 15, (growth_one, growth_big)
    assert 3 * growth_big < growth_whole, (growth_big, growth_whole)  # the measurement can tell them apart
    assert pq.read_metadata(tmp_path / "big.parquet").num_rows == chunk * 30


def test_the_models_id_columns_are_written_first_and_required(tmp_path, features, pipeline, rows) -> None:
    with_ids = FeatureSchema.from_frame(features, target=TARGET, imputed=["total_bedrooms"], ids=["id"])
    source = _write(rows.iloc[:20], tmp_path / "rows.csv")
    predict_table(pipeline.predict, with_ids, source, tmp_path / "out.parquet", task="regression")
    written = pd.read_parquet(tmp_path / "out.parquet")
    assert list(written.columns[:2]) == ["row", "id"]
    assert written["id"].tolist() == [f"{i:05d}" for i in range(20)]
    no_ids = _write(rows.drop(columns="id").iloc[:20], tmp_path / "no_ids.csv")
    with pytest.raises(DataError, match="id column 'id' not found"):
        predict_table(pipeline.predict, with_ids, no_ids, tmp_path / "out2.parquet", task="regression")
