"""`hone serve`: the HTTP prediction service on the champion of a registered model."""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hone.cli.common import friendly, open_project
from hone.errors import HoneError

app = typer.Typer()  # this module's verbs; hone.cli.main assembles every module's app

if TYPE_CHECKING:
    from hone.config.schema import ServeSettings
    from hone.store.registry import Registry


@dataclass
class _Target:
    """What to serve, and how, once the config (or the bare store) and the flags are combined."""

    registry: Registry
    name: str
    settings: ServeSettings
    log_dir: Path


@app.command()
@friendly
def serve(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="The project file.")] = None,
    store: Annotated[
        str | None, typer.Option("--store", help="Store path or SQLAlchemy URL (instead of --config).")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Registered model (default: the project's).")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Port (default 8000; 0 picks a free one).")
    ] = None,
    log: Annotated[Path | None, typer.Option("--log", help="Folder of the prediction log.")] = None,
) -> None:
    """Serve the champion of a registered model over HTTP, following the champion alias as it moves.

    /feedback and /admin/reload need 'Authorization: Bearer $HONE_TOKEN' (/predict too if protect_predict).
    """
    import uvicorn

    from hone.serve.app import create_app
    from hone.serve.source import ModelSource

    target = _target(config, store, model, host, port, log)
    source = ModelSource(target.registry, target.name)
    served = source.start()
    listener = _listen(target.settings.host, target.settings.port)
    token = os.environ.get("HONE_TOKEN") or None
    application = create_app(source, settings=target.settings, log_dir=target.log_dir, token=token)
    bound_host, bound_port = listener.getsockname()[:2]
    fast = "fast path" if served.predictor.compiled else f"plain pipeline: {served.predictor.reason}"
    typer.echo(
        f"serving {served.name} v{served.number} ({fast}) at http://{_url_host(bound_host)}:{bound_port}"
        f" · log: {target.log_dir / served.name} · {_protection(target.settings.protect_predict, token)}"
    )
    _log_to_stderr()
    server = uvicorn.Server(
        uvicorn.Config(
            application,
            lifespan="on",
            log_level="warning",
            access_log=False,  # /metrics counts requests; a line per request costs more than a prediction
            timeout_graceful_shutdown=30,
        )
    )
    _end_quietly_on_signals()
    _freeze_startup_objects()
    server.run(sockets=[listener])
    written = application.state.service.log
    rows = written.rows_written if written is not None else 0
    typer.echo(f"stopped; {rows:,} prediction(s) written to the log")


def _target(
    config: Path | None,
    store: str | None,
    model: str | None,
    host: str | None,
    port: int | None,
    log: Path | None,
) -> _Target:
    from hone.config.schema import ServeSettings
    from hone.store.registry import Registry

    if config is not None and store is not None:
        raise HoneError("pass --config or --store, not both")
    if store is not None:
        from hone.cli.launch import model_name
        from hone.store.db import open_store, store_home

        opened = open_store(store)
        home = store_home(opened.url)
        registry = Registry.beside_store(opened)
        settings = ServeSettings()
        name = model_name(model, None, registry, "the model to serve with --model")
        log_dir = home / "log"
    else:
        path = config or Path("hone.yaml")
        if not path.exists():
            raise HoneError(f"no project file {str(path)!r}: pass --config PATH or --store URL")
        project, opened = open_project(path)
        registry = Registry.of_project(project, opened)
        settings = project.serve
        name = model or project.model_name
        log_dir = project.log_dir
    overrides: dict[str, Any] = {"host": host, "port": port, "log": None if log is None else str(log)}
    settings = settings.model_copy(
        update={key: value for key, value in overrides.items() if value is not None}
    )
    return _Target(registry, name, settings, Path(log) if log is not None else log_dir)


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a busy port is a one-line error before anything starts."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listener = socket.socket(family, kind, protocol)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(2048)  # clients connecting while the app starts wait in the backlog, not refused
    except OSError as error:
        raise HoneError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    listener.set_inheritable(True)
    return listener


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _protection(protect_predict: bool, token: str | None) -> str:
    if token is None:
        return "HONE_TOKEN not set: /feedback and /admin refuse every request" + (
            ", and so does /predict (serve.protect_predict)" if protect_predict else ""
        )
    return (
        "/predict, /feedback and /admin need the token"
        if protect_predict
        else "/feedback and /admin need the token"
    )


def _log_to_stderr() -> None:
    # Switches to a new champion, failed loads and log write errors: operators need to see them.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("hone.serve", "hone.log"):
        logger = logging.getLogger(name)
        if not logger.handlers:
            logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _freeze_startup_objects() -> None:
    """Hide what start-up made (the libraries, the loaded model) from the cyclic garbage collector.

    About 200,000 objects that live as long as the process: a full collection walks them all (90-130 ms
    here), every 10-20 s at 1,500 requests/s, stalling the event loop, and wrk's latency (corrected for
    coordinated omission) counts one such stall as a hundred slow requests: p99 10-27 ms instead of 1.5 in
    half the 10 s runs. Frozen, they are never walked; collections see only what came later.
    """
    gc.collect()  # garbage made while loading is freed, not frozen for good
    gc.freeze()


def _end_quietly_on_signals() -> None:
    """uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler it found:
    with this one the command ends normally (exit 0) instead of dying of the signal after a clean stop."""

    def ignore(number: int, frame: Any) -> None:
        return None

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, ignore)
