"""A day of production traffic for the demo: requests and late labels, and a sensor that breaks.

Starts `hone serve` on the project's champion (a free port on 127.0.0.1), replays the locked test rows
(the one evaluation on them is done; from here on they stand for fresh districts) in small requests, sends
each request's true values back as feedback, and from 15:00 on - the last 40% of the day - the
`median_income` sensor sends random numbers. Then the server is stopped cleanly (its log is flushed) and
`hone monitor` can check the day.

    .venv/bin/python examples/housing/simulate_day.py examples/housing/hone.yaml
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np

from hone.analysis.evaluate import load_test_set
from hone.config.load import load_config
from hone.store.db import Store

ROWS_PER_REQUEST = 8
BREAKS_AT = 0.6  # share of the day's traffic before the sensor breaks


def start_server(config: Path, token: str) -> tuple[subprocess.Popen[str], str]:
    hone = str(Path(sys.executable).with_name("hone"))
    server = subprocess.Popen(
        [hone, "serve", "-c", str(config), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"HONE_TOKEN": token},
    )
    assert server.stdout is not None
    first = server.stdout.readline()  # "serving housing v1 (...) at http://127.0.0.1:PORT · log: ..."
    if "http://" not in first:
        server.kill()
        raise SystemExit(f"hone serve did not start: {first.strip() or 'no output'}")
    print(first.strip())
    return server, first.split(" at ", 1)[1].split()[0]


def main() -> None:
    config_path = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/housing/hone.yaml")
    config = load_config(config_path)
    X, y = load_test_set(config, Store(config.store_url))
    order = np.random.default_rng(7).permutation(len(X))
    X, y = X.iloc[order].reset_index(drop=True), y.iloc[order].reset_index(drop=True)
    broken_from = int(BREAKS_AT * len(X))
    low, high = X["median_income"].min(), X["median_income"].max()
    X.loc[broken_from:, "median_income"] = np.random.default_rng(8).uniform(low, high, len(X) - broken_from)

    token = secrets.token_hex(16)
    server, url = start_server(config_path, token)
    sent = 0
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            for start in range(0, len(X), ROWS_PER_REQUEST):
                rows = X.iloc[start : start + ROWS_PER_REQUEST]
                records = rows.astype(object).where(rows.notna(), None).to_dict("records")
                answer = client.post("/predict", json={"records": records}).raise_for_status().json()
                labels = y.iloc[start : start + ROWS_PER_REQUEST].tolist()
                feedback = [{"id": i, "label": label} for i, label in zip(answer["ids"], labels, strict=True)]
                client.post(
                    "/feedback", json={"feedback": feedback}, headers={"Authorization": f"Bearer {token}"}
                ).raise_for_status()
                sent += len(rows)
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=60)
        print(out.strip())
    print(
        f"replayed {sent:,} districts with their labels; the median_income sensor broke after"
        f" {broken_from:,} of them"
    )


if __name__ == "__main__":
    main()
