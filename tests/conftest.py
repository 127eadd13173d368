"""Shared fixtures: the housing data comes from HONE_DATA_DIR (set by the Makefile and .ci/run).

The PostgreSQL server for ``store_url`` comes from HONE_TEST_POSTGRES_URL, set by ``make test``
(tests/servers/postgres.sh); without it those tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

# Serving fixtures (a registry of real forests, live uvicorn servers) for the serve, CLI and launch tests.
pytest_plugins = ["helpers.serving"]

TARGET = "median_house_value"
DERIVED = {
    "rooms_per_hhold": "total_rooms / households",
    "pop_per_hhold": "population / households",
    "bedrooms_per_room": "total_bedrooms / total_rooms",
}


@pytest.fixture(scope="session")
def housing() -> pd.DataFrame:
    # Without HONE_DATA_DIR the loader tries its cache and the download, and says where to put the file.
    from hone.data import load_housing

    return load_housing()


@pytest.fixture(scope="session")
def housing_split(housing: pd.DataFrame):
    from hone.data import SplitSpec, split_train_test

    return split_train_test(
        housing,
        SplitSpec(test_size=0.2, stratify="median_income", bins=[0, 1.5, 3.0, 4.5, 6.0, np.inf], seed=42),
    )


@pytest.fixture(scope="session")
def housing_prepared(housing_split) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The whole training set prepared as the seed does (16 features)."""
    from hone.data import PrepareSpec, build_preparation

    train = housing_split.train
    features = train.drop(columns=TARGET)
    preparation = build_preparation(
        PrepareSpec(categorical=["ocean_proximity"], derived=DERIVED), train, TARGET
    )
    X = preparation.fit_transform(features)
    return X, train[TARGET].to_numpy(), list(preparation.get_feature_names_out())


@pytest.fixture(scope="session")
def housing_slice(housing_prepared) -> tuple[np.ndarray, np.ndarray]:
    """A small slice for unit tests: fast, still real data."""
    X, y, _ = housing_prepared
    return X[:1200], y[:1200]


@pytest.fixture()
def project_dir(tmp_path: Path) -> Path:
    return tmp_path


# -- stores: a real SQLite file, and a fresh database on a real PostgreSQL server -------------------------

POSTGRES_URL_VARIABLE = "HONE_TEST_POSTGRES_URL"


def required_in_ci(component: str, why: str) -> None:
    """A missing component skips the test locally and fails it under CI=true, so CI is never green
    without it."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{component} is required in CI: {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """The headless Chromium of the browser tests (the report, the monitoring page)."""
    from helpers.browser import CHROMIUM

    if not CHROMIUM.exists():
        required_in_ci("Chromium", f"needs headless Chromium at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[sa.Engine]:
    """The server's maintenance database, in autocommit mode (CREATE DATABASE runs outside transactions)."""
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        why = f"{POSTGRES_URL_VARIABLE} is not set: `make test` starts a PostgreSQL server for these tests"
        required_in_ci("PostgreSQL", why)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()


def fresh_postgres_database(server: sa.Engine) -> str:
    """The URL of a new, empty database on ``server``."""
    name = f"hone_test_{uuid.uuid4().hex[:16]}"
    with server.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return server.url.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(server: sa.Engine, url: str) -> None:
    # FORCE: a test may leave a store open; its connections go with the database.
    name = sa.make_url(url).database
    with server.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes empty stores on one engine, a new one per call: SQLite files under tmp_path, or new
    databases on the PostgreSQL server."""
    server = request.getfixturevalue("postgres_server") if request.param == "postgresql" else None
    made: list[str] = []

    def make() -> str:
        if server is None:
            name = f"hone-{len(made)}.db" if made else "hone.db"
            url = f"sqlite:///{(tmp_path / name).as_posix()}"
        else:
            url = fresh_postgres_database(server)
        made.append(url)
        return url

    yield make
    if server is not None:
        for url in made:
            drop_postgres_database(server, url)


@pytest.fixture()
def store_url(store_urls: Callable[[], str]) -> str:
    """An SQLAlchemy URL of an empty store: a SQLite file under tmp_path, or a new PostgreSQL database."""
    return store_urls()
