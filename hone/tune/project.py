"""A project file turned into work: load and split the data, prepare it, tune every model of the shortlist.

Everything is checked (config, data, estimators, spaces, folds) before the store is opened, so bad
input leaves the store as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sklearn.base import is_classifier, is_regressor
from sklearn.model_selection import check_cv
from sklearn.pipeline import Pipeline

from hone.config.schema import HALVING_SETTINGS, ModelSpec, ProjectConfig, SearchSettings
from hone.data.sources import check_regression_target
from hone.data.training import TrainingSet, data_source, load_training_set, project_preparation
from hone.errors import ConfigError, SearchError
from hone.search import GridSearch, HalvingGridSearch, HalvingRandomSearch, RandomSearch, TPESearch
from hone.search.engine import Progress
from hone.search.estimators import BaseSearch
from hone.search.scoring import resolve_scoring
from hone.search.space import expanded_grid, grid_candidates
from hone.search.tpe_space import tpe_space
from hone.store.db import Store
from hone.tune.outcome import ModelOutcome, TuneOutcome
from hone.tune.resolve import resolve_model
from hone.tune.studies import study_name

ProgressFactory = Callable[[str, "str | None"], "Progress | None"]


@dataclass
class ModelPlan:
    """One model of the shortlist, resolved and checked, ready to search."""

    spec: ModelSpec
    settings: SearchSettings
    estimator: Any
    space: Any
    study: str

    def search(self, space: Any, *, store: Store | None, study: str, progress: Progress | None) -> BaseSearch:
        s = self.settings
        common = dict(
            scoring=s.scoring,
            cv=s.cv,
            refit=s.refit,
            n_jobs=s.n_jobs,
            return_train_score=s.return_train_score,
            store=store,
            study=study,
            progress=progress,
        )
        if s.strategy == "random":
            return RandomSearch(self.estimator, space, n_iter=s.n_iter, random_state=s.random_state, **common)
        if s.strategy == "halving":
            return self._halving(space, common)
        if s.strategy == "tpe":
            return TPESearch(
                self.estimator, space, n_trials=s.n_trials, random_state=s.random_state, **common
            )
        return GridSearch(self.estimator, space, **common)

    def _halving(self, space: Any, common: dict[str, Any]) -> BaseSearch:
        s = self.settings
        # In a prepare-in-folds pipeline the model's parameters are model__<name>.
        in_folds = s.prepare_in_folds and s.resource != "n_samples"
        halving: dict[str, Any] = dict(
            factor=s.factor,
            resource=f"model__{s.resource}" if in_folds else s.resource,
            max_resources=s.max_resources or "auto",
            random_state=s.random_state,
        )
        if s.min_resources is not None:
            halving["min_resources"] = s.min_resources
        if self.spec.space_key(s.strategy) == "grid":
            return HalvingGridSearch(self.estimator, space, **halving, **common)
        return HalvingRandomSearch(self.estimator, space, n_candidates=s.n_candidates, **halving, **common)


def _study_name(config: ProjectConfig, model: ModelSpec, settings: SearchSettings, data_sha256: str) -> str:
    halving = None if settings.strategy == "halving" else set(HALVING_SETTINGS)
    search = {
        "model": model.model_dump(mode="json"),
        "search": settings.model_dump(mode="json", exclude=halving),
    }
    return study_name(config, model.name, search, data_sha256)


def plan_models(config: ProjectConfig, training: TrainingSet, y: Any) -> list[ModelPlan]:
    return [plan_model(config, model, training, y) for model in config.models]


def plan_model(config: ProjectConfig, model: ModelSpec, training: TrainingSet, y: Any) -> ModelPlan:
    settings = model.effective_search(config.search)
    if model.space == "default":
        raise ConfigError("space: default is searched within a time budget: give search.budget or --budget",
                          where=model.where())
    estimator, space = resolve_model(model, settings)
    if is_regressor(estimator):  # text would fail every fit, after the split and study were stored
        check_regression_target(
            training.y, target=config.data.target, source=data_source(config), estimator=model.estimator
        )
    if model.space_key(settings.strategy) == "grid" and settings.strategy != "random":
        grid_candidates(space)
    if settings.strategy == "tpe":
        try:
            tpe_space(space)  # norm / expon parse, but TPE cannot sample them
        except SearchError as error:
            raise ConfigError(error.message, where=model.where(model.space_key("tpe"))) from None
    if settings.prepare_in_folds:
        estimator, space = _in_pipeline(config, training, estimator, space)
    _check_scoring_and_folds(config, model, settings, estimator, training.X, y)
    study = _study_name(config, model, settings, training.split.data_sha256)
    return ModelPlan(model, settings, estimator, space, study)


def _setting_where(config: ProjectConfig, model: ModelSpec, key: str) -> str:
    overridden = model.search is not None and getattr(model.search, key) is not None
    return model.where("search", key) if overridden else config.where("search", key)


def _check_scoring_and_folds(
    config: ProjectConfig, model: ModelSpec, settings: SearchSettings, estimator: Any, X: Any, y: Any
) -> None:
    try:
        resolve_scoring(estimator, settings.scoring, settings.refit)
    except SearchError as error:
        raise ConfigError(error.message, where=_setting_where(config, model, "scoring")) from None
    try:
        list(check_cv(settings.cv, y, classifier=is_classifier(estimator)).split(X, y))
    except ValueError as error:
        raise ConfigError(
            f"cv={settings.cv} cannot split the {len(y)} training rows: {error}",
            where=_setting_where(config, model, "cv"),
        ) from None


def _in_pipeline(config: ProjectConfig, training: TrainingSet, estimator: Any, space: Any) -> tuple[Any, Any]:
    preparation = project_preparation(config, training)
    pipeline = Pipeline([("prepare", preparation), ("model", estimator)])

    def prefixed(part: dict[str, Any]) -> dict[str, Any]:
        return {f"model__{name}": values for name, values in part.items()}

    return pipeline, [prefixed(p) for p in space] if isinstance(space, list) else prefixed(space)


def tune(
    config: ProjectConfig,
    *,
    progress: ProgressFactory | None = None,
    expand: bool = False,
    store: Store | None = None,
    budget: float | None = None,
) -> TuneOutcome:
    """Search every model of the shortlist; persisted fit by fit, so a rerun resumes."""
    budget = budget if budget is not None else config.search.budget
    if budget is not None:  # the best model within a time budget: hone.tune.budget
        from hone.tune.budget import line_reporter, tune_within_budget

        scoring = config.search.scoring if isinstance(config.search.scoring, str) else None
        report = line_reporter(scoring) if progress is not None else None
        return tune_within_budget(config, budget, store=store, report=report)
    if not config.models:
        raise ConfigError("no models to tune: list a shortlist under `models:` or give search.budget")
    training = load_training_set(config)
    preparation = project_preparation(config, training)
    y = training.y.to_numpy()
    plans = plan_models(config, training, y)
    # The seed prepares the training set once, then searches on the prepared matrix (cheap either way).
    prepared = preparation.fit_transform(training.X)
    names = [str(name) for name in preparation.get_feature_names_out()]

    store = store or Store(config.store_url)
    split = training.split
    recorded = store.lock_split(
        config.project,
        split.data_sha256,
        config.split.model_dump(mode="json"),
        training.n_rows,
        [int(i) for i in split.test_index],
        split.test_ids_sha256,
    )
    outcomes = []
    with store.run(config.project, "tune") as run_id:
        for plan in plans:
            X = training.X if plan.settings.prepare_in_folds else prepared
            outcomes.append(
                _tune_model(plan, X, y, store=store, run_id=run_id, progress=progress, expand=expand)
            )
    return TuneOutcome(run_id, recorded, len(training.X), len(split.test_index), names, outcomes)


def search_model(
    config: ProjectConfig,
    model: ModelSpec,
    training: TrainingSet,
    *,
    store: Store,
    progress: ProgressFactory | None = None,
    command: str = "retrain",
) -> ModelOutcome:
    """One shortlist model's configured search (one round) on ``training``, persisted like `hone tune`.

    The study name follows the data, so a rerun on the same rows reads its fits back from the store.
    """
    y = training.y.to_numpy()
    plan = plan_model(config, model, training, y)
    X: Any = training.X
    if not plan.settings.prepare_in_folds:
        preparation = project_preparation(config, training)
        X = preparation.fit_transform(training.X)
    with store.run(config.project, command) as run_id:
        return _tune_model(plan, X, y, store=store, run_id=run_id, progress=progress, expand=False)


def _tune_model(
    plan: ModelPlan,
    X: Any,
    y: Any,
    *,
    store: Store,
    run_id: int,
    progress: ProgressFactory | None,
    expand: bool,
) -> ModelOutcome:
    outcome = ModelOutcome(plan.spec.name, plan.settings)
    space, study = plan.space, plan.study
    scoring = plan.settings.scoring if isinstance(plan.settings.scoring, str) else None
    for round_number in range(1, plan.settings.max_rounds + 1):
        label = plan.spec.name if round_number == 1 else f"{plan.spec.name} (round {round_number})"
        search = plan.search(
            space, store=store, study=study, progress=progress(label, scoring) if progress else None
        )
        search.fit(X, y)
        store.optuna.set_study_user_attr(
            store.optuna.get_study_id_from_name(study), "hone.model", plan.spec.name
        )
        store.add_run_study(run_id, study)
        outcome.rounds.append(search)
        if not expand or plan.settings.strategy != "grid" or not outcome.edges:
            break
        space = expanded_grid(outcome.edges, outcome.search.best_params_)
        if all(params in outcome.tried for params in grid_candidates(space)):
            break  # nothing new to try past the edge (e.g. a count already at 1)
        study = f"{plan.study}.round{round_number + 1}"
    return outcome
