"""The prediction service and batch prediction against plain `pipeline.predict` (by hand, not in CI).

The seed's model (the book's preparation + a 30-tree forest, max_features 8, random_state 42, fitted on
the housing training set) is registered in a temporary store and served by a real `hone serve` (uvicorn on
127.0.0.1); wrk (Debian package `wrk`) loads it with single-row `/predict` requests at concurrency 1 and 16.
In the same run: plain ``pipeline.predict`` on one pandas row (the anchor), the fast path in-process, and
`hone predict` on 1,000,000 rows. Prints the ratios and whether served predictions equal the pipeline's.

    HONE_DATA_DIR=../shared/data .venv/bin/python bench/serve.py [--seconds 10] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from seed import TARGET, housing_train, seed_model  # bench/seed.py, beside this script
from sklearn.pipeline import Pipeline

from hone.data.profile import ReferenceProfile
from hone.data.schema import FeatureSchema
from hone.launch.predictor import compile_predictor
from hone.store.db import Store, sqlite_url
from hone.store.registry import Registry

HONE = str(Path(sys.executable).with_name("hone"))
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[{body}]]
"""


def register(folder: Path, pipeline: Pipeline, X: pd.DataFrame, y: pd.Series) -> str:
    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    schema = FeatureSchema.from_frame(X, target=TARGET, imputed=numeric)
    profile = ReferenceProfile.build(X, schema, y=y, predictions=pipeline.predict(X))
    url = sqlite_url(folder / "hone.db")
    registry = Registry(Store(url), folder / "artifacts")
    version = registry.register(
        "bench",
        pipeline,
        task="regression",
        schema=schema,
        profile=profile.to_dict(),
        params={},
        metrics={},
        data={"n_rows": len(X)},
        source={"model": "seed forest"},
    )
    registry.promote("bench", version.version, reason="benchmark")
    return url


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(url: str, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen(
        [
            HONE,
            "serve",
            "--store",
            url,
            "--model",
            "bench",
            "--port",
            str(port),
            "--log",
            str(folder / "log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.kill()
    raise SystemExit("hone serve did not become ready")


def parse_wrk(output: str) -> dict[str, float]:
    def ms(text: str) -> float:
        value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", output, re.MULTILINE))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "p50": ms(latency["50"]),
        "p99": ms(latency["99"]),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "errors": (int(errors.group(1)) if errors else 0)
        + (sum(map(int, socket_errors.groups())) if socket_errors else 0),
    }


def wrk(base: str, record: dict, connections: int, seconds: int, folder: Path) -> dict[str, float]:
    script = folder / "post.lua"
    script.write_text(LUA.format(body=json.dumps(record)))
    threads = 1 if connections == 1 else 2
    done = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"{base}/predict",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return parse_wrk(done.stdout)


def in_process(pipeline: Pipeline, X: pd.DataFrame, schema: FeatureSchema, calls: int) -> dict[str, float]:
    predictor = compile_predictor(pipeline, schema)
    records = X.iloc[:calls].replace({np.nan: None}).to_dict("records")
    plain, fast = [], []
    for i in range(calls):
        row = X.iloc[[i]]
        start = time.perf_counter()
        pipeline.predict(row)
        plain.append(time.perf_counter() - start)
        start = time.perf_counter()
        predictor.predict_rows(schema.check_records([records[i]]))
        fast.append(time.perf_counter() - start)
    return {
        "plain_p50": 1e3 * statistics.median(plain),
        "plain_p99": 1e3 * float(np.percentile(plain, 99)),
        "fast_p50": 1e3 * statistics.median(fast),
        "fast_p99": 1e3 * float(np.percentile(fast, 99)),
        "compiled": float(predictor.compiled),
    }


def served_equal(base: str, pipeline: Pipeline, X: pd.DataFrame) -> bool:
    rows = X.iloc[:500]
    records = rows.replace({np.nan: None}).to_dict("records")
    answer = httpx.post(f"{base}/predict", json={"records": records}, timeout=30).json()
    expected = pipeline.predict(rows)
    return bool(np.allclose(answer["predictions"], expected, rtol=1e-6, atol=0))


def plain_batch_rate(pipeline: Pipeline, sample: pd.DataFrame) -> float:
    """Rows/s of ``pipeline.predict`` on rows already in memory, the forest on every core (the anchor)."""
    model = pipeline[-1]
    saved = model.n_jobs
    model.n_jobs = -1
    try:
        start = time.perf_counter()
        pipeline.predict(sample)
        return len(sample) / (time.perf_counter() - start)
    finally:
        model.n_jobs = saved


def run_predict(url: str, source: Path, output: Path) -> tuple[float, str]:
    """`hone predict` of ``source`` in a fresh process: its wall time and what it printed."""
    start = time.perf_counter()
    done = subprocess.run(
        [HONE, "predict", "--store", url, "--model", "bench", "-i", str(source), "-o", str(output)],
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - start, done.stdout


def startup(url: str, X: pd.DataFrame, folder: Path, runs: int = 3) -> list[float]:
    """Wall seconds of `hone predict` on a 10-row file: the fixed cost every batch command pays."""
    source = folder / "ten.parquet"
    X.iloc[:10].to_parquet(source, index=False)
    return [run_predict(url, source, folder / "ten-out.parquet")[0] for _ in range(runs)]


def batch(
    url: str, pipeline: Pipeline, X: pd.DataFrame, rows: int, folder: Path
) -> dict[str, tuple[float, float, float]]:
    """Per input format: hone's rate inside the command, with start-up, and the anchor's run just before."""
    sample = X.sample(n=rows, replace=True, random_state=0).reset_index(drop=True)
    results = {}
    for suffix in ("parquet", "csv"):
        plain = plain_batch_rate(pipeline, sample)
        source = folder / f"new.{suffix}"
        if suffix == "parquet":
            sample.to_parquet(source, index=False)
        else:
            sample.to_csv(source, index=False)
        output = folder / f"out-{suffix}.parquet"
        seconds, stdout = run_predict(url, source, output)
        whole = rows / seconds
        # The command's own rate: reading, checking, predicting and writing, after start-up.
        inside = re.search(r"\(([\d,]+) rows/s\)", stdout)
        results[suffix] = (float(inside.group(1).replace(",", "")) if inside else 0.0, whole, plain)
        if suffix == "parquet":
            predicted = pd.read_parquet(output)["prediction"]
            same = np.allclose(predicted, pipeline.predict(sample), rtol=1e-9, atol=0)
            answer = "yes" if same else "NO"
            print(f"batch predictions equal pipeline.predict (rel 1e-9, {rows:,} rows): {answer}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for batch prediction")
    parser.add_argument("--calls", type=int, default=2000, help="single-row calls in-process")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    train = housing_train()
    pipeline, X = seed_model(train)
    schema = FeatureSchema.from_frame(
        X, target=TARGET, imputed=[c for c in X.columns if c != "ocean_proximity"]
    )
    folder = Path(tempfile.mkdtemp(prefix="hone-bench-serve-"))
    try:
        url = register(folder, pipeline, X, train[TARGET])
        local = in_process(pipeline, X, schema, args.calls)
        server, base = start_server(url, folder)
        try:
            record = X.iloc[0].to_dict()
            wrk(base, record, 1, 2, folder)  # warm-up
            one = wrk(base, record, 1, args.seconds, folder)
            many = wrk(base, record, 16, args.seconds, folder)
            same = served_equal(base, pipeline, X)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        rates = batch(url, pipeline, X, args.rows, folder)
        fixed = startup(url, X, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    print(f"in-process, one row ({args.calls:,} calls):")
    plain = f"p50 {local['plain_p50']:.2f} ms  p99 {local['plain_p99']:.2f} ms"
    print(f"   pipeline.predict on a pandas row  {plain}")
    print(
        f"   hone fast path (check + predict)  p50 {local['fast_p50']:.3f} ms  p99 {local['fast_p99']:.3f} ms"
        f"  (compiled: {'yes' if local['compiled'] else 'no'})"
    )
    print("served by `hone serve` (uvicorn, 127.0.0.1), wrk, single-row /predict:")
    print(
        f"   concurrency 1:  p50 {one['p50']:.2f} ms  p99 {one['p99']:.2f} ms  {one['rps']:,.0f} req/s"
        f"  errors {one['errors']:.0f}   (target p99 <= 5 ms: {verdict(one['p99'] <= 5)})"
    )
    print(
        f"   concurrency 16: p50 {many['p50']:.2f} ms  p99 {many['p99']:.2f} ms  {many['rps']:,.0f} req/s"
        f"  errors {many['errors']:.0f}   (target >= 500 req/s, 0 errors: "
        f"{verdict(many['rps'] >= 500 and many['errors'] == 0)})"
    )
    print(
        f"   ratio served p99 / plain pipeline.predict p99: {one['p99'] / local['plain_p99']:.3f};"
        f" p50: {one['p50'] / local['plain_p50']:.3f}"
    )
    print(f"   served predictions equal pipeline.predict (rel 1e-6, 500 rows): {'yes' if same else 'NO'}")
    print(f"batch `hone predict`, {args.rows:,} rows (whole command, start-up included):")
    for suffix, (inside, whole, plain) in rates.items():
        print(
            f"   {suffix:8s} {inside:,.0f} rows/s read -> check -> predict -> write"
            f" (target >= 200,000: {verdict(inside >= 200_000)});"
            f" {whole:,.0f} rows/s counting the process start-up"
        )
        print(
            f"            plain pipeline.predict on the rows in memory (n_jobs=-1): {plain:,.0f} rows/s;"
            f" ratio hone / plain {inside / plain:.2f} (whole command {whole / plain:.2f})"
        )
    print(f"   start-up: `hone predict` on a 10-row file takes {', '.join(f'{t:.2f}' for t in fixed)} s")
    print(
        f"load average at the end: {os.getloadavg()[0]:.2f} (other work on the machine skews these numbers)"
    )


if __name__ == "__main__":
    main()
