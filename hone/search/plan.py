"""The planner: candidates whose fits can be shared (per fold) are grouped, everything else fits alone.

A *family* recognises estimators it can share work between (forest prefixes, boosting stages,
neighbour lists, a pipeline's preparation) and runs one group on one fold, returning one FoldResult
per member that equals what an independent fit would have scored. Families live in
``hone.search.families``; the engine only sees groups and their cost.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from sklearn.base import clone

from hone.search.families import FAMILIES
from hone.search.families.base import Family, Group, Member, Planner, fit_each
from hone.search.fitting import FoldContext, FoldData, FoldResult


class SharingFallbackWarning(UserWarning):
    """A sharing family failed on a fold and its members were fitted one by one: same scores, slower."""


class Independent:
    """The fallback: every candidate fitted on its own, exactly as scikit-learn does."""

    name = "independent"

    def key(self, model: Any) -> Hashable | None:
        return None

    def cost(self, models: Sequence[Any], planner: Planner) -> float:
        return float(sum(planner.units_of(m) for m in models))

    def units(self, model: Any, planner: Planner) -> float:
        return 1.0

    def run(
        self, members: Sequence[Member], data: FoldData, context: FoldContext, planner: Planner
    ) -> list[FoldResult]:
        return fit_each(members, data, context)


INDEPENDENT = Independent()


def family_named(name: str) -> Family:
    if name == INDEPENDENT.name:
        return INDEPENDENT
    return next(f for f in FAMILIES if f.name == name)


def units_of(model: Any) -> float:
    """Trees of an ensemble, 1 for anything else: how sklearn's fits are counted in the lower bound."""
    # Work does not depend on the seed, but sharing does: a random_state=None forest is not shared yet
    # still builds its trees.
    seeded = _with_fixed_seeds(model)
    family = _family_for(seeded)
    return 1.0 if family is None else family.units(seeded, PLANNER)


def _with_fixed_seeds(model: Any) -> Any:
    if not hasattr(model, "get_params"):
        return model
    unseeded = {
        name: 0
        for name, value in model.get_params(deep=True).items()
        if (name == "random_state" or name.endswith("__random_state")) and value is None
    }
    return clone(model).set_params(**unseeded) if unseeded else model


def configure(estimator: Any, candidates: Sequence[dict[str, Any]]) -> list[Any]:
    """Each candidate's estimator, configured as GridSearchCV configures it (params cloned)."""
    return [clone(estimator).set_params(**clone(params, safe=False)) for params in candidates]


def plan(models: Sequence[Any], *, share: bool = True, indices: Sequence[int] | None = None) -> list[Group]:
    """Group models that can share fits; a group of one (or an unknown estimator) runs independently."""
    indices = list(range(len(models))) if indices is None else list(indices)
    keyed: dict[tuple[str, Hashable], list[Member]] = {}
    alone: list[Member] = []
    for index, model in zip(indices, models, strict=True):
        family = _family_for(model) if share else None
        if family is None:
            alone.append((index, model))
        else:
            keyed.setdefault((family.name, family.key(model)), []).append((index, model))
    groups = [Group(INDEPENDENT.name, (member,), INDEPENDENT.cost([member[1]], PLANNER)) for member in alone]
    for (name, _), members in keyed.items():
        family = family_named(name)
        groups.append(Group(name, tuple(members), family.cost([m for _, m in members], PLANNER)))
    return groups


def _family_for(model: Any) -> Family | None:
    for family in FAMILIES:
        if family.key(model) is not None:
            return family
    return None


def run_group(
    family: str, members: Sequence[Member], data: FoldData, context: FoldContext
) -> list[FoldResult]:
    """Run a group; if the shared path fails, fit the members one by one so each gets sklearn's outcome."""
    if family == INDEPENDENT.name or len(members) == 1:
        return fit_each(members, data, context)
    try:
        return family_named(family).run(members, data, context, PLANNER)
    except Exception as error:
        results = fit_each(members, data, context)
        reason = f"{family}: {type(error).__name__}: {error}".splitlines()[0]
        for result in results:
            result.fallback = reason  # the engine warns once per search and counts them
        return results


class _ModulePlanner:
    """This module's functions, handed to families that plan their inner estimators."""

    def plan(
        self, models: Sequence[Any], *, share: bool = True, indices: Sequence[int] | None = None
    ) -> list[Group]:
        return plan(models, share=share, indices=indices)

    def run_group(
        self, family: str, members: Sequence[Member], data: FoldData, context: FoldContext
    ) -> list[FoldResult]:
        return run_group(family, members, data, context)

    def units_of(self, model: Any) -> float:
        return units_of(model)


PLANNER: Planner = _ModulePlanner()
