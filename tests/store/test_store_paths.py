"""Every problem with where a SQLite store lives is one StoreError; nothing is written."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from hone.errors import StoreError
from hone.store.db import Store, open_store, sqlite_url


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_a_store_under_a_file_is_one_store_error_and_nothing_is_made(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    before = _listing(tmp_path)
    with pytest.raises(StoreError, match=r"'.*data\.csv' is a file"):
        open_store(tmp_path / "data.csv" / "deeper" / "hone.db")
    assert _listing(tmp_path) == before


def test_a_store_path_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a folder"):
        open_store(tmp_path)


def test_a_store_under_a_folder_that_cannot_be_made_is_a_store_error() -> None:
    # /proc refuses new folders even for root.
    with pytest.raises(StoreError, match="cannot (make|create) the store"):
        open_store("/proc/hone-nowhere/hone.db")


def test_a_store_opened_read_only_is_refused_on_opening(tmp_path: Path) -> None:
    path = tmp_path / "hone.db"
    Store(sqlite_url(path)).close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="readonly database"):
        Store(f"sqlite:///file:{path}?mode=ro&uri=true")
    assert path.read_bytes() == before


@pytest.fixture()
def immutable(tmp_path: Path):
    """A path made immutable with chattr +i (root can write read-only files, not immutable ones)."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    made: list[Path] = []

    def freeze(path: Path) -> Path:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"chattr +i not permitted here: {done.stderr.decode().strip()}")
        made.append(path)
        return path

    yield freeze
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_an_immutable_store_file_is_refused_on_opening(tmp_path: Path, immutable) -> None:
    path = tmp_path / "hone.db"
    Store(sqlite_url(path)).close()
    immutable(path)
    with pytest.raises(StoreError, match="cannot be written"):
        Store(sqlite_url(path))


def test_a_store_in_an_immutable_folder_is_refused(tmp_path: Path, immutable) -> None:
    home = tmp_path / ".hone"
    home.mkdir()
    Store(sqlite_url(home / "hone.db")).close()
    immutable(home)
    with pytest.raises(StoreError, match="cannot be written"):
        Store(sqlite_url(home / "hone.db"))
    with pytest.raises(StoreError, match="no write permission"):
        Store(sqlite_url(home / "other.db"))
    assert sqlite3.connect(home / "hone.db").execute("select count(*) from hone_runs").fetchone() == (0,)


def test_a_reader_may_open_a_read_only_store(tmp_path: Path, immutable) -> None:
    path = tmp_path / "hone.db"
    Store(sqlite_url(path)).close()
    immutable(path)
    reader = Store(sqlite_url(path), writes=False)
    assert reader.last_run() is None
    reader.close()
    assert Store(f"sqlite:///file:{path}?mode=ro&uri=true", writes=False).last_run() is None
