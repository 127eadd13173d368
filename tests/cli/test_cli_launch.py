"""`hone register | models | promote | rollback | predict` end to end, in subprocesses on a tuned slice."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from helpers.cli import CONFIG, run_hone

from hone.config.load import load_config
from hone.store.db import Store
from hone.store.registry import Registry


@dataclass
class Launched:
    config: Path
    first: str  # what `hone register forest` printed
    second: str  # what `hone register knn` printed


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory, housing) -> Launched:
    """A tuned slice project whose best forest is v1 (champion) and whose best k-NN is v2 (challenger)."""
    folder = tmp_path_factory.mktemp("launch")
    housing.iloc[:1500].to_csv(folder / "data.csv", index=False)
    config = folder / "hone.yaml"
    config.write_text(CONFIG.format(data="data.csv", store="store.db"))
    assert run_hone("tune", str(config), "--quiet", cwd=folder).returncode == 0
    first = run_hone("register", "forest", "-c", str(config), cwd=folder)
    assert first.returncode == 0, first.stderr
    second = run_hone("register", "knn", "-c", str(config), "--description", "k-NN try", cwd=folder)
    assert second.returncode == 0, second.stderr
    return Launched(config, first.stdout, second.stdout)


@pytest.fixture()
def registered(launched: Launched) -> Path:
    return launched.config


def registry_of(config: Path) -> Registry:
    project = load_config(config)
    return Registry(Store(project.store_url), project.artifacts_url)


def test_register_promote_rollback_and_the_audit_trail(launched: Launched):
    registered, folder = launched.config, launched.config.parent
    assert "registered slice v1 from forest" in launched.first and "alias champion → v1" in launched.first
    assert "hone serve -c" in launched.first and "curl" in launched.first
    assert "alias challenger → v2" in launched.second and "hone promote slice 2" in launched.second

    registry = registry_of(registered)
    v1, v2 = registry.versions("slice")
    assert (v1.source["model"], v2.source["model"]) == ("forest", "knn")
    assert v1.metrics["cv"]["metric"] == "RMSE" and v1.metrics["cv"]["score"] > 0
    assert v1.schema.names[-1] == "ocean_proximity" and v1.profile["examples"]
    assert v1.data["n_rows"] == 1200 and v2.description == "k-NN try"
    # The registered pipeline is the refit candidate: its predictions are the tuned model's.
    pipeline = registry.load(v1)
    rows = pd.read_csv(folder / "data.csv").drop(columns="median_house_value").iloc[:5]
    assert np.isfinite(pipeline.predict(rows)).all()

    promoted = run_hone(
        "promote", "slice", "2", "--reason", "better on fresh data", "-c", str(registered), cwd=folder
    )
    assert promoted.returncode == 0, promoted.stderr
    assert "promote: slice champion v1 → v2" in promoted.stdout and "better on fresh data" in promoted.stdout
    assert registry.aliases("slice")["champion"] == 2

    back = run_hone("rollback", "-c", str(registered), "--reason", "worse live", cwd=folder)
    assert back.returncode == 0, back.stderr
    assert "rollback: slice champion v2 → v1" in back.stdout
    assert registry.aliases("slice")["champion"] == 1

    again = run_hone("register", "forest", "-c", str(registered), cwd=folder)
    assert again.returncode == 0, again.stderr
    assert "already registered as slice v1" in again.stdout and len(registry.versions("slice")) == 2

    listing = run_hone("models", "-c", str(registered), cwd=folder)
    assert listing.returncode == 0, listing.stderr
    assert "v1" in listing.stdout and "champion" in listing.stdout and "CV RMSE" in listing.stdout
    assert "worse live" in listing.stdout


def test_a_broken_artifact_is_refused_and_the_alias_stays(registered: Path, tmp_path: Path):
    folder = registered.parent
    registry = registry_of(registered)
    champion = registry.aliases("slice")["champion"]
    other = next(v for v in registry.versions("slice") if v.version != champion)
    artifact = Path(other.artifact_uri.removeprefix("file://"))
    saved = tmp_path / "saved"
    shutil.copy(artifact, saved)
    try:
        artifact.write_bytes(artifact.read_bytes()[:-100])  # truncated
        result = run_hone("promote", "slice", str(other.version), "-c", str(registered), cwd=folder)
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1 and "refusing to load it" in result.stderr
        assert registry.aliases("slice")["champion"] == champion
    finally:
        shutil.copy(saved, artifact)


def test_batch_predict_reports_bad_rows_and_predicts_the_rest(registered: Path, tmp_path: Path):
    folder = registered.parent
    registry = registry_of(registered)
    rows = pd.read_csv(folder / "data.csv").iloc[:300].drop(columns="median_house_value")
    rows.insert(0, "house_id", np.arange(300))
    broken = rows.astype({"median_income": object, "ocean_proximity": object})
    broken.loc[10, "median_income"] = "lots"
    broken.loc[20, "ocean_proximity"] = "ON THE MOON"
    source = tmp_path / "new.csv"
    broken.to_csv(source, index=False)
    output = tmp_path / "predictions.parquet"
    result = run_hone(
        "predict", "-c", str(registered), "--input", str(source), "--output", str(output),
        "--keep", "house_id", "--chunk-rows", "64", cwd=folder,
    )
    assert result.returncode == 0, result.stderr
    assert "298 of 300 rows predicted" in result.stdout
    assert "row 11, median_income" in result.stdout and "row 21, ocean_proximity" in result.stdout
    table = pq.read_table(output).to_pandas()
    # Kept columns of a CSV are copied as written (an id "00123" stays "00123").
    assert table["house_id"].tolist() == [str(i) for i in range(300)]
    champion = registry.get("slice")
    expected = registry.load(champion).predict(rows.drop(columns="house_id").drop(index=[10, 20]))
    got = table["prediction"].drop(index=[10, 20]).to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    assert table["prediction"].iloc[[10, 20]].isna().all()

    strict = tmp_path / "strict.parquet"
    refused = run_hone(
        "predict", "-c", str(registered), "-i", str(source), "-o", str(strict), "--strict", cwd=folder
    )
    assert refused.returncode == 2 and "median_income" in refused.stderr
    assert not strict.exists()


def test_batch_predict_of_big_chunks_equals_the_pipeline(registered: Path, tmp_path: Path, housing):
    # 5,000 rows in one chunk: the forest's compiled tree walk predicts them (it starts at 2,048 rows).
    slice_rows = housing.drop(columns="median_house_value").iloc[:1500]  # categories the model knows
    rows = slice_rows.sample(n=5000, replace=True, random_state=0).reset_index(drop=True)
    source = tmp_path / "big.parquet"
    rows.to_parquet(source, index=False)
    output = tmp_path / "out.parquet"

    result = run_hone(
        "predict", "-c", str(registered), "-i", str(source), "-o", str(output), cwd=registered.parent
    )

    assert result.returncode == 0, result.stderr
    assert "5,000 of 5,000 rows predicted" in result.stdout
    assert "the forest's trees walked by compiled code" in result.stdout
    registry = registry_of(registered)
    expected = registry.load(registry.get("slice")).predict(rows)
    np.testing.assert_allclose(pq.read_table(output)["prediction"].to_numpy(), expected, rtol=1e-9, atol=0)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["promote", "slice", "99"], "99"),
        (["promote", "nosuch", "1"], "nosuch"),
        (["predict", "-o", "x.parquet"], "give either --input FILE or --query SQL"),
        (["predict", "-i", "missing.csv", "-o", "x.parquet"], "missing.csv"),
        (["predict", "-i", "data.csv", "-o", "x.parquet", "--model", "slice@nosuch"], "nosuch"),
    ],
)
def test_bad_launch_requests_are_one_line_exit_2(registered: Path, args: list[str], expected: str):
    folder = registered.parent
    result = run_hone(*args, "-c", str(registered), cwd=folder)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0]
