"""Neighbour lists: k-NN candidates differing only in ``n_neighbors``/``weights`` share one query per fold.

Every member is fitted on its own (cheap: validation, plus a tree build for kd_tree/ball_tree), then
the fitted models are sub-grouped by the search method scikit-learn resolved (``_fit_method``: with
``algorithm="auto"`` it depends on ``n_neighbors``). Per sub-group, ONE ``kneighbors`` query with the
largest k (K) is made on the fold's test rows (and on its training rows for train scores). Each member
is then scored through scikit-learn's own ``predict``/``predict_proba``: its ``kneighbors`` is replaced
by a function that answers the cached query, sliced to the member's k, when called with the very
same X object (identity) and the member's own k, and calls the real method for anything else.

Why the slice is exact. Every search method (brute ``ArgKmin``, the chunked brute path, kd_tree,
ball_tree) computes the distance of each (query row, training row) pair in a way that does not depend
on k (chunking depends on the data's sizes and the thread count, not on k), keeps the k smallest and
returns them sorted, with distances a non-decreasing function of the values ranked. So if a row's
K-list has strictly increasing distances over positions 0..k (no tie inside the first k nor across
the boundary, ``d[k-1] < d[k]``), the k nearest are the first k of the K-list as a set, and their
order is forced: a k-query returns exactly those indices and distances. With a tie the k-query's
choice (or order, which changes floating point sums) follows its heap's history, which depends on k.
Such rows are therefore never answered from the slice:

* kd_tree/ball_tree answer every query row independently (one heap row per query row, a depth-first
  descent pruned by that row's own heap), so the tied rows alone are re-queried with the member's k
  and spliced in: exactly the rows a full k-query gives.
* brute force computes distances through chunked GEMMs whose blocking depends on the query's rows, so
  a sub-query cannot be proven identical: a member with any tied row answers that whole query with
  its own real ``kneighbors`` (what an independent fit does; made once, reused by its scorers).

k == K needs no check: it is the very query the member would make (indices do not depend on
``return_distance``). Methods that never call ``kneighbors`` (the classifier's uniform brute fast path)
simply compute their own answer, as sklearn does.

Times: a member's ``fit_time`` is its own fit's time. The shared test query's time is apportioned to
the ``score_time`` of the members answered from it, in proportion to their k (so they add up to the
query's wall time); a member's tie re-query is added to its own ``score_time``. As in scikit-learn,
the train-score query is not timed.

Anything raising in the shared path propagates: ``run_group`` then fits every member independently.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from hone.search.families.base import Member, Planner
from hone.search.fitting import (
    FoldContext,
    FoldData,
    FoldResult,
    fit_and_score,
    fit_model,
    score_fitted,
    take_rows,
)

NEIGHBORS = (KNeighborsRegressor, KNeighborsClassifier)
WEIGHTS = ("uniform", "distance")
TREES = ("kd_tree", "ball_tree")
WEIGHTS_AND_K = ("n_neighbors", "weights")


def first_ties(dist: np.ndarray) -> np.ndarray:
    """Per row, the first position j with ``dist[j] == dist[j + 1]`` (K - 1 pairs), or K when none."""
    n_rows, width = dist.shape
    ties = dist[:, :-1] == dist[:, 1:]
    return np.where(ties.any(axis=1), ties.argmax(axis=1), width) if width > 1 else np.full(n_rows, width)


def tied_rows(first_tie: np.ndarray, k: int, width: int) -> np.ndarray:
    """Rows whose first k neighbours of a ``width``-list may differ from a k-query's answer."""
    if k >= width:
        return np.empty(0, dtype=np.intp)
    return np.flatnonzero(first_tie < k)  # a tie among positions 0..k (pair k-1 is the boundary)


@dataclass
class SharedQuery:
    """One ``kneighbors(X, n_neighbors=K)`` answer, kept for the members of a sub-group."""

    X: Any
    dist: np.ndarray
    ind: np.ndarray
    seconds: float
    first_tie: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.first_tie = first_ties(self.dist)


@dataclass
class Answer:
    """A member's answer for one shared query: the first k columns, with its tied rows re-queried."""

    query: SharedQuery
    k: int
    rows: np.ndarray | None = None
    dist: np.ndarray | None = None
    ind: np.ndarray | None = None

    def get(self, return_distance: bool) -> Any:
        ind = np.ascontiguousarray(self.query.ind[:, : self.k])  # fresh copies: callers may write
        if self.rows is not None:
            ind[self.rows] = self.ind
        if not return_distance:
            return ind
        dist = np.ascontiguousarray(self.query.dist[:, : self.k])
        if self.rows is not None:
            dist[self.rows] = self.dist
        return dist, ind


def answer_from(model: Any, queries: list[Any], answers: list[Answer | None]) -> None:
    """Make the fitted ``model`` answer its k-queries on the shared X objects ``queries``.

    ``answers[i]`` answers ``queries[i]``; None (brute force with ties) means the model's own real
    query, made once and reused by the following calls (several scorers predict on the same X).
    """
    real = type(model).kneighbors
    k = model.n_neighbors
    own: dict[tuple[int, bool], Any] = {}

    def kneighbors(X: Any = None, n_neighbors: Any = None, return_distance: bool = True) -> Any:
        if X is not None and (n_neighbors is None or n_neighbors == k):
            for position, query in enumerate(queries):
                if X is not query:
                    continue
                if answers[position] is not None:
                    return answers[position].get(return_distance)
                memo = (position, bool(return_distance))
                if memo not in own:
                    own[memo] = real(model, X, k, return_distance)
                return _copied(own[memo])
        return real(model, X, n_neighbors, return_distance)

    model.kneighbors = kneighbors


def _copied(result: Any) -> Any:
    return tuple(a.copy() for a in result) if isinstance(result, tuple) else result.copy()


@dataclass
class Fitted:
    index: int
    model: Any
    fit_time: float
    score_time: float = 0.0  # shared-query share and tie re-queries, added to the scoring's own time
    answers: list[Answer | None] = field(default_factory=list)


class NeighborLists:
    name = "neighbors"

    def key(self, model: Any) -> Hashable | None:
        if type(model) not in NEIGHBORS:
            return None
        params = model.get_params(deep=False)
        if not (isinstance(params["weights"], str) and params["weights"] in WEIGHTS):
            return None
        rest = sorted((name, repr(value)) for name, value in params.items() if name not in WEIGHTS_AND_K)
        return type(model).__name__, tuple(rest)

    def units(self, model: Any, planner: Planner) -> float:
        return 1.0

    def cost(self, models: Sequence[Any], planner: Planner) -> float:
        # One query however many members (a larger k costs a little more), plus cheap per-member work.
        return float(len(models)) ** 0.5

    def run(
        self, members: Sequence[Member], data: FoldData, context: FoldContext, planner: Planner
    ) -> list[FoldResult]:
        results: dict[int, FoldResult] = {}
        by_method: dict[str, list[Fitted]] = {}
        for index, model in members:
            fitted = clone(model)
            try:
                fit_time = fit_model(fitted, data, context.fit_kwargs)
            except Exception:
                results[index] = fit_and_score(model, data, context, candidate=index)  # sklearn's outcome
                continue
            method = getattr(fitted, "_fit_method", None)
            k = fitted.n_neighbors
            shareable = (
                isinstance(method, str)
                and isinstance(k, Integral)
                and not isinstance(k, bool)
                and 0 < k <= getattr(fitted, "n_samples_fit_", 0)
            )
            if shareable:
                by_method.setdefault(method, []).append(Fitted(index, fitted, fit_time))
            else:  # its own fit, scored the ordinary way: what an independent fit gives
                results[index] = score_fitted(fitted, data, context, candidate=index, fit_time=fit_time)
        queries = [data.X_test] + ([data.X_train] if context.return_train_score else [])
        for method, group in by_method.items():
            _share(method, group, queries)
            for member in group:
                result = score_fitted(
                    member.model, data, context, candidate=member.index, fit_time=member.fit_time
                )
                result.score_time += member.score_time
                results[member.index] = result
        return [results[index] for index, _ in members]


def _share(method: str, group: list[Fitted], queries: list[Any]) -> None:
    """Query once per X with the group's largest k; give every member its exact answers."""
    biggest = max(group, key=lambda member: member.model.n_neighbors)
    width = int(biggest.model.n_neighbors)
    for position, X in enumerate(queries):
        start = time.perf_counter()
        dist, ind = biggest.model.kneighbors(X, n_neighbors=width)
        shared = SharedQuery(X, dist, ind, time.perf_counter() - start)
        users = []
        for member in group:
            k = int(member.model.n_neighbors)
            rows = tied_rows(shared.first_tie, k, width)
            if not len(rows):
                member.answers.append(Answer(shared, k))
                users.append(member)
            elif method in TREES:  # rows are answered independently: re-query just the tied ones
                start = time.perf_counter()
                sub_dist, sub_ind = member.model.kneighbors(take_rows(X, rows), n_neighbors=k)
                if position == 0:
                    member.score_time += time.perf_counter() - start
                member.answers.append(Answer(shared, k, rows, sub_dist, sub_ind))
                users.append(member)
            else:  # brute force with ties: the member's own real query answers this X
                member.answers.append(None)
        if position == 0 and users:
            total_k = sum(int(member.model.n_neighbors) for member in users)
            for member in users:
                member.score_time += shared.seconds * int(member.model.n_neighbors) / total_k
    for member in group:
        answer_from(member.model, queries, member.answers)
