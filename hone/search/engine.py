"""The evaluation engine: every strategy's candidates are fitted, scored, stored and reported here.

Given candidates and CV splits, it skips the fits already in the trial log (a resumed run), runs
the rest on joblib workers, and writes each result to the log the moment it comes back.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from joblib import Parallel, delayed
from sklearn.exceptions import FitFailedWarning

from hone.errors import SearchError
from hone.search.fitting import FoldContext, FoldResult, fit_params_for, fold_data
from hone.search.plan import Group, configure, plan, run_group
from hone.search.scoring import Scoring
from hone.store.trials import TrialLog

Params = dict[str, Any]
Split = tuple[np.ndarray, np.ndarray]


class Progress(Protocol):
    """Told about every fit; renders a bar, lines, or nothing."""

    def start(self, total: int, done: int) -> None: ...

    def advance(self, result: FoldResult, best: float | None) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    def start(self, total: int, done: int) -> None:
        pass

    def advance(self, result: FoldResult, best: float | None) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass
class Evaluation:
    """All fold results of a search, and how many were computed now versus read from the store."""

    folds: dict[tuple[int, int], FoldResult]
    computed: int
    reused: int


@dataclass
class SearchJob:
    estimator: Any
    candidates: Sequence[Params]
    X: Any
    y: Any
    splits: Sequence[Split]
    scoring: Scoring
    return_train_score: bool = False
    error_score: Any = np.nan
    fit_params: dict[str, Any] | None = None
    n_jobs: int | None = None
    share: bool = True


class _Tally:
    """Counts finished folds per candidate to close candidates and track the best mean so far."""

    def __init__(self, job: SearchJob, log: TrialLog) -> None:
        self.n_splits = len(job.splits)
        self.metric = job.scoring.refit_metric
        self.log = log
        self.scores: dict[int, list[float]] = {}
        self.best: float | None = None

    def add(self, result: FoldResult) -> None:
        scores = self.scores.setdefault(result.candidate, [])
        scores.append(result.test_scores[self.metric])
        if len(scores) == self.n_splits:
            mean = float(np.mean(scores))
            self.log.complete(result.candidate, mean)
            if math.isfinite(mean) and (self.best is None or mean > self.best):
                self.best = mean


def evaluate(job: SearchJob, log: TrialLog, progress: Progress | None = None) -> Evaluation:
    progress = progress or NoProgress()
    n_splits = len(job.splits)
    done = log.load()
    tally = _Tally(job, log)
    for key in sorted(done):
        tally.add(done[key])
    progress.start(len(job.candidates) * n_splits, len(done))
    reused = len(done)
    tasks = _tasks(job, done)
    try:
        if tasks:
            parallel = Parallel(n_jobs=job.n_jobs, return_as="generator_unordered")
            runs = (
                delayed(_run_task)(group, _context(job, fold), job.X, job.y, *job.splits[fold])
                for group, fold in tasks
            )
            for results in parallel(runs):
                for result in results:
                    log.record(result)
                    done[result.candidate, result.fold] = result
                    tally.add(result)
                    progress.advance(result, tally.best)
    finally:
        progress.finish()
    _warn_failures(done)
    return Evaluation(done, computed=sum(len(group.members) for group, _ in tasks), reused=reused)


def _tasks(job: SearchJob, done: dict[tuple[int, int], FoldResult]) -> list[tuple[Group, int]]:
    """One task per (group of shareable candidates, fold) still to fit; largest first, so no core idles."""
    models = configure(job.estimator, job.candidates)
    share = job.share and not job.fit_params  # per-sample fit params: keep every fit independent
    tasks = []
    for fold in range(len(job.splits)):
        missing = [i for i in range(len(models)) if (i, fold) not in done]
        groups = plan([models[i] for i in missing], share=share, indices=missing)
        tasks.extend((group, fold) for group in groups)
    tasks.sort(key=lambda task: -task[0].cost)
    return tasks


def _context(job: SearchJob, fold: int) -> FoldContext:
    train, test = job.splits[fold]
    n_samples = len(job.y) if job.y is not None else len(train) + len(test)
    return FoldContext(
        job.scoring.scorers,
        fold,
        job.return_train_score,
        job.error_score,
        fit_params_for(job.fit_params, train, n_samples),
    )


def _run_task(group: Group, context: FoldContext, X: Any, y: Any, train: Any, test: Any) -> list[FoldResult]:
    # Runs in a worker: only the group, this fold's rows and the data (memory-mapped by joblib) travel.
    return run_group(group.family, group.members, fold_data(X, y, train, test), context)


def _warn_failures(done: dict[tuple[int, int], FoldResult]) -> None:
    failed = [r for r in done.values() if r.error is not None]
    if not failed:
        return
    if len(failed) == len(done):
        raise SearchError(f"all {len(done)} fits failed; the first one: {failed[0].error}")
    warnings.warn(
        f"{len(failed)} of {len(done)} fits failed and were scored with error_score; "
        f"the first one: {failed[0].error}",
        FitFailedWarning,
        stacklevel=3,
    )
