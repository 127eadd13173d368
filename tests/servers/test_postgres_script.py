"""tests/servers/postgres.sh, which `make test` runs pytest under: the command gets a live server, and the
server is gone afterwards, whether the command passed, failed or was interrupted."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("postgres.sh")
# Writes the server's URL and directory to argv[1], checks the server answers, then exits with argv[2]
# (or sleeps when argv[2] is "wait").
PROBE = """
import os, sys, time
import sqlalchemy as sa
url, folder = os.environ["HONE_TEST_POSTGRES_URL"], os.environ["HONE_TEST_POSTGRES_DIR"]
engine = sa.create_engine(url)
with engine.connect() as connection:
    assert connection.execute(sa.text("SELECT 1")).scalar() == 1
engine.dispose()
open(sys.argv[1] + ".part", "w").write(folder)
os.replace(sys.argv[1] + ".part", sys.argv[1])  # whole or not there: the test polls for it
if sys.argv[2] == "wait":
    time.sleep(60)
sys.exit(int(sys.argv[2]))
"""


@pytest.fixture(autouse=True)
def postgres_binaries() -> None:
    if not glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"):
        why = "no PostgreSQL binaries under /usr/lib/postgresql (`make test` installs them)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is required in CI: {why}")
        pytest.skip(why)


def _running_in(folder: str) -> list[str]:
    """Command lines of live (not zombie) processes that mention ``folder``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if folder in command and state != "Z":
            found.append(command)
    return found


def test_the_command_gets_a_server_and_its_exit_status_and_no_server_outlives_it(tmp_path):
    reported = tmp_path / "folder"
    result = subprocess.run(
        [str(SCRIPT), "run", sys.executable, "-c", PROBE, str(reported), "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 3, result.stderr
    folder = reported.read_text()
    assert folder and not Path(folder).exists()
    assert _running_in(folder) == []


def test_an_interrupted_run_stops_its_server(tmp_path):
    reported = tmp_path / "folder"

    def default_sigint() -> None:  # as in a terminal: Ctrl-C reaches the whole foreground group
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    run = subprocess.Popen(
        [str(SCRIPT), "run", sys.executable, "-c", PROBE, str(reported), "wait"],
        start_new_session=True,
        preexec_fn=default_sigint,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not reported.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    folder = reported.read_text()
    assert _running_in(folder) != []  # the server is up while the command runs
    os.killpg(run.pid, signal.SIGINT)

    assert run.wait(timeout=60) != 0
    assert not Path(folder).exists()
    assert _running_in(folder) == []
