"""Boosting stages: candidates differing only in the number of stages share one fit of the longest run.

Gradient boosting fits its stages one after the other, and stage i depends only on stages 0..i-1
and on the random draws made so far; nothing in the loop looks at the total number of stages. So
the first k stages of a K-stage fit *are* the stages of a k-stage fit with the same parameters, and
a k-stage *view* of the big model (its fitted stages sliced, everything else shared) predicts
through scikit-learn's own predict / predict_proba / decision_function, giving an independent
k-stage fit's scores. Checked against scikit-learn 1.9's source:

* ``GradientBoostingRegressor`` / ``GradientBoostingClassifier``: the init estimator is fitted
  before any stage; each stage draws its subsample mask and its trees' split randomness from one
  ``RandomState`` created from ``random_state`` at the start of the fit, in stage order. Prediction
  (``_raw_predict``) reads ``init_``, ``_loss``, ``learning_rate`` and the ``estimators_`` array
  (rows = stages), adding the stages in order, so a sliced ``estimators_`` sums the same numbers in
  the same order. The view also gets ``n_estimators``, ``n_estimators_``, ``train_score_`` and the
  ``oob_*`` attributes of a k-stage fit.
* ``HistGradientBoostingRegressor`` / ``HistGradientBoostingClassifier``: ``random_state`` is turned
  into two seeds at the start (binning subsample, feature subsampling); the feature-subsampling
  generator (``max_features``) is consumed tree by tree in order; prediction reads
  ``_baseline_prediction``, ``_bin_mapper`` and the ``_predictors`` list (``n_iter_`` is its length).
  The view slices ``_predictors`` and sets ``max_iter``.

It is not exact, so such models are not shared (key None), when the fit depends on the number of
stages or consumes shared state: early stopping (``n_iter_no_change`` set for GradientBoosting;
``early_stopping=True`` for HistGradientBoosting, and ``"auto"`` when the fold has more than 10,000
training rows -- checked at run time, falling back to independent fits), ``warm_start=True``, and a
``random_state`` that is not an int (None draws afresh per fit: candidates are independent). A
stage count that is not a positive integer is left to an independent fit, so it fails exactly as
scikit-learn's does. If the shared fit stops short of
the largest member's stages, the group falls back to independent fits.

fit_time of a member is the shared fit's time scaled by its share of the stages (k / K): what its
own fit would have taken; the members' fit times therefore add up to more than the wall time spent.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Sequence
from numbers import Integral
from typing import Any

import joblib
from sklearn.base import clone
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)

from hone.search.families.base import Member, Planner, fit_each, fixed_seed
from hone.search.fitting import FoldContext, FoldData, FoldResult, fit_model, score_fitted

GRADIENT_BOOSTING = (GradientBoostingRegressor, GradientBoostingClassifier)
HIST_GRADIENT_BOOSTING = (HistGradientBoostingRegressor, HistGradientBoostingClassifier)

# HistGradientBoosting's early_stopping="auto" turns early stopping on above this many rows.
AUTO_EARLY_STOPPING_ROWS = 10_000


def stages_param(model: Any) -> str:
    return "max_iter" if type(model) in HIST_GRADIENT_BOOSTING else "n_estimators"


def stages_of(model: Any) -> int:
    return getattr(model, stages_param(model))


def stage_view(model: Any, n_stages: int) -> Any:
    """The fitted model restricted to its first ``n_stages`` stages (shares them, copies nothing big)."""
    view = copy.copy(model)
    if type(model) in HIST_GRADIENT_BOOSTING:
        view._predictors = model._predictors[:n_stages]
        view.max_iter = n_stages
        return view
    view.estimators_ = model.estimators_[:n_stages]
    view.n_estimators = n_stages
    view.n_estimators_ = n_stages
    view.train_score_ = model.train_score_[:n_stages]
    if hasattr(model, "oob_scores_"):
        view.oob_improvement_ = model.oob_improvement_[:n_stages]
        view.oob_scores_ = model.oob_scores_[:n_stages]
        view.oob_score_ = view.oob_scores_[-1]
    return view


def _fitted_stages(model: Any) -> int:
    if type(model) in HIST_GRADIENT_BOOSTING:
        return len(model._predictors)
    return int(model.n_estimators_)


def _n_rows(X: Any) -> int:
    return int(X.shape[0]) if hasattr(X, "shape") else len(X)


def _auto_early_stopping(model: Any) -> bool:
    early = model.get_params(deep=False).get("early_stopping")
    return isinstance(early, str) and early == "auto"


class BoostingStages:
    name = "boosting"

    def key(self, model: Any) -> Hashable | None:
        kind = type(model)
        if kind not in GRADIENT_BOOSTING and kind not in HIST_GRADIENT_BOOSTING:
            return None
        params = model.get_params(deep=False)
        stages = params.pop(stages_param(model))
        if isinstance(stages, bool) or not isinstance(stages, Integral) or stages < 1:
            return None  # an invalid count fails its own fit, as in scikit-learn
        random_state = params["random_state"]
        if params["warm_start"] is not False or not fixed_seed(random_state):
            return None  # None or a RandomState: independent draws per fit, not prefixes of each other
        if kind in GRADIENT_BOOSTING:
            if params["n_iter_no_change"] is not None:
                return None  # early stopping: where the fit stops depends on n_estimators
        else:
            early = params["early_stopping"]
            if not (early is False or (isinstance(early, str) and early == "auto")):
                return None
        try:
            digest = joblib.hash(sorted(params.items()))
        except Exception:  # an unpicklable parameter: cannot tell configurations apart safely
            return None
        return kind.__name__, digest

    def units(self, model: Any, planner: Planner) -> float:
        return float(stages_of(model))

    def cost(self, models: Sequence[Any], planner: Planner) -> float:
        return max(stages_of(m) for m in models) / 10.0

    def run(
        self, members: Sequence[Member], data: FoldData, context: FoldContext, planner: Planner
    ) -> list[FoldResult]:
        _, largest = max(members, key=lambda member: stages_of(member[1]))
        if context.fit_kwargs or (
            _auto_early_stopping(largest) and _n_rows(data.X_train) > AUTO_EARLY_STOPPING_ROWS
        ):
            return fit_each(members, data, context)
        model = clone(largest)
        fit_time = fit_model(model, data, {})
        total = stages_of(largest)
        if _fitted_stages(model) != total:
            raise RuntimeError("the shared boosting fit stopped early; fitting the members independently")
        return [
            score_fitted(
                stage_view(model, stages_of(member)),
                data,
                context,
                candidate=index,
                fit_time=fit_time * stages_of(member) / total,
            )
            for index, member in members
        ]
