"""`hone tune` and `hone results`: search the shortlist, print the ranking."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hone.cli.common import default_config, friendly, new_console, open_project
from hone.errors import HoneError, StoreError

app = typer.Typer()  # this module's verbs; hone.cli.main assembles every module's app


def _budget_seconds(text: str) -> float:
    from hone.config.schema import parse_duration
    from hone.errors import ConfigError

    try:
        return parse_duration(text)
    except ValueError as error:
        raise ConfigError(f"--budget: {error}") from None


@app.command()
@friendly
def tune(
    config: Annotated[
        Path | None, typer.Argument(help="The project file, e.g. examples/housing/hone.yaml (or -c FILE).")
    ] = None,
    expand: Annotated[
        bool, typer.Option(help="Widen a grid whose best value sits at its edge, and search again.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or progress lines.")] = False,
    budget: Annotated[
        str | None, typer.Option(help="Best model within this time (60s, 5m), refit included.")
    ] = None,
    config_option: Annotated[
        Path | None, typer.Option("--config", "-c", help="The project file (as every other verb takes it).")
    ] = None,
) -> None:
    """Tune every model of the project's shortlist; rerun the same command to resume a killed run."""
    from hone.cli.render.search import summaries_report
    from hone.config.load import load_config
    from hone.search.progress import auto_progress
    from hone.search.summary import summarize
    from hone.tune.project import tune as run_tune

    project = load_config(_one_config(config, config_option))
    console = new_console()
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


def _one_config(argument: Path | None, option: Path | None) -> Path:
    """`hone tune FILE` and `hone tune -c FILE` are the same; both at once must agree."""
    if argument is not None and option is not None and argument != option:
        raise HoneError(f"two project files given ({argument} and -c {option}): give one")
    return argument or option or default_config()


@app.command()
@friendly
def results(
    study: Annotated[
        str | None, typer.Argument(help="A study name (default: every study of the last tune).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Project file whose store to read.")
    ] = None,
    store: Annotated[
        str | None, typer.Option(help="Store path or SQLAlchemy URL (instead of --config).")
    ] = None,
) -> None:
    """Print a stored study (or the last `hone tune`) again, without fitting anything."""
    import json

    from hone.cli.render.search import summaries_report
    from hone.search.summary import read_summary
    from hone.store.db import open_store

    opened = (
        open_store(store, writes=False)
        if store is not None
        else open_project(config or default_config(), writes=False)[1]
    )
    if study is None:
        run = opened.last_run()
        if run is None:
            raise StoreError("no `hone tune` run in this store yet", where=opened.url)
        studies = json.loads(run.studies)
        if not studies:
            raise StoreError("the last `hone tune` run finished no study", where=opened.url)
    else:
        studies = [study]
    summaries_report(new_console(), [read_summary(opened.optuna, name) for name in studies])
