"""One monitor run: the new complete windows of the prediction log, checked, stored, alerted on.

Cron-friendly: each run reads the log from where the last stored window stopped, checks only complete
windows, and leaves the rest for the next run, so running it twice on the same log stores nothing new.

Memory follows the chunk size, not the backlog: a first pass reads only the keys of the new rows
(``ts``, ``prediction_id``, ``model_version``), puts them in (ts, prediction_id) order, joins the feedback
labels and cuts the windows; then each window's rows are read in chunks of ``CHUNK_ROWS`` in that order,
file by file in batches kept only while a later row needs them, and fed to ``WindowCounts``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from hone.config.schema import ProjectConfig
from hone.data.profile import ReferenceProfile
from hone.errors import StoreError
from hone.monitor.alerts import raise_alert
from hone.monitor.backlog import CHUNK_ROWS, Backlog, ChunkReader, Window, give_back_memory
from hone.monitor.checks import Check, Performance, WindowReport, cut_windows, report_window
from hone.monitor.history import (
    Alert,
    Cursor,
    StoredWindow,
    last_cursor,
    last_row_sketch,
    save_windows,
    stored_alerts,
    stored_windows,
    stored_windows_with_versions,
)
from hone.monitor.performance import LOWER_IS_BETTER, reference_estimate
from hone.monitor.quality import WindowCounts, row_sketch
from hone.report import format as fmt
from hone.store.db import Store
from hone.store.registry import CHAMPION, AliasMove, ModelVersion, Registry

__all__ = ["Alert", "MonitorRun", "run_monitor", "stored_alerts", "stored_windows"]

READ_ATTEMPTS = 3


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
    registry = Registry.of_project(config, store)
    _require_champion(registry, name)
    cursor = last_cursor(store, name)
    versions = _Versions(registry, name)
    previous = last_row_sketch(store, name, cursor)
    checked, pending, sketch = _check_backlog(config, name, cursor, versions, now, previous)
    save_windows(store, name, checked, cursor, row_sketch=sketch)

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
        pending_rows=pending,
    )
    if config.monitor.auto_rollback and checked:
        _auto_rollback(config, store, registry, run, now)
    return run


def _check_backlog(
    config: ProjectConfig,
    name: str,
    cursor: Cursor | None,
    versions: _Versions,
    now: datetime,
    previous: np.ndarray | None,
) -> tuple[list[StoredWindow], int, np.ndarray | None]:
    """The complete windows after the cursor, checked; how many rows wait for the next run; the last
    window's row sketch (``previous``: the one before the first window's, if stored)."""
    for attempt in range(READ_ATTEMPTS):
        try:
            return _check_windows(config, name, cursor, versions, now, previous)
        except FileNotFoundError:  # a compaction merged files away between listing and reading them
            if attempt == READ_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _check_windows(
    config: ProjectConfig,
    name: str,
    cursor: Cursor | None,
    versions: _Versions,
    now: datetime,
    previous: np.ndarray | None,
) -> tuple[list[StoredWindow], int, np.ndarray | None]:
    """One try: the backlog's keys first, then each complete window's rows in chunks."""
    backlog = Backlog.read(config.log_dir, name, cursor)
    windows = _complete_windows(backlog, config, now)
    cursors = backlog.cursors(windows, cursor)
    backlog.ids = None  # the cursors were all the ids were still needed for
    give_back_memory()
    # A window spanning a promotion is checked against the version that served most of its rows: that
    # version's schema and profile describe most of what is in it.
    served = [versions.get(backlog.main_version(window.first, window.stop)) for window in windows]
    reader = ChunkReader(backlog, _columns_to_read(backlog, served))
    checked: list[StoredWindow] = []
    try:
        for window, version, after in zip(windows, served, cursors, strict=True):
            counts = WindowCounts(
                schema=version.schema,
                profile=versions.profile(version),
                settings=config.monitor,
                task=version.task,
            )
            for first in range(window.first, window.stop, CHUNK_ROWS):
                stop = min(window.stop, first + CHUNK_ROWS)
                counts.add(reader.rows(first, stop), backlog.labels(first, stop, version.task))
            test_metrics = version.metrics.get("test")
            report = report_window(
                counts,
                test_metrics=test_metrics,
                start=window.start,
                end=window.end,
                previous_rows=previous,
            )
            previous = row_sketch(counts.ordered_hashes())
            checked.append(StoredWindow(report, version.version, after.ts, sorted(after.ids)))
    finally:
        reader.close()
    consumed = sum(window.stop - window.first for window in windows)
    return checked, backlog.n_rows - consumed, previous


def _complete_windows(backlog: Backlog, config: ProjectConfig, now: datetime) -> list[Window]:
    """The backlog's complete windows, cut by ``cut_windows`` exactly as from a frame of the rows."""
    log = pd.DataFrame({"ts": pd.to_datetime(backlog.ts, unit="us", utc=True)})
    windows = []
    delay = config.monitor.performance.label_delay
    for start, end, rows in cut_windows(log, config.monitor.window, now=now):
        if delay is not None and end > now - timedelta(seconds=delay):
            break  # its feedback may still be coming: the next run checks it
        first = int(rows.index[0])  # the backlog is in time order: a window is a run of positions
        windows.append(Window(start, end, first, first + len(rows)))
    return windows


def _columns_to_read(backlog: Backlog, versions: list[ModelVersion]) -> list[str]:
    """The logged columns the windows' checks look at; features the log lacks stay absent (all invalid).

    ``ts`` and ``model_version`` are not among them: the backlog has them already.
    """
    wanted = {"prediction"}
    for version in versions:
        wanted.update(version.schema.names)
    return [name for name in backlog.schema.names if name in wanted]


# -- reading the log -------------------------------------------------------------------------------------


def _require_champion(registry: Registry, name: str) -> None:
    if registry.alias_version(name, CHAMPION) is not None:
        return
    if name not in registry.names():
        raise StoreError(f"no model named {name!r} in the registry: run `hone register` first")
    raise StoreError(f"model {name!r} has no champion: promote a version with `hone promote {name} VERSION`")


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
