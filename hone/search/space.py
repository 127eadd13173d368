"""Search spaces: the candidates a strategy proposes, and where the best one sits in them.

Candidates come out in exactly scikit-learn's order (ParameterGrid / ParameterSampler), so a
search is comparable candidate by candidate with GridSearchCV / RandomizedSearchCV.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

from sklearn.model_selection import ParameterGrid, ParameterSampler

from hone.errors import SearchError

Params = dict[str, Any]


def grid_candidates(
    param_grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]],
) -> list[Params]:
    """Every combination of a grid (a dict, or a list of dicts), in GridSearchCV's order."""
    try:
        candidates = list(ParameterGrid(param_grid))
    except (TypeError, ValueError) as error:
        raise SearchError(f"bad param_grid: {error}") from None
    if not candidates:
        raise SearchError("the param_grid is empty: it has no candidate to try")
    return candidates


def sampled_candidates(param_distributions: Any, n_iter: int, random_state: Any) -> list[Params]:
    """The candidates RandomizedSearchCV samples for the same distributions and random_state."""
    if not isinstance(n_iter, Integral) or n_iter < 1:
        raise SearchError(f"n_iter must be a positive integer, got {n_iter!r}")
    try:
        return list(ParameterSampler(param_distributions, n_iter, random_state=random_state))
    except (TypeError, ValueError) as error:
        raise SearchError(f"bad param_distributions: {error}") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value))


@dataclass(frozen=True)
class EdgeHit:
    """A numeric parameter whose best value is the largest or smallest value tried."""

    param: str
    value: Any
    side: str  # "largest" or "smallest"
    tried: tuple[Any, ...]


def find_edges(candidates: Sequence[Params], best_params: Params) -> list[EdgeHit]:
    """Name the best candidate's numeric values that sit at the edge of what was tried.

    Only candidates of the best one's sub-grid (same parameter names) count: a value tried in
    another sub-grid says nothing about this one's range.
    """
    keys = set(best_params)
    same_shape = [c for c in candidates if set(c) == keys]
    hits: list[EdgeHit] = []
    for name, value in best_params.items():
        if not _is_number(value):
            continue
        tried = sorted({float(c[name]) for c in same_shape if _is_number(c[name])})
        if len(tried) < 2:
            continue
        tried_values = tuple(_as_python(v, value) for v in tried)
        if float(value) == tried[-1]:
            hits.append(EdgeHit(name, value, "largest", tried_values))
        elif float(value) == tried[0]:
            hits.append(EdgeHit(name, value, "smallest", tried_values))
    return hits


def _as_python(number: float, like: Any) -> Any:
    return int(number) if isinstance(like, Integral) else number


def describe_edges(hits: Sequence[EdgeHit]) -> list[str]:
    """The seed's tip, in words: one sentence per side."""
    sentences = []
    for side in ("largest", "smallest"):
        named = [f"{hit.param}={hit.value}" for hit in hits if hit.side == side]
        if not named:
            continue
        listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
        verb = "is the" if len(named) == 1 else "are the"
        noun = "value" if len(named) == 1 else "values"
        direction = "beyond" if side == "largest" else "below"
        sentences.append(
            f"{listed} {verb} {side} {noun} tried; the score may keep improving {direction} "
            f"{'it' if len(named) == 1 else 'them'}"
        )
    return sentences


def _looks_geometric(tried: list[float], ratio: float) -> bool:
    """Values that grow by a factor (3, 10, 30) rather than by a step (2, 4, 6, 8)."""
    if len(tried) < 3 or tried[0] <= 0:
        return ratio >= 3
    steps = [b - a for a, b in itertools.pairwise(tried)]
    factors = [b / a for a, b in itertools.pairwise(tried)]
    return _relative_spread(factors) < _relative_spread(steps)


def _relative_spread(values: list[float]) -> float:
    mean = abs(sum(values) / len(values))
    return (max(values) - min(values)) / max(mean, 1e-12)


def extend_values(hit: EdgeHit, steps: int = 2) -> list[Any]:
    """Values past the edge, spaced like the values tried (geometric if they grow by a ratio)."""
    tried = [float(v) for v in hit.tried]
    edge = float(hit.value)
    neighbour = tried[-2] if hit.side == "largest" else tried[1]
    integer = isinstance(hit.value, Integral)
    ratio = max(edge, neighbour) / min(edge, neighbour) if min(edge, neighbour) > 0 else math.inf
    geometric = math.isfinite(ratio) and _looks_geometric(tried, ratio)
    values = [edge]
    current = edge
    for _ in range(steps):
        if geometric:
            current = current * ratio if hit.side == "largest" else current / ratio
        else:
            current = current + abs(edge - neighbour) * (1 if hit.side == "largest" else -1)
        if integer:
            current = float(round(current))
        # Never cross zero: a positive parameter (a count, a rate) rarely means anything below it.
        if hit.side == "smallest" and min(tried) > 0 and current <= 0:
            break
        if current in values:
            break
        values.append(current)
    values = [int(v) if integer else v for v in values]
    return sorted(values)


def expanded_grid(hits: Sequence[EdgeHit], best_params: Params) -> dict[str, list[Any]]:
    """A follow-up grid: edge parameters extended past the edge, the others held at their best."""
    extended = {hit.param: extend_values(hit) for hit in hits}
    return {name: extended.get(name, [value]) for name, value in best_params.items()}
