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
from hone.search.fitting import FoldResult, fit_and_score
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
    todo = [
        (candidate, fold)
        for candidate in range(len(job.candidates))
        for fold in range(n_splits)
        if (candidate, fold) not in done
    ]
    progress.start(len(job.candidates) * n_splits, len(done))
    reused = len(done)
    try:
        if todo:
            parallel = Parallel(n_jobs=job.n_jobs, return_as="generator_unordered")
            tasks = (
                delayed(fit_and_score)(
                    job.estimator,
                    job.candidates[c],
                    job.X,
                    job.y,
                    job.splits[f][0],
                    job.splits[f][1],
                    job.scoring.scorers,
                    candidate=c,
                    fold=f,
                    return_train_score=job.return_train_score,
                    error_score=job.error_score,
                    fit_params=job.fit_params,
                )
                for c, f in todo
            )
            for result in parallel(tasks):
                log.record(result)
                done[result.candidate, result.fold] = result
                tally.add(result)
                progress.advance(result, tally.best)
    finally:
        progress.finish()
    _warn_failures(done)
    return Evaluation(done, computed=len(todo), reused=reused)


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
