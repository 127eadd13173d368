"""The monitoring page: its content from a real store, and a real headless Chromium laying it out."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.pipeline import Pipeline

from hone.config.schema import ProjectConfig
from hone.data.schema import FeatureSchema
from hone.monitor.checks import Check, Performance, WindowReport
from hone.monitor.history import Alert, StoredWindow, save_alert, save_windows
from hone.report.monitor_page import write_monitor_page
from hone.store.db import Store
from hone.store.registry import Registry

TARGET = "median_house_value"
START = datetime(2024, 5, 1, 0, 0, tzinfo=timezone.utc)
N_WINDOWS = 24
SENSOR_BREAKS = 12  # median_income turns random from this window on
DRIFT_STARTS = 18  # and live RMSE degrades from this one
FEATURES = ["longitude", "latitude", "housing_median_age", "median_income", "households"]


def window(index: int) -> WindowReport:
    """An hour of traffic as the checks would report it."""
    rng = np.random.default_rng(index)
    start = START + timedelta(hours=index)
    rmse = 50_000 + rng.normal(0, 900) + (index - DRIFT_STARTS + 1) * 6_000 * (index >= DRIFT_STARTS)
    performance = Performance("rmse", rmse, rmse - 2_600, rmse + 2_700, 400, 48_900.0, 47_100.0, 50_800.0)
    checks = [
        Check("performance", "rmse", None, rmse, 58_680.0, rmse > 58_680, f"rmse {rmse:,.0f}"),
        Check("quality", "schema", None, 0.0, 0.0, False, "all 1,000 rows pass the schema"),
        Check("quality", "duplicate_rows", None, 0.01, 0.21, False, "1.0% of rows repeat an earlier row"),
    ]
    for feature in FEATURES:
        broken = feature == "median_income" and index >= SENSOR_BREAKS
        psi = 0.9 + rng.uniform(0, 0.3) if broken else rng.uniform(0.005, 0.06)
        checks += [
            Check("quality", "missing_jump", feature, 0.0, 0.05, False, "0.0% of values missing"),
            Check("quality", "out_of_range", feature, 0.3 if broken else 0.0, 0.02, broken, "out of range"),
            Check("drift", "psi", feature, psi, 0.25, psi > 0.25, f"PSI {psi:.3f} against the training bins"),
            Check("drift", "ks", feature, 0.38 if broken else rng.uniform(0.01, 0.04), 0.061, broken, "KS"),
        ]
    checks.append(Check("quality", "unseen_category", "ocean_proximity", 0.0, 0.0, False, "none unseen"))
    return WindowReport(
        start, start + timedelta(minutes=59, seconds=59), 1_000, 400, [3], performance, checks
    )


def config_for(folder: Path) -> ProjectConfig:
    document = {
        "project": "housing",
        "data": {"dataset": "housing", "target": TARGET},
        "models": [
            {"name": "forest", "estimator": "sklearn.ensemble.RandomForestRegressor", "grid": {"a": [1]}}
        ],
        "store": "hone.db",
        "monitor": {"performance": {"threshold": 58_680.0}},
    }
    return ProjectConfig.model_validate(document, context={"base_dir": folder})


@pytest.fixture()
def monitored(tmp_path: Path, housing) -> Iterator[tuple[Store, ProjectConfig]]:
    """A store with a champion, a day of checked windows and the alerts they raised."""
    config = config_for(tmp_path)
    store = Store(config.store_url)
    X = housing.drop(columns=TARGET).iloc[:200]
    schema = FeatureSchema.from_frame(X, target=TARGET)
    registry = Registry(store, config.artifacts_url)
    model = Pipeline([("model", DummyRegressor())]).fit(X, housing[TARGET].iloc[:200])
    examples = X.dropna().iloc[:2].to_dict("records")
    for _ in range(3):
        registry.register(
            "housing",
            model,
            task="regression",
            schema=schema,
            profile={"examples": examples},
            params={},
            metrics={},
            data={},
            source={},
        )
    registry.promote("housing", 3)
    reports = [window(i) for i in range(N_WINDOWS)]
    stored = [StoredWindow(r, 3, r.end, [f"id-{i}"]) for i, r in enumerate(reports)]
    save_windows(store, "housing", stored, None)
    for report in reports:
        for index, check in enumerate(report.failed):
            save_alert(
                store,
                Alert(
                    None,
                    "housing",
                    check.key,
                    check.kind,
                    check.message,
                    check.value,
                    check.threshold,
                    report.start,
                    report.end,
                    report.end + timedelta(minutes=1),
                    ["log"] if index == 0 else [],
                    index > 0,
                    version=3,
                    check=check.name,
                    feature=check.feature,
                ),
            )
    yield store, config
    store.close()


def test_the_page_tells_the_day_at_a_glance(monitored, tmp_path):
    store, config = monitored
    path = write_monitor_page(store, config, tmp_path / "out" / "monitor.html")
    html = path.read_text(encoding="utf-8")

    assert html.startswith("<!DOCTYPE html>") and "<title>hone monitor: housing</title>" in html
    # Self-contained: nothing is fetched, and a CSP forbids it anyway.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    cards = re.findall(r'<div class="card"><div class="k">([^<]+)</div><div class="v">([^<]+)</div>', html)
    assert ("Champion", "v3") in cards and ("Windows checked", "24") in cards
    assert ("Alerts", str(sum(len(window(i).failed) for i in range(N_WINDOWS)))) in cards
    last = window(N_WINDOWS - 1).performance
    assert ("Latest live rmse", f"{last.value:,.0f}") in cards
    assert "check(s) failed in the latest window" in html and "drift:psi:median_income" in html

    assert "Chart unavailable" not in html
    charts = html.count('<svg class="chart"')
    assert f'data-charts-expected="{charts}"' in html
    # Performance, then the drift strips (PSI, KS) and the quality strips present in the windows.
    assert charts == 1 + 2 + 5
    assert "Live rmse: last window" in html and "alert threshold (58,680)" in html
    assert "test-set interval" in html
    assert "Population stability index (PSI) (threshold 0.25): 12 cell(s) beyond it" in html
    assert "Missing values above the training rate (threshold 0.05): all within it" in html
    # Alerts newest first, with where they went.
    alerts = html[html.index('id="alerts"') : html.index('id="windows"')]
    assert alerts.count("<tr>") == 1 + sum(len(window(i).failed) for i in range(N_WINDOWS))
    assert "suppressed (cool-down)" in alerts and "<td>log</td>" in alerts
    assert alerts.index("2024-05-02 00:00:59 UTC") < alerts.index("2024-05-01 13:00:59 UTC")


def test_an_empty_store_still_gives_a_page_that_says_what_to_do(tmp_path):
    config = config_for(tmp_path)
    store = Store(config.store_url)
    html = write_monitor_page(store, config, tmp_path / "empty.html").read_text()
    store.close()
    assert "run <code>hone monitor</code> once traffic is logged" in html
    assert "No alert raised." in html and 'data-charts-expected="0"' in html
    assert ("Champion", "none") in re.findall(
        r'<div class="k">([^<]+)</div><div class="v">([^<]+)</div>', html
    )


def test_every_chart_lays_out_in_a_real_browser_without_script_errors(chromium, monitored, tmp_path):
    store, config = monitored
    path = write_monitor_page(store, config, tmp_path / "monitor.html")
    command = [
        str(chromium),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,2400",
        "--dump-dom",
        path.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    body = re.search(r"<body\b[^>]*>", result.stdout)
    assert body, result.stdout[:500]
    expected = re.search(r'data-charts-expected="(\d+)"', body.group(0))
    assert expected and int(expected.group(1)) == 8
    assert 'data-charts-rendered="8"' in body.group(0), body.group(0)
    assert "data-script-errors" not in body.group(0), body.group(0)
