"""Artifacts: complete or absent under their final name, and never unpickled unless their hash matches."""

from __future__ import annotations

import hashlib
import os
import pickle
import uuid
from pathlib import Path

import fsspec
import numpy as np
import pytest

from hone.errors import StoreError
from hone.store.artifacts import ArtifactStore, read_artifact
from hone.store.names import is_safe_name, safe_name

PAYLOAD = {"weights": np.arange(1000, dtype=np.float64), "classes": ["high", "low"]}


def _files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def test_write_then_read_round_trips_and_names_the_file_by_version_and_hash(tmp_path: Path) -> None:
    stored = ArtifactStore(tmp_path / "artifacts").write("housing", 3, PAYLOAD)

    data = Path(stored.uri).read_bytes()
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.n_bytes == len(data)
    assert Path(stored.uri) == tmp_path / "artifacts" / "housing" / f"v3-{stored.sha256[:12]}.joblib"
    # Only the final file is left: the temporary one was moved, not copied.
    assert _files(tmp_path / "artifacts" / "housing") == [f"v3-{stored.sha256[:12]}.joblib"]
    loaded = read_artifact(stored.uri, stored.sha256, stored.n_bytes)
    np.testing.assert_array_equal(loaded["weights"], PAYLOAD["weights"])
    assert loaded["classes"] == PAYLOAD["classes"]


@pytest.mark.parametrize("scheme", ["memory", "file"])
def test_the_root_can_be_an_fsspec_url(tmp_path: Path, scheme: str) -> None:
    root = f"memory://hone-test-{uuid.uuid4().hex}" if scheme == "memory" else (tmp_path / "art").as_uri()
    try:
        stored = ArtifactStore(root).write("housing", 1, PAYLOAD)

        assert stored.uri.startswith(f"{scheme}://")
        assert stored.uri.endswith(f"/housing/v1-{stored.sha256[:12]}.joblib")
        fs, path = fsspec.core.url_to_fs(stored.uri)
        assert hashlib.sha256(fs.cat_file(path)).hexdigest() == stored.sha256
        assert [p.rsplit("/", 1)[-1] for p in fs.ls(path.rsplit("/", 1)[0], detail=False)] == [
            f"v1-{stored.sha256[:12]}.joblib"
        ]
        loaded = read_artifact(stored.uri, stored.sha256, stored.n_bytes)
        np.testing.assert_array_equal(loaded["weights"], PAYLOAD["weights"])
    finally:
        if scheme == "memory":
            fsspec.filesystem("memory").rm(root.removeprefix("memory://"), recursive=True)


def test_a_modified_artifact_is_refused_with_both_hashes(tmp_path: Path) -> None:
    stored = ArtifactStore(tmp_path).write("housing", 1, PAYLOAD)
    data = bytearray(Path(stored.uri).read_bytes())
    data[len(data) // 2] ^= 0x01
    Path(stored.uri).write_bytes(bytes(data))

    with pytest.raises(StoreError) as caught:
        read_artifact(stored.uri, stored.sha256, stored.n_bytes)

    message = str(caught.value)
    assert message.startswith(f"{stored.uri}: ")
    assert f"expected {stored.sha256}" in message
    assert hashlib.sha256(bytes(data)).hexdigest() in message
    assert "refusing to load it" in message


@pytest.mark.parametrize("change", ["truncated", "extended"])
def test_an_artifact_of_another_size_is_refused(tmp_path: Path, change: str) -> None:
    stored = ArtifactStore(tmp_path).write("housing", 1, PAYLOAD)
    data = Path(stored.uri).read_bytes()
    Path(stored.uri).write_bytes(data[:-100] if change == "truncated" else data + b"\0" * 10)

    with pytest.raises(StoreError, match="refusing to load it") as caught:
        read_artifact(stored.uri, stored.sha256, stored.n_bytes)

    found = f"{stored.n_bytes - 100} bytes" if change == "truncated" else f"more than {stored.n_bytes} bytes"
    assert f"is {found}, expected {stored.n_bytes}" in str(caught.value)
    assert stored.uri in str(caught.value)


def test_a_missing_artifact_is_named(tmp_path: Path) -> None:
    stored = ArtifactStore(tmp_path).write("housing", 1, PAYLOAD)
    os.remove(stored.uri)

    with pytest.raises(StoreError, match=r"artifact is missing .*refusing to load it") as caught:
        read_artifact(stored.uri, stored.sha256, stored.n_bytes)
    assert stored.uri in str(caught.value)


class _Planted:
    """Unpickling this creates a folder: stands in for code an attacker slips into an artifact."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.marker),))


def test_a_replaced_artifact_is_never_unpickled(tmp_path: Path) -> None:
    # The payload is live: plain unpickling runs it.
    pickle.loads(pickle.dumps(_Planted(tmp_path / "proof")))
    assert (tmp_path / "proof").is_dir()
    stored = ArtifactStore(tmp_path / "artifacts").write("housing", 1, PAYLOAD)
    marker = tmp_path / "planted"
    Path(stored.uri).write_bytes(pickle.dumps(_Planted(marker)))

    with pytest.raises(StoreError, match="refusing to load it"):
        read_artifact(stored.uri, stored.sha256, stored.n_bytes)
    assert not marker.exists()


def test_an_unpicklable_object_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot pickle the pipeline"):
        ArtifactStore(tmp_path).write("housing", 1, {"transform": lambda x: x})

    assert _files(tmp_path / "housing") == []


def test_rewriting_the_same_version_with_the_same_bytes_keeps_one_file(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    first = store.write("housing", 1, PAYLOAD)
    second = store.write("housing", 1, PAYLOAD)

    assert second == first
    assert _files(tmp_path / "housing") == [Path(first.uri).name]


@pytest.mark.parametrize("name", ["..", ".", "a/../..", "../outside"])
def test_a_name_that_would_leave_the_artifacts_folder_is_refused(tmp_path: Path, name: str) -> None:
    artifacts = ArtifactStore(tmp_path / "artifacts")
    with pytest.raises(StoreError, match="is not a valid model name"):
        artifacts.write(name, 1, {"model": 1})
    with pytest.raises(StoreError, match="is not a valid model name"):
        artifacts.uri_of(name, str(tmp_path / "artifacts" / "m" / "v1-abc.joblib"))
    assert sorted(p.name for p in tmp_path.rglob("*")) == []


def test_names_are_checked_by_one_rule() -> None:
    assert is_safe_name("housing.v2-x_1") and not is_safe_name("..") and not is_safe_name("a/b")
    with pytest.raises(StoreError, match="not a valid alias"):
        safe_name("...", "alias")
