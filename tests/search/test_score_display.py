"""Scores printed with the decimals their spread needs: classifiers told apart, regression unchanged."""

from __future__ import annotations

import math

import pytest

from hone.search.scoring import format_score, score_decimals


@pytest.mark.parametrize(
    ("spreads", "values", "shown"),
    [
        ([0.0041, 0.0065], [0.9938], "0.9938 ± 0.0041"),  # ROC AUC: never 1.0 ± 0.0
        ([0.012], [0.9938], "0.994 ± 0.012"),
        ([812.3], [49_123.44], "49,123.4 ± 812.3"),  # RMSE reads as before
        ([0.0, math.nan], [0.9991], "0.9991 ± 0.0000"),  # no spread: a unit score keeps 4 decimals
        ([1e-12], [0.5], "0.500000 ± 0.000000"),  # capped
    ],
)
def test_decimals_follow_the_smallest_spread(spreads: list[float], values: list[float], shown: str) -> None:
    decimals = score_decimals(spreads, values)
    assert f"{format_score(values[0], decimals)} ± {format_score(spreads[0] or 0.0, decimals)}" == shown
