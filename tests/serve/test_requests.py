"""Body parsing of the service: the three predict forms, feedback, and refusals that name the field."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from hone.data.schema import Feature, FeatureSchema, SchemaViolation
from hone.serve.requests import (
    RequestProblem,
    feedback_from_payload,
    parse_json,
    predict_body_schema,
    records_from_payload,
)

SCHEMA = FeatureSchema(
    (
        Feature("income", "numeric", "float64", nullable=False),
        Feature("ocean", "categorical", "object", nullable=False, categories=("INLAND", "NEAR BAY")),
    )
)


def _refusal(call, *args) -> RequestProblem:
    with pytest.raises(RequestProblem) as caught:
        call(*args)
    return caught.value


def test_the_three_forms_give_the_same_records() -> None:
    one = {"income": 3.5, "ocean": "INLAND"}
    two = {"income": 1.0, "ocean": "NEAR BAY"}
    assert records_from_payload(one, SCHEMA, 10) == [one]
    assert records_from_payload({"records": [one, two]}, SCHEMA, 10) == [one, two]
    columns = {"columns": {"income": [3.5, 1.0], "ocean": ["INLAND", "NEAR BAY"]}}
    assert records_from_payload(columns, SCHEMA, 10) == [one, two]


def test_a_feature_called_records_is_a_record_not_an_envelope() -> None:
    schema = FeatureSchema((Feature("records", "numeric", "float64", nullable=False),))
    assert records_from_payload({"records": 4.0}, schema, 10) == [{"records": 4.0}]


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ([{"income": 1}], 422, "(body)"),
        ({"records": []}, 422, "records"),
        ({"records": {"income": 1}}, 422, "records"),
        ({"records": [{}] * 11}, 413, "records"),
        ({"columns": {"income": [1.0, 2.0], "ocean": ["INLAND"]}}, 422, "columns"),
        ({"columns": {"income": 1.0}}, 422, "income"),
        ({"columns": {}}, 422, "columns"),
        ({"columns": {"income": [], "ocean": []}}, 422, "columns"),
    ],
)
def test_malformed_envelopes_are_refused_naming_the_field(payload, status: int, field: str) -> None:
    problem = _refusal(records_from_payload, payload, SCHEMA, 10)
    assert problem.status == status
    assert problem.body()["problems"][0]["field"] == field


def test_bodies_that_are_not_json_are_400() -> None:
    for body in (b"", b"{", b"income=3", b"[" * 5000):
        assert _refusal(parse_json, body).status == 400


def test_nan_and_infinity_literals_reach_the_field_check() -> None:
    payload = parse_json(b'{"income": NaN, "ocean": "INLAND"}')
    assert payload["income"] != payload["income"]  # NaN, so the schema says which feature holds it
    assert parse_json(b'{"income": -Infinity}')["income"] == float("-inf")
    assert parse_json(b'{"income": NaN, "big": ' + b"9" * 400 + b"}")["big"] == float("inf")


def test_feedback_is_checked_per_item() -> None:
    ids, labels = feedback_from_payload({"feedback": [{"id": "a1", "label": 3}]}, "regression", 10)
    assert (ids, labels) == (["a1"], [3.0])
    ids, labels = feedback_from_payload({"feedback": [{"id": "a1", "label": "cat"}]}, "classification", 10)
    assert labels == ["cat"]
    problem = _refusal(
        feedback_from_payload,
        {"feedback": [{"id": "a1", "label": "cat"}, {"id": 7, "label": 1.0, "extra": 1}]},
        "regression",
        10,
    )
    assert problem.status == 422
    fields = [(p["row"], p["field"]) for p in problem.body()["problems"]]
    assert fields == [(0, "label"), (1, "extra"), (1, "id")]
    assert _refusal(feedback_from_payload, {"feedback": []}, "regression", 10).status == 422
    assert _refusal(feedback_from_payload, {"labels": []}, "regression", 10).status == 422


def test_the_openapi_body_lists_the_features_and_their_categories() -> None:
    forms = predict_body_schema(SCHEMA, 10)["oneOf"]
    record = forms[0]
    assert record["required"] == ["income", "ocean"]
    assert record["properties"]["ocean"]["enum"] == ["INLAND", "NEAR BAY"]
    assert forms[1]["properties"]["records"]["maxItems"] == 10
    json.dumps(forms)  # plain JSON: it goes into the OpenAPI document as is


def test_numbers_beyond_float32_are_refused_per_field_in_requests_and_tables() -> None:
    with pytest.raises(SchemaViolation) as refused:
        SCHEMA.check_records([{"income": 1.7e308, "ocean": "INLAND"}])
    [problem] = refused.value.problems
    assert (problem.row, problem.field) == (0, "income") and "3.403e+38" in problem.message
    checked = SCHEMA.check_frame(pd.DataFrame({"income": [1.0, -1e39], "ocean": ["INLAND", "INLAND"]}))
    assert checked.valid.tolist() == [True, False]
    assert (checked.problems[0].row, checked.problems[0].field) == (1, "income")
