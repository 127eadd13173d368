"""The report in a real headless Chromium: every chart lays out and the page script raises nothing."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from helpers.browser import CHROMIUM

FULL_REPORT_CHARTS = 16

# Skips locally without Chromium, fails under CI=true (the conftest fixture), before the report is built.
pytestmark = pytest.mark.usefixtures("chromium")


def dump_dom(page: Path, profile: Path) -> str:
    """The DOM after load, from a browser that may not touch the network."""
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",  # tests run as root in containers
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        f"--user-data-dir={profile}",
        "--window-size=1280,2400",
        "--dump-dom",
        page.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def body_attributes(dom: str) -> str:
    match = re.search(r"<body\b[^>]*>", dom)
    assert match, dom[:500]
    return match.group(0)


def test_every_chart_renders_without_script_errors(report_html: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(report_html, encoding="utf-8")
    body = body_attributes(dump_dom(page, tmp_path / "profile"))
    assert f'data-charts-rendered="{FULL_REPORT_CHARTS}"' in body, body
    assert "data-script-errors" not in body, body


def test_the_error_recorder_catches_a_broken_script(report_html: str, tmp_path: Path) -> None:
    # Proves the check above can fail: a throwing script is recorded on the body.
    broken = report_html.replace("</main>", "<script>notAFunction();</script></main>", 1)
    page = tmp_path / "broken.html"
    page.write_text(broken, encoding="utf-8")
    body = body_attributes(dump_dom(page, tmp_path / "profile"))
    assert "data-script-errors=" in body and "notAFunction" in body, body
    assert f'data-charts-rendered="{FULL_REPORT_CHARTS}"' in body, body
