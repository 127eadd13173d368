"""`hone retrain` on a real store, registry and Parquet prediction log: fresh data, the gate, the decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.ensemble import RandomForestRegressor
from sklearn.pipeline import Pipeline
from typer.testing import CliRunner

from hone.cli.main import app
from hone.config.load import load_config
from hone.config.schema import ProjectConfig
from hone.data import build_preparation
from hone.data.profile import ReferenceProfile
from hone.data.schema import FeatureSchema
from hone.data.training import load_training_set, prepare_spec
from hone.errors import HoneError
from hone.maintain.retrain import retrain, retrain_runs
from hone.store.db import Store, runs_table
from hone.store.logbook import PredictionLog
from hone.store.registry import Registry

TARGET = "median_house_value"
START = datetime(2030, 1, 1, tzinfo=timezone.utc)
CONFIG = """\
project: slice
data: {{path: data.csv, target: median_house_value}}
split: {{test_size: 0.2, stratify: median_income, bins: [0, 1.5, 3.0, 4.5, 6.0, .inf], seed: 42}}
prepare:
  categorical: [ocean_proximity]
  derived: {{rooms_per_hhold: total_rooms / households, pop_per_hhold: population / households}}
search: {{cv: 3, scoring: neg_mean_squared_error, n_jobs: 1, random_state: 42}}
models:
  - name: forest
    estimator: sklearn.ensemble.RandomForestRegressor
    params: {{n_estimators: 20, random_state: 0}}
    grid: {{max_features: [4, 6]}}
store: store.db
retrain: {{margin: {margin}, n_bootstrap: 1000{retrain}}}
"""


@dataclass
class Launched:
    path: Path
    config: ProjectConfig
    store: Store
    registry: Registry
    schema: FeatureSchema
    production: pd.DataFrame  # rows never in data.csv, served after launch

    @property
    def name(self) -> str:
        return self.config.model_name


@pytest.fixture(scope="module")
def rows(housing_split) -> pd.DataFrame:
    # Shuffled rows (the raw file is sorted by district); ISLAND is too rare for a slice's schema.
    train = housing_split.train
    return train[train["ocean_proximity"] != "ISLAND"].reset_index(drop=True)


def launch(folder: Path, rows: pd.DataFrame, *, margin: float = 0.0, retrain: str = "") -> Launched:
    """A project on 2,000 rows whose champion v1 is a small forest fitted on its 1,600 training rows."""
    rows.iloc[:2000].to_csv(folder / "data.csv", index=False)
    path = folder / "hone.yaml"
    path.write_text(CONFIG.format(margin=margin, retrain=retrain))
    config = load_config(path)
    training = load_training_set(config)
    preparation = build_preparation(prepare_spec(config), training.split.train, TARGET)
    forest = RandomForestRegressor(n_estimators=20, max_features=4, random_state=0)
    pipeline = Pipeline([("prepare", preparation), ("model", forest)]).fit(training.X, training.y)
    numeric = [name for name in training.X.columns if name != "ocean_proximity"]
    schema = FeatureSchema.from_frame(training.X, target=TARGET, imputed=numeric)
    predictions = pipeline.predict(training.X)
    profile = ReferenceProfile.build(training.X, schema, y=training.y, predictions=predictions)
    store = Store(config.store_url)
    registry = Registry(store, config.artifacts_url)
    version = registry.register(
        config.model_name, pipeline, task="regression", schema=schema, profile=profile.to_dict(),
        params={"max_features": 4}, metrics={}, data={"n_rows": len(training.X)},
        source={"project": "slice", "model": "forest"},
    )
    registry.promote(config.model_name, version.version, reason="launch")
    return Launched(path, config, store, registry, schema, rows.iloc[2000:5000].reset_index(drop=True))


def serve(launched: Launched, production: pd.DataFrame) -> None:
    """Log the champion's predictions of ``production`` and their labels, 100 rows a request."""
    champion = launched.registry.load(launched.registry.get(launched.name))
    log = PredictionLog(launched.config.log_dir, launched.name, flush_seconds=60)
    for offset in range(0, len(production), 100):
        part = production.iloc[offset : offset + 100]
        ids = [f"p{offset + i:05d}" for i in range(len(part))]
        features = part.drop(columns=TARGET)
        served = START + timedelta(minutes=offset)
        rows = launched.schema.check_records(features.to_dict("records"))
        log.log_predictions(ids, 1, rows, champion.predict(features), served, schema=launched.schema)
        log.log_feedback(ids, part[TARGET].tolist(), served + timedelta(minutes=5))
    log.close()


def drifted(production: pd.DataFrame) -> pd.DataFrame:
    """Concept drift: inland prices rose 30%, nothing else changed."""
    changed = production.copy()
    changed.loc[changed["ocean_proximity"] == "INLAND", TARGET] *= 1.3
    return changed


def rmse(pipeline: Pipeline, rows: pd.DataFrame) -> float:
    return float(np.sqrt(np.mean((pipeline.predict(rows.drop(columns=TARGET)) - rows[TARGET]) ** 2)))


def test_concept_drift_promotes_a_challenger_better_on_the_drifted_holdout_and_rollback_restores(
    tmp_path, rows
):
    launched = launch(tmp_path, rows)
    serve(launched, drifted(launched.production))
    result = CliRunner().invoke(app, ["retrain", "-c", str(launched.path), "--quiet"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "data: 1,600 training rows + 2,100 labelled production rows = 3,700 rows to train on" in out
    assert "holdout: the 900 most recent labelled production rows" in out
    assert "data quality of the 3,000 new rows: passed" in out
    assert "search: forest — grid search, 2 candidates × 3 folds = 6 fits (6 fitted now" in out
    assert "gate: paired bootstrap on 900 holdout rows (1,000 resamples, squared error per row)" in out
    assert "champion v1:" in out and "challenger v2:" in out and "95% lower bound" in out
    assert "decision: promoted v2 to champion" in out
    assert f"roll back with: hone rollback -c {launched.path}" in out

    registry, name = launched.registry, launched.name
    assert registry.aliases(name) == {"champion": 2, "challenger": 2}
    # Independently of the gate: the new champion is better on the drifted inland rows of the holdout.
    holdout = drifted(launched.production).iloc[2100:]
    inland = holdout[holdout["ocean_proximity"] == "INLAND"]
    old, new = registry.load(registry.get(name, 1)), registry.load(registry.get(name, 2))
    assert rmse(new, inland) < 0.9 * rmse(old, inland)

    challenger = registry.get(name, 2)
    assert challenger.source["kind"] == "retrain" and challenger.source["from_version"] == 1
    assert challenger.source["model"] == "forest" and challenger.source["study"]
    test = challenger.metrics["test"]
    assert test["on"] == "holdout" and test["n_test"] == 900
    assert test["bootstrap"]["rmse"][0] < test["metrics"]["rmse"] < test["bootstrap"]["rmse"][1]
    assert challenger.metrics["cv"]["metric"] == "RMSE" and challenger.data["from_production"] == 2100
    assert challenger.profile["predictions"] is not None

    [record] = retrain_runs(launched.store, name)
    assert record.promoted and (record.champion, record.challenger) == (1, 2)
    assert record.gate.n == 900 and record.gate.low > record.gate.required == 0
    assert record.gate.challenger_loss < record.gate.champion_loss
    assert record.data["holdout"] == 900 and record.data["profile_predictions"] == "out-of-fold"
    promotion = registry.history(name)[-1]
    assert promotion.action == "promote" and promotion.actor == "hone retrain"
    assert "95% lower bound" in promotion.reason

    back = CliRunner().invoke(app, ["rollback", "-c", str(launched.path), "--reason", "test the way back"])
    assert back.exit_code == 0, back.output
    assert registry.aliases(name)["champion"] == 1


def test_clean_data_with_a_margin_keeps_the_champion_and_records_why(tmp_path, rows):
    launched = launch(tmp_path, rows, margin=0.05)
    serve(launched, launched.production.iloc[:800])
    outcome = retrain(launched.config, launched.store)

    assert not outcome.promoted and outcome.challenger == 2
    assert launched.registry.aliases(launched.name) == {"champion": 1, "challenger": 2}
    assert (outcome.n_train, outcome.n_holdout) == (1600 + 560, 240)
    gate = outcome.gate
    assert gate.required == pytest.approx(0.05 * gate.champion_loss) and gate.low <= gate.required
    assert outcome.reason.startswith("kept champion v1: challenger not better enough on 240 holdout rows")
    [record] = retrain_runs(launched.store, launched.name)
    assert not record.promoted and record.reason == outcome.reason and record.gate == gate


def test_refit_only_refits_the_champions_params_without_a_search(tmp_path, rows):
    launched = launch(tmp_path, rows)
    serve(launched, drifted(launched.production.iloc[:1000]))
    outcome = retrain(launched.config, launched.store, refit_only=True)

    assert outcome.refit_only and outcome.search is None
    challenger = launched.registry.get(launched.name, outcome.challenger)
    assert challenger.params == {"max_features": 4} and challenger.source["refit_only"]
    assert challenger.source["study"] is None
    model = launched.registry.load(challenger)[-1]
    assert (model.max_features, model.n_estimators, model.random_state) == (4, 20, 0)
    assert challenger.metrics["cv"]["folds"] == 3  # scored from its out-of-fold predictions
    with launched.store.engine.connect() as connection:
        searches = connection.execute(sa.select(runs_table).where(runs_table.c.command == "retrain")).all()
    assert searches == []
    assert retrain_runs(launched.store)[-1].data["refit_only"]


def test_a_stuck_feed_fails_the_quality_checks_and_blocks_the_promotion(tmp_path, rows):
    launched = launch(tmp_path, rows)
    broken = drifted(launched.production.iloc[:1000])
    broken["housing_median_age"] = 52.0  # a stuck sensor: the same value in every row
    serve(launched, broken)
    outcome = retrain(launched.config, launched.store, refit_only=True)

    assert not outcome.promoted and launched.registry.aliases(launched.name)["champion"] == 1
    assert any(problem.startswith("the value 52 takes 100%") for problem in outcome.quality)
    assert "the new rows fail data quality checks" in outcome.reason
    assert retrain_runs(launched.store)[-1].data["quality"] == outcome.quality


def test_a_new_source_and_a_sliding_window_of_production_rows(tmp_path, rows):
    rows.iloc[6000:7500].to_csv(tmp_path / "fresh.csv", index=False)
    source = ", data: {path: fresh.csv, target: median_house_value}, window: 10h"
    launched = launch(tmp_path, rows, retrain=source)
    serve(launched, launched.production)  # a request of 100 rows every 100 minutes: 50 hours
    outcome = retrain(launched.config, launched.store, refit_only=True, now=START + timedelta(hours=50))

    data = outcome.data
    # The new source replaces the training set; only the requests of the last 10 hours count.
    assert (data.n_from_training, data.n_from_source) == (0, 1500)
    assert (data.n_from_production, outcome.n_holdout) == (420, 180)
    assert data.holdout_start >= START + timedelta(hours=40)
    assert len(data.new_rows) == 600 + 1500  # the new source's rows are checked for quality too
    challenger = launched.registry.get(launched.name, outcome.challenger)
    assert challenger.data["from_source"] == 1500 and "1,500 source rows" in challenger.description


def test_without_labelled_production_rows_retrain_says_so(tmp_path, rows):
    launched = launch(tmp_path, rows)
    with pytest.raises(HoneError) as raised:
        retrain(launched.config, launched.store)
    assert "no labelled production rows" in str(raised.value) and "\n" not in str(raised.value)
    assert retrain_runs(launched.store) == []


def test_too_few_labels_for_a_gate_is_an_error_not_a_guess(tmp_path, rows):
    launched = launch(tmp_path, rows)
    serve(launched, launched.production.iloc[:50])
    with pytest.raises(HoneError, match="holdout of 15 .* at least 20"):
        retrain(launched.config, launched.store)


def test_a_bad_schedule_is_refused_before_waiting(tmp_path, rows):
    launched = launch(tmp_path, rows)
    result = CliRunner().invoke(app, ["retrain", "-c", str(launched.path), "--schedule", "0 25 * * *"])
    assert result.exit_code == 2
    assert "--schedule: cron '0 25 * * *': hour field '25': 25 is out of range 0-23" in result.output
