"""Replay a labelled table against a running `hone serve`: predictions, then each row's label as feedback.

Works for any project: the columns sent are the ones the served model accepts (its features and id columns,
read from the service's OpenAPI document), the rest (the label, dropped columns) stay behind. An
optional fault breaks one column from some point of the traffic on (random values in its range, or random
categories), to see `hone monitor` catch it.

    hone serve -c examples/breast_cancer/hone.yaml          # in another terminal; HONE_TOKEN set in both
    .venv/bin/python examples/replay.py --url http://127.0.0.1:8001 \\
        --data examples/breast_cancer/breast_cancer.csv --target diagnosis \\
        --fault mean_radius --fault-from 0.6

With ``--config FILE`` instead of ``--url``, the project's `hone serve` is started on a free port (with a
fresh token) for the replay and stopped after it. Also importable: examples/housing/simulate_day.py
replays the housing test rows with these functions.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

ROWS_PER_REQUEST = 8


def start_server(config: Path, token: str) -> tuple[subprocess.Popen[str], str]:
    """`hone serve -c CONFIG` on a free port of 127.0.0.1; the server and its URL once it listens."""
    hone = str(Path(sys.executable).with_name("hone"))
    server = subprocess.Popen(
        [hone, "serve", "-c", str(config), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"HONE_TOKEN": token},
    )
    assert server.stdout is not None
    first = server.stdout.readline()  # "serving NAME vN (...) at http://127.0.0.1:PORT · log: ..."
    if "http://" not in first:
        server.kill()
        raise SystemExit(f"hone serve did not start: {first.strip() or 'no output'}")
    print(first.strip())
    return server, first.split(" at ", 1)[1].split()[0]


def stop_server(server: subprocess.Popen[str]) -> None:
    """Stop cleanly (SIGTERM: the prediction log is flushed) and print what the server said."""
    server.send_signal(signal.SIGTERM)
    out, _ = server.communicate(timeout=60)
    print(out.strip())


def inject_fault(X: pd.DataFrame, column: str, start: int, seed: int = 8) -> None:
    """From row ``start`` on, ``column`` sends random values: uniform in its range, or random categories."""
    if column not in X.columns:
        listed = ", ".join(map(str, X.columns))
        raise SystemExit(f"--fault {column!r}: no such column; the rows have {listed}")
    n = len(X) - start
    rng = np.random.default_rng(seed)
    if pd.api.types.is_numeric_dtype(X[column]):
        low, high = X[column].min(), X[column].max()
        X.loc[start:, column] = rng.uniform(low, high, n)
    else:
        X.loc[start:, column] = rng.choice(X[column].dropna().unique(), n)


def served_columns(client: httpx.Client) -> list[str] | None:
    """The fields one /predict record may have (features and ids), from the OpenAPI document."""
    document = client.get("/openapi.json").raise_for_status().json()
    body = document["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    record = body.get("oneOf", [{}])[0]
    properties = record.get("properties")
    return list(properties) if properties else None


def replay(
    client: httpx.Client,
    X: pd.DataFrame,  # noqa: N803 - scikit-learn's naming
    y: pd.Series,
    *,
    token: str,
    rows_per_request: int = ROWS_PER_REQUEST,
) -> int:
    """Send ``X`` in requests of a few rows, each followed by its labels as feedback; rows sent."""
    sent = 0
    for start in range(0, len(X), rows_per_request):
        rows = X.iloc[start : start + rows_per_request]
        records = _records(rows)
        answer = client.post("/predict", json={"records": records}).raise_for_status().json()
        labels = [_plain(label) for label in y.iloc[start : start + rows_per_request].tolist()]
        feedback = [{"id": i, "label": label} for i, label in zip(answer["ids"], labels, strict=True)]
        client.post(
            "/feedback", json={"feedback": feedback}, headers={"Authorization": f"Bearer {token}"}
        ).raise_for_status()
        sent += len(rows)
    return sent


def _records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    return [{name: _plain(value) for name, value in row.items()} for row in rows.to_dict("records")]


def _plain(value: Any) -> Any:
    # JSON has no NaN and no numpy scalars: a missing value is null.
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="The running service, e.g. http://127.0.0.1:8000")
    where.add_argument("--config", type=Path, help="Or a project file: its `hone serve` runs for the replay.")
    parser.add_argument("--data", required=True, type=Path, help="A labelled CSV (or Parquet) file.")
    parser.add_argument("--target", required=True, help="The label column.")
    parser.add_argument("--token", default=os.environ.get("HONE_TOKEN"), help="Default: $HONE_TOKEN.")
    parser.add_argument("--rows-per-request", type=int, default=ROWS_PER_REQUEST)
    parser.add_argument("--fault", help="A column that breaks during the replay.")
    parser.add_argument("--fault-from", type=float, default=0.6, help="Share of the rows before it breaks.")
    parser.add_argument("--seed", type=int, default=7, help="Shuffles the rows (and seeds the fault).")
    args = parser.parse_args()
    if args.config is not None:
        args.token = secrets.token_hex(16)
    elif not args.token:
        raise SystemExit("feedback needs the service's token: --token or HONE_TOKEN")
    frame = pd.read_parquet(args.data) if args.data.suffix in (".parquet", ".pq") else pd.read_csv(args.data)
    if args.target not in frame.columns:
        raise SystemExit(f"--target {args.target!r}: no such column in {args.data}")
    frame = frame.sample(frac=1.0, random_state=args.seed).reset_index(drop=True)
    y = frame.pop(args.target)
    broken_from = int(args.fault_from * len(frame))
    if args.fault:
        inject_fault(frame, args.fault, broken_from, seed=args.seed + 1)
    server, url = start_server(args.config, args.token) if args.config is not None else (None, args.url)
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            columns = served_columns(client)
            X = frame[[c for c in frame.columns if c in columns]] if columns else frame  # noqa: N806
            sent = replay(client, X, y, token=args.token, rows_per_request=args.rows_per_request)
    finally:
        if server is not None:
            stop_server(server)
    fault = f"; {args.fault} broke after {broken_from:,} of them" if args.fault else ""
    print(f"replayed {sent:,} labelled rows from {args.data}{fault}")


if __name__ == "__main__":
    main()
