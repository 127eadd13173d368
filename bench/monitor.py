"""All quality and drift checks of one window of 1,000,000 logged housing predictions (run by hand).

Writes 1,000,000 housing-like rows (training rows drawn with replacement, lightly jittered, 9 inputs plus a
model's prediction) as the service's prediction log (Parquet parts of ``--part-rows`` rows under
``<log>/<model>/predictions/date=.../``), then, each in a fresh process, times reading that window from
disk and checking it, and reads the process's peak resident memory (VmHWM):

* ``stream``: the parts read one by one, in chunks of 65,536 rows fed to ``WindowCounts`` (bounded memory);
* ``frame``: ``read_predictions`` of the whole window, ``to_pandas`` and ``check_window`` (the simple path);
* ``runner``: a whole ``run_monitor`` (what ``hone monitor`` does) of a project whose champion is the model
  that made the predictions, registered in a temporary store, with the million rows as one window
  (``window: {rows: 1000000}``) and feedback labels for ``--labelled`` of them: registry look-ups, both
  passes over the log, label join, checks and storing the window included.

If Evidently installs in a side environment (``--evidently-venv``, never the project's), its
DataDriftPreset runs on the same reference and current data the same way, and the ratio is printed; if
not, the reason and the issue's measurement (22.7 s, 852 MB) are printed instead.

    HONE_DATA_DIR=../shared/data .venv/bin/python bench/monitor.py [--rows 1000000] [--part-rows 2000] \
        [--labelled 1.0]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

TARGET = "median_house_value"
MODEL = "housing"
DAY = datetime(2026, 1, 1, tzinfo=timezone.utc)
CHUNK_ROWS = 65_536  # rows per chunk fed to WindowCounts in the stream mode (about 7 MB of Arrow data)
MODES = ("stream", "frame", "runner")
LABEL_DELAY = timedelta(seconds=30)  # feedback arrives this long after its prediction
ISSUE_EVIDENTLY = {"seconds": 22.7, "peak_mb": 852.0}  # measured by the issue's author
TARGET_SECONDS, TARGET_MB = 2.0, 300.0

EVIDENTLY_SCRIPT = r"""
import glob, json, sys, time
folder, reference_path = sys.argv[1], sys.argv[2]
import pandas as pd
try:  # Evidently >= 0.7
    from evidently import Report
    from evidently.presets import DataDriftPreset
    modern = True
except ImportError:  # Evidently 0.4 - 0.6
    from evidently.report import Report
    from evidently.metric_preset import DataDriftPreset
    modern = False
import evidently

def hwm():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024

baseline = hwm()
reference = pd.read_parquet(reference_path)
start = time.perf_counter()
files = sorted(glob.glob(folder + "/date=*/part-*.parquet"))
import pyarrow.dataset as ds
current = ds.dataset(files, format="parquet").to_table(columns=list(reference.columns)).to_pandas()
read = time.perf_counter() - start
report = Report([DataDriftPreset()]) if modern else Report(metrics=[DataDriftPreset()])
if modern:
    snapshot = report.run(current_data=current, reference_data=reference)
    snapshot.dict()
else:
    report.run(reference_data=reference, current_data=current)
    report.as_dict()
total = time.perf_counter() - start
print(json.dumps({"version": evidently.__version__, "seconds": total, "read_seconds": read,
                  "peak_mb": hwm(), "baseline_mb": baseline, "rows": len(current)}))
"""


def peak_mb() -> float:
    """The process's peak resident set (VmHWM), in MB: what the operating system had to give it."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


# -- writing the log ---------------------------------------------------------------------------------------


def write_log(folder: Path, rows: int, part_rows: int, labelled: float) -> dict[str, Any]:
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import Pipeline

    from hone.data import build_preparation, housing_prepare_spec, load_housing, split_train_test
    from hone.data.datasets import housing_split_spec
    from hone.data.profile import ReferenceProfile
    from hone.data.schema import FeatureSchema

    train = split_train_test(load_housing(), housing_split_spec()).train.reset_index(drop=True)
    X, y = train.drop(columns=TARGET), train[TARGET]
    pipeline = Pipeline(
        [("prepare", build_preparation(housing_prepare_spec(), train, TARGET)), ("model", Ridge())]
    )
    out_of_fold = cross_val_predict(pipeline, X, y, cv=3)
    pipeline.fit(X, y)
    schema = FeatureSchema.from_frame(X, target=TARGET, imputed=["total_bedrooms"])
    profile = ReferenceProfile.build(X, schema, y=y, predictions=out_of_fold)
    X.assign(prediction=out_of_fold).to_parquet(folder / "reference.parquet", index=False)

    rng = np.random.default_rng(0)
    drawn = rng.integers(0, len(X), rows)
    live = X.iloc[drawn].reset_index(drop=True)
    truth = y.to_numpy(dtype=np.float64)[drawn]
    for name in ("longitude", "latitude", "median_income"):  # jitter: distinct rows, as live traffic has
        live[name] = live[name] * (1 + rng.normal(0, 0.002, rows))
    live["prediction"] = pipeline.predict(live)
    log = folder / "log" / MODEL
    predictions = log / "predictions" / f"date={DAY.date().isoformat()}"
    predictions.mkdir(parents=True)
    micros = int(DAY.timestamp() * 1_000_000) + np.sort(rng.integers(0, 86_400_000_000, rows))
    ids = np.asarray([f"{i:032x}" for i in range(rows)], dtype=object)
    for number, start in enumerate(range(0, rows, part_rows)):
        part = live.iloc[start : start + part_rows]
        columns: dict[str, pa.Array] = {
            "prediction_id": pa.array(ids[start : start + len(part)], type=pa.string()),
            "ts": pa.array(micros[start : start + len(part)], type=pa.timestamp("us", tz="UTC")),
            "model_version": pa.array(np.ones(len(part), dtype=np.int32)),
        }
        for feature in schema.features:
            kind = pa.float64() if feature.kind == "numeric" else pa.string()
            columns[feature.name] = pa.array(part[feature.name], type=kind, from_pandas=True)
        columns["prediction"] = pa.array(part["prediction"], type=pa.float64())
        pq.write_table(pa.table(columns), predictions / f"part-{number:08d}-0-{number}.parquet")
    labels = write_feedback(log / "feedback", ids, micros, truth, labelled, part_rows, rng)
    model = {"schema": schema.to_dict(), "profile": profile.to_dict()}
    (folder / "model.json").write_text(json.dumps(model))
    register_champion(folder, pipeline, schema, profile, y.to_numpy(dtype=np.float64), out_of_fold, rows)
    size = sum(p.stat().st_size for p in predictions.iterdir())
    return {"parts": -(-rows // part_rows), "bytes": size, "labels": labels}


def write_feedback(
    folder: Path,
    ids: np.ndarray,
    micros: np.ndarray,
    truth: np.ndarray,
    labelled: float,
    part_rows: int,
    rng: np.random.Generator,
) -> int:
    """True labels for a random ``labelled`` share of the predictions, as the service logs feedback."""
    chosen = np.flatnonzero(rng.random(len(ids)) < labelled)
    stamps = micros[chosen] + LABEL_DELAY // timedelta(microseconds=1)
    days = (stamps // 86_400_000_000).astype("datetime64[D]").astype(str)
    for number, start in enumerate(range(0, len(chosen), part_rows)):
        rows = slice(start, start + part_rows)
        part = pa.table(
            {
                "prediction_id": pa.array(ids[chosen[rows]], type=pa.string()),
                "ts": pa.array(stamps[rows], type=pa.timestamp("us", tz="UTC")),
                "label": pa.array(truth[chosen[rows]], type=pa.float64()),
            }
        )
        for day in np.unique(days[rows]):  # a part never spans two date folders
            dated = folder / f"date={day}"
            dated.mkdir(parents=True, exist_ok=True)
            mask = pa.array(days[rows] == day)
            pq.write_table(part.filter(mask), dated / f"part-{number:08d}-0-{number}.parquet")
    return len(chosen)


def register_champion(
    folder: Path,
    pipeline: Any,
    schema: Any,
    profile: Any,
    truth: np.ndarray,
    out_of_fold: np.ndarray,
    window_rows: int,
) -> None:
    """A project in ``folder`` (store, artifacts, the log above) whose champion made the predictions.

    Its "test" metric is the out-of-fold RMSE on the training rows: the bench never opens the test set.
    """
    import yaml

    from hone.config.load import load_config
    from hone.monitor.performance import window_estimate
    from hone.store.db import Store
    from hone.store.registry import Registry

    document = {
        "project": MODEL,
        "data": {"dataset": "housing", "target": TARGET},
        "models": [{"name": "ridge", "estimator": "sklearn.linear_model.Ridge", "grid": {"alpha": [1.0]}}],
        "store": "hone.db",
        "serve": {"log": "log"},
        "monitor": {"window": {"rows": window_rows}, "alerts": {"channels": [{"kind": "log"}]}},
    }
    (folder / "hone.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    config = load_config(folder / "hone.yaml")
    registry = Registry(Store(config.store_url), config.artifacts_url)
    estimate = window_estimate(truth, out_of_fold, "rmse")
    interval = [estimate.low, estimate.high]
    version = registry.register(
        MODEL,
        pipeline,
        task="regression",
        schema=schema,
        profile=profile.to_dict(),
        params={"alpha": 1.0},
        metrics={"test": {"metrics": {"rmse": estimate.value}, "bootstrap": {"rmse": interval}}},
        data={"sha256": "bench", "n_rows": len(truth)},
        source={"project": MODEL, "model": "ridge", "study": "bench", "candidate": 0},
    )
    registry.promote(MODEL, version.version, reason="bench")


# -- measuring (in a fresh process) -------------------------------------------------------------------------


def measure(folder: Path, mode: str) -> dict[str, Any]:
    if mode == "runner":
        return measure_runner(folder)
    from hone.config.schema import MonitorSettings
    from hone.data.profile import ReferenceProfile
    from hone.data.schema import FeatureSchema
    from hone.monitor.checks import check_window, report_window
    from hone.monitor.quality import WindowCounts
    from hone.store.logbook import read_predictions

    model = json.loads((folder / "model.json").read_text())
    schema = FeatureSchema.from_dict(model["schema"])
    profile = ReferenceProfile.from_dict(model["profile"])
    settings = MonitorSettings()
    columns = [*schema.names, "prediction", "ts", "model_version"]
    since, until = DAY, DAY + timedelta(days=1)
    baseline = peak_mb()

    def run() -> Any:
        if mode == "frame":
            table = read_predictions(folder / "log", MODEL, since=since, until=until, columns=columns)
            frame = table.to_pandas()
            del table
            return check_window(
                frame,
                None,
                schema=schema,
                profile=profile,
                settings=settings,
                task="regression",
                test_metrics=None,
            )
        counts = WindowCounts(schema=schema, profile=profile, settings=settings, task="regression")
        for chunk in log_chunks(folder / "log" / MODEL / "predictions", columns, since, until):
            counts.add(chunk)
        return report_window(counts, test_metrics=None)

    start = time.perf_counter()
    report = run()
    seconds = time.perf_counter() - start
    peak = peak_mb()
    # A second pass under tracemalloc: the peak of Python-side allocations (numpy arrays included).
    tracemalloc.start()
    run()
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return {
        "mode": mode,
        "rows": report.n_rows,
        "checks": len(report.checks),
        "failed": len(report.failed),
        "seconds": seconds,
        "peak_mb": peak,
        "baseline_mb": baseline,
        "traced_mb": traced,
        "arrow_pool_peak_mb": pa.default_memory_pool().max_memory() / 2**20,
    }


def measure_runner(folder: Path) -> dict[str, Any]:
    """One whole ``run_monitor``; once only, as a second run finds the window already stored."""
    from hone.config.load import load_config
    from hone.monitor.runner import run_monitor
    from hone.store.db import Store

    config = load_config(folder / "hone.yaml")
    store = Store(config.store_url)
    baseline = peak_mb()
    start = time.perf_counter()
    run = run_monitor(config, store, now=DAY + timedelta(days=2))
    seconds = time.perf_counter() - start
    [report] = run.windows
    return {
        "mode": "runner",
        "rows": report.n_rows,
        "labelled": report.n_labelled,
        "checks": len(report.checks),
        "failed": len(report.failed),
        "seconds": seconds,
        "peak_mb": peak_mb(),
        "baseline_mb": baseline,
        "traced_mb": None,
        "arrow_pool_peak_mb": pa.default_memory_pool().max_memory() / 2**20,
    }


def log_chunks(folder: Path, columns: list[str], since: datetime, until: datetime) -> Iterator[pa.Table]:
    """The log's rows with ``since <= ts < until`` in chunks of about CHUNK_ROWS, one part file at a time.

    Part by part in this thread rather than through a ``pyarrow.dataset`` scan: the scan is no faster on
    small parts and its read-ahead threads hold about 50 MB more (measured here).
    """
    low = pa.scalar(since, pa.timestamp("us", tz="UTC"))
    high = pa.scalar(until, pa.timestamp("us", tz="UTC"))
    days = {(since + timedelta(days=d)).date().isoformat() for d in range((until - since).days + 1)}
    pending: list[pa.Table] = []
    size = 0
    for path in sorted(folder.glob("date=*/part-*.parquet")):
        if path.parent.name.removeprefix("date=") not in days:
            continue
        part = pq.ParquetFile(path).read(columns=columns, use_threads=False)
        if part.num_rows == 0:
            continue
        bounds = pc.min_max(part["ts"])
        if bounds["min"].as_py() < since or bounds["max"].as_py() >= until:
            part = part.filter(pc.and_(pc.greater_equal(part["ts"], low), pc.less(part["ts"], high)))
        pending.append(part)
        size += part.num_rows
        if size >= CHUNK_ROWS:
            yield pa.concat_tables(pending)
            pending, size = [], 0
    if pending:
        yield pa.concat_tables(pending)


def in_fresh_process(*args: str, python: str = sys.executable) -> dict[str, Any]:
    done = subprocess.run([python, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def evidently(folder: Path, venv: Path) -> dict[str, Any] | str:
    python = venv / "bin" / "python"
    if not python.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
            # Evidently 0.7 imports a pandas internal that pandas 3 removed.
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", "evidently", "pandas<3", "pyarrow"],
                check=True,
                capture_output=True,
                text=True,
                timeout=1800,
            )
        except (subprocess.SubprocessError, OSError) as error:
            detail = getattr(error, "stderr", "") or str(error)
            return f"could not install Evidently in {venv}: {str(detail).strip().splitlines()[-1:]}"
    script = folder / "evidently_drift.py"
    script.write_text(EVIDENTLY_SCRIPT)
    predictions = folder / "log" / MODEL / "predictions"
    try:
        return in_fresh_process(
            str(script), str(predictions), str(folder / "reference.parquet"), python=str(python)
        )
    except RuntimeError as error:
        return f"Evidently failed: {error}"


def describe(result: dict[str, Any]) -> str:
    ok = result["seconds"] <= TARGET_SECONDS and result["peak_mb"] <= TARGET_MB
    traced = "" if result["traced_mb"] is None else f" Python allocations peak {result['traced_mb']:.0f} MB,"
    labelled = f" ({result['labelled']:,} labelled)" if "labelled" in result else ""
    return (
        f"hone ({result['mode']}): {result['seconds']:.2f} s, {result['peak_mb']:.0f} MB peak RSS"
        f" ({result['baseline_mb']:.0f} MB after imports;{traced}"
        f" Arrow pool peak {result['arrow_pool_peak_mb']:.0f} MB), {result['checks']} checks on"
        f" {result['rows']:,} rows{labelled}"
        f" [target <= {TARGET_SECONDS:g} s, <= {TARGET_MB:g} MB: {'ok' if ok else 'OVER'}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--part-rows", type=int, default=2000, help="rows per Parquet part (the service's flush)"
    )
    parser.add_argument(
        "--labelled", type=float, default=1.0, help="share of predictions with a feedback label (runner mode)"
    )
    parser.add_argument("--modes", default=",".join(MODES), help="modes to time, comma-separated")
    parser.add_argument("--evidently-venv", type=Path, default=Path("/tmp/evidently-venv"))
    parser.add_argument("--no-evidently", action="store_true")
    parser.add_argument("--measure", nargs=2, metavar=("MODE", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure[1]), args.measure[0])))
        return
    with tempfile.TemporaryDirectory(prefix="hone-bench-monitor-") as temporary:
        folder = Path(temporary)
        written = write_log(folder, args.rows, args.part_rows, args.labelled)
        size = written["bytes"] / 2**20
        print(
            f"log: {args.rows:,} rows in {written['parts']:,} Parquet parts, {size:.0f} MB;"
            f" {written['labels']:,} feedback labels"
        )
        results = {}
        for mode in args.modes.split(","):
            result = in_fresh_process(__file__, "--measure", mode, str(folder))
            results[mode] = result
            print(describe(result))
        other = "skipped (--no-evidently)" if args.no_evidently else evidently(folder, args.evidently_venv)
        if isinstance(other, str):
            print(f"Evidently: {other}")
            other = {**ISSUE_EVIDENTLY, "version": "the issue's measurement"}
        else:
            print(
                f"Evidently {other['version']} DataDriftPreset: {other['seconds']:.2f} s"
                f" (reading {other['read_seconds']:.2f} s), {other['peak_mb']:.0f} MB peak RSS"
                f" ({other['baseline_mb']:.0f} MB after imports)"
            )
        for ours in results.values():
            print(
                f"ratio Evidently / hone {ours['mode']} ({other['version']}):"
                f" {other['seconds'] / ours['seconds']:.1f}x time,"
                f" {other['peak_mb'] / ours['peak_mb']:.1f}x peak memory"
            )


if __name__ == "__main__":
    main()
