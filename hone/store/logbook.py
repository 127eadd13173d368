"""The prediction log: every served prediction and every feedback label, as Parquet parts by date.

Layout (what monitoring reads)::

    <root>/<model>/predictions/date=YYYY-MM-DD/part-<unix_ns>-<pid>-<seq>.parquet
        prediction_id string, ts timestamp[us, UTC], model_version int32,
        one column per feature (float64 numeric, string categorical),
        prediction float64 (regression) or string (classification)
    <root>/<model>/feedback/date=YYYY-MM-DD/part-*.parquet
        prediction_id string, ts timestamp[us, UTC], label float64 or string

Small parts of a day are merged into ``merged-*.parquet`` files as they accumulate (see ``compact``); read
the log with ``read_predictions`` / ``read_feedback``, which know which files a merge replaced.

The service only enqueues (a few microseconds); one background thread turns batches into parts. Each file
is written under a dot-name in its folder and renamed, so readers (which skip dot-files) never see half a
file. A failing write is logged and counted, never raised into a request.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyarrow.fs import LocalFileSystem

from hone.data.schema import FeatureSchema
from hone.errors import DataError, StoreError

__all__ = ["PredictionIds", "PredictionLog", "compact", "label_text", "read_feedback", "read_predictions"]

logger = logging.getLogger("hone.log")

TIMESTAMP = pa.timestamp("us", tz="UTC")
PREDICTION_COLUMNS = ("prediction_id", "ts", "model_version")
FEEDBACK_COLUMNS = ("prediction_id", "ts", "label")
# Parts of a day merged into one file, merged files merged again, and the size where that stops.
COMPACT_PARTS = 32
COMPACT_MERGED = 8
MERGED_BYTES = 64 * 1024 * 1024
REPLACES = b"hone.replaces"  # footer key: the files a merged file replaces
READ_ATTEMPTS = 3
# Beyond this many rows waiting for the writer, new rows are dropped (and counted) instead of growing
# memory without bound when the disk cannot keep up.
MAX_PENDING_ROWS = 1_000_000


def label_text(value: Any) -> str:
    """A class label as text, the same for 1, 1.0, numpy.int64(1) and "1" (predictions and feedback meet)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


class PredictionIds:
    """Prediction ids: a random 64-bit prefix per process, then a counter (32 hex digits in all).

    Unique across processes and restarts without coordination, and a counter is far cheaper per row than
    fresh randomness.
    """

    def __init__(self) -> None:
        self.prefix = secrets.token_hex(8)
        self._next = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> list[str]:
        with self._lock:
            start = self._next
            self._next += n
        prefix = self.prefix
        return [f"{prefix}{number:016x}" for number in range(start, start + n)]


@dataclass(frozen=True)
class _Predictions:
    ids: Sequence[str]
    version: int
    rows: Sequence[Sequence[Any]]
    predictions: Any
    ts: datetime
    features: tuple[tuple[str, str], ...]  # (name, kind) in row order
    classification: bool

    @property
    def n(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class _Feedback:
    ids: Sequence[str]
    labels: Sequence[Any]
    ts: datetime
    classification: bool

    @property
    def n(self) -> int:
        return len(self.ids)


@dataclass
class _Marker:
    """Asks the writer to write everything before it; ``stop`` also ends the writer."""

    done: threading.Event = field(default_factory=threading.Event)
    stop: bool = False


class PredictionLog:
    """Queues predictions and feedback of one model; a background thread writes them in batches."""

    def __init__(
        self,
        root: str | Path,
        model: str,
        *,
        flush_rows: int = 2000,
        flush_seconds: float = 1.0,
        max_pending_rows: int = MAX_PENDING_ROWS,
        compact_parts: int = COMPACT_PARTS,
    ) -> None:
        self.folder = Path(root) / model
        self.compact_parts = compact_parts
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.max_pending_rows = max_pending_rows
        # Read by /metrics; written by the writer thread (and by callers for dropped rows).
        self.rows_written = 0
        self.feedback_written = 0
        self.rows_dropped = 0
        self.write_errors = 0
        self._pending = 0
        self._count_lock = threading.Lock()
        self._sequence = count()
        self._unmerged: dict[Path, int] = {}  # parts this writer added to a day folder since it compacted it
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"hone-log-{model}", daemon=True)
        self._thread.start()

    # -- enqueueing (called per request: must stay cheap) ------------------------------------------
    def log_predictions(
        self,
        ids: Sequence[str],
        version: int,
        rows: Sequence[Sequence[Any]],
        predictions: Any,
        ts: datetime | None = None,
        *,
        schema: FeatureSchema,
        task: str = "regression",
    ) -> None:
        """Log served rows (schema order, as ``FeatureSchema.check_records`` returns them)."""
        features = tuple((feature.name, feature.kind) for feature in schema.features)
        entry = _Predictions(
            ids, version, rows, predictions, ts or _now(), features, task == "classification"
        )
        self._enqueue(entry)

    def log_feedback(
        self,
        ids: Sequence[str],
        labels: Sequence[Any],
        ts: datetime | None = None,
        *,
        task: str = "regression",
    ) -> None:
        """Log true labels of earlier predictions (float for regression, text for classification)."""
        self._enqueue(_Feedback(ids, labels, ts or _now(), task == "classification"))

    def _enqueue(self, entry: _Predictions | _Feedback) -> None:
        with self._count_lock:
            if self._closed or self._pending + entry.n > self.max_pending_rows:
                self.rows_dropped += entry.n
                return
            self._pending += entry.n
        self._queue.put(entry)

    # -- waiting for the writer ------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> bool:
        """Write everything logged so far; False if it did not finish within ``timeout`` seconds."""
        if self._closed:
            return True
        marker = _Marker()
        self._queue.put(marker)
        return marker.done.wait(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Write everything and stop the writer; later calls do nothing."""
        with self._count_lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(_Marker(stop=True))
        self._thread.join(timeout)

    @property
    def pending_rows(self) -> int:
        return self._pending

    # -- the writer thread -------------------------------------------------------------------------
    def _run(self) -> None:
        batch: list[_Predictions | _Feedback] = []
        rows = 0
        started = 0.0
        while True:
            try:
                timeout = None if not batch else max(0.0, started + self.flush_seconds - time.monotonic())
                try:
                    item = self._queue.get(timeout=timeout)
                except queue.Empty:
                    item = None
                if isinstance(item, (_Predictions, _Feedback)):
                    if not batch:
                        started = time.monotonic()
                    batch.append(item)
                    rows += item.n
                    if rows < self.flush_rows and time.monotonic() - started < self.flush_seconds:
                        continue
                self._write(batch)
                batch, rows = [], 0
                if isinstance(item, _Marker):
                    item.done.set()
                    if item.stop:
                        return
            except Exception:  # the writer must outlive any bug: log it and keep serving
                logger.exception("prediction log: the writer failed; %d row(s) lost", rows)
                self._lost(rows)
                batch, rows = [], 0

    def _write(self, batch: list[_Predictions | _Feedback]) -> None:
        groups: dict[tuple[Any, ...], list[Any]] = {}
        for entry in batch:
            if isinstance(entry, _Predictions):
                key: tuple[Any, ...] = ("predictions", _day(entry.ts), entry.features, entry.classification)
            else:
                key = ("feedback", _day(entry.ts), entry.classification)
            groups.setdefault(key, []).append(entry)
        for key, entries in groups.items():
            n = sum(entry.n for entry in entries)
            try:
                if key[0] == "predictions":
                    table = _prediction_table(entries, key[2], key[3])
                else:
                    table = _feedback_table(entries, key[2])
                self._write_part(table, key[0], key[1])
            except Exception as error:
                logger.error("prediction log: could not write %d %s row(s): %s", n, key[0], error)
                self._lost(n)
                continue
            with self._count_lock:
                self._pending -= n
                if key[0] == "predictions":
                    self.rows_written += n
                else:
                    self.feedback_written += n

    def _write_part(self, table: pa.Table, kind: str, day: str) -> None:
        folder = self.folder / kind / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomically(
            table, folder, f"part-{time.time_ns()}-{os.getpid()}-{next(self._sequence)}.parquet"
        )
        self._unmerged[folder] = self._unmerged.get(folder, 0) + 1
        if self._unmerged[folder] >= self.compact_parts:
            self._unmerged[folder] = 0
            try:
                compact(folder, parts=self.compact_parts)
            except Exception as error:  # the parts stay readable as they are; the next round tries again
                logger.error("prediction log: could not compact %s: %s", folder, error)

    def _lost(self, rows: int) -> None:
        with self._count_lock:
            self.write_errors += 1
            self.rows_dropped += rows
            self._pending -= rows


_merges = count()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _day(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).date().isoformat()


def _micros(ts: datetime) -> int:
    return int(ts.timestamp() * 1_000_000)


def _base_columns(entries: Sequence[_Predictions | _Feedback]) -> dict[str, pa.Array]:
    counts = [entry.n for entry in entries]
    stamps = np.repeat(np.asarray([_micros(entry.ts) for entry in entries], dtype=np.int64), counts)
    ids = [identifier for entry in entries for identifier in entry.ids]
    return {"prediction_id": pa.array(ids, type=pa.string()), "ts": pa.array(stamps, type=TIMESTAMP)}


def _prediction_table(
    entries: list[_Predictions], features: tuple[tuple[str, str], ...], classification: bool
) -> pa.Table:
    columns = _base_columns(entries)
    versions = np.repeat(
        np.asarray([entry.version for entry in entries], dtype=np.int32), [e.n for e in entries]
    )
    columns["model_version"] = pa.array(versions, type=pa.int32())
    for position, (name, kind) in enumerate(features):
        values = [row[position] for entry in entries for row in entry.rows]
        if kind == "numeric":
            # NaN (a missing value the model imputes) is stored as null: it is missing, not a number.
            columns[name] = pa.array(
                np.asarray(values, dtype=np.float64), type=pa.float64(), from_pandas=True
            )
        else:
            columns[name] = pa.array(values, type=pa.string())
    if classification:
        labels = [label_text(value) for entry in entries for value in entry.predictions]
        columns["prediction"] = pa.array(labels, type=pa.string())
    else:
        values = np.concatenate([np.asarray(entry.predictions, dtype=np.float64) for entry in entries])
        columns["prediction"] = pa.array(values, type=pa.float64())
    return pa.table(columns)


def _feedback_table(entries: list[_Feedback], classification: bool) -> pa.Table:
    columns = _base_columns(entries)
    if classification:
        columns["label"] = pa.array([label_text(v) for e in entries for v in e.labels], type=pa.string())
    else:
        values = np.asarray([v for e in entries for v in e.labels], dtype=np.float64)
        columns["label"] = pa.array(values, type=pa.float64())
    return pa.table(columns)


# -- compaction -----------------------------------------------------------------------------------------
# At 100 requests a second, one-second parts hold 100 rows: a million rows would be 10,000 files, and
# reading is then dominated by opening them. So every `compact_parts` parts of a day are merged into one
# ``merged-*`` file, and every COMPACT_MERGED merged files of about the same size again into one. A merged
# file lists the files it replaces in its footer: a reader that lists the folder between the merged file's
# rename and the removal of the old files skips them, so no row is ever read twice or missed.


def compact(folder: Path, *, parts: int = COMPACT_PARTS, merged: int = COMPACT_MERGED) -> bool:
    """Merge the day folder's parts (and then its small merged files) when there are enough; True if it did.

    One process at a time per folder (an advisory lock); elsewhere a busy folder is simply skipped.
    """
    try:
        import fcntl
    except ImportError:  # no advisory locks (Windows): parts are left as they are
        return False
    with open(folder / ".compact.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # another writer is compacting this folder right now
        _finish_interrupted(folder)
        did = False
        small = sorted(folder.glob("part-*.parquet"))
        if len(small) >= parts:
            _merge(folder, small)
            did = True
        # Merged files of about the same size merge together (size tiers, a factor `merged` apart): each
        # row is rewritten once per tier, not every time a new file arrives.
        tiers: dict[int, list[Path]] = {}
        for path in sorted(folder.glob("merged-*.parquet")):
            size = path.stat().st_size
            if size < MERGED_BYTES:
                tiers.setdefault(int(math.log(max(size, 1), merged)), []).append(path)
        for paths in tiers.values():
            if len(paths) >= merged:
                _merge(folder, paths)
                did = True
        return did


def _merge(folder: Path, files: list[Path]) -> None:
    tables = [pq.ParquetFile(path).read() for path in files]
    table = pa.concat_tables(tables, promote_options="permissive")
    table = table.replace_schema_metadata({REPLACES: json.dumps([path.name for path in files])})
    _write_atomically(table, folder, f"merged-{time.time_ns()}-{os.getpid()}-{next(_merges)}.parquet")
    for path in files:
        path.unlink(missing_ok=True)


def _finish_interrupted(folder: Path) -> None:
    # A compaction stopped between renaming its merged file and removing what it replaced: remove them now.
    for path in folder.glob("merged-*.parquet"):
        for name in _replaced(path):
            (folder / name).unlink(missing_ok=True)


def _replaced(path: Path | str) -> list[str]:
    metadata = pq.read_schema(path).metadata or {}
    return json.loads(metadata.get(REPLACES, b"[]"))


def _write_atomically(table: pa.Table, folder: Path, name: str) -> None:
    temporary = folder / f".{name}.tmp"  # readers skip dot-files
    pq.write_table(table, temporary)
    os.replace(temporary, folder / name)


# -- reading ---------------------------------------------------------------------------------------------

When = datetime | date | str | None


def read_predictions(
    root: str | Path,
    model: str,
    *,
    since: When = None,
    until: When = None,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """Logged predictions with ``since <= ts < until`` (UTC; a date means its midnight); all if None."""
    return _read(Path(root) / model / "predictions", since, until, columns, PREDICTION_COLUMNS)


def read_feedback(
    root: str | Path,
    model: str,
    *,
    since: When = None,
    until: When = None,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """Logged feedback labels with ``since <= ts < until``; all if None."""
    return _read(Path(root) / model / "feedback", since, until, columns, FEEDBACK_COLUMNS)


def _read(
    folder: Path, since: When, until: When, columns: Sequence[str] | None, base: tuple[str, ...]
) -> pa.Table:
    start, end = _instant(since, "since"), _instant(until, "until")
    for attempt in range(READ_ATTEMPTS):
        try:
            return _read_files(folder, _parts(folder, start, end), start, end, columns, base)
        except FileNotFoundError:  # a compaction removed a listed part after merging it: list again
            if attempt == READ_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _read_files(
    folder: Path,
    files: list[str],
    start: datetime | None,
    end: datetime | None,
    columns: Sequence[str] | None,
    base: tuple[str, ...],
) -> pa.Table:
    if not files:
        names = list(columns) if columns is not None else list(base)
        return pa.table({name: pa.array([], type=_base_type(name)) for name in names})
    factory = ds.FileSystemDatasetFactory(LocalFileSystem(), files, ds.ParquetFileFormat())
    # Parts of different model versions may have different features: unify every part's columns.
    dataset = factory.finish(factory.inspect(promote_options="permissive"))
    condition = None
    if start is not None:
        condition = ds.field("ts") >= pa.scalar(start, type=TIMESTAMP)
    if end is not None:
        upper = ds.field("ts") < pa.scalar(end, type=TIMESTAMP)
        condition = upper if condition is None else condition & upper
    if columns is not None:
        missing = [name for name in columns if name not in dataset.schema.names]
        if missing:
            raise StoreError(
                f"no column {', '.join(map(repr, missing))} in the log;"
                f" it has {', '.join(dataset.schema.names)}",
                where=str(folder),
            )
    return dataset.to_table(columns=None if columns is None else list(columns), filter=condition)


def _base_type(name: str) -> pa.DataType:
    return {"prediction_id": pa.string(), "ts": TIMESTAMP, "model_version": pa.int32()}.get(name, pa.null())


def _instant(value: When, name: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise DataError(f"{name}: not an ISO date or time: {value!r}") from None
    if not isinstance(value, datetime):  # a date: its midnight, UTC
        value = datetime(value.year, value.month, value.day)
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _parts(folder: Path, start: datetime | None, end: datetime | None) -> list[str]:
    """Files of the date folders that can hold rows in [start, end) (the date partitions prune here),
    without those a merged file already holds."""
    if not folder.is_dir():
        return []
    first = start.astimezone(timezone.utc).date().isoformat() if start else None
    last = end.astimezone(timezone.utc).date().isoformat() if end else None
    files: list[str] = []
    for day_folder in sorted(folder.glob("date=*")):
        day = day_folder.name[len("date=") :]
        if (first is not None and day < first) or (last is not None and day > last):
            continue
        merged = sorted(day_folder.glob("merged-*.parquet"))
        replaced = {name for path in merged for name in _replaced(path)}
        parts = sorted(day_folder.glob("part-*.parquet"))
        files.extend(str(path) for path in [*merged, *parts] if path.name not in replaced)
    return files
