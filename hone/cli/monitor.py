"""`hone monitor` and `hone alerts`: check the prediction log's new windows, list the stored alerts.

Plain one-line-per-fact output, so cron mails and grep read it: alerts are the output, and the command
exits 0 when they fire; 2 only when it cannot run (no store, no champion, no log yet).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hone.cli.common import every_seconds, friendly, open_project, repeat

app = typer.Typer()  # this module's verbs; hone.cli.main assembles every module's app

if TYPE_CHECKING:
    from hone.monitor.history import Alert
    from hone.monitor.runner import MonitorRun

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The project file.")]


@app.command()
@friendly
def monitor(
    config: ConfigOption = Path("hone.yaml"),
    every: Annotated[
        str | None, typer.Option(help="Run again at this interval (e.g. 10m, 1h) until Ctrl-C.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Also write the HTML monitoring page here after each run.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the alerts raised.")] = False,
) -> None:
    """Check the new complete windows of the served model's prediction log; raise and store alerts."""
    seconds = every_seconds(every)
    project, store = open_project(config)
    repeat(lambda: _run_once(project, store, report, quiet), seconds, "monitor")


@app.command()
@friendly
def alerts(
    config: ConfigOption = Path("hone.yaml"),
    limit: Annotated[int, typer.Option(help="How many of the latest alerts to list.", min=1)] = 20,
) -> None:
    """List the stored alerts of the project's model, oldest first (the latest --limit of them)."""
    from hone.monitor.history import stored_alerts

    project, store = open_project(config)
    found = stored_alerts(store, project.model_name, limit=limit)
    if not found:
        typer.echo(f"no alert stored for model {project.model_name!r}")
        return
    for alert in found:
        typer.echo(f"{_time(alert.at)}  {alert_line(alert)}")


def _run_once(project: Any, store: Any, report: Path | None, quiet: bool) -> None:
    from hone.monitor.runner import run_monitor
    from hone.report.monitor_page import write_monitor_page

    run = run_monitor(project, store)
    for line in run_lines(run, project.monitor.window, quiet=quiet):
        typer.echo(line)
    if report is not None:
        path = write_monitor_page(store, project, report)
        if not quiet:
            typer.echo(f"wrote {path}")


# -- lines ---------------------------------------------------------------------------------------------


def run_lines(run: MonitorRun, window: Any, *, quiet: bool = False) -> list[str]:
    """What `hone monitor` prints for one run: a line per new window, per alert, and a summary."""
    lines: list[str] = []
    if not quiet:
        for version, report in zip(run.versions, run.windows, strict=True):
            lines.append(window_line(version, report))
    lines.extend(f"alert {alert_line(alert)}" for alert in run.alerts)
    if not quiet:
        lines.append(_summary(run, window))
    return lines


def window_line(version: int, report: Any) -> str:
    performance = report.performance
    live = (
        f"{performance.metric} {_number(performance.value)} "
        f"[{_number(performance.low)}, {_number(performance.high)}]"
        if performance is not None
        else "no verdict"
    )
    failed = ", ".join(check.key for check in report.failed) or "none"
    return (
        f"window {_span(report.start, report.end)}  v{version}  {report.n_rows:,} rows  "
        f"{report.n_labelled:,} labelled  {live}  failed: {failed}"
    )


def alert_line(alert: Alert) -> str:
    version = f" v{alert.version}" if alert.version is not None else ""
    if alert.suppressed:
        fate = "suppressed: cool-down"
    else:
        fate = "delivered: " + (", ".join(alert.delivered) or "nowhere")
        if alert.errors:
            fate += "; failed: " + "; ".join(alert.errors)
    return f"{alert.model}{version} {alert.key}: {alert.message} [{fate}]"


def _summary(run: MonitorRun, window: Any) -> str:
    size = f"{window.rows:,} rows" if window.rows is not None else f"{_seconds(window.every)}"
    waiting = f"; {run.pending_rows:,} rows wait for the next window ({size})" if run.pending_rows else ""
    rollback = (
        f"; rolled champion back v{run.rollback.from_version} → v{run.rollback.to_version}"
        if run.rollback is not None
        else ""
    )
    if not run.windows:
        return f"monitor {run.model}: no new complete window{waiting}"
    sent = sum(1 for alert in run.alerts if not alert.suppressed)
    suppressed = len(run.alerts) - sent
    return (
        f"monitor {run.model}: {len(run.windows)} new window(s), {len(run.alerts)} alert(s) "
        f"({sent} sent, {suppressed} suppressed){rollback}{waiting}"
    )


def _span(start: datetime, end: datetime) -> str:
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    tail = "%H:%M:%S" if start.date() == end.date() else "%Y-%m-%d %H:%M:%S"
    return f"{start:%Y-%m-%d %H:%M:%S} → {end.strftime(tail)} UTC"


def _time(moment: datetime) -> str:
    return f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC"


def _seconds(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _number(value: float) -> str:
    from hone.report import format as fmt

    return fmt.number(value)
