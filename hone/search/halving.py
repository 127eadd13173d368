"""Successive halving: HalvingGridSearch and HalvingRandomSearch, drop-ins for scikit-learn's
HalvingGridSearchCV / HalvingRandomSearchCV on hone's engine.

Every candidate is first evaluated with a small resource (few rows, or a small value of a parameter
such as ``n_estimators``); the best ``1/factor`` of them go on to the next iteration with ``factor``
times more, until the last iteration. Each iteration is one batch for the engine, so its fits are
shared, stored and resumed like any other search's.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import joblib
import numpy as np
from sklearn.base import is_classifier
from sklearn.model_selection import check_cv
from sklearn.utils import check_random_state, resample

from hone.errors import SearchError
from hone.search.callbacks import ReportingEvaluator
from hone.search.engine import CandidateEvaluator, Progress, Split
from hone.search.estimators import BaseSearch
from hone.search.results import last_iteration_best
from hone.search.space import grid_candidates, sampled_candidates

Params = dict[str, Any]


def keep_best(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest scores, lowest of them first; NaN counts below every number.

    Ties are broken by numpy's default argsort, as scikit-learn's halving breaks them, so the same
    candidates go on to the next iteration.
    """
    order = np.argsort(scores)  # NaNs sort last: rotate them to the front, below every number
    order = np.roll(order, np.count_nonzero(np.isnan(scores)))
    return order[len(order) - k :]


def subsample(splits: list[Split], fraction: float, random_state: Any) -> list[Split]:
    """Each fold's train and test rows cut to ``fraction``, drawn as scikit-learn's halving draws them."""
    out = []
    for train, test in splits:
        train = resample(
            train, replace=False, random_state=random_state, n_samples=int(fraction * len(train))
        )
        test = resample(test, replace=False, random_state=random_state, n_samples=int(fraction * len(test)))
        out.append((train, test))
    return out


def _count(data: Any) -> int:
    return int(data.shape[0]) if hasattr(data, "shape") else len(data)


def _yields_the_same_folds(cv: Any) -> bool:
    # A splitter that shuffles without an integer seed gives other folds on each call (sklearn's rule).
    return isinstance(getattr(cv, "random_state", 0), Integral) or not getattr(cv, "shuffle", True)


def _rng_state(random_state: Any) -> Any:
    """What the row draws depend on: an int seed, or the generator's state before any draw."""
    if isinstance(random_state, Integral):
        return random_state
    return check_random_state(random_state).get_state()  # None: numpy's global generator


class BaseHalving(BaseSearch):
    """Successive halving over the candidates a subclass proposes (``_initial_candidates``)."""

    def __init__(
        self,
        estimator: Any,
        *,
        factor: float = 3,
        resource: str = "n_samples",
        max_resources: Any = "auto",
        min_resources: Any = "exhaust",
        aggressive_elimination: bool = False,
        cv: Any = 5,
        scoring: Any = None,
        refit: Any = True,
        error_score: Any = np.nan,
        return_train_score: bool = True,
        random_state: Any = None,
        n_jobs: int | None = None,
        verbose: int = 0,
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
        self.factor = factor
        self.resource = resource
        self.max_resources = max_resources
        self.min_resources = min_resources
        self.aggressive_elimination = aggressive_elimination
        self.random_state = random_state

    def _initial_candidates(self) -> list[Params]:
        raise NotImplementedError

    def fit(self, X: Any, y: Any = None, *, groups: Any = None, **fit_params: Any) -> BaseHalving:
        self._check_settings(X, y, groups)
        super().fit(X, y, groups=groups, **fit_params)
        self.best_score_ = float(self.cv_results_["mean_test_score"][self.best_index_])
        return self

    # -- settings, checked before anything is fitted or stored ---------------------------------------
    def _check_settings(self, X: Any, y: Any, groups: Any) -> None:
        if not (self.scoring is None or isinstance(self.scoring, str) or callable(self.scoring)):
            raise SearchError("successive halving ranks candidates by one metric: scoring must be one name")
        if isinstance(self.factor, bool) or not isinstance(self.factor, Real) or not self.factor > 1:
            raise SearchError(f"factor must be a number greater than 1, got {self.factor!r}")
        if self.resource != "n_samples" and self.resource not in self.estimator.get_params():
            raise SearchError(
                f"resource={self.resource!r} is neither 'n_samples' nor a parameter of "
                f"{type(self.estimator).__name__}"
            )
        cv = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        if not _yields_the_same_folds(cv):
            raise SearchError(
                "successive halving needs the same folds at every iteration: give the cv splitter an "
                "integer random_state, or shuffle=False"
            )
        self._n_samples = _count(X)
        self._rng_identity = _rng_state(self.random_state)  # before any draw consumes it
        self.min_resources_ = self._smallest_resources(cv, X, y, groups)
        self.max_resources_ = self._largest_resources()
        if self.min_resources_ > self.max_resources_:
            raise SearchError(
                f"min_resources_={self.min_resources_} is greater than max_resources_={self.max_resources_}"
            )

    def _smallest_resources(self, cv: Any, X: Any, y: Any, groups: Any) -> int:
        value = self.min_resources
        if value not in ("smallest", "exhaust"):
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise SearchError(
                    f"min_resources must be 'exhaust', 'smallest' or an integer > 0, got {value!r}"
                )
            return int(value)
        if self.resource != "n_samples":
            return 1  # 'exhaust' may raise it once the number of candidates is known
        try:
            n_splits = cv.get_n_splits(X, y, groups)
        except (TypeError, ValueError) as error:
            raise SearchError(f"cannot make the cross-validation folds: {error}") from None
        smallest = 2 * n_splits  # a couple of rows per fold
        if is_classifier(self.estimator) and y is not None:
            smallest *= int(np.unique(np.asarray(y)).shape[0])  # ... of every class
        return smallest

    def _largest_resources(self) -> int:
        value = self.max_resources
        if value == "auto":
            if self.resource != "n_samples":
                raise SearchError("max_resources='auto' only works with resource='n_samples': give a number")
            return self._n_samples
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
            raise SearchError(f"max_resources must be 'auto' or an integer > 0, got {value!r}")
        return int(value)

    def _space_fingerprint(self) -> Any:
        candidates = self._initial_candidates()
        if self.resource != "n_samples" and any(self.resource in c for c in candidates):
            raise SearchError(f"resource={self.resource!r} cannot also be a searched parameter")
        self._proposed = candidates
        settings = (
            self.factor,
            self.resource,
            self.max_resources_,
            self.min_resources,
            self.aggressive_elimination,
        )
        rows = self._rng_identity if self.resource == "n_samples" else None
        return candidates, settings, joblib.hash(rows)

    # -- the iterations ---------------------------------------------------------------------------------
    def _run_search(self, evaluate_candidates: ReportingEvaluator) -> None:
        candidates = self._proposed
        factor = self.factor
        n_required = 1 + math.floor(math.log(len(candidates), factor))
        if self.min_resources == "exhaust":
            # Start as high as possible, so that the last required iteration uses nearly all resources.
            self.min_resources_ = max(self.min_resources_, self.max_resources_ // factor ** (n_required - 1))
        n_possible = 1 + math.floor(math.log(self.max_resources_ // self.min_resources_, factor))
        n_iterations = n_required if self.aggressive_elimination else min(n_possible, n_required)
        self.n_resources_: list[int] = []
        self.n_candidates_: list[int] = []
        self._iterations: list[int] = []
        self._resources: list[int] = []
        base_splits = [
            (np.asarray(train), np.asarray(test)) for train, test in evaluate_candidates.job.splits
        ]
        with evaluate_candidates.task("search", n_iterations, leaves=False):
            for iteration in range(n_iterations):
                power = iteration
                if self.aggressive_elimination:
                    # Repeat the first resource until enough candidates are gone, then grow as usual.
                    power = max(0, iteration - n_required + n_possible)
                n_resources = min(int(factor**power * self.min_resources_), self.max_resources_)
                with evaluate_candidates.task("halving-iteration", len(candidates) * self.n_splits_):
                    candidates = self._iterate(
                        evaluate_candidates, candidates, iteration, n_resources, base_splits
                    )
        self.n_remaining_candidates_ = len(candidates)
        self.n_required_iterations_ = n_required
        self.n_possible_iterations_ = n_possible
        self.n_iterations_ = n_iterations

    def _iterate(
        self,
        evaluate_candidates: ReportingEvaluator,
        candidates: list[Params],
        iteration: int,
        n_resources: int,
        base_splits: list[Split],
    ) -> list[Params]:
        """Evaluate the candidates with ``n_resources``; return the best 1/factor of them."""
        self.n_resources_.append(n_resources)
        self.n_candidates_.append(len(candidates))
        splits = None
        if self.resource == "n_samples":
            splits = subsample(base_splits, n_resources / self._n_samples, self.random_state)
        else:
            candidates = [{**c, self.resource: n_resources} for c in candidates]
        start = len(self._iterations)
        self._iterations += [iteration] * len(candidates)
        self._resources += [n_resources] * len(candidates)
        results = evaluate_candidates(candidates, splits)
        kept = keep_best(results["mean_test_score"][start:], math.ceil(len(candidates) / self.factor))
        return [results["params"][start + i] for i in kept]

    def _cv_results(self, evaluation: CandidateEvaluator) -> dict[str, Any]:
        results = evaluation.results()
        results["iter"] = np.asarray(self._iterations)
        results["n_resources"] = np.asarray(self._resources)
        # Stored with the study, so a summary read back from the store picks the same best candidate.
        evaluation.log.note("iter", list(self._iterations))
        evaluation.log.note("n_resources", [int(r) for r in self._resources])
        return results

    def _best_index(self, results: dict[str, Any], scoring: Any) -> int | None:
        return last_iteration_best(results)

    def _strategy(self) -> str:
        return "halving"


class HalvingGridSearch(BaseHalving):
    """Successive halving over a grid (a dict, or a list of dicts), like HalvingGridSearchCV."""

    def __init__(
        self,
        estimator: Any,
        param_grid: Any,
        *,
        factor: float = 3,
        resource: str = "n_samples",
        max_resources: Any = "auto",
        min_resources: Any = "exhaust",
        aggressive_elimination: bool = False,
        cv: Any = 5,
        scoring: Any = None,
        refit: Any = True,
        error_score: Any = np.nan,
        return_train_score: bool = True,
        random_state: Any = None,
        n_jobs: int | None = None,
        verbose: int = 0,
        store: Any = None,
        study: str | None = None,
        progress: Progress | None = None,
        share: bool = True,
    ) -> None:
        super().__init__(
            estimator,
            factor=factor,
            resource=resource,
            max_resources=max_resources,
            min_resources=min_resources,
            aggressive_elimination=aggressive_elimination,
            cv=cv,
            scoring=scoring,
            refit=refit,
            error_score=error_score,
            return_train_score=return_train_score,
            random_state=random_state,
            n_jobs=n_jobs,
            verbose=verbose,
            store=store,
            study=study,
            progress=progress,
            share=share,
        )
        self.param_grid = param_grid

    def _initial_candidates(self) -> list[Params]:
        return grid_candidates(self.param_grid)


class HalvingRandomSearch(BaseHalving):
    """Successive halving over sampled candidates, the ones HalvingRandomSearchCV samples."""

    def __init__(
        self,
        estimator: Any,
        param_distributions: Any,
        *,
        n_candidates: Any = "exhaust",
        factor: float = 3,
        resource: str = "n_samples",
        max_resources: Any = "auto",
        min_resources: Any = "smallest",
        aggressive_elimination: bool = False,
        cv: Any = 5,
        scoring: Any = None,
        refit: Any = True,
        error_score: Any = np.nan,
        return_train_score: bool = True,
        random_state: Any = None,
        n_jobs: int | None = None,
        verbose: int = 0,
        store: Any = None,
        study: str | None = None,
        progress: Progress | None = None,
        share: bool = True,
    ) -> None:
        super().__init__(
            estimator,
            factor=factor,
            resource=resource,
            max_resources=max_resources,
            min_resources=min_resources,
            aggressive_elimination=aggressive_elimination,
            cv=cv,
            scoring=scoring,
            refit=refit,
            error_score=error_score,
            return_train_score=return_train_score,
            random_state=random_state,
            n_jobs=n_jobs,
            verbose=verbose,
            store=store,
            study=study,
            progress=progress,
            share=share,
        )
        self.param_distributions = param_distributions
        self.n_candidates = n_candidates

    def _check_settings(self, X: Any, y: Any, groups: Any) -> None:
        if self.n_candidates == "exhaust" and self.min_resources == "exhaust":
            raise SearchError("n_candidates and min_resources cannot both be 'exhaust'")
        n = self.n_candidates
        if n != "exhaust" and (isinstance(n, bool) or not isinstance(n, Integral) or n < 1):
            raise SearchError(f"n_candidates must be 'exhaust' or an integer > 0, got {n!r}")
        super()._check_settings(X, y, groups)

    def _initial_candidates(self) -> list[Params]:
        # 'exhaust': as many candidates as the smallest resource fits into the largest.
        n = (
            self.max_resources_ // self.min_resources_
            if self.n_candidates == "exhaust"
            else self.n_candidates
        )
        candidates = sampled_candidates(self.param_distributions, n, self.random_state)
        if self.resource != "n_samples":
            # scikit-learn draws from its sampler twice here (once to check the resource is not searched):
            # with a RandomState object, the second draw is the one it searches.
            candidates = sampled_candidates(self.param_distributions, n, self.random_state)
        return candidates
