"""The project store's own tables on a real SQLite file and a real PostgreSQL database: the locked test
split, the looks at the test set, the runs of hone commands."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from hone.errors import StoreError
from hone.store.db import Store


@pytest.fixture()
def store(store_url: str):
    opened = Store(store_url)
    yield opened
    opened.close()


def test_the_test_split_is_locked_once_and_a_different_one_is_refused(store):
    spec = {"test_size": 0.2, "seed": 42}
    assert store.lock_split("housing", "ab" * 32, spec, 100, [3, 1, 4], "cd" * 32) is True
    assert store.lock_split("housing", "ab" * 32, spec, 100, [3, 1, 4], "cd" * 32) is False
    with pytest.raises(StoreError, match="this run's split differs"):
        store.lock_split("housing", "ab" * 32, spec, 100, [2, 7], "ef" * 32)

    locked = store.locked_split("housing")
    assert (locked.n_rows, locked.n_test, locked.test_ids_sha256) == (100, 3, "cd" * 32)
    assert store.locked_split("prices") is None


def test_only_the_last_final_evaluation_stays_final(store):
    first = store.record_evaluation(
        "housing", "cd" * 32, "forest", "housing.forest.1", {"a": 1}, {"rmse": 2.5}
    )
    second = store.record_evaluation(
        "housing", "cd" * 32, "linear", "housing.linear.1", {}, {"rmse": 3.0}, final=True
    )
    third = store.record_evaluation(
        "housing", "cd" * 32, "forest", "housing.forest.1", {"a": 1}, {"rmse": 2.5}, final=True
    )
    store.record_evaluation("prices", "cd" * 32, "forest", "prices.forest.1", {}, {}, final=True)

    looks = store.evaluations("housing")
    assert [row.id for row in looks] == [first, second, third]
    assert [bool(row.final) for row in looks] == [False, False, True]
    assert [bool(row.final) for row in store.evaluations("prices")] == [True]


def test_a_run_records_its_studies_once_each_and_how_it_ended(store):
    before = datetime.now(timezone.utc)
    run = store.start_run("housing", "tune")
    store.add_run_study(run, "housing.forest.1")
    store.add_run_study(run, "housing.linear.1")
    store.add_run_study(run, "housing.forest.1")
    store.finish_run(run, "failed")
    store.start_run("housing", "evaluate")

    last = store.last_run("housing")
    assert (last.id, last.status, last.studies) == (run, "failed", '["housing.forest.1", "housing.linear.1"]')
    started = last.started_at if last.started_at.tzinfo else last.started_at.replace(tzinfo=timezone.utc)
    assert before <= started
    assert last.finished_at is not None
    assert store.last_run("prices") is None


def test_a_run_is_finished_or_marked_interrupted_when_something_escapes(store):
    with store.run("housing", "tune") as run_id:
        assert store.last_run("housing").status == "running"
    assert (store.last_run("housing").id, store.last_run("housing").status) == (run_id, "finished")
    with pytest.raises(KeyboardInterrupt), store.run("housing", "tune") as run_id:
        raise KeyboardInterrupt
    assert (store.last_run("housing").id, store.last_run("housing").status) == (run_id, "interrupted")
