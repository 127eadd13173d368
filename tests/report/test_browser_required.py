"""The browser tests never pass silently without a browser: skipped locally, failed under CI=true."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BROWSER_TESTS = ["tests/report/test_browser.py", "tests/report/test_monitor_page.py::" + (
    "test_every_chart_lays_out_in_a_real_browser_without_script_errors"
)]


def _run(target: str, tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["HONE_TEST_CHROMIUM"] = str(tmp_path / "no-chromium-here")
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", target],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.mark.parametrize("target", BROWSER_TESTS)
def test_a_missing_browser_fails_under_ci_and_skips_locally(target: str, tmp_path: Path) -> None:
    in_ci = _run(target, tmp_path, "true")
    assert in_ci.returncode == 1, in_ci.stdout[-2000:]
    assert "Chromium is required in CI" in in_ci.stdout
    assert " passed" not in in_ci.stdout.splitlines()[-1]
    local = _run(target, tmp_path, None)
    assert local.returncode == 0, local.stdout[-2000:]
    assert "skipped" in local.stdout.splitlines()[-1] and "failed" not in local.stdout.splitlines()[-1]
