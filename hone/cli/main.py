"""The `hone` command assembled: the --debug switch and every module's verbs, in the order help lists them."""

from __future__ import annotations

from typing import Annotated

import typer

from hone.cli import analyze, launch, maintain, monitor, serve, tune
from hone.cli.common import state

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="hone: tune a shortlist of models on tabular data, persisted and resumable.",
)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    state["debug"] = debug




for module in (tune, analyze, launch, maintain, monitor, serve):
    app.add_typer(module.app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
