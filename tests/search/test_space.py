"""The seed's tip, automated: a best value at the edge of the grid is named, and a wider grid proposed."""

from __future__ import annotations

import pytest

from hone.search.space import describe_edges, expanded_grid, extend_values, find_edges, grid_candidates

SEED_GRID = [
    {"n_estimators": [3, 10, 30], "max_features": [2, 4, 6, 8]},
    {"bootstrap": [False], "n_estimators": [3, 10], "max_features": [2, 3, 4]},
]


def test_seed_best_is_at_the_largest_values():
    hits = find_edges(grid_candidates(SEED_GRID), {"max_features": 8, "n_estimators": 30})
    assert [(h.param, h.side) for h in hits] == [("max_features", "largest"), ("n_estimators", "largest")]
    assert describe_edges(hits) == [
        "max_features=8 and n_estimators=30 are the largest values tried; "
        "the score may keep improving beyond them"
    ]


def test_inside_the_range_or_other_subgrid_is_not_an_edge():
    candidates = grid_candidates(SEED_GRID)
    assert find_edges(candidates, {"max_features": 6, "n_estimators": 10}) == []
    # In the bootstrap=False sub-grid, 4 is the largest max_features tried there (8 belongs to the other one).
    hits = find_edges(candidates, {"bootstrap": False, "max_features": 4, "n_estimators": 3})
    assert [(h.param, h.side) for h in hits] == [("max_features", "largest"), ("n_estimators", "smallest")]


def test_extension_follows_the_spacing_of_the_values_tried():
    hits = {
        h.param: h for h in find_edges(grid_candidates(SEED_GRID), {"max_features": 8, "n_estimators": 30})
    }
    assert extend_values(hits["max_features"]) == [8, 10, 12]
    assert extend_values(hits["n_estimators"]) == [30, 90, 270]
    grid = expanded_grid(list(hits.values()), {"max_features": 8, "n_estimators": 30})
    assert grid == {"max_features": [8, 10, 12], "n_estimators": [30, 90, 270]}


def test_smallest_positive_value_never_crosses_zero():
    hits = find_edges(grid_candidates({"alpha": [0.1, 1.0, 10.0]}), {"alpha": 0.1})
    assert hits[0].side == "smallest"
    assert extend_values(hits[0]) == pytest.approx([0.001, 0.01, 0.1])
    small_ints = find_edges(grid_candidates({"k": [1, 2, 3]}), {"k": 1})
    assert extend_values(small_ints[0]) == [1]  # 0 would cross zero: nothing to add


def test_even_steps_extend_by_steps_and_growing_values_by_factors():
    evenly = find_edges(grid_candidates({"max_features": [2, 4, 6]}), {"max_features": 6})
    assert extend_values(evenly[0]) == [6, 8, 10]
    doubling = find_edges(grid_candidates({"n_estimators": [5, 10, 20]}), {"n_estimators": 20})
    assert extend_values(doubling[0]) == [20, 40, 80]
