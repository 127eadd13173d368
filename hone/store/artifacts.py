"""Model artifacts: one joblib file per registered version, on a local folder or any fsspec URL.

A file appears under its final name only once it is complete (written to a temporary name in the same
folder, then moved), and is unpickled only after its bytes match the SHA-256 recorded at registration:
unpickling runs code, so a file we did not write must never reach ``joblib.load``.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import joblib

from hone.errors import StoreError
from hone.store.names import safe_name

# zlib level 3 makes a forest pipeline ~4x smaller and still loads in tens of milliseconds.
COMPRESS = ("zlib", 3)
_CHUNK = 1 << 20
_TEMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class StoredArtifact:
    """Where an artifact is and what its bytes must be."""

    uri: str
    sha256: str
    n_bytes: int


def artifact_filename(version: int, sha256: str) -> str:
    return f"v{version}-{sha256[:12]}.joblib"


class ArtifactStore:
    """Artifacts under one root: ``<root>/<model name>/v<version>-<sha256[:12]>.joblib``."""

    def __init__(self, root: str | Path) -> None:
        self.root = str(root)
        # A plain folder keeps plain paths as URIs; a URL keeps its protocol so the URI alone finds the file.
        self._is_url = "://" in self.root
        try:
            self.fs, self._root_path = fsspec.core.url_to_fs(self.root)
        except (ValueError, ImportError) as error:
            raise StoreError(f"cannot open the artifact store: {error}", where=self.root) from None

    def write(self, name: str, version: int, obj: Any) -> StoredArtifact:
        """Pickle ``obj`` as version ``version`` of ``name``; the file is complete or absent, never half."""
        folder = f"{self._root_path.rstrip('/')}/{safe_name(name, 'model name')}"
        temp = f"{folder}/{_TEMP_PREFIX}{uuid.uuid4().hex}.joblib"
        try:
            self.fs.makedirs(folder, exist_ok=True)
            with self.fs.open(temp, "wb") as handle:
                try:
                    joblib.dump(obj, handle, compress=COMPRESS)
                except (pickle.PicklingError, TypeError, AttributeError) as error:
                    # Lambdas, local classes, open handles: the user's pipeline holds something unpicklable.
                    raise StoreError(f"cannot pickle the pipeline: {error}", where=self.root) from None
            # Hash what landed on storage, not what we meant to write.
            sha256, n_bytes = self._digest(temp)
            filename = artifact_filename(version, sha256)
            final = f"{folder}/{filename}"
            if self.fs.exists(final):
                # Same version, same bytes: a concurrent writer or a crash between move and record left
                # it. Keep that file rather than replace it under a reader's feet.
                if self._digest(final) != (sha256, n_bytes):
                    raise StoreError(
                        "a different artifact already has this name; refusing to overwrite it",
                        where=self._uri(name, filename),
                    )
                self._discard(temp)
            else:
                self.fs.mv(temp, final)
        except BaseException as error:
            self._discard(temp)
            if isinstance(error, OSError):
                raise StoreError(f"cannot write the artifact: {error}", where=self._uri(name)) from None
            raise
        return StoredArtifact(self._uri(name, filename), sha256, n_bytes)

    def _digest(self, path: str) -> tuple[str, int]:
        digest = hashlib.sha256()
        n_bytes = 0
        with self.fs.open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
                n_bytes += len(chunk)
        return digest.hexdigest(), n_bytes

    def _discard(self, path: str) -> None:
        try:
            if self.fs.exists(path):
                self.fs.rm(path)
        except OSError:
            pass  # best effort: a leftover temporary file is never mistaken for an artifact

    def uri_of(self, name: str, uri: str) -> str:
        """Where the artifact recorded at ``uri`` would be under this root (same file, ``name``'s folder)."""
        return self._uri(safe_name(name, "model name"), uri.rstrip("/").rsplit("/", 1)[-1])

    def _uri(self, *parts: str) -> str:
        # Under the root as the user wrote it, so chained URLs ("simplecache::s3://...") keep their chain.
        base = self.root.rstrip("/") if self._is_url else self._root_path.rstrip("/")
        return "/".join([base, *parts])


def read_artifact(uri: str, sha256: str, n_bytes: int, *, elsewhere: Sequence[str] = ()) -> Any:
    """Unpickle the artifact at ``uri`` if, and only if, its bytes are the ones recorded.

    ``elsewhere``: places to look when ``uri`` is gone (the same file under a project folder that was
    moved); whatever is found there must pass the same size and SHA-256 checks.
    """
    data = None
    for place in dict.fromkeys([uri, *elsewhere]):
        try:
            data = _read_bytes(place, n_bytes)
        except FileNotFoundError:
            continue
        uri = place
        break
    if data is None:
        raise StoreError(
            f"artifact is missing (expected SHA-256 {sha256}); refusing to load it", where=uri
        ) from None
    if len(data) != n_bytes:
        found = f"{len(data)} bytes" if len(data) <= n_bytes else f"more than {n_bytes} bytes"
        raise StoreError(
            f"artifact is {found}, expected {n_bytes} (truncated or replaced; expected SHA-256 "
            f"{sha256}); refusing to load it",
            where=uri,
        )
    found_sha256 = hashlib.sha256(data).hexdigest()
    if found_sha256 != sha256:
        raise StoreError(
            f"artifact has SHA-256 {found_sha256}, expected {sha256} (changed since it was "
            "registered); refusing to load it",
            where=uri,
        )
    try:
        return joblib.load(io.BytesIO(data))
    except Exception as error:  # verified bytes that still fail: a missing library or a changed version
        message = f"cannot unpickle the artifact: {type(error).__name__}: {error}"
        raise StoreError(message, where=uri) from None


def delete_artifact(uri: str) -> None:
    fs, path = fsspec.core.url_to_fs(uri)
    try:
        if fs.exists(path):
            fs.rm(path)
    except OSError:
        pass  # best effort: an orphan file is harmless, it is never referenced


def _read_bytes(uri: str, n_bytes: int) -> bytes:
    try:
        fs, path = fsspec.core.url_to_fs(uri)
        with fs.open(path, "rb") as handle:
            # One byte more than expected tells "longer" from "equal" without reading a huge file whole.
            return handle.read(n_bytes + 1)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, ImportError) as error:
        raise StoreError(f"cannot read the artifact: {error}", where=uri) from None
