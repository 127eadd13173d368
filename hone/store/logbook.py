"""The prediction log: every served prediction and every feedback label, as Parquet parts by date.

Layout (what monitoring reads)::

    <root>/<model>/predictions/date=YYYY-MM-DD/part-<unix_ns>-<pid>-<seq>.parquet
        prediction_id string, ts timestamp[us, UTC], model_version int32,
        one column per feature (float64 numeric, string categorical),
        prediction float64 (regression) or string (classification)
    <root>/<model>/feedback/date=YYYY-MM-DD/part-*.parquet
        prediction_id string, ts timestamp[us, UTC], label float64 or string
    <root>/<model>/.id-key    the secret the service checks prediction ids with (``PredictionIds``)

Small parts of a day are merged into ``merged-*.parquet`` files as they accumulate (see ``compact``); read
the log with ``read_predictions`` / ``read_feedback``, which know which files a merge replaced.

The service only appends to a list (a microsecond); one background thread turns batches into parts, and a
child process merges them. Each file is written under a dot-name in its folder and renamed, so readers
(which skip dot-files) never see half a file. A failing write is logged and counted, never raised into a
request.

Why it is built this way: the service answers a one-row request in about half a millisecond on the event
loop, and any Python work another thread of the same process does holds the GIL the loop needs. Waking the
writer for every request (a queue put), building columns value by value, and compacting (which reads every
merged file's footer) put p99 at 6-80 ms instead of 1.5. So requests never wake the writer (it wakes once
a batch is full or on its timer), columns are built in a few C calls per batch (about 3 ms per 2,000 rows,
once a second, the loop getting the GIL back within a millisecond), and compaction, whose cost grows with
the day's files (0.2 s of GIL at 100 merged files), runs in a child process.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import logging
import math
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from itertools import chain, count
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hone.errors import DataError, StoreError

if TYPE_CHECKING:  # at run time only its attributes are used: the compaction child starts faster without it
    from hone.data.schema import FeatureSchema

__all__ = [
    "PredictionIds",
    "PredictionLog",
    "compact",
    "id_key",
    "label_text",
    "read_feedback",
    "read_predictions",
]

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
# How long closing the log waits for a compaction child still running (it is safe to leave it running).
COMPACTION_WAIT_SECONDS = 60.0
DAY_MICROS = 86_400 * 1_000_000


def label_text(value: Any) -> str:
    """A class label as text, the same for 1, 1.0, numpy.int64(1) and "1" (predictions and feedback meet)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


ID_KEY_FILE = ".id-key"  # beside the log's predictions/ and feedback/ folders (readers skip dot-files)
ID_LENGTH = 48  # hex digits: 16 of process prefix, 16 of counter, 16 of keyed check


class PredictionIds:
    """Prediction ids: a random 64-bit prefix per process, a counter, and a keyed check (48 hex digits).

    Unique across processes and restarts without coordination, and a counter is far cheaper per row than
    fresh randomness. The check is a 64-bit keyed BLAKE2b MAC of prefix and counter under the log's secret
    (``id_key``), so a service tells the ids it issued from made-up ones without a lookup: no index of
    issued ids, no race with a prediction not yet written to the log, and every service writing to the
    same log (same key) accepts the others' ids. Guessing a valid id takes about 2**64 tries.
    """

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key if key is not None else secrets.token_bytes(32)
        self.prefix = secrets.token_hex(8)
        self._next = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> list[str]:
        with self._lock:
            start = self._next
            self._next += n
        prefix = self.prefix
        key = self.key
        ids = []
        for number in range(start, start + n):
            body = f"{prefix}{number:016x}"
            ids.append(body + hashlib.blake2b(body.encode(), digest_size=8, key=key).hexdigest())
        return ids

    def issued(self, identifier: str) -> bool:
        """Whether ``identifier`` was issued under this key (by any process sharing the log)."""
        if len(identifier) != ID_LENGTH:
            return False
        body, check = identifier[:32], identifier[32:]
        expected = hashlib.blake2b(body.encode(), digest_size=8, key=self.key).hexdigest()
        return hmac.compare_digest(check, expected)


def id_key(folder: str | Path) -> bytes:
    """The log's secret for prediction ids: read from ``folder/.id-key``, created (0600) the first time.

    Created with O_EXCL, so services starting together on one log agree on one key.
    """
    path = Path(folder) / ID_KEY_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may be between creating and writing it
            text = path.read_text(encoding="ascii").strip()
            if len(text) == 64:
                return bytes.fromhex(text)
            time.sleep(0.01)
        raise StoreError(f"the prediction id key is damaged (expected 64 hex digits): {path}") from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise StoreError(f"cannot create the prediction id key: {reason}", where=str(path)) from None
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        key = secrets.token_bytes(32)
        handle.write(key.hex())
    return key


@dataclass(frozen=True)
class _Predictions:
    ids: Sequence[str]
    version: int
    rows: Sequence[Sequence[Any]]
    predictions: Any
    ts: int  # microseconds since the epoch, UTC
    features: tuple[tuple[str, str], ...]  # (name, kind) in row order
    classification: bool

    @property
    def n(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class _Feedback:
    ids: Sequence[str]
    labels: Sequence[Any]
    ts: int
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
    """Collects predictions and feedback of one model; a background thread writes them in batches."""

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
        self._overflowed = 0  # rows dropped on a full queue since the writer last said so
        self._pending = 0
        self._lock = threading.Lock()  # guards the counters and the buffer
        self._buffer: list[_Predictions | _Feedback | _Marker] = []
        self._buffered_rows = 0
        self._wake = threading.Event()
        self._layouts: dict[int, tuple[FeatureSchema, tuple[tuple[str, str], ...]]] = {}
        self._sequence = count()
        self._unmerged: dict[Path, int] = {}  # parts this writer added to a day folder since it compacted it
        self._compactor: subprocess.Popen[bytes] | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"hone-log-{model}", daemon=True)
        self._thread.start()

    # -- collecting (called per request: must stay cheap and must not wake the writer) --------------
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
        stamp = time.time_ns() // 1000 if ts is None else _micros(ts)
        entry = _Predictions(
            ids, version, rows, predictions, stamp, self._layout(schema), task == "classification"
        )
        self._add(entry)

    def log_feedback(
        self,
        ids: Sequence[str],
        labels: Sequence[Any],
        ts: datetime | None = None,
        *,
        task: str = "regression",
    ) -> None:
        """Log true labels of earlier predictions (float for regression, text for classification)."""
        stamp = time.time_ns() // 1000 if ts is None else _micros(ts)
        self._add(_Feedback(ids, labels, stamp, task == "classification"))

    def _layout(self, schema: FeatureSchema) -> tuple[tuple[str, str], ...]:
        # One tuple per schema, not one per request: fewer objects for the garbage collector to walk.
        cached = self._layouts.get(id(schema))
        if cached is None or cached[0] is not schema:
            cached = (schema, tuple((feature.name, feature.kind) for feature in schema.features))
            self._layouts[id(schema)] = cached
        return cached[1]

    def _add(self, entry: _Predictions | _Feedback) -> None:
        with self._lock:
            if self._closed or self._pending + entry.n > self.max_pending_rows:
                self.rows_dropped += entry.n
                if not self._closed:
                    self._overflowed += entry.n  # the writer reports it: no logging on the request path
                return
            self._pending += entry.n
            self._buffer.append(entry)
            self._buffered_rows += entry.n
            full = self._buffered_rows >= self.flush_rows
        if full:
            self._wake.set()

    # -- waiting for the writer ------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> bool:
        """Write everything logged so far; False if it did not finish within ``timeout`` seconds."""
        marker = _Marker()
        with self._lock:
            if self._closed:
                return True
            self._buffer.append(marker)
        self._wake.set()
        return marker.done.wait(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Write everything and stop the writer; later calls do nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._buffer.append(_Marker(stop=True))
        self._wake.set()
        self._thread.join(timeout)

    @property
    def pending_rows(self) -> int:
        return self._pending

    # -- the writer thread -------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            # Woken by a full batch, a flush or close; otherwise once per flush_seconds.
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            with self._lock:
                taken, self._buffer, self._buffered_rows = self._buffer, [], 0
                overflowed, self._overflowed = self._overflowed, 0
            if overflowed:
                logger.warning(
                    "prediction log: %d row(s) dropped: the writer fell max_pending_rows (%d) behind",
                    overflowed,
                    self.max_pending_rows,
                )
            if self._write_all(taken):
                return

    def _write_all(self, taken: list[_Predictions | _Feedback | _Marker]) -> bool:
        """Write what was taken in parts of about ``flush_rows`` rows, releasing markers; True on stop."""
        batch: list[_Predictions | _Feedback] = []
        rows = 0
        for item in taken:
            if isinstance(item, _Marker):
                self._write(batch, rows)
                batch, rows = [], 0
                if item.stop:  # close() waits for the thread, not the marker
                    self._finish_compaction()
                    return True
                item.done.set()
                continue
            batch.append(item)
            rows += item.n
            if rows >= self.flush_rows:
                self._write(batch, rows)
                batch, rows = [], 0
        self._write(batch, rows)
        return False

    def _write(self, batch: list[_Predictions | _Feedback], rows: int) -> None:
        """One part per day and layout in the batch; never raises (the writer must outlive any bug)."""
        try:
            groups: dict[tuple[Any, ...], list[Any]] = {}
            for entry in batch:
                if isinstance(entry, _Predictions):
                    day = entry.ts // DAY_MICROS
                    key: tuple[Any, ...] = ("predictions", day, entry.features, entry.classification)
                else:
                    key = ("feedback", entry.ts // DAY_MICROS, entry.classification)
                groups.setdefault(key, []).append(entry)
        except Exception:
            logger.exception("prediction log: the writer failed; %d row(s) lost", rows)
            self._lost(rows)
            return
        for key, entries in groups.items():
            n = sum(entry.n for entry in entries)
            try:
                if key[0] == "predictions":
                    table = _prediction_table(entries, key[2], key[3])
                else:
                    table = _feedback_table(entries, key[2])
                folder = self._write_part(table, key[0], _day(key[1]))
            except Exception as error:
                logger.error("prediction log: could not write %d %s row(s): %s", n, key[0], error)
                self._lost(n)
                continue
            with self._lock:
                self._pending -= n
                if key[0] == "predictions":
                    self.rows_written += n
                else:
                    self.feedback_written += n
            self._unmerged[folder] = self._unmerged.get(folder, 0) + 1
            if self._unmerged[folder] >= self.compact_parts:
                self._compact_in_child(folder)

    def _write_part(self, table: pa.Table, kind: str, day: str) -> Path:
        folder = self.folder / kind / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomically(
            table, folder, f"part-{time.time_ns()}-{os.getpid()}-{next(self._sequence)}.parquet"
        )
        return folder

    def _lost(self, rows: int) -> None:
        with self._lock:
            self.write_errors += 1
            self.rows_dropped += rows
            self._pending -= rows

    # -- compaction, off this process's GIL --------------------------------------------------------
    def _compact_in_child(self, folder: Path) -> None:
        """Merge the folder's parts in a child process, one at a time (while one runs, the next part asks).

        Its own session: a Ctrl-C meant for the server does not interrupt it (an interrupted merge is safe,
        but noisy); closing the log waits for it.
        """
        try:
            if not self._compactor_done():
                return
            self._unmerged[folder] = 0
            self._compactor = subprocess.Popen(
                [sys.executable, "-m", __name__, "compact", str(folder), "--parts", str(self.compact_parts)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )
            if hasattr(os, "setpriority"):  # background work: on 2 busy cores the server's threads come first
                with contextlib.suppress(OSError):  # it may have finished already
                    os.setpriority(os.PRIO_PROCESS, self._compactor.pid, 10)
        except Exception as error:  # the parts stay readable as they are; closing the log merges them
            logger.error("prediction log: could not start compacting %s: %s", folder, error)

    def _compactor_done(self, wait: float | None = None) -> bool:
        """True when no compaction child is running (after waiting up to ``wait`` seconds for one)."""
        child = self._compactor
        if child is None:
            return True
        try:
            code = child.wait(wait) if wait else child.poll()
        except subprocess.TimeoutExpired:
            return False
        self._compactor = None if code is not None else child
        if code is not None and code != 0:  # the child said why on stderr; the parts stay as they are
            logger.error("prediction log: compaction exited with status %d", code)
        return code is not None

    def _finish_compaction(self) -> None:
        """On close: wait for a running child, then merge here what is left (no request waits now)."""
        try:
            if not self._compactor_done(wait=COMPACTION_WAIT_SECONDS):
                return  # still running: it finishes on its own, and an interrupted merge is safe anyway
            for folder, parts in self._unmerged.items():
                if parts >= self.compact_parts:
                    compact(folder, parts=self.compact_parts)
            self._unmerged.clear()
        except Exception as error:  # the parts stay readable as they are
            logger.error("prediction log: could not compact %s: %s", self.folder, error)


_merges = count()


def _day(number: int) -> str:
    """The ISO date of a day number (days since the epoch, UTC)."""
    return date.fromordinal(date(1970, 1, 1).toordinal() + number).isoformat()


def _micros(ts: datetime) -> int:
    return int(ts.timestamp() * 1_000_000)


def _base_columns(entries: Sequence[_Predictions | _Feedback]) -> dict[str, pa.Array]:
    counts = [entry.n for entry in entries]
    stamps = np.repeat(np.fromiter((entry.ts for entry in entries), np.int64, len(entries)), counts)
    ids = list(chain.from_iterable(entry.ids for entry in entries))
    return {"prediction_id": pa.array(ids, type=pa.string()), "ts": pa.array(stamps, type=TIMESTAMP)}


def _prediction_table(
    entries: list[_Predictions], features: tuple[tuple[str, str], ...], classification: bool
) -> pa.Table:
    columns = _base_columns(entries)
    versions = np.repeat(
        np.fromiter((entry.version for entry in entries), np.int32, len(entries)), [e.n for e in entries]
    )
    columns["model_version"] = pa.array(versions, type=pa.int32())
    rows = list(chain.from_iterable(entry.rows for entry in entries))
    # One transposition in C instead of a Python loop per feature and row.
    by_feature = list(zip(*rows, strict=True)) if rows else [() for _ in features]
    if len(by_feature) != len(features):
        raise ValueError(f"rows have {len(by_feature)} values, the schema {len(features)} features")
    for (name, kind), values in zip(features, by_feature, strict=True):
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
            return _read_files(folder, log_files(folder, start, end), start, end, columns, base)
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
    # Imported here: pyarrow.dataset pulls in pandas, which the compaction child does not need.
    import pyarrow.dataset as ds
    from pyarrow.fs import LocalFileSystem

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


def log_files(folder: Path, start: datetime | None, end: datetime | None) -> list[str]:
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


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hone.store.logbook compact FOLDER [--parts N]``: the writer's compaction child."""
    parser = argparse.ArgumentParser(prog="python -m hone.store.logbook")
    commands = parser.add_subparsers(dest="command", required=True)
    merging = commands.add_parser("compact", help="merge the parts of one date folder of the log")
    merging.add_argument("folder", type=Path)
    merging.add_argument("--parts", type=int, default=COMPACT_PARTS)
    arguments = parser.parse_args(argv)
    try:
        compact(arguments.folder, parts=arguments.parts)
    except Exception as error:  # one line for the server's log; the parts stay readable as they are
        logger.error("prediction log: could not compact %s: %s", arguments.folder, error)
        return 1
    return 0


if __name__ == "__main__":
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # to the server's stderr
    sys.exit(main())
