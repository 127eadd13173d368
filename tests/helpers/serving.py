"""Serving fixtures: a registry in tmp_path with two real forests on a housing slice, live servers on it."""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import uvicorn
from sklearn.ensemble import RandomForestRegressor
from sklearn.pipeline import Pipeline

from hone.config.schema import ServeSettings
from hone.data import PrepareSpec, build_preparation
from hone.data.profile import ReferenceProfile
from hone.data.schema import FeatureSchema
from hone.serve.app import create_app
from hone.serve.source import ModelSource
from hone.store.db import Store, sqlite_url
from hone.store.registry import Registry

TARGET = "median_house_value"
MODEL = "housing"
TOKEN = "s3cret-token"
SPEC = PrepareSpec(
    categorical=["ocean_proximity"],
    derived={
        "rooms_per_hhold": "total_rooms / households",
        "pop_per_hhold": "population / households",
        "bedrooms_per_room": "total_bedrooms / total_rooms",
    },
)
N_TRAIN = 2000


@dataclass(frozen=True)
class ServeHousing:
    """The training slice, its schema and profile, and unseen rows to send as requests."""

    X: pd.DataFrame
    y: pd.Series
    schema: FeatureSchema
    profile: dict[str, Any]
    unseen: pd.DataFrame  # rows after the training slice, features only

    def records(self, n: int, start: int = 0) -> list[dict[str, Any]]:
        """Unseen rows as a JSON client sends them (None for a missing value)."""
        rows = self.unseen.iloc[start : start + n].to_dict("records")
        return [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in rows
        ]


@pytest.fixture(scope="session")
def serve_housing(housing_split) -> ServeHousing:
    train = housing_split.train
    X = train.drop(columns=TARGET).iloc[:N_TRAIN]
    y = train[TARGET].iloc[:N_TRAIN]
    schema = FeatureSchema.from_frame(X, target=TARGET, imputed=["total_bedrooms"])
    profile = ReferenceProfile.build(X, schema, y=y.to_numpy(), task="regression").to_dict()
    unseen = train.drop(columns=TARGET).iloc[N_TRAIN : N_TRAIN + 500]
    return ServeHousing(X, y, schema, profile, unseen)


def _forest(data: ServeHousing, n_estimators: int, seed: int) -> Pipeline:
    train = pd.concat([data.X, data.y], axis=1)
    model = RandomForestRegressor(n_estimators=n_estimators, max_features=8, random_state=seed)
    return Pipeline([("prepare", build_preparation(SPEC, train, TARGET)), ("model", model)]).fit(
        data.X, data.y
    )


@pytest.fixture(scope="session")
def forests(serve_housing: ServeHousing) -> dict[int, Pipeline]:
    """What versions 1 and 2 hold: the seed's 30-tree forest, and a different smaller one."""
    return {1: _forest(serve_housing, 30, 42), 2: _forest(serve_housing, 10, 7)}


def make_registry(
    folder: Path, data: ServeHousing, forests: dict[int, Pipeline], *, champion: bool = True
) -> Registry:
    """Versions 1 and 2 of MODEL in a SQLite store under ``folder``; version 1 is the champion."""
    registry = Registry(Store(sqlite_url(folder / "hone.db")), folder / "artifacts")
    for number, pipeline in forests.items():
        registry.register(
            MODEL,
            pipeline,
            task="regression",
            schema=data.schema,
            profile=data.profile,
            params=pipeline.named_steps["model"].get_params(),
            metrics={"cv": {"rmse": 50_000.0 + number}},
            data={"sha256": "0" * 64, "n_rows": len(data.X)},
            source={"project": MODEL, "model": "forest", "study": "test", "candidate": number},
            description=f"forest {number}",
        )
    if champion:
        registry.promote(MODEL, 1, reason="first")
    return registry


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Live:
    """A running server and what it serves."""

    url: str
    registry: Registry
    source: ModelSource
    app: Any
    log_dir: Path
    token: str | None
    model: str = MODEL

    @property
    def service(self) -> Any:
        return self.app.state.service

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}


@contextlib.contextmanager
def live_server(
    registry: Registry, log_dir: Path, *, token: str | None = TOKEN, **settings: Any
) -> Iterator[Live]:
    """The app on a real uvicorn server on 127.0.0.1 in a thread; stopped (and its log closed) on exit."""
    source = ModelSource(registry, MODEL)
    if registry.alias_version(MODEL) is not None:
        source.start()
    options = {"reload_seconds": 0.1, **settings}
    app = create_app(source, settings=ServeSettings(**options), log_dir=log_dir, token=token)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield Live(f"http://127.0.0.1:{listener.getsockname()[1]}", registry, source, app, log_dir, token)
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture()
def new_registry(
    tmp_path: Path, serve_housing: ServeHousing, forests: dict[int, Pipeline]
) -> Iterator[Callable[..., Registry]]:
    """Makes a fresh registry (versions 1 and 2; ``champion=False``: no alias yet) under tmp_path."""
    made: list[Registry] = []

    def make(*, champion: bool = True) -> Registry:
        made.append(
            make_registry(tmp_path / f"registry{len(made)}", serve_housing, forests, champion=champion)
        )
        return made[-1]

    yield make
    for registry in made:
        registry.store.close()


@pytest.fixture()
def start_server() -> Callable[..., contextlib.AbstractContextManager[Live]]:
    """``with start_server(registry, log_dir, token=..., **serve_settings) as live:`` a live server."""
    return live_server


@pytest.fixture(scope="module")
def shared_live(
    tmp_path_factory, serve_housing: ServeHousing, forests: dict[int, Pipeline]
) -> Iterator[Live]:
    """One server for the tests that do not change the registry (module scope: starting one costs ~0.3 s)."""
    folder = tmp_path_factory.mktemp("live")
    registry = make_registry(folder, serve_housing, forests)
    with live_server(registry, folder / "log", max_rows=200, max_body_mb=0.25) as live:
        yield live
    registry.store.close()
