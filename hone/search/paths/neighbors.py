"""Placeholder: this family is not written yet, so its models fit independently."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from hone.search.fitting import FoldContext, FoldData, FoldResult
from hone.search.plan import Member


class NeighborLists:
    name = "neighbors"

    def key(self, model: Any) -> Hashable | None:
        return None

    def cost(self, models: Sequence[Any]) -> float:
        return float(len(models))

    def units(self, model: Any) -> float:
        return 1.0

    def run(self, members: Sequence[Member], data: FoldData, context: FoldContext) -> list[FoldResult]:
        raise NotImplementedError
