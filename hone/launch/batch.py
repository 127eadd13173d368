"""Batch prediction: a table of any size in, one prediction per input row out, with flat memory.

The input (CSV, CSV.gz, Parquet, or a SQL query) is read in chunks. Each chunk is checked against the
model's FeatureSchema, its valid rows are predicted, and the chunk is appended to the output; rows the
model cannot take get a null prediction and a ``problem`` text, and the run goes on (``strict`` stops at
the first one instead). The output is written to a temporary file next to ``output`` and renamed at the
end, so a failed or interrupted run leaves nothing at ``output``.

Output columns: ``row`` (1-based data row of the input, header excluded), the model's id columns (data.id,
required in the input) and the ``keep`` columns copied
from the input, ``prediction`` (float64 for regression, text for classification, null for invalid rows)
and ``problem`` (null when the row was fine). ``.parquet`` output keeps those types; ``.csv`` output is
offered for convenience (nulls become empty cells). Kept columns read from a CSV are copied as text, so
ids such as ``007`` survive unchanged.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import os
import queue
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import sqlalchemy as sa

from hone.data.schema import MAX_PROBLEMS, FeatureSchema, Problem, SchemaViolation
from hone.errors import DataError, did_you_mean

# The report keeps this many problems; the output file has a problem text for every invalid row.
MAX_REPORTED = 100
OUTPUT_COLUMNS = ("row", "prediction", "problem")
_CSV_SUFFIXES = (".csv", ".csv.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")
# CSV block size is estimated from this much of the file's start.
_SAMPLE_BYTES = 1 << 20
_MAX_CSV_BLOCK = 1 << 20

Task = Literal["regression", "classification"]
T = TypeVar("T")


@dataclass(frozen=True)
class SqlSource:
    """Rows from a SQL query on a database named by a SQLAlchemy URL."""

    url: str
    query: str


Source = str | Path | SqlSource


@dataclass
class BatchReport:
    """What a batch run did; ``problems`` holds the first few, numbered by input row (1-based)."""

    n_rows: int
    n_predicted: int
    n_invalid: int
    problems: list[Problem]
    output: Path
    seconds: float
    n_problems: int = 0  # every problem found, also those not kept in ``problems``

    @property
    def rows_per_second(self) -> float:
        return self.n_rows / self.seconds if self.seconds > 0 else float("inf")


def predict_table(
    predict: Callable[[pd.DataFrame], Any],
    schema: FeatureSchema,
    source: Source,
    output: str | Path,
    *,
    chunk_rows: int = 100_000,
    strict: bool = False,
    keep: Sequence[str] = (),
    progress: Callable[[int], None] | None = None,
    task: Task | None = None,
) -> BatchReport:
    """Predict every row of ``source`` into ``output`` (``.parquet`` or ``.csv``), chunk by chunk.

    ``predict`` gets a DataFrame of valid rows in schema order and dtypes (e.g. ``pipeline.predict``).
    ``task`` fixes the prediction column's type; without it the type follows the first predictions
    (floats: regression, anything else: class labels as text). ``progress`` is called with the number of
    input rows done after each chunk. Unreadable input raises DataError; with ``strict``, the first
    invalid row raises SchemaViolation naming its row and field.
    """
    started = time.perf_counter()
    output = Path(output)
    # The model's id columns (data.id) are written with every row, before any other kept column.
    keep = list(dict.fromkeys([*schema.ids, *keep]))
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    _check_output(output, source, keep)
    label = _source_label(source)
    chunks = _read_chunks(source, schema, keep, chunk_rows)
    checked = _in_background(_checked(schema, chunk) for chunk in chunks)
    writer = _OutputWriter(output, keep, task)
    tally = _Tally()
    try:
        for chunk, check in checked:
            columns = _predict_chunk(predict, chunk, check, tally, strict=strict, where=label)
            writer.write(columns)
            if progress is not None:
                progress(tally.n_rows)
        writer.finish()
    except BaseException:
        writer.discard()
        raise
    finally:
        checked.close()
        chunks.close()
    return BatchReport(
        n_rows=tally.n_rows,
        n_predicted=tally.n_predicted,
        n_invalid=tally.n_invalid,
        problems=tally.problems,
        output=output,
        seconds=time.perf_counter() - started,
        n_problems=tally.n_problems,
    )


# -- checking the arguments ----------------------------------------------------------------------------


def _check_output(output: Path, source: Source, keep: list[str]) -> None:
    if not output.name.lower().endswith((".parquet", ".csv")):
        raise DataError("output must end in .parquet or .csv", where=str(output))
    if output.is_dir():
        raise DataError("is a directory; name the output file", where=str(output))
    if not output.parent.is_dir():
        raise DataError(f"folder {str(output.parent)!r} does not exist", where=str(output))
    if not isinstance(source, SqlSource) and Path(source).resolve() == output.resolve():
        raise DataError("output would overwrite the input", where=str(output))
    clashes = [name for name in keep if name in OUTPUT_COLUMNS]
    if clashes:
        raise DataError(
            f"cannot keep column(s) {', '.join(clashes)}: the output has its own column of that name",
            where=str(output),
        )


def _source_label(source: Source) -> str:
    if not isinstance(source, SqlSource):
        return str(source)
    try:
        return sa.make_url(source.url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "the SQL source"


def _require_columns(available: Sequence[str], schema: FeatureSchema, keep: list[str], where: str) -> None:
    """A column missing from the whole input is one error up front, not a problem on every row."""
    names = [str(name) for name in available]
    duplicates = sorted({name for name in names if names.count(name) > 1} & set(schema.names + keep))
    if duplicates:
        raise DataError(f"duplicate column name(s) in the input: {', '.join(duplicates)}", where=where)
    for role, wanted in (("feature", schema.names), ("id", list(schema.ids)), ("kept", keep)):
        for name in wanted:
            if name not in names:
                hint = did_you_mean(name, names)
                raise DataError(
                    f"{role} column {name!r} not found{hint}; the input has: {', '.join(names)}", where=where
                )


# -- reading chunks ------------------------------------------------------------------------------------


@dataclass
class _Chunk:
    """Consecutive input rows: the ones that parsed, plus any that could not be parsed at all."""

    start: int  # input rows before this chunk
    size: int  # input rows in this chunk
    features: pd.DataFrame  # schema columns of the parsed rows
    keep: dict[str, pa.Array]  # kept columns of the parsed rows, as read
    broken: dict[int, str] = field(default_factory=dict)  # position in chunk -> why the row did not parse

    def parsed_positions(self) -> np.ndarray:
        if not self.broken:
            return np.arange(self.size)
        return np.setdiff1d(np.arange(self.size), np.fromiter(self.broken, dtype=np.int64))


def _read_chunks(
    source: Source, schema: FeatureSchema, keep: list[str], chunk_rows: int
) -> Generator[_Chunk, None, None]:
    if isinstance(source, SqlSource):
        return _sql_chunks(source, schema, keep, chunk_rows)
    path = Path(source)
    if not path.exists():
        raise DataError("no such file", where=str(path))
    if path.is_dir():
        raise DataError("is a directory, expected a .csv, .csv.gz or .parquet file", where=str(path))
    name = path.name.lower()
    if name.endswith(_CSV_SUFFIXES):
        return _csv_chunks(path, schema, keep, chunk_rows)
    if name.endswith(_PARQUET_SUFFIXES):
        return _parquet_chunks(path, schema, keep, chunk_rows)
    known = ", ".join(_CSV_SUFFIXES + _PARQUET_SUFFIXES)
    raise DataError(f"unknown file type; expected one of {known}", where=str(path))


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)


def _arrow_chunk(
    table: pa.Table, schema: FeatureSchema, keep: list[str], start: int, broken: dict[int, str]
) -> _Chunk:
    arrays = []
    for feature in schema.features:
        column = table.column(feature.name)
        if feature.kind == "numeric" and _is_text(column.type):
            # Text read from a CSV: arrow parses clean numbers fast; a column with junk stays text so
            # the schema check can name the bad rows.
            with contextlib.suppress(pa.ArrowInvalid):
                column = pc.cast(column, pa.float64())
        arrays.append(column)
    features = pa.Table.from_arrays(arrays, names=schema.names).to_pandas()
    kept = {name: table.column(name) for name in keep}
    return _Chunk(start, table.num_rows + len(broken), features, kept, broken)


def _csv_layout(path: Path) -> tuple[list[str], float, int]:
    """The header, and the mean and longest line length (bytes) in the file's first megabyte."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            sample = handle.read(_SAMPLE_BYTES)
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read the file ({_one_line(exc)})", where=str(path)) from exc
    if not sample.strip():
        raise DataError("file is empty (no header, no rows)", where=str(path))
    lines = sample.splitlines(keepends=True)
    try:
        header = next(csv.reader([lines[0].decode("utf-8-sig")]))
    except UnicodeDecodeError as exc:
        raise DataError(f"header is not UTF-8 text ({exc.reason})", where=str(path)) from exc
    return header, len(sample) / len(lines), max(len(line) for line in lines)


def _csv_chunks(
    path: Path, schema: FeatureSchema, keep: list[str], chunk_rows: int
) -> Generator[_Chunk, None, None]:
    header, mean_line, longest_line = _csv_layout(path)
    _require_columns(header, schema, keep, str(path))
    wanted = list(dict.fromkeys(schema.names + keep))
    placer = _BrokenRowPlacer()

    def skip_and_remember(row: Any) -> str:
        # Arrow's line numbers skip blank lines, so they place the row but are not quoted to the user.
        placer.report(
            row.number, f"malformed CSV row: expected {row.expected_columns} fields, got {row.actual_columns}"
        )
        return "skip"

    try:
        reader = pacsv.open_csv(
            path,
            # One thread: arrow then knows the line number of a malformed row (needed to place it).
            read_options=pacsv.ReadOptions(
                block_size=_csv_block_size(chunk_rows, mean_line, longest_line), use_threads=False
            ),
            parse_options=pacsv.ParseOptions(invalid_row_handler=skip_and_remember),
            # Everything as text: a junk value then spoils one row, not the whole read.
            convert_options=pacsv.ConvertOptions(
                include_columns=wanted,
                column_types=dict.fromkeys(wanted, pa.string()),
                strings_can_be_null=True,
            ),
        )
        for table in _exact_chunks(reader, chunk_rows):
            start = placer.next_row
            yield _arrow_chunk(table, schema, keep, start, placer.take(table.num_rows))
        if placer.has_more():
            tail = reader.schema.empty_table()
            yield _arrow_chunk(tail, schema, keep, placer.next_row, placer.take(0, flush=True))
    except (pa.ArrowException, OSError, EOFError) as exc:
        raise DataError(f"cannot read the CSV ({_one_line(exc)})", where=str(path)) from exc


def _csv_block_size(chunk_rows: int, mean_line: float, longest_line: int) -> int:
    """Small blocks, joined into chunks afterwards: arrow's CSV reader buffers dozens of blocks ahead,
    so the block size, not the chunk size, decides how much memory reading takes. A block must still
    hold several of the longest lines seen (a row cannot straddle two blocks)."""
    return int(max(min(mean_line * chunk_rows / 8, _MAX_CSV_BLOCK), 4 * longest_line, 1024))


def _exact_chunks(batches: Iterator[pa.RecordBatch], chunk_rows: int) -> Iterator[pa.Table]:
    """Tables of exactly ``chunk_rows`` rows (the last one shorter) from batches of any size."""
    waiting: list[pa.RecordBatch] = []
    n_waiting = 0
    for batch in batches:
        waiting.append(batch)
        n_waiting += batch.num_rows
        while n_waiting >= chunk_rows:
            table = pa.Table.from_batches(waiting)
            yield table.slice(0, chunk_rows)
            rest = table.slice(chunk_rows)
            waiting, n_waiting = rest.to_batches(), rest.num_rows
    if n_waiting:
        yield pa.Table.from_batches(waiting)


class _BrokenRowPlacer:
    """Puts rows the CSV parser skipped back in their place, by arrow's line number (header: line 1).

    Arrow parses ahead of the chunk being handed out, so skipped rows are reported early and wait here.
    """

    def __init__(self) -> None:
        self.next_row = 0  # input rows handed out so far
        self.reported: deque[tuple[int | None, str]] = deque()  # appended from arrow's parsing thread
        self.pending: list[tuple[int, str]] = []  # (input row, message), sorted

    def report(self, line: int | None, message: str) -> None:
        self.reported.append((line, message))

    def _collect(self) -> None:
        while self.reported:  # popleft is atomic, so a row reported meanwhile is not lost
            line, message = self.reported.popleft()
            # Without a line number the row is placed where the reader currently is.
            row = self.next_row if line is None else line - 2
            self.pending.append((max(row, self.next_row), message))
        self.pending.sort(key=lambda item: item[0])

    def has_more(self) -> bool:
        self._collect()
        return bool(self.pending)

    def take(self, n_parsed: int, *, flush: bool = False) -> dict[int, str]:
        """The broken rows among the next ``n_parsed`` parsed rows, keyed by position in the chunk."""
        self._collect()
        size = n_parsed
        taken: list[tuple[int, str]] = []
        while self.pending and (flush or self.pending[0][0] < self.next_row + size):
            taken.append(self.pending.pop(0))
            size += 1
        placed: dict[int, str] = {}
        for row, message in taken:
            position = row - self.next_row
            while position in placed:  # rows whose line numbers collide still get a row each
                position += 1
            placed[position] = message
        if placed and max(placed) >= size:
            # Blank lines or quoted line breaks made line numbers disagree with rows: keep the order
            # and put the broken rows last, so every input row still has exactly one output row.
            placed = {size - len(taken) + i: message for i, (_, message) in enumerate(taken)}
        self.next_row += size
        return placed


def _parquet_chunks(
    path: Path, schema: FeatureSchema, keep: list[str], chunk_rows: int
) -> Generator[_Chunk, None, None]:
    try:
        parquet = pq.ParquetFile(path)
        _require_columns(parquet.schema_arrow.names, schema, keep, str(path))
        start = 0
        wanted = list(dict.fromkeys(schema.names + keep))
        for batch in parquet.iter_batches(batch_size=chunk_rows, columns=wanted):
            yield _arrow_chunk(pa.Table.from_batches([batch]), schema, keep, start, {})
            start += batch.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"not a readable Parquet file ({_one_line(exc)})", where=str(path)) from exc


def _sql_chunks(
    source: SqlSource, schema: FeatureSchema, keep: list[str], chunk_rows: int
) -> Generator[_Chunk, None, None]:
    where = _source_label(source)
    try:
        engine = sa.create_engine(source.url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise DataError(f"cannot use the database URL ({_one_line(exc)})", where=where) from exc
    try:
        # stream_results: a server-side cursor where the driver has one, so rows arrive chunk by chunk.
        with engine.connect().execution_options(stream_results=True) as connection:
            start = 0
            for frame in pd.read_sql(sa.text(source.query), connection, chunksize=chunk_rows):
                if start == 0:
                    _require_columns(list(frame.columns), schema, keep, where)
                frame = frame.reset_index(drop=True)
                kept = {name: pa.array(frame[name], from_pandas=True) for name in keep}
                yield _Chunk(start, len(frame), frame[schema.names], kept)
                start += len(frame)
    except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
        cause = exc.__cause__ if isinstance(exc, pd.errors.DatabaseError) and exc.__cause__ else exc
        detail = _one_line(getattr(cause, "orig", None) or cause)  # the driver's words, without SQL echo
        raise DataError(f"the query failed ({detail})", where=where) from exc
    finally:
        engine.dispose()


def _in_background(items: Iterator[T], depth: int = 1) -> Generator[T, None, None]:
    """Produce the next item in a thread while the caller works on this one (bounded: memory stays flat).

    Reading and checking a chunk overlap with predicting the previous one; much of it runs outside the
    GIL (arrow parsing, tree traversal).
    """
    slots: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item: Any, error: BaseException | None = None) -> bool:
        while not stop.is_set():
            try:
                slots.put((item, error), timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the caller, who re-raises it
            put(done, exc)
            return
        put(done)

    thread = threading.Thread(target=produce, name="hone-batch-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join()
        close = getattr(items, "close", None)
        if close is not None:
            close()  # the producer has stopped, so the reader can release its file or connection


# -- checking and predicting one chunk -----------------------------------------------------------------


@dataclass
class _ChunkCheck:
    valid: np.ndarray  # per parsed row
    frame: pd.DataFrame  # parsed rows in schema order and dtypes (what predict gets)
    problems: dict[int, list[tuple[str, str]]]  # parsed row -> (field, message), every invalid row


def _checked(schema: FeatureSchema, chunk: _Chunk) -> tuple[_Chunk, _ChunkCheck]:
    check = schema.check_frame(chunk.features)
    problems: dict[int, list[tuple[str, str]]] = defaultdict(list)
    everywhere = [(p.field, p.message) for p in check.problems if p.row is None]
    for problem in check.problems:
        if problem.row is not None:
            problems[problem.row].append((problem.field, problem.message))
    if check.n_problems > len(check.problems):
        # The checker stopped recording after MAX_PROBLEMS, possibly part way through a row's problems:
        # check the invalid rows again in slices small enough that every problem is recorded.
        problems.clear()
        invalid = np.flatnonzero(~check.valid)
        step = MAX_PROBLEMS // 2
        for first in range(0, len(invalid), step):
            _explain(schema, chunk.features, invalid[first : first + step], problems)
    if everywhere:
        for row in np.flatnonzero(~check.valid):
            problems[int(row)] = everywhere + problems[int(row)]
    return chunk, _ChunkCheck(check.valid, check.frame, dict(problems))


def _explain(
    schema: FeatureSchema, frame: pd.DataFrame, rows: np.ndarray, into: dict[int, list[tuple[str, str]]]
) -> None:
    check = schema.check_frame(frame.iloc[rows])
    if check.n_problems > len(check.problems) and len(rows) > 1:
        half = len(rows) // 2
        _explain(schema, frame, rows[:half], into)
        _explain(schema, frame, rows[half:], into)
        return
    for problem in check.problems:
        if problem.row is not None:  # whole-column problems are added to every invalid row afterwards
            into[int(rows[problem.row])].append((problem.field, problem.message))


@dataclass
class _Tally:
    n_rows: int = 0
    n_predicted: int = 0
    n_invalid: int = 0
    n_problems: int = 0
    problems: list[Problem] = field(default_factory=list)


def _predict_chunk(
    predict: Callable[[pd.DataFrame], Any],
    chunk: _Chunk,
    check: _ChunkCheck,
    tally: _Tally,
    *,
    strict: bool,
    where: str,
) -> dict[str, pa.Array | None]:
    """The chunk's output columns; ``prediction`` is None when no row of the chunk was predicted."""
    positions = chunk.parsed_positions()
    # Every problem of the chunk, by position in the chunk (so in input order).
    by_position: dict[int, list[tuple[str, str]]] = {
        int(positions[row]): found for row, found in check.problems.items()
    }
    by_position.update({position: [("(row)", message)] for position, message in chunk.broken.items()})
    ordered = sorted(by_position.items())
    if strict and ordered:
        position, found = ordered[0]
        row = chunk.start + position + 1
        raise SchemaViolation([Problem(row, name, message) for name, message in found], where=where)
    valid = check.valid
    predicted: np.ndarray | None = None
    if valid.any():
        predicted = np.asarray(predict(check.frame if valid.all() else check.frame[valid]))
    _count(tally, chunk, ordered, int(valid.sum()))
    return {
        "row": pa.array(np.arange(chunk.start + 1, chunk.start + chunk.size + 1, dtype=np.int64)),
        **_kept_columns(chunk, positions),
        "prediction": None
        if predicted is None
        else _prediction_column(predicted, positions[valid], chunk.size),
        "problem": _problem_column(ordered, chunk.size),
    }


def _count(
    tally: _Tally, chunk: _Chunk, ordered: list[tuple[int, list[tuple[str, str]]]], n_valid: int
) -> None:
    tally.n_rows += chunk.size
    tally.n_predicted += n_valid
    tally.n_invalid += len(ordered)
    for position, found in ordered:
        tally.n_problems += len(found)
        for name, message in found:
            if len(tally.problems) < MAX_REPORTED:
                tally.problems.append(Problem(chunk.start + position + 1, name, message))


def _kept_columns(chunk: _Chunk, positions: np.ndarray) -> dict[str, pa.Array]:
    if not chunk.broken:
        return dict(chunk.keep)
    # Rows that did not parse have no values: a null index in take() gives a null.
    index = np.full(chunk.size, -1, dtype=np.int64)
    index[positions] = np.arange(len(positions))
    indices = pa.array(index, mask=index < 0)
    return {name: column.take(indices) for name, column in chunk.keep.items()}


def _prediction_column(predicted: np.ndarray, at: np.ndarray, size: int) -> pa.Array:
    if predicted.shape != (len(at),):
        raise ValueError(f"predict returned shape {predicted.shape} for {len(at)} rows")
    has = np.zeros(size, dtype=bool)
    has[at] = True
    if predicted.dtype.kind == "f":
        values = np.full(size, np.nan)
        values[at] = predicted
        return pa.array(values, mask=~has)
    labels = np.full(size, None, dtype=object)
    labels[at] = predicted.astype(str)
    return pa.array(labels, type=pa.string())


def _problem_column(ordered: list[tuple[int, list[tuple[str, str]]]], size: int) -> pa.Array:
    texts = np.full(size, None, dtype=object)
    for position, found in ordered:
        texts[position] = "; ".join(f"{name}: {message}" for name, message in found)
    return pa.array(texts, type=pa.string())


# -- writing -------------------------------------------------------------------------------------------


class _OutputWriter:
    """Appends chunks to a temporary file beside ``output``; ``finish`` renames it, ``discard`` removes it."""

    def __init__(self, output: Path, keep: list[str], task: Task | None) -> None:
        self.output = output
        self.temporary = output.with_name(f".{output.name}.{os.getpid()}.tmp")
        self.keep = keep
        self.prediction_type: pa.DataType | None = None
        if task is not None:
            self.prediction_type = pa.float64() if task == "regression" else pa.string()
        self.schema: pa.Schema | None = None
        self.pending: list[dict[str, pa.Array | None]] = []  # chunks before the prediction type is known
        self.writer: pq.ParquetWriter | pacsv.CSVWriter | None = None

    def write(self, columns: dict[str, pa.Array | None]) -> None:
        prediction = columns["prediction"]
        if self.prediction_type is None:
            if prediction is None:
                self.pending.append(columns)  # only chunks where no row was valid wait here
                return
            self.prediction_type = pa.float64() if pa.types.is_floating(prediction.type) else pa.string()
        for waiting in self.pending:
            self._append(waiting)
        self.pending.clear()
        self._append(columns)

    def _append(self, columns: dict[str, pa.Array | None]) -> None:
        n = len(columns["row"])
        arrays = {**columns}
        if arrays["prediction"] is None:
            arrays["prediction"] = pa.nulls(n, self.prediction_type)
        if self.schema is None:
            self._open({name: array.type for name, array in arrays.items()})
        assert self.schema is not None and self.writer is not None
        for name in self.keep:
            wanted = self.schema.field(name).type
            if arrays[name].type != wanted:
                try:
                    arrays[name] = arrays[name].cast(wanted)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    change = f"{wanted} -> {arrays[name].type}"
                    message = f"kept column {name!r} changes type part way through ({change})"
                    raise DataError(message, where=str(self.output)) from exc
        arrays["prediction"] = arrays["prediction"].cast(self.prediction_type)
        self.writer.write_table(pa.Table.from_arrays(list(arrays.values()), schema=self.schema))

    def _open(self, types: dict[str, pa.DataType]) -> None:
        # A kept column that is null in the first chunk (a SQL chunk of NULLs) is typed as text.
        fields = [
            pa.field(name, pa.string() if pa.types.is_null(kind) else kind) for name, kind in types.items()
        ]
        self.schema = pa.schema(fields)
        try:
            if self.output.name.lower().endswith(".csv"):
                self.writer = pacsv.CSVWriter(str(self.temporary), self.schema)
            else:
                self.writer = pq.ParquetWriter(str(self.temporary), self.schema)
        except OSError as exc:
            raise DataError(f"cannot write the output ({_one_line(exc)})", where=str(self.output)) from exc

    def finish(self) -> None:
        if self.prediction_type is None:
            self.prediction_type = pa.float64()  # no row was valid: nothing says otherwise
        for waiting in self.pending:
            self._append(waiting)
        if self.schema is None:  # an input without rows still gives a well-formed, empty output
            empty = {"row": pa.array([], pa.int64())}
            empty |= {name: pa.array([], pa.string()) for name in self.keep}
            empty |= {"prediction": pa.nulls(0, self.prediction_type), "problem": pa.array([], pa.string())}
            self._append(empty)
        assert self.writer is not None
        self.writer.close()
        self.writer = None
        os.replace(self.temporary, self.output)

    def discard(self) -> None:
        if self.writer is not None:
            with contextlib.suppress(Exception):  # already failing; the file goes anyway
                self.writer.close()
        self.temporary.unlink(missing_ok=True)
