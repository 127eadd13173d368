"""Built-in datasets: lookup order, the failed download, and the download path from a local archive."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import time
from pathlib import Path

import pytest

from hone.data import datasets, housing_path, load_dataset, load_housing
from hone.errors import DataError

SHARED_CSV = (
    Path(os.environ["HONE_DATA_DIR"]) / "housing" / "housing.csv" if os.environ.get("HONE_DATA_DIR") else None
)
needs_housing = pytest.mark.skipif(
    SHARED_CSV is None or not SHARED_CSV.is_file(),
    reason="set HONE_DATA_DIR to the folder holding housing/housing.csv to run the housing tests",
)


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HONE_DATA_DIR and an empty cache; returns the cache CSV path."""
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("HONE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "hone" / "housing" / "housing.csv"


def _tgz(path: Path, members: dict[str, bytes], symlink: str | None = None) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        if symlink:
            link = tarfile.TarInfo("housing.csv")
            link.type = tarfile.SYMTYPE
            link.linkname = symlink
            tar.addfile(link)
    return path.as_uri()


def _error(func, *args, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        func(*args, **kwargs)
    text = str(info.value)
    assert "\n" not in text
    return text


def test_unknown_dataset_lists_the_known_ones() -> None:
    message = _error(load_dataset, "iris")
    assert "'iris'" in message and "housing" in message


def test_cache_path_follows_xdg(isolated: Path) -> None:
    assert datasets.housing_cache_path() == isolated


def test_nothing_on_disk(isolated: Path) -> None:
    assert housing_path() is None


def test_failed_download_says_where_to_put_the_file(isolated: Path) -> None:
    started = time.monotonic()
    try:
        frame = load_housing()
    except DataError as exc:
        message = str(exc)
        assert time.monotonic() - started < 15, "the download must fail fast (timeout)"
        assert "\n" not in message
        assert "$HONE_DATA_DIR/housing/housing.csv" in message and str(isolated) in message
        assert datasets.HOUSING_URL in message and "download failed" in message
        assert not isolated.exists()
    else:  # a machine with network access: the real download must then be verified and cached
        assert frame.shape == (20640, 10) and isolated.is_file()


def test_refused_connection_fails_fast(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "http://127.0.0.1:9/housing.tgz"  # discard port: nothing listens, connection refused
    monkeypatch.setattr(datasets, "HOUSING_URL", url)
    started = time.monotonic()
    message = _error(load_housing)
    assert time.monotonic() - started < 15
    assert url in message and "$HONE_DATA_DIR/housing/housing.csv" in message and str(isolated) in message


@needs_housing
def test_download_from_an_archive_is_verified_and_cached(isolated: Path, tmp_path: Path) -> None:
    url = _tgz(tmp_path / "housing.tgz", {"housing.csv": SHARED_CSV.read_bytes()})
    assert datasets.download_housing(url=url) == isolated
    assert hashlib.sha256(isolated.read_bytes()).hexdigest() == datasets.HOUSING_CSV_SHA256
    assert [p.name for p in isolated.parent.iterdir()] == ["housing.csv"]  # no temp file left behind
    assert housing_path() == isolated
    assert load_housing().shape == (20640, 10)  # served from the cache, no network needed


def test_checksum_mismatch_is_refused(isolated: Path, tmp_path: Path) -> None:
    url = _tgz(tmp_path / "housing.tgz", {"housing.csv": b"longitude,latitude\n1,2\n"})
    message = _error(datasets.download_housing, url=url)
    assert "sha256" in message and datasets.HOUSING_CSV_SHA256 in message and url in message
    assert not isolated.exists()


@pytest.mark.parametrize("name", ["../housing.csv", "/tmp/hone-test/housing.csv", "a/../../housing.csv"])
def test_path_traversal_members_are_ignored(isolated: Path, tmp_path: Path, name: str) -> None:
    url = _tgz(tmp_path / "evil.tgz", {name: b"x,y\n1,2\n"})
    message = _error(datasets.download_housing, url=url)
    assert "no housing.csv" in message
    assert not isolated.exists() and not (tmp_path / "housing.csv").exists()


def test_symlink_member_is_ignored(isolated: Path, tmp_path: Path) -> None:
    url = _tgz(tmp_path / "link.tgz", {}, symlink="/etc/passwd")
    assert "no housing.csv" in _error(datasets.download_housing, url=url)
    assert not isolated.exists()


def test_not_an_archive(isolated: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.tgz"
    junk.write_bytes(b"<html>not found</html>")
    message = _error(datasets.download_housing, url=junk.as_uri())
    assert "not a valid .tgz" in message and junk.as_uri() in message


def test_modified_file_in_data_dir_is_refused(isolated: Path, tmp_path: Path) -> None:
    csv = tmp_path / "data" / "housing" / "housing.csv"
    csv.parent.mkdir(parents=True)
    csv.write_text("longitude,latitude\n1,2\n")
    assert housing_path() == csv
    message = _error(load_housing)
    assert str(csv) in message and "sha256" in message


def test_data_dir_comes_before_the_cache(isolated: Path, tmp_path: Path) -> None:
    for path in (tmp_path / "data" / "housing" / "housing.csv", isolated):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n1\n")
    assert housing_path() == tmp_path / "data" / "housing" / "housing.csv"
    (tmp_path / "data" / "housing" / "housing.csv").unlink()
    assert housing_path() == isolated


@needs_housing
def test_load_housing_from_data_dir() -> None:
    frame = load_dataset("housing")
    assert housing_path() == SHARED_CSV
    assert frame.shape == (20640, 10)
    assert int(frame["total_bedrooms"].isna().sum()) == 207
    assert frame["ocean_proximity"].value_counts().to_dict() == {
        "<1H OCEAN": 9136,
        "INLAND": 6551,
        "NEAR OCEAN": 2658,
        "NEAR BAY": 2290,
        "ISLAND": 5,
    }
