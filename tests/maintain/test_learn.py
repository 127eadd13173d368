"""`hone learn`: a real Pipeline(prepare, SGDRegressor) in a tmp store learns logged feedback in snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import SGDRegressor
from sklearn.pipeline import Pipeline
from typer.testing import CliRunner

from hone.cli.main import app
from hone.cli.maintain import learn_report
from hone.config.load import load_config
from hone.config.schema import ProjectConfig
from hone.data import PrepareSpec, build_preparation
from hone.data.profile import ReferenceProfile
from hone.data.schema import FeatureSchema
from hone.errors import HoneError
from hone.maintain.learn import ONLINE, learn
from hone.store.db import Store
from hone.store.logbook import PredictionLog
from hone.store.registry import Registry

TARGET = "median_house_value"
DERIVED = {"rooms_per_hhold": "total_rooms / households", "pop_per_hhold": "population / households"}
START = datetime(2030, 1, 1, tzinfo=timezone.utc)  # after registration: feedback before it is not learned
LATER = START + timedelta(days=30)


@dataclass
class Online:
    config: ProjectConfig
    store: Store
    registry: Registry
    schema: FeatureSchema
    production: pd.DataFrame  # rows not trained on, with the target in units of $100k, drifted up 30%
    logged: int = 0

    def log(self, n: int, *, batch: int = 50) -> None:
        """Serve the next ``n`` production rows and label them, in requests of ``batch`` rows."""
        rows = self.production.iloc[self.logged : self.logged + n]
        log = PredictionLog(self.config.log_dir, self.config.model_name, flush_seconds=60)
        for offset in range(0, len(rows), batch):
            part = rows.iloc[offset : offset + batch]
            number = self.logged + offset
            ids = [f"p{number + i:05d}" for i in range(len(part))]
            records = part.drop(columns=TARGET).to_dict("records")
            served = START + timedelta(minutes=number)
            log.log_predictions(
                ids, 1, self.schema.check_records(records), np.zeros(len(part)), served, schema=self.schema
            )
            log.log_feedback(ids, part[TARGET].tolist(), served + timedelta(seconds=30))
        log.close()
        self.logged += n


def project(tmp_path: Path, learn: str = "{batch_rows: 64, snapshot_rows: 400}") -> ProjectConfig:
    (tmp_path / "hone.yaml").write_text(
        "project: online\n"
        "data: {path: data.csv, target: median_house_value}\n"
        "models: [{name: sgd, estimator: sklearn.linear_model.SGDRegressor, grid: {alpha: [0.0001]}}]\n"
        "store: store.db\n"
        f"learn: {learn}\n"
    )
    return load_config(tmp_path / "hone.yaml")


def register_champion(config: ProjectConfig, housing_split, estimator: object) -> Online:
    # Shuffled training rows (the raw file is sorted by district); ISLAND is too rare for a 1,500-row slice.
    housing = housing_split.train[housing_split.train["ocean_proximity"] != "ISLAND"]
    train = housing.iloc[:1500].assign(**{TARGET: housing[TARGET].iloc[:1500] / 1e5})
    X, y = train.drop(columns=TARGET), train[TARGET]
    spec = PrepareSpec(categorical=["ocean_proximity"], derived=DERIVED)
    preparation = build_preparation(spec, train, TARGET)
    pipeline = Pipeline([("prepare", preparation), ("model", estimator)]).fit(X, y)
    numeric = [c for c in X.columns if c != "ocean_proximity"]
    schema = FeatureSchema.from_frame(X, target=TARGET, imputed=numeric)
    profile = ReferenceProfile.build(X, schema, y=y, predictions=pipeline.predict(X))
    store = Store(config.store_url)
    registry = Registry(store, config.artifacts_url)
    version = registry.register(
        config.model_name, pipeline, task="regression", schema=schema, profile=profile.to_dict(),
        params={"alpha": 1e-4}, metrics={}, data={"n_rows": len(X)},
        source={"project": "online", "model": "sgd"},
    )
    registry.promote(config.model_name, version.version, reason="base model")
    production = housing.iloc[1500:3500].copy()
    production[TARGET] = production[TARGET] / 1e5 * 1.3  # prices went up: there is something to learn
    return Online(config, store, registry, schema, production)


@pytest.fixture()
def online(tmp_path: Path, housing_split) -> Online:
    return register_champion(project(tmp_path), housing_split, SGDRegressor(random_state=0))


def test_snapshots_at_the_configured_row_counts_and_learning_resumes_after_the_last_one(online: Online):
    online.log(1000)
    first = learn(online.config, online.store, now=LATER)
    assert first.start == 1 and first.restarted
    assert [(s.version, s.rows, s.rows_seen) for s in first.snapshots] == [(2, 400, 400), (3, 400, 800)]
    assert first.rows_read == 1000 and first.rows_pending == 200 and first.rows_unusable == 0

    registry, name = online.registry, online.config.model_name
    v2, v3 = registry.get(name, 2), registry.get(name, 3)
    assert (v2.source["kind"], v2.source["from_version"], v3.source["from_version"]) == (ONLINE, 1, 2)
    assert v3.source["position"]["prediction_id"] == "p00799"  # the 800th labelled row, in feedback order
    assert v3.source["model"] == "sgd" and v3.source["line_start"] == 1
    assert v3.metrics["online"]["metric"] == "RMSE" and v3.metrics["online"]["progressive"] > 0
    aliases = registry.aliases(name)
    assert aliases["online"] == 3 and aliases["champion"] == 1  # snapshots are not promoted by default

    # Only whole snapshots count as learned: the 200 pending rows are read again, after v3's position.
    online.log(300)
    second = learn(online.config, online.store, now=LATER)
    assert second.start == 3 and not second.restarted
    assert second.rows_read == 500
    assert [(s.version, s.rows_seen) for s in second.snapshots] == [(4, 1200)]
    assert second.rows_pending == 100
    assert registry.get(name, 4).source["from_version"] == 3

    again = learn(online.config, online.store, now=LATER)
    assert again.snapshots == [] and again.rows_read == 100  # nothing new: only the pending rows


def test_a_snapshot_predicts_differently_but_transforms_with_the_base_preparation(online: Online):
    online.log(800)
    learn(online.config, online.store, now=LATER)
    registry, name = online.registry, online.config.model_name
    base, snapshot = registry.load(registry.get(name, 1)), registry.load(registry.get(name, 3))
    rows = online.production.iloc[:800].drop(columns=TARGET)
    truth = online.production[TARGET].iloc[:800].to_numpy()
    # The preparation was never refit: the same rows become the same matrix.
    np.testing.assert_array_equal(base[:-1].transform(rows), snapshot[:-1].transform(rows))
    before, after = base.predict(rows), snapshot.predict(rows)
    assert not np.allclose(before, after)
    assert after.mean() > before.mean()  # it learned that prices went up
    assert np.sqrt(np.mean((after - truth) ** 2)) < np.sqrt(np.mean((before - truth) ** 2))


def test_any_snapshot_can_be_promoted_and_learning_follows_the_champion(online: Online):
    online.log(1000)
    learn(online.config, online.store, now=LATER)  # snapshots v2 (400 rows), v3 (800 rows)
    registry, name = online.registry, online.config.model_name
    registry.promote(name, 2, reason="v3 looked odd")
    # The champion moved: learning restarts from it, at its own position (after row 400).
    branch = learn(online.config, online.store, now=LATER)
    assert branch.start == 2 and branch.restarted
    assert [(s.version, s.rows_seen) for s in branch.snapshots] == [(4, 800)]
    assert registry.get(name, 4).source["from_version"] == 2

    move = registry.rollback(name, reason="back to the base")
    assert (move.from_version, move.to_version) == (2, 1)
    restarted = learn(online.config, online.store, now=LATER, promote=True)
    assert restarted.start == 1 and [s.rows_seen for s in restarted.snapshots] == [400, 800]
    assert registry.aliases(name)["champion"] == restarted.snapshots[-1].version


def test_time_triggered_snapshots_use_feedback_time(tmp_path: Path, housing_split):
    config = project(tmp_path, "{batch_rows: 64, snapshot_rows: null, snapshot_every: 3h}")
    online = register_champion(config, housing_split, SGDRegressor(random_state=0))
    online.log(600, batch=1)  # one row a minute: 10 hours of feedback
    outcome = learn(config, online.store, now=LATER)
    spans = [s.position.ts for s in outcome.snapshots]
    assert len(spans) == 3  # after 3, 6 and 9 hours of feedback; the last hour is pending
    gaps = [later - earlier for earlier, later in zip([START, *spans[:-1]], spans, strict=True)]
    assert all(gap >= timedelta(hours=3) for gap in gaps)
    assert outcome.rows_pending > 0


def test_feedback_newer_than_now_is_left_for_later(online: Online):
    online.log(500)
    early = learn(online.config, online.store, now=START + timedelta(minutes=100))
    assert early.rows_read <= 100 and early.snapshots == []


def test_a_champion_without_partial_fit_is_a_one_line_error(tmp_path: Path, housing_split):
    config = project(tmp_path)
    online = register_champion(config, housing_split, RandomForestRegressor(n_estimators=5, random_state=0))
    with pytest.raises(HoneError) as raised:
        learn(config, online.store, now=LATER)
    message = str(raised.value)
    assert "RandomForestRegressor has no partial_fit" in message and "v1" in message
    assert "\n" not in message


def test_the_command_reports_what_was_learned(online: Online):
    path = online.config.config_path
    quiet = CliRunner().invoke(app, ["learn", "-c", str(path)])  # no feedback yet: nothing to learn
    assert quiet.exit_code == 0, quiet.output
    assert "learning online from v1 (the champion)" in quiet.output
    assert "read 0 new labelled rows" in quiet.output

    online.log(1000)
    console = Console(record=True, width=160)
    learn_report(console, learn(online.config, online.store, now=LATER), path)
    text = console.export_text()
    assert "snapshot v2: +400 rows (400 in all), progressive RMSE" in text
    assert "snapshot v3: +400 rows (800 in all)" in text
    assert "pending: 200 rows not in a snapshot yet" in text
    assert f"alias online → v3; serve it with: hone promote online 3 -c {path}" in text


def test_the_command_refuses_a_model_that_cannot_learn_online(tmp_path: Path, housing_split):
    config = project(tmp_path)
    register_champion(config, housing_split, RandomForestRegressor(n_estimators=5, random_state=0))
    result = CliRunner().invoke(app, ["learn", "-c", str(config.config_path)])
    assert result.exit_code == 2
    assert "RandomForestRegressor has no partial_fit" in result.output
