"""The best model in a time budget: hone against FLAML and Optuna TPE (a random forest), same split and folds.

    HONE_DATA_DIR=../shared/data .venv/bin/python bench/quality.py [--budget 60] [--side-venv PATH]

hone runs in this process (`examples/housing/budget.yaml`, a fresh store). FLAML (AutoML, eval_method
"cv") and Optuna (TPE over a RandomForestRegressor, cross-validated) run as subprocesses in a side
virtual environment (created here with `python -m venv` + pip unless --side-venv names one; neither is
a dependency of hone) on the same prepared training matrix, the same five folds and the same test rows,
written to a temporary folder. Each prints CV RMSE (sqrt of the mean fold MSE, as the seed does), test
RMSE, wall time (refit included) and its best-so-far curve. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLAML = """
import json, sys, time
import numpy as np
from flaml import AutoML
from sklearn.model_selection import PredefinedSplit
d = sys.argv[1]; budget = float(sys.argv[2])
X, y, Xt, yt, fold = (np.load(f"{d}/{n}.npy", allow_pickle=True) for n in ("X", "y", "Xt", "yt", "fold"))
automl = AutoML()
start = time.monotonic()
automl.fit(X, y, task="regression", metric="mse", time_budget=budget, eval_method="cv",
           split_type=PredefinedSplit(fold), n_jobs=2, verbose=0, seed=0, log_file_name=f"{d}/flaml.log")
wall = time.monotonic() - start
test = float(np.sqrt(np.mean((automl.predict(Xt) - yt) ** 2)))
curve = []
for line in open(f"{d}/flaml.log"):
    record = json.loads(line)
    if "wall_clock_time" in record and "validation_loss" in record:
        curve.append((record["wall_clock_time"], float(np.sqrt(record["validation_loss"]))))
print(json.dumps({"cv": float(np.sqrt(automl.best_loss)), "test": test, "wall": wall,
                  "model": automl.best_estimator, "curve": curve}))
"""

OPTUNA = """
import json, sys, time
import numpy as np, optuna
from sklearn.ensemble import RandomForestRegressor
from sklearn.model_selection import PredefinedSplit, cross_val_score
d = sys.argv[1]; budget = float(sys.argv[2])
X, y, Xt, yt, fold = (np.load(f"{d}/{n}.npy", allow_pickle=True) for n in ("X", "y", "Xt", "yt", "fold"))
optuna.logging.set_verbosity(optuna.logging.WARNING)
start = time.monotonic(); curve = []
def objective(trial):
    model = RandomForestRegressor(n_estimators=trial.suggest_int("n_estimators", 10, 300, log=True),
        max_features=trial.suggest_float("max_features", 0.1, 1.0),
        min_samples_leaf=trial.suggest_int("min_samples_leaf", 1, 20, log=True), random_state=0)
    cv = PredefinedSplit(fold)
    scores = cross_val_score(model, X, y, cv=cv, scoring="neg_mean_squared_error", n_jobs=2)
    mse = -scores.mean()
    best = min([mse] + [c[1] ** 2 for c in curve])
    curve.append((time.monotonic() - start, float(np.sqrt(best))))
    return mse
study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
study.optimize(objective, timeout=budget * 0.9)
best = RandomForestRegressor(random_state=0, n_jobs=2, **study.best_params).fit(X, y)
wall = time.monotonic() - start
test = float(np.sqrt(np.mean((best.predict(Xt) - yt) ** 2)))
print(json.dumps({"cv": float(np.sqrt(study.best_value)), "test": test, "wall": wall,
                  "model": "RandomForestRegressor", "curve": curve}))
"""


def side_python(venv: Path | None) -> Path:
    """The side environment's python, created (flaml[automl], optuna) when missing."""
    venv = venv or ROOT / "bench" / ".venv-flaml"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        packages = ["flaml[automl]>=2.3", "optuna>=4", "scikit-learn==1.9.1", "pandas"]
        subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=True)
    return python


def run_hone(budget: float, folder: Path) -> tuple:
    from sklearn.model_selection import KFold

    from hone.budget_tune import preparations, tune_within_budget
    from hone.config import load_config
    from hone.data.datasets import load_dataset
    from hone.project import load_training_set
    from hone.store.db import Store

    config = load_config(ROOT / "examples" / "housing" / "budget.yaml")
    training = load_training_set(config)
    frame = load_dataset("housing")
    test = frame.iloc[training.split.test_index]
    target = config.data.target
    curve: list[tuple[float, float]] = []

    def report(models, elapsed, _budget):
        best = max(m.best for m in models if m.history)
        curve.append((round(elapsed, 1), float(np.sqrt(-best))))

    start = time.monotonic()
    outcome = tune_within_budget(config, budget, store=Store(f"sqlite:///{folder}/hone.db"), report=report)
    wall = time.monotonic() - start
    chosen = next(m for m in outcome.models if m.name == outcome.budget.chosen)
    search = chosen.search
    scaled, trees = preparations(config, training)
    preparation = trees if chosen.search.space.preparation == "trees" else scaled
    preparation.fit(training.X)
    predictions = search.best_estimator_.predict(preparation.transform(test.drop(columns=target)))
    y_test = test[target].to_numpy()
    result = {
        "cv": float(np.sqrt(-search.best_score_)),
        "test": float(np.sqrt(np.mean((predictions - y_test) ** 2))),
        "wall": wall,
        "model": f"{chosen.name} {search.best_params_}",
        "curve": curve,
    }
    # The others get the book's preparation (as the seed prepares it) and hone's folds (KFold(5)).
    scaled.fit(training.X)
    X = scaled.transform(training.X)
    fold = np.empty(len(X), dtype=int)
    for k, (_, held) in enumerate(KFold(config.search.cv).split(X)):
        fold[held] = k
    return result, X, training.y.to_numpy(), scaled.transform(test.drop(columns=target)), fold, y_test


def run_side(python: Path, code: str, folder: Path, budget: float) -> dict:
    script = folder / "side.py"
    script.write_text(code)
    command = [str(python), str(script), str(folder), str(budget)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--side-venv", type=Path, default=None)
    parser.add_argument("--only", default="hone,flaml,optuna")
    args = parser.parse_args()
    wanted = args.only.split(",")
    python = side_python(args.side_venv) if {"flaml", "optuna"} & set(wanted) else None
    rows = {}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        hone_result, X, y, X_test, fold, y_test = run_hone(args.budget, folder)
        if "hone" in wanted:
            rows["hone"] = hone_result
        for array, file in ((X, "X"), (y, "y"), (X_test, "Xt"), (y_test, "yt"), (fold, "fold")):
            np.save(folder / f"{file}.npy", np.asarray(array))
        if "flaml" in wanted:
            rows["FLAML"] = run_side(python, FLAML, folder, args.budget)
        if "optuna" in wanted:
            rows["Optuna TPE (forest)"] = run_side(python, OPTUNA, folder, args.budget)
    print(f"\nbudget {args.budget:g} s, housing split (16,512 training rows), 5 folds, 2 cores")
    print(f"{'tool':22s} {'CV RMSE':>9s} {'test RMSE':>10s} {'wall s':>7s}  model")
    for tool, r in rows.items():
        if "error" in r:
            print(f"{tool:22s} failed: {r['error']}")
            continue
        print(f"{tool:22s} {r['cv']:9,.0f} {r['test']:10,.0f} {r['wall']:7.1f}  {r['model']}")
    for tool, r in rows.items():
        curve = r.get("curve", [])
        points = ", ".join(f"{t:.0f}s {v:,.0f}" for t, v in _thin(curve))
        print(f"best so far, {tool}: {points}")


def _thin(curve: list, keep: int = 10) -> list:
    # The points where the best improved, at most ``keep`` of them (the last always).
    improved = [p for i, p in enumerate(curve) if i == 0 or p[1] < min(q[1] for q in curve[:i])]
    step = max(1, len(improved) // keep)
    thinned = improved[::step][: keep - 1]
    return thinned + [improved[-1]] if improved and thinned[-1] != improved[-1] else thinned


if __name__ == "__main__":
    main()
