"""Shared preparation: Pipeline candidates that differ only in their last step share its earlier steps.

Candidates of a ``Pipeline`` whose earlier steps (names and configuration) are the same -- a grid
over ``<last step>__...`` parameters, or over the last step itself -- fit those steps once per fold
instead of once per candidate. The earlier steps are fitted by scikit-learn's own code: a Pipeline
holding clones of them and ``"passthrough"`` as its last step runs ``fit_transform`` on the fold's
training rows (``Pipeline._fit``: each transformer's ``fit_transform(Xt, y)``, in order, exactly as
``Pipeline.fit`` does before fitting its last step), which gives the matrix the last step is fitted
on; ``transform`` of the test rows (and, for train scores, of the training rows) gives what a fitted
Pipeline's ``predict`` / ``predict_proba`` / ``decision_function`` / ``score`` hand to their last
step. The final estimators are then planned again (``plan``/``run_group``), so a last step that is
itself shareable (a forest over ``n_estimators``, boosting stages, ...) shares its fits too.

Scoring -- why it is exact. Two ways, chosen per fold:

* *direct* (the fast, nested path): every scorer is one of scikit-learn's own ``_Scorer`` (any
  scoring name, or ``make_scorer``) or ``_PassthroughScorer`` (``scoring=None``), and metadata
  routing is off. Those only ask the estimator for ``is_classifier`` / ``is_regressor``, ``classes_``
  and the presence of a response method, which a Pipeline delegates to its last step, and then call
  ``predict`` / ``predict_proba`` / ``decision_function`` / ``score``, which a Pipeline computes as
  the last step's method on the transformed rows. So scoring the final estimator on the transformed
  rows computes the same numbers. With train scores, this path also needs the training matrix the
  last step was fitted on (``fit_transform``'s output) to be identical -- type, dtype, shape, memory
  order and values -- to ``transform`` of the training rows (which is what scoring the train rows of
  a Pipeline sees); otherwise, e.g. with a cross-fitting ``TargetEncoder``, the fold takes the
  other path.
* *through a real Pipeline* (any other scorer, such as a user's callable that may look inside the
  estimator): each member's last step is fitted on the shared training matrix and put into a fitted
  ``Pipeline`` (the member's own parameters, the shared fitted earlier steps), which is scored on the
  untransformed rows like any fitted candidate. The earlier steps are still shared; the last steps
  are not.

Anything unusual is left to independent fits: ``key`` is None for a Pipeline with ``memory`` or
``transform_input`` set, fewer than two steps, a None/"passthrough" step, a last step without
``fit``, or an earlier step with ``random_state=None`` (each fit draws afresh: not shareable); a
fold with per-sample fit params runs every member independently; and if the shared preparation fails
(a fit error, or an unseen category in the test rows) the exception makes ``run_group`` fit the
members one by one, so each gets exactly scikit-learn's outcome (and the search warns once).

fit_time of a member is its last step's fit time plus an equal share of the earlier steps' fit
time; score_time adds an equal share of transforming the test rows (direct path). The members' times
therefore add up to the wall time spent, not to what independent fits would have taken.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Hashable, Sequence
from typing import Any

import joblib
import numpy as np
from scipy import sparse
from sklearn.base import clone
from sklearn.metrics._scorer import _PassthroughScorer, _Scorer
from sklearn.pipeline import Pipeline
from sklearn.utils.metadata_routing import _routing_enabled

from hone.search.families.base import Member, Planner, fit_each
from hone.search.fitting import FoldContext, FoldData, FoldResult, failed_result, fit_model, score_fitted

_DIRECT_SCORERS = (_Scorer, _PassthroughScorer)


def _is_passthrough(step: Any) -> bool:
    return step is None or (isinstance(step, str) and step == "passthrough")


def _draws_afresh(step: Any) -> bool:
    """A step (or a step inside it) with ``random_state=None``: each scikit-learn fit draws its own
    numbers, so one shared fit would tie candidates together that scikit-learn keeps independent."""
    if not hasattr(step, "get_params"):
        return False
    return any(
        (name == "random_state" or name.endswith("__random_state")) and value is None
        for name, value in step.get_params(deep=True).items()
    )


def final_step(model: Pipeline) -> Any:
    return model.steps[-1][1]


class SharedPreparation:
    name = "pipeline"

    def key(self, model: Any) -> Hashable | None:
        if type(model) is not Pipeline:
            return None
        params = model.get_params(deep=False)
        if params.get("memory") is not None or params.get("transform_input") is not None:
            return None
        steps = params["steps"]
        if not isinstance(steps, list) or len(steps) < 2:
            return None
        if not all(isinstance(step, tuple) and len(step) == 2 and isinstance(step[0], str) for step in steps):
            return None
        if any(_is_passthrough(step) for _, step in steps):
            return None
        last_name, last = steps[-1]
        if isinstance(last, str) or not hasattr(last, "fit"):
            return None
        if any(_draws_afresh(step) for _, step in steps[:-1]):
            return None
        pipeline_params = sorted((name, value) for name, value in params.items() if name != "steps")
        try:
            earlier = [(name, clone(step)) for name, step in steps[:-1]]
            return "Pipeline", joblib.hash((earlier, last_name, pipeline_params))
        except Exception:  # not clonable or not picklable: cannot tell configurations apart safely
            return None

    def units(self, model: Any, planner: Planner) -> float:
        return planner.units_of(final_step(model))

    def cost(self, models: Sequence[Any], planner: Planner) -> float:
        finals = [final_step(m) for m in models]
        return 1.0 + sum(group.cost for group in planner.plan(finals, share=True))

    def run(
        self, members: Sequence[Member], data: FoldData, context: FoldContext, planner: Planner
    ) -> list[FoldResult]:
        if context.fit_kwargs:
            return fit_each(members, data, context)
        template = members[0][1]
        preparation = Pipeline(
            [
                *((name, clone(step)) for name, step in template.steps[:-1]),
                (template.steps[-1][0], "passthrough"),
            ],
            memory=template.memory,
            verbose=template.verbose,
        )
        start = time.perf_counter()
        if data.y_train is None:
            Xt_fit = preparation.fit_transform(data.X_train)
        else:
            Xt_fit = preparation.fit_transform(data.X_train, data.y_train)
        prep_time = time.perf_counter() - start
        n = len(members)

        direct = not _routing_enabled() and all(
            type(scorer) in _DIRECT_SCORERS for scorer in context.scorers.values()
        )
        if direct and context.return_train_score:
            direct = same_matrix(Xt_fit, preparation.transform(data.X_train))
        if not direct:
            return [
                self._through_pipeline(index, model, preparation, Xt_fit, data, context, prep_time / n)
                for index, model in members
            ]

        start = time.perf_counter()
        Xt_test = preparation.transform(data.X_test)
        transform_time = time.perf_counter() - start
        inner = FoldData(Xt_fit, data.y_train, Xt_test, data.y_test)
        finals = [final_step(model) for _, model in members]
        results: list[FoldResult] = []
        for group in planner.plan(finals, share=True, indices=[index for index, _ in members]):
            results.extend(planner.run_group(group.family, group.members, inner, context))
        for result in results:
            result.fit_time += prep_time / n
            result.score_time += transform_time / n
        order = {index: position for position, (index, _) in enumerate(members)}
        return sorted(results, key=lambda result: order[result.candidate])

    @staticmethod
    def _through_pipeline(
        index: int,
        model: Pipeline,
        preparation: Pipeline,
        Xt_fit: Any,
        data: FoldData,
        context: FoldContext,
        prep_share: float,
    ) -> FoldResult:
        """Fit the member's last step on the shared matrix and score a real fitted Pipeline."""
        last_name, last = model.steps[-1]
        final = clone(last)
        start = time.perf_counter()
        try:
            fit_time = fit_model(final, FoldData(Xt_fit, data.y_train, None, None), {})
        except Exception as error:
            if context.error_score == "raise":
                raise
            return failed_result(index, context, error, prep_share + time.perf_counter() - start)
        fitted = copy.copy(model)
        fitted.steps = [*preparation.steps[:-1], (last_name, final)]
        return score_fitted(fitted, data, context, candidate=index, fit_time=prep_share + fit_time)


def same_matrix(a: Any, b: Any) -> bool:
    """Whether two transformed matrices are the same to the bit (so scoring either gives the same)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return (
            a.dtype == b.dtype
            and a.shape == b.shape
            and a.flags.c_contiguous == b.flags.c_contiguous
            and a.flags.f_contiguous == b.flags.f_contiguous
            and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
        )
    if sparse.issparse(a):
        return (
            a.format == b.format
            and a.dtype == b.dtype
            and a.shape == b.shape
            and a.format in ("csr", "csc")
            and all(
                np.array_equal(getattr(a, part), getattr(b, part)) for part in ("data", "indices", "indptr")
            )
        )
    if hasattr(a, "equals") and hasattr(a, "dtypes"):  # a pandas DataFrame
        return bool(
            a.shape == b.shape
            and a.columns.equals(b.columns)
            and a.index.equals(b.index)
            and (a.dtypes == b.dtypes).all()
            and a.equals(b)
        )
    return False
