"""`hone models | register | promote | rollback | predict`: the registry and batch prediction."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hone.cli.common import friendly, new_console, open_project
from hone.errors import HoneError, StoreError

app = typer.Typer()  # this module's verbs; hone.cli.main assembles every module's app

if TYPE_CHECKING:
    from hone.store.registry import Registry

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="The project file.")]
StoreOption = Annotated[
    str | None, typer.Option("--store", help="Store path or SQLAlchemy URL (instead of --config).")
]


def registry_from_options(config: Path | None, store: str | None) -> tuple[Registry, str | None]:
    """The registry of a project file's store (and the project's model name), or of a store URL."""
    from hone.store.db import open_store
    from hone.store.registry import Registry

    if store is not None:
        opened = open_store(store)
        return Registry.beside_store(opened), None
    path = config or Path("hone.yaml")
    if not path.exists():
        raise HoneError(f"no project file {str(path)!r}: pass --config PATH or --store URL")
    project, opened = open_project(path)
    return Registry.of_project(project, opened), project.model_name


def model_name(given: str | None, default: str | None, registry: Registry, flag: str = "the model") -> str:
    """The model named, else the project's, else the store's only one."""
    if given is not None:
        return given
    if default is not None:
        return default
    names = registry.names()
    if len(names) == 1:
        return names[0]
    raise HoneError(f"name {flag}: this store holds {', '.join(names) or 'no registered model'}")


@app.command()
@friendly
def register(
    model: Annotated[
        str | None, typer.Argument(help="A shortlist model or study of the last tune (default: the best).")
    ] = None,
    config: ConfigOption = None,
    candidate: Annotated[
        int | None, typer.Option(help="A candidate's index in its study (default: its best).")
    ] = None,
    alias: Annotated[
        str | None,
        typer.Option(help="Alias to give it (default: champion for a first version, else challenger)."),
    ] = None,
    description: Annotated[str, typer.Option(help="A note kept with the version.")] = "",
) -> None:
    """Refit a tuned candidate on the training set and store it as a new version of the project's model."""
    from hone.cli.render.launch import registration
    from hone.launch.register import register_candidate

    project, store = open_project(config or Path("hone.yaml"))
    result = register_candidate(project, store, model, candidate, alias=alias, description=description)
    registration(new_console(), result, config or Path("hone.yaml"))


@app.command()
@friendly
def models(
    name: Annotated[str | None, typer.Argument(help="A registered model (default: every one).")] = None,
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """Every registered version with its scores and aliases, and the last alias moves."""
    from hone.cli.render.launch import versions_table

    registry, _ = registry_from_options(config, store)
    names = [name] if name is not None else registry.names()
    if not names:
        typer.echo("no registered model yet: run `hone register` after `hone tune`")
        return
    console = new_console()
    for each in names:
        versions_table(console, each, registry.versions(each), registry.aliases(each), registry.history(each))


@app.command()
@friendly
def promote(
    name: Annotated[str, typer.Argument(help="The registered model.")],
    version: Annotated[str, typer.Argument(help="The version to promote (a number or an alias).")],
    alias: Annotated[str, typer.Option(help="The alias to move.")] = "champion",  # registry.CHAMPION
    reason: Annotated[str, typer.Option(help="Why, for the audit trail.")] = "",
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """Move an alias (champion by default) to a version, after loading it and a smoke prediction."""
    from hone.cli.render.launch import alias_move
    from hone.store.registry import CHAMPION

    registry, _ = registry_from_options(config, store)
    target = registry.get(name, version)
    if alias == CHAMPION:
        move = registry.promote(name, target.version, reason=reason)
    else:
        move = registry.set_alias(name, alias, target.version, reason=reason)
    alias_move(new_console(), move)


@app.command()
@friendly
def rollback(
    name: Annotated[str | None, typer.Argument(help="The registered model (default: the project's).")] = None,
    reason: Annotated[str, typer.Option(help="Why, for the audit trail.")] = "",
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """Move champion back to the previous champion (verified first; nothing moves if it is broken)."""
    from hone.cli.render.launch import alias_move

    registry, default = registry_from_options(config, store)
    alias_move(new_console(), registry.rollback(model_name(name, default, registry), reason=reason))


_MODEL_REF = re.compile(r"^(?P<name>[^@]+?)(?:@(?P<ref>.+))?$")


@app.command()
@friendly
def predict(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write predictions (.parquet).")],
    input: Annotated[  # noqa: A002 - the option's name
        str | None, typer.Option("--input", "-i", help="A CSV or Parquet file of new rows.")
    ] = None,
    query: Annotated[
        str | None, typer.Option(help="A SQL query for the rows (with --url): a production source.")
    ] = None,
    url: Annotated[str | None, typer.Option(help="SQLAlchemy URL the --query runs on.")] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="NAME, NAME@ALIAS or NAME@VERSION (default: the champion)."),
    ] = None,
    strict: Annotated[bool, typer.Option(help="Stop at the first bad row (nothing is written).")] = False,
    keep: Annotated[
        list[str] | None, typer.Option(help="An input column to copy to the output (e.g. an id).")
    ] = None,
    chunk_rows: Annotated[int, typer.Option(help="Rows read and predicted at a time.", min=1)] = 100_000,
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """Predict a file (or a SQL query's rows) in chunks with a registered model; bad rows are reported."""
    from hone.cli.render.launch import batch_report
    from hone.launch.batch import SqlSource, predict_table
    from hone.launch.predictor import compile_predictor, describe

    if (input is None) == (query is None):
        raise HoneError("give either --input FILE or --query SQL (with --url)")
    if query is not None and url is None:
        raise HoneError("--query needs --url, the SQLAlchemy URL of the database to run it on")
    registry, default = registry_from_options(config, store)
    name, ref = _parse_model(model)
    version = registry.get(model_name(name, default, registry), ref)
    pipeline = registry.load(version)
    _predict_in_parallel(pipeline)
    # The compiled preparation (numpy on the fitted statistics) is several times faster than the
    # ColumnTransformer on DataFrames, and a forest's compiled tree walk 2-2.5x faster than its predict;
    # both check themselves against the pipeline and fall back if they differ.
    predictor = compile_predictor(
        pipeline, version.schema, examples=version.profile.get("examples", ()), large_batches=True
    )
    source: Any = SqlSource(url, query) if query is not None else Path(input)  # type: ignore[arg-type]
    report = predict_table(
        predictor.predict_frame, version.schema, source, output, chunk_rows=chunk_rows, strict=strict,
        keep=keep or (), task=version.task,  # type: ignore[arg-type]
    )
    batch_report(new_console(), version, report, describe(predictor))


def _parse_model(model: str | None) -> tuple[str | None, str | None]:
    if model is None:
        return None, None
    match = _MODEL_REF.match(model)
    if match is None:
        raise StoreError(f"--model {model!r}: expected NAME, NAME@ALIAS or NAME@VERSION")
    return match.group("name"), match.group("ref")


def _predict_in_parallel(pipeline: Any) -> None:
    # Batch prediction is throughput-bound: let a forest predict its trees on every core. The sum of
    # tree outputs may then be added in another order (differences of ~1e-16 relative).
    model = pipeline[-1]
    if hasattr(model, "n_jobs"):
        model.n_jobs = -1
