"""What the service accepts and answers: body parsing (orjson, once, from raw bytes) and the OpenAPI models.

Bodies are parsed by hand rather than by pydantic: a single-row prediction must cost microseconds, and
every problem must come back as a 4xx naming the field and row. The pydantic models below only declare
the formats for the OpenAPI document (and so for schemathesis and client generators).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from pydantic import BaseModel, Field

from hone.data.schema import FeatureSchema, Problem

ENVELOPES = ("records", "columns")
MAX_ID_LENGTH = 200


class RequestProblem(Exception):
    """A request the service refuses: an HTTP status, a one-line message and the problems per field."""

    def __init__(
        self,
        status: int,
        message: str,
        problems: Sequence[Problem] = (),
        *,
        kind: str = "invalid_request",
        counts: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = list(problems)
        self.kind = kind  # the label of hone_errors_total
        self.counts = dict(counts or {})  # e.g. feedback: how many items were accepted and refused

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message, **self.counts}
        if self.problems:
            body["problems"] = [
                {"row": problem.row, "field": problem.field, "message": problem.message}
                for problem in self.problems
            ]
        return body


# -- parsing -------------------------------------------------------------------------------------------


def parse_json(body: bytes) -> Any:
    """The decoded body; 400 naming the position when it is not JSON."""
    if not body:
        raise RequestProblem(400, "empty body: send a JSON object", kind="malformed_json")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        if b"NaN" in body or b"Infinity" in body:
            # NaN/Infinity are not JSON, but Python clients send them; reading them lets the field check
            # say which feature holds one instead of only a character position.
            try:
                return json.loads(body, parse_int=_int_or_float)
            except (ValueError, RecursionError):
                pass
        raise RequestProblem(400, f"malformed JSON: {error}", kind="malformed_json") from None


def _int_or_float(text: str) -> int | float:
    # Huge integer literals become floats (inf if too large) so the value check refuses them cleanly.
    return int(text) if len(text) < 19 else float(text)


def records_from_payload(payload: Any, schema: FeatureSchema, max_rows: int) -> list[Any]:
    """The records of a predict body: one record, ``{"records": [...]}`` or ``{"columns": {...}}``."""
    if not isinstance(payload, dict):
        raise RequestProblem(
            422,
            f'expected a JSON object (one record, {{"records": [...]}} or {{"columns": {{...}}}}),'
            f" got {_json_type(payload)}",
            [Problem(None, "(body)", f"expected an object, got {_json_type(payload)}")],
        )
    envelope = _envelope(payload, schema)
    if envelope is None:
        return [payload]
    if envelope == "records":
        records = payload["records"]
        if not isinstance(records, list):
            raise _field_problem("records", f"expected a list of records, got {_json_type(records)}")
        _check_count(len(records), "records", max_rows)
        return records
    return _columns_to_records(payload["columns"], max_rows)


def _envelope(payload: Mapping[str, Any], schema: FeatureSchema) -> str | None:
    if len(payload) != 1:
        return None
    key = next(iter(payload))
    return key if key in ENVELOPES and key not in schema.names else None


def _columns_to_records(columns: Any, max_rows: int) -> list[dict[str, Any]]:
    if not isinstance(columns, dict):
        raise _field_problem("columns", f"expected an object of feature -> list, got {_json_type(columns)}")
    if not columns:
        raise _field_problem("columns", "empty object: send at least one column")
    lengths: dict[int, str] = {}
    for name, values in columns.items():
        if not isinstance(values, list):
            raise _field_problem(name, f"expected a list of values, got {_json_type(values)}")
        lengths.setdefault(len(values), name)
    if len(lengths) > 1:
        shown = ", ".join(f"{name}: {length}" for length, name in lengths.items())
        raise _field_problem("columns", f"columns have different lengths ({shown})")
    n = next(iter(lengths))
    _check_count(n, "columns", max_rows)
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _check_count(n: int, field: str, max_rows: int) -> None:
    if n == 0:
        raise _field_problem(field, "no rows: send at least one")
    if n > max_rows:
        raise RequestProblem(
            413,
            f"{n:,} rows in one request; this server takes at most {max_rows:,} (serve.max_rows)",
            [Problem(None, field, f"{n:,} rows; at most {max_rows:,}")],
            kind="too_large",
        )


def feedback_from_payload(payload: Any, task: str, max_rows: int) -> tuple[list[str], list[Any]]:
    """Prediction ids and their true labels from ``{"feedback": [{"id": ..., "label": ...}, ...]}``."""
    if not isinstance(payload, dict) or "feedback" not in payload:
        raise _field_problem("feedback", 'expected {"feedback": [{"id": "...", "label": ...}, ...]}')
    unknown = [key for key in payload if key != "feedback"]
    if unknown:
        raise _field_problem(str(unknown[0]), "unknown field")
    items = payload["feedback"]
    if not isinstance(items, list):
        raise _field_problem("feedback", f"expected a list, got {_json_type(items)}")
    _check_count(len(items), "feedback", max_rows)
    ids: list[str] = []
    labels: list[Any] = []
    problems: list[Problem] = []
    for row, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(Problem(row, "(item)", f"expected an object, got {_json_type(item)}"))
            continue
        for key in item:
            if key not in ("id", "label"):
                problems.append(Problem(row, str(key), "unknown field"))
        identifier = item.get("id")
        if not isinstance(identifier, str) or not 0 < len(identifier) <= MAX_ID_LENGTH:
            problems.append(Problem(row, "id", f"expected a prediction id (text), got {_shown(identifier)}"))
        label, message = _label(item.get("label"), task)
        if message is not None:
            problems.append(Problem(row, "label", message))
        ids.append(identifier)  # type: ignore[arg-type] - only used when there are no problems
        labels.append(label)
    if problems:
        raise RequestProblem(422, f"invalid feedback: {problems[0]}", problems[:100])
    return ids, labels


def _label(value: Any, task: str) -> tuple[Any, str | None]:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if task == "classification":
        if isinstance(value, str) and value:
            return value, None
        if number and math.isfinite(value):
            return value, None
        return None, f"expected a class label (text or number), got {_shown(value)}"
    if number and math.isfinite(float(value)):
        return float(value), None
    return None, f"expected a finite number, got {_shown(value)}"


def _field_problem(field: str, message: str) -> RequestProblem:
    return RequestProblem(422, f"{field}: {message}", [Problem(None, field, message)])


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def unknown_ids(ids: Sequence[str], refused: Sequence[int]) -> RequestProblem:
    """The refusal of feedback items whose ids the service never issued (the others were accepted)."""
    accepted = len(ids) - len(refused)
    problems = [
        Problem(row, "id", f"unknown prediction id {_shown(ids[row])}: not issued by this service")
        for row in refused[:100]
    ]
    return RequestProblem(
        422,
        f"{len(refused)} of {len(ids)} feedback item(s) refused: {problems[0]}; the other {accepted} were"
        " accepted",
        problems,
        kind="unknown_prediction_id",
        counts={"accepted": accepted, "refused": len(refused)},
    )


def _shown(value: Any) -> str:
    text = "null" if value is None else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# -- the OpenAPI document ---------------------------------------------------------------------------------


def record_schema(schema: FeatureSchema | None) -> dict[str, Any]:
    """JSON Schema of one record of the served model (any object while no model is loaded)."""
    if schema is None:
        return {"type": "object", "additionalProperties": {"type": ["number", "string", "null"]}}
    properties: dict[str, Any] = {}
    for feature in schema.features:
        if feature.kind == "numeric":
            value: dict[str, Any] = {"type": "number"}
        else:
            value = {"type": "string"}
            if feature.categories is not None:
                value["enum"] = list(feature.categories)
        properties[feature.name] = {"anyOf": [value, {"type": "null"}]} if feature.nullable else value
    for name in schema.ids:
        properties[name] = {"type": ["string", "integer", "null"], "maxLength": MAX_ID_LENGTH}
    return {
        "type": "object",
        "properties": properties,
        "required": schema.names,
        "additionalProperties": False,
    }


def predict_body_schema(schema: FeatureSchema | None, max_rows: int) -> dict[str, Any]:
    """The three accepted body forms, for ``openapi_extra`` of POST /predict."""
    record = record_schema(schema)
    column_values: dict[str, Any] = {}
    if schema is not None:
        for name, value in record["properties"].items():
            column_values[name] = {"type": "array", "items": value, "minItems": 1, "maxItems": max_rows}
    columns = {
        "type": "object",
        "properties": column_values,
        "required": schema.names if schema is not None else [],
        "additionalProperties": schema is None,
    }
    return {
        "oneOf": [
            {"title": "One record", **record},
            {
                "title": "Records",
                "type": "object",
                "properties": {
                    "records": {"type": "array", "items": record, "minItems": 1, "maxItems": max_rows}
                },
                "required": ["records"],
                "additionalProperties": False,
            },
            {
                "title": "Columns",
                "type": "object",
                "properties": {"columns": columns},
                "required": ["columns"],
                "additionalProperties": False,
            },
        ]
    }


def feedback_body_schema(task: str | None, max_rows: int) -> dict[str, Any]:
    """The POST /feedback body, for ``openapi_extra``."""
    label: dict[str, Any] = {"type": "number"}
    if task == "classification":
        label = {"anyOf": [{"type": "string", "minLength": 1}, {"type": "number"}]}
    item = {
        "type": "object",
        "properties": {"id": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH}, "label": label},
        "required": ["id", "label"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"feedback": {"type": "array", "items": item, "minItems": 1, "maxItems": max_rows}},
        "required": ["feedback"],
        "additionalProperties": False,
    }


class ProblemOut(BaseModel):
    row: int | None = Field(description="Row of the request, from 0; null when it concerns every row.")
    field: str
    message: str


class ErrorOut(BaseModel):
    error: str
    problems: list[ProblemOut] | None = None
    accepted: int | None = Field(None, description="Feedback: items stored although others were refused.")
    refused: int | None = Field(None, description="Feedback: items refused (ids this service never issued).")


class PredictOut(BaseModel):
    model: str
    version: int
    predictions: list[float | int | str]
    ids: list[str] = Field(description="One prediction id per row, for POST /feedback.")
    id_columns: dict[str, list[str | int | None]] | None = Field(
        default=None, description="The model's id columns (data.id) as sent, per column: one value per row."
    )


class FeedbackOut(BaseModel):
    accepted: int


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str
    model: str
    version: int | None = None


class VersionOut(BaseModel):
    version: int
    created_at: str
    created_by: str
    task: str
    description: str
    metrics: dict[str, Any]
    aliases: list[str]
    serving: bool


class ModelsOut(BaseModel):
    model: str
    serving: int | None
    aliases: dict[str, int]
    versions: list[VersionOut]


class ReloadOut(BaseModel):
    model: str
    version: int | None
    previous: int | None
    switched: bool
