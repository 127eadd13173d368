"""Forest prefixes: candidates differing only in ``n_estimators`` share one fit of the largest forest.

Tree i of a forest gets the i-th seed drawn from ``random_state``, whatever ``n_estimators`` is, so
the first k trees of a K-tree forest are the trees of a k-tree forest with the same parameters (with an
int ``random_state`` only: with None scikit-learn's candidates draw independently, so they fit alone). A
k-tree *view* of the big forest (same trees, sliced) predicts through scikit-learn's own code, so
its scores are an independent k-tree fit's scores.

Scoring shares work too: each tree predicts the fold's rows once, and the outputs are summed in tree
order, so the running sum after k trees divided by k is, bit for bit, what scikit-learn's k-tree
``predict`` / ``predict_proba`` computes (zeros, then one in-place addition per tree, then one
division). The views answer ``predict`` / ``predict_proba`` for those very rows from that sum.

fit_time of a member is the shared fit's time scaled by its share of the trees (k / K): what its own
fit would have taken; the members' fit times therefore add up to more than the wall time spent.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, clone
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.utils import check_array

from hone.search.families.base import Member, Planner, fixed_seed
from hone.search.fitting import FoldContext, FoldData, FoldResult, fit_model, score_fitted

FORESTS = (RandomForestRegressor, RandomForestClassifier, ExtraTreesRegressor, ExtraTreesClassifier)


def prefix_view(forest: Any, n_trees: int) -> Any:
    """The fitted forest restricted to its first ``n_trees`` trees (shares them, copies nothing big)."""
    view = copy.copy(forest)
    view.estimators_ = forest.estimators_[:n_trees]
    view.n_estimators = n_trees
    return view


def prefix_outputs(forest: Any, X: Any, sizes: set[int]) -> dict[int, np.ndarray]:
    """What a forest of each size in ``sizes`` outputs on X (mean prediction, or mean class probabilities),
    from one pass of every tree, accumulated in scikit-learn's order and arithmetic."""
    classifier = isinstance(forest, ClassifierMixin)
    X32 = check_array(X, dtype=np.float32, accept_sparse="csr")
    shape = (X32.shape[0], forest.n_classes_) if classifier else (X32.shape[0],)
    running = np.zeros(shape, dtype=np.float64)
    outputs = {}
    for count, tree in enumerate(forest.estimators_[: max(sizes)], start=1):
        running += tree.predict_proba(X32) if classifier else tree.predict(X32)
        if count in sizes:
            outputs[count] = running / count
    return outputs


def _answering(view: Any, answers: list[tuple[Any, np.ndarray]]) -> Any:
    """Let ``view`` answer predictions for the exact row sets in ``answers`` from precomputed outputs."""
    method = "predict_proba" if isinstance(view, ClassifierMixin) else "predict"
    computed = getattr(view, method)

    @functools.wraps(computed)  # scorers find the response method by its name
    def answer(X: Any) -> np.ndarray:
        for rows, output in answers:
            if X is rows:
                return output.copy()  # callers may modify what they get, as they may sklearn's
        return computed(X)

    setattr(view, method, answer)  # the class's predict() calls self.predict_proba(): this one
    return view


def _feature_weight(max_features: Any) -> float:
    # Split search costs about max_features per node: a rough weight for scheduling only.
    if isinstance(max_features, Integral):
        return float(max_features)
    if isinstance(max_features, Real):
        return 10.0 * float(max_features)
    return {"sqrt": 4.0, "log2": 4.0}.get(max_features, 10.0)


class ForestPrefix:
    name = "forest"

    def key(self, model: Any) -> Hashable | None:
        if type(model) not in FORESTS:
            return None
        params = model.get_params(deep=False)
        if params["warm_start"] or not fixed_seed(params["random_state"]):
            return None  # None or a RandomState: independent draws per fit, not prefixes of each other
        rest = sorted((name, repr(value)) for name, value in params.items() if name != "n_estimators")
        return type(model).__name__, tuple(rest)

    def units(self, model: Any, planner: Planner) -> float:
        return float(model.n_estimators)

    def cost(self, models: Sequence[Any], planner: Planner) -> float:
        biggest = max(models, key=lambda m: m.n_estimators)
        bootstrap = 1.0 if biggest.get_params().get("bootstrap", True) else 1.6
        return biggest.n_estimators * _feature_weight(biggest.max_features) * bootstrap / 10.0

    def run(
        self, members: Sequence[Member], data: FoldData, context: FoldContext, planner: Planner
    ) -> list[FoldResult]:
        _, largest = max(members, key=lambda member: member[1].n_estimators)
        forest = clone(largest)
        fit_time = fit_model(forest, data, {})
        total = forest.n_estimators
        sizes = {model.n_estimators for _, model in members}
        # Every tree predicts the fold's rows once; the views answer from the running sums.
        rows = [data.X_test, data.X_train] if context.return_train_score else [data.X_test]
        outputs = [prefix_outputs(forest, X, sizes) for X in rows] if forest.n_outputs_ == 1 else []
        return [
            score_fitted(
                _answering(
                    prefix_view(forest, model.n_estimators),
                    [(X, by_size[model.n_estimators]) for X, by_size in zip(rows, outputs, strict=False)],
                ),
                data,
                context,
                candidate=index,
                fit_time=fit_time * model.n_estimators / total,
            )
            for index, model in members
        ]


@contextmanager
def refit_threads(model: Any, n_jobs: int | None) -> Iterator[None]:
    """Let a forest (or a pipeline ending in one) build its trees on ``n_jobs`` threads for the refit.

    Each tree's seed is drawn before the trees are built, so the trees do not depend on how many
    threads build them: the refit is the same forest, sooner (it otherwise runs on one core while the
    others idle). The forest's own ``n_jobs`` is restored afterwards, so its params stay as given.
    """
    forest = model.steps[-1][1] if hasattr(model, "steps") else model
    if n_jobs in (None, 1) or not isinstance(forest, FORESTS) or forest.n_jobs not in (None, 1):
        yield
        return
    before = forest.n_jobs
    forest.n_jobs = n_jobs
    try:
        yield
    finally:
        forest.n_jobs = before
