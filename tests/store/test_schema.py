"""The schema version of a store: fresh stores start at the current one, older stores are upgraded in place.

The old store is made with version 1's tables (tests/store/schema_v1.py, as hone created them before
versioning) on a SQLite file and a PostgreSQL database, holding rows an older hone wrote.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import schema_v1

import hone.maintain.learn  # noqa: F401 - defines hone_learn_state: a fresh store then has every table
import hone.maintain.retrain  # noqa: F401 - defines hone_retrain_runs
from hone.errors import StoreError
from hone.monitor.history import Alert, save_alert, stored_alerts
from hone.store.db import Store
from hone.store.registry import Registry
from hone.store.schema import SCHEMA_VERSION, schema_table, stored_version

AT = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
LONG_FEATURE = "median_income_" + "x" * 236  # 250 characters: over version 1's VARCHAR(200)


def _versions_recorded(url: str) -> list[int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.select(schema_table.c.version)).scalars())
    finally:
        engine.dispose()


def _make_version_1_store(url: str) -> None:
    """Version 1's tables with a locked split, two champion moves and an alert, as an older hone left them."""
    engine = sa.create_engine(url)
    schema_v1.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            schema_v1.splits_table.insert().values(
                project="housing",
                data_sha256="ab" * 32,
                spec=json.dumps({"test_size": 0.2}),
                n_rows=100,
                n_test=20,
                test_ids_sha256="cd" * 32,
                test_ids=json.dumps(list(range(20))),
                created_at=AT,
            )
        )
        champion = {"name": "housing", "alias": "champion", "version": 2, "updated_at": AT}
        connection.execute(schema_v1.aliases_table.insert().values(**champion))
        for from_version, to_version in [(None, 1), (1, 2)]:
            connection.execute(
                schema_v1.alias_events_table.insert().values(
                    name="housing",
                    alias="champion",
                    action="promote",
                    from_version=from_version,
                    to_version=to_version,
                    actor="ana@laptop",
                    reason=f"v{to_version}",
                    at=AT,
                )
            )
        connection.execute(
            schema_v1.alerts_table.insert().values(
                model="housing",
                version=2,
                key="drift:psi:median_income",
                kind="drift",
                check_name="psi",
                feature="median_income",
                message="drifted",
                value=0.4,
                threshold=0.25,
                window_start=AT,
                window_end=AT,
                at=AT,
                delivered="[]",
                errors="[]",
                suppressed=False,
            )
        )
    engine.dispose()


def _alert(feature: str) -> Alert:
    return Alert(
        id=None,
        model="housing",
        key=f"quality:stuck:{feature}",
        kind="quality",
        message="stuck",
        value=1.0,
        threshold=None,
        window_start=AT,
        window_end=AT,
        at=AT,
        delivered=[],
        suppressed=False,
        version=2,
        check="stuck",
        feature=feature,
    )


def _shape(url: str, *, types: bool) -> dict[str, Any]:
    """Each hone table's columns (name, nullable, primary key position, and the type when asked)."""
    engine = sa.create_engine(url)
    inspector = sa.inspect(engine)
    shape = {}
    for table in inspector.get_table_names():
        if table.startswith("hone_"):
            keys = inspector.get_pk_constraint(table)["constrained_columns"]
            shape[table] = [
                (c["name"], c["nullable"], keys.index(c["name"]) if c["name"] in keys else None)
                + ((c["type"].compile(engine.dialect),) if types else ())
                for c in inspector.get_columns(table)
            ]
    engine.dispose()
    return shape


def test_a_fresh_store_starts_at_the_current_version(store_url):
    store = Store(store_url)
    assert stored_version(store.engine) == SCHEMA_VERSION
    assert save_alert(store, _alert(LONG_FEATURE)).feature == LONG_FEATURE
    store.close()
    Store(store_url).close()  # opening it again records nothing more
    assert _versions_recorded(store_url) == [SCHEMA_VERSION]


def test_a_store_made_before_versioning_is_upgraded_in_place_and_keeps_its_rows(store_url, tmp_path):
    _make_version_1_store(store_url)
    engine = sa.create_engine(store_url)
    assert stored_version(engine) == 1
    engine.dispose()

    store = Store(store_url)
    assert stored_version(store.engine) == SCHEMA_VERSION
    registry = Registry(store, tmp_path / "artifacts")
    assert registry.alias_version("housing") == 2
    assert [(m.from_version, m.to_version, m.actor) for m in registry.history("housing")] == [
        (None, 1, "ana@laptop"),
        (1, 2, "ana@laptop"),
    ]
    assert registry.history("housing")[0].at == AT
    assert [(a.key, a.value, a.suppressed) for a in stored_alerts(store, "housing")] == [
        ("drift:psi:median_income", 0.4, False)
    ]
    split = store.locked_split("housing")
    assert (split.n_test, json.loads(split.test_ids)) == (20, list(range(20)))
    # What version 2 changed: a feature name longer than version 1's VARCHAR(200) is stored whole.
    saved = save_alert(store, _alert(LONG_FEATURE))
    assert stored_alerts(store, "housing")[-1] == saved and saved.feature == LONG_FEATURE
    store.close()
    Store(store_url).close()
    assert _versions_recorded(store_url) == [SCHEMA_VERSION]


def test_an_upgraded_store_has_the_tables_of_a_fresh_one(store_urls):
    old, fresh = store_urls(), store_urls()
    _make_version_1_store(old)
    for url in (old, fresh):
        Store(url).close()
    # SQLite keeps the declared VARCHAR(n) (it never enforced it); PostgreSQL's types must match exactly.
    types = sa.make_url(old).get_backend_name() == "postgresql"
    assert _shape(old, types=types) == _shape(fresh, types=types)


def test_concurrent_openers_of_an_old_store_upgrade_it_once(store_url):
    _make_version_1_store(store_url)
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            start.wait()
            Store(store_url).close()
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert _versions_recorded(store_url) == [SCHEMA_VERSION]


def test_a_store_from_a_newer_hone_is_refused_and_left_as_it_is(store_url):
    Store(store_url).close()
    engine = sa.create_engine(store_url)
    with engine.begin() as connection:
        connection.execute(schema_table.insert().values(version=SCHEMA_VERSION + 1, applied_at=AT))
    engine.dispose()

    with pytest.raises(StoreError, match=rf"schema version {SCHEMA_VERSION + 1}, newer than this hone's"):
        Store(store_url)
    assert _versions_recorded(store_url) == [SCHEMA_VERSION, SCHEMA_VERSION + 1]


def test_an_unreachable_store_is_one_line_without_its_password():
    url = "postgresql+psycopg://hone:s3cret@127.0.0.1:1/hone?connect_timeout=2"
    hidden = r"cannot open the store 'postgresql\+psycopg://hone:\*\*\*@127"
    with pytest.raises(StoreError, match=hidden) as caught:
        Store(url)
    assert "s3cret" not in str(caught.value)
    assert "\n" not in str(caught.value)
