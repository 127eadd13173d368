"""`hone tune --budget 60s` (or ``search.budget``): the project's shortlist searched within a time budget.

Models say ``space: default`` (a built-in space, see hone.search.builtin_spaces), or the shortlist is
left out and chosen by task and data size. Tree models are searched on their own preparation: the
project's imputation and derived features, no scaling, ordinal-encoded categories (split on natively by
HistGradientBoosting and LightGBM); the others on the project's preparation as written.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer

from hone.config.schema import ProjectConfig
from hone.data import build_preparation
from hone.data.training import TrainingSet, load_training_set, prepare_spec
from hone.errors import ConfigError
from hone.search.budget import BudgetModel, BudgetResult, BudgetSearch, search_within_budget
from hone.search.builtin_spaces import DataShape, ModelSpace, default_shortlist, space_for
from hone.search.scoring import display_score
from hone.store.db import Store
from hone.tune.outcome import ModelOutcome, TuneOutcome
from hone.tune.resolve import resolve_estimator
from hone.tune.studies import study_name

Reporter = Callable[[Sequence[BudgetModel], float, float], None]


@dataclass
class BudgetSummary:
    """What the budget did: the chosen model, the time it took, whether a fit was cut at the deadline."""

    budget: float
    chosen: str
    search_seconds: float
    total_seconds: float
    stopped_in_fit: bool
    dropped: dict[str, str]  # model -> why (every fit failed)


def infer_task(y: pd.Series) -> str:
    """Regression for float targets and integers with many values, classification otherwise."""
    if pd.api.types.is_float_dtype(y) or (pd.api.types.is_integer_dtype(y) and y.nunique() > 20):
        return "regression"
    return "classification"


def _spaces(config: ProjectConfig, shape: DataShape) -> list[tuple[str, ModelSpace, dict[str, Any]]]:
    if not config.models:
        return [(space.name, space, {}) for space in default_shortlist(shape)]
    chosen = []
    for model in config.models:
        if model.space != "default":
            raise ConfigError(
                "with a time budget every model needs `space: default` (or leave `models:` out)",
                where=model.where(),
            )
        chosen.append((model.name, space_for(model.estimator, shape, model.where("estimator")), model.params))
    return chosen


def _study_name(
    config: ProjectConfig, name: str, space: ModelSpace, params: dict[str, Any], data: str
) -> str:
    search = {
        "budget-space": space.describe(),
        "params": params,
        "search": config.search.model_dump(mode="json", exclude={"budget"}),
    }
    return study_name(config, name, search, data)


def preparations(config: ProjectConfig, training: TrainingSet) -> tuple[ColumnTransformer, ColumnTransformer]:
    """Unfitted preparations: the project's (``scaled`` models), and the trees' (no scaling, ordinal
    categories, the same imputation and derived features)."""
    target = config.data.target
    scaled = build_preparation(prepare_spec(config), training.split.train, target)
    spec = replace(prepare_spec(config), scale="none", one_hot=False)
    return scaled, build_preparation(spec, training.split.train, target)


def tune_within_budget(
    config: ProjectConfig, budget: float, *, store: Store | None = None, report: Reporter | None = None
) -> TuneOutcome:
    """Search the shortlist within ``budget`` seconds, refit included; rerun to continue from the store."""
    training = load_training_set(config)
    scaled, trees = preparations(config, training)
    X_scaled = scaled.fit_transform(training.X)
    X_trees = trees.fit_transform(training.X)
    names = [str(n) for n in trees.get_feature_names_out()]
    categorical = [str(c) for _, _, columns in trees.transformers_ if _ == "cat" for c in columns]
    shape = DataShape(
        infer_task(training.y),
        len(training.X),
        X_trees.shape[1],
        tuple(names.index(c) for c in categorical if c in names),
    )
    y = training.y.to_numpy()
    settings = config.search
    models = []
    for name, space, params in _spaces(config, shape):
        fixed = {**space.fixed, **params}
        estimator = resolve_estimator(space.estimator, fixed, config.where("models"))
        space = replace(space, fixed=fixed)
        X = X_trees if space.preparation == "trees" else X_scaled
        models.append(
            BudgetModel(
                name,
                estimator,
                space,
                X,
                _study_name(config, name, space, params, training.split.data_sha256),
            )
        )

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
    workers = _workers(settings.n_jobs)

    def make_search(model: BudgetModel, overrides: dict[str, Any]) -> BudgetSearch:
        options: dict[str, Any] = dict(
            seed=settings.random_state or 0,
            workers=workers,
            scoring=settings.scoring,
            cv=settings.cv,
            n_jobs=settings.n_jobs,
            return_train_score=settings.return_train_score,
            store=store,
            study=model.study,
        )
        return BudgetSearch(model.estimator, model.space, **(options | overrides))

    outcomes = []
    with store.run(config.project, "tune") as run_id:
        result = search_within_budget(models, y, budget, make_search, report)
        for model in models:
            search = result.searches.get(model.name)
            if search is None:
                continue
            store.optuna.set_study_user_attr(
                store.optuna.get_study_id_from_name(model.study), "hone.model", model.name
            )
            store.add_run_study(run_id, model.study)
            outcomes.append(
                ModelOutcome(model.name, settings.model_copy(update={"strategy": "budget"}), [search])
            )
    outcome = TuneOutcome(run_id, recorded, len(training.X), len(split.test_index), names, outcomes)
    outcome.budget = _summary(budget, result)
    return outcome


def _summary(budget: float, result: BudgetResult) -> BudgetSummary:
    dropped = {m.name: m.failure for m in result.models if m.failure is not None}
    return BudgetSummary(
        budget, result.chosen, result.search_seconds, result.total_seconds, result.stopped_in_fit, dropped
    )


def _workers(n_jobs: int | None) -> int:
    import joblib

    return max(1, joblib.cpu_count() if n_jobs is not None and n_jobs < 0 else (n_jobs or 1))


def line_reporter(scoring: str | None, stream: Any = None) -> Reporter:
    """A progress line per slice: time used of the budget, each model's best score and candidate count."""
    out = stream or sys.stderr

    def report(models: Sequence[BudgetModel], elapsed: float, budget: float) -> None:
        parts = []
        for model in models:
            if not model.history:
                continue
            label, value = display_score(scoring, model.best)
            parts.append(f"{model.name} {value:,.4g}" if abs(value) < 10 else f"{model.name} {value:,.0f}")
        label = display_score(scoring, -1.0)[0]
        print(f"[{elapsed:5.1f}/{budget:g} s] best {label}: " + " · ".join(parts), file=out, flush=True)

    return report
