"""From a tuned candidate to a registered model version: refit, schema, reference profile, metrics.

``register_candidate`` is what `hone register` runs. The artifact is the whole fitted pipeline (the
preparation and the model), so serving and batch prediction transform new rows exactly as the test
set was transformed: with the training set's fitted statistics, never refitted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sklearn.base import is_classifier

from hone.analysis.candidate import Candidate, find_candidate
from hone.analysis.error_slices import oof_predictions
from hone.analysis.evaluate import SCORING_METRICS
from hone.config.schema import ProjectConfig
from hone.data.profile import ReferenceProfile
from hone.data.schema import FeatureSchema
from hone.data.training import TrainingSet, load_training_set
from hone.search.scoring import display_score
from hone.store.db import Store
from hone.store.jsonable import params_key, python_value
from hone.store.registry import CHALLENGER, CHAMPION, AliasMove, ModelVersion, Registry


@dataclass(frozen=True)
class Registration:
    """A newly registered version and the alias it was given (if any)."""

    version: ModelVersion
    move: AliasMove | None
    existing: bool = False  # the same candidate on the same data was registered before: nothing new



def register_candidate(
    config: ProjectConfig,
    store: Store,
    which: str | None = None,
    candidate: int | None = None,
    *,
    alias: str | None = None,
    description: str = "",
) -> Registration:
    """Refit the chosen candidate on the whole training set and register it as a new version.

    ``alias`` None: the first version of a model becomes ``champion`` (there is nothing to compare it
    with), later ones ``challenger`` (promote them with `hone promote`).
    """
    chosen = find_candidate(config, store, which, candidate)
    training = load_training_set(config)
    registry = Registry.of_project(config, store)
    same = _registered_before(registry, config, chosen, training)
    if same is not None:
        return Registration(same, None, existing=True)
    pipeline = chosen.pipeline(training).fit(training.X, training.y)
    version = register_pipeline(
        registry,
        config,
        training,
        pipeline,
        task="classification" if is_classifier(pipeline) else "regression",
        # The profile keeps the distribution of honest predictions (out-of-fold), not of refit ones that
        # have seen their own rows: those are what live predictions should look like.
        predictions=oof_predictions(chosen, training),
        params={name: python_value(value) for name, value in chosen.params.items()},
        metrics=_metrics(config, store, chosen),
        data={
            "sha256": training.split.data_sha256,
            "n_rows": len(training.X),
            "test_ids_sha256": training.split.test_ids_sha256,
        },
        source={
            "project": config.project,
            "model": chosen.model.name,
            "study": chosen.summary.study,
            "candidate": chosen.index,
        },
        description=description,
    )
    if alias is None:
        alias = CHAMPION if registry.alias_version(config.model_name, CHAMPION) is None else CHALLENGER
    reason = f"registered from {chosen.model.name} (candidate {chosen.index})"
    move = registry.set_alias(config.model_name, alias, version.version, reason=reason)
    return Registration(version, move)


def register_pipeline(
    registry: Registry,
    config: ProjectConfig,
    training: TrainingSet,
    pipeline: Any,
    *,
    task: str,
    predictions: Any,
    params: dict[str, Any],
    metrics: dict[str, Any],
    data: dict[str, Any],
    source: dict[str, Any],
    description: str,
    created_by: str | None = None,
) -> ModelVersion:
    """A fitted pipeline registered with what serving and monitoring need: the schema of the training
    features and their reference profile (with ``predictions``, honest ones, as the predictions' profile).

    `hone register` and `hone retrain` both register through here."""
    schema = feature_schema(config, training)
    profile = ReferenceProfile.build(
        training.X[schema.names], schema, y=training.y, predictions=predictions, task=task
    )
    return registry.register(
        config.model_name,
        pipeline,
        task=task,
        schema=schema,
        profile=profile.to_dict(),
        params=params,
        metrics=metrics,
        data=data,
        source=source,
        description=description,
        created_by=created_by,
    )


def _registered_before(
    registry: Registry, config: ProjectConfig, chosen: Candidate, training: TrainingSet
) -> ModelVersion | None:
    """A version refit from the same candidate on the same data: registering again would duplicate it."""
    if config.model_name not in registry.names():
        return None
    params = params_key({name: python_value(value) for name, value in chosen.params.items()})
    for version in reversed(registry.versions(config.model_name)):
        if (
            version.source.get("model") == chosen.model.name
            and params_key(version.params) == params
            and version.data.get("sha256") == training.split.data_sha256
        ):
            return version
    return None


def feature_schema(config: ProjectConfig, training: TrainingSet) -> FeatureSchema:
    """The training features' schema: a feature accepts missing values when training had some.

    With ``serve.allow_missing: true`` (and a preparation that imputes) every numeric feature accepts them;
    the monitor's missing-value check then watches how often they come.
    """
    imputed: list[str] = []
    if config.serve.allow_missing and config.prepare.impute != "none":
        imputed = [
            str(column)
            for column in training.X.columns
            if pd.api.types.is_numeric_dtype(training.X[column])
        ]
    return FeatureSchema.from_frame(
        training.X, target=config.data.target, imputed=imputed, ids=config.data.id
    )


def _metrics(config: ProjectConfig, store: Store, chosen: Candidate) -> dict[str, Any]:
    """The candidate's CV score, and its last recorded test evaluation if it had one.

    ``cv.key`` names the test metric the project's scoring compares with (``roc_auc`` for a search scored
    on ROC AUC): the one `hone models` shows, not a fixed RMSE or accuracy."""
    label, score = display_score(chosen.summary.scoring, chosen.cv_score)
    metrics: dict[str, Any] = {
        "cv": {
            "metric": label,
            "score": float(score),
            "std": chosen.summary.display_fold_std(chosen.index),
            "folds": chosen.summary.n_splits,
            "key": SCORING_METRICS.get(str(chosen.summary.scoring)),
        }
    }
    params = params_key(chosen.params)
    looks = [
        row
        for row in store.evaluations(config.project)
        if row.model == chosen.model.name and row.params == params
    ]
    if looks:
        metrics["test"] = json.loads(looks[-1].metrics)
    return metrics

