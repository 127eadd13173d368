"""`hone learn`: online updates of a ``partial_fit`` model from feedback, saved as registry snapshots.

The champion's fitted preparation transforms the new labelled rows (it is never refit: the scaler and
encoder stay those of training, so snapshots stay comparable), and the final estimator learns them in
mini-batches of ``learn.batch_rows``. Every ``learn.snapshot_rows`` rows, or every ``learn.snapshot_every``
of feedback time, the model is saved as a new registry version (a snapshot) with alias ``online``; any
snapshot can be promoted, and rolled back from, with the usual commands.

Where learning stands is kept in ``hone_learn_state``: the snapshot to continue from and the last
feedback row it contains (time, prediction id). Rows after the last snapshot are read again next time, so
nothing is learned twice and nothing is lost. If the champion moves (a promotion or a roll-back by anyone
else), learning starts over from the new champion, at its own position when it is a snapshot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from hone.config.schema import ProjectConfig
from hone.errors import HoneError, StoreError
from hone.store.db import Store, metadata
from hone.store.logbook import read_feedback, read_predictions
from hone.store.registry import CHAMPION, ModelVersion, Registry

ONLINE = "online"
ACTOR = "hone learn"
# Feedback younger than this may still sit in the service's write queue: it is left for the next run,
# so a row is never skipped because its part file landed after a later one was read.
SETTLE_SECONDS = 10.0

learn_state_table = sa.Table(
    "hone_learn_state",
    metadata,
    sa.Column("model", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),  # the snapshot learning continues from
    sa.Column("position_ts", sa.DateTime(timezone=True), nullable=False),  # last feedback row it contains
    sa.Column("position_id", sa.Text, nullable=False),
    sa.Column("rows_seen", sa.Integer, nullable=False),  # since the line's first version
    sa.Column("champion_moves", sa.Integer, nullable=False),  # when saved; any other count restarts
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Position:
    """The last feedback row learned: rows are taken in (feedback time, prediction id) order."""

    ts: datetime
    prediction_id: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"ts": self.ts.isoformat(), "prediction_id": self.prediction_id}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Position:
        return cls(_utc(datetime.fromisoformat(data["ts"])), str(data.get("prediction_id", "")))


@dataclass(frozen=True)
class Snapshot:
    version: int
    rows: int  # rows learned since the previous snapshot
    rows_seen: int  # since the line's first version
    position: Position
    progressive: float | None  # the metric on each batch predicted before learning it


@dataclass
class LearnOutcome:
    model: str
    start: int  # the version learning continued from
    restarted: bool  # from the champion: a first run, or the champion moved since the last run
    metric: str  # of the progressive validation: "RMSE" or "accuracy"
    snapshots: list[Snapshot] = field(default_factory=list)
    rows_read: int = 0  # new labelled rows after the start position
    rows_pending: int = 0  # learned, but not in a snapshot yet: read again next time
    rows_unusable: int = 0  # refused by the schema, or a class the model does not know


@dataclass(frozen=True)
class _Start:
    version: ModelVersion
    position: Position
    rows_seen: int
    restarted: bool


def learn(
    config: ProjectConfig, store: Store, *, now: datetime | None = None, promote: bool = False
) -> LearnOutcome:
    """Learn the labelled rows since the last snapshot; snapshot every N rows / T of feedback time."""
    now = _utc(now or datetime.now(timezone.utc))
    registry = Registry.of_project(config, store)
    _ensure_table(store)
    name, settings = config.model_name, config.learn
    start = _starting_point(registry, store, name)
    pipeline = registry.load(start.version)
    model = pipeline[-1] if hasattr(pipeline, "steps") else pipeline
    if not hasattr(model, "partial_fit"):
        raise HoneError(
            f"its estimator {type(model).__name__} has no partial_fit: `hone learn` needs an online "
            "estimator such as SGDRegressor or SGDClassifier",
            where=start.version.label,
        )
    preparation = pipeline[:-1] if hasattr(pipeline, "steps") and len(pipeline.steps) > 1 else None
    classes = getattr(model, "classes_", None)
    rows, ids, stamps, unusable = _new_rows(config, start, now - timedelta(seconds=SETTLE_SECONDS), classes)
    outcome = LearnOutcome(
        name, start.version.version, start.restarted, "accuracy" if classes is not None else "RMSE"
    )
    outcome.rows_read, outcome.rows_unusable = len(rows) + unusable, unusable
    if rows.empty:
        return outcome

    target = config.data.target
    X = rows[start.version.schema.names]
    X = preparation.transform(X) if preparation is not None else X
    y = rows[target].to_numpy()
    fit_args = {} if classes is None else {"classes": classes}
    current, rows_seen = start.version, start.rows_seen
    since, scores, done = 0, [], 0
    while done < len(rows):
        if since == 0:
            period_start = stamps[done]  # snapshot_every counts from the first row after a snapshot
        size = settings.batch_rows
        if settings.snapshot_rows is not None:
            size = min(size, settings.snapshot_rows - since)
        batch = slice(done, min(done + size, len(rows)))
        # Progressive validation: each batch is scored before it is learned, an honest online error.
        scores.append(_batch_scores(model, X[batch], y[batch], classes is not None))
        model.partial_fit(X[batch], y[batch], **fit_args)
        done, since = batch.stop, since + (batch.stop - batch.start)
        by_rows = settings.snapshot_rows is not None and since >= settings.snapshot_rows
        by_time = settings.snapshot_every is not None and (
            (stamps[done - 1] - period_start).total_seconds() >= settings.snapshot_every
        )
        at_end = settings.snapshot_rows is None and settings.snapshot_every is None and done == len(rows)
        if by_rows or by_time or at_end:
            rows_seen += since
            position = Position(stamps[done - 1], ids[done - 1])
            progressive = _metric(np.concatenate(scores), classes is not None)
            snapshot = _save(
                registry,
                store,
                pipeline,
                previous=current,
                base=start.version,
                position=position,
                rows=since,
                rows_seen=rows_seen,
                score={"metric": outcome.metric, "progressive": progressive},
                promote=promote,
            )
            outcome.snapshots.append(snapshot)
            current = registry.get(name, snapshot.version)
            since, scores = 0, []
    outcome.rows_pending = since
    return outcome


def _starting_point(registry: Registry, store: Store, name: str) -> _Start:
    """The saved state if the champion has not moved since it was saved, else the champion itself."""
    if name not in registry.names():
        raise StoreError(f"no model {name!r} in the registry yet: run `hone register` first")
    if registry.alias_version(name, CHAMPION) is None:
        raise StoreError(f"model {name!r} has no champion to learn from: promote a version first")
    state = _read_state(store, name)
    if state is not None and state.champion_moves == _champion_moves(registry, name):
        position = Position(_utc(state.position_ts), state.position_id)
        return _Start(registry.get(name, state.version), position, state.rows_seen, False)
    champion = registry.get(name, CHAMPION)
    if champion.source.get("kind") == ONLINE and "position" in champion.source:
        position = Position.from_dict(champion.source["position"])
        return _Start(champion, position, int(champion.source.get("rows_seen", 0)), True)
    # A model trained offline: its training data may include feedback given before it was registered.
    return _Start(champion, Position(champion.created_at), 0, True)


def _champion_moves(registry: Registry, name: str) -> int:
    return sum(1 for move in registry.history(name) if move.alias == CHAMPION)


def _new_rows(
    config: ProjectConfig, start: _Start, cutoff: datetime, classes: Any
) -> tuple[pd.DataFrame, list[str], list[datetime], int]:
    """Labelled rows after the start position and before ``cutoff``, in (feedback time, id) order."""
    name, target, schema = config.model_name, config.data.target, start.version.schema
    position = start.position
    feedback = read_feedback(config.log_dir, name, since=position.ts, until=cutoff).to_pandas()
    if feedback.empty:
        return pd.DataFrame(), [], [], 0
    feedback = feedback.sort_values(["ts", "prediction_id"], kind="stable")
    after = (feedback["ts"] > pd.Timestamp(position.ts)) | (
        (feedback["ts"] == pd.Timestamp(position.ts)) & (feedback["prediction_id"] > position.prediction_id)
    )
    feedback = feedback[after].drop_duplicates("prediction_id", keep="last")
    logged = read_predictions(config.log_dir, name)
    wanted = pc.is_in(logged["prediction_id"], value_set=_string_array(feedback["prediction_id"]))
    predictions = logged.filter(wanted).to_pandas().drop_duplicates("prediction_id", keep="last")
    for feature in schema.names:
        if feature not in predictions.columns:
            predictions[feature] = np.nan
    joined = feedback.rename(columns={"label": target}).merge(
        predictions[["prediction_id", *schema.names]], on="prediction_id"
    )
    joined = joined.sort_values(["ts", "prediction_id"], kind="stable").reset_index(drop=True)
    checked = schema.check_frame(joined[schema.names])
    labels = _labels(joined[target], classes)
    usable = checked.valid & labels.notna().to_numpy()
    if classes is not None:
        usable &= labels.isin(list(classes)).to_numpy()
    rows = checked.frame[usable].assign(**{target: labels[usable]}).reset_index(drop=True)
    kept = joined[usable]
    stamps = [_utc(moment.to_pydatetime()) for moment in kept["ts"]]
    return rows, kept["prediction_id"].astype(str).tolist(), stamps, int((~usable).sum())


def _string_array(values: pd.Series) -> pa.Array:
    return pa.array(values.astype(str).tolist(), type=pa.string())


def _labels(labels: pd.Series, classes: Any) -> pd.Series:
    """Regression labels as floats; class labels in the type of the model's classes (the log keeps text)."""
    if classes is None or np.asarray(classes).dtype.kind in "biuf":
        return pd.to_numeric(labels, errors="coerce")
    return labels.astype(object)


def _batch_scores(model: Any, X: Any, y: np.ndarray, classifier: bool) -> np.ndarray:  # noqa: N803
    """Per row: the squared error (regression), or 1 for the right class (classification)."""
    predicted = np.asarray(model.predict(X))
    if classifier:
        return (predicted == y).astype(np.float64)
    return (predicted.astype(np.float64) - y.astype(np.float64)) ** 2


def _metric(scores: np.ndarray, classifier: bool) -> float | None:
    """Accuracy, or RMSE, of the per-row scores."""
    if scores.size == 0:
        return None
    value = float(scores.mean()) if classifier else math.sqrt(float(scores.mean()))
    return value if math.isfinite(value) else None


def _save(
    registry: Registry,
    store: Store,
    pipeline: Any,
    *,
    previous: ModelVersion,
    base: ModelVersion,
    position: Position,
    rows: int,
    rows_seen: int,
    score: dict[str, Any],
    promote: bool,
) -> Snapshot:
    """Register the model as it is now, point ``online`` at it (and champion with ``promote``), save state.

    ``base`` is the version this run started from, ``previous`` the last one saved (``base`` at first).
    """
    online = base.source.get("kind") == ONLINE
    line_start = int(base.source.get("line_start", base.version)) if online else base.version
    name = base.name
    version = registry.register(
        name,
        pipeline,
        task=base.task,
        schema=base.schema,
        # The reference stays the offline training data's: drift is measured against the line's start.
        profile=base.profile,
        params=base.params,
        metrics={"online": {**score, "rows": rows, "rows_seen": rows_seen}},
        data={**base.data, "online_rows": rows_seen},
        source={
            "kind": ONLINE,
            "from_version": previous.version,
            "rows_seen": rows_seen,
            "position": position.to_dict(),
            "line_start": line_start,
            "project": base.source.get("project"),
            # The line's shortlist model, so `hone retrain --refit-only` can still refit it offline.
            "model": base.source.get("model"),
        },
        description=(
            f"online snapshot: v{previous.version} + {rows:,} rows ({rows_seen:,} since v{line_start})"
        ),
        created_by=ACTOR,
    )
    reason = f"online snapshot after {rows_seen:,} rows"
    registry.set_alias(name, ONLINE, version.version, reason=reason, actor=ACTOR)
    if promote:
        registry.promote(name, version.version, reason=reason, actor=ACTOR)
    _write_state(store, name, version.version, position, rows_seen, _champion_moves(registry, name))
    return Snapshot(version.version, rows, rows_seen, position, score["progressive"])


# -- state ---------------------------------------------------------------------------------------------


def _ensure_table(store: Store) -> None:
    try:
        metadata.create_all(store.engine, tables=[learn_state_table])
    except sa.exc.SQLAlchemyError as error:
        raise StoreError(f"cannot create the learn state table: {str(error).splitlines()[0]}") from None


def _read_state(store: Store, name: str) -> Any:
    query = sa.select(learn_state_table).where(learn_state_table.c.model == name)
    with store.engine.connect() as connection:
        return connection.execute(query).first()


def _write_state(
    store: Store, name: str, version: int, position: Position, rows_seen: int, champion_moves: int
) -> None:
    values = {
        "version": version,
        "position_ts": position.ts,
        "position_id": position.prediction_id,
        "rows_seen": rows_seen,
        "champion_moves": champion_moves,
        "updated_at": datetime.now(timezone.utc),
    }
    table = learn_state_table
    with store.engine.begin() as connection:
        updated = connection.execute(table.update().where(table.c.model == name).values(**values))
        if updated.rowcount == 0:
            connection.execute(table.insert().values(model=name, **values))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
