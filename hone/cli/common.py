"""What every verb shares: one-line errors (exit 2), the console, the project file option, repeating."""

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

state = {"debug": False}


Command = TypeVar("Command", bound=Callable[..., Any])


def friendly(command: Command) -> Command:
    """A HoneError becomes one line on stderr and exit code 2 (the traceback only with --debug)."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except HoneError as error:
            if state["debug"]:
                raise
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted; rerun the same command to resume where it stopped", err=True)
            raise typer.Exit(130) from None

    return run  # type: ignore[return-value]


def new_console() -> Console:
    # Wide enough for the tables when the output goes to a file or a pipe.
    return Console(width=None if sys.stdout.isatty() else 160)


def every_seconds(every: str | None) -> float | None:
    """``--every 10m`` in seconds (None: run once)."""
    if every is None:
        return None
    from hone.config.schema import parse_duration

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


ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The project file.")]


def open_project(config: Path, *, writes: bool = True) -> tuple[Any, Any]:
    """The project file and its existing store (never created here: only `hone tune` creates it).

    ``writes=False``: the command only reads, so a read-only store is fine."""
    from hone.config.load import load_config
    from hone.store.db import Store

    project = load_config(config)
    url = project.store_url
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        raise StoreError("the store does not exist yet: run `hone tune` first", where=url)
    return project, Store(url, writes=writes)


def default_config() -> Path:
    path = Path("hone.yaml")
    if not path.exists():
        raise HoneError("no hone.yaml here: pass --config PATH or --store URL")
    return path
