"""The version of hone's tables in a store, and the steps that bring a store made by an older hone up to date.

``hone_schema`` holds one row per schema version the store reached, with when. Opening a store reads it:
a fresh database gets every table at the current version; a store from an older hone is upgraded in
place, one migration per version step, in one transaction that other openers wait for (an advisory lock
on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite); a store from a newer hone is refused.

Versions:

1. hone before versioning: the hone tables, no ``hone_schema``.
2. ``hone_schema``; names and free text are TEXT instead of VARCHAR(n). PostgreSQL enforces VARCHAR
   lengths (SQLite does not), so a feature name over 200 characters failed a monitor run there only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import sqlalchemy as sa

from hone.errors import StoreError

SCHEMA_VERSION = 2

schema_table = sa.Table(
    "hone_schema",
    sa.MetaData(),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)

# A database holding any of these tables but no hone_schema was made by a hone before versioning.
V1_TABLES = frozenset(
    {
        "hone_splits",
        "hone_runs",
        "hone_evaluations",
        "hone_model_versions",
        "hone_aliases",
        "hone_alias_events",
        "hone_monitor_windows",
        "hone_alerts",
        "hone_monitor_row_sketches",
        "hone_retrain_runs",
        "hone_learn_state",
    }
)

# Version 1's VARCHAR(n) columns holding names or free text (fixed formats such as hashes keep theirs).
_V2_TEXT_COLUMNS = {
    "hone_splits": ("project",),
    "hone_runs": ("project",),
    "hone_evaluations": ("project", "model", "study"),
    "hone_model_versions": ("name", "created_by"),
    "hone_aliases": ("name", "alias"),
    "hone_alias_events": ("name", "alias", "actor"),
    "hone_monitor_windows": ("model",),
    "hone_alerts": ("model", "key", "check_name", "feature"),
    "hone_monitor_row_sketches": ("model",),
    "hone_retrain_runs": ("model",),
    "hone_learn_state": ("model", "position_id"),
}

# Any fixed number: PostgreSQL advisory locks are named by a bigint. ("hone" in ASCII.)
_POSTGRES_LOCK = 0x686F6E65


def _v1_to_v2(connection: sa.Connection) -> None:
    # SQLite stores VARCHAR(n) and TEXT alike and never checked the length: nothing to change there.
    if connection.dialect.name != "postgresql":
        return
    present = set(sa.inspect(connection).get_table_names())
    for table, columns in _V2_TEXT_COLUMNS.items():
        if table in present:
            changes = ", ".join(f'ALTER COLUMN "{column}" TYPE TEXT' for column in columns)
            connection.exec_driver_sql(f'ALTER TABLE "{table}" {changes}')


# MIGRATIONS[n] brings a store from version n to n + 1.
MIGRATIONS: dict[int, Callable[[sa.Connection], None]] = {1: _v1_to_v2}


def stored_version(connection: sa.Connection | sa.Engine) -> int | None:
    """The store's schema version: None for a database without hone tables."""
    tables = set(sa.inspect(connection).get_table_names())
    if schema_table.name in tables:
        query = sa.select(sa.func.max(schema_table.c.version))
        if isinstance(connection, sa.Engine):
            with connection.connect() as reading:
                return reading.execute(query).scalar()
        return connection.execute(query).scalar()
    return 1 if tables & V1_TABLES else None


def prepare_schema(engine: sa.Engine, metadata: sa.MetaData) -> None:
    """Bring the store to SCHEMA_VERSION (a fresh one gets every table), then create any missing table."""
    if stored_version(engine) != SCHEMA_VERSION:
        with engine.begin() as connection:
            _lock_schema(connection)
            found = stored_version(connection)  # again: another opener may have upgraded it meanwhile
            if found is not None and found > SCHEMA_VERSION:
                raise StoreError(
                    f"this store has hone schema version {found}, newer than this hone's "
                    f"({SCHEMA_VERSION}): upgrade hone to open it",
                    where=engine.url.render_as_string(hide_password=True),
                )
            if found != SCHEMA_VERSION:
                for version in range(found or SCHEMA_VERSION, SCHEMA_VERSION):
                    MIGRATIONS[version](connection)
                metadata.create_all(connection)
                schema_table.create(connection, checkfirst=True)
                applied = datetime.now(timezone.utc)
                connection.execute(schema_table.insert().values(version=SCHEMA_VERSION, applied_at=applied))
    metadata.create_all(engine)  # tables of modules imported since the store was made


def _lock_schema(connection: sa.Connection) -> None:
    """Make concurrent openers of one store take turns until this transaction ends."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _POSTGRES_LOCK})
    elif connection.dialect.name == "sqlite":
        # pysqlite has not begun a transaction yet (it does so before the first write only): take the
        # write lock now, before reading the version.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
