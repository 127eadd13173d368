"""Which tuned candidate to look at, and everything needed to rebuild it from the project file and store.

Nothing here refits the search: the candidate's params and CV score come from the stored study, the
training rows from the project's data and locked split.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.model_selection import check_cv
from sklearn.pipeline import Pipeline

from hone.config.schema import ModelSpec, ProjectConfig, SearchSettings
from hone.data.training import TrainingSet, project_preparation
from hone.errors import HoneError, StoreError
from hone.search.summary import SearchSummary, read_summary
from hone.store.db import Store
from hone.tune.resolve import resolve_model


@dataclass
class Candidate:
    """One tuned candidate: its model spec, params and CV score, as stored."""

    config: ProjectConfig
    model: ModelSpec
    settings: SearchSettings
    summary: SearchSummary
    index: int

    @property
    def params(self) -> dict[str, Any]:
        return self.summary.cv_results["params"][self.index]

    @property
    def cv_score(self) -> float:
        return float(self.summary.cv_results[f"mean_test_{self.summary.refit_metric}"][self.index])

    @property
    def label(self) -> str:
        return f"{self.model.name} {self.params}"

    def estimator(self) -> Any:
        """The candidate's unfitted model (without the preparation)."""
        model, _ = resolve_model(self.model, self.settings)
        params = self.params
        if self.settings.prepare_in_folds:  # stored params address the pipeline's "model" step
            params = {name.removeprefix("model__"): value for name, value in params.items()}
        return clone(model).set_params(**params)

    def pipeline(self, training: TrainingSet) -> Pipeline:
        """Preparation + model, unfitted: fitting it on the training set is the seed's refit."""
        preparation = project_preparation(self.config, training)
        return Pipeline([("prepare", preparation), ("model", self.estimator())])

    def folds(self, X: Any, y: Any) -> list[tuple[np.ndarray, np.ndarray]]:
        """The search's cross-validation folds (same splitter, same rows)."""
        return list(check_cv(self.settings.cv, y, classifier=is_classifier(self.estimator())).split(X, y))


def tuned_studies(config: ProjectConfig, store: Store) -> list[str]:
    """The studies of the project's last `hone tune`."""
    run = store.last_run(config.project)
    if run is None:
        raise StoreError(
            f"project {config.project!r} has no `hone tune` run in the store yet", where=store.url
        )
    studies = json.loads(run.studies)
    if not studies:
        raise StoreError("the last `hone tune` finished no study; rerun it", where=store.url)
    return studies


def find_candidate(
    config: ProjectConfig, store: Store, which: str | None = None, candidate: int | None = None
) -> Candidate:
    """The best candidate of the last tune, or of a model (shortlist name) or study; or one by index."""
    summaries = [read_summary(store.optuna, name) for name in tuned_studies(config, store)]
    if which is not None:
        chosen = [s for s in summaries if which in (s.study, s.model)]
        if not chosen:
            known = sorted({s.model for s in summaries} | {str(s.study) for s in summaries})
            raise HoneError(
                f"no tuned model or study named {which!r}; the last tune has: {', '.join(known)}",
                where=store.url,
            )
        summaries = chosen
    best = max(summaries, key=lambda s: s.best_score)
    index = best.best_index if candidate is None else candidate
    if not 0 <= index < best.n_candidates:
        raise HoneError(f"candidate {index} does not exist: study {best.study!r} has {best.n_candidates}")
    model = config.model(best.model)
    return Candidate(config, model, model.effective_search(config.search), best, index)
