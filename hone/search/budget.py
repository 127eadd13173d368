"""The best model within a time budget: one BudgetSearch per model, time shared by improvement speed.

Each model's search is a ``BudgetSearch`` (a BaseSearch driven through ``_run_search``, so every fit
is stored like grid/random). A search runs in *slices*: ``fit`` replays the proposer over what the
store already holds (nothing refitted) and then fits new batches until its slice of time is used.
``search_within_budget`` hands out the slices:

- every model first gets its cheap default (cheapest model first);
- then the next slice goes to the model with the lowest *estimated cost to beat the best score so
  far* (FLAML's ECI idea): for the leader, the time its last improvements took; for the others that
  plus the gap to the leader divided by their recent improvement speed. Unlike FLAML the choice is
  deterministic, the speed is measured over the last few batches (early fast gains do not keep a
  stalled model alive) and a model whose next batch would not finish before the deadline is skipped;
- at the deadline (budget minus the estimated refit time) a timer stops the fit in flight: every
  finished fold is already in the store; the interrupted candidate is completed by a later run;
- selection is honest (``honest_index``): scores are centred per fold and a candidate's mean advantage
  is reduced by one standard error of that advantage across folds, so a candidate that won through one
  lucky fold does not beat a steadily good one;
- the chosen candidate is refitted on all the training rows.

Rerunning with a larger budget replays every stored fit (``n_fits_reused_``) and continues.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hone.errors import SearchError
from hone.search.builtin_spaces import ModelSpace
from hone.search.engine import CandidateEvaluator, Progress
from hone.search.estimators import BaseSearch
from hone.search.proposer import LocalSearch

Params = dict[str, Any]


class BudgetExhausted(BaseException):  # noqa: N818 - a stop, not an error
    """Raised by the deadline timer inside a fit in flight; a BaseException (like KeyboardInterrupt) so
    the fitting code's ``except Exception`` never stores it as a failed fit."""


@dataclass
class BatchRecord:
    """One batch of a model's search: its cost in core-seconds / workers, and the best score after it."""

    seconds: float
    best: float
    new: bool
    fold_seconds: float = 0.0  # the slowest candidate's mean fit time per fold (for the refit estimate)


class BudgetSearch(BaseSearch):
    """One model's search in a built-in space by a proposer, fitting new batches until ``slice_seconds``
    of new work is done or the next batch would end after ``deadline`` (a ``time.monotonic()`` value)."""

    def __init__(
        self,
        estimator: Any,
        space: ModelSpace,
        *,
        seed: int = 0,
        slice_seconds: float | None = None,
        deadline: float | None = None,
        workers: int = 1,
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
        self.space = space
        self.seed = seed
        self.slice_seconds = slice_seconds
        self.deadline = deadline
        self.workers = workers

    def _space_fingerprint(self) -> Any:
        return {"space": self.space.describe(), "seed": self.seed, "proposer": "local-search-1"}

    def _strategy(self) -> str:
        return "budget"

    def _run_search(self, evaluate_candidates: CandidateEvaluator) -> None:
        proposer = LocalSearch(self.space, self.seed)
        self.history_: list[BatchRecord] = []
        new_seconds = 0.0
        best = -math.inf
        while True:
            batch = proposer.ask()
            if not batch:
                self.exhausted_ = True
                return
            start = len(evaluate_candidates.candidates)
            stored = all(
                (start + i, fold) in evaluate_candidates.folds
                for i in range(len(batch))
                for fold in range(evaluate_candidates.n_splits)
            )
            if not stored and not self._may_fit(new_seconds):
                return
            began = time.monotonic()
            results = evaluate_candidates(batch)
            if not stored:
                new_seconds += time.monotonic() - began
            metric = evaluate_candidates.job.scoring.refit_metric
            scores = [float(s) for s in results[f"mean_test_{metric}"][start:]]
            proposer.tell(scores)
            best = max([best, *(s for s in scores if math.isfinite(s))])
            seconds = _batch_seconds(results, start, evaluate_candidates.n_splits, self.workers)
            fold_seconds = float(np.nanmax(results["mean_fit_time"][start:]))
            self.history_.append(BatchRecord(seconds, best, not stored, fold_seconds))

    def _may_fit(self, new_seconds: float) -> bool:
        if self.slice_seconds is not None and new_seconds >= self.slice_seconds:
            return False
        if self.deadline is None:
            return True
        last = next((r.seconds for r in reversed(self.history_)), 0.0)
        return time.monotonic() + last <= self.deadline

    def _finish(self, job: Any, evaluation: CandidateEvaluator) -> None:
        super()._finish(job, evaluation)
        if self.refit is True and not self.multimetric_:
            metric = self.refit_metric_
            self.best_index_ = honest_index(self.cv_results_, metric, self.n_splits_)
            self.best_score_ = float(self.cv_results_[f"mean_test_{metric}"][self.best_index_])
            self.best_params_ = self.cv_results_["params"][self.best_index_]


def _batch_seconds(results: dict[str, Any], start: int, n_splits: int, workers: int) -> float:
    # Recorded times, not the wall clock: the same on a replay as when the batch was first fitted.
    per_fold = np.asarray(results["mean_fit_time"][start:]) + np.asarray(results["mean_score_time"][start:])
    return float(np.nansum(per_fold) * n_splits / max(workers, 1))


def fold_scores(results: dict[str, Any], metric: str, n_splits: int) -> np.ndarray:
    """Candidates × folds test scores (NaN where a fit failed or is missing)."""
    return np.column_stack(
        [np.asarray(results[f"split{k}_test_{metric}"], dtype=float) for k in range(n_splits)]
    )


def honest_scores(scores: np.ndarray) -> np.ndarray:
    """Each candidate's selection score: the mean of its fold scores centred on each fold's median
    over all candidates, minus one standard error of those centred scores (NaN if a fold is missing)."""
    complete = np.isfinite(scores).all(axis=1)
    if not complete.any():
        return np.full(len(scores), np.nan)
    centred = scores - np.median(scores[complete], axis=0)
    k = scores.shape[1]
    spread = centred.std(axis=1, ddof=1) / math.sqrt(k) if k > 1 else np.zeros(len(scores))
    honest = centred.mean(axis=1) - spread
    return np.where(complete, honest, np.nan)


def honest_index(results: dict[str, Any], metric: str, n_splits: int) -> int:
    honest = honest_scores(fold_scores(results, metric, n_splits))
    if not np.isfinite(honest).any():
        raise SearchError("no candidate was evaluated on every fold")
    return int(np.nanargmax(honest))


# --- the allocator ---------------------------------------------------------------------------------


@dataclass
class BudgetModel:
    """One model of the shortlist as the allocator sees it."""

    name: str
    estimator: Any
    space: ModelSpace
    X: Any
    study: str
    history: list[BatchRecord] = field(default_factory=list)
    search: BudgetSearch | None = None
    exhausted: bool = False
    failure: str | None = None  # why the model was dropped (every fit failed)

    @property
    def best(self) -> float:
        return max((r.best for r in self.history), default=-math.inf)

    @property
    def spent(self) -> float:
        return sum(r.seconds for r in self.history)

    @property
    def next_cost(self) -> float:
        return self.history[-1].seconds if self.history else 0.0


def estimated_cost_to_improve(model: BudgetModel, leader: float, window: int = 4) -> float:
    """Seconds ``model`` is expected to need to beat ``leader`` (its own best if it leads)."""
    history = model.history
    if not history:
        return 0.0
    times = np.cumsum([r.seconds for r in history])
    bests = [r.best for r in history]
    improvements = [i for i in range(1, len(bests)) if bests[i] > bests[i - 1]]
    since_last = times[-1] - (times[improvements[-1]] if improvements else times[0])
    between = times[improvements[-1]] - times[improvements[-2]] if len(improvements) >= 2 else times[0]
    own = max(since_last, between, model.next_cost)
    gap = leader - bests[-1]
    if gap <= 0:
        return float(own)
    recent = max(0, len(history) - window)
    gained = bests[-1] - bests[recent]
    took = times[-1] - (times[recent - 1] if recent > 0 else 0.0)
    speed = gained / took if took > 0 and math.isfinite(gained) else 0.0
    return float(own + (gap / speed if speed > 0 else math.inf))


def choose(models: Sequence[BudgetModel], remaining: float) -> BudgetModel | None:
    """The model to get the next slice: untried ones first (cheapest-looking first), then by ECI."""
    live = [m for m in models if not m.exhausted]
    fresh = [m for m in live if not m.history]
    if fresh:
        return fresh[0]
    feasible = [m for m in live if m.next_cost <= remaining]
    if not feasible:
        return None
    leader = max(m.best for m in models)
    costs = [(estimated_cost_to_improve(m, leader), m.spent, i) for i, m in enumerate(feasible)]
    finite = [c for c in costs if math.isfinite(c[0])]
    if finite:
        return feasible[min(finite)[2]]
    return feasible[min(costs, key=lambda c: c[1])[2]]  # nobody improves: the least-tried one


@contextlib.contextmanager
def hard_stop(deadline: float) -> Iterator[None]:
    """Raise BudgetExhausted in the main thread at ``deadline`` (POSIX timers; elsewhere: no hard stop)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def ring(signum: int, frame: Any) -> None:
        raise BudgetExhausted

    previous = signal.signal(signal.SIGALRM, ring)
    # It rings again every 0.2 s: an exception raised where Python ignores it (a weakref callback) is lost.
    signal.setitimer(signal.ITIMER_REAL, max(deadline - time.monotonic(), 1e-3), 0.2)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


SearchFactory = Callable[[BudgetModel, dict[str, Any]], BudgetSearch]


@dataclass
class BudgetResult:
    models: list[BudgetModel]
    searches: dict[str, BudgetSearch]
    chosen: str
    search_seconds: float
    total_seconds: float
    stopped_in_fit: bool


def search_within_budget(
    models: Sequence[BudgetModel],
    y: Any,
    budget: float,
    make_search: SearchFactory,
    report: Callable[[Sequence[BudgetModel], float, float], None] | None = None,
) -> BudgetResult:
    """Share ``budget`` seconds (refit included) among ``models``; return each model's final search.

    ``make_search(model, overrides)`` builds the model's BudgetSearch with ``overrides`` (slice,
    deadline, refit) on top of the project's settings.
    """
    started = time.monotonic()
    end = started + budget
    stopped = False
    while True:
        reserve = _refit_reserve(models)
        deadline = end - reserve
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        model = choose(models, remaining)
        if model is None:
            break
        # Short slices while the picture is unclear, longer ones later (fewer replays of the store).
        slice_seconds = max(1.0, 0.1 * (time.monotonic() - started))
        search = make_search(model, {"slice_seconds": slice_seconds, "deadline": deadline, "refit": False})
        try:
            with hard_stop(deadline):
                search.fit(model.X, y)
        except BudgetExhausted:
            stopped = True
        except SearchError as error:  # every fit of this model failed: drop it, go on with the others
            model.exhausted, model.failure = True, error.message
            continue
        model.history = list(getattr(search, "history_", model.history))
        model.exhausted = bool(getattr(search, "exhausted_", False))
        if model.history and not math.isfinite(model.best):  # e.g. a scorer the model cannot serve
            model.exhausted, model.failure = True, "no candidate got a finite score"
        if report is not None:
            report(models, time.monotonic() - started, budget)
        if stopped:
            break
    search_seconds = time.monotonic() - started
    tried = [m for m in models if m.history and m.failure is None]
    if not tried:
        raise SearchError(f"the budget of {budget:g} s ended before any model finished a fit")
    searches = {}
    for model in tried:  # replay only: the summaries, no new fit
        searches[model.name] = make_search(model, {"slice_seconds": 0.0, "deadline": None, "refit": False})
        searches[model.name].fit(model.X, y)
    chosen = _choose_model(searches)
    best = make_search(next(m for m in tried if m.name == chosen), {"slice_seconds": 0.0, "deadline": None})
    best.fit(next(m for m in tried if m.name == chosen).X, y)
    searches[chosen] = best
    return BudgetResult(list(models), searches, chosen, search_seconds, time.monotonic() - started, stopped)


def _refit_reserve(models: Sequence[BudgetModel]) -> float:
    # The refit fits the best candidate once on all rows: about one fold's fit on 5/4 of the rows
    # (k/(k-1) for k folds), with room for a slower machine.
    best = max((m for m in models if m.history), key=lambda m: m.best, default=None)
    if best is None:
        return 1.0
    return 1.0 + 1.5 * max(r.fold_seconds for r in best.history)


def _choose_model(searches: dict[str, BudgetSearch]) -> str:
    """The model whose honestly chosen candidate scores best, scored over the same folds together."""
    names = list(searches)
    rows, owners = [], []
    for name in names:
        search = searches[name]
        scores = fold_scores(search.cv_results_, search.refit_metric_, search.n_splits_)
        rows.append(scores)
        owners += [name] * len(scores)
    honest = honest_scores(np.vstack(rows))
    if not np.isfinite(honest).any():
        raise SearchError("no candidate of any model was evaluated on every fold")
    return owners[int(np.nanargmax(honest))]
