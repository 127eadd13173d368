"""Columns that are not features: the project's id and dropped columns, and text columns that look like them.

A column holding a different text in every row (an ID) or long free text cannot generalise as a category:
every new row would be an unseen category. Such columns are refused before tuning with a message naming the
column and the two ways out (``data.id``, ``data.drop``), unless the project declares them categorical.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from hone.errors import DataError, did_you_mean

if TYPE_CHECKING:
    from hone.config.schema import ProjectConfig

# Fewer rows than this cannot tell an ID from a category that happens to be unique.
MIN_ROWS = 20
# Text whose typical value is at least this long is free text, not a category.
LONG_TEXT = 40


def check_not_features(frame: pd.DataFrame, ids: list[str], drop: list[str], *, source: str) -> None:
    """Every column named in data.id and data.drop is in the table."""
    names = [str(column) for column in frame.columns]
    for key, columns in (("id", ids), ("drop", drop)):
        for column in columns:
            if column not in names:
                hint = did_you_mean(column, names)
                raise DataError(
                    f"{key} column {column!r} (data.{key}) not found{hint}; available columns:"
                    f" {', '.join(names)}",
                    where=source,
                )


def refuse_identifiers(frame: pd.DataFrame, config: ProjectConfig, *, source: str) -> None:
    """Refuse the first undeclared text column that looks like an ID or free text (see the module doc)."""
    declared = set(config.prepare.categorical or ())
    for column in frame.columns:
        name = str(column)
        if name == config.data.target or name in declared:
            continue
        why = identifier_reason(frame[column])
        if why is not None:
            raise DataError(
                f"column {name!r} looks like {why}: not a feature a model can use; list it under data.id"
                f" (kept with each row, echoed by predictions) or data.drop (ignored)",
                where=source,
            )


def identifier_reason(series: pd.Series) -> str | None:
    """Why ``series`` looks like an ID or free text, or None when it may be a feature."""
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return None
    present = series.dropna().astype(str)
    if len(present) < MIN_ROWS:
        return None
    if present.nunique() == len(present):
        return f"an ID (a different value in each of its {len(present):,} rows)"
    median_length = float(present.str.len().median())
    if median_length >= LONG_TEXT:
        return f"free text (values of {median_length:.0f} characters typically)"
    return None
