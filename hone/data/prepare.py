"""Feature preparation: the book's ``full_pipeline`` as a ColumnTransformer with readable names.

Numeric columns are imputed, extended with derived features (``"a / b"``) and scaled; categorical
columns are one-hot encoded. Output feature names are bare (``median_income``, ``INLAND``), so
importances read like the book's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from hone.data.sources import row_ref
from hone.errors import DataError, did_you_mean

IMPUTE_CHOICES = ("median", "mean", "most_frequent", "none")
SCALE_CHOICES = ("standard", "minmax", "none")
OPERATORS = ("/", "*", "+", "-")

# An operand is a plain column name, or any name in backticks (as in pandas.eval).
_OPERAND = r"`[^`]+`|[A-Za-z_][A-Za-z0-9_.]*"
_EXPRESSION = re.compile(rf"^\s*(?P<left>{_OPERAND})\s*(?P<op>[-+*/])\s*(?P<right>{_OPERAND})\s*$")


def parse_expression(name: str, expression: str) -> tuple[str, str, str]:
    """``"a / b"`` -> ``("a", "/", "b")``; anything but two columns and one operator is refused."""
    match = _EXPRESSION.match(expression) if isinstance(expression, str) else None
    if match is None:
        raise DataError(
            f"derived feature {name!r}: cannot read {expression!r}; expected '<column> <op> <column>'"
            f" with <op> one of {' '.join(OPERATORS)}",
            where="prepare.derived",
        )
    left, right = (match.group(side).strip("`") for side in ("left", "right"))
    return left, match.group("op"), right


@dataclass
class PrepareSpec:
    """What to do to the features; ``None`` column lists mean "infer from the dtypes"."""

    numeric: list[str] | None = None
    categorical: list[str] | None = None
    impute: str = "median"
    scale: str = "standard"
    one_hot: bool = True
    derived: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.impute not in IMPUTE_CHOICES:
            choices = ", ".join(IMPUTE_CHOICES)
            raise DataError(f"unknown impute {self.impute!r}; choose one of {choices}", where="prepare")
        if self.scale not in SCALE_CHOICES:
            choices = ", ".join(SCALE_CHOICES)
            raise DataError(f"unknown scale {self.scale!r}; choose one of {choices}", where="prepare")
        if not isinstance(self.derived, dict):
            raise DataError("derived must map feature names to expressions", where="prepare.derived")
        for name, expression in self.derived.items():
            parse_expression(name, expression)


def _apply(op: str, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    if op == "/":
        return left / right
    if op == "*":
        return left * right
    if op == "+":
        return left + right
    return left - right


class DerivedFeatures(TransformerMixin, BaseEstimator):
    """Append features computed from two input columns, e.g. ``rooms_per_hhold = total_rooms / households``.

    ``columns`` names the input columns in order (the numeric block arrives as a bare array after
    imputation); ``derived`` maps each new feature to its expression, in output order.
    """

    def __init__(self, columns: list[str] | None = None, derived: dict[str, str] | None = None) -> None:
        self.columns = columns
        self.derived = derived

    def _input_names(self) -> list[str]:
        if self.columns is not None:
            return list(self.columns)
        if hasattr(self, "feature_names_in_"):
            return [str(c) for c in self.feature_names_in_]
        raise ValueError("DerivedFeatures needs `columns` when fitted on an array without column names")

    def fit(self, X, y=None):  # noqa: N803 - scikit-learn's naming
        validate_data(self, X, reset=True, dtype=np.float64, ensure_all_finite=False)
        names = self._input_names()
        if len(names) != self.n_features_in_:
            raise ValueError(f"{len(names)} column names given for {self.n_features_in_} input columns")
        position = {name: i for i, name in enumerate(names)}
        operations = []
        for feature, expression in (self.derived or {}).items():
            left, op, right = parse_expression(feature, expression)
            for operand in (left, right):
                if operand not in position:
                    raise DataError(
                        f"derived feature {feature!r} uses column {operand!r}, which is not a numeric input",
                        where="prepare.derived",
                    )
            operations.append((feature, expression, position[left], op, position[right]))
        self.operations_ = operations
        return self

    def transform(self, X):  # noqa: N803 - scikit-learn's naming
        check_is_fitted(self, "operations_")
        X = validate_data(self, X, reset=False, dtype=np.float64, ensure_all_finite=False)  # noqa: N806
        new_columns = []
        for feature, expression, left, op, right in self.operations_:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                values = _apply(op, X[:, left], X[:, right])
            # inf/NaN from finite inputs (a zero denominator) would only fail later, obscurely, in the scaler.
            broken = ~np.isfinite(values) & np.isfinite(X[:, left]) & np.isfinite(X[:, right])
            if broken.any():  # rows from a file were checked by check_derived_values: these are not
                first = int(broken.argmax())
                raise DataError(
                    f"derived feature {feature!r} = {expression!r} is not finite in"
                    f" {int(broken.sum())} row(s) (first at row {first + 1} of the batch; division by zero?)",
                    where="prepare.derived",
                )
            new_columns.append(values)
        if not new_columns:
            return X
        return np.column_stack([X, *new_columns])

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "operations_")
        names = list(input_features) if input_features is not None else self._input_names()
        if len(names) != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} input feature names, got {len(names)}")
        return np.asarray([*map(str, names), *(op[0] for op in self.operations_)], dtype=object)


def check_derived_values(derived: Mapping[str, str], frame: pd.DataFrame, source: str) -> None:
    """Refuse a derived feature that is not finite where its inputs are (a zero denominator), naming the
    first such row by its place in ``source`` (``frame`` is the table in file order, index from 0).

    Checked on the table as read, before the split shuffles it, so the message points into the file.
    """
    for feature, expression in derived.items():
        left, op, right = parse_expression(feature, expression)
        if not all(name in frame.columns and _is_numeric(frame[name]) for name in (left, right)):
            continue  # build_preparation names what is wrong with the operands
        a = frame[left].to_numpy(dtype=np.float64, na_value=np.nan)
        b = frame[right].to_numpy(dtype=np.float64, na_value=np.nan)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            values = _apply(op, a, b)
        broken = np.flatnonzero(~np.isfinite(values) & np.isfinite(a) & np.isfinite(b))
        if broken.size:
            first = int(broken[0])
            raise DataError(
                f"prepare.derived: {feature!r} = {expression!r} is not finite in {broken.size} row(s), first"
                f" at {row_ref(first, source)} ({left}={a[first]:g}, {right}={b[first]:g};"
                " division by zero?)",
                where=source,
            )


def _category_name(feature: str, category: object) -> str:
    # Bare category values ("INLAND"), as in the book's importance listing. Module-level so it pickles.
    return str(category)



def _check_listed(names: list[str], key: str, frame: pd.DataFrame, target: str) -> None:
    available = [str(c) for c in frame.columns]
    for name in names:
        if name == target:
            raise DataError(
                f"column {name!r} is the target; it cannot also be a feature", where=f"prepare.{key}"
            )
        if name not in available:
            raise DataError(
                f"column {name!r} not found{did_you_mean(name, available)};"
                f" available columns: {', '.join(available)}",
                where=f"prepare.{key}",
            )


def _is_categorical(series: pd.Series) -> bool:
    return (
        pd.api.types.is_bool_dtype(series)
        or pd.api.types.is_object_dtype(series)
        or pd.api.types.is_string_dtype(series)
        or isinstance(series.dtype, pd.CategoricalDtype)
    )


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _feature_columns(spec: PrepareSpec, frame: pd.DataFrame, target: str) -> tuple[list[str], list[str]]:
    if spec.numeric is not None:
        _check_listed(spec.numeric, "numeric", frame, target)
        for name in spec.numeric:
            if not _is_numeric(frame[name]):
                raise DataError(
                    f"column {name!r} is listed as numeric but has dtype {frame[name].dtype}",
                    where="prepare.numeric",
                )
    if spec.categorical is not None:
        _check_listed(spec.categorical, "categorical", frame, target)
    taken = set(spec.numeric or []) | set(spec.categorical or [])
    both = set(spec.numeric or []) & set(spec.categorical or [])
    if both:
        listed = ", ".join(sorted(both))
        raise DataError(f"column(s) listed as both numeric and categorical: {listed}", where="prepare")
    rest = [str(c) for c in frame.columns if c != target and c not in taken]
    numeric = list(spec.numeric) if spec.numeric is not None else [c for c in rest if _is_numeric(frame[c])]
    if spec.categorical is not None:
        categorical = list(spec.categorical)
    else:
        categorical = [c for c in rest if c not in numeric and _is_categorical(frame[c])]
        if spec.numeric is None:
            # Inferring both lists: a column fitting neither (dates, say) would silently vanish.
            for column in rest:
                if column not in numeric and column not in categorical:
                    raise DataError(
                        f"column {column!r} has dtype {frame[column].dtype}, which is neither numeric nor"
                        " categorical; drop it or list the feature columns explicitly",
                        where="prepare",
                    )
    return numeric, categorical


def _check_derived(spec: PrepareSpec, frame: pd.DataFrame, numeric: list[str]) -> None:
    available = [str(c) for c in frame.columns]
    for feature, expression in spec.derived.items():
        if feature in available:
            raise DataError(
                f"derived feature {feature!r} has the name of an existing column", where="prepare.derived"
            )
        left, _, right = parse_expression(feature, expression)
        for operand in (left, right):
            if operand not in available:
                raise DataError(
                    f"derived feature {feature!r} = {expression!r} uses column {operand!r},"
                    f" which is not in the data{did_you_mean(operand, available)}",
                    where="prepare.derived",
                )
            if operand not in numeric:
                raise DataError(
                    f"derived feature {feature!r} = {expression!r} uses column {operand!r},"
                    " which is not one of the numeric columns",
                    where="prepare.derived",
                )


def _numeric_block(spec: PrepareSpec, numeric: list[str]) -> Pipeline | str:
    steps: list[tuple[str, object]] = []
    if spec.impute != "none":
        # keep_empty_features: a column with no values in a CV fold must not shift the positions
        # DerivedFeatures relies on.
        steps.append(("impute", SimpleImputer(strategy=spec.impute, keep_empty_features=True)))
    if spec.derived:
        steps.append(("derive", DerivedFeatures(columns=list(numeric), derived=dict(spec.derived))))
    if spec.scale == "standard":
        steps.append(("scale", StandardScaler()))
    elif spec.scale == "minmax":
        steps.append(("scale", MinMaxScaler()))
    return Pipeline(steps) if steps else "passthrough"


def _categorical_block(spec: PrepareSpec, categorical: list[str]) -> OneHotEncoder | OrdinalEncoder:
    if not spec.one_hot:
        return OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    # With several categorical columns bare values could collide ("yes" in two columns), so those
    # keep scikit-learn's "column_value" names.
    combiner = _category_name if len(categorical) == 1 else "concat"
    # handle_unknown="ignore": an unseen category at serving time encodes as all zeros; on the
    # training data the matrix is the same as the book's OneHotEncoder().
    return OneHotEncoder(handle_unknown="ignore", sparse_output=False, feature_name_combiner=combiner)


def build_preparation(spec: PrepareSpec, frame: pd.DataFrame, target: str) -> ColumnTransformer:
    """An unfitted ColumnTransformer for ``frame``'s features (the target column is left out)."""
    numeric, categorical = _feature_columns(spec, frame, target)
    if spec.derived:
        _check_derived(spec, frame, numeric)
    if not numeric and not categorical:
        raise DataError(f"no feature columns besides the target {target!r}", where="prepare")
    transformers = []
    if numeric:
        transformers.append(("num", _numeric_block(spec, numeric), numeric))
    if categorical:
        transformers.append(("cat", _categorical_block(spec, categorical), categorical))
    return ColumnTransformer(
        transformers, remainder="drop", sparse_threshold=0.0, verbose_feature_names_out=False
    )


def source_columns(preparation: ColumnTransformer) -> dict[str, str]:
    """Each prepared feature name -> the column it came from (one-hot values -> their column)."""
    check_is_fitted(preparation)
    sources: dict[str, str] = {}
    for _, transformer, columns in preparation.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        columns = [str(c) for c in columns]
        if not columns:
            continue
        if isinstance(transformer, str):  # "passthrough"
            sources.update({c: c for c in columns})
            continue
        names = [str(n) for n in transformer.get_feature_names_out(columns)]
        if isinstance(transformer, OneHotEncoder):
            owners = [col for col, cats in zip(columns, transformer.categories_, strict=True) for _ in cats]
            if len(owners) != len(names):
                raise ValueError("one-hot names do not match the categories (drop/infrequent unsupported)")
            sources.update(zip(names, owners, strict=True))
        else:
            # Numeric, derived and ordinal-encoded features are their own source.
            sources.update({name: name for name in names})
    return sources
