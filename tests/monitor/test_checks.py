"""Window checks on a real stream of housing rows: silent when clean, loud on each of the issue's faults.

A random forest is fitted on 6,000 training rows (profile with its out-of-fold predictions, as registration
stores it); 10,000 other training rows, never seen by it, are the production stream, with the forest's
predictions and the true labels as feedback. Windows are 1,000 rows; each fault starts at row 3,500, in the
middle of window 3, and must be caught by window 4 at the latest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import Pipeline

from hone.config.schema import MonitorSettings, WindowSettings
from hone.data import PrepareSpec, build_preparation
from hone.data.profile import ReferenceProfile
from hone.data.schema import FeatureSchema
from hone.errors import ConfigError
from hone.monitor.checks import WindowReport, check_window, cut_windows, report_window
from hone.monitor.performance import window_estimate
from hone.monitor.quality import WindowCounts

TARGET = "median_house_value"
DERIVED = {
    "rooms_per_hhold": "total_rooms / households",
    "pop_per_hhold": "population / households",
    "bedrooms_per_room": "total_bedrooms / total_rooms",
}
WINDOW = 1000
FAULT_AT = 3500  # the middle of window 3
LAST_WINDOW_ALLOWED = 4  # "within the first 2 windows after it starts"
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


@dataclass
class World:
    pipeline: Pipeline
    schema: FeatureSchema
    profile: ReferenceProfile
    test_metrics: dict
    stream: pd.DataFrame  # features
    labels: pd.Series
    settings: MonitorSettings

    def log(self, features: pd.DataFrame) -> pd.DataFrame:
        """Log rows as the service writes them: features, prediction, version, one second apart."""
        rows = features.reset_index(drop=True).copy()
        rows["prediction"] = self.pipeline.predict(features)
        rows["model_version"] = 1
        rows["ts"] = pd.Timestamp(START) + pd.to_timedelta(np.arange(len(rows)), unit="s")
        return rows

    def windows(self, rows: pd.DataFrame, labels: pd.Series) -> list[WindowReport]:
        labels = labels.reset_index(drop=True)
        return [
            check_window(
                part,
                labels.iloc[part.index],
                schema=self.schema,
                profile=self.profile,
                settings=self.settings,
                task="regression",
                test_metrics=self.test_metrics,
            )
            for _, _, part in cut_windows(rows, WindowSettings(rows=WINDOW))
        ]


@pytest.fixture(scope="module")
def world(housing, housing_split) -> World:
    train = housing_split.train.sample(frac=1.0, random_state=0).reset_index(drop=True)
    reference, stream = train.iloc[:6000], train.iloc[6000:].reset_index(drop=True)
    X, y = reference.drop(columns=TARGET), reference[TARGET]
    spec = PrepareSpec(categorical=["ocean_proximity"], derived=DERIVED)
    model = RandomForestRegressor(n_estimators=30, max_features=8, random_state=42, n_jobs=1)
    pipeline = Pipeline([("prepare", build_preparation(spec, reference, TARGET)), ("model", model)])
    out_of_fold = cross_val_predict(pipeline, X, y, cv=3)
    pipeline.fit(X, y)
    schema = FeatureSchema.from_frame(X, target=TARGET, imputed=["total_bedrooms"])
    profile = ReferenceProfile.build(X, schema, y=y, predictions=out_of_fold)
    # The service refuses what the schema refuses (a category these 6,000 rows lack): it is never logged.
    stream = stream[schema.check_frame(stream).valid].reset_index(drop=True)
    test = housing.iloc[housing_split.test_index]
    rmse = window_estimate(test[TARGET].to_numpy(), pipeline.predict(test.drop(columns=TARGET)), "rmse")
    test_metrics = {"metrics": {"rmse": rmse.value}, "rmse_t_interval": [rmse.low, rmse.high]}
    # Through JSON, as the registry stores and returns them.
    profile = ReferenceProfile.from_dict(json.loads(json.dumps(profile.to_dict())))
    return World(
        pipeline,
        schema,
        profile,
        test_metrics,
        stream.drop(columns=TARGET),
        stream[TARGET],
        MonitorSettings(),
    )


def failed_keys(report: WindowReport) -> set[str]:
    return {check.key for check in report.failed}


def first_caught(reports: list[WindowReport], wanted: set[str]) -> int | None:
    return next((i for i, report in enumerate(reports) if failed_keys(report) & wanted), None)


def test_a_clean_stream_raises_nothing_in_ten_windows(world):
    reports = world.windows(world.log(world.stream.iloc[:10_000]), world.labels.iloc[:10_000])
    assert len(reports) == 10
    assert all(report.n_rows == WINDOW and report.n_labelled == WINDOW for report in reports)
    assert [report.failed for report in reports] == [[]] * 10
    kinds = {check.kind for check in reports[0].checks}
    assert kinds == {"performance", "quality", "drift"}
    # Every feature and the prediction are checked for drift; the test is not passing by checking nothing.
    drifted = {check.feature for check in reports[0].checks if check.kind == "drift" and check.name == "psi"}
    assert drifted == {*world.schema.names, "prediction"}


def test_a_broken_sensor_is_caught_as_noise_or_drift_on_its_feature(world):
    features = world.stream.copy()
    rng = np.random.default_rng(7)
    feature = world.schema["median_income"]
    broken = rng.uniform(feature.low, feature.high, len(features) - FAULT_AT)
    features.loc[FAULT_AT:, "median_income"] = broken
    reports = world.windows(world.log(features), world.labels)
    wanted = {"quality:noise:median_income", "drift:psi:median_income", "drift:ks:median_income"}
    caught = first_caught(reports, wanted)
    assert caught is not None and caught <= LAST_WINDOW_ALLOWED, [failed_keys(r) for r in reports]
    assert all(not report.failed for report in reports[:3])
    # Fully broken windows: the feature's relation to the label is gone, not only its distribution.
    assert all("quality:noise:median_income" in failed_keys(report) for report in reports[4:])


def test_a_stale_feed_repeating_a_batch_is_caught_as_duplicate_rows(world):
    features, labels = world.stream.copy(), world.labels.copy()
    batch = np.arange(FAULT_AT, FAULT_AT + 200)
    repeated = np.resize(batch, len(features) - FAULT_AT)
    features.iloc[FAULT_AT:] = features.iloc[repeated].to_numpy()
    labels.iloc[FAULT_AT:] = labels.iloc[repeated].to_numpy()
    reports = world.windows(world.log(features), labels)
    caught = first_caught(reports, {"quality:duplicate_rows:*"})
    assert caught is not None and caught <= LAST_WINDOW_ALLOWED, [failed_keys(r) for r in reports]
    assert all(not report.failed for report in reports[:3])
    stale = next(c for c in reports[5].checks if c.key == "quality:duplicate_rows:*")
    assert stale.value == pytest.approx(0.8)  # 200 distinct rows in 1,000


# INLAND districts are cheaper and a third of the rows: their x1.3 moves the mean error less, so its
# budget is one window longer (the first full drifted window after the one where it starts).
@pytest.mark.parametrize(
    ("region", "last_window"), [("INLAND", LAST_WINDOW_ALLOWED + 1), ("<1H OCEAN", LAST_WINDOW_ALLOWED)]
)
def test_concept_drift_in_one_region_is_caught_by_performance_alone(world, region, last_window):
    labels = world.labels.copy()
    drifted = (world.stream["ocean_proximity"] == region) & (labels.index >= FAULT_AT)
    labels[drifted] *= 1.3
    reports = world.windows(world.log(world.stream), labels)
    caught = first_caught(reports, {"performance:rmse:*", "performance:bias:*"})
    assert caught is not None and caught <= last_window, [failed_keys(r) for r in reports]
    assert all(not report.failed for report in reports[:3])
    # The inputs did not change: no quality or drift check may fire.
    assert {check.kind for report in reports for check in report.failed} == {"performance"}


def test_the_performance_check_compares_with_the_registered_test_interval(world):
    strict = {"performance": {"outside_test_interval": True}}  # off by default
    world = replace(world, settings=MonitorSettings.model_validate(strict))
    labels = world.labels * 1.3  # every row: the RMSE itself blows up
    report = world.windows(world.log(world.stream.iloc[:WINDOW]), labels.iloc[:WINDOW])[0]
    performance = report.performance
    assert performance is not None and performance.metric == "rmse"
    assert performance.reference == pytest.approx(world.test_metrics["metrics"]["rmse"])
    assert [performance.reference_low, performance.reference_high] == world.test_metrics["rmse_t_interval"]
    assert performance.low > performance.reference_high
    rmse = next(check for check in report.checks if check.key == "performance:rmse:*")
    assert (
        rmse.failed
        and "worse than the test value" in rmse.message
        and "beyond the test interval" in rmse.message
    )


def test_too_few_labels_give_no_performance_verdict(world):
    labels = world.labels.iloc[:WINDOW].copy()
    labels.iloc[49:] = np.nan  # 49 labelled rows; min_labels is 50
    report = world.windows(world.log(world.stream.iloc[:WINDOW]), labels)[0]
    assert report.performance is None and report.n_labelled == 49
    assert not [check for check in report.checks if check.kind == "performance"]
    # The noise check falls back to the prediction when the labels are too few.
    noise = next(check for check in report.checks if check.key == "quality:noise:median_income")
    assert "with the prediction" in noise.message


def test_an_unscorable_metric_is_a_config_error(world):
    settings = MonitorSettings.model_validate({"performance": {"metric": "roc_auc"}})
    with pytest.raises(ConfigError, match="cannot score 'roc_auc'"):
        check_window(
            world.log(world.stream.iloc[:100]),
            world.labels.iloc[:100],
            schema=world.schema,
            profile=world.profile,
            settings=settings,
            task="regression",
            test_metrics=world.test_metrics,
        )


def test_a_report_round_trips_through_strict_json(world):
    features = world.stream.iloc[:300].copy()
    features.loc[:9, "median_income"] = np.nan  # NaN values must survive as null
    rows = world.log(features)
    report = check_window(
        rows,
        world.labels.iloc[:300],
        schema=world.schema,
        profile=world.profile,
        settings=world.settings,
        task="regression",
        test_metrics=None,
    )
    assert report.start == START and report.end == START + timedelta(seconds=299)
    assert report.versions == [1]
    text = json.dumps(report.to_dict(), allow_nan=False)
    again = WindowReport.from_dict(json.loads(text))
    assert again.to_dict() == report.to_dict()
    assert [c.key for c in again.failed] == [c.key for c in report.failed]
    assert again.start.tzinfo is not None


def test_feeding_arrow_chunks_gives_the_same_verdicts_as_one_frame(world):
    rows = world.log(world.stream.iloc[:5000])
    labels = world.labels.iloc[:5000].to_numpy()
    kwargs = {
        "schema": world.schema,
        "profile": world.profile,
        "settings": world.settings,
        "task": "regression",
    }
    whole = check_window(rows, pd.Series(labels), test_metrics=world.test_metrics, **kwargs)
    counts = WindowCounts(**kwargs)
    table = pa.Table.from_pandas(rows, preserve_index=False)
    for start in range(0, 5000, 700):
        counts.add(table.slice(start, 700), labels[start : start + 700])
    chunked = report_window(counts, test_metrics=world.test_metrics)
    assert (chunked.start, chunked.end, chunked.n_rows, chunked.n_labelled) == (
        whole.start,
        whole.end,
        whole.n_rows,
        whole.n_labelled,
    )
    for a, b in zip(whole.checks, chunked.checks, strict=True):
        assert a.key == b.key
        if a.name == "stuck":  # a lower bound across chunks, exact in one
            assert b.value <= a.value + 1e-12
        else:
            assert b.value == pytest.approx(a.value, rel=1e-9, nan_ok=True), a.key


# -- cutting the log -----------------------------------------------------------------------------------


def _log_at(seconds: list[float]) -> pd.DataFrame:
    ts = pd.Timestamp(START) + pd.to_timedelta(seconds, unit="s")
    return pd.DataFrame({"ts": ts, "n": range(len(seconds))})


def test_count_windows_are_full_and_in_time_order():
    log = _log_at([5, 1, 3, 2, 4, 6, 7])  # out of order, as parts from two writers may be
    windows = cut_windows(log, WindowSettings(rows=3))
    assert [list(part["n"]) for _, _, part in windows] == [[1, 3, 2], [4, 0, 5]]  # the 7th waits
    assert [(start, end) for start, end, _ in windows] == [
        (START + timedelta(seconds=1), START + timedelta(seconds=3)),
        (START + timedelta(seconds=4), START + timedelta(seconds=6)),
    ]


def test_time_windows_are_aligned_and_only_complete_ones_are_cut():
    log = _log_at([0, 30, 59.5, 61, 200, 250])
    windows = cut_windows(log, WindowSettings(every="1m"), now=START + timedelta(seconds=230))
    # [0, 60), [60, 120) and [180, 240) hold rows; [180, 240) is not over at 230 s; empty windows are skipped.
    assert [(start - START, end - START) for start, end, _ in windows] == [
        (timedelta(0), timedelta(seconds=60)),
        (timedelta(seconds=60), timedelta(seconds=120)),
    ]
    assert [list(part["n"]) for _, _, part in windows] == [[0, 1, 2], [3]]
    later = cut_windows(log, WindowSettings(every="1m"), now=START + timedelta(seconds=300))
    assert [list(part["n"]) for _, _, part in later] == [[0, 1, 2], [3], [4], [5]]
    assert cut_windows(log.iloc[:0], WindowSettings(every="1m")) == []
