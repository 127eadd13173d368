"""The HTTP service on a real uvicorn server on 127.0.0.1, over a real registry of real forests."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import fsspec
import httpx
import numpy as np
import orjson
from prometheus_client.parser import text_string_to_metric_families

from hone.store.logbook import read_feedback, read_predictions

MODEL = "housing"  # what the conftest registers
JSON = {"Content-Type": "application/json"}
Live = Any  # the conftest's Live: url, registry, source, service, log_dir, auth


def _post(live: Live, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(live.url + path, content=orjson.dumps(body), headers={**JSON, **(headers or {})})


def _wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def _metrics(live: Live) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(live.url + "/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


# -- predictions -----------------------------------------------------------------------------------------


def test_served_predictions_equal_the_pipeline_for_every_form(
    shared_live: Live, serve_housing, forests
) -> None:
    records = serve_housing.records(20)
    truth = forests[1].predict(serve_housing.unseen.iloc[:20])
    one = _post(shared_live, "/predict", records[0]).json()
    many = _post(shared_live, "/predict", {"records": records}).json()
    columns = {name: [record[name] for record in records] for name in records[0]}
    by_column = _post(shared_live, "/predict", {"columns": columns}).json()

    np.testing.assert_allclose(one["predictions"], truth[:1], rtol=1e-6)
    np.testing.assert_allclose(many["predictions"], truth, rtol=1e-6)
    np.testing.assert_allclose(by_column["predictions"], truth, rtol=1e-6)
    for answer in (one, many, by_column):
        assert (answer["model"], answer["version"]) == (MODEL, 1)
        assert len(answer["ids"]) == len(answer["predictions"])
    ids = one["ids"] + many["ids"] + by_column["ids"]
    assert len(set(ids)) == len(ids) == 41


def test_a_missing_value_the_model_imputes_is_accepted(shared_live: Live, serve_housing, forests) -> None:
    record = serve_housing.records(1)[0] | {"total_bedrooms": None}
    row = serve_housing.unseen.iloc[:1].copy()
    row["total_bedrooms"] = np.nan
    answer = _post(shared_live, "/predict", record)
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(answer.json()["predictions"], forests[1].predict(row), rtol=1e-6)


def _bad_requests(
    good: dict[str, Any],
) -> list[tuple[str, bytes, dict[str, str], int, str | None, int | None]]:
    """(what, body, headers, status, field named, row named)."""

    def body(value: Any) -> bytes:
        return orjson.dumps(value)

    def raw(text: str) -> bytes:
        return text.encode()

    without_income = {k: v for k, v in good.items() if k != "median_income"}
    record_text = orjson.dumps(good).decode()
    return [
        ("missing field", body(without_income), JSON, 422, "median_income", 0),
        ("extra field", body(good | {"colour": "red"}), JSON, 422, "colour", 0),
        ("text for a number", body(good | {"median_income": "3.5"}), JSON, 422, "median_income", 0),
        ("boolean for a number", body(good | {"median_income": True}), JSON, 422, "median_income", 0),
        ("null not allowed", body(good | {"longitude": None}), JSON, 422, "longitude", 0),
        (
            "NaN literal",
            raw(record_text.replace('"median_income":', '"median_income":NaN,"x":')),
            JSON,
            422,
            "median_income",
            0,
        ),
        ("Infinity literal", raw(record_text[:-1] + ',"households":Infinity}'), JSON, 422, "households", 0),
        ("unseen category", body(good | {"ocean_proximity": "MOON"}), JSON, 422, "ocean_proximity", 0),
        ("number for a category", body(good | {"ocean_proximity": 3}), JSON, 422, "ocean_proximity", 0),
        ("second row bad", body({"records": [good, good | {"latitude": "north"}]}), JSON, 422, "latitude", 1),
        ("empty list", body({"records": []}), JSON, 422, "records", None),
        ("bare list", body([good]), JSON, 422, "(body)", None),
        ("too many rows", body({"records": [good] * 201}), JSON, 413, "records", None),
        ("body too large", body({"records": [good | {"pad": "x" * 300_000}]}), JSON, 413, None, None),
        ("malformed JSON", raw(record_text[:-3]), JSON, 400, None, None),
        ("empty body", b"", JSON, 400, None, None),
        ("wrong content type", body(good), {"Content-Type": "text/plain"}, 415, None, None),
        ("no content type", body(good), {}, 415, None, None),
        ("zero denominator", body(good | {"households": 0.0}), JSON, 422, "(record)", None),
        ("beyond float32", body(good | {"median_income": 1e300}), JSON, 422, "median_income", 0),
        ("beyond float32, huge", body(good | {"total_rooms": 1.7e308}), JSON, 422, "total_rooms", 0),
    ]


def test_every_bad_request_is_a_4xx_naming_the_field(shared_live: Live, serve_housing) -> None:
    good = serve_housing.records(1)[0]
    failures = []
    for what, content, headers, status, field, row in _bad_requests(good):
        answer = httpx.post(shared_live.url + "/predict", content=content, headers=headers)
        body = answer.json()
        problems = body.get("problems", [])
        named = field is None or any(
            p["field"] == field and (row is None or p["row"] == row) for p in problems
        )
        if answer.status_code != status or not named or not body.get("error"):
            failures.append(f"{what}: {answer.status_code} {answer.text[:200]}")
    assert not failures, "\n".join(failures)


def test_a_number_beyond_float32_names_its_field_and_the_range(shared_live: Live, serve_housing) -> None:
    answer = _post(shared_live, "/predict", serve_housing.records(1)[0] | {"total_rooms": 1.7e308})
    assert answer.status_code == 422
    [problem] = answer.json()["problems"]
    assert (problem["row"], problem["field"]) == (0, "total_rooms")
    assert "1.7e+308" in problem["message"] and "3.403e+38" in problem["message"]


def test_wrong_methods_and_paths_are_4xx_in_the_same_format(shared_live: Live) -> None:
    assert httpx.get(shared_live.url + "/predict").status_code == 405
    missing = httpx.get(shared_live.url + "/nowhere")
    assert missing.status_code == 404 and "/nowhere" in missing.json()["error"]


# -- tokens ----------------------------------------------------------------------------------------------


def test_feedback_needs_the_token_and_is_logged(shared_live: Live, serve_housing) -> None:
    ids = _post(shared_live, "/predict", {"records": serve_housing.records(2)}).json()["ids"]
    feedback = {"feedback": [{"id": ids[0], "label": 150_000.0}, {"id": ids[1], "label": 90_000}]}

    missing = _post(shared_live, "/feedback", feedback)
    wrong = _post(shared_live, "/feedback", feedback, {"Authorization": "Bearer nope"})
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.headers["www-authenticate"] == "Bearer"
    accepted = _post(shared_live, "/feedback", feedback, shared_live.auth)
    assert accepted.status_code == 200 and accepted.json() == {"accepted": 2}
    refused = _post(
        shared_live, "/feedback", {"feedback": [{"id": ids[0], "label": "high"}]}, shared_live.auth
    )
    assert refused.status_code == 422 and refused.json()["problems"][0]["field"] == "label"

    assert shared_live.service.log.flush(timeout=10)
    logged = read_feedback(shared_live.log_dir, MODEL).to_pylist()
    assert {(row["prediction_id"], row["label"]) for row in logged} >= {
        (ids[0], 150_000.0),
        (ids[1], 90_000.0),
    }
    assert len([row for row in logged if row["prediction_id"] in ids]) == 2  # the refused ones are not


def test_feedback_for_ids_never_issued_is_refused_and_the_rest_kept(shared_live: Live, serve_housing) -> None:
    ids = _post(shared_live, "/predict", {"records": serve_housing.records(2, start=50)}).json()["ids"]
    forged = ids[1][:-1] + ("0" if ids[1][-1] != "0" else "1")  # a real id with its check altered
    items = [
        {"id": ids[0], "label": 1.0},
        {"id": "../../etc/passwd", "label": 2.0},
        {"id": forged, "label": 3.0},
        {"id": ids[1], "label": 4.0},
    ]
    before = _metrics(shared_live).get(("hone_feedback_refused_total", ()), 0.0)
    answer = _post(shared_live, "/feedback", {"feedback": items}, shared_live.auth)
    assert answer.status_code == 422
    body = answer.json()
    assert (body["accepted"], body["refused"]) == (2, 2)
    assert [(p["row"], p["field"]) for p in body["problems"]] == [(1, "id"), (2, "id")]
    assert "etc/passwd" in body["problems"][0]["message"]
    assert _metrics(shared_live)[("hone_feedback_refused_total", ())] == before + 2

    assert shared_live.service.log.flush(timeout=10)
    logged = {
        row["prediction_id"]: row["label"] for row in read_feedback(shared_live.log_dir, MODEL).to_pylist()
    }
    assert logged[ids[0]] == 1.0 and logged[ids[1]] == 4.0
    assert "../../etc/passwd" not in logged and forged not in logged


def test_predictions_are_logged_with_their_ids_values_and_version(shared_live: Live, serve_housing) -> None:
    answer = _post(shared_live, "/predict", {"records": serve_housing.records(3, start=100)}).json()
    assert shared_live.service.log.flush(timeout=10)
    logged = read_predictions(shared_live.log_dir, MODEL).to_pandas().set_index("prediction_id")
    mine = logged.loc[answer["ids"]]
    np.testing.assert_allclose(mine["prediction"], answer["predictions"], rtol=0)
    assert (mine["model_version"] == 1).all()
    np.testing.assert_allclose(mine["median_income"], serve_housing.unseen["median_income"].iloc[100:103])


def test_a_wrong_token_changes_nothing_and_the_right_one_reloads(
    tmp_path: Path, new_registry, start_server, serve_housing
) -> None:
    registry = new_registry()
    with start_server(registry, tmp_path / "log", reload_seconds=3600) as live:
        registry.promote(MODEL, 2, reason="test")
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-token"}):
            answer = httpx.post(live.url + "/admin/reload", headers=headers)
            assert answer.status_code == 401
        assert httpx.get(live.url + "/ready").json()["version"] == 1

        answer = httpx.post(live.url + "/admin/reload", headers=live.auth)
        assert answer.status_code == 200
        assert answer.json() == {"model": MODEL, "version": 2, "previous": 1, "switched": True}
        assert _post(live, "/predict", serve_housing.records(1)[0]).json()["version"] == 2


def test_without_a_server_token_protected_endpoints_say_so(
    tmp_path: Path, new_registry, start_server, serve_housing
) -> None:
    registry = new_registry()
    with start_server(registry, tmp_path / "log", token=None, protect_predict=True) as live:
        answer = _post(live, "/predict", serve_housing.records(1)[0], live.auth)
        assert answer.status_code == 401 and "HONE_TOKEN" in answer.json()["error"]
        assert httpx.post(live.url + "/admin/reload", headers=live.auth).status_code == 401


def test_protect_predict_requires_the_token_on_predict(
    tmp_path: Path, new_registry, start_server, serve_housing
) -> None:
    registry = new_registry()
    with start_server(registry, tmp_path / "log", protect_predict=True) as live:
        record = serve_housing.records(1)[0]
        assert _post(live, "/predict", record).status_code == 401
        assert _post(live, "/predict", record, live.auth).status_code == 200


# -- health, models, metrics -----------------------------------------------------------------------------


def test_models_lists_every_version_with_aliases_and_the_served_one(shared_live: Live) -> None:
    listing = httpx.get(shared_live.url + "/models").json()
    assert (listing["model"], listing["serving"], listing["aliases"]) == (MODEL, 1, {"champion": 1})
    versions = {v["version"]: v for v in listing["versions"]}
    assert sorted(versions) == [1, 2]
    assert versions[1]["aliases"] == ["champion"] and versions[1]["serving"] is True
    assert versions[2]["aliases"] == [] and versions[2]["serving"] is False
    assert versions[2]["metrics"] == {"cv": {"rmse": 50_002.0}}


def test_metrics_count_requests_errors_latency_and_predictions(shared_live: Live, serve_housing) -> None:
    before = _metrics(shared_live)
    for record in serve_housing.records(5):
        assert _post(shared_live, "/predict", record).status_code == 200
    assert _post(shared_live, "/predict", {"records": []}).status_code == 422
    after = _metrics(shared_live)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("hone_requests_total", endpoint="/predict", status="200") == 5
    assert grew("hone_requests_total", endpoint="/predict", status="422") == 1
    assert grew("hone_errors_total", endpoint="/predict", kind="invalid_request") == 1
    assert grew("hone_request_seconds_count", endpoint="/predict") == 6
    assert grew("hone_prediction_count", model=MODEL, version="1") == 5
    assert after[("hone_model_info", (("compiled", "true"), ("model", MODEL), ("version", "1")))] == 1
    # Buckets come from the profile: its target's percentiles (here, 500,001, the data's cap, is the last).
    bounds = [dict(labels)["le"] for name, labels in after if name == "hone_prediction_bucket"]
    assert "500001.0" in bounds and "+Inf" in bounds


def test_health_and_ready(shared_live: Live) -> None:
    assert httpx.get(shared_live.url + "/health").json() == {"status": "ok"}
    assert httpx.get(shared_live.url + "/ready").json() == {"status": "ready", "model": MODEL, "version": 1}


def test_not_ready_until_a_champion_exists_then_serving_it(
    tmp_path: Path, new_registry, start_server, serve_housing
) -> None:
    registry = new_registry(champion=False)
    with start_server(registry, tmp_path / "log") as live:
        assert httpx.get(live.url + "/ready").status_code == 503
        assert _post(live, "/predict", serve_housing.records(1)[0]).status_code == 503
        registry.promote(MODEL, 2)
        _wait_for(lambda: httpx.get(live.url + "/ready").status_code == 200)
        assert _post(live, "/predict", serve_housing.records(1)[0]).json()["version"] == 2


# -- switching versions ----------------------------------------------------------------------------------


def test_hot_switch_under_load_fails_no_request(
    tmp_path: Path, new_registry, start_server, serve_housing, forests
) -> None:
    registry = new_registry()
    record = serve_housing.records(1, start=7)[0]
    truth = {number: float(forests[number].predict(serve_housing.unseen.iloc[7:8])[0]) for number in (1, 2)}
    failures: list[str] = []
    seen: dict[int, int] = {1: 0, 2: 0}
    stop = threading.Event()

    with start_server(registry, tmp_path / "log", reload_seconds=0.05) as live:

        def hammer() -> None:
            with httpx.Client(base_url=live.url, headers=JSON) as client:
                while not stop.is_set():
                    try:
                        answer = client.post("/predict", content=orjson.dumps(record))
                        body = answer.json()
                        version = body["version"]
                        if answer.status_code != 200 or abs(body["predictions"][0] - truth[version]) > 1e-6:
                            failures.append(answer.text)
                        seen[version] += 1
                    except Exception as error:  # a transport error is a failed request too
                        failures.append(repr(error))

        threads = [threading.Thread(target=hammer) for _ in range(8)]
        for thread in threads:
            thread.start()
        try:
            for step in range(3):
                registry.promote(MODEL, 2, reason=f"switch {step}")
                _wait_for(lambda: live.source.current.number == 2)
                time.sleep(0.2)
                registry.rollback(MODEL, reason=f"back {step}")
                _wait_for(lambda: live.source.current.number == 1)
                time.sleep(0.2)
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
        assert live.source.switches == 6

    assert not failures, failures[:3]
    assert seen[1] > 0 and seen[2] > 0


def test_a_version_that_fails_to_load_leaves_the_old_one_serving(
    tmp_path: Path, new_registry, start_server, serve_housing
) -> None:
    registry = new_registry()
    with start_server(registry, tmp_path / "log", reload_seconds=3600) as live:
        registry.promote(MODEL, 2)
        filesystem, path = fsspec.core.url_to_fs(registry.get(MODEL, 2).artifact_uri)
        with filesystem.open(path, "r+b") as artifact:  # one flipped byte: the SHA-256 check must refuse it
            first = artifact.read(1)
            artifact.seek(0)
            artifact.write(bytes([first[0] ^ 0xFF]))

        answer = httpx.post(live.url + "/admin/reload", headers=live.auth)
        assert answer.status_code == 409 and "still serving version 1" in answer.json()["error"]
        assert _post(live, "/predict", serve_housing.records(1)[0]).json()["version"] == 1
        assert _metrics(live)[("hone_model_load_failures_total", ())] == 1
