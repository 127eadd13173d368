"""The registry on a real SQLite file and a real PostgreSQL database with real fitted pipelines.

Versions, aliases, roll-back, audit; the ``registry`` fixture runs each test on both stores.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pytest
import sklearn
import sqlalchemy as sa
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline

from hone.data import build_preparation, housing_prepare_spec
from hone.data.schema import FeatureSchema
from hone.errors import StoreError
from hone.store.db import Store, sqlite_url
from hone.store.registry import LIBRARIES, Registry, default_actor

TARGET = "median_house_value"
SPEC = housing_prepare_spec()  # the book's preparation


# -- fixtures: real pipelines on a slice of the housing training set ---------------------------------


class _Housing:
    def __init__(self, train: pd.DataFrame) -> None:
        self.train = train.iloc[:2000]
        self.X = self.train.drop(columns=TARGET)
        self.y = self.train[TARGET]
        self.schema = FeatureSchema.from_frame(self.X, target=TARGET)
        complete = self.X.dropna()
        self.examples = complete.iloc[:3].to_dict("records")
        self.holdout = train.iloc[2000:2300].drop(columns=TARGET)

    def pipeline(self, model: Any, y: pd.Series | None = None) -> Pipeline:
        prepare = build_preparation(SPEC, self.train, TARGET)
        return Pipeline([("prepare", prepare), ("model", model)]).fit(self.X, self.y if y is None else y)


@pytest.fixture(scope="module")
def housing_data(housing_split) -> _Housing:
    return _Housing(housing_split.train)


@pytest.fixture(scope="module")
def forest(housing_data: _Housing) -> Pipeline:
    return housing_data.pipeline(RandomForestRegressor(n_estimators=30, max_features=8, random_state=42))


@pytest.fixture(scope="module")
def linear(housing_data: _Housing) -> Pipeline:
    return housing_data.pipeline(LinearRegression())


@pytest.fixture()
def registry(store_url: str, tmp_path: Path) -> Registry:
    store = Store(store_url)
    yield Registry(store, tmp_path / "artifacts")
    store.close()


def _register(registry: Registry, data: _Housing, pipeline: Any, **overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "task": "regression",
        "schema": data.schema,
        "profile": {"examples": data.examples, "n_rows": len(data.X)},
        "params": {"max_features": 8, "n_estimators": 30},
        "metrics": {"cv": {"rmse": 50_123.4, "rmse_std": 812.5}, "test": {"rmse": 48_900.1}},
        "data": {"sha256": "ab" * 32, "n_rows": len(data.X)},
        "source": {"project": "housing", "model": "forest", "study": "housing.forest.1a2b", "candidate": 7},
        "description": "the seed's forest",
    }
    name = overrides.pop("name", "housing")
    arguments.update(overrides)
    return registry.register(name, pipeline, **arguments)


def _three_versions(registry: Registry, data: _Housing, pipeline: Any) -> None:
    for _ in range(3):
        _register(registry, data, pipeline)


# -- register, get, load -----------------------------------------------------------------------------


def test_register_twice_numbers_versions_and_round_trips_every_field(registry, housing_data, forest, linear):
    before = datetime.now(timezone.utc)
    first = _register(
        registry, housing_data, forest, params={"max_features": np.int64(8), "n_estimators": 30}
    )
    second = _register(registry, housing_data, linear, created_by="ana@ci", description="linear baseline")
    after = datetime.now(timezone.utc)

    assert (first.version, second.version) == (1, 2)
    assert [v.version for v in registry.versions("housing")] == [1, 2]
    assert registry.names() == ["housing"]
    stored = registry.get("housing", 1)
    assert stored == first
    assert before <= stored.created_at <= after
    assert stored.created_by == default_actor()
    assert stored.task == "regression"
    assert stored.params == {"max_features": 8, "n_estimators": 30}
    assert stored.metrics == {"cv": {"rmse": 50_123.4, "rmse_std": 812.5}, "test": {"rmse": 48_900.1}}
    assert stored.data == {"sha256": "ab" * 32, "n_rows": 2000}
    assert stored.source["candidate"] == 7 and stored.source["study"] == "housing.forest.1a2b"
    assert stored.description == "the seed's forest"
    assert stored.schema == housing_data.schema
    assert stored.profile["examples"] == housing_data.examples
    assert set(stored.libraries) >= {"python", *LIBRARIES}
    assert stored.libraries["scikit-learn"] == sklearn.__version__
    artifact = Path(stored.artifact_uri).read_bytes()
    assert stored.artifact_sha256 == hashlib.sha256(artifact).hexdigest()
    assert stored.artifact_bytes == len(artifact)
    assert Path(stored.artifact_uri).name == f"v1-{stored.artifact_sha256[:12]}.joblib"
    assert registry.get("housing", "2") == second
    assert (second.created_by, second.description) == ("ana@ci", "linear baseline")


def test_a_loaded_version_predicts_exactly_as_the_original(registry, housing_data, forest):
    version = _register(registry, housing_data, forest)

    loaded = registry.load(registry.get("housing", version.version))

    assert loaded is not forest
    np.testing.assert_array_equal(loaded.predict(housing_data.holdout), forest.predict(housing_data.holdout))


def test_get_resolves_numbers_aliases_champion_then_latest(registry, housing_data, linear):
    _three_versions(registry, housing_data, linear)

    assert registry.get("housing").version == 3  # no champion yet: the latest
    registry.promote("housing", 2)
    registry.set_alias("housing", "challenger", 3)
    assert registry.get("housing").version == 2
    assert registry.get("housing", "champion").version == 2
    assert registry.get("housing", "challenger").version == 3
    assert registry.get("housing", 1).version == 1
    with pytest.raises(StoreError, match=r"no version 7; its versions: 1, 2, 3"):
        registry.get("housing", 7)
    with pytest.raises(
        StoreError, match=r"no alias 'staging'; its aliases: challenger -> v3, champion -> v2"
    ):
        registry.get("housing", "staging")
    with pytest.raises(StoreError, match=r"no model named 'houses' in the registry \(registered: housing\)"):
        registry.get("houses")


def test_register_refuses_what_could_never_be_served(registry, housing_data, linear):
    with pytest.raises(StoreError, match="not a valid model name"):
        _register(registry, housing_data, linear, name="my model")
    with pytest.raises(StoreError, match="unknown task 'ranking'"):
        _register(registry, housing_data, linear, task="ranking")
    with pytest.raises(StoreError, match=r"no example records"):
        _register(registry, housing_data, linear, profile={"n_rows": 3})
    assert registry.versions() == []
    with pytest.raises(StoreError, match="the registry is empty"):
        registry.get("housing")


def test_concurrent_registrations_get_distinct_numbers_and_keep_every_artifact(
    registry, housing_data, linear, tmp_path
):
    errors: list[BaseException] = []

    def register_some() -> None:
        try:
            for _ in range(3):
                _register(registry, housing_data, linear)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=register_some) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    versions = registry.versions("housing")
    assert [v.version for v in versions] == [1, 2, 3, 4, 5, 6]
    assert sorted(p.name for p in (tmp_path / "artifacts" / "housing").iterdir()) == sorted(
        Path(v.artifact_uri).name for v in versions
    )
    for version in versions:
        registry.load(version)


# -- aliases: promote, roll back, audit --------------------------------------------------------------


def test_promote_and_rollback_walk_the_champion_history_as_a_stack(registry, housing_data, linear):
    _three_versions(registry, housing_data, linear)
    for version in (1, 2, 3):
        registry.promote("housing", version)

    assert registry.rollback("housing").to_version == 2
    assert registry.rollback("housing").to_version == 1  # two steps back, not back to 3
    with pytest.raises(StoreError, match=r"no previous champion to roll back to \(v1 is the first\)"):
        registry.rollback("housing")
    assert registry.alias_version("housing") == 1
    registry.promote("housing", 3)
    move = registry.rollback("housing", reason="latency regression")
    assert (move.from_version, move.to_version, move.action) == (3, 1, "rollback")
    assert registry.aliases("housing") == {"champion": 1}


def test_rollback_without_any_champion_is_refused(registry, housing_data, linear):
    _register(registry, housing_data, linear)

    with pytest.raises(StoreError, match=r"no previous champion .*it has no champion"):
        registry.rollback("housing")


def test_promoting_the_champion_again_is_refused_and_records_nothing(registry, housing_data, linear):
    _register(registry, housing_data, linear)
    registry.promote("housing", 1)

    with pytest.raises(StoreError, match=r"already points at v1; nothing to do"):
        registry.promote("housing", 1)
    assert len(registry.history("housing")) == 1


def test_alias_names_are_checked(registry, housing_data, linear):
    _register(registry, housing_data, linear)

    with pytest.raises(StoreError, match="not a valid alias"):
        registry.set_alias("housing", "prod env", 1)
    with pytest.raises(StoreError, match="would read as a version number"):
        registry.set_alias("housing", "2", 1)
    registry.set_alias("housing", "staging-eu.1", 1)
    assert registry.aliases("housing") == {"staging-eu.1": 1}


def test_the_audit_trail_records_who_when_from_to_and_why(registry, housing_data, linear):
    _three_versions(registry, housing_data, linear)
    before = datetime.now(timezone.utc)
    registry.promote("housing", 1, reason="first launch")
    registry.set_alias("housing", "challenger", 2, actor="retrain@ci", reason="fresh data")
    registry.promote("housing", 2, actor="ana@laptop", reason="beats v1 on fresh data")
    registry.rollback("housing", actor="bob@laptop", reason="errors up 20%")
    after = datetime.now(timezone.utc)

    trail = [
        (m.alias, m.action, m.from_version, m.to_version, m.actor, m.reason)
        for m in registry.history("housing")
    ]
    assert trail == [
        ("champion", "promote", None, 1, default_actor(), "first launch"),
        ("challenger", "set", None, 2, "retrain@ci", "fresh data"),
        ("champion", "promote", 1, 2, "ana@laptop", "beats v1 on fresh data"),
        ("champion", "rollback", 2, 1, "bob@laptop", "errors up 20%"),
    ]
    moments = [m.at for m in registry.history("housing")]
    assert moments == sorted(moments)
    assert before <= moments[0] and moments[-1] <= after


# -- nothing moves to a version that cannot serve ----------------------------------------------------


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-64])


@pytest.mark.parametrize("damage", [_flip_a_byte, _truncate], ids=["tampered", "truncated"])
def test_rollback_to_a_damaged_artifact_is_refused_and_the_champion_stays(
    registry, housing_data, forest, damage
):
    _register(registry, housing_data, forest)
    _register(registry, housing_data, forest)
    registry.promote("housing", 1)
    registry.promote("housing", 2)
    damaged = registry.get("housing", 1)
    damage(Path(damaged.artifact_uri))

    with pytest.raises(StoreError) as caught:
        registry.rollback("housing", reason="try")

    message = str(caught.value)
    assert message.startswith(f"model 'housing' v1 ({damaged.artifact_uri}): ")
    assert damaged.artifact_sha256 in message
    assert "refusing to load it; champion not moved" in message
    assert registry.alias_version("housing") == 2
    assert [m.to_version for m in registry.history("housing")] == [1, 2]


def test_promotion_to_a_missing_artifact_is_refused(registry, housing_data, linear):
    version = _register(registry, housing_data, linear)
    Path(version.artifact_uri).unlink()

    with pytest.raises(StoreError, match=r"artifact is missing .*refusing to load it; champion not moved"):
        registry.promote("housing", 1)
    assert registry.alias_version("housing") is None


def test_a_moved_project_folder_still_loads_its_artifacts_and_checks_them(tmp_path, housing_data, linear):
    before = tmp_path / "before"
    store = Store(sqlite_url(before / "hone.db"))
    version = _register(Registry(store, before / "artifacts"), housing_data, linear)
    store.close()
    after = tmp_path / "after"
    shutil.move(before, after)  # the recorded URI now points nowhere

    moved_store = Store(sqlite_url(after / "hone.db"))
    moved = Registry(moved_store, after / "artifacts")
    loaded = moved.load(moved.get("housing", 1))
    np.testing.assert_array_equal(
        loaded.predict(housing_data.X.iloc[:5]), linear.predict(housing_data.X.iloc[:5])
    )

    # The file found in the new place passes the same checks: a different file there is refused.
    relocated = after / "artifacts" / "housing" / Path(version.artifact_uri).name
    relocated.write_bytes(relocated.read_bytes()[:-10])
    with pytest.raises(StoreError, match="truncated or replaced"):
        moved.load(moved.get("housing", 1))
    relocated.unlink()
    with pytest.raises(StoreError, match="artifact is missing"):
        moved.load(moved.get("housing", 1))
    moved_store.close()


class RaisingModel(RegressorMixin, BaseEstimator):
    def fit(self, X: Any, y: Any) -> RaisingModel:  # noqa: N803 - scikit-learn's naming
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        raise RuntimeError("weights file not found")


class NanModel(RaisingModel):
    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        return np.full(X.shape[0], np.nan)


class ShortModel(RaisingModel):
    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        return np.zeros(X.shape[0] - 1)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (
            RaisingModel(),
            r"smoke prediction on its 3 example records failed \(RuntimeError: weights file not",
        ),
        (NanModel(), r"smoke prediction gave non-finite values \[nan, nan, nan\]"),
        (ShortModel(), r"smoke prediction gave shape \(2,\) for 3 example records"),
    ],
    ids=["raises", "nan", "short"],
)
def test_promotion_is_refused_when_the_smoke_prediction_fails(
    registry, housing_data, linear, model, expected
):
    _register(registry, housing_data, linear)
    registry.promote("housing", 1)
    _register(registry, housing_data, housing_data.pipeline(model))

    with pytest.raises(StoreError, match=expected) as caught:
        registry.promote("housing", 2)

    assert str(caught.value).startswith("model 'housing' v2: ")
    assert str(caught.value).endswith("champion not moved")
    assert registry.alias_version("housing") == 1
    assert len(registry.history("housing")) == 1


def test_promotion_is_refused_when_an_example_breaks_the_schema(registry, housing_data, linear):
    examples = [dict(housing_data.examples[0], ocean_proximity="ON MARS"), *housing_data.examples[1:]]
    _register(registry, housing_data, linear, profile={"examples": examples})

    with pytest.raises(
        StoreError, match=r"example records do not fit its schema \(row 0, ocean_proximity: unseen"
    ):
        registry.set_alias("housing", "challenger", 1)
    assert registry.aliases("housing") == {}


class StrangerClassifier(ClassifierMixin, BaseEstimator):
    def fit(self, X: Any, y: Any) -> StrangerClassifier:  # noqa: N803
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        return np.array(["martian"] * X.shape[0], dtype=object)


def test_a_classifier_must_predict_classes_it_was_trained_on(registry, housing_data):
    expensive = np.where(housing_data.y > 200_000, "high", "low")
    good = housing_data.pipeline(LogisticRegression(max_iter=500), pd.Series(expensive))
    stranger = housing_data.pipeline(StrangerClassifier(), pd.Series(expensive))
    _register(registry, housing_data, good, task="classification")
    _register(registry, housing_data, stranger, task="classification")

    registry.promote("housing", 1)
    with pytest.raises(StoreError, match="gave 'martian', not a class the model was trained on"):
        registry.promote("housing", 2)
    assert registry.alias_version("housing") == 1


# -- readers: other registries, other threads, other file systems ------------------------------------


def test_a_second_registry_on_the_same_file_sees_the_moves(registry, housing_data, linear, tmp_path):
    _three_versions(registry, housing_data, linear)
    other_store = Store(registry.store.url)
    other = Registry(other_store, tmp_path / "artifacts")
    try:
        assert other.alias_version("housing") is None
        registry.promote("housing", 2)
        assert other.alias_version("housing") == 2
        assert other.get("housing").version == 2
        registry.promote("housing", 3)
        other.rollback("housing", reason="from the other side")
        assert registry.alias_version("housing") == 2
        assert registry.history("housing")[-1].reason == "from the other side"
    finally:
        other_store.close()


def test_readers_never_see_a_half_moved_alias(registry, housing_data, linear, tmp_path):
    _three_versions(registry, housing_data, linear)
    registry.promote("housing", 1)
    reader_store = Store(registry.store.url)
    reader = Registry(reader_store, tmp_path / "artifacts")
    # One statement, one snapshot: the alias row and its latest audit record must agree.
    together = sa.text(
        "SELECT a.version, (SELECT e.to_version FROM hone_alias_events e WHERE e.name = a.name "
        "AND e.alias = a.alias ORDER BY e.id DESC LIMIT 1) FROM hone_aliases a "
        "WHERE a.name = 'housing' AND a.alias = 'champion'"
    )
    seen: list[Any] = []
    mismatches: list[tuple[int, int]] = []
    done = threading.Event()

    failures: list[BaseException] = []

    def read() -> None:
        try:
            while not done.is_set():
                seen.append(reader.alias_version("housing"))
                seen.append(reader.aliases("housing").get("champion"))
                with reader_store.engine.connect() as connection:
                    alias, audited = connection.execute(together).one()
                if alias != audited:
                    mismatches.append((alias, audited))
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for _ in range(8):
            registry.promote("housing", 2)
            registry.promote("housing", 3)
            registry.rollback("housing")
            registry.rollback("housing")
    finally:
        done.set()
        thread.join()
        reader_store.close()

    assert failures == []
    assert len(seen) > 20  # the reader really ran alongside the writer
    assert set(seen) <= {1, 2, 3}
    assert mismatches == []
    assert registry.alias_version("housing") == 1
    assert len(registry.history("housing")) == 1 + 8 * 4


@pytest.mark.parametrize("scheme", ["memory", "file"])
def test_artifacts_can_live_under_an_fsspec_url(housing_data, linear, tmp_path, scheme):
    root = f"memory://hone-registry-{uuid.uuid4().hex}" if scheme == "memory" else (tmp_path / "art").as_uri()
    store = Store(sqlite_url(tmp_path / "hone.db"))
    try:
        registry = Registry(store, root)
        version = _register(registry, housing_data, linear)
        registry.promote("housing", 1)

        assert version.artifact_uri.startswith(f"{root}/housing/v1-")
        fs, path = fsspec.core.url_to_fs(version.artifact_uri)
        assert hashlib.sha256(fs.cat_file(path)).hexdigest() == version.artifact_sha256
        loaded = registry.load(registry.get("housing"))
        np.testing.assert_array_equal(
            loaded.predict(housing_data.holdout), linear.predict(housing_data.holdout)
        )
    finally:
        store.close()
        if scheme == "memory":
            fsspec.filesystem("memory").rm(root.removeprefix("memory://"), recursive=True)
