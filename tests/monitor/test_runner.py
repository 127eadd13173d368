"""`run_monitor`, `hone monitor` and `hone alerts` on a real store, registry, prediction log and receiver."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import Pipeline
from typer.testing import CliRunner

from hone.cli.main import app
from hone.config.load import load_config
from hone.config.schema import ProjectConfig
from hone.data import PrepareSpec, build_preparation
from hone.data.profile import ReferenceProfile
from hone.data.schema import FeatureSchema
from hone.errors import StoreError
from hone.monitor import backlog, runner
from hone.monitor.checks import cut_windows, report_window
from hone.monitor.history import StoredWindow, save_windows, stored_alerts
from hone.monitor.performance import window_estimate
from hone.monitor.quality import WindowCounts, row_sketch
from hone.monitor.runner import run_monitor, stored_windows
from hone.store.db import Store
from hone.store.logbook import PredictionIds, PredictionLog, compact, read_feedback, read_predictions
from hone.store.registry import Registry

TARGET = "median_house_value"
SPEC = PrepareSpec(
    categorical=["ocean_proximity"],
    derived={
        "rooms_per_hhold": "total_rooms / households",
        "pop_per_hhold": "population / households",
        "bedrooms_per_room": "total_bedrooms / total_rooms",
    },
)
WINDOW_ROWS = 500
BATCH = 150  # rows per logged request: window boundaries fall inside requests (rows sharing a timestamp)
START = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
LATER = START + timedelta(days=1)


# -- a registered model and its traffic --------------------------------------------------------------------


@dataclass
class Fitted:
    schema: FeatureSchema
    profile: dict[str, Any]
    good: Pipeline
    bad: Pipeline  # trained on inflated prices: live RMSE far beyond the good one's test interval
    test: dict[str, Any]
    stream: pd.DataFrame  # training-distribution rows neither model was fitted on


def _forest(train: pd.DataFrame, y: pd.Series) -> Pipeline:
    prepare = build_preparation(SPEC, train, TARGET)
    model = RandomForestRegressor(n_estimators=20, max_features=8, random_state=42, n_jobs=1)
    return Pipeline([("prepare", prepare), ("model", model)])


@pytest.fixture(scope="module")
def fitted(housing_split) -> Fitted:
    train = housing_split.train.iloc[:2000]
    X, y = train.drop(columns=TARGET), train[TARGET]
    numeric = [c for c in X.columns if c != "ocean_proximity"]
    schema = FeatureSchema.from_frame(X, target=TARGET, imputed=numeric)
    good = _forest(train, y).fit(X, y)
    bad = _forest(train, y).fit(X, y * 1.6)
    predictions = cross_val_predict(_forest(train, y), X, y, cv=3)
    profile = ReferenceProfile.build(X, schema, y=y, predictions=predictions).to_dict()
    holdout = housing_split.train.iloc[2000:2600]
    estimate = window_estimate(holdout[TARGET].to_numpy(), good.predict(holdout.drop(columns=TARGET)), "rmse")
    test = {
        "metrics": {"rmse": estimate.value},
        "bootstrap": {"rmse": [estimate.low, estimate.high]},
        "rmse_t_interval": [estimate.low, estimate.high],
    }
    return Fitted(schema, profile, good, bad, test, housing_split.train.iloc[3000:6000])


@dataclass
class Project:
    path: Path
    config: ProjectConfig
    store: Store
    registry: Registry
    clock: datetime = START  # when the next logged request arrives

    def log(
        self,
        frame: pd.DataFrame,
        pipeline: Pipeline,
        version: int,
        schema: FeatureSchema,
        *,
        labelled: bool = True,
    ) -> list[str]:
        """Serve ``frame`` in requests of BATCH rows through the real log writer, with feedback labels."""
        log = PredictionLog(self.config.log_dir, self.config.model_name)
        records = frame.drop(columns=TARGET).to_dict("records")
        served: list[str] = []
        for first in range(0, len(records), BATCH):
            rows = schema.check_records(records[first : first + BATCH])
            predictions = pipeline.predict(schema.frame_from_rows(rows))
            ids = [uuid.uuid4().hex for _ in rows]
            served += ids
            log.log_predictions(ids, version, rows, predictions, self.clock, schema=schema)
            if labelled:
                labels = frame[TARGET].iloc[first : first + BATCH].tolist()
                log.log_feedback(ids, labels, self.clock + timedelta(seconds=30))
            self.clock += timedelta(minutes=1)
        log.close()
        return served

    def feedback(self, ids: list[str], labels: list[float]) -> None:
        log = PredictionLog(self.config.log_dir, self.config.model_name)
        log.log_feedback(ids, labels, self.clock)
        log.close()


def make_project(
    folder: Path,
    fitted: Fitted,
    *,
    channels: list[dict[str, Any]],
    promote: bool = True,
    store: str = "hone.db",
    **monitor: Any,
) -> Project:
    document = {
        "project": "housing",
        "data": {"dataset": "housing", "target": TARGET},
        "models": [
            {
                "name": "forest",
                "estimator": "sklearn.ensemble.RandomForestRegressor",
                "grid": {"n_estimators": [20]},
            }
        ],
        "store": store,
        "serve": {"log": "log"},
        "monitor": {
            "window": {"rows": WINDOW_ROWS},
            "performance": {"min_labels": 100},
            "alerts": {"cooldown": "1h", "channels": channels},
            **monitor,
        },
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hone.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    config = load_config(path)
    store = Store(config.store_url)
    registry = Registry(store, config.artifacts_url)
    register(registry, fitted, fitted.good)
    if promote:
        registry.promote("housing", 1, reason="first")
    return Project(path, config, store, registry)


def register(registry: Registry, fitted: Fitted, pipeline: Pipeline) -> int:
    version = registry.register(
        "housing",
        pipeline,
        task="regression",
        schema=fitted.schema,
        profile=fitted.profile,
        params={"n_estimators": 20},
        metrics={"cv": {"metric": "RMSE", "score": 50_000.0}, "test": fitted.test},
        data={"sha256": "00" * 32, "n_rows": 2000},
        source={"project": "housing", "model": "forest", "study": "s", "candidate": 0},
    )
    return version.version


def broken_sensor(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    broken = frame.copy()
    broken["median_income"] = np.random.default_rng(seed).uniform(0.5, 15.0, len(frame))
    return broken


# -- a real HTTP receiver --------------------------------------------------------------------------------


@dataclass
class Receiver:
    url: str = ""
    bodies: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    record = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            record.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    record.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield record
    server.shutdown()
    server.server_close()


def closed_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/nobody"


# -- the run ---------------------------------------------------------------------------------------------


def test_clean_traffic_is_checked_once_per_complete_window_and_a_rerun_stores_nothing(
    tmp_path, fitted, store_url
):
    project = make_project(tmp_path, fitted, channels=[{"kind": "log"}], store=store_url)
    project.log(fitted.stream.iloc[:1100], fitted.good, 1, fitted.schema)

    run = run_monitor(project.config, project.store, now=LATER)
    assert [w.n_rows for w in run.windows] == [500, 500] and run.versions == [1, 1]
    assert run.pending_rows == 100
    assert all(w.n_labelled == 500 and w.performance is not None for w in run.windows)
    assert run.windows[0].performance.metric == "rmse"
    assert run.alerts == [] and all(not w.failed for w in run.windows)
    assert [w.to_dict() for w in stored_windows(project.store, "housing")] == [
        w.to_dict() for w in run.windows
    ]

    again = run_monitor(project.config, project.store, now=LATER)
    assert again.windows == [] and again.alerts == [] and again.pending_rows == 100
    assert len(stored_windows(project.store, "housing")) == 2

    # The next run starts right after the last stored row, inside a request that straddled a window edge.
    project.log(fitted.stream.iloc[1100:1500], fitted.good, 1, fitted.schema)
    more = run_monitor(project.config, project.store, now=LATER)
    assert [w.n_rows for w in more.windows] == [500] and more.pending_rows == 0
    stored = stored_windows(project.store, "housing")
    assert sum(w.n_rows for w in stored) == 1500  # every logged row in exactly one window
    assert [w.start <= w.end for w in stored] == [True] * 3
    assert all(a.end <= b.start for a, b in zip(stored, stored[1:], strict=False))
    assert stored_windows(project.store, "housing", limit=1)[0].to_dict() == more.windows[0].to_dict()


def test_a_feed_resending_the_last_windows_rows_alerts_in_the_next_run(tmp_path, fitted, store_url):
    project = make_project(tmp_path, fitted, channels=[{"kind": "log"}], store=store_url)
    project.log(fitted.stream.iloc[:500], fitted.good, 1, fitted.schema)
    first = run_monitor(project.config, project.store, now=LATER)
    # Nothing to compare the first window with.
    assert "quality:repeated_rows:*" not in {c.key for c in first.windows[0].checks}

    project.log(fitted.stream.iloc[500:1000], fitted.good, 1, fitted.schema)
    clean = run_monitor(project.config, project.store, now=LATER)
    repeated = {c.key: c for c in clean.windows[0].checks}["quality:repeated_rows:*"]
    assert repeated.value == 0.0 and not repeated.failed and clean.alerts == []

    # Yesterday's rows again, each once: nothing repeats within the window, all of it repeats the last one.
    project.log(fitted.stream.iloc[500:1000], fitted.good, 1, fitted.schema)
    stale = run_monitor(project.config, project.store, now=LATER)
    checks = {c.key: c for c in stale.windows[0].checks}
    assert not checks["quality:duplicate_rows:*"].failed
    assert checks["quality:repeated_rows:*"].failed and checks["quality:repeated_rows:*"].value == 1.0
    assert [a.key for a in stale.alerts] == ["quality:repeated_rows:*"]
    assert "100.0% of rows repeat rows of the previous window" in stale.alerts[0].message


def test_the_last_feedback_label_of_a_prediction_wins(tmp_path, fitted):
    project = make_project(tmp_path, fitted, channels=[{"kind": "log"}])
    rows = fitted.stream.iloc[:500]
    ids = project.log(rows, fitted.good, 1, fitted.schema)
    project.feedback(ids, (rows[TARGET] * 3).tolist())  # a later correction, wildly different
    [window] = run_monitor(project.config, project.store, now=LATER).windows
    assert window.n_labelled == 500
    assert window.performance.value > 3 * window.performance.reference
    assert "performance:rmse:*" in [check.key for check in window.failed]


def test_a_broken_sensor_alerts_through_the_webhook_once_and_a_dead_receiver_does_not_stop_the_run(
    tmp_path, fitted, receiver
):
    channels = [{"kind": "webhook", "url": closed_url()}, {"kind": "webhook", "url": receiver.url}]
    project = make_project(tmp_path, fitted, channels=channels)
    project.log(fitted.stream.iloc[:500], fitted.good, 1, fitted.schema)
    project.log(broken_sensor(fitted.stream.iloc[500:1500]), fitted.good, 1, fitted.schema)

    run = run_monitor(project.config, project.store, now=LATER)
    clean, broken, still_broken = run.windows
    assert clean.failed == []
    keys = {check.key for check in broken.failed}
    assert any(key.endswith(":median_income") for key in keys), keys
    assert keys == {check.key for check in still_broken.failed}

    # Same keys within the cool-down: the second broken window's alerts are stored, not sent.
    first, second = run.alerts[: len(keys)], run.alerts[len(keys) :]
    assert [a.suppressed for a in first] == [False] * len(keys)
    assert [a.suppressed for a in second] == [True] * len(keys)
    assert sorted(body["key"] for body in receiver.bodies) == sorted(keys)
    assert all(len(a.delivered) == 1 and "ConnectError" in a.errors[0] for a in first)
    sensor = next(body for body in receiver.bodies if body["feature"] == "median_income")
    assert sensor["model"] == "housing" and sensor["version"] == 1
    assert sensor["window"] == {"start": broken.start.isoformat(), "end": broken.end.isoformat()}
    assert sensor["at"] == LATER.isoformat() and "median_income" in sensor["key"]
    assert [a.id for a in stored_alerts(project.store, "housing")] == [a.id for a in run.alerts]

    # An hour later the same problem is sent again.
    project.log(broken_sensor(fitted.stream.iloc[1500:2000], seed=1), fitted.good, 1, fitted.schema)
    later = run_monitor(project.config, project.store, now=LATER + timedelta(hours=2))
    assert later.alerts and not any(a.suppressed for a in later.alerts)


@pytest.mark.parametrize("v1_served", [False, True], ids=["against-test-interval", "against-live-windows"])
def test_auto_rollback_restores_the_previous_champion_when_the_new_one_is_wholly_worse(
    tmp_path, fitted, v1_served
):
    project = make_project(tmp_path, fitted, channels=[{"kind": "log"}])
    if v1_served:  # v1's own live windows are then the reference, not its test interval
        project.log(fitted.stream.iloc[2000:2500], fitted.good, 1, fitted.schema)
        assert run_monitor(project.config, project.store, now=LATER).alerts == []
    register(project.registry, fitted, fitted.bad)
    project.registry.promote("housing", 2, reason="looked better offline")
    project.log(fitted.stream.iloc[:500], fitted.bad, 2, fitted.schema)

    # Off by default: the performance alert fires, the champion stays.
    run = run_monitor(project.config, project.store, now=LATER)
    assert "performance:rmse:*" in [a.key for a in run.alerts]
    assert run.rollback is None and project.registry.alias_version("housing") == 2

    config = project.config.model_copy(
        update={"monitor": project.config.monitor.model_copy(update={"auto_rollback": True})}
    )
    project.log(fitted.stream.iloc[500:1000], fitted.bad, 2, fitted.schema)
    rolled = run_monitor(config, project.store, now=LATER + timedelta(minutes=5))
    assert project.registry.alias_version("housing") == 1
    assert rolled.rollback is not None and (rolled.rollback.from_version, rolled.rollback.to_version) == (
        2,
        1,
    )
    move = project.registry.history("housing")[-1]
    assert move.action == "rollback" and move.actor == "hone monitor" and "auto roll-back" in move.reason
    [action] = [a for a in rolled.alerts if a.kind == "rollback"]
    assert action.key == "rollback:champion:*" and not action.suppressed and action.delivered == ["log"]
    assert action.message.startswith("rolled champion back from v2 to v1: live rmse ")
    reference = "v1's last live window" if v1_served else "v1's test-set interval"
    assert reference in action.message, action.message

    # Once rolled back, nothing newer to distrust: no second roll-back on v2's late windows.
    project.log(fitted.stream.iloc[1000:1500], fitted.bad, 2, fitted.schema)
    calm = run_monitor(config, project.store, now=LATER + timedelta(minutes=10))
    assert calm.rollback is None and project.registry.alias_version("housing") == 1


def test_time_windows_are_checked_once_they_are_over(tmp_path, fitted):
    project = make_project(tmp_path, fitted, channels=[{"kind": "log"}], window={"every": "2m"})
    project.log(fitted.stream.iloc[:1000], fitted.good, 1, fitted.schema)  # a request a minute from 08:00

    early = run_monitor(project.config, project.store, now=START + timedelta(minutes=5))
    assert [(w.start, w.end, w.n_rows) for w in early.windows] == [
        (START, START + timedelta(minutes=2), 300),
        (START + timedelta(minutes=2), START + timedelta(minutes=4), 300),
    ]
    assert early.pending_rows == 400
    late = run_monitor(project.config, project.store, now=START + timedelta(minutes=10))
    assert [(w.start, w.n_rows) for w in late.windows] == [
        (START + timedelta(minutes=4), 300),
        (START + timedelta(minutes=6), 100),
    ]
    assert late.pending_rows == 0


def test_a_window_is_checked_only_once_its_labels_had_time_to_arrive(tmp_path, fitted):
    project = make_project(
        tmp_path,
        fitted,
        channels=[{"kind": "log"}],
        window={"every": "2m"},
        performance={"min_labels": 100, "label_delay": "3m"},
    )
    project.log(fitted.stream.iloc[:1000], fitted.good, 1, fitted.schema)
    early = run_monitor(project.config, project.store, now=START + timedelta(minutes=5))
    assert [w.end for w in early.windows] == [START + timedelta(minutes=2)]
    assert early.pending_rows == 700
    later = run_monitor(project.config, project.store, now=START + timedelta(minutes=7))
    assert [w.end for w in later.windows] == [START + timedelta(minutes=4)]


def test_a_window_spanning_a_promotion_is_checked_against_the_version_that_served_most_of_it(
    tmp_path, fitted
):
    project = make_project(tmp_path, fitted, channels=[{"kind": "log"}])
    register(project.registry, fitted, fitted.bad)
    project.log(fitted.stream.iloc[:300], fitted.good, 1, fitted.schema)
    project.log(fitted.stream.iloc[300:500], fitted.bad, 2, fitted.schema)
    run = run_monitor(project.config, project.store, now=LATER)
    [window] = run.windows
    assert window.versions == [1, 2] and run.versions == [1]
    assert all(alert.version == 1 for alert in run.alerts)


# -- reading big windows in chunks --------------------------------------------------------------------------


def interleaved_log(project: Project, fitted: Fitted) -> dict[str, list[str]]:
    """A log as several service processes and a compaction leave it, with late and repeated feedback.

    Two writers serve requests at the same moments, so rows tie on the timestamp within a merged file
    and across files; the first parts are merged by a compaction while a reader still sees one of the
    parts it replaced; a request gets no feedback; some labels are corrected later, twice at once.
    """
    schema, stream = fitted.schema, fitted.stream
    served = {"first": project.log(stream.iloc[:300], fitted.good, 1, schema)}
    project.clock = START
    served["second"] = project.log(stream.iloc[300:600], fitted.good, 1, schema)
    day = project.config.log_dir / "housing" / "predictions" / f"date={START.date().isoformat()}"
    kept = sorted(day.glob("part-*.parquet"))[0]
    replaced = kept.read_bytes()
    assert compact(day, parts=2)
    kept.write_bytes(replaced)  # a merged file's old part, not yet removed: it must not count twice
    later = project.clock
    served["third"] = project.log(stream.iloc[600:900], fitted.good, 1, schema)
    project.clock = later
    served["fourth"] = project.log(stream.iloc[900:1200], fitted.good, 1, schema)
    served["unlabelled"] = project.log(stream.iloc[1200:1350], fitted.good, 1, schema, labelled=False)
    corrected = served["first"][:100] + served["fourth"][:100]
    labels = stream[TARGET].iloc[[*range(100), *range(900, 1000)]]
    project.feedback(corrected, (labels * 2).tolist())
    project.feedback(corrected[50:], (labels.iloc[50:] * 3).tolist())  # same moment, logged last: wins
    return served


def frame_reports(project: Project, version: int = 1) -> list[dict[str, Any]]:
    """Each window checked the simple way: the whole log as one sorted frame, ``check_window`` per window."""
    config = project.config
    log = read_predictions(config.log_dir, "housing").to_pandas()
    log = log.sort_values(["ts", "prediction_id"], kind="stable").reset_index(drop=True)
    feedback = read_feedback(config.log_dir, "housing").to_pandas()
    latest = feedback.sort_values("ts", kind="stable").drop_duplicates("prediction_id", keep="last")
    labels = latest.set_index("prediction_id")["label"]
    model = project.registry.get("housing", version)
    reports = []
    previous = None  # the window before's row sketch
    for start, end, rows in cut_windows(log, config.monitor.window, now=LATER):
        known = rows["prediction_id"].map(labels)
        counts = WindowCounts(
            schema=model.schema,
            profile=ReferenceProfile.from_dict(model.profile),
            settings=config.monitor,
            task=model.task,
        )
        counts.add(
            rows, np.asarray(pd.to_numeric(known, errors="coerce") if model.task == "regression" else known)
        )
        report = report_window(
            counts, test_metrics=model.metrics.get("test"), start=start, end=end, previous_rows=previous
        )
        previous = row_sketch(counts.ordered_hashes())
        reports.append(report.to_dict())
    return reports


@pytest.mark.parametrize("chunk_rows", [backlog.CHUNK_ROWS, 128], ids=["window-in-one-chunk", "small-chunks"])
def test_windows_read_in_chunks_are_checked_as_the_whole_windows_frame_would_be(
    tmp_path, fitted, monkeypatch, chunk_rows
):
    for module in (runner, backlog):  # the reader and the window loop both step by it
        monkeypatch.setattr(module, "CHUNK_ROWS", chunk_rows)
    monkeypatch.setattr(backlog, "FEEDBACK_GROUP", 200)  # several feedback groups, corrections across them
    project = make_project(tmp_path, fitted, channels=[{"kind": "log"}])
    served = interleaved_log(project, fitted)
    run = run_monitor(project.config, project.store, now=LATER)
    assert [w.n_rows for w in run.windows] == [500, 500] and run.pending_rows == 350
    assert [w.n_labelled for w in run.windows] == [500, 500]  # the unlabelled request comes last
    # The rest of the log, after the cursor of the first run.
    more = project.log(fitted.stream.iloc[1350:1500], fitted.good, 1, fitted.schema)
    assert [w.n_rows for w in run_monitor(project.config, project.store, now=LATER).windows] == [500]
    logged = sum(len(ids) for ids in served.values()) + len(more)
    assert logged == 1500  # every row once: the part the merged file replaced is not read again

    stored = [w.to_dict() for w in stored_windows(project.store, "housing")]
    expected = frame_reports(project)
    assert [w["n_labelled"] for w in expected] == [500, 500, 350]
    if chunk_rows >= 500:
        assert stored == expected
        return

    # Small chunks: every number is the same, but for the most frequent value's share, which is counted
    # from the chunk where the value first leads (a lower bound; the verdicts agree).
    def comparable(report: dict[str, Any]) -> dict[str, Any]:
        checks = [
            {**c, "value": None, "message": None} if c["name"] == "stuck" else c for c in report["checks"]
        ]
        return {**report, "checks": checks}

    assert [comparable(w) for w in stored] == [comparable(w) for w in expected]


def test_a_classifiers_text_labels_are_joined_and_checked_as_the_whole_windows_frame_would_be(
    tmp_path, fitted, housing_split, monkeypatch
):
    monkeypatch.setattr(backlog, "FEEDBACK_GROUP", 200)  # corrections fall in other groups than the labels
    train = housing_split.train.iloc[:2000]
    X = train.drop(columns=TARGET)
    band = np.where(train[TARGET] > train[TARGET].median(), "high", "low")
    classifier = Pipeline(
        [("prepare", build_preparation(SPEC, train, TARGET)), ("model", LogisticRegression(max_iter=500))]
    )
    out_of_fold = cross_val_predict(classifier, X, band, cv=3)
    classifier.fit(X, band)
    profile = ReferenceProfile.build(X, fitted.schema, y=band, predictions=out_of_fold, task="classification")
    accuracy = float(np.mean(out_of_fold == band))
    project = make_project(tmp_path, fitted, channels=[{"kind": "log"}], promote=False)
    version = project.registry.register(
        "housing",
        classifier,
        task="classification",
        schema=fitted.schema,
        profile=profile.to_dict(),
        params={},
        metrics={"test": {"metrics": {"accuracy": accuracy}, "bootstrap": {"accuracy": [0.8, 0.9]}}},
        data={"sha256": "00" * 32, "n_rows": 2000},
        source={"project": "housing", "model": "logistic", "study": "s", "candidate": 0},
    ).version
    project.registry.promote("housing", version, reason="a classifier")

    stream = fitted.stream.iloc[:1100]
    truth = np.where(stream[TARGET] > train[TARGET].median(), "high", "low")
    records = stream.drop(columns=TARGET).to_dict("records")
    log = PredictionLog(project.config.log_dir, "housing")
    for first in range(0, len(records), BATCH):
        rows = fitted.schema.check_records(records[first : first + BATCH])
        ids = [uuid.uuid4().hex for _ in rows]
        predicted = classifier.predict(fitted.schema.frame_from_rows(rows))
        log.log_predictions(
            ids, version, rows, predicted, project.clock, schema=fitted.schema, task="classification"
        )
        if first % (2 * BATCH) == 0:  # every other request gets its labels, some of them corrected later
            labels = truth[first : first + BATCH].tolist()
            log.log_feedback(ids, labels, project.clock + timedelta(seconds=30), task="classification")
            flipped = ["low" if label == "high" else "high" for label in labels[:20]]
            log.log_feedback(ids[:20], flipped, project.clock + timedelta(minutes=5), task="classification")
        project.clock += timedelta(minutes=1)
    log.close()

    run = run_monitor(project.config, project.store, now=LATER)
    assert run.versions == [version, version]
    assert [w.performance.metric for w in run.windows] == ["accuracy", "accuracy"]
    assert 0 < run.windows[0].n_labelled < 500
    stored = [w.to_dict() for w in stored_windows(project.store, "housing")]
    assert stored == frame_reports(project, version)[:2]


def read_in_chunks(project: Project, columns: list[str], chunk_rows: int) -> tuple[pd.DataFrame, int]:
    """The backlog through the chunk reader, and the most rows it held at once between chunks."""
    log = backlog.Backlog.read(project.config.log_dir, "housing", None)
    reader = backlog.ChunkReader(log, columns)
    chunks, most_held = [], 0
    for first in range(0, log.n_rows, chunk_rows):
        chunks.append(reader.rows(first, min(log.n_rows, first + chunk_rows)).to_pandas())
        held = sum(batch.rows.num_rows for batches in reader._held.values() for batch in batches)
        most_held = max(most_held, held)
    reader.close()
    return pd.concat(chunks, ignore_index=True), most_held


def sorted_log(project: Project) -> pd.DataFrame:
    log = read_predictions(project.config.log_dir, "housing").to_pandas()
    return log.sort_values(["ts", "prediction_id"], kind="stable").reset_index(drop=True)


def test_the_chunk_reader_gives_the_rows_in_log_order_across_overlapping_files(tmp_path, fitted, monkeypatch):
    for module in (runner, backlog):
        monkeypatch.setattr(module, "CHUNK_ROWS", 50)
    project = make_project(tmp_path, fitted, channels=[{"kind": "log"}])
    interleaved_log(project, fitted)
    columns = [*fitted.schema.names, "prediction"]
    read, most_held = read_in_chunks(project, columns, 50)
    log = sorted_log(project)
    assert len(read) == len(log) == 1350
    shown = [*columns, "ts", "model_version"]
    pd.testing.assert_frame_equal(read[shown], log[shown], check_dtype=False)
    # The merged file holds one writer's 300 rows, then the other's, while the log's order alternates
    # between them: reading it front to back keeps rows until their turn comes, but no more.
    assert most_held <= 300 + 4 * 50, most_held


def test_reading_a_log_in_time_order_holds_at_most_two_batches(tmp_path, fitted, monkeypatch):
    for module in (runner, backlog):
        monkeypatch.setattr(module, "CHUNK_ROWS", 50)
    project = make_project(tmp_path, fitted, channels=[{"kind": "log"}])
    ids = PredictionIds()  # the service's ids: in serving order within a process
    records = fitted.stream.drop(columns=TARGET).to_dict("records")
    for first in range(0, 1200, 120):  # a part per request, as a quiet service writes them
        rows = fitted.schema.check_records(records[first : first + 120])
        log = PredictionLog(project.config.log_dir, "housing")
        predictions = fitted.good.predict(fitted.schema.frame_from_rows(rows))
        log.log_predictions(ids.take(len(rows)), 1, rows, predictions, project.clock, schema=fitted.schema)
        log.close()
        project.clock += timedelta(minutes=1)
    read, most_held = read_in_chunks(project, [*fitted.schema.names, "prediction"], 50)
    log = sorted_log(project)
    assert len(read) == 1200
    pd.testing.assert_frame_equal(read[["prediction", "ts"]], log[["prediction", "ts"]], check_dtype=False)
    assert 0 < most_held <= 2 * 50, most_held  # a chunk straddles at most two batches


def test_two_runs_storing_the_same_windows_collide_instead_of_storing_them_twice(tmp_path, fitted, store_url):
    project = make_project(tmp_path, fitted, channels=[{"kind": "log"}], store=store_url)
    project.log(fitted.stream.iloc[:500], fitted.good, 1, fitted.schema)
    [report] = run_monitor(project.config, project.store, now=LATER).windows
    # What a second run that read the same (empty) cursor would store:
    with pytest.raises(StoreError, match="another `hone monitor` run stored windows of model 'housing'"):
        save_windows(project.store, "housing", [StoredWindow(report, 1, report.end, ["x"])], None)
    assert len(stored_windows(project.store, "housing")) == 1


def test_what_is_missing_is_said_in_one_line(tmp_path, fitted):
    project = make_project(tmp_path / "a", fitted, channels=[{"kind": "log"}])
    with pytest.raises(
        StoreError, match=r"no prediction log of model 'housing' yet: serve it \(`hone serve`\)"
    ):
        run_monitor(project.config, project.store)

    registry = project.config.registry.model_copy(update={"name": "prices"})
    renamed = project.config.model_copy(update={"registry": registry})
    with pytest.raises(
        StoreError, match="no model named 'prices' in the registry: run `hone register` first"
    ):
        run_monitor(renamed, project.store)

    unpromoted = make_project(tmp_path / "b", fitted, channels=[{"kind": "log"}], promote=False)
    with pytest.raises(
        StoreError, match="model 'housing' has no champion: promote a version with `hone promote"
    ):
        run_monitor(unpromoted.config, unpromoted.store)


# -- the commands ----------------------------------------------------------------------------------------


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_hone_monitor_prints_windows_and_alerts_writes_the_page_and_exits_0(tmp_path, fitted):
    project = make_project(tmp_path, fitted, channels=[{"kind": "log"}])
    config = str(project.path)

    missing = invoke("monitor", "-c", config)
    assert missing.exit_code == 2
    assert missing.stderr.count("\n") == 1 and "no prediction log of model 'housing' yet" in missing.stderr

    project.clock = datetime.now(timezone.utc) - timedelta(hours=2)
    project.log(fitted.stream.iloc[:500], fitted.good, 1, fitted.schema)
    project.log(broken_sensor(fitted.stream.iloc[500:1200]), fitted.good, 1, fitted.schema)
    page = tmp_path / "site" / "monitor.html"
    result = invoke("monitor", "-c", config, "--report", str(page))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("window ") and " v1  500 rows  500 labelled  rmse " in lines[0]
    assert lines[0].endswith("failed: none")
    assert lines[1].startswith("window ") and "median_income" in lines[1]
    alerts = [line for line in lines if line.startswith("alert housing v1 ")]
    assert alerts and all(line.endswith("[delivered: log]") for line in alerts)
    assert lines[-2] == (
        f"monitor housing: 2 new window(s), {len(alerts)} alert(s) ({len(alerts)} sent, 0 suppressed); "
        "200 rows wait for the next window (500 rows)"
    )
    assert lines[-1] == f"wrote {page}"
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "hone monitor: housing" in html
    assert "Chart unavailable" not in html and html.count('<svg class="chart"') >= 3

    quiet = invoke("monitor", "-c", config, "--quiet")
    assert quiet.exit_code == 0 and quiet.stdout == ""

    listed = invoke("alerts", "-c", config, "--limit", "2")
    assert listed.exit_code == 0
    rows = listed.stdout.splitlines()
    assert len(rows) == 2 and all(" UTC  housing v1 " in row for row in rows)
    assert [row.split(" UTC  ", 1)[1] for row in rows] == [
        line.removeprefix("alert ") for line in alerts[-2:]
    ]


def test_hone_monitor_refuses_bad_input_with_exit_2(tmp_path, fitted):
    (tmp_path / "hone.yaml").write_text(
        "project: housing\ndata: {dataset: housing, target: median_house_value}\n"
        "models: [{name: f, estimator: sklearn.linear_model.Ridge, grid: {alpha: [1]}}]\n"
    )
    no_store = invoke("monitor", "-c", str(tmp_path / "hone.yaml"))
    assert no_store.exit_code == 2 and "the store does not exist yet" in no_store.stderr
    assert invoke("alerts", "-c", str(tmp_path / "hone.yaml")).exit_code == 2

    project = make_project(tmp_path / "p", fitted, channels=[{"kind": "log"}])
    bad_every = invoke("monitor", "-c", str(project.path), "--every", "soon")
    assert bad_every.exit_code == 2
    assert bad_every.stderr == "error: --every 'soon': not a duration like 90s, 10m, 1h or 7d\n"
    none = invoke("alerts", "-c", str(project.path))
    assert none.exit_code == 0 and none.stdout == "no alert stored for model 'housing'\n"

    renamed = project.path.read_text().replace("project: housing", "project: other")
    (tmp_path / "p" / "other.yaml").write_text(renamed)
    no_model = invoke("monitor", "-c", str(tmp_path / "p" / "other.yaml"))
    assert no_model.exit_code == 2
    assert no_model.stderr == "error: no model named 'other' in the registry: run `hone register` first\n"


def test_hone_monitor_every_loops_until_ctrl_c(tmp_path, fitted):
    project = make_project(tmp_path, fitted, channels=[{"kind": "log"}])
    project.clock = datetime.now(timezone.utc) - timedelta(hours=1)
    project.log(fitted.stream.iloc[:600], fitted.good, 1, fitted.schema)
    command = [
        sys.executable,
        "-c",
        "from hone.cli.main import main; main()",
        "monitor",
        "-c",
        str(project.path),
        "--every",
        "1s",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = [process.stdout.readline() for _ in range(2)]
        second = process.stdout.readline()  # the next run, a second later: nothing new
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert first[0].startswith("window ") and "500 rows" in first[0]
    assert first[1].startswith("monitor housing: 1 new window(s)")
    assert second == "monitor housing: no new complete window; 100 rows wait for the next window (500 rows)\n"
    assert process.returncode == 0 and err.strip().endswith("monitor stopped")
    assert len(stored_windows(project.store, "housing")) == 1
