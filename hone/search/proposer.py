"""Per-model proposers: a small ask/tell protocol, and a cost-frugal local search that speaks it.

A proposer is told every result in the order it asked, and its next proposal depends only on those
results and its seed: so a resumed search proposes the same candidates again (they are read back from
the store) and goes on from where it stopped. Another proposer (TPE, say) fits the same protocol.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from hone.search.builtin_spaces import ModelSpace

Params = dict[str, Any]


class Proposer(Protocol):
    def ask(self) -> list[Params]:
        """The next batch of candidates (empty: nothing left to try)."""
        ...

    def tell(self, scores: list[float]) -> None:
        """The mean CV score (higher is better, NaN for a failed fit) of each candidate of the last batch."""
        ...


class LocalSearch:
    """The space's good starts first (cheapest first), then a randomized direct search around the best.

    In the spirit of FLAML's CFO: from the incumbent, try a step along a random direction and the
    opposite step together (one batch of two, which keeps both cores busy over the folds); move to the
    better one if it beats the incumbent, otherwise shrink the step after a run of failures, and restart
    with a fresh step from the incumbent when the step is tiny.
    """

    def __init__(self, space: ModelSpace, seed: int = 0, step: float = 0.2, min_step: float = 0.02) -> None:
        self.space = space
        self.rng = np.random.default_rng(seed)
        self.initial_step = step
        self.step = step
        self.min_step = min_step
        self.pending: list[Params] = []
        self.starts = list(space.starts)
        self.best_score = -math.inf
        self.best: Params | None = None
        self.failures = 0
        self.tried: set[str] = set()

    def ask(self) -> list[Params]:
        if self.starts:
            self.pending = [self.starts.pop(0)]
        elif not self.space.dimensions or self.best is None:
            self.pending = []
        else:
            self.pending = self._pair()
        for params in self.pending:
            self.tried.add(_key(params))
        return list(self.pending)

    def tell(self, scores: list[float]) -> None:
        improved = False
        for params, score in zip(self.pending, scores, strict=True):
            if math.isfinite(score) and score > self.best_score:
                self.best_score, self.best, improved = score, params, True
        if self.starts or not self.pending:
            return
        if improved:
            self.failures = 0
            return
        self.failures += 1
        if self.failures >= max(2, len(self.space.dimensions)):
            self.failures = 0
            self.step *= 0.5
            if self.step < self.min_step:
                self.step = self.initial_step

    def _pair(self) -> list[Params]:
        assert self.best is not None
        centre = np.asarray(self.space.point(self.best))
        for _ in range(20):
            direction = self.rng.normal(size=len(centre))
            direction /= np.linalg.norm(direction) or 1.0
            pair = [
                self.space.params(np.clip(centre + sign * self.step * direction, 0.0, 1.0))
                for sign in (1, -1)
            ]
            fresh: list[Params] = []
            for params in pair:
                if _key(params) not in self.tried and all(_key(params) != _key(f) for f in fresh):
                    fresh.append(params)
            if fresh:
                return fresh
            self.step = min(self.step * 1.5, 1.0)  # a step too short to change any rounded value
        return []


def _key(params: Params) -> str:
    return repr(sorted(params.items()))
