"""Two writers moving one alias at once, each through its own engine: no move is lost or recorded twice.

Both threads promote and roll back the champion many times against a SQLite file and a PostgreSQL database;
afterwards the audit trail must be one unbroken chain that replays to the alias row, holding exactly the
moves the writers were told succeeded.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from hone.data import build_preparation, housing_prepare_spec
from hone.data.schema import FeatureSchema
from hone.errors import StoreError
from hone.store.db import Store
from hone.store.registry import AliasMove, Registry

TARGET = "median_house_value"
WRITERS = 2
MOVES_PER_WRITER = 40
VERSIONS = (1, 2, 3)
# What a writer may be told instead of a move, when the other writer got there first.
NOTHING_TO_DO = ("already points at", "no previous champion")


@pytest.fixture(scope="module")
def pipeline_and_schema(housing_split) -> tuple[Pipeline, FeatureSchema, list[dict[str, Any]]]:
    train = housing_split.train.iloc[:300]
    X, y = train.drop(columns=TARGET), train[TARGET]
    prepare = build_preparation(housing_prepare_spec(), train, TARGET)
    pipeline = Pipeline([("prepare", prepare), ("model", LinearRegression())]).fit(X, y)
    return pipeline, FeatureSchema.from_frame(X, target=TARGET), X.dropna().iloc[:2].to_dict("records")


def _writer(url: str, artifacts: Path, writer: int, start: threading.Barrier, out: dict[str, Any]) -> None:
    """Promote and roll back in turns through a store of its own; every outcome goes to ``out``."""
    store = Store(url)
    registry = Registry(store, artifacts)
    moves: list[AliasMove] = []
    refused: list[str] = []
    try:
        start.wait()
        for i in range(MOVES_PER_WRITER):
            reason = f"writer {writer} move {i}"
            try:
                if i % 3 == 2:
                    moves.append(registry.rollback("housing", reason=reason, actor=f"w{writer}"))
                else:
                    target = VERSIONS[(i + writer) % len(VERSIONS)]
                    moves.append(registry.promote("housing", target, reason=reason, actor=f"w{writer}"))
            except StoreError as error:
                if not any(text in str(error) for text in NOTHING_TO_DO):
                    raise
                refused.append(str(error))
    except BaseException as error:  # reported by the test's assertion
        out.setdefault("errors", []).append(error)
    finally:
        store.close()
    out[f"moves{writer}"] = moves
    out[f"refused{writer}"] = refused


def test_concurrent_promotions_and_rollbacks_lose_no_update(store_url, tmp_path, pipeline_and_schema):
    pipeline, schema, examples = pipeline_and_schema
    store = Store(store_url)
    registry = Registry(store, tmp_path / "artifacts")
    for _ in VERSIONS:
        registry.register(
            "housing",
            pipeline,
            task="regression",
            schema=schema,
            profile={"examples": examples},
            params={},
            metrics={},
            data={},
            source={},
        )
    registry.promote("housing", 1, reason="start", actor="setup")

    out: dict[str, Any] = {}
    start = threading.Barrier(WRITERS)
    threads = [
        threading.Thread(target=_writer, args=(store_url, tmp_path / "artifacts", w, start, out))
        for w in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert out.get("errors", []) == []
    told = [move for w in range(WRITERS) for move in out[f"moves{w}"]]
    history = registry.history("housing")
    # Every move a writer was told about is in the trail exactly once, and nothing else is.
    assert len(history) == 1 + len(told)
    assert sorted(m.reason for m in history[1:]) == sorted(m.reason for m in told)
    by_reason = {m.reason: m for m in history}
    for move in told:
        recorded = by_reason[move.reason]
        assert (recorded.action, recorded.from_version, recorded.to_version) == (
            move.action,
            move.from_version,
            move.to_version,
        )
    # One unbroken chain: each move starts where the previous one ended, and rollbacks pop the stack.
    stack: list[int] = []
    previous: int | None = None
    for move in history:
        assert move.from_version == previous, (move, previous)
        if move.action == "rollback":
            stack.pop()
            assert move.to_version == stack[-1]
        else:
            stack.append(move.to_version)
        previous = move.to_version
    assert registry.alias_version("housing") == previous
    # The writers really raced: both moved the alias, and the trail interleaves them.
    assert all(out[f"moves{w}"] for w in range(WRITERS))
    actors = [m.actor for m in history[1:]]
    assert sum(a != b for a, b in zip(actors, actors[1:], strict=False)) >= 2
    store.close()

