"""The "your own data" path on the classification example: a CSV with an ID column and missing values,
tuned, evaluated, registered, predicted in batch and served to new patients, replayed and monitored.

Runs the example project as shipped (examples/breast_cancer/hone.yaml, its data written by make_data.py)
in a temporary folder, through the real `hone` command and a real `hone serve`.
"""

from __future__ import annotations

import re
import secrets
import shutil
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest
from helpers.cli import run_hone

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(EXAMPLES))  # examples/replay.py, imported as the demo imports it
sys.path.insert(0, str(EXAMPLES / "breast_cancer"))
from make_data import breast_cancer_table  # noqa: E402
from replay import replay, start_server, stop_server  # noqa: E402


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("breast_cancer")
    breast_cancer_table().to_csv(folder / "breast_cancer.csv", index=False)
    shutil.copy(EXAMPLES / "breast_cancer" / "hone.yaml", folder / "hone.yaml")
    return folder / "hone.yaml"


def _new_patients(n: int) -> pd.DataFrame:
    """Rows the model never saw by ID (the measurements are real ones, the IDs new)."""
    rows = breast_cancer_table().iloc[:n].drop(columns="diagnosis")
    rows["patient_id"] = [f"N{900000 + i}" for i in range(n)]
    return rows


def test_tune_evaluate_register_predict_serve_with_new_ids(project: Path) -> None:
    folder = project.parent
    tuned = run_hone("tune", "-c", str(project), "-q", cwd=folder)
    assert tuned.returncode == 0, tuned.stderr
    # Scores told apart: four decimals with the fold std, never "1.0 ± 0.0".
    assert re.search(r"\(roc_auc 0\.99\d\d\)", tuned.stdout)
    assert re.search(r"│\s+0\.99\d\d │\s+0\.0\d\d\d │", tuned.stdout)
    assert "│        1.0 │" not in tuned.stdout
    assert "patient_id" not in tuned.stdout.split("prepared features", 1)[1].splitlines()[0]

    results = run_hone("results", "-c", str(project), cwd=folder)
    assert results.returncode == 0 and "CV roc_auc" in results.stdout

    evaluated = run_hone("evaluate", "-c", str(project), cwd=folder)
    assert evaluated.returncode == 0, evaluated.stderr
    auc_row = next(line for line in evaluated.stdout.splitlines() if "ROC AUC" in line)
    assert re.search(r"0\.99\d\d ± 0\.0\d\d\d", auc_row)  # the CV column, filled

    registered = run_hone("register", "-c", str(project), cwd=folder)
    assert registered.returncode == 0, registered.stderr
    assert "test ROC AUC" in registered.stdout  # the project's metric, not accuracy
    models = run_hone("models", "-c", str(project), cwd=folder)
    assert "CV roc_auc 0.99" in models.stdout and "test ROC AUC" in models.stdout

    new = _new_patients(20)
    new.to_csv(folder / "new.csv", index=False)
    predicted = run_hone("predict", "-c", str(project), "-i", "new.csv", "-o", "out.csv", cwd=folder)
    assert predicted.returncode == 0, predicted.stderr
    written = pd.read_csv(folder / "out.csv")
    assert written["patient_id"].tolist() == new["patient_id"].tolist()
    assert written["problem"].isna().all() and set(written["prediction"]) <= {"malignant", "benign"}

    token = secrets.token_hex(8)
    server, url = start_server(project, token)
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            spec = client.get("/openapi.json").json()
            assert "P100000" not in str(spec)  # training IDs are not allowed values
            rows = new.iloc[:3].to_dict("records")
            records = [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in rows]
            answer = client.post("/predict", json={"records": records})
            assert answer.status_code == 200, answer.text
            assert answer.json()["id_columns"] == {"patient_id": ["N900000", "N900001", "N900002"]}
            labelled = breast_cancer_table().sample(200, random_state=3).reset_index(drop=True)
            labels = labelled.pop("diagnosis")
            assert replay(client, labelled, labels, token=token) == 200
    finally:
        stop_server(server)
    monitored = run_hone("monitor", "-c", str(project), cwd=folder)
    assert monitored.returncode == 0, monitored.stderr
    assert "patient_id" not in monitored.stdout + monitored.stderr
    assert "accuracy" in monitored.stdout
