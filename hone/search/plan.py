"""The planner: candidates whose fits can be shared (per fold) are grouped, everything else fits alone.

A *family* recognises estimators it can share work between (forest prefixes, boosting stages,
neighbour lists, a pipeline's preparation) and runs one group on one fold, returning one FoldResult
per member that equals what an independent fit would have scored. Families live in
``hone.search.paths``; the engine only sees groups and their cost.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sklearn.base import clone

from hone.search.fitting import FoldContext, FoldData, FoldResult, fit_and_score

Member = tuple[int, Any]  # (candidate index, the configured, unfitted estimator)


class Family(Protocol):
    name: str

    def key(self, model: Any) -> Hashable | None:
        """Models with equal keys share a group; None means this family does not handle the model."""

    def cost(self, models: Sequence[Any]) -> float:
        """Relative work of one group on one fold (1.0 ~ one ordinary fit), for largest-first scheduling."""

    def units(self, model: Any) -> float:
        """Work units of one independent fit of this model (trees for ensembles, else 1)."""

    def run(self, members: Sequence[Member], data: FoldData, context: FoldContext) -> list[FoldResult]:
        """Fit the group once on the fold and score every member."""


class Independent:
    """The fallback: every candidate fitted on its own, exactly as scikit-learn does."""

    name = "independent"

    def key(self, model: Any) -> Hashable | None:
        return None

    def cost(self, models: Sequence[Any]) -> float:
        return float(sum(units_of(m) for m in models))

    def units(self, model: Any) -> float:
        return 1.0

    def run(self, members: Sequence[Member], data: FoldData, context: FoldContext) -> list[FoldResult]:
        return [fit_and_score(model, data, context, candidate=index) for index, model in members]


INDEPENDENT = Independent()


def families() -> list[Family]:
    from hone.search.paths import FAMILIES

    return FAMILIES


def family_named(name: str) -> Family:
    if name == INDEPENDENT.name:
        return INDEPENDENT
    return next(f for f in families() if f.name == name)


def units_of(model: Any) -> float:
    """Trees of an ensemble, 1 for anything else: how sklearn's fits are counted in the lower bound."""
    for family in families():
        if family.key(model) is not None:
            return family.units(model)
    return 1.0


@dataclass(frozen=True)
class Group:
    family: str
    members: tuple[Member, ...]
    cost: float

    @property
    def indices(self) -> list[int]:
        return [index for index, _ in self.members]


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
    groups = [Group(INDEPENDENT.name, (member,), INDEPENDENT.cost([member[1]])) for member in alone]
    for (name, _), members in keyed.items():
        family = family_named(name)
        groups.append(Group(name, tuple(members), family.cost([m for _, m in members])))
    return groups


def _family_for(model: Any) -> Family | None:
    for family in families():
        if family.key(model) is not None:
            return family
    return None


def run_group(
    family: str, members: Sequence[Member], data: FoldData, context: FoldContext
) -> list[FoldResult]:
    """Run a group; if the shared path fails, fit the members one by one so each gets sklearn's outcome."""
    if family == INDEPENDENT.name or len(members) == 1:
        return INDEPENDENT.run(members, data, context)
    try:
        return family_named(family).run(members, data, context)
    except Exception:
        return INDEPENDENT.run(members, data, context)
