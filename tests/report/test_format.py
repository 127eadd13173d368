"""Numbers and parameters as people read them."""

from __future__ import annotations

import pytest

from hone.report import format as fmt


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (49_899.2, "49,899"),
        (1_234_567, "1,234,567"),
        (100.0, "100"),
        (946.87, "946.9"),
        (-600.0, "-600"),
        (1.5, "1.5"),
        (0.0699, "0.0699"),
        (0.0, "0"),
        (float("nan"), "—"),
        (True, "True"),
        ("INLAND", "INLAND"),
    ],
)
def test_number(value: object, text: str) -> None:
    assert fmt.number(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (30, "30"),
        (14_440.3, "14440"),
        (0.5304, "0.5304"),
        (1.2345e-05, "1.234e-05"),
        (False, "False"),
        ("rbf", "rbf"),
    ],
)
def test_param_value(value: object, text: str) -> None:
    assert fmt.param_value(value) == text


def test_params_and_compact() -> None:
    assert fmt.params({"max_features": 8, "n_estimators": 30}) == "max_features=8, n_estimators=30"
    assert fmt.params({}) == "defaults"
    assert [fmt.compact(v) for v in (49_899, 150_000, -150_000, 1_234_567, 950)] == [
        "49.9k",
        "150k",
        "-150k",
        "1.23M",
        "950",
    ]
    assert fmt.signed(-187.0) == "−187" and fmt.signed(12.5) == "+12.5"
