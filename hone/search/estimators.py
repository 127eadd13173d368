"""GridSearch and RandomSearch: drop-ins for GridSearchCV / RandomizedSearchCV on hone's engine."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from numbers import Integral
from typing import Any

import joblib
import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.callback import CallbackSupportMixin, with_callbacks
from sklearn.model_selection import check_cv
from sklearn.utils.metaestimators import available_if

from hone.errors import SearchError
from hone.search.callbacks import ReportingEvaluator, SearchTasks
from hone.search.engine import CandidateEvaluator, Progress, SearchJob
from hone.search.families.forest import refit_threads
from hone.search.scoring import SINGLE, Scoring, resolve_scoring
from hone.search.space import EdgeHit, find_edges, grid_candidates, sampled_candidates
from hone.search.trials import MemoryTrialLog, OptunaTrialLog, TrialLog
from hone.search.versions import library_versions, sharing_allowed
from hone.store.db import open_store

Params = dict[str, Any]


def _delegated(method: str) -> Callable[[Any], bool]:
    def check(search: Any) -> bool:
        if not hasattr(search, "best_estimator_"):
            getattr(search.estimator, method)  # AttributeError before fit, as sklearn does
            return True
        getattr(search.best_estimator_, method)
        return True

    return check


def _describe(scorer: Any) -> str:
    # sklearn scorers print their metric and sign; anything else is known by its type (never its address).
    text = repr(scorer)
    return text if " at 0x" not in text else f"{type(scorer).__module__}.{type(scorer).__qualname__}"


class BaseSearch(MetaEstimatorMixin, CallbackSupportMixin, BaseEstimator):
    """Shared engine of the search strategies: strategies only say which candidates to try.

    ``set_callbacks(...)`` takes scikit-learn's fit callbacks (``sklearn.callback.ProgressBar``, ...),
    told about the same tasks as with GridSearchCV (see ``hone.search.callbacks``).
    """

    def __init__(
        self,
        estimator: Any,
        *,
        scoring: Any = None,
        n_jobs: int | None = None,
        refit: Any = True,
        cv: Any = None,
        verbose: int = 0,
        error_score: Any = np.nan,
        return_train_score: bool = False,
        store: Any = None,
        study: str | None = None,
        progress: Progress | None = None,
        share: bool = True,
    ) -> None:
        self.estimator = estimator
        self.scoring = scoring
        self.n_jobs = n_jobs
        self.refit = refit
        self.cv = cv
        self.verbose = verbose
        self.error_score = error_score
        self.return_train_score = return_train_score
        self.store = store
        self.study = study
        self.progress = progress
        self.share = share

    def _run_search(self, evaluate_candidates: ReportingEvaluator) -> None:
        """Propose candidates by calling ``evaluate_candidates`` (as in scikit-learn's ``_run_search``)."""
        raise NotImplementedError

    def _space_fingerprint(self) -> Any:
        """What determines the candidates this strategy will propose (part of the study's identity)."""
        raise NotImplementedError

    def _strategy(self) -> str:
        raise NotImplementedError

    @with_callbacks
    def fit(self, X: Any, y: Any = None, *, groups: Any = None, **fit_params: Any) -> BaseSearch:
        # The callbacks' root task: the search, then the refit (sklearn's _init_callback_context hook).
        root = self._init_callback_context(max_subtasks=1 + (self.refit is not False))
        tasks = SearchTasks(self, root, X, y, fit_params)
        # Everything that can be wrong with the input is checked before the store is touched.
        scoring = resolve_scoring(self.estimator, self.scoring, self.refit)
        space = self._space_fingerprint()
        splits = self._splits(X, y, groups)
        job = SearchJob(
            estimator=self.estimator,
            X=X,
            y=y,
            splits=splits,
            scoring=scoring,
            return_train_score=self.return_train_score,
            error_score=self.error_score,
            fit_params=fit_params or None,
            n_jobs=self.n_jobs,
            share=self.share and sharing_allowed(),
        )
        evaluator = CandidateEvaluator(job, self._trial_log(job, space), tasks.progress(self._progress()))
        try:
            self._run_search(tasks.evaluator(evaluator))
        finally:
            evaluator.close()
        evaluator.check_failures()
        self._finish(job, evaluator)
        if self.refit is not False:
            self._refit(X, y, fit_params, tasks)
        tasks.finish()
        return self

    def _splits(self, X: Any, y: Any, groups: Any) -> list[tuple[np.ndarray, np.ndarray]]:
        try:
            cv = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
            splits = list(cv.split(X, y, groups))
        except (TypeError, ValueError) as error:
            raise SearchError(f"cannot make the cross-validation folds: {error}") from None
        self.n_splits_ = len(splits)
        return splits

    def _fingerprint(self, job: SearchJob, space: Any) -> str:
        scoring = {name: _describe(scorer) for name, scorer in job.scoring.scorers.items()}
        return joblib.hash(
            (
                clone(self.estimator),
                space,
                job.X,
                job.y,
                [np.concatenate(s) for s in job.splits],
                [len(s[0]) for s in job.splits],
                scoring,
                self.return_train_score,
                str(self.error_score),
                job.fit_params,
                library_versions(),  # an upgrade starts a new study rather than mixing fits
            )
        )

    def _trial_log(self, job: SearchJob, space: Any) -> TrialLog:
        store = open_store(self.store)
        if store is None:
            self.study_name_ = None
            return MemoryTrialLog()
        fingerprint = self._fingerprint(job, space)
        self.study_name_ = self.study or f"{type(self.estimator).__name__}-{fingerprint[:12]}"
        attrs = {
            "strategy": self._strategy(),
            "estimator": type(self.estimator).__name__,
            "n_splits": len(job.splits),
            "metrics": job.scoring.names,
            "refit_metric": job.scoring.refit_metric,
            "scoring": self.scoring
            if isinstance(self.scoring, str | list | type(None))
            else repr(self.scoring),
            "return_train_score": bool(self.return_train_score),
        }
        return OptunaTrialLog(store.optuna, self.study_name_, [], fingerprint, attrs, run_id=uuid.uuid4().hex)

    def _progress(self) -> Progress | None:
        if self.progress is not None or not self.verbose:
            return self.progress
        from hone.search.progress import auto_progress

        return auto_progress(scoring=self.scoring if isinstance(self.scoring, str) else None)

    def _finish(self, job: SearchJob, evaluation: CandidateEvaluator) -> None:
        scoring: Scoring = job.scoring
        results = self._cv_results(evaluation)
        candidates = evaluation.candidates
        self.cv_results_ = results
        self.multimetric_ = scoring.multimetric
        self.refit_metric_ = scoring.refit_metric
        self.scorer_ = scoring.scorers if scoring.multimetric else scoring.scorers[SINGLE]
        self.n_fits_computed_ = evaluation.computed
        self.n_fits_reused_ = evaluation.reused
        self.n_pruned_ = len(evaluation.pruned)
        # Groups (per fold) whose shared fit raised and were fitted independently: a lost speed-up.
        self.n_fallbacks_ = len(evaluation.fallbacks)
        index = self._best_index(results, scoring)
        if index is not None:
            self.best_index_ = index
            if not callable(self.refit):
                self.best_score_ = float(results[f"mean_test_{scoring.refit_metric}"][index])
            self.best_params_ = results["params"][self.best_index_]
            self.edges_: list[EdgeHit] = find_edges(candidates, self.best_params_)

    def _best_index(self, results: dict[str, Any], scoring: Scoring) -> int | None:
        """The candidate refit picks (None: several metrics and no refit), as GridSearchCV picks it."""
        if callable(self.refit):
            index = self.refit(results)
            if not isinstance(index, Integral) or not 0 <= index < len(results["params"]):
                raise SearchError(f"the refit callable returned {index!r}, not a candidate index")
            return int(index)
        if self.refit is not False or not scoring.multimetric:
            return int(results[f"rank_test_{scoring.refit_metric}"].argmin())
        return None

    def _cv_results(self, evaluation: CandidateEvaluator) -> dict[str, Any]:
        """The final ``cv_results_`` (a strategy may add its own keys, as halving adds ``iter``)."""
        return evaluation.results()

    def _refit(self, X: Any, y: Any, fit_params: dict[str, Any], tasks: SearchTasks) -> None:
        model = clone(self.estimator).set_params(**clone(self.best_params_, safe=False))
        start = time.perf_counter()
        with tasks.refitting(model), refit_threads(model, self.n_jobs):
            if y is None:
                model.fit(X, **fit_params)
            else:
                model.fit(X, y, **fit_params)
        self.refit_time_ = time.perf_counter() - start
        self.best_estimator_ = model

    # -- delegation to the refit best estimator, as sklearn's searches do ------------------------
    def _check_refit(self, method: str) -> Any:
        if not hasattr(self, "best_estimator_"):
            raise AttributeError(f"{method} is only available after fit with refit enabled")
        return self.best_estimator_

    @available_if(_delegated("predict"))
    def predict(self, X: Any) -> Any:
        return self._check_refit("predict").predict(X)

    @available_if(_delegated("predict_proba"))
    def predict_proba(self, X: Any) -> Any:
        return self._check_refit("predict_proba").predict_proba(X)

    @available_if(_delegated("predict_log_proba"))
    def predict_log_proba(self, X: Any) -> Any:
        return self._check_refit("predict_log_proba").predict_log_proba(X)

    @available_if(_delegated("decision_function"))
    def decision_function(self, X: Any) -> Any:
        return self._check_refit("decision_function").decision_function(X)

    @available_if(_delegated("transform"))
    def transform(self, X: Any) -> Any:
        return self._check_refit("transform").transform(X)

    def score(self, X: Any, y: Any = None) -> float:
        model = self._check_refit("score")
        scorer = self.scorer_[self.refit] if self.multimetric_ else self.scorer_
        return float(scorer(model, X, y))

    @property
    def classes_(self) -> Any:
        return self._check_refit("classes_").classes_

    @property
    def n_features_in_(self) -> int:
        return self._check_refit("n_features_in_").n_features_in_


class GridSearch(BaseSearch):
    """Exhaustive search over a grid (a dict, or a list of dicts), like GridSearchCV."""

    def __init__(
        self,
        estimator: Any,
        param_grid: Any,
        *,
        scoring: Any = None,
        n_jobs: int | None = None,
        refit: Any = True,
        cv: Any = None,
        verbose: int = 0,
        error_score: Any = np.nan,
        return_train_score: bool = False,
        store: Any = None,
        study: str | None = None,
        progress: Progress | None = None,
        share: bool = True,
    ) -> None:
        super().__init__(
            estimator,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            error_score=error_score,
            return_train_score=return_train_score,
            store=store,
            study=study,
            progress=progress,
            share=share,
        )
        self.param_grid = param_grid

    def _candidates(self) -> list[Params]:
        return grid_candidates(self.param_grid)

    def _space_fingerprint(self) -> Any:
        self._proposed = self._candidates()  # a bad space is refused before the store is touched
        return self._proposed

    def _run_search(self, evaluate_candidates: ReportingEvaluator) -> None:
        with evaluate_candidates.task("search", len(self._proposed) * self.n_splits_):
            evaluate_candidates(self._proposed)

    def _strategy(self) -> str:
        return "grid"


class RandomSearch(BaseSearch):
    """Randomly sampled candidates, the same ones RandomizedSearchCV samples for the same random_state."""

    def __init__(
        self,
        estimator: Any,
        param_distributions: Any,
        *,
        n_iter: int = 10,
        scoring: Any = None,
        n_jobs: int | None = None,
        refit: Any = True,
        cv: Any = None,
        verbose: int = 0,
        random_state: Any = None,
        error_score: Any = np.nan,
        return_train_score: bool = False,
        store: Any = None,
        study: str | None = None,
        progress: Progress | None = None,
        share: bool = True,
    ) -> None:
        super().__init__(
            estimator,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            error_score=error_score,
            return_train_score=return_train_score,
            store=store,
            study=study,
            progress=progress,
            share=share,
        )
        self.param_distributions = param_distributions
        self.n_iter = n_iter
        self.random_state = random_state

    def _candidates(self) -> list[Params]:
        return sampled_candidates(self.param_distributions, self.n_iter, self.random_state)

    def _space_fingerprint(self) -> Any:
        self._proposed = self._candidates()  # a bad space is refused before the store is touched
        return self._proposed

    def _run_search(self, evaluate_candidates: ReportingEvaluator) -> None:
        with evaluate_candidates.task("search", len(self._proposed) * self.n_splits_):
            evaluate_candidates(self._proposed)

    def _strategy(self) -> str:
        return "random"
