"""What a sharing family is: the protocol the planner drives, the planner it is handed, a planned group."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any, Protocol

from hone.search.fitting import FoldContext, FoldData, FoldResult, fit_and_score

Member = tuple[int, Any]  # (candidate index, the configured, unfitted estimator)


@dataclass(frozen=True)
class Group:
    """Members one family fits together on a fold, and the work that takes (for largest-first order)."""

    family: str
    members: tuple[Member, ...]
    cost: float

    @property
    def indices(self) -> list[int]:
        return [index for index, _ in self.members]


class Planner(Protocol):
    """What a family that holds other estimators (a Pipeline's last step) asks of the planner."""

    def plan(
        self, models: Sequence[Any], *, share: bool = True, indices: Sequence[int] | None = None
    ) -> list[Group]:
        """Group models that can share fits."""

    def run_group(
        self, family: str, members: Sequence[Member], data: FoldData, context: FoldContext
    ) -> list[FoldResult]:
        """Run one group on one fold."""

    def units_of(self, model: Any) -> float:
        """Work units of one independent fit of the model."""


class Family(Protocol):
    name: str

    def key(self, model: Any) -> Hashable | None:
        """Models with equal keys share a group; None means this family does not handle the model."""

    def cost(self, models: Sequence[Any], planner: Planner) -> float:
        """Relative work of one group on one fold (1.0 ~ one ordinary fit), for largest-first scheduling."""

    def units(self, model: Any, planner: Planner) -> float:
        """Work units of one independent fit of this model (trees for ensembles, else 1)."""

    def run(
        self, members: Sequence[Member], data: FoldData, context: FoldContext, planner: Planner
    ) -> list[FoldResult]:
        """Fit the group once on the fold and score every member."""


def fixed_seed(random_state: Any) -> bool:
    """Whether ``random_state`` is an int seed: then every fit draws the same numbers, and fits can share.

    With None each scikit-learn fit draws afresh, so candidates are independent of each other; sharing
    one draw would make them nested (a 10-tree forest the first 10 trees of the 50-tree one). A
    RandomState object is consumed by each fit. Neither is shared.
    """
    return isinstance(random_state, Integral) and not isinstance(random_state, bool)


def fit_each(members: Sequence[Member], data: FoldData, context: FoldContext) -> list[FoldResult]:
    """Every member fitted on its own, exactly as scikit-learn does (the fallback of every family)."""
    return [fit_and_score(model, data, context, candidate=index) for index, model in members]
