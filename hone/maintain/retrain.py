"""`hone retrain`: fresh training data, a new challenger, and the champion/challenger gate.

Fresh data is the original training set (its locked test rows stay out) or a new source named in the
config, plus the labelled production rows: logged predictions joined with their latest feedback label.
The most recent ``retrain.holdout`` share of those labelled rows is the holdout: never trained on, and
predicted by both models for the paired gate (``hone.maintain.gate``). The challenger is promoted only if
it beats the champion there by the configured margin with the configured confidence, and the new rows
pass the monitor's data quality checks (not its drift checks: fresh data is expected to drift). Every
decision is stored in ``hone_retrain_runs``, with its reason and numbers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sklearn.base import clone, is_classifier
from sklearn.model_selection import check_cv, cross_val_predict
from sklearn.pipeline import Pipeline

from hone.config.schema import ModelSpec, ProjectConfig
from hone.data import validate_frame
from hone.data.profile import ReferenceProfile
from hone.data.training import (
    TrainingSet,
    load_training_set,
    project_preparation,
    read_source,
    training_set_from_frame,
)
from hone.errors import DataError, HoneError, StoreError
from hone.launch.register import register_pipeline
from hone.maintain.gate import GateResult, loss_name, paired_gate, resampled_means, row_losses
from hone.monitor.checks import check_window
from hone.search.summary import SearchSummary, summarize
from hone.store.db import Store, metadata
from hone.store.logbook import read_feedback, read_predictions
from hone.store.registry import CHALLENGER, CHAMPION, ModelVersion, Registry
from hone.tune.project import search_model
from hone.tune.resolve import resolve_model

ACTOR = "hone retrain"
# Fewer holdout rows than this cannot tell two models apart: ask for more feedback instead of guessing.
MIN_HOLDOUT_ROWS = 20
# Out-of-fold predictions for the challenger's reference profile cost one fit per fold: done up to this
# many training rows; above it the profile keeps the refit's own (optimistic) predictions.
OOF_MAX_ROWS = 100_000
LOG_COLUMNS = ("prediction_id", "ts", "model_version", "prediction")

retrain_runs_table = sa.Table(
    "hone_retrain_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("champion", sa.Integer, nullable=False),
    sa.Column("challenger", sa.Integer),
    sa.Column("promoted", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("gate", sa.Text, nullable=False),  # GateResult.to_dict() as JSON, "null" without a gate
    sa.Column("data", sa.Text, nullable=False),  # rows used, by origin, as JSON
)


@dataclass(frozen=True)
class FreshData:
    """The rows a retrain uses: what to train on, the holdout, and the new rows to check for quality."""

    train: TrainingSet  # shuffled: the search's folds mix old and new rows
    holdout: pd.DataFrame  # schema features + target, oldest first
    new_rows: pd.DataFrame  # labelled production rows (and new-source rows) as the log has them
    n_from_training: int
    n_from_production: int  # labelled production rows trained on (the holdout excluded)
    n_from_source: int
    n_unusable: int  # labelled production rows the champion's schema refuses: neither trained on nor held out
    holdout_start: datetime
    holdout_end: datetime

    def counts(self) -> dict[str, Any]:
        return {
            "n_train": self.train.n_rows,
            "from_training": self.n_from_training,
            "from_production": self.n_from_production,
            "from_source": self.n_from_source,
            "holdout": len(self.holdout),
            "unusable": self.n_unusable,
            "holdout_start": self.holdout_start.isoformat(),
            "holdout_end": self.holdout_end.isoformat(),
        }


@dataclass
class ChallengerFit:
    """The refit challenger and how it was chosen."""

    pipeline: Pipeline
    spec: ModelSpec
    params: dict[str, Any]
    search: SearchSummary | None  # None for a refit of the champion's params
    cv: dict[str, Any] | None  # the registered "cv" metrics
    predictions: np.ndarray  # per training row, for the reference profile
    predictions_kind: str  # "out-of-fold" | "refit"


@dataclass
class RetrainOutcome:
    """What `hone retrain` did: the versions, the decision and its reason, the gate, the data used."""

    champion: int
    challenger: int | None
    promoted: bool
    reason: str
    gate: GateResult | None
    n_train: int
    n_holdout: int
    model: str = ""
    refit_only: bool = False
    data: FreshData | None = None
    search: SearchSummary | None = None
    quality: list[str] | None = None  # failed data quality checks of the new rows (empty: passed)
    profile_predictions: str = ""  # "out-of-fold" | "refit"
    run_id: int | None = None


@dataclass(frozen=True)
class RetrainRecord:
    """One stored decision of `hone retrain`."""

    id: int
    model: str
    at: datetime
    champion: int
    challenger: int | None
    promoted: bool
    reason: str
    gate: GateResult | None
    data: dict[str, Any]


def retrain(
    config: ProjectConfig,
    store: Store,
    *,
    refit_only: bool | None = None,
    now: datetime | None = None,
    progress: Any = None,
) -> RetrainOutcome:
    """Fresh data, a challenger (searched again, or the champion's params refit), the gate, the decision."""
    now = now or datetime.now(timezone.utc)
    refit_only = config.retrain.refit_only if refit_only is None else refit_only
    settings = config.retrain
    registry = Registry.of_project(config, store)
    name = config.model_name
    champion = _champion(registry, name)
    champion_pipeline = registry.load(champion)
    fresh = fresh_data(config, champion, champion_pipeline, now=now)
    quality = quality_problems(config, champion, fresh.new_rows)
    fit = fit_challenger(
        config, store, registry, champion, fresh.train, refit_only=refit_only, progress=progress
    )

    X = fresh.holdout[champion.schema.names]
    y = fresh.holdout[config.data.target]
    loss = loss_name(champion.task, [champion_pipeline, fit.pipeline])
    challenger_losses = row_losses(fit.pipeline, X, y, loss)
    gate = paired_gate(
        row_losses(champion_pipeline, X, y, loss),
        challenger_losses,
        margin=settings.margin,
        confidence=settings.confidence,
        n_bootstrap=settings.n_bootstrap,
        loss=loss,
    )
    holdout_metrics = _holdout_metrics(champion.task, fit.pipeline, challenger_losses, loss, fresh, config)
    challenger = _register(config, registry, champion, fresh, fit, holdout_metrics, refit_only)

    promoted = gate.promote and not quality
    if promoted:
        reason = f"promoted v{challenger.version}: {gate.verdict}"
        registry.promote(name, challenger.version, reason=f"retrain: {gate.verdict}", actor=ACTOR)
    elif quality:
        reason = (
            f"kept champion v{champion.version}: the new rows fail data quality checks "
            f"({'; '.join(quality)}); {gate.verdict}"
        )
    else:
        reason = f"kept champion v{champion.version}: {gate.verdict}"
    outcome = RetrainOutcome(
        champion=champion.version,
        challenger=challenger.version,
        promoted=promoted,
        reason=reason,
        gate=gate,
        n_train=fresh.train.n_rows,
        n_holdout=len(fresh.holdout),
        model=name,
        refit_only=refit_only,
        data=fresh,
        search=fit.search,
        quality=quality,
        profile_predictions=fit.predictions_kind,
    )
    outcome.run_id = record_decision(store, outcome, now)
    return outcome


def _champion(registry: Registry, name: str) -> ModelVersion:
    if name not in registry.names():
        raise StoreError(f"no model {name!r} in the registry yet: run `hone register` first")
    if registry.alias_version(name, CHAMPION) is None:
        raise StoreError(f"model {name!r} has no champion to retrain: promote a version first")
    return registry.get(name, CHAMPION)


# -- the data ----------------------------------------------------------------------------------------


def labelled_production_rows(config: ProjectConfig, version: ModelVersion) -> pd.DataFrame:
    """Logged predictions with their latest feedback label (as the target column), oldest first."""
    name, target = config.model_name, config.data.target
    predictions = read_predictions(config.log_dir, name).to_pandas()
    feedback = read_feedback(config.log_dir, name).to_pandas()
    if predictions.empty or feedback.empty:
        return pd.DataFrame(columns=[*LOG_COLUMNS, *version.schema.names, target])
    # Corrections arrive later: the last label given for a prediction is the one that counts.
    labels = feedback.sort_values("ts", kind="stable").drop_duplicates("prediction_id", keep="last")
    logged = predictions.drop_duplicates("prediction_id", keep="last")
    for feature in version.schema.names:
        if feature not in logged.columns:  # logged by a version with other features
            logged[feature] = np.nan
    joined = logged[[*LOG_COLUMNS, *version.schema.names]].merge(
        labels[["prediction_id", "label"]].rename(columns={"label": target}), on="prediction_id"
    )
    joined = joined[joined[target].notna()]
    return joined.sort_values(["ts", "prediction_id"], kind="stable").reset_index(drop=True)


def fresh_data(
    config: ProjectConfig, champion: ModelVersion, champion_pipeline: Any, *, now: datetime
) -> FreshData:
    """Training rows (old + labelled production, or a new source + production) and the recent holdout."""
    settings, target, schema = config.retrain, config.data.target, champion.schema
    production = labelled_production_rows(config, champion)
    if settings.window is not None:
        recent = production["ts"] >= now - timedelta(seconds=settings.window)
        production = production[recent].reset_index(drop=True)
    where = str(config.log_dir / config.model_name)
    if production.empty:
        recent = f" in the last {timedelta(seconds=settings.window)}" if settings.window else ""
        raise HoneError(
            f"no labelled production rows{recent}: log feedback for served predictions (POST /feedback) "
            "before retraining",
            where=where,
        )
    base, n_from_training, n_from_source = _base_rows(config, schema.names)
    labels = _labels_like(production[target], base[target], champion.task)
    checked = schema.check_frame(production[schema.names])
    usable = checked.valid & labels.notna().to_numpy()
    rows = checked.frame[usable].assign(**{target: labels[usable]}).reset_index(drop=True)
    stamps = production["ts"][usable].reset_index(drop=True)

    n_holdout = math.ceil(settings.holdout * len(rows))
    if n_holdout < MIN_HOLDOUT_ROWS:
        raise HoneError(
            f"{len(rows)} usable labelled production rows give a holdout of {n_holdout} "
            f"(retrain.holdout {settings.holdout:g}); the gate needs at least {MIN_HOLDOUT_ROWS}: "
            "wait for more feedback",
            where=where,
        )
    holdout, recent = rows.iloc[len(rows) - n_holdout :], rows.iloc[: len(rows) - n_holdout]
    if not settings.feedback:
        recent = recent.iloc[:0]
    combined = pd.concat([base, recent], ignore_index=True)
    # The search's folds are contiguous blocks: shuffle so each fold mixes old and new rows.
    order = np.random.default_rng(config.split.seed).permutation(len(combined))
    training = training_set_from_frame(combined.iloc[order], target)

    new_rows = production[[*LOG_COLUMNS, *schema.names]]
    if n_from_source:
        new_rows = pd.concat([new_rows, _as_log_rows(base, schema, champion, champion_pipeline, now)])
    return FreshData(
        train=training,
        holdout=holdout.reset_index(drop=True),
        new_rows=new_rows.reset_index(drop=True),
        n_from_training=n_from_training,
        n_from_production=len(recent),
        n_from_source=n_from_source,
        n_unusable=int((~usable).sum()),
        holdout_start=stamps.iloc[len(rows) - n_holdout].to_pydatetime(),
        holdout_end=stamps.iloc[-1].to_pydatetime(),
    )


def _base_rows(config: ProjectConfig, features: list[str]) -> tuple[pd.DataFrame, int, int]:
    """The rows production rows are added to: a new source if configured, else the original training set."""
    target = config.data.target
    source = config.retrain.data
    if source is None:
        training = load_training_set(config)
        frame = training.X.assign(**{target: training.y})
        where = config.where("data")
    else:
        frame = read_source(source.dataset, source.path)
        where = config.where("retrain", "data")
        validate_frame(frame, target=source.target, source=where, numeric=config.prepare.numeric)
        frame = frame.rename(columns={source.target: target})
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise DataError(f"lacks the model's feature(s) {', '.join(missing)}", where=where)
    frame = frame[[*features, target]].reset_index(drop=True)
    return (frame, len(frame), 0) if source is None else (frame, 0, len(frame))


def _labels_like(labels: pd.Series, reference: pd.Series, task: str) -> pd.Series:
    """Feedback labels in the training target's type (the log keeps class labels as text)."""
    if task == "regression" or pd.api.types.is_numeric_dtype(reference):
        return pd.to_numeric(labels, errors="coerce").reset_index(drop=True)
    return labels.astype(object).reset_index(drop=True)


def _as_log_rows(
    frame: pd.DataFrame, schema: Any, champion: ModelVersion, pipeline: Any, now: datetime
) -> pd.DataFrame:
    """New-source rows shaped like log rows (the champion's prediction included) for the quality checks."""
    checked = schema.check_frame(frame[schema.names])
    predicted = np.full(len(frame), np.nan, dtype=object if champion.task == "classification" else float)
    if checked.valid.any():
        predicted[checked.valid] = pipeline.predict(checked.frame[checked.valid])
    rows = frame[schema.names].copy()
    rows.insert(0, "prediction", predicted)
    rows.insert(0, "model_version", champion.version)
    rows.insert(0, "ts", pd.Timestamp(now))
    rows.insert(0, "prediction_id", [f"source-{i}" for i in range(len(frame))])
    return rows


def quality_problems(config: ProjectConfig, champion: ModelVersion, new_rows: pd.DataFrame) -> list[str]:
    """The monitor's failed data quality checks on the new rows, one sentence each (empty: they pass)."""
    report = check_window(
        new_rows,
        None,
        schema=champion.schema,
        profile=ReferenceProfile.from_dict(champion.profile),
        settings=config.monitor,
        task=champion.task,
        test_metrics=None,
    )
    return [check.message for check in report.checks if check.kind == "quality" and check.failed]


# -- the challenger -----------------------------------------------------------------------------------


def fit_challenger(
    config: ProjectConfig,
    store: Store,
    registry: Registry,
    champion: ModelVersion,
    training: TrainingSet,
    *,
    refit_only: bool,
    progress: Any = None,
) -> ChallengerFit:
    """The champion's shortlist model searched again on ``training`` (or its params refit), then refit."""
    spec = _model_spec(config, registry, champion)
    settings = spec.effective_search(config.search)
    summary: SearchSummary | None = None
    if refit_only:
        params = dict(champion.params)
    else:
        outcome = search_model(config, spec, training, store=store, progress=progress)
        summary = summarize(spec.name, outcome.search, settings.strategy)
        params = dict(summary.best_params)
    estimator, _ = resolve_model(spec, settings)
    # Params stored for a search with prepare_in_folds address the pipeline's "model" step.
    model_params = {key.removeprefix("model__"): value for key, value in params.items()}
    preparation = project_preparation(config, training)
    pipeline = Pipeline([("prepare", preparation), ("model", clone(estimator).set_params(**model_params))])
    unfitted = clone(pipeline)
    pipeline.fit(training.X, training.y)
    classifier = is_classifier(pipeline)
    if training.n_rows <= OOF_MAX_ROWS:
        # Honest predictions (each row by a model that never saw it) are what live predictions should
        # look like: the reference profile keeps their distribution.
        folds = check_cv(settings.cv, training.y, classifier=classifier)
        predictions = cross_val_predict(unfitted, training.X, training.y, cv=folds, n_jobs=settings.n_jobs)
        kind = "out-of-fold"
    else:
        # Too many rows to fit once per fold again: the refit's predictions, a little optimistic.
        predictions = pipeline.predict(training.X)
        kind = "refit"
    if summary is not None:
        best = summary.best_index
        cv: dict[str, Any] | None = {
            "metric": summary.label,
            "score": float(summary.display_mean(best)),
            "std": summary.display_fold_std(best),
            "folds": summary.n_splits,
        }
    elif kind == "out-of-fold":
        cv = _oof_score(training.y, predictions, classifier, folds.get_n_splits())
    else:
        cv = None
    return ChallengerFit(pipeline, spec, params, summary, cv, np.asarray(predictions), kind)


def _model_spec(config: ProjectConfig, registry: Registry, version: ModelVersion) -> ModelSpec:
    """The shortlist model a version came from; an online snapshot's is its base version's."""
    seen = set()
    while "model" not in version.source and "from_version" in version.source:
        if version.version in seen:
            break
        seen.add(version.version)
        version = registry.get(version.name, int(version.source["from_version"]))
    model = version.source.get("model")
    if not model:
        raise StoreError(
            "its source names no shortlist model, so it cannot be searched or refit again",
            where=version.label,
        )
    return config.model(str(model))


def _oof_score(y: pd.Series, predictions: np.ndarray, classifier: bool, folds: int) -> dict[str, Any]:
    truth = np.asarray(y)
    if classifier:
        return {"metric": "accuracy", "score": float((predictions == truth).mean()), "folds": folds}
    rmse = math.sqrt(float(np.mean((predictions.astype(float) - truth.astype(float)) ** 2)))
    return {"metric": "RMSE", "score": rmse, "folds": folds}


def _holdout_metrics(
    task: str, pipeline: Any, losses: np.ndarray, loss: str, fresh: FreshData, config: ProjectConfig
) -> dict[str, Any]:
    """The challenger on the holdout, in the format of a test evaluation (the monitor compares with it).

    The holdout is the freshest labelled data and was never trained on: for live monitoring of a retrained
    model it is the right reference, though a little optimistic once it has been used to promote it.
    """
    settings = config.retrain
    y = fresh.holdout[config.data.target].to_numpy()
    if task == "regression":
        columns = {"mse": losses, "mae": np.sqrt(losses)}
    else:
        X = fresh.holdout[list(fresh.train.X.columns)]
        columns = {"accuracy": (np.asarray(pipeline.predict(X)) == y).astype(float)}
        if loss == "log loss":
            columns["log_loss"] = losses
    means = resampled_means(np.column_stack(list(columns.values())), settings.n_bootstrap)
    tail = (1 - settings.confidence) / 2
    intervals = {
        name: [float(v) for v in np.quantile(means[:, k], [tail, 1 - tail])] for k, name in enumerate(columns)
    }
    metrics = {name: float(values.mean()) for name, values in columns.items()}
    if task == "regression":
        intervals["rmse"] = [math.sqrt(v) for v in intervals.pop("mse")]
        metrics["rmse"] = math.sqrt(metrics.pop("mse"))
        spread = float(np.sum((y - y.mean()) ** 2))
        metrics["r2"] = 1 - float(losses.sum()) / spread if spread > 0 else math.nan
    return {
        "task": task,
        "n_test": len(y),
        "confidence": settings.confidence,
        "n_bootstrap": settings.n_bootstrap,
        "metrics": {name: (value if math.isfinite(value) else None) for name, value in metrics.items()},
        "bootstrap": intervals,
        "rmse_t_interval": None,
        "on": "holdout",
        "holdout_start": fresh.holdout_start.isoformat(),
        "holdout_end": fresh.holdout_end.isoformat(),
    }


def _register(
    config: ProjectConfig,
    registry: Registry,
    champion: ModelVersion,
    fresh: FreshData,
    fit: ChallengerFit,
    holdout_metrics: dict[str, Any],
    refit_only: bool,
) -> ModelVersion:
    training = fresh.train
    metrics = {"test": holdout_metrics} if fit.cv is None else {"cv": fit.cv, "test": holdout_metrics}
    how = "refit of its params" if refit_only else f"{fit.spec.name} searched again"
    version = register_pipeline(
        registry,
        config,
        training,
        fit.pipeline,
        task=champion.task,
        predictions=fit.predictions,
        params=fit.params,
        metrics=metrics,
        data={"sha256": training.split.data_sha256, "n_rows": training.n_rows, **fresh.counts()},
        source={
            "project": config.project,
            "model": fit.spec.name,
            "study": fit.search.study if fit.search else None,
            "candidate": fit.search.best_index if fit.search else None,
            "kind": "retrain",
            "from_version": champion.version,
            "refit_only": refit_only,
        },
        description=(
            f"retrained from v{champion.version} ({how}) on {fresh.n_from_training + fresh.n_from_source:,}"
            f" {'source' if fresh.n_from_source else 'training'} rows + {fresh.n_from_production:,} "
            "labelled production rows"
        ),
        created_by=ACTOR,
    )
    registry.set_alias(
        config.model_name, CHALLENGER, version.version, reason=f"retrain of v{champion.version}", actor=ACTOR
    )
    return version


# -- the record of decisions ------------------------------------------------------------------------


def _ensure_table(store: Store) -> None:
    try:
        metadata.create_all(store.engine, tables=[retrain_runs_table])
    except sa.exc.SQLAlchemyError as error:
        raise StoreError(f"cannot create the retrain table: {str(error).splitlines()[0]}") from None


def record_decision(store: Store, outcome: RetrainOutcome, at: datetime) -> int:
    """Store one decision of `hone retrain`; its id."""
    _ensure_table(store)
    row = {
        "model": outcome.model,
        "at": at,
        "champion": outcome.champion,
        "challenger": outcome.challenger,
        "promoted": outcome.promoted,
        "reason": outcome.reason,
        "gate": json.dumps(outcome.gate.to_dict() if outcome.gate else None),
        "data": json.dumps(
            {
                **(outcome.data.counts() if outcome.data else {}),
                "refit_only": outcome.refit_only,
                "quality": outcome.quality or [],
                "profile_predictions": outcome.profile_predictions,
            }
        ),
    }
    with store.engine.begin() as connection:
        return int(connection.execute(retrain_runs_table.insert().values(**row)).inserted_primary_key[0])


def retrain_runs(store: Store, model: str | None = None, *, limit: int | None = None) -> list[RetrainRecord]:
    """Stored decisions, oldest first (the last ``limit`` of them)."""
    _ensure_table(store)
    table = retrain_runs_table
    query = sa.select(table).order_by(table.c.id.desc())
    if model is not None:
        query = query.where(table.c.model == model)
    if limit is not None:
        query = query.limit(limit)
    with store.engine.connect() as connection:
        rows = list(connection.execute(query))
    return [_record(row) for row in reversed(rows)]


def _record(row: Any) -> RetrainRecord:
    gate = json.loads(row.gate)
    at = row.at if row.at.tzinfo is not None else row.at.replace(tzinfo=timezone.utc)
    return RetrainRecord(
        id=row.id,
        model=row.model,
        at=at,
        champion=row.champion,
        challenger=row.challenger,
        promoted=bool(row.promoted),
        reason=row.reason,
        gate=None if gate is None else GateResult.from_dict(gate),
        data=json.loads(row.data),
    )
