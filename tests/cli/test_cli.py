"""The `hone` command end to end, in real subprocesses on real files and a real SQLite store."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from helpers.cli import CONFIG, HONE, run_hone


@pytest.fixture()
def project(tmp_path: Path, housing) -> Path:
    housing.iloc[:1500].to_csv(tmp_path / "data.csv", index=False)
    config = tmp_path / "hone.yaml"
    config.write_text(CONFIG.format(data="data.csv", store="store.db"))
    return config


def stored_folds(db: Path) -> dict[tuple[int, int], dict]:
    """Fold records straight from the SQLite file: (candidate trial, fold) -> record."""
    if not db.exists():
        return {}
    with sqlite3.connect(db) as connection:
        try:
            rows = connection.execute(
                "SELECT trial_id, key, value_json FROM trial_user_attributes WHERE key LIKE 'fold.%'"
            ).fetchall()
        except sqlite3.OperationalError:  # Optuna's tables are not created yet
            return {}
    return {(trial, key): json.loads(value) for trial, key, value in rows}


def seed_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if re.match(r"^\d+\.\d+ \{", line)]


def test_tune_prints_every_candidate_and_results_reprints_them(project: Path):
    done = run_hone("tune", str(project), cwd=project.parent)
    assert done.returncode == 0, done.stderr
    lines = seed_lines(done.stdout)
    assert len(lines) == 9 + 4
    assert "best params: {'max_features'" in done.stdout
    assert "All candidates, best first" in done.stdout and "Best candidate of each model" in done.stdout
    assert "test rows locked in the store (recorded now)" in done.stdout
    # Not a terminal: plain progress lines on stderr, no bar.
    assert "fits to make" in done.stderr and "━" not in done.stderr

    again = run_hone("results", "--config", str(project), cwd=project.parent)
    assert again.returncode == 0, again.stderr
    assert seed_lines(again.stdout) == lines

    quiet = run_hone("tune", str(project), "--quiet", cwd=project.parent)
    assert quiet.returncode == 0
    assert quiet.stderr == ""
    assert "(0 fitted now, 27 read from the store)" in quiet.stdout
    assert seed_lines(quiet.stdout) == lines


def test_kill_9_then_rerun_recomputes_no_finished_fit(project: Path, tmp_path: Path):
    db = tmp_path / "store.db"
    process = subprocess.Popen(
        [HONE, "tune", str(project), "--quiet"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while len(stored_folds(db)) < 6 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = stored_folds(db)
    assert 6 <= len(before) < 27 + 12, "the kill should land mid-search"

    resumed = run_hone("tune", str(project), "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    counts = [
        tuple(map(int, m))
        for m in re.findall(r"\((\d+) fitted now, (\d+) read from the store\)", resumed.stdout)
    ]
    assert sum(fitted + read for fitted, read in counts) == 27 + 12
    assert sum(read for _, read in counts) == len(before)
    after = stored_folds(db)
    assert len(after) == 27 + 12
    for key, record in before.items():
        assert after[key] == record, "a fit finished before the kill was recomputed"

    # An uninterrupted run in a fresh store ends with the same results.
    fresh = tmp_path / "fresh.yaml"
    fresh.write_text(project.read_text().replace("store: store.db", "store: fresh.db"))
    clean = run_hone("tune", str(fresh), "--quiet", cwd=tmp_path)
    assert clean.returncode == 0, clean.stderr
    assert seed_lines(clean.stdout) == seed_lines(resumed.stdout)


BAD_CASES = {
    "missing config": (None, "absent.yaml: project file not found", None),
    "malformed yaml": ("project: [unclosed\n", "hone.yaml:", None),
    "wrong key": ("TARGETED", "did you mean", None),
    "missing data file": ("DATA:missing.csv", "missing.csv", None),
    "empty data file": ("DATA:empty.csv", "empty.csv", ""),
    "target absent": ("DATA:notarget.csv", "median_house_value", "drop_target"),
    "text in numeric column": ("DATA:text.csv", "median_income", "text"),
    "all-empty column": ("DATA:blank.csv", "total_rooms", "blank"),
    "unknown estimator": ("sklearn.ensemble.RandomForestRegresor", "RandomForestRegresor", None),
    "parameter not accepted": ("n_estimator:", "n_estimator", None),
    "empty grid": ("EMPTY_GRID", "empty", None),
    "cv larger than rows": ("CV:5000", "cv", None),
    "text target for a regressor": (
        "DATA:words.csv", "target column 'median_house_value' must be numeric", "words"
    ),
    "line with a missing field": ("DATA:short.csv", "short.csv: malformed CSV at line 6", "short"),
    "store under a file": ("STORE:data.csv/hone.db", "data.csv' is a file", None),
    "estimator outside allowed packages": ("ESTIMATOR:os.path.Thing", "not under an allowed package", None),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_input_is_one_line_exit_2_and_store_untouched(case: str, tmp_path: Path, housing):
    change, expected, data_kind = BAD_CASES[case]
    sample = housing.iloc[:300]
    sample.to_csv(tmp_path / "data.csv", index=False)
    text = CONFIG.format(data="data.csv", store="store.db")
    if change == "TARGETED":
        text = text.replace("  target: median_house_value", "  targeted: median_house_value")
    elif change == "EMPTY_GRID":
        text = text.replace("n_estimators: [5, 10, 20]", "n_estimators: []")
    elif change and change.startswith("DATA:"):
        name = change[5:]
        text = text.replace("data.csv", name)
        if data_kind == "":
            (tmp_path / name).write_text("")
        elif data_kind == "drop_target":
            sample.drop(columns="median_house_value").to_csv(tmp_path / name, index=False)
        elif data_kind == "text":
            bad = sample.astype({"median_income": object})
            bad.iloc[7, bad.columns.get_loc("median_income")] = "n/a?"
            bad.to_csv(tmp_path / name, index=False)
        elif data_kind == "blank":
            sample.assign(total_rooms=None).to_csv(tmp_path / name, index=False)
        elif data_kind == "words":
            words = sample["median_house_value"].gt(200_000).map({True: "high", False: "low"})
            sample.assign(median_house_value=words).to_csv(tmp_path / name, index=False)
        elif data_kind == "short":
            lines = sample.to_csv(index=False).splitlines(keepends=True)
            lines[5] = lines[5].rsplit(",", 1)[0] + "\n"  # the last field (ocean_proximity) left out
            (tmp_path / name).write_text("".join(lines))
    elif change and change.startswith("STORE:"):
        text = text.replace("store: store.db", f"store: {change[6:]}")
    elif change and change.startswith("ESTIMATOR:"):
        text = text.replace("sklearn.ensemble.RandomForestRegressor", change[10:])
    elif change and change.startswith("CV:"):
        text = text.replace("  cv: 3", f"  cv: {change[3:]}")
    elif change == "n_estimator:":
        text = text.replace("params: {random_state: 42}", "params: {random_state: 42, n_estimator: 3}")
    elif change and change.startswith("sklearn."):
        text = text.replace("sklearn.ensemble.RandomForestRegressor", change)
    elif change is not None:
        text = change
    config = tmp_path / ("absent.yaml" if change is None else "hone.yaml")
    if change is not None:
        config.write_text(text)

    result = run_hone("tune", str(config), cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert expected.lower() in lines[0].lower(), lines[0]
    assert not (tmp_path / "store.db").exists(), "bad input must leave the store as it was"


def test_debug_shows_the_traceback(tmp_path: Path):
    result = run_hone("--debug", "tune", str(tmp_path / "absent.yaml"), cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_results_without_a_store_says_so(tmp_path: Path, project: Path):
    result = run_hone("results", "--config", str(project), cwd=tmp_path)
    assert result.returncode == 2
    assert "run `hone tune` first" in result.stderr


def test_progress_bar_on_a_terminal(project: Path):
    """On a TTY the progress is a rich bar with fits done/total, ETA and the best score so far."""
    import pty

    main, secondary = pty.openpty()
    env = os.environ | {"COLUMNS": "160", "TERM": "xterm"}
    process = subprocess.Popen(
        [HONE, "tune", str(project)], cwd=project.parent, stdout=subprocess.DEVNULL, stderr=secondary, env=env
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the other end closed: the process is done
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert process.wait(timeout=300) == 0
    os.close(main)
    screen = b"".join(chunks).decode(errors="replace")
    assert "━" in screen, "no bar drawn"
    assert "27/27" in screen and "12/12" in screen
    assert "eta" in screen and "best RMSE:" in screen


def test_tune_on_an_immutable_store_is_one_line_exit_2_and_the_store_unchanged(tmp_path: Path, housing):
    import shutil

    from hone.store.db import Store, sqlite_url

    housing.iloc[:300].to_csv(tmp_path / "data.csv", index=False)
    config = tmp_path / "hone.yaml"
    config.write_text(CONFIG.format(data="data.csv", store="store.db"))
    Store(sqlite_url(tmp_path / "store.db")).close()
    before = (tmp_path / "store.db").read_bytes()
    if shutil.which("chattr") is None or subprocess.run(
        ["chattr", "+i", str(tmp_path / "store.db")], capture_output=True
    ).returncode:
        pytest.skip("chattr +i is not available here")
    try:
        result = run_hone("tune", str(config), cwd=tmp_path)
    finally:
        subprocess.run(["chattr", "-i", str(tmp_path / "store.db")], check=True)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "store file cannot be written" in lines[0], result.stderr
    assert (tmp_path / "store.db").read_bytes() == before


def test_tune_takes_the_project_file_as_argument_or_c_but_not_two(tmp_path) -> None:
    (tmp_path / "a.yaml").write_text("project: a\n")
    (tmp_path / "b.yaml").write_text("project: b\n")
    both = run_hone("tune", "a.yaml", "-c", "b.yaml", cwd=tmp_path)
    assert both.returncode == 2 and "two project files given" in both.stderr
    assert len(both.stderr.strip().splitlines()) == 1
    neither = run_hone("tune", cwd=tmp_path)
    assert neither.returncode == 2 and "no hone.yaml here" in neither.stderr
