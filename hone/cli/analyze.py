"""`hone analyze`, `hone evaluate`, `hone report`: look at the best models, once at the test set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hone.cli.common import ConfigOption, friendly, new_console, open_project
from hone.errors import HoneError

app = typer.Typer()  # this module's verbs; hone.cli.main assembles every module's app


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
    from hone.cli.render.analysis import evaluation
    from hone.data.training import load_training_set

    if not 0 < confidence < 1:
        raise HoneError(f"--confidence must be between 0 and 1, got {confidence}")
    project, store = open_project(config)
    candidate = find_candidate(project, store, model)
    training = load_training_set(project)
    X_test, y_test = load_test_set(project, store, training)
    result = evaluate_on_test(candidate, training, X_test, y_test, confidence=confidence)
    evaluation(new_console(), result, record(store, project, candidate, result, final=final))


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
    from hone.cli.render.analysis import analysis
    from hone.data.training import load_training_set

    project, store = open_project(config)
    chosen = find_candidate(project, store, model, candidate)
    result = run_analysis(chosen, load_training_set(project), permutation=permutation, drop_share=drop_share)
    analysis(new_console(), result, all_bins=all_bins)


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
    from hone.data.training import load_training_set
    from hone.report import write_report
    from hone.report.assemble import report_data
    from hone.search.summary import read_summary

    project, store = open_project(config)
    summaries = [read_summary(store.optuna, name) for name in tuned_studies(project, store)]
    chosen = find_candidate(project, store, model)
    result = run_analysis(chosen, load_training_set(project)) if analysis else None
    looks = store.evaluations(project.project)
    mine = [row for row in looks if row.model == chosen.model.name]
    data = report_data(project.project, summaries, result, mine[-1] if mine else None, len(looks))
    path = write_report(data, output)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1024:,.0f} KB): open it in a browser")
