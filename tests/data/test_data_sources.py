"""read_table and validate_frame: every bad input becomes a one-line DataError naming where it is."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hone.data import read_table, validate_frame
from hone.errors import DataError

GOOD_CSV = "a,b,city\n1,2.5,x\n3,4.5,y\n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _error(func, *args, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        func(*args, **kwargs)
    text = str(info.value)
    assert "\n" not in text, "messages must be one line"
    return text


# --- read_table: good inputs -------------------------------------------------------------------


def test_reads_csv(tmp_path: Path) -> None:
    frame = read_table(_write(tmp_path / "t.csv", GOOD_CSV))
    assert frame.columns.tolist() == ["a", "b", "city"]
    assert frame["b"].tolist() == [2.5, 4.5]
    assert isinstance(frame.index, pd.RangeIndex)


def test_reads_csv_gz_and_accepts_str_path(tmp_path: Path) -> None:
    path = tmp_path / "t.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(GOOD_CSV)
    frame = read_table(str(path))
    assert frame["a"].tolist() == [1, 3]


@pytest.mark.parametrize("suffix", [".parquet", ".pq"])
def test_reads_parquet(tmp_path: Path, suffix: str) -> None:
    original = pd.DataFrame({"a": [1.0, np.nan, 3.0], "city": ["x", "y", "z"]})
    path = tmp_path / f"t{suffix}"
    original.to_parquet(path)
    frame = read_table(path)
    pd.testing.assert_frame_equal(frame, original, check_dtype=False)


# --- read_table: errors ------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    message = _error(read_table, path)
    assert str(path) in message and "no such file" in message


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    message = _error(read_table, folder)
    assert str(folder) in message and "directory" in message


def test_unknown_extension(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.xlsx", "whatever")
    message = _error(read_table, path)
    assert str(path) in message and ".xlsx" in message and ".csv" in message


def test_empty_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "")
    message = _error(read_table, path)
    assert str(path) in message and "empty" in message


def test_blank_lines_only(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "\n\n")
    message = _error(read_table, path)
    assert str(path) in message and "empty" in message


def test_header_without_rows(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "a,b\n")
    message = _error(read_table, path)
    assert str(path) in message and "no data rows" in message and "a, b" in message


def test_parquet_without_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pd.DataFrame({"a": pd.Series([], dtype=float)}).to_parquet(path)
    message = _error(read_table, path)
    assert str(path) in message and "no data rows" in message


def test_malformed_csv_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "a,b\n1,2\n3,4\n5,6,7\n8,9\n")
    message = _error(read_table, path)
    assert str(path) in message
    assert "line 4" in message and "expected 2 fields, saw 3" in message


def test_a_line_with_too_few_fields_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "a,b,city\n1,2,x\n\n3,4\n5,6,y\n7,8\n")
    message = _error(read_table, path)
    assert str(path) in message
    assert "line 4: expected 3 fields, saw 2 (2 lines have too few fields)" in message


def test_a_short_line_in_a_gzip_csv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("a,b,city\n1,2,x\n3\n")
    assert "line 3: expected 3 fields, saw 1" in _error(read_table, path)


def test_an_empty_last_field_is_not_a_short_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", 'a,b,city\n1,2,\n3,"4\n4",y\n')
    frame = read_table(path)
    assert frame["city"].isna().tolist() == [True, False]


def test_unclosed_quote_is_malformed(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", 'a,b\n1,"2\n3,4\n')
    message = _error(read_table, path)
    assert str(path) in message and "malformed CSV" in message


def test_duplicate_header(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "a,b,a\n1,2,3\n")
    message = _error(read_table, path)
    assert str(path) in message and "duplicate" in message and "a" in message and "line 1" in message


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n1,\xff\xfe\n")
    message = _error(read_table, path)
    assert str(path) in message and "UTF-8" in message


def test_bad_gzip(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv.gz", GOOD_CSV)
    message = _error(read_table, path)
    assert str(path) in message and "gzip" in message


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.parquet", "this is not parquet")
    message = _error(read_table, path)
    assert str(path) in message and "Parquet" in message


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read files regardless of mode")
def test_unreadable_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", GOOD_CSV)
    path.chmod(0)
    try:
        message = _error(read_table, path)
    finally:
        path.chmod(0o600)
    assert str(path) in message and "permission denied" in message


# --- validate_frame ----------------------------------------------------------------------------


def _frame(**columns: list) -> pd.DataFrame:
    return pd.DataFrame(columns)


def test_valid_frame_passes() -> None:
    frame = _frame(x=[1.0, 2.0, None], city=["a", "b", "c"], y=[1, 2, 3])
    assert validate_frame(frame, target="y", source="data.csv", numeric=["x"]) is None
    assert validate_frame(frame, target="y", source="data.csv") is None


def test_missing_target_suggests_the_closest_name() -> None:
    frame = _frame(median_house_value=[1.0], median_income=[2.0])
    message = _error(validate_frame, frame, target="median_house_valu", source="housing.csv")
    assert message.startswith("housing.csv: ")
    assert "'median_house_valu'" in message and "did you mean 'median_house_value'" in message
    assert "available columns: median_house_value, median_income" in message


def test_missing_target_without_close_name() -> None:
    message = _error(validate_frame, _frame(a=[1]), target="zzz", source="s.csv")
    assert "'zzz' not found" in message and "did you mean" not in message
    assert "available columns: a" in message


def test_all_empty_column_is_named() -> None:
    frame = _frame(y=[1, 2], notes=[None, None])
    message = _error(validate_frame, frame, target="y", source="s.csv")
    assert "'notes'" in message and "empty" in message


def test_column_of_blank_strings_is_empty(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", 'y,notes\n1," "\n2,""\n')
    message = _error(validate_frame, read_table(path), target="y", source=str(path))
    assert "'notes'" in message and "empty" in message and str(path) in message


def test_declared_numeric_with_text_names_column_line_and_value(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "y,rooms,city\n1,10,a\n2,11,b\n3,twelve,c\n4,oops,d\n")
    frame = read_table(path)
    message = _error(validate_frame, frame, target="y", source=str(path), numeric=["rooms"])
    # The first bad value is the 3rd data row, i.e. line 4 of the file (the header is line 1).
    assert str(path) in message and "'rooms'" in message and "line 4" in message and "'twelve'" in message
    assert "2 non-numeric" in message


def test_declared_numeric_that_is_mostly_text_is_still_reported() -> None:
    frame = _frame(y=[1, 2], city=["a", "b"])
    message = _error(validate_frame, frame, target="y", source="s.csv", numeric=["city"])
    assert "'city'" in message and "line 2" in message and "'a'" in message


def test_declared_numeric_column_missing() -> None:
    message = _error(validate_frame, _frame(y=[1], rooms=[2]), target="y", source="s.csv", numeric=["room"])
    assert "'room'" in message and "did you mean 'rooms'" in message


def test_undeclared_mostly_numeric_column_with_a_typo(tmp_path: Path) -> None:
    values = [str(v) for v in range(9)] + ["12,5"]  # 90% numbers: a typo, not a category
    lines = ["y,size"] + [f'{i},"{v}"' for i, v in enumerate(values)]
    path = _write(tmp_path / "t.csv", "\n".join(lines) + "\n")
    message = _error(validate_frame, read_table(path), target="y", source=str(path))
    assert "'size'" in message and "line 11" in message and "'12,5'" in message


def test_undeclared_text_column_is_left_alone() -> None:
    values = [str(v) for v in range(8)] + ["big", "small"]  # 80% numbers: treated as text
    frame = _frame(y=list(range(10)), size=values, city=["a"] * 10)
    assert validate_frame(frame, target="y", source="s.csv") is None


def test_parquet_sources_report_rows_not_lines() -> None:
    frame = _frame(y=[1, 2, 3], rooms=["1", "2", "x"])
    message = _error(validate_frame, frame, target="y", source="data.parquet", numeric=["rooms"])
    assert "row 3" in message and "line" not in message


def test_duplicate_columns_in_frame() -> None:
    frame = pd.DataFrame([[1, 2, 3]], columns=["y", "a", "a"])
    message = _error(validate_frame, frame, target="y", source="s.parquet")
    assert "duplicate" in message and "a" in message and message.startswith("s.parquet: ")


def test_frame_without_rows() -> None:
    message = _error(validate_frame, _frame(y=[]), target="y", source="s.csv")
    assert "no data rows" in message


def test_a_text_target_for_a_regressor_names_the_column_file_and_line() -> None:
    from hone.data.sources import check_regression_target

    y = pd.Series(["low", "high", "low"], index=[5, 2, 9])  # the split's rows keep their table positions
    message = _error(check_regression_target, y, target="price", source="d.csv", estimator="sk.Forest")
    assert message == (
        "d.csv: target column 'price' must be numeric for the regressor sk.Forest, but every value is text"
        " (first 'high' at line 4)"
    )
    check_regression_target(pd.Series([1.5, 2.0]), target="price", source="d.csv", estimator="sk.Forest")
