"""The feature schema a registered model accepts: names, kinds, dtypes, allowed categories, ranges seen.

Serving, batch prediction and monitoring all check inputs against it. A request or row is refused for
what the model cannot take (a missing or unknown field, a wrong type, a missing value where training had
none (unless ``serve.allow_missing``), a non-finite number or one beyond float32, an unseen category);
values outside the range seen in training are accepted and left for monitoring to count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from hone.errors import DataError

Kind = Literal["numeric", "categorical"]
# At most this many problems are kept per check: a broken file must not fill memory with messages.
MAX_PROBLEMS = 1000
# scikit-learn's trees (and so the forests hone serves) take float32: a larger magnitude cannot be predicted.
FLOAT32_MAX = float(np.finfo(np.float32).max)
BEYOND_FLOAT32 = f"beyond the range the model takes (-{FLOAT32_MAX:.4g} to {FLOAT32_MAX:.4g})"


@dataclass(frozen=True)
class Feature:
    """One input column as the model was trained on it."""

    name: str
    kind: Kind
    dtype: str  # the training column's dtype, as pandas names it
    nullable: bool  # missing values are accepted (seen in training, or imputed by the preparation)
    low: float | None = None  # numeric: the smallest and largest finite values seen in training
    high: float | None = None
    categories: tuple[str, ...] | None = None  # categorical: the values seen in training

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "dtype": self.dtype,
            "nullable": self.nullable,
            "low": self.low,
            "high": self.high,
            "categories": None if self.categories is None else list(self.categories),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Feature:
        categories = data.get("categories")
        return cls(
            name=str(data["name"]),
            kind=data["kind"],
            dtype=str(data["dtype"]),
            nullable=bool(data["nullable"]),
            low=data.get("low"),
            high=data.get("high"),
            categories=None if categories is None else tuple(str(c) for c in categories),
        )


@dataclass(frozen=True)
class Problem:
    """What is wrong with one value; ``row`` counts from 0 in the checked batch (None: every row)."""

    row: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.field if self.row is None else f"row {self.row}, {self.field}"
        return f"{where}: {self.message}"


class SchemaViolation(DataError):
    """Input the model cannot take; ``problems`` lists each one (the message shows the first)."""

    def __init__(self, problems: Sequence[Problem], *, where: str | None = None) -> None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        super().__init__(f"{first}{more}", where=where)
        self.problems = list(problems)


@dataclass
class FrameCheck:
    """A checked batch: the rows the model can take, in schema order and dtypes, and what was wrong."""

    frame: pd.DataFrame  # every row, schema columns only; invalid values are NaN (numeric) / None
    valid: np.ndarray  # bool per row
    problems: list[Problem] = field(default_factory=list)  # at most MAX_PROBLEMS
    n_problems: int = 0  # all of them, also those not kept

    @property
    def n_invalid(self) -> int:
        return int((~self.valid).sum())


@dataclass(frozen=True)
class FeatureSchema:
    """The model's input columns, in the order the model was trained on them."""

    features: tuple[Feature, ...]
    target: str | None = None
    ids: tuple[str, ...] = ()  # id columns (data.id): accepted with each row and echoed back, never features

    @property
    def names(self) -> list[str]:
        return [feature.name for feature in self.features]

    def __getitem__(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    # -- building and storing ------------------------------------------------------------------

    @classmethod
    def from_frame(
        cls,
        X: pd.DataFrame,  # noqa: N803 - scikit-learn's naming
        *,
        target: str | None = None,
        imputed: Iterable[str] = (),
        ids: Iterable[str] = (),
    ) -> FeatureSchema:
        """The schema of training features ``X``; columns in ``imputed`` accept missing values."""
        imputed = set(imputed)
        features = []
        for column in X.columns:
            series = X[column]
            name = str(column)
            nullable = bool(series.isna().any()) or name in imputed
            if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
                values = series.to_numpy(dtype=np.float64, na_value=np.nan)
                finite = values[np.isfinite(values)]
                low = float(finite.min()) if finite.size else None
                high = float(finite.max()) if finite.size else None
                features.append(Feature(name, "numeric", str(series.dtype), nullable, low, high))
            else:
                categories = tuple(sorted({str(v) for v in series.dropna().unique()}))
                features.append(
                    Feature(name, "categorical", str(series.dtype), nullable, categories=categories)
                )
        return cls(tuple(features), target, tuple(ids))

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "features": [feature.to_dict() for feature in self.features],
            "ids": list(self.ids),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSchema:
        ids = tuple(str(name) for name in data.get("ids", ()))  # versions registered before ids: none
        return cls(tuple(Feature.from_dict(f) for f in data["features"]), data.get("target"), ids)

    # -- checking requests (one record or a few: plain Python, fast) --------------------------------

    def check_records(self, records: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
        """Rows in schema order (float or NaN for numeric, str for categorical), or SchemaViolation.

        JSON-shaped input: numbers must be numbers (not strings or booleans), ``None`` is a missing value.
        """
        problems: list[Problem] = []
        rows: list[list[Any]] = []
        known = set(self.names) | set(self.ids)
        for number, record in enumerate(records):
            if not isinstance(record, Mapping):
                problems.append(Problem(number, "(record)", "expected an object of feature values"))
                continue
            for name in record:
                if name not in known:
                    problems.append(Problem(number, str(name), "unknown field"))
            for name in self.ids:
                if not _is_id_value(record.get(name)):
                    shown = _shown(record.get(name))
                    message = f"expected an ID (text or a whole number), got {shown}"
                    problems.append(Problem(number, name, message))
            row = []
            for feature in self.features:
                value, problem = _check_value(feature, record.get(feature.name, _ABSENT))
                if problem is not None:
                    problems.append(Problem(number, feature.name, problem))
                row.append(value)
            rows.append(row)
            if len(problems) >= MAX_PROBLEMS:
                break
        if problems:
            raise SchemaViolation(problems)
        return rows

    def record_ids(self, records: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
        """The id columns of checked records, column by column (None where a record has none)."""
        return {name: [record.get(name) for record in records] for name in self.ids}

    def frame_from_rows(self, rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
        """Checked rows as the DataFrame the pipeline was trained on (column names and dtypes)."""
        columns: dict[str, Any] = {}
        for position, feature in enumerate(self.features):
            values = [row[position] for row in rows]
            if feature.kind == "numeric":
                columns[feature.name] = np.asarray(values, dtype=np.float64)
            else:
                columns[feature.name] = pd.Series(values, dtype=object)
        return pd.DataFrame(columns)

    # -- checking tables (batch files, the prediction log: vectorised) ------------------------------

    def check_frame(
        self, frame: pd.DataFrame, *, extra: Literal["ignore", "reject"] = "ignore"
    ) -> FrameCheck:
        """Check every row of ``frame``; invalid rows are marked, not dropped (row numbers stay true).

        A missing column makes every row invalid; unknown columns are ignored (batch files often carry ids
        or the target) unless ``extra="reject"``.
        """
        n = len(frame)
        valid = np.ones(n, dtype=bool)
        problems: list[Problem] = []
        counted = [0]

        def report(rows: np.ndarray | None, name: str, message: str) -> None:
            if rows is None:
                counted[0] += 1
                if len(problems) < MAX_PROBLEMS:
                    problems.append(Problem(None, name, message))
                return
            counted[0] += len(rows)
            for row in rows[: max(0, MAX_PROBLEMS - len(problems))]:
                problems.append(Problem(int(row), name, message))

        if extra == "reject":
            for column in frame.columns:
                if str(column) not in set(self.names) | set(self.ids):
                    report(None, str(column), "unknown column")
                    valid[:] = False
        columns: dict[str, Any] = {}
        for feature in self.features:
            if feature.name not in frame.columns:
                report(None, feature.name, "missing column")
                valid[:] = False
                columns[feature.name] = (
                    np.full(n, np.nan) if feature.kind == "numeric" else pd.Series([None] * n, dtype=object)
                )
                continue
            series = frame[feature.name]
            if feature.kind == "numeric":
                values, bad = _numeric_column(feature, series, report)
            else:
                values, bad = _categorical_column(feature, series, report)
            valid &= ~bad
            columns[feature.name] = values
        checked = pd.DataFrame(columns, index=frame.index)
        return FrameCheck(checked, valid, problems, counted[0])


# -- one value ---------------------------------------------------------------------------------------

_ABSENT = object()
MAX_ID_LENGTH = 200


def _is_id_value(value: Any) -> bool:
    """IDs are text or whole numbers (or absent); anything else cannot be echoed or joined on."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return True
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH


def _check_value(feature: Feature, value: Any) -> tuple[Any, str | None]:
    if value is _ABSENT:
        return None, "missing field"
    if value is None:
        if feature.nullable:
            return (math.nan if feature.kind == "numeric" else None), None
        return None, "a value is required (no missing values were seen in training)"
    if feature.kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, f"expected a number, got {_shown(value)}"
        number = float(value)
        if math.isnan(number):
            if feature.nullable:
                return math.nan, None
            return None, "NaN is not allowed (no missing values were seen in training)"
        if math.isinf(number):
            return None, "infinite values are not allowed"
        if abs(number) > FLOAT32_MAX:
            return None, f"{number:.4g} is {BEYOND_FLOAT32}"
        return number, None
    if not isinstance(value, str):
        return None, f"expected a string, got {_shown(value)}"
    if feature.categories is not None and value not in feature.categories:
        return None, f"unseen category {value!r}; expected one of {', '.join(feature.categories)}"
    return value, None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _numeric_column(feature: Feature, series: pd.Series, report: Any) -> tuple[np.ndarray, np.ndarray]:
    if pd.api.types.is_bool_dtype(series):
        report(None, feature.name, "expected numbers, got booleans")
        return np.full(len(series), np.nan), np.ones(len(series), dtype=bool)
    if pd.api.types.is_numeric_dtype(series):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        not_number = np.zeros(len(values), dtype=bool)
    else:  # text in a numeric column: the rows that do not parse are the bad ones
        parsed = pd.to_numeric(series, errors="coerce")
        values = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
        not_number = np.isnan(values) & series.notna().to_numpy()
        if not_number.any():
            report(np.flatnonzero(not_number), feature.name, "not a number")
    missing = np.isnan(values) & ~not_number
    infinite = np.isinf(values)
    if infinite.any():
        report(np.flatnonzero(infinite), feature.name, "infinite values are not allowed")
    huge = np.abs(values) > FLOAT32_MAX
    huge &= ~infinite
    if huge.any():
        report(np.flatnonzero(huge), feature.name, BEYOND_FLOAT32)
    bad = not_number | infinite | huge
    if not feature.nullable and missing.any():
        report(np.flatnonzero(missing), feature.name, "missing value (none were seen in training)")
        bad |= missing
    values = values.copy()
    values[bad] = np.nan
    return values, bad


def _categorical_column(feature: Feature, series: pd.Series, report: Any) -> tuple[pd.Series, np.ndarray]:
    missing = series.isna().to_numpy()
    text = series.astype(object).where(~missing, None)
    # Numbers or booleans in a categorical column are compared as text ("1" is category "1"); the
    # per-value conversion is skipped when every value is text already (the usual case, and 1M rows).
    if pd.api.types.infer_dtype(text, skipna=True) not in ("string", "empty"):
        text = text.map(lambda v: v if v is None or isinstance(v, str) else str(v))
    bad = np.zeros(len(series), dtype=bool)
    if feature.categories is not None:
        unseen = ~missing & ~text.isin(feature.categories).to_numpy()
        if unseen.any():
            rows = np.flatnonzero(unseen)
            shown = ", ".join(repr(v) for v in dict.fromkeys(text.iloc[rows[:50]]))
            expected = ", ".join(feature.categories)
            report(rows, feature.name, f"unseen category ({shown}); expected one of {expected}")
            bad |= unseen
    if not feature.nullable and missing.any():
        report(np.flatnonzero(missing), feature.name, "missing value (none were seen in training)")
        bad |= missing
    text = text.where(~bad, None).astype(object)
    return text, bad
