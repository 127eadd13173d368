"""`hone retrain` and `hone learn`: keep the served model fresh, with a gate and snapshots to go back to."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hone.cli.common import every_seconds, friendly, new_console, open_project, repeat
from hone.errors import HoneError

app = typer.Typer()  # this module's verbs; hone.cli.main assembles every module's app

if TYPE_CHECKING:
    from rich.console import Console

    from hone.maintain.gate import GateResult
    from hone.maintain.learn import LearnOutcome
    from hone.maintain.retrain import RetrainOutcome

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="The project file.")]


@app.command()
@friendly
def retrain(
    config: ConfigOption = None,
    refit_only: Annotated[
        bool | None,
        typer.Option(
            "--refit-only/--search",
            help="Refit the champion's params, or search its model again (default: retrain.refit_only).",
        ),
    ] = None,
    schedule: Annotated[
        str | None, typer.Option(help="Run forever on this cron schedule (UTC), e.g. '0 3 * * *'.")
    ] = None,
    scheduled: Annotated[
        bool, typer.Option("--scheduled", help="Run forever on retrain.schedule of the project file.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or progress lines.")] = False,
) -> None:
    """Train a challenger on fresh data, compare it with the champion on recent labels, promote if better."""
    from hone.maintain.schedule import parse_cron, run_on_schedule
    from hone.search.progress import auto_progress

    path = config or Path("hone.yaml")
    project, store = open_project(path)
    progress = None if quiet else auto_progress
    console = new_console()
    if schedule is None and not scheduled:
        outcome = _retrain(project, store, refit_only, progress)
        retrain_report(console, outcome, path)
        return
    if schedule is not None:
        cron = parse_cron(schedule, where="--schedule")
    elif project.retrain.schedule is not None:
        cron = parse_cron(project.retrain.schedule, where=project.where("retrain", "schedule"))
    else:
        raise HoneError("--scheduled needs retrain.schedule in the project file (or give --schedule CRON)")

    def job(due: Any) -> None:
        console.print(f"[bold]retrain at {due:%Y-%m-%d %H:%M} UTC[/]", highlight=False)
        try:
            retrain_report(console, _retrain(project, store, refit_only, progress), path)
        except HoneError as error:  # no feedback yet at 3am is no reason to stop the schedule
            typer.echo(f"error: {error}", err=True)

    def waiting(due: Any) -> None:
        console.print(f"next retrain: {due:%Y-%m-%d %H:%M} UTC", highlight=False)

    console.print(f"retraining on schedule {cron.expression!r} (UTC); Ctrl-C stops", highlight=False)
    try:
        run_on_schedule(cron, job, on_wait=waiting)
    except KeyboardInterrupt:
        typer.echo("retrain schedule stopped", err=True)


def _retrain(project: Any, store: Any, refit_only: bool | None, progress: Any) -> RetrainOutcome:
    from hone.maintain.retrain import retrain as run_retrain

    return run_retrain(project, store, refit_only=refit_only, progress=progress)


@app.command()
@friendly
def learn(
    config: ConfigOption = None,
    promote: Annotated[
        bool, typer.Option(help="Make each snapshot the champion (the served model) as it is saved.")
    ] = False,
    every: Annotated[
        str | None, typer.Option(help="Learn again at this interval (e.g. 1m, 10m) until Ctrl-C.")
    ] = None,
) -> None:
    """Update an online champion (partial_fit) from new feedback; save snapshots as registry versions."""
    from hone.maintain.learn import learn as run_learn

    seconds = every_seconds(every)
    path = config or Path("hone.yaml")
    project, store = open_project(path)
    console = new_console()
    repeat(lambda: learn_report(console, run_learn(project, store, promote=promote), path), seconds, "learn")


# -- rendering -------------------------------------------------------------------------------------------


def retrain_report(console: Console, outcome: RetrainOutcome, config: Path) -> None:
    """The data used, the search, the gate's numbers, the decision and how to undo it."""
    from hone.cli.render.search import plain_params

    data = outcome.data
    assert data is not None
    base = (
        f"{data.n_from_source:,} rows of the new source" if data.n_from_source else
        f"{data.n_from_training:,} training rows"
    )
    console.print(
        f"data: {base} + {data.n_from_production:,} labelled production rows = {outcome.n_train:,} rows"
        " to train on",
        highlight=False,
    )
    unusable = f"; {data.n_unusable:,} refused by the schema" if data.n_unusable else ""
    console.print(
        f"holdout: the {outcome.n_holdout:,} most recent labelled production rows "
        f"({data.holdout_start:%Y-%m-%d %H:%M} → {data.holdout_end:%Y-%m-%d %H:%M} UTC), never trained on"
        f"{unusable}",
        highlight=False,
    )
    quality = "; ".join(outcome.quality or []) or "passed"
    console.print(f"data quality of the {len(data.new_rows):,} new rows: {quality}", highlight=False)
    if outcome.search is not None:
        s = outcome.search
        names = {"grid": "grid search", "halving": "successive halving"}
        strategy = names.get(s.strategy, "randomized search")
        console.print(
            f"search: {s.model} — {strategy}, {s.n_candidates} candidates × {s.n_splits} folds = "
            f"{s.n_candidates * s.n_splits} fits ({s.computed} fitted now, {s.reused} read from the store); "
            f"best {plain_params(s.best_params)!r} (CV {s.label} {s.display_mean(s.best_index):,.1f})",
            highlight=False,
            markup=False,
        )
    if outcome.challenger is not None:
        how = "refit of the champion's params" if outcome.refit_only else "the search's best, refit"
        console.print(
            f"challenger: {outcome.model} v{outcome.challenger} ({how}), alias challenger; reference profile"
            f" from {outcome.profile_predictions} predictions",
            highlight=False,
        )
    if outcome.gate is not None:
        _gate_lines(console, outcome, outcome.gate)
    if outcome.promoted:
        console.print(f"decision: [bold green]promoted v{outcome.challenger} to champion[/]", highlight=False)
        console.print(f"roll back with: hone rollback -c {config}", highlight=False)
    else:
        why = (
            "the new rows fail data quality checks"
            if outcome.quality
            else f"the challenger is not better by the margin with {outcome.gate.confidence:.0%} confidence"
            if outcome.gate is not None
            else outcome.reason
        )
        console.print(f"decision: [bold]kept champion v{outcome.champion}[/] ({why})", highlight=False)
        if outcome.challenger is not None:
            console.print(
                f"promote it anyway with: hone promote {outcome.model} {outcome.challenger} -c {config}"
                " (and roll back with: hone rollback)",
                highlight=False,
            )


def _gate_lines(console: Console, outcome: RetrainOutcome, gate: GateResult) -> None:
    level = f"{gate.confidence:.0%}"
    console.print(
        f"gate: paired bootstrap on {gate.n:,} holdout rows ({gate.n_bootstrap:,} resamples,"
        f" {gate.loss} per row)",
        highlight=False,
    )
    squared = gate.loss == "squared error"

    def shown(loss: float) -> str:
        if squared:
            return f"RMSE {loss**0.5:,.0f}  (mean loss {loss:.4g})"
        return f"mean {gate.loss} {loss:.4g}"

    interval = (gate.challenger_low, gate.challenger_high)
    bounds = (
        f"RMSE [{interval[0] ** 0.5:,.0f}, {interval[1] ** 0.5:,.0f}]"
        if squared
        else f"[{interval[0]:.4g}, {interval[1]:.4g}]"
    )
    console.print(f"  champion v{outcome.champion}:   {shown(gate.champion_loss)}", highlight=False)
    console.print(
        f"  challenger v{outcome.challenger}: {shown(gate.challenger_loss)}; {level} interval {bounds}",
        highlight=False,
    )
    comparison = ">" if gate.low > gate.required else "≤"
    console.print(
        f"  improvement: {gate.improvement:.4g} per row ({gate.relative:.1%} of the champion's loss); "
        f"{level} lower bound {gate.low:.4g} {comparison} required {gate.required:.4g} "
        f"(margin {gate.margin:.0%} of the champion's loss)",
        highlight=False,
    )


def learn_report(console: Console, outcome: LearnOutcome, config: Path) -> None:
    # Restarted: a first run, or the champion moved (a promotion, a roll-back) since the last snapshot.
    how = "the champion" if outcome.restarted else "the last snapshot"
    console.print(f"learning {outcome.model} from v{outcome.start} ({how})", highlight=False)
    unusable = f" ({outcome.rows_unusable:,} unusable: refused by the schema or an unknown class)"
    console.print(
        f"read {outcome.rows_read:,} new labelled rows{unusable if outcome.rows_unusable else ''}",
        highlight=False,
    )
    for snapshot in outcome.snapshots:
        progressive = snapshot.progressive
        score = "" if progressive is None else f", progressive {outcome.metric} {progressive:.4g}"
        console.print(
            f"snapshot v{snapshot.version}: +{snapshot.rows:,} rows ({snapshot.rows_seen:,} in all){score}",
            highlight=False,
        )
    if outcome.rows_pending:
        console.print(
            f"pending: {outcome.rows_pending:,} rows not in a snapshot yet (learned again next time)",
            highlight=False,
        )
    if outcome.snapshots:
        last = outcome.snapshots[-1].version
        console.print(
            f"alias online → v{last}; serve it with: hone promote {outcome.model} {last} -c {config}"
            " (roll back with: hone rollback)",
            highlight=False,
        )
