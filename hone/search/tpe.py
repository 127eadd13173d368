"""TPESearch: Bayesian search with Optuna's TPE sampler, pruning candidates at fold granularity.

Candidates are asked of an in-memory Optuna study whose sampler is seeded by ``random_state``, and
every result the engine returns is told back to it. A resumed run reads its finished folds from the
store, tells the sampler the same scores in the same order, and so proposes the same candidates and
refits nothing. The persistent study (the store) is the engine's trial log, as for grid and random.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from numbers import Integral, Real
from typing import Any

import numpy as np
from joblib import effective_n_jobs
from sklearn.utils import check_random_state

from hone.errors import SearchError
from hone.search.engine import CandidateEvaluator, Progress
from hone.search.estimators import BaseSearch
from hone.search.pruning import cannot_win
from hone.search.tpe_space import Space, ask, tpe_space
from hone.search.trials import encode_params


class TPESearch(BaseSearch):
    """Bayesian search: Optuna's TPE proposes each batch from the scores of every candidate so far.

    ``param_distributions``: a dict (or a list of dicts, a conditional space) of lists of values,
    ``scipy.stats`` ``randint`` / ``uniform`` / ``loguniform``, or Optuna distributions.
    ``n_trials`` proposals at most, fewer when ``timeout`` seconds have passed before a batch starts
    (the first batch always runs). A proposal equal to an earlier candidate is told that candidate's
    result and not fitted again, so ``cv_results_`` may hold fewer than ``n_trials`` candidates.
    Each batch holds ``max(1, effective n_jobs)`` candidates, asked together: the sampler's constant
    liar counts the ones still running as the worst score, so one batch does not propose the same
    point twice. The first ``n_startup_trials`` candidates are sampled at random (TPE's start-up) and
    always run every fold.

    Pruning (``prune=True``), the best-case completion rule: a later candidate first runs
    ``prune_after`` folds (default: half of the folds, rounded up). Each fold it has not run is then
    given the best score any candidate has reached on any fold so far; if the mean over all folds is
    not strictly above the best complete candidate's mean, it cannot win without beating that record
    and stops there (a NaN on a fold it ran stops it too; see ``hone.search.pruning``). Pruned
    candidates are PRUNED trials in the store; in ``cv_results_`` their missing folds are NaN, they
    rank last and ``pruned`` is True; ``n_pruned_`` counts them. TPE optimizes the refit metric (the
    first metric when ``refit`` does not name one).

    ``n_trials`` and ``timeout`` are not part of the study's identity: the same search with a larger
    ``n_trials`` continues a stored study. With ``random_state=None`` every fit draws a new seed, so
    it starts a new study.
    """

    def __init__(
        self,
        estimator: Any,
        param_distributions: Any,
        *,
        n_trials: int = 20,
        timeout: float | None = None,
        prune: bool = True,
        prune_after: int | None = None,
        n_startup_trials: int = 10,
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
        self.n_trials = n_trials
        self.timeout = timeout
        self.prune = prune
        self.prune_after = prune_after
        self.n_startup_trials = n_startup_trials
        self.random_state = random_state

    def _strategy(self) -> str:
        return "tpe"

    def _space_fingerprint(self) -> Any:
        # Everything is checked here, before the store is touched.
        self._check_settings()
        self._space: Space = tpe_space(self.param_distributions)
        self._seed = self._draw_seed()
        self._batch_size = max(1, effective_n_jobs(self.n_jobs))
        return (
            "tpe",
            [[dimension.fingerprint() for dimension in sub] for sub in self._space],
            self._seed,
            self._batch_size,
            self.n_startup_trials,
            bool(self.prune),
            self.prune_after,
        )

    def _check_settings(self) -> None:
        for name in ("n_trials", "prune_after"):
            value = getattr(self, name)
            if name == "prune_after" and value is None:
                continue
            if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
                raise SearchError(f"{name} must be a positive integer, got {value!r}")
        startup = self.n_startup_trials
        if not isinstance(startup, Integral) or isinstance(startup, bool) or startup < 0:
            raise SearchError(f"n_startup_trials must be a non-negative integer, got {startup!r}")
        timeout = self.timeout
        if timeout is not None and (not isinstance(timeout, Real) or not timeout > 0):
            raise SearchError(f"timeout must be a positive number of seconds or None, got {timeout!r}")

    def _draw_seed(self) -> int:
        if isinstance(self.random_state, Integral):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _splits(self, X: Any, y: Any, groups: Any) -> list[tuple[np.ndarray, np.ndarray]]:
        splits = super()._splits(X, y, groups)
        if self.prune and self.prune_after is not None and self.prune_after >= len(splits):
            raise SearchError(
                f"prune_after={self.prune_after} leaves no fold to skip with {len(splits)} folds; "
                f"use prune_after < {len(splits)} or prune=False"
            )
        return splits

    def _run_search(self, evaluate_candidates: CandidateEvaluator) -> None:
        study = _sampler_study(self._seed, self.n_startup_trials)
        metric = evaluate_candidates.job.scoring.refit_metric
        known: dict[str, int] = {}  # a candidate's encoded params -> its index
        started = time.monotonic()
        asked = 0
        while asked < self.n_trials:
            if asked and self.timeout is not None and time.monotonic() - started >= self.timeout:
                break  # the first batch always runs: a search needs a best candidate
            trials = [study.ask() for _ in range(min(self._batch_size, self.n_trials - asked))]
            asked += len(trials)
            # TPE may propose a candidate again (often in small categorical spaces): it is told the
            # earlier result instead of being fitted twice.
            fresh: list[dict[str, Any]] = []
            indices = []
            for trial in trials:
                params = ask(trial, self._space)
                key = encode_params(params)
                if key not in known:
                    known[key] = len(evaluate_candidates.candidates) + len(fresh)
                    fresh.append(params)
                indices.append(known[key])
            if fresh:
                start = len(evaluate_candidates.candidates)
                self._evaluate(evaluate_candidates, fresh, list(range(start, start + len(fresh))), metric)
            results = evaluate_candidates.results()
            for index, trial in zip(indices, trials, strict=True):
                _tell(study, trial, results, index, metric, index in evaluate_candidates.pruned)

    def _evaluate(
        self, evaluate: CandidateEvaluator, candidates: list[dict[str, Any]], indices: list[int], metric: str
    ) -> None:
        """A batch on its first folds, pruned by the rule, the survivors on the rest of their folds."""
        if not self.prune or indices[-1] < self.n_startup_trials:
            evaluate(candidates)
            return
        first = list(range(self._folds_before_pruning(evaluate.n_splits)))
        results = evaluate(candidates, folds=first)
        evaluate.prune(
            [
                i
                for i in indices
                if i >= self.n_startup_trials and cannot_win(results, i, metric, first, evaluate.n_splits)
            ]
        )
        evaluate.evaluate_folds([i for i in indices if i not in evaluate.pruned])

    def _folds_before_pruning(self, n_splits: int) -> int:
        return self.prune_after if self.prune_after is not None else (n_splits + 1) // 2

    def _cv_results(self, evaluation: CandidateEvaluator) -> dict[str, Any]:
        results = evaluation.results()
        results["pruned"] = np.array([i in evaluation.pruned for i in range(len(evaluation.candidates))])
        return results


def _tell(study: Any, trial: Any, results: dict[str, Any], index: int, metric: str, pruned: bool) -> None:
    """Tell the sampler how a candidate did: its mean, or PRUNED with the folds it ran, or FAIL."""
    import optuna

    state = optuna.trial.TrialState
    if pruned:
        fold = 0
        while f"split{fold}_test_{metric}" in results:
            score = float(results[f"split{fold}_test_{metric}"][index])
            if math.isfinite(score):
                trial.report(score, fold)  # TPE ranks pruned trials by the folds they ran
            fold += 1
        study.tell(trial, state=state.PRUNED)
        return
    mean = float(results[f"mean_test_{metric}"][index])
    if math.isfinite(mean):
        study.tell(trial, mean)
    else:
        study.tell(trial, state=state.FAIL)


def _sampler_study(seed: int, n_startup_trials: int) -> Any:
    """An in-memory study whose TPE sampler proposes the candidates (the store only records them)."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # `group` is experimental
        # multivariate + group: parameters are modelled jointly within each sub-space of a conditional
        # space. constant_liar: the candidates of a batch that are still running count as the worst
        # score, so a batch asked at once spreads out instead of proposing one point n_jobs times.
        sampler = optuna.samplers.TPESampler(
            n_startup_trials=n_startup_trials, seed=seed, multivariate=True, group=True, constant_liar=True
        )
    storage = optuna.storages.InMemoryStorage()
    with _quiet_optuna():
        storage.create_new_study([optuna.study.StudyDirection.MAXIMIZE], "hone.tpe")
    return optuna.Study("hone.tpe", storage, sampler=sampler)


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    # Optuna logs every in-memory study it creates; that line means nothing to a hone user.
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)
