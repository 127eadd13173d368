"""What monitoring remembers: every checked window and every alert, in the project store.

``hone_monitor_windows`` holds one row per checked window with its full report as JSON and a cursor (the
last log row it consumed), so the next run starts exactly after it. ``hone_alerts`` holds every alert,
delivered or suppressed by the cool-down. Both live in the same database as the registry.
"""

from __future__ import annotations

import json
import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from hone.errors import StoreError
from hone.store.db import Store, metadata
from hone.store.jsonable import json_default

if TYPE_CHECKING:  # alerts need these tables without the checks' dependencies
    from hone.monitor.checks import WindowReport

windows_table = sa.Table(
    "hone_monitor_windows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model", sa.Text, nullable=False),
    # Numbered per model: two overlapping runs computing the same windows collide here instead of
    # storing them twice (start/end alone may repeat: many rows of one request share a timestamp).
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("n_labelled", sa.Integer, nullable=False),
    sa.Column("n_failed", sa.Integer, nullable=False),
    sa.Column("report", sa.Text, nullable=False),
    # The last log row consumed: its timestamp and the ids of the rows at that timestamp already read.
    sa.Column("cursor_ts", sa.DateTime(timezone=True), nullable=False),
    sa.Column("cursor_ids", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("model", "seq", name="uq_monitor_window_seq"),
)

alerts_table = sa.Table(
    "hone_alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("version", sa.Integer),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("check_name", sa.Text, nullable=False),
    sa.Column("feature", sa.Text),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("value", sa.Float),  # NULL for a NaN value
    sa.Column("threshold", sa.Float),
    sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("delivered", sa.Text, nullable=False),  # JSON list of channels that took it
    sa.Column("errors", sa.Text, nullable=False),  # JSON list of "channel: why it failed"
    sa.Column("suppressed", sa.Boolean, nullable=False),
    sa.Index("ix_hone_alerts_model_key_at", "model", "key", "at"),
)

# The last checked window's row sketch (``quality.row_sketch``), one row per model: the next run finds
# a feed repeating those rows. ``seq`` says which window it is from.
sketches_table = sa.Table(
    "hone_monitor_row_sketches",
    metadata,
    sa.Column("model", sa.Text, primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hashes", sa.LargeBinary, nullable=False),  # little-endian uint64, sorted
)

_TABLES = [windows_table, alerts_table, sketches_table]


@dataclass(frozen=True)
class Alert:
    """One alert: a failed check of one window (or an automatic roll-back), as stored and delivered.

    ``suppressed``: inside the cool-down of an earlier alert with the same key, so stored but not sent.
    """

    id: int | None
    model: str
    key: str
    kind: str
    message: str
    value: float
    threshold: float | None
    window_start: datetime
    window_end: datetime
    at: datetime
    delivered: list[str]
    suppressed: bool
    version: int | None = None
    check: str = ""
    feature: str | None = None
    errors: list[str] = field(default_factory=list)  # channels that failed, with why


@dataclass(frozen=True)
class Cursor:
    """Where the last stored window stopped reading the log."""

    seq: int
    ts: datetime
    ids: frozenset[str]


_READY: weakref.WeakSet[sa.Engine] = weakref.WeakSet()  # engines whose tables exist: checked once each


def create_tables(store: Store) -> None:
    if store.engine in _READY:
        return
    try:
        # The store may have been opened before this module defined its tables.
        metadata.create_all(store.engine, tables=_TABLES)
    except sa.exc.SQLAlchemyError as error:
        raise StoreError(f"cannot create the monitoring tables: {str(error).splitlines()[0]}") from None
    _READY.add(store.engine)


def utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


# -- windows ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredWindow:
    """A checked window to store: its report, the version it was checked against, and the cursor after it."""

    report: WindowReport
    version: int
    cursor_ts: datetime
    cursor_ids: Sequence[str]


def last_cursor(store: Store, model: str) -> Cursor | None:
    create_tables(store)
    columns = windows_table.c
    query = (
        sa.select(columns.seq, columns.cursor_ts, columns.cursor_ids)
        .where(columns.model == model)
        .order_by(columns.seq.desc())
        .limit(1)
    )
    with store.engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None:
        return None
    return Cursor(row.seq, utc(row.cursor_ts), frozenset(json.loads(row.cursor_ids)))


def last_row_sketch(store: Store, model: str, cursor: Cursor | None) -> np.ndarray | None:
    """The row sketch of the window that ended at ``cursor``; None if there is none (or it is of another)."""
    if cursor is None:
        return None
    create_tables(store)
    columns = sketches_table.c
    query = sa.select(columns.seq, columns.hashes).where(columns.model == model)
    with store.engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None or row.seq != cursor.seq:
        return None
    return np.frombuffer(row.hashes, dtype="<u8").astype(np.uint64)


def save_windows(
    store: Store,
    model: str,
    windows: Sequence[StoredWindow],
    after: Cursor | None,
    *,
    row_sketch: np.ndarray | None = None,
) -> None:
    """Store the windows that follow ``after``, all or none; StoreError if another run stored them first.

    ``row_sketch``: the last window's, kept (in the same transaction) for the next run to compare with.
    """
    if not windows:
        return
    first_seq = (after.seq if after is not None else 0) + 1
    created_at = datetime.now(timezone.utc)
    rows = [
        {
            "model": model,
            "seq": first_seq + i,
            "version": window.version,
            "start": window.report.start,
            "end": window.report.end,
            "n_rows": window.report.n_rows,
            "n_labelled": window.report.n_labelled,
            "n_failed": len(window.report.failed),
            "report": json.dumps(window.report.to_dict(), allow_nan=False, default=json_default),
            "cursor_ts": window.cursor_ts,
            "cursor_ids": json.dumps(sorted(window.cursor_ids)),
            "created_at": created_at,
        }
        for i, window in enumerate(windows)
    ]
    try:
        with store.engine.begin() as connection:
            connection.execute(windows_table.insert(), rows)
            connection.execute(sa.delete(sketches_table).where(sketches_table.c.model == model))
            if row_sketch is not None:
                sketch = {"model": model, "seq": first_seq + len(windows) - 1}
                hashes = np.ascontiguousarray(row_sketch, dtype="<u8").tobytes()
                connection.execute(sketches_table.insert(), {**sketch, "hashes": hashes})
    except sa.exc.IntegrityError:
        raise StoreError(
            f"another `hone monitor` run stored windows of model {model!r} at the same time; "
            "nothing stored by this one (run it again)"
        ) from None


def stored_windows(store: Store, model: str, *, limit: int | None = None) -> list[WindowReport]:
    """The model's checked windows, oldest first (the latest ``limit`` of them when given)."""
    return [report for _, report in stored_windows_with_versions(store, model, limit=limit)]


def stored_windows_with_versions(
    store: Store, model: str, *, limit: int | None = None
) -> list[tuple[int, WindowReport]]:
    """(version checked against, report) per stored window, oldest first."""
    from hone.monitor.checks import WindowReport

    create_tables(store)
    columns = windows_table.c
    query = (
        sa.select(columns.version, columns.report).where(columns.model == model).order_by(columns.seq.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    with store.engine.connect() as connection:
        rows = list(connection.execute(query))
    return [(row.version, WindowReport.from_dict(json.loads(row.report))) for row in reversed(rows)]



# -- alerts ----------------------------------------------------------------------------------------------


def last_sent(store: Store, model: str, key: str, since: datetime) -> datetime | None:
    """When an alert with this key was last sent (not suppressed) at or after ``since``, if it was."""
    create_tables(store)
    columns = alerts_table.c
    query = sa.select(sa.func.max(columns.at)).where(
        columns.model == model, columns.key == key, columns.suppressed.is_(False), columns.at >= since
    )
    with store.engine.connect() as connection:
        found = connection.execute(query).scalar()
    return None if found is None else utc(found)


def in_cooldown(store: Store, model: str, key: str, at: datetime, cooldown_seconds: float) -> bool:
    return last_sent(store, model, key, at - timedelta(seconds=cooldown_seconds)) is not None


def save_alert(store: Store, alert: Alert) -> Alert:
    """Store ``alert``; returns it with its id."""
    create_tables(store)
    row = {
        "model": alert.model,
        "version": alert.version,
        "key": alert.key,
        "kind": alert.kind,
        "check_name": alert.check,
        "feature": alert.feature,
        "message": alert.message,
        "value": _finite(alert.value),
        "threshold": _finite(alert.threshold),
        "window_start": alert.window_start,
        "window_end": alert.window_end,
        "at": alert.at,
        "delivered": json.dumps(list(alert.delivered)),
        "errors": json.dumps(list(alert.errors)),
        "suppressed": alert.suppressed,
    }
    with store.engine.begin() as connection:
        result = connection.execute(alerts_table.insert().values(**row))
    return replace(alert, id=int(result.inserted_primary_key[0]))


def stored_alerts(store: Store, model: str | None = None, *, limit: int | None = None) -> list[Alert]:
    """Stored alerts (of ``model``, or of every model), oldest first (the latest ``limit`` when given)."""
    create_tables(store)
    columns = alerts_table.c
    query = sa.select(alerts_table).order_by(columns.id.desc())
    if model is not None:
        query = query.where(columns.model == model)
    if limit is not None:
        query = query.limit(limit)
    with store.engine.connect() as connection:
        rows = list(connection.execute(query))
    return [_alert_from_row(row) for row in reversed(rows)]


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _alert_from_row(row: Any) -> Alert:
    return Alert(
        id=row.id,
        model=row.model,
        key=row.key,
        kind=row.kind,
        message=row.message,
        value=math.nan if row.value is None else float(row.value),
        threshold=row.threshold,
        window_start=utc(row.window_start),
        window_end=utc(row.window_end),
        at=utc(row.at),
        delivered=list(json.loads(row.delivered)),
        suppressed=bool(row.suppressed),
        version=row.version,
        check=row.check_name,
        feature=row.feature,
        errors=list(json.loads(row.errors)),
    )
