"""`hone serve` as a real process: the start line, SIGTERM flushing the log, and one-line start errors."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import orjson
from typer.testing import CliRunner

from hone.cli.main import app
from hone.store.logbook import read_feedback, read_predictions

MODEL = "housing"  # what the conftest registers
TOKEN = "cli-token"
PROJECT = """\
project: housing
data:
  dataset: housing
  target: median_house_value
models:
  - name: forest
    estimator: sklearn.ensemble.RandomForestRegressor
    grid:
      - {n_estimators: [30]}
store: hone.db
serve:
  log: served-log
  reload_seconds: 0.5
"""


def _start(config: Path) -> tuple[subprocess.Popen[str], str, str]:
    """`hone serve -c config` in its own process; its URL and start line once it answers /ready."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from hone.cli.main import main; main()",
            "serve",
            "-c",
            str(config),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"HONE_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if found is None:
        process.kill()
        raise AssertionError(f"no start line: {line!r} {process.communicate()[1]}")
    url = found.group(0)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/ready").status_code == 200:
                return process, url, line
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline and process.poll() is None, "the server did not become ready"
        time.sleep(0.05)


def test_sigterm_writes_every_logged_prediction_and_feedback(new_registry, serve_housing) -> None:
    registry = new_registry()
    folder = Path(registry.store.url.removeprefix("sqlite:///")).parent
    (folder / "hone.yaml").write_text(PROJECT)
    process, url, line = _start(folder / "hone.yaml")
    try:
        assert f"serving {MODEL} v1" in line and str(folder / "served-log" / MODEL) in line
        assert "/feedback and /admin need the token" in line
        headers = {"Content-Type": "application/json"}
        answers = []
        with httpx.Client(base_url=url, headers=headers) as client:
            for record in serve_housing.records(25):
                answers.append(client.post("/predict", content=orjson.dumps(record)).json())
            batch = {"records": serve_housing.records(5, start=25)}
            answers.append(client.post("/predict", content=orjson.dumps(batch)).json())
            feedback = {"feedback": [{"id": answers[i]["ids"][0], "label": 1000.0 * i} for i in range(3)]}
            accepted = client.post(
                "/feedback", content=orjson.dumps(feedback), headers={"Authorization": f"Bearer {TOKEN}"}
            )
            assert accepted.json() == {"accepted": 3}
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)

    assert process.returncode == 0, err
    assert "stopped; 30 prediction(s) written to the log" in out
    served = {i: p for answer in answers for i, p in zip(answer["ids"], answer["predictions"], strict=True)}
    logged = read_predictions(folder / "served-log", MODEL).to_pandas()
    assert len(logged) == 30 and set(logged["prediction_id"]) == set(served)
    np.testing.assert_array_equal(logged["prediction"], [served[i] for i in logged["prediction_id"]])
    assert set(logged["model_version"]) == {1}
    labels = read_feedback(folder / "served-log", MODEL).to_pylist()
    assert sorted((row["prediction_id"], row["label"]) for row in labels) == sorted(
        (item["id"], item["label"]) for item in feedback["feedback"]
    )


def _serve(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["serve", *arguments])
    return result.exit_code, result.output


def test_no_champion_is_a_one_line_error(new_registry) -> None:
    registry = new_registry(champion=False)
    code, output = _serve("--store", registry.store.url)
    assert code == 2
    assert output.strip() == (
        f"error: model {MODEL!r} has no champion yet: promote a version first (hone promote {MODEL} VERSION)"
    )


def test_an_unknown_model_or_a_busy_port_is_a_one_line_error(new_registry) -> None:
    registry = new_registry()
    code, output = _serve("--store", registry.store.url, "--model", "prices")
    assert code == 2 and output.count("\n") == 1
    assert "no model named 'prices'" in output and "registered: housing" in output

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, output = _serve("--store", registry.store.url, "--port", str(port))
    assert code == 2 and output.startswith(f"error: cannot listen on 127.0.0.1:{port}")
