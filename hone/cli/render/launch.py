"""How the launch commands print: registrations, the version table, alias moves, batch reports."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from hone.launch.batch import BatchReport
    from hone.launch.register import Registration
    from hone.store.registry import AliasMove, ModelVersion

# Problems printed under a batch report; the output file has every one.
SHOWN_PROBLEMS = 10


def score_text(version: ModelVersion) -> str:
    """``CV RMSE 49,117 · test RMSE 46,982 [45,010, 48,874]``, from what the version recorded."""
    from hone.analysis.evaluate import METRIC_LABELS  # here: scikit-learn loads with it
    from hone.search.scoring import format_score, score_decimals

    parts = []
    cv = version.metrics.get("cv")
    if cv:
        std = cv.get("std")
        decimals = score_decimals([std] if std is not None else [], [cv["score"]])
        score = _number(cv["score"]) if abs(cv["score"]) >= 1000 else format_score(cv["score"], decimals)
        parts.append(f"CV {cv['metric']} {score}")
    test = version.metrics.get("test")
    if test:
        metrics = test.get("metrics", {})
        key = (cv or {}).get("key")  # the project's scoring metric, when the version recorded it
        if key not in metrics:
            key = "rmse" if "rmse" in metrics else "accuracy"
        label = METRIC_LABELS.get(key, key)
        if metrics.get(key) is not None:
            interval = test.get("rmse_t_interval") or test.get("bootstrap", {}).get(key)
            shown = f"test {label} {_number(metrics[key])}"
            if interval and None not in interval:
                shown += f" [{_number(interval[0])}, {_number(interval[1])}]"
            parts.append(shown)
    return " · ".join(parts) or "no scores recorded"


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value}" for name, value in params.items())


def registration(console: Console, result: Registration, config: Path) -> None:
    version = result.version
    if result.existing:
        console.print(
            f"{version.source.get('model')} ({_params(version.params)}) on this training data is already"
            f" registered as [bold]{version.name} v{version.version}[/]: nothing new registered"
            f" (`hone models -c {config}` lists the versions)",
            highlight=False,
        )
        return
    console.print(
        f"registered [bold]{version.name} v{version.version}[/] from {version.source.get('model')}"
        f" ({_params(version.params)}): {score_text(version)}",
        highlight=False,
    )
    console.print(
        f"artifact {version.artifact_uri} ({version.artifact_bytes / 1e6:,.1f} MB, sha256"
        f" {version.artifact_sha256[:12]}…); schema of {len(version.schema.features)} features and a"
        " reference profile stored for monitoring",
        highlight=False,
    )
    if result.move is not None:
        from hone.store.registry import CHAMPION

        move = result.move
        before = f" (was v{move.from_version})" if move.from_version is not None else ""
        console.print(f"alias [bold]{move.alias}[/] → v{move.to_version}{before}", highlight=False)
        if move.alias == CHAMPION:
            console.print(
                f"serve it:  hone serve -c {config}\n"
                "then:      curl -s localhost:8000/predict -H 'content-type: application/json'"
                f" -d '{_example_json(version)}'",
                highlight=False,
                soft_wrap=True,
            )
        else:
            console.print(
                f"promote it when it proves better:  hone promote {version.name} {version.version}"
                f" -c {config}",
                highlight=False,
            )


def _example_json(version: ModelVersion) -> str:
    import json

    examples = version.profile.get("examples") or [{}]
    return json.dumps(examples[0], separators=(",", ":"))


def versions_table(
    console: Console,
    name: str,
    versions: Sequence[ModelVersion],
    aliases: dict[str, int],
    history: Sequence[AliasMove],
) -> None:
    by_version: dict[int, list[str]] = {}
    for alias, number in sorted(aliases.items()):
        by_version.setdefault(number, []).append(alias)
    table = Table(title=f"{name}: registered versions", title_justify="left")
    for column in ("version", "aliases", "registered", "from", "params", "scores"):
        table.add_column(column, overflow="fold")
    for version in versions:
        table.add_row(
            f"v{version.version}",
            ", ".join(by_version.get(version.version, [])),
            f"{version.created_at:%Y-%m-%d %H:%M} by {version.created_by}",
            str(version.source.get("model", "")),
            _params(version.params),
            score_text(version),
        )
    console.print(table)
    if history:
        console.print("last alias moves:")
        for move in history[-5:]:
            alias_move(console, move, indent="  ")


def alias_move(console: Console, move: AliasMove, indent: str = "") -> None:
    before = f"v{move.from_version}" if move.from_version is not None else "nothing"
    why = f" — {move.reason}" if move.reason else ""
    console.print(
        f"{indent}{move.at:%Y-%m-%d %H:%M:%S} {move.action}: {move.name} {move.alias} {before} → "
        f"v{move.to_version} by {move.actor}{why}",
        highlight=False,
    )


def batch_report(console: Console, version: ModelVersion, report: BatchReport, engine: str) -> None:
    """``engine``: which path predicted (``hone.launch.predictor.describe``)."""
    console.print(
        f"{version.name} v{version.version}: {report.n_predicted:,} of {report.n_rows:,} rows predicted in"
        f" {report.seconds:,.1f} s ({report.rows_per_second:,.0f} rows/s) → {report.output}",
        highlight=False,
    )
    console.print(f"[dim]predicted by: {engine}[/dim]", highlight=False)
    if report.n_invalid:
        console.print(
            f"{report.n_invalid:,} row(s) not predicted (their `problem` column says why); first ones:",
            highlight=False,
        )
        for problem in report.problems[:SHOWN_PROBLEMS]:
            console.print(f"  {problem}", highlight=False)
        if report.n_problems > SHOWN_PROBLEMS:
            console.print(f"  ... and {report.n_problems - SHOWN_PROBLEMS:,} more", highlight=False)
