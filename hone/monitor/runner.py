"""One monitor run: the new complete windows of the prediction log, checked, stored, alerted on.

Cron-friendly: each run reads the log from where the last stored window stopped, checks only complete
windows, and leaves the rest for the next run, so running it twice on the same log stores nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

from hone.config import ProjectConfig
from hone.data.profile import ReferenceProfile
from hone.errors import StoreError
from hone.monitor.alerts import raise_alert
from hone.monitor.checks import Check, Performance, WindowReport, check_window, cut_windows
from hone.monitor.history import (
    Alert,
    Cursor,
    StoredWindow,
    last_cursor,
    save_windows,
    stored_alerts,
    stored_windows,
    stored_windows_with_versions,
)
from hone.monitor.performance import LOWER_IS_BETTER, reference_estimate
from hone.report import format as fmt
from hone.store.db import Store
from hone.store.logbook import read_feedback, read_predictions
from hone.store.registry import CHAMPION, AliasMove, ModelVersion, Registry

__all__ = ["Alert", "MonitorRun", "run_monitor", "stored_alerts", "stored_windows"]


@dataclass
class MonitorRun:
    """What one run did: the windows it checked (in time order) and the alerts it raised."""

    model: str
    windows: list[WindowReport]
    alerts: list[Alert]
    versions: list[int] = field(default_factory=list)  # the version each window was checked against
    pending_rows: int = 0  # rows read but not yet in a complete window: the next run's
    rollback: AliasMove | None = None  # the automatic roll-back this run made, if any


def run_monitor(config: ProjectConfig, store: Store, *, now: datetime | None = None) -> MonitorRun:
    """Check the new complete windows of the served model's log; store them and raise their alerts."""
    now = now or datetime.now(timezone.utc)
    name = config.model_name
    registry = Registry(store, config.artifacts_url)
    _require_champion(registry, name)
    cursor = last_cursor(store, name)
    log = _new_rows(config.log_dir, name, cursor)
    labels = _last_labels(config.log_dir, name, log)

    versions = _Versions(registry, name)
    checked: list[StoredWindow] = []
    position = cursor
    consumed = 0
    delay = config.monitor.performance.label_delay
    for start, end, rows in cut_windows(log, config.monitor.window, now=now):
        if delay is not None and end > now - timedelta(seconds=delay):
            break  # its feedback may still be coming: the next run checks it
        # A window spanning a promotion is checked against the version that served most of its rows:
        # that version's schema and profile describe most of what is in it.
        version = versions.get(int(rows["model_version"].value_counts().idxmax()))
        window_labels = rows["prediction_id"].map(labels)
        if version.task == "regression":  # no feedback at all leaves an object column of NaN
            window_labels = pd.to_numeric(window_labels, errors="coerce")
        report = check_window(
            rows,
            window_labels,
            schema=version.schema,
            profile=versions.profile(version),
            settings=config.monitor,
            task=version.task,
            test_metrics=version.metrics.get("test"),
            start=start,
            end=end,
        )
        position = _advance(position, rows)
        checked.append(StoredWindow(report, version.version, position.ts, sorted(position.ids)))
        consumed += len(rows)
    save_windows(store, name, checked, cursor)

    alerts = [
        raise_alert(store, config.monitor.alerts, _alert(name, window.version, window.report, check, now))
        for window in checked
        for check in window.report.failed
    ]
    run = MonitorRun(
        name,
        [window.report for window in checked],
        alerts,
        [window.version for window in checked],
        pending_rows=len(log) - consumed,
    )
    if config.monitor.auto_rollback and checked:
        _auto_rollback(config, store, registry, run, now)
    return run


# -- reading the log -------------------------------------------------------------------------------------


def _require_champion(registry: Registry, name: str) -> None:
    if registry.alias_version(name, CHAMPION) is not None:
        return
    if name not in registry.names():
        raise StoreError(f"no model named {name!r} in the registry: run `hone register` first")
    raise StoreError(f"model {name!r} has no champion: promote a version with `hone promote {name} VERSION`")


def _new_rows(log_dir: Path, name: str, cursor: Cursor | None) -> pd.DataFrame:
    """Log rows after the cursor, in (ts, prediction_id) order so windows cut the same way every run."""
    folder = Path(log_dir) / name / "predictions"
    if not folder.is_dir():
        raise StoreError(
            f"no prediction log of model {name!r} yet: serve it (`hone serve`) and send predictions first",
            where=str(folder),
        )
    # Rows logged later with an earlier timestamp than the cursor are not read again: the service stamps
    # rows when they arrive, so only a clock going backwards could produce them.
    frame = read_predictions(log_dir, name, since=cursor.ts if cursor else None).to_pandas()
    if cursor is not None and cursor.ids:
        seen = (frame["ts"] == pd.Timestamp(cursor.ts)) & frame["prediction_id"].isin(cursor.ids)
        frame = frame[~seen]
    return frame.sort_values(["ts", "prediction_id"], kind="stable").reset_index(drop=True)


def _last_labels(log_dir: Path, name: str, log: pd.DataFrame) -> pd.Series:
    """prediction_id -> its feedback label (the latest one when it was sent more than once)."""
    if log.empty:
        return pd.Series([], dtype=object)
    # Feedback comes after its prediction: nothing older than the oldest row read can be about it.
    feedback = read_feedback(log_dir, name, since=log["ts"].min().to_pydatetime()).to_pandas()
    if feedback.empty:
        return pd.Series([], dtype=object)
    latest = feedback.sort_values("ts", kind="stable").drop_duplicates("prediction_id", keep="last")
    return latest.set_index("prediction_id")["label"]


def _advance(cursor: Cursor | None, rows: pd.DataFrame) -> Cursor:
    last = rows["ts"].max()
    ids = set(rows.loc[rows["ts"] == last, "prediction_id"].astype(str))
    moment = last.to_pydatetime()
    if cursor is not None and cursor.ts == moment:  # one timestamp spread over several windows
        ids |= cursor.ids
    return Cursor((cursor.seq if cursor else 0) + 1, moment, frozenset(ids))


class _Versions:
    """Registered versions and their profiles, each read once per run."""

    def __init__(self, registry: Registry, name: str) -> None:
        self.registry = registry
        self.name = name
        self._versions: dict[int, ModelVersion] = {}
        self._profiles: dict[int, ReferenceProfile] = {}

    def get(self, number: int) -> ModelVersion:
        if number not in self._versions:
            self._versions[number] = self.registry.get(self.name, number)
        return self._versions[number]

    def profile(self, version: ModelVersion) -> ReferenceProfile:
        if version.version not in self._profiles:
            self._profiles[version.version] = ReferenceProfile.from_dict(version.profile)
        return self._profiles[version.version]


# -- alerts ----------------------------------------------------------------------------------------------


def _alert(name: str, version: int, report: WindowReport, check: Check, now: datetime) -> Alert:
    return Alert(
        id=None,
        model=name,
        key=check.key,
        kind=check.kind,
        message=check.message,
        value=check.value,
        threshold=check.threshold,
        window_start=report.start,
        window_end=report.end,
        at=now,
        delivered=[],
        suppressed=False,
        version=version,
        check=check.name,
        feature=check.feature,
    )


# -- automatic roll-back ---------------------------------------------------------------------------------


def _auto_rollback(
    config: ProjectConfig, store: Store, registry: Registry, run: MonitorRun, now: datetime
) -> None:
    """Roll a newly promoted champion back when a window shows it wholly worse than its predecessor."""
    name = run.model
    moves = [move for move in registry.history(name) if move.alias == CHAMPION]
    last = moves[-1] if moves else None
    # Only right after a promotion: after a roll-back there is nothing newer to distrust (no ping-pong).
    if last is None or last.action == "rollback" or last.from_version is None:
        return
    new, previous = last.to_version, last.from_version
    for version, report in zip(run.versions, run.windows, strict=True):
        performance = report.performance
        if version != new or performance is None:
            continue
        reference = _reference(store, registry, name, previous, performance.metric)
        if reference is None or not _wholly_worse(performance, reference[0], reference[1]):
            continue
        low, high, source = reference
        facts = (
            f"live {performance.metric} {fmt.number(performance.value)} "
            f"[{fmt.number(performance.low)}, {fmt.number(performance.high)}] of v{new} "
            f"is worse than v{previous}'s {source} [{fmt.number(low)}, {fmt.number(high)}]"
        )
        bound = high if performance.metric in LOWER_IS_BETTER else low
        try:
            run.rollback = registry.rollback(name, reason=f"auto roll-back: {facts}", actor="hone monitor")
        except StoreError as error:
            message = f"auto roll-back of v{new} failed ({error.message}); {facts}"
            key = "rollback:failed:*"
        else:
            message = f"rolled champion back from v{new} to v{previous}: {facts}"
            key = "rollback:champion:*"
        alert = Alert(
            None,
            name,
            key,
            "rollback",
            message,
            performance.value,
            bound,
            report.start,
            report.end,
            now,
            [],
            False,
            version=new,
            check="champion",
        )
        run.alerts.append(raise_alert(store, config.monitor.alerts, alert, cooldown=False))
        return


def _reference(
    store: Store, registry: Registry, name: str, previous: int, metric: str
) -> tuple[float, float, str] | None:
    """The previous champion's interval: its last stored live window, else its test-set interval."""
    for version, report in reversed(stored_windows_with_versions(store, name)):
        live = report.performance
        if version == previous and live is not None and live.metric == metric:
            return live.low, live.high, f"last live window (to {report.end:%Y-%m-%d %H:%M})"
    test = reference_estimate(registry.get(name, previous).metrics.get("test"), metric)
    return None if test is None else (test.low, test.high, "test-set interval")


def _wholly_worse(performance: Performance, low: float, high: float) -> bool:
    if performance.metric in LOWER_IS_BETTER:
        return performance.low > high
    return performance.high < low
