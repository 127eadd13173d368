"""The project database: Optuna's tables for trials, hone's own tables for what Optuna has no place for.

One SQLAlchemy URL holds both: a SQLite file under ``.hone/`` by default, PostgreSQL for teams.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from hone.errors import StoreError
from hone.store.jsonable import params_key
from hone.store.schema import prepare_schema

metadata = sa.MetaData()

splits_table = sa.Table(
    "hone_splits",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("project", sa.Text, nullable=False),
    sa.Column("data_sha256", sa.String(64), nullable=False),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("n_test", sa.Integer, nullable=False),
    sa.Column("test_ids_sha256", sa.String(64), nullable=False),
    sa.Column("test_ids", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("project", "data_sha256", name="uq_split_project_data"),
)

runs_table = sa.Table(
    "hone_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("project", sa.Text, nullable=False),
    sa.Column("command", sa.String(50), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("studies", sa.Text, nullable=False, default="[]"),
)


evaluations_table = sa.Table(
    "hone_evaluations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("project", sa.Text, nullable=False),
    sa.Column("test_ids_sha256", sa.String(64), nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("study", sa.Text, nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("final", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


def now() -> datetime:
    return datetime.now(timezone.utc)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # Writers (a monitor run, a promotion) hold the file's lock briefly; a reader such as the service's
    # alias poll waits for them instead of failing. (No WAL: the store stays one file to copy or back up.)
    cursor = connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def check_sqlite_place(path: Path, shown: str, *, writes: bool = True) -> None:
    """A SQLite store's file and folder exist or can be made, and can be written: else one StoreError.

    Checked before SQLite touches anything, so a bad path leaves nothing behind (no half-made folders)."""
    if path.as_posix().startswith("file:"):
        return  # a SQLite URI (mode=ro, ...): SQLite itself decides, and the write probe tells
    blocker = next((p for p in [path, *path.parents] if p.exists() and not p.is_dir()), None)
    if blocker is not None and blocker != path:
        raise StoreError(f"cannot make the store's folder: {str(blocker)!r} is a file", where=shown)
    if path.is_dir():
        raise StoreError("the store path is a folder; give a file such as .hone/hone.db", where=shown)
    existing = next(p for p in path.parents if p.exists())
    if not os.access(existing, os.W_OK | os.X_OK) and not path.exists():
        raise StoreError(f"cannot create the store: no write permission in {str(existing)!r}", where=shown)
    if path.exists() and not os.access(path, os.R_OK):
        raise StoreError("the store file cannot be read", where=shown)
    if not writes:
        return
    if path.exists() and not os.access(path, os.W_OK):
        raise StoreError("the store file cannot be written (read-only or immutable)", where=shown)
    if path.exists() and not os.access(path.parent, os.W_OK | os.X_OK):
        # SQLite writes its rollback journal beside the file.
        raise StoreError(f"the store's folder {str(path.parent)!r} cannot be written", where=shown)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"cannot make the store's folder: {error.strerror}", where=shown) from None


def _probe_write(engine: sa.Engine) -> None:
    # A store opened read-only (a SQLite URI with mode=ro, a file the checks above could not see through)
    # fails here, on opening, rather than in the middle of a run. A read-only SQLite still grants BEGIN
    # IMMEDIATE; a statement that writes (here one that changes no row, then rolled back) is refused.
    with engine.connect() as connection:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            connection.exec_driver_sql("DELETE FROM hone_schema WHERE 0")
        finally:
            connection.exec_driver_sql("ROLLBACK")


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


class Store:
    """A connection to the project database; tables are created on first use.

    ``writes=False`` (commands that only read, such as `hone results`) accepts a read-only SQLite store."""

    def __init__(self, url: str, *, writes: bool = True) -> None:
        self.url = url
        try:
            parsed = make_url(url)
        except sa.exc.ArgumentError:
            raise StoreError(f"not a database URL: {url!r}") from None
        shown = parsed.render_as_string(hide_password=True)  # a team store's URL may hold a password
        sqlite_file = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
        if sqlite_file:
            check_sqlite_place(Path(parsed.database), shown, writes=writes)
        try:
            self.engine = sa.create_engine(url)
            if parsed.get_backend_name() == "sqlite":
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            prepare_schema(self.engine, metadata)
            if sqlite_file and writes:
                _probe_write(self.engine)
        except (sa.exc.SQLAlchemyError, ModuleNotFoundError) as error:
            raise StoreError(f"cannot open the store {shown!r}: {str(error).splitlines()[0]}") from None
        self._optuna: Any = None

    @property
    def optuna(self) -> Any:
        """Optuna's RDB storage on the same database (created lazily: it is slow to set up)."""
        if self._optuna is None:
            import optuna

            optuna.logging.set_verbosity(logging.WARNING)
            self._optuna = optuna.storages.RDBStorage(self.url)
        return self._optuna

    # -- the locked test set ---------------------------------------------------------------
    def lock_split(
        self,
        project: str,
        data_sha256: str,
        spec: dict[str, Any],
        n_rows: int,
        test_ids: list[int],
        test_ids_sha256: str,
    ) -> bool:
        """Record the test set once; later runs must reproduce it. True when newly recorded."""
        with self.engine.begin() as connection:
            row = connection.execute(
                sa.select(splits_table).where(
                    splits_table.c.project == project, splits_table.c.data_sha256 == data_sha256
                )
            ).first()
            if row is not None:
                if row.test_ids_sha256 != test_ids_sha256:
                    raise StoreError(
                        f"the test set of project {project!r} was locked on {row.created_at:%Y-%m-%d} with "
                        f"split {row.spec}; this run's split differs, so it would see test rows. "
                        "Keep the split settings, or use a new project name"
                    )
                return False
            connection.execute(
                splits_table.insert().values(
                    project=project,
                    data_sha256=data_sha256,
                    spec=json.dumps(spec, sort_keys=True),
                    n_rows=n_rows,
                    n_test=len(test_ids),
                    test_ids_sha256=test_ids_sha256,
                    test_ids=json.dumps(test_ids),
                    created_at=now(),
                )
            )
            return True

    def locked_split(self, project: str) -> Any:
        with self.engine.connect() as connection:
            return connection.execute(
                sa.select(splits_table)
                .where(splits_table.c.project == project)
                .order_by(splits_table.c.id.desc())
            ).first()

    # -- looks at the test set ------------------------------------------------------------------
    def record_evaluation(
        self,
        project: str,
        test_ids_sha256: str,
        model: str,
        study: str,
        params: dict[str, Any],
        metrics: dict[str, Any],
        *,
        final: bool = False,
    ) -> int:
        """Count one look at the test set; ``final`` marks the model chosen (and unmarks any other)."""
        with self.engine.begin() as connection:
            if final:
                connection.execute(
                    evaluations_table.update()
                    .where(evaluations_table.c.project == project)
                    .values(final=False)
                )
            result = connection.execute(
                evaluations_table.insert().values(
                    project=project,
                    test_ids_sha256=test_ids_sha256,
                    model=model,
                    study=study,
                    params=params_key(params),
                    metrics=json.dumps(metrics, sort_keys=True),
                    final=final,
                    created_at=now(),
                )
            )
            return int(result.inserted_primary_key[0])

    def evaluations(self, project: str) -> list[Any]:
        """Every recorded look at the project's test set, oldest first."""
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    sa.select(evaluations_table)
                    .where(evaluations_table.c.project == project)
                    .order_by(evaluations_table.c.id)
                )
            )

    # -- runs of hone commands ---------------------------------------------------------------
    def start_run(self, project: str, command: str) -> int:
        with self.engine.begin() as connection:
            result = connection.execute(
                runs_table.insert().values(
                    project=project, command=command, started_at=now(), status="running", studies="[]"
                )
            )
            return int(result.inserted_primary_key[0])

    def add_run_study(self, run_id: int, study_name: str) -> None:
        with self.engine.begin() as connection:
            row = connection.execute(sa.select(runs_table.c.studies).where(runs_table.c.id == run_id)).one()
            studies = json.loads(row.studies)
            if study_name not in studies:
                studies.append(study_name)
            connection.execute(
                runs_table.update().where(runs_table.c.id == run_id).values(studies=json.dumps(studies))
            )

    @contextmanager
    def run(self, project: str, command: str) -> Iterator[int]:
        """A run's bracket: recorded as running, then finished, or interrupted if anything escapes."""
        run_id = self.start_run(project, command)
        try:
            yield run_id
        except BaseException:
            self.finish_run(run_id, "interrupted")
            raise
        self.finish_run(run_id)

    def finish_run(self, run_id: int, status: str = "finished") -> None:
        with self.engine.begin() as connection:
            connection.execute(
                runs_table.update().where(runs_table.c.id == run_id).values(status=status, finished_at=now())
            )

    def last_run(self, project: str | None = None, command: str = "tune") -> Any:
        query = sa.select(runs_table).where(runs_table.c.command == command)
        if project is not None:
            query = query.where(runs_table.c.project == project)
        with self.engine.connect() as connection:
            return connection.execute(query.order_by(runs_table.c.id.desc())).first()

    def close(self) -> None:
        self.engine.dispose()
        if self._optuna is not None:
            self._optuna.engine.dispose()


def open_store(store: Any, *, writes: bool = True) -> Store | None:
    """``store`` as given to a search or the CLI: None, a Store, a SQLAlchemy URL, or a SQLite file path."""
    if store is None or isinstance(store, Store):
        return store
    if isinstance(store, str | Path):
        text = str(store)
        return Store(text if "://" in text else sqlite_url(text), writes=writes)
    raise StoreError(f"store must be a path, a SQLAlchemy URL or a hone Store, got {store!r}")


def store_home(url: str) -> Path:
    """Where artifacts and logs go beside a store given only by URL: the SQLite file's folder, else ``.hone``.

    (With a project file, ``ProjectConfig.home`` decides.)"""
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///") :]).parent
    return Path(".hone")
