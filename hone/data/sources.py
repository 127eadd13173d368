"""Reading tables from disk and checking they have the shape a project expects.

Every problem becomes a one-line DataError naming the file, and the column and line when known.
"""

from __future__ import annotations

import csv
import gzip
import os
import re
from pathlib import Path

import pandas as pd

from hone.errors import DataError, did_you_mean

_CSV_SUFFIXES = (".csv", ".csv.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")
# A column is taken for numeric-with-typos when at least this share of its values are numbers.
NUMERIC_SHARE = 0.9


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    shown = "".join(path.suffixes[-2:]) or "no extension"
    known = ", ".join(_CSV_SUFFIXES + _PARQUET_SUFFIXES)
    raise DataError(f"unknown file type ({shown}); expected one of {known}", where=str(path))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _csv_header(path: Path) -> list[str]:
    # pandas silently renames duplicate headers to "x.1", so the raw header is read here to catch them.
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle), [])


def _duplicates(names: list[str]) -> list[str]:
    seen: set[str] = set()
    dupes: list[str] = []
    for name in names:
        if name in seen and name not in dupes:
            dupes.append(name)
        seen.add(name)
    return dupes


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        header = _csv_header(path)
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError as exc:
        raise DataError("file is empty (no header, no rows)", where=str(path)) from exc
    except pd.errors.ParserError as exc:
        message = _one_line(exc)
        match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
        if match:
            expected, line, saw = match.groups()
            raise DataError(
                f"malformed CSV at line {line}: expected {expected} fields, saw {saw}", where=str(path)
            ) from exc
        raise DataError(f"malformed CSV: {message}", where=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text (byte {exc.start}: {exc.reason})", where=str(path)) from exc
    except (gzip.BadGzipFile, EOFError) as exc:
        raise DataError(f"not a valid gzip file ({_one_line(exc)})", where=str(path)) from exc
    dupes = _duplicates(header)
    if dupes:
        listed = ", ".join(dupes)
        raise DataError(f"duplicate column name(s) in the header (line 1): {listed}", where=str(path))
    _check_short_lines(path, frame, len(header))
    return frame


def _check_short_lines(path: Path, frame: pd.DataFrame, n_fields: int) -> None:
    """pandas fills a line with too few fields with NaN (a missing category becomes the category "nan"):
    refuse it, as pandas refuses a line with too many.

    Such a line always leaves the last column empty, so only a file whose last column has blanks is
    read again, with the csv module, to tell a short line from an empty last field."""
    if frame.empty or not frame.iloc[:, -1].isna().any():
        return
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    short: list[tuple[int, int]] = []
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for fields in reader:
            if fields and len(fields) < n_fields:  # [] is a blank line, which pandas skips too
                short.append((reader.line_num, len(fields)))
    if short:
        line, saw = short[0]
        more = f" ({len(short)} lines have too few fields)" if len(short) > 1 else ""
        raise DataError(
            f"malformed CSV at line {line}: expected {n_fields} fields, saw {saw}{more}", where=str(path)
        )


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except PermissionError:
        raise
    except (OSError, ValueError) as exc:
        # pyarrow's ArrowInvalid is a ValueError; a truncated file surfaces as OSError.
        raise DataError(f"not a readable Parquet file ({_one_line(exc)})", where=str(path)) from exc


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a ``.csv``/``.csv.gz`` or ``.parquet``/``.pq`` file into a DataFrame with a RangeIndex."""
    path = Path(path)
    if not path.exists():
        raise DataError("no such file", where=str(path))
    if path.is_dir():
        raise DataError("is a directory, expected a .csv or .parquet file", where=str(path))
    kind = _kind(path)
    if not os.access(path, os.R_OK):
        raise DataError("permission denied: cannot read the file", where=str(path))
    if path.stat().st_size == 0:
        raise DataError("file is empty (no header, no rows)", where=str(path))
    try:
        frame = _read_csv(path) if kind == "csv" else _read_parquet(path)
    except PermissionError as exc:
        raise DataError("permission denied: cannot read the file", where=str(path)) from exc
    if frame.empty and len(frame.columns) > 0:
        listed = ", ".join(map(str, frame.columns))
        raise DataError(f"no data rows (only a header: {listed})", where=str(path))
    if frame.empty:
        raise DataError("no columns and no rows", where=str(path))
    return frame.reset_index(drop=True)


def row_ref(position: int, source: str) -> str:
    """Where row ``position`` (from 0, in file order) is in ``source``: a CSV's line, else a row number."""
    # In a CSV the header is line 1, so the first data row is line 2.
    if source.lower().endswith(_CSV_SUFFIXES):
        return f"line {position + 2}"
    return f"row {position + 1}"



def _missing_column(name: str, role: str, columns: list[str], source: str) -> DataError:
    hint = did_you_mean(name, columns)
    available = ", ".join(columns)
    return DataError(f"{role} column {name!r} not found{hint}; available columns: {available}", where=source)


def _is_blank(series: pd.Series) -> pd.Series:
    blank = series.isna()
    if not pd.api.types.is_numeric_dtype(series):
        blank |= series.astype("string").str.strip().eq("").fillna(False).astype(bool)
    return blank


def _check_numeric(frame: pd.DataFrame, column: str, source: str, *, declared: bool) -> None:
    series = frame[column]
    if pd.api.types.is_numeric_dtype(series):
        return
    present = ~_is_blank(series)
    parsed = pd.to_numeric(series.where(present), errors="coerce")
    bad = (present & parsed.isna()).to_numpy()
    if not bad.any():
        return
    n_present = int(present.sum())
    # Undeclared columns are only flagged when they look numeric: mostly numbers, a few strays.
    if not declared and (n_present == 0 or (n_present - int(bad.sum())) / n_present < NUMERIC_SHARE):
        return
    position = int(bad.argmax())
    value = series.iloc[position]
    raise DataError(
        f"column {column!r} should be numeric but has {value!r} at {row_ref(position, source)}"
        f" ({int(bad.sum())} non-numeric value(s))",
        where=source,
    )


def validate_frame(
    frame: pd.DataFrame, *, target: str, source: str, numeric: list[str] | None = None
) -> None:
    """Check a table before it is used: target present, no empty columns, numbers where expected.

    ``source`` names the data in messages (usually the file path); for a CSV, offending rows are
    reported by their line in the file.
    """
    names = [str(c) for c in frame.columns]
    dupes = _duplicates(names)
    if dupes:
        raise DataError(f"duplicate column name(s): {', '.join(dupes)}", where=source)
    if target not in names:
        raise _missing_column(target, "target", names, source)
    if frame.empty:
        raise DataError("no data rows", where=source)
    for column in frame.columns:
        if _is_blank(frame[column]).all():
            raise DataError(f"column {column!r} is empty (no values in any row)", where=source)
    if numeric is not None:
        for column in numeric:
            if column not in names:
                raise _missing_column(column, "numeric", names, source)
            _check_numeric(frame, column, source, declared=True)
    else:
        for column in frame.columns:
            _check_numeric(frame, column, source, declared=False)


def check_regression_target(y: pd.Series, *, target: str, source: str, estimator: str) -> None:
    """A regressor needs a numeric target: say so, naming the column, file and first text value.

    ``y`` keeps the table's row positions as its index (the split's rows), so the line is the file's."""
    if pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y):
        return
    present = ~_is_blank(y)
    bad = present & pd.to_numeric(y.where(present), errors="coerce").isna()
    if not bad.any():
        return
    first = int(y.index[bad.to_numpy()].min())
    value = y.loc[first]
    share = "every value is" if bool(bad.sum() == present.sum()) else f"{int(bad.sum())} value(s) are"
    raise DataError(
        f"target column {target!r} must be numeric for the regressor {estimator}, but {share} text"
        f" (first {value!r} at {row_ref(first, source)})",
        where=source,
    )
