"""The prediction log's backlog: keys first, then each window's rows in chunks, joined with feedback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hone.errors import StoreError
from hone.monitor.history import (
    Cursor,
)
from hone.store.logbook import log_files

# Log rows fed to the checks at a time (about 7 MB of Arrow data for the housing features).
CHUNK_ROWS = 65_536


KEY_COLUMNS = ["prediction_id", "ts", "model_version"]


FEEDBACK_COLUMNS = ["prediction_id", "ts", "label"]


# Feedback rows joined at a time: each join hashes the backlog's ids once, and holds one group's ids.
FEEDBACK_GROUP = 262_144


MICROS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    first: int  # its rows' positions in the backlog: [first, stop)
    stop: int


@dataclass
class Backlog:
    """The log rows after the cursor without their features, in (ts, prediction_id) order.

    The arrays are indexed by a row's place in that order, its "position": where to read it (``file``,
    ``row``), when it was served, by which version, and which feedback label it got.
    """

    files: list[str]
    file_rows: list[int]
    schema: pa.Schema  # every file's columns, unified as read_predictions unifies them
    ts: np.ndarray  # int64 microseconds since the epoch (UTC)
    file: np.ndarray
    row: np.ndarray
    version: np.ndarray
    label: np.ndarray  # index into label_values, -1 where no feedback came
    label_values: pa.ChunkedArray | None
    ids: pa.ChunkedArray | None  # prediction_id in log order (``order`` maps positions to it)
    order: np.ndarray

    @property
    def n_rows(self) -> int:
        return len(self.ts)

    @classmethod
    def read(cls, log_dir: Path, name: str, cursor: Cursor | None) -> Backlog:
        """The keys of every logged row after ``cursor``, put in order, with their latest feedback labels."""
        folder = Path(log_dir) / name / "predictions"
        if not folder.is_dir():
            advice = "serve it (`hone serve`) and send predictions first"
            raise StoreError(f"no prediction log of model {name!r} yet: {advice}", where=str(folder))
        # Rows logged later with an earlier timestamp than the cursor are not read again: the service
        # stamps rows when they arrive, so only a clock going backwards could produce them.
        since = None if cursor is None else _micros(cursor.ts)
        files, schemas, sizes, ids, stamps, rows, versions = [], [], [], [], [], [], []
        for path in log_files(folder, cursor.ts if cursor else None, None):
            parquet = pq.ParquetFile(path)
            newest = _newest(parquet)
            if since is not None and newest is not None and newest < since:
                continue  # checked by earlier runs: its footer says so, its rows need not be read
            keys = parquet.read(columns=KEY_COLUMNS, use_threads=False)
            micros = _micros_of(keys["ts"])
            kept = _after(cursor, micros, keys["prediction_id"])
            found = np.arange(len(micros), dtype=np.int32) if kept is None else np.flatnonzero(kept)
            if len(found) == 0:
                continue
            files.append(path)
            schemas.append(parquet.schema_arrow)
            sizes.append(parquet.metadata.num_rows)
            stamps.append(micros[found])
            rows.append(found.astype(np.int32))
            versions.append(keys["model_version"].to_numpy().astype(np.int32)[found])
            mine = keys["prediction_id"] if kept is None else keys["prediction_id"].filter(pa.array(kept))
            ids.extend(mine.chunks)
        counts = [len(part) for part in rows]
        ts = _joined(stamps, np.int64)
        file = np.repeat(np.arange(len(files), dtype=np.int32), counts)
        row, version = _joined(rows, np.int32), _joined(versions, np.int32)
        del stamps, rows, versions
        log_ids = pa.chunked_array(ids, type=pa.string())
        del ids
        # Rows of one request share a timestamp: the id orders them, so windows cut the same way every run.
        by = pa.table({"ts": ts, "id": log_ids})
        order = np.asarray(pc.sort_indices(by, [("ts", "ascending"), ("id", "ascending")]))
        del by
        give_back_memory()
        label, label_values = _latest_labels(Path(log_dir) / name / "feedback", log_ids, ts)
        # Put in position order one at a time, so only one array is ever held twice.
        ts = ts[order]
        file = file[order]
        row = row[order]
        version = version[order]
        label = label[order]
        return cls(
            files=files,
            file_rows=sizes,
            schema=pa.unify_schemas(schemas, promote_options="permissive") if schemas else pa.schema([]),
            ts=ts,
            file=file,
            row=row,
            version=version,
            label=label,
            label_values=label_values,
            ids=log_ids,
            order=order,
        )

    def main_version(self, first: int, stop: int) -> int:
        """The version that served most rows in [first, stop) (the earliest to appear on a tie)."""
        found, at, counts = np.unique(self.version[first:stop], return_index=True, return_counts=True)
        best = np.flatnonzero(counts == counts.max())
        return int(found[best[np.argmin(at[best])]])

    def cursors(self, windows: list[Window], cursor: Cursor | None) -> list[Cursor]:
        """The cursor after each window: its last timestamp and the ids served at it."""
        assert self.ids is not None
        after = []
        for window in windows:
            last = self.ts[window.stop - 1]
            tied = window.first + int(np.searchsorted(self.ts[window.first : window.stop], last))
            ids = set(self.ids.take(pa.array(self.order[tied : window.stop])).to_pylist())
            moment = _moment(last)
            if cursor is not None and cursor.ts == moment:  # one timestamp spread over several windows
                ids |= cursor.ids
            cursor = Cursor((cursor.seq if cursor else 0) + 1, moment, frozenset(ids))
            after.append(cursor)
        return after

    def labels(self, first: int, stop: int, task: str) -> np.ndarray:
        """The feedback labels of rows [first, stop): NaN (regression) or None where none came yet."""
        if self.label_values is None:
            return np.full(stop - first, np.nan if task == "regression" else None)
        index = self.label[first:stop]
        taken = self.label_values.take(pa.array(index, mask=index < 0))
        if task != "regression":
            return np.asarray(taken.to_numpy(zero_copy_only=False), dtype=object)
        if pa.types.is_floating(taken.type) or pa.types.is_integer(taken.type):
            return np.asarray(taken.to_numpy(zero_copy_only=False), dtype=np.float64)
        return pd.to_numeric(pd.Series(taken.to_pandas()), errors="coerce").to_numpy(np.float64)


def _newest(parquet: pq.ParquetFile) -> int | None:
    """The file's latest ``ts`` in microseconds, from its footer's statistics; None if they do not say."""
    metadata = parquet.metadata
    if "ts" not in metadata.schema.names or parquet.schema_arrow.field("ts").type != MICROS:
        return None
    column = metadata.schema.names.index("ts")
    newest = None
    for group in range(metadata.num_row_groups):
        statistics = metadata.row_group(group).column(column).statistics
        if statistics is None or not statistics.has_min_max:
            return None
        newest = statistics.max_raw if newest is None else max(newest, statistics.max_raw)
    return newest


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


def _after(cursor: Cursor | None, micros: np.ndarray, ids: pa.ChunkedArray) -> np.ndarray | None:
    """Which rows come after the cursor (a mask; None when all do)."""
    if cursor is None:
        return None
    since = _micros(cursor.ts)
    if len(micros) and micros.min() > since:
        return None
    kept = micros >= since
    tied = micros == since
    if cursor.ids and tied.any():
        seen = pc.is_in(ids, value_set=pa.array(sorted(cursor.ids), type=pa.string()))
        kept &= ~(tied & seen.to_numpy(zero_copy_only=False))
    return kept


def _latest_labels(
    folder: Path, ids: pa.ChunkedArray, ts: np.ndarray
) -> tuple[np.ndarray, pa.ChunkedArray | None]:
    """Each row's latest feedback label (log order) as an index into the returned labels; -1: none yet.

    The feedback is joined a group of files at a time, so only one group's ids are held at once.
    """
    best = np.full(len(ids), -1, dtype=np.int64)
    if len(ids) == 0:
        return best, None
    best_ts = np.full(len(ids), np.iinfo(np.int64).min, dtype=np.int64)
    labels: list[pa.Table] = []
    taken = 0
    # Feedback comes after its prediction: nothing older than the oldest row read can be about it.
    for group in _feedback_groups(folder, int(ts.min())):
        stamps = _micros_of(group["ts"])
        latest_first = np.argsort(stamps, kind="stable")[::-1]  # on one timestamp, the last logged first
        group = group.take(pa.array(latest_first))
        stamps = stamps[latest_first]
        # index_in finds the first match in the value set: the latest label of the group.
        found = pc.fill_null(pc.index_in(ids, value_set=group["prediction_id"]), -1).to_numpy()
        hit = np.flatnonzero(found >= 0)
        at = found[hit].astype(np.int64)
        newer = stamps[at] >= best_ts[hit]  # a later group was logged later: it wins a tie
        best[hit[newer]] = taken + at[newer]
        best_ts[hit[newer]] = stamps[at[newer]]
        labels.append(group.select(["label"]))
        taken += group.num_rows
        del group, found, hit, at, newer
        give_back_memory()
    if not labels:
        return best, None
    return best, pa.concat_tables(labels, promote_options="permissive")["label"]


def _feedback_groups(folder: Path, since: int) -> Iterator[pa.Table]:
    """Feedback rows with ``ts >= since`` in log order, in tables of about FEEDBACK_GROUP rows."""
    pending: list[pa.Table] = []
    size = 0
    for path in log_files(folder, _moment(since), None):
        feedback = pq.ParquetFile(path).read(columns=FEEDBACK_COLUMNS, use_threads=False)
        micros = _micros_of(feedback["ts"])
        if len(micros) and micros.min() < since:
            feedback = feedback.filter(pa.array(micros >= since))
        pending.append(feedback)
        size += feedback.num_rows
        if size >= FEEDBACK_GROUP:
            yield pa.concat_tables(pending, promote_options="permissive")
            pending, size = [], 0
    if pending:
        yield pa.concat_tables(pending, promote_options="permissive")


class _Batch(NamedTuple):
    first_row: int  # of the file
    rows: pa.Table
    last_position: int  # the last position that needs one of its rows (-1: none)


class ChunkReader:
    """Rows of the backlog by position, read file by file in batches, each kept while a later row needs it.

    The log's files are in (roughly) time order, so a chunk of positions touches few files and a batch is
    released soon after it is read: memory follows CHUNK_ROWS, not the backlog.
    """

    def __init__(self, backlog: Backlog, columns: list[str]) -> None:
        self.backlog = backlog
        self.schema = pa.schema([backlog.schema.field(name) for name in columns])
        # Where each file's rows sit in the flat ``position`` array; -1 marks rows before the cursor.
        sizes = np.asarray(backlog.file_rows, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.position = np.full(int(self.offsets[-1]), -1, dtype=np.int32)
        self.position[self.offsets[backlog.file] + backlog.row] = np.arange(backlog.n_rows)
        self.last_needed = np.full(len(backlog.files), -1, dtype=np.int64)
        np.maximum.at(self.last_needed, backlog.file, np.arange(backlog.n_rows))
        self._batches: dict[int, Iterator[pa.Table]] = {}
        self._read_to: dict[int, int] = {}  # rows of the file read so far
        self._held: dict[int, list[_Batch]] = {}  # per file, in file order, with no gap

    def rows(self, first: int, stop: int) -> pa.Table:
        """The rows at positions [first, stop), in that order: the columns asked for, ts and model_version."""
        files = self.backlog.file[first:stop]
        rows = self.backlog.row[first:stop]
        in_file_order = bool(np.all(files[1:] >= files[:-1]))
        by_file = np.arange(len(files)) if in_file_order else np.argsort(files, kind="stable")
        bounds = np.flatnonzero(np.diff(files[by_file])) + 1
        pieces = []
        for members in np.split(by_file, bounds):
            number = int(files[members[0]])
            wanted = rows[members]
            self._read_through(number, int(wanted.max()))
            pieces.append(self._take(number, wanted))
        table = pa.concat_tables(pieces)
        if not in_file_order:
            table = table.take(pa.array(np.argsort(by_file)))
        self._release(stop)
        table = table.append_column("ts", pa.array(self.backlog.ts[first:stop]).cast(MICROS))
        return table.append_column("model_version", pa.array(self.backlog.version[first:stop]))

    def _read_through(self, number: int, row: int) -> None:
        if number not in self._batches:
            self._batches[number] = self._open(number)
            self._read_to[number] = 0
            self._held[number] = []
        while self._read_to[number] <= row:
            rows = next(self._batches[number])
            start = self._read_to[number]
            base = self.offsets[number] + start
            last = int(self.position[base : base + rows.num_rows].max(initial=-1))
            self._held[number].append(_Batch(start, rows, last))
            self._read_to[number] = start + rows.num_rows

    def _open(self, number: int) -> Iterator[pa.Table]:
        parquet = pq.ParquetFile(self.backlog.files[number])
        names = set(parquet.schema_arrow.names)
        present = [name for name in self.schema.names if name in names]
        for batch in parquet.iter_batches(batch_size=CHUNK_ROWS, columns=present, use_threads=False):
            yield self._conform(pa.Table.from_batches([batch]))

    def _take(self, number: int, rows: np.ndarray) -> pa.Table:
        held = self._held[number]
        table = held[0].rows if len(held) == 1 else pa.concat_tables([batch.rows for batch in held])
        rows = rows - held[0].first_row
        if rows[-1] - rows[0] == len(rows) - 1 and bool(np.all(np.diff(rows) == 1)):
            return table.slice(int(rows[0]), len(rows))  # a run of the file: no copy
        return table.take(pa.array(rows))

    def _conform(self, table: pa.Table) -> pa.Table:
        """Every column in the unified type; a column a file lacks is all null, as read_predictions has it."""
        if table.schema.equals(self.schema):
            return table
        columns = []
        for wanted in self.schema:
            if wanted.name not in table.column_names:
                columns.append(pa.nulls(table.num_rows, wanted.type))
            else:
                column = table[wanted.name]
                columns.append(column if column.type == wanted.type else column.cast(wanted.type))
        return pa.table(columns, schema=self.schema)

    def _release(self, stop: int) -> None:
        """Forget batches (and files) whose rows all come before position ``stop``."""
        for number in list(self._held):
            if self.last_needed[number] < stop:
                self._close(number)
                continue
            held = self._held[number]
            while held and held[0].last_position < stop:  # only from the front: the rest stays gapless
                held.pop(0)

    def _close(self, number: int) -> None:
        batches = self._batches.pop(number, None)
        close = getattr(batches, "close", None)
        if close is not None:
            close()
        self._held.pop(number, None)
        self._read_to.pop(number, None)

    def close(self) -> None:
        for number in list(self._batches):
            self._close(number)


def give_back_memory() -> None:
    """Return the memory Arrow's pool keeps after a phase to the system.

    The pool keeps freed pages for Arrow's next allocations, but numpy allocates elsewhere: without this,
    the peak would add what each phase ever held instead of what is live (measured: 100 MB more on a
    window of a million rows). It costs a few milliseconds.
    """
    pa.default_memory_pool().release_unused()


def _micros_of(ts: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(ts.cast(MICROS).cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _moment(micros: int | np.integer) -> datetime:
    return _EPOCH + timedelta(microseconds=int(micros))


def _micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // timedelta(microseconds=1)
