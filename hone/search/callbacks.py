"""scikit-learn 1.9's fit callbacks (``set_callbacks(ProgressBar(), ...)``) told about a hone search.

A search reports the task tree GridSearchCV reports: the root ``fit`` task; a ``search`` task (halving:
one ``halving-iteration`` task per iteration under it) whose leaves are the ``candidate-split-evaluation``
tasks, numbered candidate by fold as scikit-learn numbers them; and ``refit-with-best-params``. Every
hook is called in the main process: a leaf's begin and end are reported when its fit comes back from
a worker (or from the store, on a resumed run), with that fold's training rows as ``X`` and ``y``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hone.search.engine import CandidateEvaluator, NoProgress, Params, Progress, Split
from hone.search.fitting import FoldResult, fit_params_for, take_rows

LEAF = "candidate-split-evaluation"


def _metadata(fit_params: dict[str, Any], rows: Any = None, n_samples: int = 0) -> dict[str, Any] | None:
    # Callbacks are given the sample weights (a leaf: its fold's rows of them), as sklearn gives them.
    if fit_params.get("sample_weight") is None:
        return None
    weights = {"sample_weight": fit_params["sample_weight"]}
    return weights if rows is None else fit_params_for(weights, rows, n_samples)


@dataclass
class _Task:
    """An open task; when its children are fits, candidates from ``first`` on are numbered from 0."""

    context: Any
    first: int
    leaves: bool


class SearchTasks:
    """The callback contexts of one ``fit`` of a search, from its root context (begun here)."""

    def __init__(self, search: Any, root: Any, X: Any, y: Any, fit_params: dict[str, Any]) -> None:
        self.search = search
        self.X, self.y = X, y
        self.fit_params = fit_params
        self.n_samples = len(y) if y is not None else (X.shape[0] if hasattr(X, "shape") else len(X))
        self.root = root
        self.root.call_on_fit_task_begin(estimator=search, X=X, y=y, metadata=_metadata(fit_params))
        self._open: list[_Task] = []
        self._implicit: _Task | None = None
        self._leaf_parent: _Task | None = None
        self._splits: Sequence[Split] = []
        self._reported: set[tuple[int, int]] = set()

    @contextmanager
    def task(self, name: str, max_subtasks: int | None, *, first: int, leaves: bool) -> Iterator[None]:
        """A task under the innermost open one; ``leaves``: its children are the fits of what follows."""
        parent = self._open[-1].context if self._open else self.root
        context = parent.subcontext(task_name=name, max_subtasks=max_subtasks, sequential_subtasks=not leaves)
        context.call_on_fit_task_begin(estimator=self.search)
        self._open.append(_Task(context, first, leaves))
        try:
            yield
        finally:
            self._open.pop()
            context.call_on_fit_task_end(estimator=self.search)

    def batch_begins(self, splits: Sequence[Split]) -> None:
        self._splits = splits
        if self._open and self._open[-1].leaves:
            self._leaf_parent = self._open[-1]
            return
        if self._implicit is None:
            # A strategy that opens no task: all its fits go under one "search" task of unknown size.
            context = self.root.subcontext(task_name="search", max_subtasks=None, sequential_subtasks=False)
            context.call_on_fit_task_begin(estimator=self.search)
            self._implicit = _Task(context, 0, True)
        self._leaf_parent = self._implicit

    def leaf(self, candidate: int, fold: int) -> None:
        """Begin and end of one fit's task, each (candidate, fold) once."""
        parent = self._leaf_parent
        if parent is None or (candidate, fold) in self._reported:
            return
        self._reported.add((candidate, fold))
        task_id = (candidate - parent.first) * len(self._splits) + fold
        context = parent.context.subcontext(task_name=LEAF, task_id=task_id)
        train = self._splits[fold][0]
        # Callables: only a callback that asks for X, y or metadata pays for cutting the fold's rows.
        rows = dict(
            X=lambda: take_rows(self.X, train),
            y=lambda: take_rows(self.y, train),
            metadata=lambda: _metadata(self.fit_params, train, self.n_samples),
        )
        context.call_on_fit_task_begin(estimator=self.search, **rows)
        context.call_on_fit_task_end(estimator=self.search, **rows)

    def batch_ends(self, candidates: Sequence[int], folds: Sequence[int] | None = None) -> None:
        # Fits read back from the store were not announced while the batch ran.
        for candidate in candidates:
            for fold in range(len(self._splits)) if folds is None else folds:
                self.leaf(candidate, fold)

    @contextmanager
    def refitting(self, model: Any) -> Iterator[None]:
        """Around the refit: auto-propagated callbacks reach the refit estimator, as in sklearn."""
        context = self.root.subcontext(task_name="refit-with-best-params")
        metadata = _metadata(self.fit_params)
        with context.propagate_callback_context(model):
            context.call_on_fit_task_begin(estimator=self.search, X=self.X, y=self.y, metadata=metadata)
            yield
        context.call_on_fit_task_end(estimator=self.search, X=self.X, y=self.y, metadata=metadata)

    def finish(self) -> None:
        if self._implicit is not None:
            self._implicit.context.call_on_fit_task_end(estimator=self.search)
        metadata = _metadata(self.fit_params)
        self.root.call_on_fit_task_end(estimator=self.search, X=self.X, y=self.y, metadata=metadata)

    def evaluator(self, evaluator: CandidateEvaluator) -> ReportingEvaluator:
        return ReportingEvaluator(evaluator, self)

    def progress(self, inner: Progress | None) -> Progress:
        return ReportingProgress(inner or NoProgress(), self)


class ReportingEvaluator:
    """``evaluate_candidates`` as strategies see it: the engine's call, with the callbacks told."""

    def __init__(self, evaluator: CandidateEvaluator, tasks: SearchTasks) -> None:
        self.evaluator = evaluator
        self.tasks = tasks

    def __getattr__(self, name: str) -> Any:
        # Everything else (job, candidates, folds, pruned, results, prune, ...) is the engine's own.
        return getattr(self.evaluator, name)

    def task(self, name: str, max_subtasks: int | None, *, leaves: bool = True) -> Any:
        """Open a callback task (``with evaluate_candidates.task("search", n_fits): ...``), as sklearn's
        ``_run_search`` opens subcontexts; ``leaves``: the fits of the batches inside are its children."""
        return self.tasks.task(name, max_subtasks, first=len(self.evaluator.candidates), leaves=leaves)

    def __call__(
        self,
        candidates: Sequence[Params],
        splits: Sequence[Split] | None = None,
        folds: Sequence[int] | None = None,
    ) -> dict[str, Any]:
        first = len(self.evaluator.candidates)
        self.tasks.batch_begins(list(splits) if splits is not None else list(self.job.splits))
        results = self.evaluator(candidates, splits, folds)
        self.tasks.batch_ends(range(first, first + len(candidates)), folds)
        return results

    def evaluate_folds(self, indices: Sequence[int], folds: Sequence[int] | None = None) -> dict[str, Any]:
        """The engine's ``evaluate_folds`` (a pruning strategy's second pass), its fits told as leaves."""
        results = self.evaluator.evaluate_folds(indices, folds)
        self.tasks.batch_ends(indices, folds)
        return results


class ReportingProgress:
    """The user's progress display, and each fit as it comes back reported to the callbacks."""

    def __init__(self, inner: Progress, tasks: SearchTasks) -> None:
        self.inner = inner
        self.tasks = tasks

    def start(self, total: int, done: int) -> None:
        self.inner.start(total, done)

    def advance(self, result: FoldResult, best: float | None) -> None:
        self.inner.advance(result, best)
        self.tasks.leaf(result.candidate, result.fold)

    def finish(self) -> None:
        self.inner.finish()

    def grow(self, total: int, done: int) -> None:
        grow = getattr(self.inner, "grow", None)
        if grow is not None:
            grow(total, done)
