"""The model registry: numbered versions of fitted pipelines, aliases pointing at them, and an audit trail.

A version never changes once registered: one artifact (preparation + model), the schema it accepts, the
profile of its training data, its scores and where it came from. Only aliases move (``champion``,
``challenger`` or any other), and only to a version that loads with its recorded hash and predicts its
own example records; each move and its audit record are one transaction, so a reader (the HTTP service
polling ``alias_version``) sees the old state or the new one, never half of it. Moves of one alias take
turns (an advisory lock on PostgreSQL, the write lock on SQLite): each reads the alias's state and writes
its move with no other move in between, so two processes moving it at once lose no move.
"""

from __future__ import annotations

import getpass
import importlib.metadata
import json
import math
import platform
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from hone.data.schema import FeatureSchema
from hone.errors import DataError, StoreError
from hone.store.artifacts import ArtifactStore, delete_artifact, read_artifact
from hone.store.db import Store, metadata, now, store_home
from hone.store.jsonable import to_json
from hone.store.names import safe_name

if TYPE_CHECKING:
    from hone.config.schema import ProjectConfig

CHAMPION = "champion"  # the alias served and monitored
CHALLENGER = "challenger"  # the alias a new version gets while a champion is in place
CHALLENGER = "challenger"
TASKS = ("regression", "classification")
# Recorded with every version: unpickling needs compatible versions of these.
LIBRARIES = ("numpy", "scipy", "pandas", "scikit-learn", "joblib", "hone")
# Concurrent registrations or alias moves: retry with fresh state this many times before giving up.
_ATTEMPTS = 5

versions_table = sa.Table(
    "hone_model_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("task", sa.String(20), nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("libraries", sa.Text, nullable=False),
    sa.Column("artifact_uri", sa.Text, nullable=False),
    sa.Column("artifact_sha256", sa.String(64), nullable=False),
    sa.Column("artifact_bytes", sa.BigInteger, nullable=False),
    sa.Column("feature_schema", sa.Text, nullable=False),
    sa.Column("profile", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.UniqueConstraint("name", "version", name="uq_model_version"),
)

aliases_table = sa.Table(
    "hone_aliases",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("alias", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

alias_events_table = sa.Table(
    "hone_alias_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("alias", sa.Text, nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("from_version", sa.Integer),
    sa.Column("to_version", sa.Integer, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_hone_alias_events_name_alias", "name", "alias", "id"),
)

_TABLES = [versions_table, aliases_table, alias_events_table]


@dataclass(frozen=True)
class ModelVersion:
    """One registered, immutable version of a model."""

    name: str
    version: int
    created_at: datetime
    created_by: str
    task: str  # "regression" | "classification"
    params: dict[str, Any]
    metrics: dict[str, Any]  # {"cv": {...}, "test": {...}} (test absent when never evaluated)
    data: dict[str, Any]  # fingerprint of the training data: {"sha256": ..., "n_rows": ...}
    libraries: dict[str, str]  # {"python": ..., "scikit-learn": ..., ...}
    artifact_uri: str
    artifact_sha256: str
    artifact_bytes: int
    schema: FeatureSchema
    profile: dict[str, Any]  # the reference profile; profile["examples"]: records the model must accept
    source: dict[str, Any]  # {"project": ..., "model": ..., "study": ..., "candidate": ...}
    description: str

    @property
    def label(self) -> str:
        return f"model {self.name!r} v{self.version}"


@dataclass(frozen=True)
class AliasMove:
    """One move of an alias, as the audit trail records it."""

    name: str
    alias: str
    from_version: int | None
    to_version: int
    actor: str
    reason: str
    at: datetime
    action: str  # "set" | "promote" | "rollback"


@dataclass(frozen=True)
class _AliasState:
    current: int | None
    stack: tuple[int, ...]  # versions it pointed at; a rollback pops, every other move pushes


class Registry:
    """Versions, aliases and their audit trail in the project store; artifacts under ``artifacts``."""

    def __init__(self, store: Store, artifacts: str | Path) -> None:
        self.store = store
        self.engine = store.engine
        self.artifacts = ArtifactStore(artifacts)
        try:
            # The store may have been opened before this module defined its tables.
            metadata.create_all(self.engine, tables=_TABLES)
        except sa.exc.SQLAlchemyError as error:
            raise StoreError(f"cannot create the registry tables: {str(error).splitlines()[0]}") from None

    @classmethod
    def of_project(cls, config: ProjectConfig, store: Store) -> Registry:
        """The registry of a project: its store, artifacts where the project file says."""
        return cls(store, config.artifacts_url)

    @classmethod
    def beside_store(cls, store: Store) -> Registry:
        """The registry of a store given by URL alone: artifacts next to it (``store_home``)."""
        return cls(store, store_home(store.url) / "artifacts")

    # -- versions ------------------------------------------------------------------------------------

    def register(
        self,
        name: str,
        pipeline: Any,
        *,
        task: str,
        schema: FeatureSchema,
        profile: Mapping[str, Any],
        params: Mapping[str, Any],
        metrics: Mapping[str, Any],
        data: Mapping[str, Any],
        source: Mapping[str, Any],
        description: str = "",
        created_by: str | None = None,
        libraries: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        """Store ``pipeline`` as the next version of ``name``; no alias moves."""
        check_name(name, "model name")
        if task not in TASKS:
            raise StoreError(f"unknown task {task!r} for model {name!r}; expected one of {', '.join(TASKS)}")
        if not callable(getattr(pipeline, "predict", None)):
            kind = type(pipeline).__name__
            raise StoreError(f"cannot register {kind} as model {name!r}: it has no predict method")
        _check_examples(name, profile)
        columns = {
            "created_by": created_by or default_actor(),
            "task": task,
            "params": to_json(params),
            "metrics": to_json(metrics),
            "data": to_json(data),
            "libraries": to_json(libraries if libraries is not None else library_versions(pipeline)),
            "feature_schema": to_json(schema.to_dict()),
            "profile": to_json(profile),
            "source": to_json(source),
            "description": description,
        }
        for _ in range(_ATTEMPTS):
            version = self._next_version(name)
            # The artifact is complete before its row exists: a row never points at half a file.
            stored = self.artifacts.write(name, version, pipeline)
            row = dict(
                columns,
                name=name,
                version=version,
                created_at=now(),
                artifact_uri=stored.uri,
                artifact_sha256=stored.sha256,
                artifact_bytes=stored.n_bytes,
            )
            try:
                with self.engine.begin() as connection:
                    connection.execute(versions_table.insert().values(**row))
            except sa.exc.IntegrityError:  # a concurrent register took this number: take the next one
                self._discard_unreferenced(stored.uri)
                continue
            except sa.exc.SQLAlchemyError as error:
                self._discard_unreferenced(stored.uri)
                raise StoreError(f"cannot record model {name!r}: {str(error).splitlines()[0]}") from None
            return self._fetch(name, version)
        raise StoreError(
            f"could not number a new version of model {name!r}: concurrent registrations took "
            f"{_ATTEMPTS} numbers in a row; try again"
        )

    def versions(self, name: str | None = None) -> list[ModelVersion]:
        """Every version (of ``name``, or of every model), oldest first."""
        query = sa.select(versions_table).order_by(versions_table.c.id)
        if name is not None:
            query = query.where(versions_table.c.name == name)
        with self.engine.connect() as connection:
            return [_version_from_row(row) for row in connection.execute(query)]

    def names(self) -> list[str]:
        query = sa.select(versions_table.c.name).distinct().order_by(versions_table.c.name)
        with self.engine.connect() as connection:
            return list(connection.execute(query).scalars())

    def get(self, name: str, ref: str | int | None = None) -> ModelVersion:
        """A version by number (``3`` or ``"3"``), by alias, or (``None``) the champion, else the latest."""
        if ref is None:
            champion = self.alias_version(name, CHAMPION)
            return self._fetch(name, champion if champion is not None else self._latest(name))
        number = _version_number(ref)
        if number is not None:
            return self._fetch(name, number)
        check_name(str(ref), "alias")
        number = self.alias_version(name, str(ref))
        if number is None:
            self._require_model(name)
            raise StoreError(f"model {name!r} has no alias {ref!r}; {self._describe_aliases(name)}")
        return self._fetch(name, number)

    def load(self, version: ModelVersion) -> Any:
        """The fitted pipeline of ``version``; its bytes are checked against the recorded SHA-256 first."""
        # Recorded URIs are absolute: if the project folder moved, the same file under today's root is it.
        here = self.artifacts.uri_of(version.name, version.artifact_uri)
        try:
            return read_artifact(
                version.artifact_uri, version.artifact_sha256, version.artifact_bytes, elsewhere=[here]
            )
        except StoreError as error:
            raise StoreError(error.message, where=f"{version.label} ({error.where})") from None

    # -- aliases -------------------------------------------------------------------------------------

    def aliases(self, name: str) -> dict[str, int]:
        """Alias -> version for ``name`` (one query)."""
        query = (
            sa.select(aliases_table.c.alias, aliases_table.c.version)
            .where(aliases_table.c.name == name)
            .order_by(aliases_table.c.alias)
        )
        with self.engine.connect() as connection:
            found = {row.alias: row.version for row in connection.execute(query)}
        if not found:
            self._require_model(name)
        return found

    def alias_version(self, name: str, alias: str = CHAMPION) -> int | None:
        """The version ``alias`` points at, or None: one primary-key lookup, cheap enough to poll."""
        query = sa.select(aliases_table.c.version).where(
            aliases_table.c.name == name, aliases_table.c.alias == alias
        )
        with self.engine.connect() as connection:
            return connection.execute(query).scalar()

    def set_alias(
        self, name: str, alias: str, version: int, *, reason: str = "", actor: str | None = None
    ) -> AliasMove:
        """Point ``alias`` at ``version`` once that version loads and predicts its examples.

        Pointing an alias at the version it already points at is refused (StoreError): nothing would change,
        and a recorded no-op would make a later rollback "go back" to the same version.
        """
        return self._set(name, alias, version, "set", reason, actor)

    def promote(self, name: str, version: int, *, reason: str = "", actor: str | None = None) -> AliasMove:
        """Make ``version`` the champion; the previous champion stays in the trail for ``rollback``."""
        return self._set(name, CHAMPION, version, "promote", reason, actor)

    def rollback(self, name: str, *, reason: str = "", actor: str | None = None) -> AliasMove:
        """Move the champion back to the one before it; rolling back twice goes two steps back."""

        def previous(state: _AliasState) -> int:
            if len(state.stack) < 2:
                why = "it has no champion" if state.current is None else f"v{state.current} is the first"
                raise StoreError(f"model {name!r} has no previous champion to roll back to ({why})")
            return state.stack[-2]

        self._require_model(name)
        return self._move(name, CHAMPION, "rollback", previous, reason, actor)

    def history(self, name: str) -> list[AliasMove]:
        """Every alias move of ``name``, oldest first."""
        query = (
            sa.select(alias_events_table)
            .where(alias_events_table.c.name == name)
            .order_by(alias_events_table.c.id)
        )
        with self.engine.connect() as connection:
            moves = [_move_from_row(row) for row in connection.execute(query)]
        if not moves:
            self._require_model(name)
        return moves

    # -- moving an alias -----------------------------------------------------------------------------

    def _set(
        self, name: str, alias: str, version: int, action: str, reason: str, actor: str | None
    ) -> AliasMove:
        check_name(alias, "alias")
        if _version_number(alias) is not None:
            raise StoreError(f"alias {alias!r} would read as a version number; use a name with a letter")
        target = self._fetch(name, _required_version(version)).version

        def chosen(state: _AliasState) -> int:
            if state.current == target:
                raise StoreError(f"{alias!r} of model {name!r} already points at v{target}; nothing to do")
            return target

        return self._move(name, alias, action, chosen, reason, actor)

    def _move(
        self,
        name: str,
        alias: str,
        action: str,
        choose: Callable[[_AliasState], int],
        reason: str,
        actor: str | None,
    ) -> AliasMove:
        actor = actor or default_actor()
        verified: set[int] = set()
        for _ in range(_ATTEMPTS):
            # Verifying loads the artifact and predicts: too slow to hold the lock, so it is done first,
            # for the version the alias's current state asks for.
            with self.engine.connect() as connection:
                planned = choose(_alias_state(connection, name, alias))
            if planned not in verified:
                self._verify(self._fetch(name, planned), alias)
                verified.add(planned)
            with self.engine.begin() as connection:
                _lock_alias(connection, name, alias)
                # Read again under the lock: no other move can come between this read and the write.
                state = _alias_state(connection, name, alias)
                target = choose(state)
                if target not in verified:
                    continue  # moved meanwhile, and now another version is due: verify that one first
                move = AliasMove(name, alias, state.current, target, actor, reason, now(), action)
                _record(connection, move)
            return move
        raise StoreError(f"{alias!r} of model {name!r} kept moving while this move was made; try again")

    def _verify(self, version: ModelVersion, alias: str) -> None:
        """Load the artifact (hash checked) and predict the profile's examples, or StoreError."""
        not_moved = f"{alias} not moved"
        try:
            pipeline = self.load(version)
        except StoreError as error:
            raise StoreError(f"{error.message}; {not_moved}", where=error.where) from None
        examples = version.profile.get("examples") or []
        try:
            rows = version.schema.check_records(examples)
        except DataError as error:
            raise StoreError(
                f"its profile's example records do not fit its schema ({error}); {not_moved}",
                where=version.label,
            ) from None
        try:
            predictions = np.asarray(pipeline.predict(version.schema.frame_from_rows(rows)))
        except Exception as error:  # any failure of the user's model is a reason not to serve it
            raise StoreError(
                f"the smoke prediction on its {len(rows)} example records failed "
                f"({type(error).__name__}: {error}); {not_moved}",
                where=version.label,
            ) from None
        classes = getattr(pipeline, "classes_", None)
        problem = _prediction_problem(predictions, len(rows), version.task, classes)
        if problem is not None:
            raise StoreError(f"the smoke prediction {problem}; {not_moved}", where=version.label)

    # -- lookups -------------------------------------------------------------------------------------

    def _fetch(self, name: str, version: int) -> ModelVersion:
        query = sa.select(versions_table).where(
            versions_table.c.name == name, versions_table.c.version == version
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            self._require_model(name)
            numbers = sa.select(versions_table.c.version).where(versions_table.c.name == name)
            with self.engine.connect() as connection:
                known = ", ".join(str(v) for v in sorted(connection.execute(numbers).scalars()))
            raise StoreError(f"model {name!r} has no version {version}; its versions: {known}")
        return _version_from_row(row)

    def _latest(self, name: str) -> int:
        query = sa.select(sa.func.max(versions_table.c.version)).where(versions_table.c.name == name)
        with self.engine.connect() as connection:
            latest = connection.execute(query).scalar()
        if latest is None:
            self._require_model(name)
        return int(latest)

    def _next_version(self, name: str) -> int:
        query = sa.select(sa.func.max(versions_table.c.version)).where(versions_table.c.name == name)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar() or 0) + 1

    def _require_model(self, name: str) -> None:
        names = self.names()
        if name not in names:
            known = f"registered: {', '.join(names)}" if names else "the registry is empty"
            raise StoreError(f"no model named {name!r} in the registry ({known})")

    def _describe_aliases(self, name: str) -> str:
        aliases = self.aliases(name)
        if not aliases:
            return "it has no aliases yet"
        return "its aliases: " + ", ".join(f"{alias} -> v{version}" for alias, version in aliases.items())

    def _discard_unreferenced(self, uri: str) -> None:
        # Same bytes, same number: a concurrent register may own this very file; only an orphan goes.
        query = sa.select(versions_table.c.id).where(versions_table.c.artifact_uri == uri).limit(1)
        with self.engine.connect() as connection:
            if connection.execute(query).first() is None:
                delete_artifact(uri)


# -- moving an alias under a lock ----------------------------------------------------------------------


def _lock_alias(connection: sa.Connection, name: str, alias: str) -> None:
    """Hold off every other move of this alias until the transaction ends (reads are not blocked)."""
    if connection.dialect.name == "postgresql":
        key = sa.func.hashtextextended(f"hone alias {name} {alias}", 0)
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
    elif connection.dialect.name == "sqlite":
        # pysqlite begins a transaction only before a write: take the write lock before reading instead.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _alias_state(connection: sa.Connection, name: str, alias: str) -> _AliasState:
    events = alias_events_table.c
    query = (
        sa.select(events.action, events.to_version)
        .where(events.name == name, events.alias == alias)
        .order_by(events.id)
    )
    stack: list[int] = []
    for row in connection.execute(query):
        if row.action == "rollback":
            stack.pop()
        else:
            stack.append(row.to_version)
    current = connection.execute(
        sa.select(aliases_table.c.version).where(aliases_table.c.name == name, aliases_table.c.alias == alias)
    ).scalar()
    return _AliasState(current, tuple(stack))


def _record(connection: sa.Connection, move: AliasMove) -> None:
    """The alias row and its audit record, in the caller's transaction."""
    aliases = aliases_table.c
    if move.from_version is None:
        connection.execute(
            aliases_table.insert().values(
                name=move.name, alias=move.alias, version=move.to_version, updated_at=move.at
            )
        )
    else:
        connection.execute(
            aliases_table.update()
            .where(aliases.name == move.name, aliases.alias == move.alias)
            .values(version=move.to_version, updated_at=move.at)
        )
    connection.execute(
        alias_events_table.insert().values(
            name=move.name,
            alias=move.alias,
            action=move.action,
            from_version=move.from_version,
            to_version=move.to_version,
            actor=move.actor,
            reason=move.reason,
            at=move.at,
        )
    )


# -- helpers -------------------------------------------------------------------------------------------


def check_name(value: str, what: str) -> str:
    """Model names and aliases become folder names and URL parts (the rule: hone.store.names)."""
    return safe_name(value, what)


def default_actor() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no login name (containers): OSError or KeyError depending on the Python version
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def library_versions(pipeline: Any = None) -> dict[str, str]:
    """Versions of the libraries the artifact needs to unpickle, the pipeline's own steps' included."""
    versions = {"python": platform.python_version()}
    extra = [type(step).__module__.split(".")[0] for _, step in getattr(pipeline, "steps", [])]
    for package in [*LIBRARIES, *extra]:
        if package in versions or package in ("sklearn", "builtins", "__main__"):
            continue
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue  # a module of the user's own, not an installed distribution
    return versions


def _check_examples(name: str, profile: Mapping[str, Any]) -> None:
    # Every alias move predicts these; a version without them could never be promoted.
    examples = profile.get("examples") if isinstance(profile, Mapping) else None
    if not isinstance(examples, list) or not examples:
        raise StoreError(f"the profile of model {name!r} has no example records (profile['examples'])")


def _version_number(ref: str | int) -> int | None:
    if isinstance(ref, bool):
        return None
    if isinstance(ref, int):
        return ref
    return int(ref) if isinstance(ref, str) and ref.isdigit() else None


def _required_version(version: Any) -> int:
    number = _version_number(version)
    if number is None:
        raise StoreError(f"{version!r} is not a version number")
    return number


def _prediction_problem(predictions: np.ndarray, n: int, task: str, classes: Any) -> str | None:
    if predictions.ndim == 2 and predictions.shape[1] == 1:
        predictions = predictions.ravel()
    if predictions.ndim != 1 or len(predictions) != n:
        return f"gave shape {predictions.shape} for {n} example records (one value each expected)"
    if task == "regression":
        if not np.issubdtype(predictions.dtype, np.number):
            return f"gave non-numeric values ({predictions.dtype})"
        if not np.isfinite(predictions).all():
            return f"gave non-finite values {predictions[~np.isfinite(predictions)].tolist()[:3]}"
        return None
    known = set(np.asarray(classes).tolist()) if classes is not None else None
    for value in predictions.tolist():
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        if missing or (known is not None and value not in known):
            return f"gave {value!r}, not a class the model was trained on"
    return None




def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _version_from_row(row: Any) -> ModelVersion:
    return ModelVersion(
        name=row.name,
        version=row.version,
        created_at=_utc(row.created_at),
        created_by=row.created_by,
        task=row.task,
        params=json.loads(row.params),
        metrics=json.loads(row.metrics),
        data=json.loads(row.data),
        libraries=json.loads(row.libraries),
        artifact_uri=row.artifact_uri,
        artifact_sha256=row.artifact_sha256,
        artifact_bytes=row.artifact_bytes,
        schema=FeatureSchema.from_dict(json.loads(row.feature_schema)),
        profile=json.loads(row.profile),
        source=json.loads(row.source),
        description=row.description,
    )


def _move_from_row(row: Any) -> AliasMove:
    return AliasMove(
        name=row.name,
        alias=row.alias,
        from_version=row.from_version,
        to_version=row.to_version,
        actor=row.actor,
        reason=row.reason,
        at=_utc(row.at),
        action=row.action,
    )
