"""The `hone` command: parse, call the Python API, render. Errors the user can fix are one line, exit 2."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from hone.errors import HoneError, StoreError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="hone: tune a shortlist of models on tabular data, persisted and resumable.",
)
_state = {"debug": False}
Command = TypeVar("Command", bound=Callable[..., Any])


def friendly(command: Command) -> Command:
    """A HoneError becomes one line on stderr and exit code 2 (the traceback only with --debug)."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except HoneError as error:
            if _state["debug"]:
                raise
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted; rerun the same command to resume where it stopped", err=True)
            raise typer.Exit(130) from None

    return run  # type: ignore[return-value]


def _console() -> Console:
    # Wide enough for the tables when the output goes to a file or a pipe.
    return Console(width=None if sys.stdout.isatty() else 160)


def every_seconds(every: str | None) -> float | None:
    """``--every 10m`` in seconds (None: run once)."""
    if every is None:
        return None
    from hone.config import parse_duration

    try:
        return parse_duration(every)
    except ValueError:
        raise HoneError(f"--every {every!r}: not a duration like 90s, 10m, 1h or 7d") from None


def repeat(run: Callable[[], None], seconds: float | None, name: str) -> None:
    """Run once; with ``seconds``, again after each pause until Ctrl-C.

    A first failure is bad input (exit 2); a later one may pass (a log being rotated): say it, go on."""
    run()
    if seconds is None:
        return
    try:
        while True:
            time.sleep(seconds)
            try:
                run()
            except HoneError as error:
                typer.echo(f"error: {error}", err=True)
    except KeyboardInterrupt:
        typer.echo(f"{name} stopped", err=True)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    _state["debug"] = debug


def _budget_seconds(text: str) -> float:
    from hone.config import parse_duration
    from hone.errors import ConfigError

    try:
        return parse_duration(text)
    except ValueError as error:
        raise ConfigError(f"--budget: {error}") from None


@app.command()
@friendly
def tune(
    config: Annotated[Path, typer.Argument(help="The project file, e.g. examples/housing/hone.yaml.")],
    expand: Annotated[
        bool, typer.Option(help="Widen a grid whose best value sits at its edge, and search again.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or progress lines.")] = False,
    budget: Annotated[
        str | None, typer.Option(help="Best model within this time (60s, 5m), refit included.")
    ] = None,
) -> None:
    """Tune every model of the project's shortlist; rerun the same command to resume a killed run."""
    from hone.config import load_config
    from hone.progress import auto_progress
    from hone.project import tune as run_tune
    from hone.render import summaries_report
    from hone.search.summary import summarize

    project = load_config(config)
    console = _console()
    seconds = None if budget is None else _budget_seconds(budget)
    outcome = run_tune(project, progress=None if quiet else auto_progress, expand=expand, budget=seconds)
    console.print(
        f"split: {outcome.n_train:,} training rows; {outcome.n_test:,} test rows locked in the store "
        f"({'recorded now' if outcome.split_recorded else 'same as recorded before'}), never read by tune"
    )
    console.print(
        f"prepared features ({len(outcome.feature_names)}): {', '.join(outcome.feature_names)}\n",
        highlight=False,
    )
    summaries = []
    for model in outcome.models:
        for number, search in enumerate(model.rounds, start=1):
            name = model.name if number == 1 else f"{model.name} (round {number})"
            summary = summarize(name, search, model.settings.strategy)
            if number == len(model.rounds) > 1:
                summary.edges = model.edges  # judged against every round's values, not just this one's
            summaries.append(summary)
    summaries_report(console, summaries, "; `hone results` prints this again from the store")
    if outcome.budget is not None:
        b = outcome.budget
        cut = "; a fit in flight was stopped at the deadline" if b.stopped_in_fit else ""
        console.print(
            f"budget {b.budget:g} s: chose {b.chosen} (best mean less one standard error across folds); "
            f"search {b.search_seconds:.1f} s, total with refit {b.total_seconds:.1f} s{cut}",
            highlight=False,
        )
        for name, why in b.dropped.items():
            console.print(f"dropped {name}: {why}", highlight=False)


@app.command()
@friendly
def results(
    study: Annotated[
        str | None, typer.Argument(help="A study name (default: every study of the last tune).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Project file whose store to read.")] = None,
    store: Annotated[
        str | None, typer.Option(help="Store path or SQLAlchemy URL (instead of --config).")
    ] = None,
) -> None:
    """Print a stored study (or the last `hone tune`) again, without fitting anything."""
    import json

    from hone.render import summaries_report
    from hone.search.summary import read_summary
    from hone.store.db import open_store

    opened = open_store(store) if store is not None else _project(config or _default_config())[1]
    if study is None:
        run = opened.last_run()
        if run is None:
            raise StoreError("no `hone tune` run in this store yet", where=opened.url)
        studies = json.loads(run.studies)
        if not studies:
            raise StoreError("the last `hone tune` run finished no study", where=opened.url)
    else:
        studies = [study]
    summaries_report(_console(), [read_summary(opened.optuna, name) for name in studies])


ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The project file.")]


def _project(config: Path) -> tuple[Any, Any]:
    """The project file and its existing store (never created here: only `hone tune` creates it)."""
    from hone.config import load_config
    from hone.store.db import Store

    project = load_config(config)
    url = project.store_url
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        raise StoreError("the store does not exist yet: run `hone tune` first", where=url)
    return project, Store(url)


@app.command()
@friendly
def evaluate(
    model: Annotated[
        str | None, typer.Argument(help="A shortlist model or study (default: the best).")
    ] = None,
    config: ConfigOption = Path("hone.yaml"),
    final: Annotated[bool, typer.Option(help="Mark this model as the final choice.")] = False,
    confidence: Annotated[float, typer.Option(help="Confidence level of the intervals.")] = 0.95,
) -> None:
    """Score the refit best pipeline once on the locked test set, with confidence intervals."""
    from hone.analysis.candidate import find_candidate
    from hone.analysis.evaluate import evaluate as evaluate_on_test
    from hone.analysis.evaluate import load_test_set, record
    from hone.project import load_training_set
    from hone.render_analysis import evaluation

    if not 0 < confidence < 1:
        raise HoneError(f"--confidence must be between 0 and 1, got {confidence}")
    project, store = _project(config)
    candidate = find_candidate(project, store, model)
    training = load_training_set(project)
    X_test, y_test = load_test_set(project, store, training)
    result = evaluate_on_test(candidate, training, X_test, y_test, confidence=confidence)
    evaluation(_console(), result, record(store, project, candidate, result, final=final))


@app.command()
@friendly
def analyze(
    model: Annotated[
        str | None, typer.Argument(help="A shortlist model or study (default: the best).")
    ] = None,
    config: ConfigOption = Path("hone.yaml"),
    candidate: Annotated[
        int | None, typer.Option(help="A candidate's index in its study (default: best).")
    ] = None,
    permutation: Annotated[bool, typer.Option(help="Permutation importance on the validation folds.")] = True,
    drop_share: Annotated[
        float, typer.Option(help="Try dropping features worth less than this share.")
    ] = 0.05,
    all_bins: Annotated[bool, typer.Option(help="Print the error by bins of every feature.")] = False,
) -> None:
    """Importances named through the preparation, verified drop suggestions, and where the errors are."""
    from hone.analysis.bundle import analyze as run_analysis
    from hone.analysis.candidate import find_candidate
    from hone.project import load_training_set
    from hone.render_analysis import analysis

    project, store = _project(config)
    chosen = find_candidate(project, store, model, candidate)
    result = run_analysis(chosen, load_training_set(project), permutation=permutation, drop_share=drop_share)
    analysis(_console(), result, all_bins=all_bins)


@app.command()
@friendly
def report(
    model: Annotated[str | None, typer.Argument(help="The model to analyse (default: the best).")] = None,
    config: ConfigOption = Path("hone.yaml"),
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the HTML file.")] = Path(
        "hone-report.html"
    ),
    analysis: Annotated[
        bool, typer.Option(help="Include importances and errors (refits on the folds).")
    ] = True,
) -> None:
    """One self-contained HTML page: searches, importances, errors and the recorded test evaluation."""
    from hone.analysis.bundle import analyze as run_analysis
    from hone.analysis.candidate import find_candidate, tuned_studies
    from hone.project import load_training_set
    from hone.report import write_report
    from hone.report.assemble import report_data
    from hone.search.summary import read_summary

    project, store = _project(config)
    summaries = [read_summary(store.optuna, name) for name in tuned_studies(project, store)]
    chosen = find_candidate(project, store, model)
    result = run_analysis(chosen, load_training_set(project)) if analysis else None
    looks = store.evaluations(project.project)
    mine = [row for row in looks if row.model == chosen.model.name]
    data = report_data(project.project, summaries, result, mine[-1] if mine else None, len(looks))
    path = write_report(data, output)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1024:,.0f} KB): open it in a browser")


def _default_config() -> Path:
    path = Path("hone.yaml")
    if not path.exists():
        raise HoneError("no hone.yaml here: pass --config PATH or --store URL")
    return path


# The launch commands live in their own modules; importing them registers them on `app`.
from hone import cli_launch, cli_maintain, cli_monitor, cli_serve  # noqa: E402, F401


def main() -> None:
    app()


if __name__ == "__main__":
    main()
