"""A day of production traffic for the demo: requests and late labels, and a sensor that breaks.

Starts `hone serve` on the project's champion (a free port on 127.0.0.1), replays the locked test rows
(the one evaluation on them is done; from here on they stand for fresh districts) in small requests, sends
each request's true values back as feedback, and from 15:00 on - the last 40% of the day - the
`median_income` sensor sends random numbers. Then the server is stopped cleanly (its log is flushed) and
`hone monitor` can check the day. The replay itself is examples/replay.py, which works for any project.

    .venv/bin/python examples/housing/simulate_day.py examples/housing/hone.yaml
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import httpx
import numpy as np

from hone.analysis.evaluate import load_test_set
from hone.config.load import load_config
from hone.store.db import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/replay.py: the generic replay
from replay import inject_fault, replay, start_server, stop_server  # noqa: E402

BREAKS_AT = 0.6  # share of the day's traffic before the sensor breaks


def main() -> None:
    config_path = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/housing/hone.yaml")
    config = load_config(config_path)
    X, y = load_test_set(config, Store(config.store_url))
    order = np.random.default_rng(7).permutation(len(X))
    X, y = X.iloc[order].reset_index(drop=True), y.iloc[order].reset_index(drop=True)
    broken_from = int(BREAKS_AT * len(X))
    inject_fault(X, "median_income", broken_from, seed=8)

    token = secrets.token_hex(16)
    server, url = start_server(config_path, token)
    sent = 0
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            sent = replay(client, X, y, token=token)
    finally:
        stop_server(server)
    print(
        f"replayed {sent:,} districts with their labels; the median_income sensor broke after"
        f" {broken_from:,} of them"
    )


if __name__ == "__main__":
    main()
