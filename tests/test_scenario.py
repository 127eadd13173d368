"""Issue 6's scenario, end to end: a real `hone serve`, real HTTP traffic with feedback, a real store.

A slice project is tuned, evaluated and registered once. Each scenario then gets its own copy of the
project folder (store, artifacts, prediction log), streams housing rows the project never saw through
the service in small requests with their labels, and runs `hone monitor` on what the server logged:

- clean: the training distribution throughout, and not a single alert;
- broken sensor: `median_income` turns into uniform random numbers over its range;
- stale feed: the same batch of rows is sent again and again;
- concept drift: prices of one region rise 30% (the features do not change, only the labels).

Each fault starts after the same clean prefix and must raise its alert within its window budget. Then
`hone retrain` on the drifted project must promote a challenger that is better on the drifted holdout,
and `hone rollback` must bring the old champion back.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from helpers.cli import HONE, run_hone
from sklearn.pipeline import Pipeline

from hone.config.load import load_config
from hone.maintain.retrain import retrain_runs
from hone.monitor.checks import Check, WindowReport
from hone.monitor.history import stored_alerts
from hone.monitor.runner import stored_windows
from hone.store.db import Store
from hone.store.registry import Registry

TARGET = "median_house_value"
NAME = "scenario"  # the project, and so the registered model's name
WINDOW_ROWS = 500  # monitor.window.rows
ROWS_PER_REQUEST = 10
PROJECT_ROWS = 6000  # the project's data file (4,800 training rows, 1,200 locked test rows)
CLEAN_PREFIX = 1000  # every faulty stream starts with these clean rows: 2 windows that must stay quiet
# Window budgets: the alert must come in one of the first N complete windows after the fault starts.
# A broken sensor and a stale feed show in the inputs, so the first faulty window already gives them
# away; one more window is allowed for a fault that starts inside a window. Concept drift shows only in
# the labels of one region (about 44% of the rows), so it gets one window more to be significant.
BROKEN_SENSOR_WINDOWS = 2
STALE_FEED_WINDOWS = 2
CONCEPT_DRIFT_WINDOWS = 3
DRIFTED_REGION = "<1H OCEAN"  # the largest region
DRIFT_FACTOR = 1.3
STALE_BATCH = 100  # rows of the batch a stale feed keeps sending
STALE_REPEATS = 15
TOKEN = "scenario-token"

CONFIG = """\
project: scenario
data: {path: data.csv, target: median_house_value}
split: {test_size: 0.2, stratify: median_income, bins: [0, 1.5, 3.0, 4.5, 6.0, .inf], seed: 42}
prepare:
  categorical: [ocean_proximity]
  derived:
    rooms_per_hhold: total_rooms / households
    pop_per_hhold: population / households
    bedrooms_per_room: total_bedrooms / total_rooms
search: {cv: 3, scoring: neg_mean_squared_error, n_jobs: 1, random_state: 42}
models:
  - name: forest
    estimator: sklearn.ensemble.RandomForestRegressor
    params: {random_state: 42}
    grid: {n_estimators: [30], max_features: [4, 6]}
store: store.db
monitor:
  window: {rows: 500}
  performance: {max_drop: 0.2, min_labels: 50}
  alerts: {cooldown: 1h, channels: [{kind: log}]}
retrain: {holdout: 0.3, margin: 0.0, confidence: 0.95, n_bootstrap: 1000}
"""


@dataclass(frozen=True)
class Launched:
    folder: Path  # the tuned, evaluated and registered project: copied, never served itself
    pool: pd.DataFrame  # labelled housing rows the project never saw, in a fixed random order


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory, housing: pd.DataFrame) -> Launched:
    # The raw file is sorted by district: shuffle it so that the project's rows and the streamed ones
    # come from the same distribution. ISLAND (5 rows) is too rare for a slice's schema to know.
    rows = housing[housing["ocean_proximity"] != "ISLAND"]
    rows = rows.iloc[np.random.default_rng(0).permutation(len(rows))].reset_index(drop=True)
    folder = tmp_path_factory.mktemp("scenario")
    rows.iloc[:PROJECT_ROWS].to_csv(folder / "data.csv", index=False)
    config = folder / "hone.yaml"
    config.write_text(CONFIG)
    for command in (
        ["tune", str(config), "--quiet"],
        ["evaluate", "forest", "-c", str(config), "--final"],  # the test interval monitoring compares with
        ["register", "forest", "-c", str(config)],
    ):
        done = run_hone(*command, cwd=folder)
        assert done.returncode == 0, f"hone {command[0]}: {done.stderr}"
    assert registry_of(config).aliases(NAME) == {"champion": 1}
    return Launched(folder, rows.iloc[PROJECT_ROWS:].reset_index(drop=True))


def own_copy(launched: Launched, where: Path) -> Path:
    """A scenario's own project folder: its store, artifacts and log see only its own traffic."""
    shutil.copytree(launched.folder, where)
    return where / "hone.yaml"


def registry_of(config: Path) -> Registry:
    project = load_config(config)
    return Registry(Store(project.store_url), project.artifacts_url)


# -- traffic -----------------------------------------------------------------------------------------------


def serve_stream(config: Path, frame: pd.DataFrame) -> None:
    """Start `hone serve`, send ``frame`` in small requests with each request's labels, stop with SIGTERM."""
    with (config.parent / "serve.err").open("w") as errors:
        server = subprocess.Popen(
            [HONE, "serve", "-c", str(config), "--port", "0"],
            cwd=config.parent,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=os.environ | {"HONE_TOKEN": TOKEN},
        )
        try:
            assert server.stdout is not None
            first = server.stdout.readline()  # "serving scenario v1 (...) at http://127.0.0.1:PORT ..."
            assert f"serving {NAME} v1" in first and " at http://127.0.0.1:" in first, first
            send(first.split(" at ", 1)[1].split()[0], frame)
        finally:
            server.send_signal(signal.SIGTERM)
            out, _ = server.communicate(timeout=60)
    assert server.returncode == 0, (config.parent / "serve.err").read_text()
    # The log is flushed on stop: every prediction is in it before `hone monitor` reads it.
    assert f"stopped; {len(frame):,} prediction(s) written to the log" in out


def send(url: str, frame: pd.DataFrame) -> None:
    """Each request's rows to /predict, then their true labels to /feedback (with the bearer token)."""
    features = frame.drop(columns=TARGET)
    records = features.astype(object).where(features.notna(), None).to_dict("records")
    labels = frame[TARGET].tolist()
    with httpx.Client(base_url=url, timeout=30) as client:
        for start in range(0, len(records), ROWS_PER_REQUEST):
            answer = client.post("/predict", json={"records": records[start : start + ROWS_PER_REQUEST]})
            ids = answer.raise_for_status().json()["ids"]
            feedback = [
                {"id": id_, "label": label}
                for id_, label in zip(ids, labels[start : start + ROWS_PER_REQUEST], strict=True)
            ]
            client.post(
                "/feedback", json={"feedback": feedback}, headers={"Authorization": f"Bearer {TOKEN}"}
            ).raise_for_status()


def monitor(config: Path) -> list[WindowReport]:
    """`hone monitor` once over everything served; the stored windows, oldest first."""
    done = run_hone("monitor", "-c", str(config), cwd=config.parent)
    assert done.returncode == 0, done.stderr
    project = load_config(config)
    windows = stored_windows(Store(project.store_url), NAME)
    summary = done.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"monitor {NAME}: {len(windows)} new window(s)"), done.stdout
    return windows


def first_window(windows: list[WindowReport], fires: Callable[[Check], bool]) -> int | None:
    """The 1-based number of the first window with a failed check that ``fires`` picks out."""
    for number, window in enumerate(windows, start=1):
        if any(fires(check) for check in window.failed):
            return number
    return None


def assert_raised(
    config: Path, windows: list[WindowReport], fires: Callable[[Check], bool], budget: int, what: str
) -> int:
    """The fault's alert fired within ``budget`` windows of the fault's start, and none fired before it."""
    fault_starts = CLEAN_PREFIX // WINDOW_ROWS + 1
    assert [check.key for window in windows[: fault_starts - 1] for check in window.failed] == []
    number = first_window(windows, fires)
    assert number is not None, f"{what}: no window raised it; failed: {[w.failed for w in windows]}"
    assert fault_starts <= number < fault_starts + budget, f"{what}: raised in window {number}"
    # The failed check became a stored (and delivered) alert for that window.
    window = windows[number - 1]
    keys = {check.key for check in window.failed if fires(check)}
    project = load_config(config)
    alerts = [a for a in stored_alerts(Store(project.store_url), NAME) if a.window_end == window.end]
    assert keys <= {alert.key for alert in alerts}
    assert all(alert.delivered == ["log"] for alert in alerts if alert.key in keys)
    print(f"{what}: alert in window {number} (fault from window {fault_starts}): {sorted(keys)}")
    return number


def clean_prefix(pool: pd.DataFrame) -> pd.DataFrame:
    return pool.iloc[:CLEAN_PREFIX]


def rmse(pipeline: Pipeline, rows: pd.DataFrame) -> float:
    predicted = pipeline.predict(rows.drop(columns=TARGET))
    return float(np.sqrt(np.mean((predicted - rows[TARGET].to_numpy()) ** 2)))


# -- the scenarios ----------------------------------------------------------------------------------------


def test_a_clean_stream_raises_no_alert(launched: Launched, tmp_path: Path):
    config = own_copy(launched, tmp_path / "clean")
    serve_stream(config, launched.pool.iloc[: 4 * WINDOW_ROWS])

    windows = monitor(config)
    assert len(windows) == 4 and all(window.n_rows == WINDOW_ROWS for window in windows)
    # Every window had enough labels for a verdict on live performance, and passed it.
    assert all(window.performance is not None for window in windows)
    assert [check.key for window in windows for check in window.failed] == []
    listed = run_hone("alerts", "-c", str(config), cwd=config.parent)
    assert listed.returncode == 0 and listed.stdout == f"no alert stored for model {NAME!r}\n"


def test_a_broken_sensor_raises_an_alert_on_median_income(launched: Launched, tmp_path: Path):
    config = own_copy(launched, tmp_path / "sensor")
    pool = launched.pool
    broken = pool.iloc[CLEAN_PREFIX : CLEAN_PREFIX + 3 * WINDOW_ROWS].copy()
    low, high = pool["median_income"].min(), pool["median_income"].max()
    broken["median_income"] = np.random.default_rng(1).uniform(low, high, len(broken))
    serve_stream(config, pd.concat([clean_prefix(pool), broken]))

    windows = monitor(config)
    assert len(windows) == 5
    assert_raised(
        config,
        windows,
        lambda check: check.feature == "median_income",
        BROKEN_SENSOR_WINDOWS,
        "broken sensor",
    )


def test_a_stale_feed_raises_the_duplicate_rows_alert(launched: Launched, tmp_path: Path):
    config = own_copy(launched, tmp_path / "stale")
    pool = launched.pool
    batch = pool.iloc[CLEAN_PREFIX : CLEAN_PREFIX + STALE_BATCH]
    serve_stream(config, pd.concat([clean_prefix(pool), *[batch] * STALE_REPEATS]))

    windows = monitor(config)
    assert len(windows) == 5
    assert_raised(
        config, windows, lambda check: check.name == "duplicate_rows", STALE_FEED_WINDOWS, "stale feed"
    )


def test_concept_drift_alerts_then_retrain_promotes_a_better_challenger_and_rollback_restores(
    launched: Launched, tmp_path: Path
):
    config = own_copy(launched, tmp_path / "drift")
    pool = launched.pool
    drifted = pool.iloc[CLEAN_PREFIX : CLEAN_PREFIX + 4 * WINDOW_ROWS].copy()
    region = drifted["ocean_proximity"] == DRIFTED_REGION
    drifted.loc[region, TARGET] *= DRIFT_FACTOR
    stream = pd.concat([clean_prefix(pool), drifted], ignore_index=True)
    serve_stream(config, stream)

    windows = monitor(config)
    assert len(windows) == 6
    assert_raised(
        config,
        windows,
        lambda check: check.kind == "performance" and check.name in ("rmse", "bias"),
        CONCEPT_DRIFT_WINDOWS,
        "concept drift",
    )

    retrained = run_hone("retrain", "-c", str(config), "--quiet", cwd=config.parent)
    assert retrained.returncode == 0, retrained.stderr
    assert "data quality of the 3,000 new rows: passed" in retrained.stdout
    assert "decision: promoted v2 to champion" in retrained.stdout
    registry = registry_of(config)
    assert registry.aliases(NAME) == {"champion": 2, "challenger": 2}
    [decision] = retrain_runs(Store(load_config(config).store_url), NAME)
    assert decision.promoted and (decision.champion, decision.challenger) == (1, 2)
    assert decision.gate is not None and decision.gate.n == 900  # 30% of the 3,000 labelled rows
    assert decision.gate.challenger_loss < decision.gate.champion_loss
    # Independently of the gate: on the holdout (the most recent 30% of the labelled rows, all drifted),
    # the challenger's RMSE is lower than the champion's.
    holdout = stream.iloc[-decision.gate.n :]
    old, new = registry.load(registry.get(NAME, 1)), registry.load(registry.get(NAME, 2))
    assert rmse(new, holdout) < rmse(old, holdout)

    back = run_hone("rollback", "-c", str(config), "--reason", "scenario: back to v1", cwd=config.parent)
    assert back.returncode == 0, back.stderr
    assert f"rollback: {NAME} champion v2 → v1" in back.stdout
    assert registry.aliases(NAME)["champion"] == 1
    assert registry.history(NAME)[-1].action == "rollback"
