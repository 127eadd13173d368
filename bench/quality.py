"""The best model in a time budget: hone against FLAML and Optuna TPE (a random forest), same split and folds.

    HONE_DATA_DIR=../shared/data .venv/bin/python bench/quality.py [--budget 60] [--data breast_cancer]
                                                                  [--side-venv PATH] [--only hone,flaml]

hone runs in this process (`examples/housing/budget.yaml`, or scikit-learn's bundled breast_cancer data
written to a CSV with a small project file; a fresh store). FLAML (AutoML, eval_method
"cv") and Optuna (TPE over a RandomForestRegressor, cross-validated) run as subprocesses in a side
virtual environment (created here with `python -m venv` + pip unless --side-venv names one; neither is
a dependency of hone) on the same prepared training matrix, the same five folds and the same test rows,
written to a temporary folder. Each prints CV RMSE (sqrt of the mean fold MSE, as the seed does) or
log loss, the same on the test rows, wall time (refit included) and its best-so-far curve.
Not part of `make test`.
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
from sklearn.metrics import log_loss
d = sys.argv[1]; budget = float(sys.argv[2]); task = sys.argv[3]
X, y, Xt, yt, fold = (np.load(f"{d}/{n}.npy", allow_pickle=True) for n in ("X", "y", "Xt", "yt", "fold"))
shown = np.sqrt if task == "regression" else (lambda loss: loss)
automl = AutoML()
start = time.monotonic()
automl.fit(X, y, task=task, metric="mse" if task == "regression" else "log_loss", time_budget=budget,
           eval_method="cv", split_type=PredefinedSplit(fold), n_jobs=2, verbose=0, seed=0,
           log_file_name=f"{d}/flaml.log")
wall = time.monotonic() - start
if task == "regression":
    test = float(np.sqrt(np.mean((automl.predict(Xt) - yt) ** 2)))
else:
    test = float(log_loss(yt, automl.predict_proba(Xt)))
curve = []
for line in open(f"{d}/flaml.log"):
    record = json.loads(line)
    if "wall_clock_time" in record and "validation_loss" in record:
        curve.append((record["wall_clock_time"], float(shown(record["validation_loss"]))))
print(json.dumps({"cv": float(shown(automl.best_loss)), "test": test, "wall": wall,
                  "model": automl.best_estimator, "curve": curve}))
"""

OPTUNA = """
import json, sys, time
import numpy as np, optuna
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.metrics import log_loss
from sklearn.model_selection import PredefinedSplit, cross_val_score
d = sys.argv[1]; budget = float(sys.argv[2]); task = sys.argv[3]
X, y, Xt, yt, fold = (np.load(f"{d}/{n}.npy", allow_pickle=True) for n in ("X", "y", "Xt", "yt", "fold"))
Forest = RandomForestRegressor if task == "regression" else RandomForestClassifier
scoring = "neg_mean_squared_error" if task == "regression" else "neg_log_loss"
shown = np.sqrt if task == "regression" else (lambda loss: loss)
optuna.logging.set_verbosity(optuna.logging.WARNING)
start = time.monotonic(); curve = []
def objective(trial):
    model = Forest(n_estimators=trial.suggest_int("n_estimators", 10, 300, log=True),
        max_features=trial.suggest_float("max_features", 0.1, 1.0),
        min_samples_leaf=trial.suggest_int("min_samples_leaf", 1, 20, log=True), random_state=0)
    cv = PredefinedSplit(fold)
    loss = -cross_val_score(model, X, y, cv=cv, scoring=scoring, n_jobs=2).mean()
    best = min([loss] + [c[2] for c in curve])
    curve.append((time.monotonic() - start, float(shown(best)), best))
    return loss
study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
study.optimize(objective, timeout=budget * 0.9)
best = Forest(random_state=0, n_jobs=2, **study.best_params).fit(X, y)
wall = time.monotonic() - start
if task == "regression":
    test = float(np.sqrt(np.mean((best.predict(Xt) - yt) ** 2)))
else:
    test = float(log_loss(yt, best.predict_proba(Xt)))
print(json.dumps({"cv": float(shown(study.best_value)), "test": test, "wall": wall,
                  "model": Forest.__name__, "curve": [c[:2] for c in curve]}))
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


BREAST_CANCER = """\
project: breast_cancer
data: {{path: {data}, target: target}}
split: {{test_size: 0.2, seed: 42}}
search: {{cv: 5, scoring: neg_log_loss, n_jobs: -1, random_state: 42}}
store: {store}
"""


def project_file(dataset: str, folder: Path) -> Path:
    """housing: the example project; breast_cancer: scikit-learn's bundled copy, written to a CSV."""
    if dataset == "housing":
        return ROOT / "examples" / "housing" / "budget.yaml"
    from sklearn.datasets import load_breast_cancer

    data = folder / "breast_cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(data, index=False)
    path = folder / "breast_cancer.yaml"
    path.write_text(BREAST_CANCER.format(data=data, store=folder / "hone.db"))
    return path


def run_hone(dataset: str, budget: float, folder: Path) -> tuple:
    from sklearn.base import is_classifier
    from sklearn.metrics import log_loss
    from sklearn.model_selection import check_cv

    from hone.config.load import load_config
    from hone.data.training import load_training_set
    from hone.store.db import Store
    from hone.tune.budget import infer_task, preparations, tune_within_budget

    config = load_config(project_file(dataset, folder))
    training = load_training_set(config)
    frame = _frame(config)
    test = frame.iloc[training.split.test_index]
    target = config.data.target
    task = infer_task(training.y)
    shown = (lambda raw: float(np.sqrt(-raw))) if task == "regression" else (lambda raw: float(-raw))
    curve: list[tuple[float, float]] = []

    def report(models, elapsed, _budget):
        curve.append((round(elapsed, 1), shown(max(m.best for m in models if m.history))))

    start = time.monotonic()
    outcome = tune_within_budget(config, budget, store=Store(f"sqlite:///{folder}/hone.db"), report=report)
    wall = time.monotonic() - start
    chosen = next(m for m in outcome.models if m.name == outcome.budget.chosen)
    search = chosen.search
    scaled, trees = preparations(config, training)
    preparation = trees if search.space.preparation == "trees" else scaled
    preparation.fit(training.X)
    X_test_own = preparation.transform(test.drop(columns=target))
    y_test = test[target].to_numpy()
    if task == "regression":
        test_score = float(np.sqrt(np.mean((search.best_estimator_.predict(X_test_own) - y_test) ** 2)))
    else:
        test_score = float(log_loss(y_test, search.best_estimator_.predict_proba(X_test_own)))
    result = {
        "cv": shown(search.best_score_),
        "test": test_score,
        "wall": wall,
        "model": f"{chosen.name} {search.best_params_}",
        "curve": curve,
    }
    # The others get the project's preparation (the book's, for housing) and hone's folds.
    scaled.fit(training.X)
    X = scaled.transform(training.X)
    y = training.y.to_numpy()
    fold = np.empty(len(X), dtype=int)
    splitter = check_cv(config.search.cv, y, classifier=is_classifier(search.estimator))
    for k, (_, held) in enumerate(splitter.split(X, y)):
        fold[held] = k
    return task, result, X, y, scaled.transform(test.drop(columns=target)), fold, y_test


def _frame(config):
    from hone.data import load_dataset, read_table

    if config.data.dataset is not None:
        return load_dataset(config.data.dataset)
    return read_table(config.data.path)


def run_side(python: Path, code: str, folder: Path, budget: float, task: str) -> dict:
    script = folder / "side.py"
    script.write_text(code)
    command = [str(python), str(script), str(folder), str(budget), task]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--data", choices=["housing", "breast_cancer"], default="housing")
    parser.add_argument("--side-venv", type=Path, default=None)
    parser.add_argument("--only", default="hone,flaml,optuna")
    args = parser.parse_args()
    wanted = args.only.split(",")
    python = side_python(args.side_venv) if {"flaml", "optuna"} & set(wanted) else None
    rows = {}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        task, hone_result, X, y, X_test, fold, y_test = run_hone(args.data, args.budget, folder)
        if "hone" in wanted:
            rows["hone"] = hone_result
        for array, file in ((X, "X"), (y, "y"), (X_test, "Xt"), (y_test, "yt"), (fold, "fold")):
            np.save(folder / f"{file}.npy", np.asarray(array))
        if "flaml" in wanted:
            rows["FLAML"] = run_side(python, FLAML, folder, args.budget, task)
        if "optuna" in wanted:
            rows["Optuna TPE (forest)"] = run_side(python, OPTUNA, folder, args.budget, task)
    metric = "RMSE" if task == "regression" else "log loss"
    folds = fold.max() + 1
    print(f"\nbudget {args.budget:g} s, {args.data}: {len(X):,} training rows, {folds} folds, 2 cores")
    print(f"{'tool':22s} {'CV ' + metric:>12s} {'test ' + metric:>14s} {'wall s':>7s}  model")
    for tool, r in rows.items():
        if "error" in r:
            print(f"{tool:22s} failed: {r['error']}")
            continue
        print(f"{tool:22s} {_fmt(r['cv']):>12s} {_fmt(r['test']):>14s} {r['wall']:7.1f}  {r['model']}")
    for tool, r in rows.items():
        points = ", ".join(f"{t:.0f}s {_fmt(v)}" for t, v in _thin(r.get("curve", [])))
        print(f"best so far, {tool}: {points}")


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4f}"


def _thin(curve: list, keep: int = 10) -> list:
    # The points where the best improved, at most ``keep`` of them (the last always).
    improved = [p for i, p in enumerate(curve) if i == 0 or p[1] < min(q[1] for q in curve[:i])]
    step = max(1, len(improved) // keep)
    thinned = improved[::step][: keep - 1]
    return thinned + [improved[-1]] if improved and thinned[-1] != improved[-1] else thinned


if __name__ == "__main__":
    main()
