"""`hone tune` with `search: {strategy: tpe}`, in real subprocesses on a real SQLite store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HONE = str(Path(sys.executable).parent / "hone")

CONFIG = """\
project: tpe
data: {{path: data.csv, target: median_house_value}}
split: {{test_size: 0.2, stratify: median_income, bins: [0, 1.5, 3.0, 4.5, 6.0, .inf], seed: 42}}
prepare:
  categorical: [ocean_proximity]
search: {{cv: 3, scoring: neg_mean_squared_error, n_jobs: 1, random_state: 42}}
models:
  - name: knn
    estimator: sklearn.neighbors.KNeighborsRegressor
    search: {{strategy: tpe, n_trials: 8}}
    distributions:
      n_neighbors: {neighbors}
      weights: [uniform, distance]
  - name: ridge
    estimator: sklearn.linear_model.Ridge
    search: {{strategy: tpe, n_trials: 6}}
    grid: {{alpha: [0.01, 1.0, 100.0, 100000.0]}}
store: store.db
"""


def run_hone(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"COLUMNS": "200"}
    return subprocess.run([HONE, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def candidate_lines(output: str) -> list[str]:
    """The seed's lines: a score (or `pruned`) then the params."""
    return [line for line in output.splitlines() if re.match(r"^(\d+\.\d+|pruned) \{", line)]


@pytest.fixture()
def project(tmp_path: Path, housing) -> Path:
    housing.iloc[:600].to_csv(tmp_path / "data.csv", index=False)
    return tmp_path


def test_tune_with_strategy_tpe_then_rerun_reads_everything_back(project: Path):
    (project / "hone.yaml").write_text(CONFIG.format(neighbors="randint(1, 40)"))
    done = run_hone("tune", "hone.yaml", "--quiet", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "knn — TPE search, 8 candidates × 3 folds" in done.stdout
    ridge = re.search(r"ridge — TPE search, (\d) candidates × 3 folds", done.stdout)
    assert ridge, done.stdout
    lines = candidate_lines(done.stdout)
    assert len(lines) == 8 + int(ridge.group(1))
    alphas = [float(m) for m in re.findall(r"'alpha': ([0-9.e+]+)", "\n".join(lines))]
    assert len(set(alphas)) == len(alphas) == int(ridge.group(1)), "a repeated proposal is not refitted"
    assert set(alphas) <= {0.01, 1.0, 100.0, 100000.0}, "a grid is sampled as categoricals"

    again = run_hone("tune", "hone.yaml", "--quiet", cwd=project)
    assert again.returncode == 0, again.stderr
    assert candidate_lines(again.stdout) == lines
    assert again.stdout.count(" fitted now") == 2
    assert re.findall(r"\((\d+) fitted now", again.stdout) == ["0", "0"]

    results = run_hone("results", "--config", "hone.yaml", cwd=project)
    assert results.returncode == 0, results.stderr
    assert candidate_lines(results.stdout) == lines


def test_a_distribution_tpe_cannot_sample_is_one_line_and_leaves_no_store(project: Path):
    (project / "hone.yaml").write_text(CONFIG.format(neighbors="norm(10, 3)"))
    done = run_hone("tune", "hone.yaml", cwd=project)
    assert done.returncode == 2
    message = done.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert "hone.yaml" in message and "models[0].distributions" in message
    assert "TPE cannot sample scipy.stats norm" in message
    assert not (project / "store.db").exists()
