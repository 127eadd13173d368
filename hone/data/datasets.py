"""Built-in datasets: the California housing data from "Hands-On Machine Learning".

The CSV is never shipped with hone. It is looked up in ``$HONE_DATA_DIR/housing/housing.csv``,
then in the user cache, and only then downloaded (once) into the cache.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from hone.data.prepare import PrepareSpec
from hone.data.sources import read_table
from hone.data.split import SplitSpec
from hone.errors import DataError

HOUSING_URL = "https://raw.githubusercontent.com/ageron/handson-ml2/master/datasets/housing/housing.tgz"
# The tarball's own hash is not pinned (it cannot be fetched to measure it); the CSV inside is what
# every result depends on, so that is what gets verified.
HOUSING_CSV_SHA256 = "8a3727f4cf54ac1a327f69b1d5b4db54c5834ea81c6e4efc0d163300022a685e"
HOUSING_TARGET = "median_house_value"
DOWNLOAD_TIMEOUT_S = 10.0
# The real tarball is ~400 kB; refuse anything absurdly large rather than filling memory.
_MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024

_DATA_DIR_ENV = "HONE_DATA_DIR"
_RELATIVE_CSV = Path("housing") / "housing.csv"


def _data_dir_csv() -> Path | None:
    root = os.environ.get(_DATA_DIR_ENV)
    return Path(root).expanduser() / _RELATIVE_CSV if root else None


def housing_cache_path() -> Path:
    """Where a downloaded copy lives: ``$XDG_CACHE_HOME/hone/housing/housing.csv``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says relative values must be ignored.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "hone" / _RELATIVE_CSV


def housing_path() -> Path | None:
    """The housing CSV already on disk ($HONE_DATA_DIR first, then the cache), without downloading."""
    for candidate in (_data_dir_csv(), housing_cache_path()):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def _where_to_put_it() -> str:
    in_data_dir = f"${_DATA_DIR_ENV}/housing/housing.csv"
    configured = _data_dir_csv()
    if configured is not None:
        in_data_dir += f" (here {configured})"
    return f"put housing.csv at {in_data_dir} or {housing_cache_path()}"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _extract_csv(archive: bytes, url: str) -> bytes:
    """Read the bytes of ``housing.csv`` from the tarball without writing any member to disk."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            for member in tar.getmembers():
                name = PurePosixPath(member.name)
                # Only a regular file called housing.csv, at the top or under plain folders: no
                # absolute paths, no "..", no links.
                if name.name != "housing.csv" or name.is_absolute() or ".." in name.parts:
                    continue
                if not member.isfile():
                    continue
                handle = tar.extractfile(member)
                if handle is not None:
                    return handle.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"downloaded file is not a valid .tgz archive ({exc})", where=url) from exc
    raise DataError("downloaded archive holds no housing.csv", where=url)


def _write_atomically(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # A temp file in the same folder, then os.replace: readers never see a half-written CSV.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".housing-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def download_housing(*, url: str | None = None, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download the book's tarball (``HOUSING_URL`` by default), verify its CSV, store it in the cache."""
    url = url or HOUSING_URL
    target = housing_cache_path()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            archive = response.read(_MAX_DOWNLOAD_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        reason_text = " ".join(str(reason).split())  # keep the message on one line
        raise DataError(
            f"housing.csv not found and the download failed ({reason_text}); {_where_to_put_it()}",
            where=url,
        ) from exc
    if len(archive) > _MAX_DOWNLOAD_BYTES:
        raise DataError(f"download is larger than {_MAX_DOWNLOAD_BYTES} bytes; refusing it", where=url)
    payload = _extract_csv(archive, url)
    actual = hashlib.sha256(payload).hexdigest()
    if actual != HOUSING_CSV_SHA256:
        raise DataError(
            f"housing.csv in the download has sha256 {actual}, expected {HOUSING_CSV_SHA256}; "
            f"{_where_to_put_it()}",
            where=url,
        )
    try:
        _write_atomically(target, payload)
    except OSError as exc:
        reason = exc.strerror or exc
        raise DataError(f"cannot write the downloaded housing.csv ({reason})", where=str(target)) from exc
    return target


def load_housing() -> pd.DataFrame:
    """The book's California housing data (20,640 rows, 10 columns)."""
    path = housing_path() or download_housing()
    # Every fingerprint and the book parity depend on the exact file, so a different one is refused.
    actual = _sha256_file(path)
    if actual != HOUSING_CSV_SHA256:
        raise DataError(
            f"file has sha256 {actual}, not the book's housing.csv ({HOUSING_CSV_SHA256}); "
            "replace it with the original or delete it so hone downloads it again",
            where=str(path),
        )
    return read_table(path)


def housing_split_spec() -> SplitSpec:
    """The book's split: 20% test, stratified on median_income cut into 5 income categories."""
    return SplitSpec(test_size=0.2, stratify="median_income", bins=[0.0, 1.5, 3.0, 4.5, 6.0, np.inf], seed=42)


def housing_prepare_spec() -> PrepareSpec:
    """The book's ``full_pipeline``: median imputation, three ratios, standard scaling, one-hot."""
    return PrepareSpec(
        derived={
            "rooms_per_hhold": "total_rooms / households",
            "pop_per_hhold": "population / households",
            "bedrooms_per_room": "total_bedrooms / total_rooms",
        }
    )


_DATASETS: dict[str, Callable[[], pd.DataFrame]] = {"housing": load_housing}


def load_dataset(name: str) -> pd.DataFrame:
    """A built-in dataset by name."""
    loader = _DATASETS.get(name)
    if loader is None:
        known = ", ".join(sorted(_DATASETS))
        raise DataError(f"unknown dataset {name!r}; known datasets: {known}", where="dataset")
    return loader()
