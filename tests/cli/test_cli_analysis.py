"""`hone analyze`, `hone evaluate` and `hone report` end to end, in subprocesses on a tuned slice project."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli import CONFIG, run_hone


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory, housing) -> Path:
    folder = tmp_path_factory.mktemp("tuned")
    housing.iloc[:1500].to_csv(folder / "data.csv", index=False)
    config = folder / "hone.yaml"
    config.write_text(CONFIG.format(data="data.csv", store="store.db"))
    done = run_hone("tune", str(config), "--quiet", cwd=folder)
    assert done.returncode == 0, done.stderr
    return config


def test_analyze_names_importances_drops_and_errors(tuned: Path):
    result = run_hone("analyze", "forest", "--config", str(tuned), cwd=tuned.parent)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "feature importances (feature_importances_)" in out and "'median_income')" in out
    assert "Importance per source column" in out and "ocean_proximity" in out
    assert "Permutation importance on the validation folds" in out
    assert "dropping " in out and "CV RMSE" in out
    assert "out-of-fold errors on the training set: RMSE" in out
    assert "Error by category" in out and "Worst-predicted rows" in out


def test_analyze_a_model_without_importances_falls_back_to_permutation(tuned: Path):
    result = run_hone("analyze", "knn", "--config", str(tuned), cwd=tuned.parent)
    assert result.returncode == 0, result.stderr
    assert "no model importances" in result.stdout
    assert "Permutation importance" in result.stdout and "dropping " in result.stdout


def test_every_look_at_the_test_set_is_counted_and_the_report_shows_it(tuned: Path):
    first = run_hone("evaluate", "forest", "--config", str(tuned), cwd=tuned.parent)
    assert first.returncode == 0, first.stderr
    assert "look #1 at this test set" in first.stdout and "warning" not in first.stdout
    assert "RMSE" in first.stdout and "t-interval" in first.stdout and "bootstrap" in first.stdout
    second = run_hone("evaluate", "knn", "--config", str(tuned), "--final", cwd=tuned.parent)
    assert second.returncode == 0, second.stderr
    assert "look #2" in second.stdout and "marked as the final choice" in second.stdout
    assert "optimistic" in second.stdout

    target = tuned.parent / "out" / "report.html"
    report = run_hone("report", "knn", "--config", str(tuned), "--output", str(target), cwd=tuned.parent)
    assert report.returncode == 0, report.stderr
    html = target.read_text()
    assert "://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "Test set evaluation" in html and "knn" in html


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["analyze", "nosuch"], "no tuned model or study named 'nosuch'"),
        (["analyze", "forest", "--candidate", "99"], "candidate 99 does not exist"),
        (["evaluate", "--confidence", "1.5"], "--confidence must be between 0 and 1"),
    ],
)
def test_bad_analysis_requests_are_one_line_exit_2(tuned: Path, args: list[str], expected: str):
    result = run_hone(*args, "--config", str(tuned), cwd=tuned.parent)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0]


def test_evaluate_before_any_tune_says_so(tmp_path: Path, housing):
    housing.iloc[:300].to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "hone.yaml").write_text(CONFIG.format(data="data.csv", store="store.db"))
    result = run_hone("evaluate", "--config", str(tmp_path / "hone.yaml"), cwd=tmp_path)
    assert result.returncode == 2 and "run `hone tune` first" in result.stderr
    assert not (tmp_path / "store.db").exists()
