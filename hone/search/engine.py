"""The evaluation engine: every strategy's candidates are fitted, scored, stored and reported here.

A strategy (grid, random, halving, TPE, a budget) calls ``CandidateEvaluator`` with batches of
candidates, as scikit-learn's ``_run_search`` calls ``evaluate_candidates``. For each batch the engine
skips the fits already in the trial log (a resumed run), runs the rest on joblib workers, and writes
each result to the log the moment it comes back.
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
from hone.search.plan import Group, SharingFallbackWarning, configure, plan, run_group
from hone.search.results import build_cv_results
from hone.search.scoring import Scoring
from hone.search.trials import TrialLog

Params = dict[str, Any]
Split = tuple[np.ndarray, np.ndarray]


class Progress(Protocol):
    """Told about every fit; renders a bar, lines, or nothing."""

    def start(self, total: int, done: int) -> None: ...

    def advance(self, result: FoldResult, best: float | None) -> None: ...

    def finish(self) -> None: ...

    # Optional: ``grow(total, done)`` is told about each later batch of an adaptive strategy.


class NoProgress:
    def start(self, total: int, done: int) -> None:
        pass

    def advance(self, result: FoldResult, best: float | None) -> None:
        pass

    def finish(self) -> None:
        pass

    def grow(self, total: int, done: int) -> None:
        pass


@dataclass
class SearchJob:
    """What every candidate of one search is evaluated on: the data, the folds, the scoring."""

    estimator: Any
    X: Any
    y: Any
    splits: Sequence[Split]
    scoring: Scoring
    return_train_score: bool = False
    error_score: Any = np.nan
    fit_params: dict[str, Any] | None = None
    n_jobs: int | None = None
    share: bool = True


@dataclass
class _Batch:
    """Candidates handed to the engine in one call, with the folds they are evaluated on."""

    start: int
    stop: int
    splits: Sequence[Split]


class CandidateEvaluator:
    """The callback a strategy drives, as ``evaluate_candidates`` in scikit-learn's ``_run_search``.

    Each call plans, shares, fits (or reads from the trial log), stores and scores a batch of
    candidates and returns ``cv_results_`` of every candidate so far, so a strategy decides what to
    try next from everything it has seen. A batch may bring its own folds (halving's subsampled rows);
    candidates are numbered across batches in the order they arrive. A call may evaluate only some
    folds (pruning): ``evaluate_folds`` completes the others later, ``prune`` gives up on a candidate.
    """

    def __init__(self, job: SearchJob, log: TrialLog, progress: Progress | None = None) -> None:
        self.job = job
        self.log = log
        self.progress = progress or NoProgress()
        self.candidates: list[Params] = []
        self.folds: dict[tuple[int, int], FoldResult] = log.load()
        self.computed = 0
        self.reused = 0
        self._batches: list[_Batch] = []
        self.seen: set[tuple[int, int]] = set()  # the folds this run has evaluated or read back
        self.pruned: set[int] = set()
        self._n_seen: dict[int, int] = {}
        self._started = False
        self.best: float | None = None
        self.fallbacks: list[str] = []  # one reason per (group, fold) whose sharing failed in this run

    @property
    def n_splits(self) -> int:
        return len(self.job.splits)

    def __call__(
        self,
        candidates: Sequence[Params],
        splits: Sequence[Split] | None = None,
        folds: Sequence[int] | None = None,
    ) -> dict[str, Any]:
        """Add a batch of candidates and evaluate them on ``folds`` (default: every fold)."""
        batch_splits = list(splits) if splits is not None else list(self.job.splits)
        if len(batch_splits) != self.n_splits:
            raise SearchError(f"a batch must use {self.n_splits} folds, got {len(batch_splits)}")
        batch = _Batch(len(self.candidates), len(self.candidates) + len(candidates), batch_splits)
        self.candidates.extend(candidates)
        self._batches.append(batch)
        self.log.add_candidates(list(candidates), batch.start)
        return self.evaluate_folds(range(batch.start, batch.stop), folds)

    def evaluate_folds(self, indices: Sequence[int], folds: Sequence[int] | None = None) -> dict[str, Any]:
        """Evaluate candidates already proposed on ``folds`` (default: every fold they still lack).

        Folds in the trial log are read back, the others fitted; returns ``cv_results_`` as a call does.
        """
        wanted = range(self.n_splits) if folds is None else list(folds)
        if any(not 0 <= fold < self.n_splits for fold in wanted):
            raise SearchError(f"folds must be between 0 and {self.n_splits - 1}, got {list(wanted)}")
        keys = [(i, fold) for i in indices for fold in wanted if (i, fold) not in self.seen]
        stored = [key for key in keys if key in self.folds]
        for key in stored:
            self._tally(self.folds[key])
        self.reused += len(stored)
        self._announce(len(keys), len(stored))
        missing = {key for key in keys if key not in self.folds}
        tasks = [task for batch in self._batches for task in self._tasks(batch, missing)]
        tasks.sort(key=lambda task: -task[1].cost)  # largest first: no core idles at the tail
        if tasks:
            parallel = Parallel(n_jobs=self.job.n_jobs, return_as="generator_unordered")
            job = self.job
            runs = (
                delayed(_run_task)(group, self._context(batch, fold), job.X, job.y, *batch.splits[fold])
                for batch, group, fold in tasks
            )
            for results in parallel(runs):
                self._note_fallback(results)
                for result in results:
                    self.log.record(result)
                    self.folds[result.candidate, result.fold] = result
                    self.computed += 1
                    self._tally(result)
                    self.progress.advance(result, self.best)
        return self.results()

    def prune(self, indices: Sequence[int]) -> None:
        """Stop candidates for good: their missing folds stay NaN, the trial log marks them pruned."""
        for index in indices:
            self.pruned.add(index)
            self.log.prune(index)

    def results(self) -> dict[str, Any]:
        """``cv_results_`` of every candidate evaluated so far."""
        seen = {key: self.folds[key] for key in self.seen}
        return build_cv_results(
            self.candidates, seen, self.n_splits, self.job.scoring.names, self.job.return_train_score
        )

    def close(self) -> None:
        self.progress.finish()

    def check_failures(self) -> None:
        """Raise when every fit failed, warn (as scikit-learn does) when some did."""
        _warn_failures({key: self.folds[key] for key in self.seen})

    def _note_fallback(self, results: list[FoldResult]) -> None:
        """Count a group whose sharing failed; warn on the first of the search, record each in the run."""
        reason = next((result.fallback for result in results if result.fallback is not None), None)
        if reason is None:
            return
        self.fallbacks.append(reason)
        if len(self.fallbacks) == 1:
            warnings.warn(
                f"sharing family {reason}; its candidates were fitted one by one instead (same scores,"
                " slower); later fallbacks of this search are counted in n_fallbacks_",
                SharingFallbackWarning,
                stacklevel=4,
            )
        self.log.note("fallbacks", {"count": len(self.fallbacks), "first": self.fallbacks[0]})

    def _announce(self, total: int, done: int) -> None:
        if not self._started:
            self._started = True
            self.progress.start(total, done)
            return
        grow = getattr(self.progress, "grow", None)
        if grow is not None:
            grow(total, done)

    def _tally(self, result: FoldResult) -> None:
        self.seen.add((result.candidate, result.fold))
        count = self._n_seen[result.candidate] = self._n_seen.get(result.candidate, 0) + 1
        if count == self.n_splits:
            metric = self.job.scoring.refit_metric
            mean = float(np.mean([self.folds[result.candidate, f].test_scores[metric] for f in range(count)]))
            self.log.complete(result.candidate, mean)
            if math.isfinite(mean) and (self.best is None or mean > self.best):
                self.best = mean

    def _tasks(self, batch: _Batch, missing: set[tuple[int, int]]) -> list[tuple[_Batch, Group, int]]:
        """One task per (group of shareable candidates, fold) of ``missing`` in this batch."""
        wanted = {candidate for candidate, _ in missing}
        indices = [i for i in range(batch.start, batch.stop) if i in wanted]
        models = configure(self.job.estimator, [self.candidates[i] for i in indices])
        share = self.job.share and not self.job.fit_params  # per-sample fit params: every fit independent
        tasks = []
        for fold in range(self.n_splits):
            todo = [(i, m) for i, m in zip(indices, models, strict=True) if (i, fold) in missing]
            groups = plan([m for _, m in todo], share=share, indices=[i for i, _ in todo])
            tasks.extend((batch, group, fold) for group in groups)
        return tasks

    def _context(self, batch: _Batch, fold: int) -> FoldContext:
        train, test = batch.splits[fold]
        job = self.job
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
