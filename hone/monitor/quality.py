"""Counting one window of the prediction log, chunk by chunk, for the quality and drift checks.

``WindowCounts.add`` takes a pandas DataFrame or an Arrow table/record batch and keeps only counts and
small samples, so a window of a million logged rows is checked in bounded memory by feeding it in chunks
(the log's Parquet parts read a few at a time, as ``bench/monitor.py`` does). Everything is numpy on
whole columns: each numeric column is sorted once and every count (profile bins, the KS points, range,
the most frequent value) is a ``searchsorted`` into it; categories are looked up with Arrow's hash-based
``index_in``; duplicate rows are found from one 64-bit hash per row. ``hone.monitor.checks`` turns the
counts into verdicts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from hone.config.schema import MonitorSettings
from hone.data.profile import CategoricalProfile, NumericProfile, ReferenceProfile
from hone.data.schema import Feature, FeatureSchema
from hone.monitor.drift import ReferenceCdf
from hone.store.logbook import label_text

Table = pd.DataFrame | pa.Table | pa.RecordBatch
# Rows kept for the rank correlations of the noise check: the correlation's standard error is then
# about 0.007, far below any threshold worth setting, at a cost independent of the window's size.
SAMPLE_ROWS = 20_000
MAX_CANDIDATES = 16  # most-frequent-value candidates tracked per column across chunks
MAX_UNSEEN = 500  # distinct unseen categories counted per chunk
_MISSING_CODE = np.uint64(0x5EED_0000_0000_0001)  # a missing category in the row hash
_NAN_BITS = np.float64(np.nan).view(np.uint64)  # every NaN hashes the same
# Distinct row hashes kept from a window to find its rows again in the next one (512 KB stored per model).
SKETCH_ROWS = 65_536


def _mix(h: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: spreads every input bit over the 64-bit hash (a bijection)."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


# -- reading a column ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NumericValues:
    values: np.ndarray  # float64; NaN where missing or not a number
    not_number: np.ndarray | None  # text that is not a number (a producer that skipped validation)
    boolean: bool = False  # a column of booleans: every row fails the schema, as check_frame says


def numeric_values(column: pd.Series | pa.ChunkedArray | pa.Array | None, n: int) -> NumericValues:
    if column is None:
        return NumericValues(np.full(n, np.nan), None)
    if isinstance(column, (pa.Array, pa.ChunkedArray)):
        if pa.types.is_floating(column.type) or pa.types.is_integer(column.type):
            return NumericValues(np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64), None)
        column = column.to_pandas()
    if pd.api.types.is_bool_dtype(column):
        return NumericValues(np.full(n, np.nan), None, boolean=True)
    if pd.api.types.is_numeric_dtype(column):
        return NumericValues(column.to_numpy(dtype=np.float64, na_value=np.nan), None)
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return NumericValues(values, np.isnan(values) & column.notna().to_numpy())


def text_values(column: pd.Series | pa.ChunkedArray | pa.Array | None, n: int) -> pa.Array | pa.ChunkedArray:
    """A column as Arrow strings, nulls where missing (non-strings as ``str`` makes them)."""
    if column is None:
        return pa.nulls(n, pa.string())
    if isinstance(column, pd.Series):
        try:
            column = pa.array(column, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types in an object column
            shown = column.map(lambda v: v if v is None or isinstance(v, str) or pd.isna(v) else str(v))
            column = pa.array(shown, from_pandas=True, type=pa.string())
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = pc.cast(column, pa.string())
    return column


def _as_numpy(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False))


# -- one column over the window -----------------------------------------------------------------------


@dataclass
class NumericColumn:
    """What one numeric column looked like over the window's chunks."""

    profile: NumericProfile | None
    stuck_share: float
    cdf: ReferenceCdf | None = None
    rows: int = 0
    missing: int = 0
    present: int = 0  # not missing (infinite values included, as the profile's bins count them)
    out_of_range: int = 0  # outside [low, high] seen in training
    bins: np.ndarray | None = None  # per profile bin
    at_or_below: np.ndarray | None = None  # per reference CDF knot
    candidates: dict[float, int] = field(default_factory=dict)  # most frequent values -> count

    def __post_init__(self) -> None:
        if self.profile is not None:
            self.cdf = ReferenceCdf.from_profile(self.profile)
            self.bins = np.zeros(len(self.profile.edges) + 1, dtype=np.int64)
        if self.cdf is not None:
            self.at_or_below = np.zeros(len(self.cdf.knots), dtype=np.int64)

    def add(self, values: np.ndarray) -> None:
        ordered = np.sort(values)  # NaN sorts last
        present = len(values) - int(np.count_nonzero(np.isnan(values)))
        ordered = ordered[:present]
        self.rows += len(values)
        self.missing += len(values) - present
        self.present += present
        if self.profile is not None and self.bins is not None:
            # (e_{i-1}, e_i] as the profile's bin_counts: "at or below e_i" is searchsorted(side="right").
            below = np.searchsorted(ordered, np.asarray(self.profile.edges), side="right")
            self.bins += np.diff(np.concatenate([[0], below, [present]]))
            if self.profile.low is not None and self.profile.high is not None:
                self.out_of_range += int(np.searchsorted(ordered, self.profile.low, side="left"))
                self.out_of_range += present - int(np.searchsorted(ordered, self.profile.high, side="right"))
        if self.cdf is not None and self.at_or_below is not None:
            self.at_or_below += np.searchsorted(ordered, self.cdf.knots, side="right")
        self._count_candidates(ordered)

    def _count_candidates(self, ordered: np.ndarray) -> None:
        """Track values that may be the window's most frequent one, with exact counts from then on.

        A value holding more than a share s of the window holds more than s of some chunk, so it becomes a
        candidate no later than that chunk; rows of earlier chunks are not counted for it, which makes its
        share a lower bound (exact when the window is one chunk, as with ``check_window``).
        """
        n = len(ordered)
        if n == 0:
            return
        starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
        lengths = np.diff(np.append(starts, n))
        chosen = np.flatnonzero(lengths > self.stuck_share * n)
        top = int(np.argmax(lengths))
        for value in {float(ordered[starts[i]]) for i in (*chosen.tolist(), top)}:
            self.candidates.setdefault(value, 0)
        known = np.fromiter(self.candidates, dtype=np.float64)
        counts = np.searchsorted(ordered, known, side="right") - np.searchsorted(ordered, known, side="left")
        for value, count in zip(known.tolist(), counts.tolist(), strict=True):
            self.candidates[value] += count
        if len(self.candidates) > MAX_CANDIDATES:
            kept = sorted(self.candidates, key=self.candidates.__getitem__, reverse=True)[:MAX_CANDIDATES]
            self.candidates = {value: self.candidates[value] for value in kept}

    def top(self) -> tuple[float | None, float]:
        """The most frequent value and (a lower bound of) its share of the present values."""
        if not self.candidates or self.present == 0:
            return None, 0.0
        value = max(self.candidates, key=self.candidates.__getitem__)
        return value, self.candidates[value] / self.present


@dataclass
class CategoricalColumn:
    """What one categorical column looked like over the window's chunks."""

    profile: CategoricalProfile | None
    categories: list[str]  # the profile's, in its order (its bins); unseen ones go to one more slot
    rows: int = 0
    missing: int = 0
    counts: np.ndarray | None = None  # per category, then unseen
    unseen_values: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.counts = np.zeros(len(self.categories) + 1, dtype=np.int64)
        self._value_set = pa.array(self.categories, type=pa.string())

    @property
    def present(self) -> int:
        return self.rows - self.missing

    @property
    def unseen(self) -> int:
        return int(self.counts[-1]) if self.counts is not None else 0

    def add(self, text: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
        """Count a chunk; returns each row's code (-1 missing, -2 unseen) and its hash part."""
        missing = _as_numpy(text.is_null())
        codes = _as_numpy(pc.fill_null(pc.index_in(text, value_set=self._value_set), -2)).astype(np.int64)
        codes[missing] = -1
        unseen = codes == -2
        self.rows += len(codes)
        self.missing += int(missing.sum())
        assert self.counts is not None
        self.counts[:-1] += np.bincount(codes[codes >= 0], minlength=len(self.categories))
        bits = codes.astype(np.uint64)
        bits[missing] = _MISSING_CODE
        if unseen.any():
            self.counts[-1] += int(unseen.sum())
            strange = _as_numpy(text.filter(pa.array(unseen))).astype(object)
            # The most frequent few hundred are enough for messages and the stuck check, whatever the feed.
            for value, count in pd.Series(strange).value_counts().head(MAX_UNSEEN).items():
                self.unseen_values[str(value)] = self.unseen_values.get(str(value), 0) + int(count)
            # Unseen values hash by their text, with the top bit set to stay clear of the codes.
            bits[unseen] = pd.util.hash_array(strange) | np.uint64(1 << 63)
        return codes, bits

    def top(self) -> tuple[str | None, float]:
        if self.present == 0 or self.counts is None:
            return None, 0.0
        known = int(np.argmax(self.counts[:-1])) if self.categories else -1
        best = (self.categories[known], int(self.counts[known])) if known >= 0 else (None, 0)
        for value, count in self.unseen_values.items():
            if count > best[1]:
                best = (value, count)
        return best[0], best[1] / self.present


def reference_top_share(reference: Any) -> float:
    """The training share of the most frequent value (numeric: from runs of equal stored percentiles)."""
    if isinstance(reference, CategoricalProfile):
        return max(reference.frequencies.values()) / reference.n if reference.n else 0.0
    if isinstance(reference, NumericProfile) and len(reference.percentiles) > 1:
        percentiles = np.asarray(reference.percentiles)
        starts = np.flatnonzero(np.concatenate([[True], percentiles[1:] != percentiles[:-1]]))
        longest = int(np.diff(np.append(starts, len(percentiles))).max())
        return min(1.0, longest / (len(percentiles) - 1))
    return 0.0


# -- rows: duplicates and the correlation sample ----------------------------------------------------------


class Reservoir:
    """A uniform sample of at most ``size`` rows: the rows with the smallest random keys seen so far."""

    def __init__(self, size: int, width: int) -> None:
        self.size = size
        self.keys = np.empty(0)
        self.rows = np.empty((0, width))

    def admits(self, keys: np.ndarray) -> np.ndarray:
        """Positions of the new rows that can enter: only those are worth gathering into a matrix."""
        pooled = np.concatenate([self.keys, keys])
        if len(pooled) <= self.size:
            return np.arange(len(keys))
        worst = np.partition(pooled, self.size - 1)[self.size - 1]
        return np.flatnonzero(keys <= worst)

    def add(self, keys: np.ndarray, rows: np.ndarray) -> None:
        keys = np.concatenate([self.keys, keys])
        rows = np.concatenate([self.rows, rows])
        if len(keys) > self.size:
            kept = np.argpartition(keys, self.size - 1)[: self.size]
            keys, rows = keys[kept], rows[kept]
        self.keys, self.rows = keys, rows


def sort_hashes(hashes: Sequence[np.ndarray]) -> np.ndarray:
    """A window's row hashes in one sorted array (sorted in place: a million rows need only their 8 MB)."""
    if not hashes:
        return np.empty(0, dtype=np.uint64)
    ordered = np.concatenate(hashes)
    ordered.sort()
    return ordered


def duplicate_share(ordered: np.ndarray) -> float:
    """Share of rows whose hash repeats an earlier row's, from the window's sorted hashes."""
    if len(ordered) == 0:
        return 0.0
    return float(np.count_nonzero(ordered[1:] == ordered[:-1]) / len(ordered))


def row_sketch(ordered: np.ndarray, size: int = SKETCH_ROWS) -> np.ndarray:
    """The ``size`` smallest distinct hashes of a window (sorted).

    Every distinct hash up to the largest kept is in it, so the next window can tell exactly which of its
    rows with hashes in that range were rows of this one, without keeping a million hashes.
    """
    if len(ordered) == 0:
        return ordered.copy()
    first = np.empty(len(ordered), dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first][:size].copy()


def repeat_share(ordered: np.ndarray, previous: np.ndarray, size: int = SKETCH_ROWS) -> float | None:
    """Share of a window's rows that were rows of the window before, from that window's ``row_sketch``.

    Only rows with hashes in the sketch's range count (hashes are uniform, so they are a fair sample of
    the window). None when there is nothing to compare with.
    """
    if len(previous) == 0 or len(ordered) == 0:
        return None
    # A full sketch covers hashes up to its largest; a short one holds every hash of its window.
    covered = ordered if len(previous) < size else ordered[: np.searchsorted(ordered, previous[-1], "right")]
    if len(covered) == 0:
        return None
    at = np.minimum(np.searchsorted(previous, covered), len(previous) - 1)
    return float(np.count_nonzero(previous[at] == covered) / len(covered))


# -- the window -------------------------------------------------------------------------------------------


class WindowCounts:
    """Everything the checks need from one window, accumulated chunk by chunk (``add`` returns self)."""

    def __init__(
        self,
        *,
        schema: FeatureSchema,
        profile: ReferenceProfile,
        settings: MonitorSettings,
        task: str,
        random_state: int = 0,
    ) -> None:
        self.schema, self.profile, self.settings, self.task = schema, profile, settings, task
        stuck = settings.quality.stuck_share
        self.columns: dict[str, NumericColumn | CategoricalColumn] = {}
        for feature in schema.features:
            reference = profile.features.get(feature.name)
            self.columns[feature.name] = _column(feature.kind, reference, stuck, feature.categories)
        self.prediction = _column(
            "categorical" if task == "classification" else "numeric", profile.predictions, stuck, None
        )
        self.rows = 0
        self.invalid_rows = 0
        self.invalid_by_feature: dict[str, int] = {}
        self.hashes: list[np.ndarray] = []
        self._hashes_sorted = False
        self.start: datetime | None = None
        self.end: datetime | None = None
        self.versions: set[int] = set()
        self.labelled_truth: list[np.ndarray] = []
        self.labelled_pred: list[np.ndarray] = []
        # Rank correlations of the noise check: numeric features, then the prediction, then the label.
        self.sampled = [f.name for f in schema.features if f.kind == "numeric"]
        self._rng = np.random.default_rng(random_state)
        width = len(self.sampled) + 2
        self.sample = Reservoir(SAMPLE_ROWS, width)
        self.labelled_sample = Reservoir(SAMPLE_ROWS, width)

    @property
    def n_labelled(self) -> int:
        return sum(len(y) for y in self.labelled_truth)

    def ordered_hashes(self) -> np.ndarray:
        """The window's row hashes, sorted (once: the chunks' arrays are replaced by the sorted one)."""
        if len(self.hashes) != 1 or not self._hashes_sorted:
            self.hashes = [sort_hashes(self.hashes)]
            self._hashes_sorted = True
        return self.hashes[0]

    def add(self, rows: Table, labels: Any = None) -> WindowCounts:
        """Count a chunk of log rows; ``labels`` aligned with them (NaN / None where not known yet)."""
        n = rows.num_rows if isinstance(rows, (pa.Table, pa.RecordBatch)) else len(rows)
        if n == 0:
            return self
        names = set(rows.column_names if isinstance(rows, (pa.Table, pa.RecordBatch)) else rows.columns)

        def column(name: str) -> Any:
            return rows[name] if name in names else None

        invalid = np.zeros(n, dtype=bool)
        row_hash = np.full(n, np.uint64(0x9E3779B97F4A7C15))
        numeric: dict[str, np.ndarray] = {}
        for feature in self.schema.features:
            summary = self.columns[feature.name]
            if isinstance(summary, NumericColumn):
                read = numeric_values(column(feature.name), n)
                bad = _numeric_invalid(read, feature, present=feature.name in names)
                summary.add(read.values)
                numeric[feature.name] = read.values
                bits = (read.values + 0.0).view(np.uint64)  # + 0.0: -0.0 and 0.0 hash the same
                bits = np.where(np.isnan(read.values), _NAN_BITS, bits)
            else:
                text = text_values(column(feature.name), n)
                codes, bits = summary.add(text)
                bad = _categorical_invalid(codes, text, feature, summary, present=feature.name in names)
            row_hash = _mix(row_hash * np.uint64(0x100000001B3) ^ bits)
            if bad.any():
                count = int(bad.sum())
                self.invalid_by_feature[feature.name] = self.invalid_by_feature.get(feature.name, 0) + count
                invalid |= bad
        self.rows += n
        self.invalid_rows += int(invalid.sum())
        self.hashes.append(row_hash)
        self._hashes_sorted = False
        prediction = self._add_prediction(column("prediction"), n)
        truth = self._add_labels(labels, prediction, n)
        self._add_sample(numeric, prediction, truth, n)
        self._add_times(column("ts"), column("model_version"))
        return self

    def _add_prediction(self, column: Any, n: int) -> np.ndarray | None:
        if column is None:
            return None
        if isinstance(self.prediction, NumericColumn):
            values = numeric_values(column, n).values
            self.prediction.add(values)
            return values
        text = text_values(column, n)
        self.prediction.add(text)
        return _as_numpy(text).astype(object)

    def _add_labels(self, labels: Any, prediction: np.ndarray | None, n: int) -> np.ndarray | None:
        if labels is None or prediction is None:
            return None
        if len(labels) != n:
            raise ValueError(f"labels has {len(labels)} values for {n} rows")
        if self.task == "classification":
            raw = pd.Series(np.asarray(labels, dtype=object))
            known = raw.notna().to_numpy()
            truth = np.asarray([label_text(v) for v in raw[known]], dtype=object)
            self.labelled_truth.append(truth)
            self.labelled_pred.append(np.asarray(prediction[known], dtype=object))
            return None  # class labels have no rank correlation with the features
        values = numeric_values(labels if isinstance(labels, pd.Series) else pd.Series(labels), n).values
        known = ~np.isnan(values)
        self.labelled_truth.append(values[known])
        self.labelled_pred.append(prediction[known])
        return values

    def _add_sample(
        self, numeric: dict[str, np.ndarray], prediction: np.ndarray | None, truth: np.ndarray | None, n: int
    ) -> None:
        keys = self._rng.random(n)  # drawn for every chunk, so the sample does not depend on chunking
        numeric_prediction = prediction if isinstance(self.prediction, NumericColumn) else None
        columns = [numeric[name] for name in self.sampled]
        columns += [numeric_prediction, truth]
        self._sample_into(self.sample, keys, columns, None)
        if truth is not None:
            self._sample_into(self.labelled_sample, keys, columns, np.flatnonzero(~np.isnan(truth)))

    @staticmethod
    def _sample_into(
        reservoir: Reservoir, keys: np.ndarray, columns: list[np.ndarray | None], rows: np.ndarray | None
    ) -> None:
        """Offer the rows (all, or the positions ``rows``); only those that enter are gathered."""
        positions = np.arange(len(keys)) if rows is None else rows
        entering = positions[reservoir.admits(keys[positions])]
        gathered = [np.full(len(entering), np.nan) if c is None else c[entering] for c in columns]
        reservoir.add(keys[entering], np.column_stack(gathered))

    def _add_times(self, ts: Any, versions: Any) -> None:
        if ts is not None:
            low, high = _time_range(ts)
            if low is not None and high is not None:
                self.start = low if self.start is None else min(self.start, low)
                self.end = high if self.end is None else max(self.end, high)
        if versions is not None:
            if isinstance(versions, (pa.Array, pa.ChunkedArray)):
                found = pc.unique(versions.drop_null()).to_pylist()
            else:
                found = pd.unique(versions.dropna()).tolist()
            self.versions.update(int(v) for v in found)


def _column(
    kind: str, reference: Any, stuck_share: float, categories: Sequence[str] | None
) -> NumericColumn | CategoricalColumn:
    if kind == "numeric":
        return NumericColumn(reference if isinstance(reference, NumericProfile) else None, stuck_share)
    if isinstance(reference, CategoricalProfile):
        return CategoricalColumn(reference, reference.categories)
    return CategoricalColumn(None, list(categories or ()))


def _numeric_invalid(read: NumericValues, feature: Feature, *, present: bool) -> np.ndarray:
    """Rows ``FeatureSchema.check_frame`` would refuse for this numeric feature (the same rules)."""
    n = len(read.values)
    if not present or read.boolean:
        return np.ones(n, dtype=bool)
    bad = np.isinf(read.values)
    if read.not_number is not None:
        bad |= read.not_number
    if not feature.nullable:
        bad |= np.isnan(read.values)  # missing, or text that is not a number
    return bad


def _categorical_invalid(
    codes: np.ndarray, text: Any, feature: Feature, summary: CategoricalColumn, *, present: bool
) -> np.ndarray:
    if not present:
        return np.ones(len(codes), dtype=bool)
    bad = codes == -1 if not feature.nullable else np.zeros(len(codes), dtype=bool)
    if feature.categories is None:
        return bad
    if set(feature.categories) == set(summary.categories):
        return bad | (codes == -2)
    allowed = pa.array(list(feature.categories), type=pa.string())
    outside = ~_as_numpy(pc.is_in(text, value_set=allowed)).astype(bool)
    return bad | (outside & (codes != -1))


def _time_range(ts: Any) -> tuple[datetime | None, datetime | None]:
    if isinstance(ts, (pa.Array, pa.ChunkedArray)):
        bounds = pc.min_max(ts)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
    else:
        low, high = ts.min(), ts.max()
        low = None if pd.isna(low) else pd.Timestamp(low).to_pydatetime()
        high = None if pd.isna(high) else pd.Timestamp(high).to_pydatetime()
    return _utc(low), _utc(high)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or (isinstance(moment, float) and math.isnan(moment)):
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
