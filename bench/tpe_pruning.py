"""TPESearch's pruning on the housing training set: what it saves and whether it ever stops a winner.

For each scenario and seed, in this one process, TPESearch runs without pruning (the anchor: every
candidate on every fold) and with pruning (the default rule), alternately. The script prints:

- the fits, wall time and best mean score of both runs (a pruned run follows its own path after its
  first pruned candidate, so its best may differ from the anchor's either way);
- a replay of the rule on the anchor's results: for each candidate after the start-up, whether it
  would have been pruned knowing every earlier candidate complete, and whether such a candidate would
  have beaten the best so far (a "lost improvement"), for hone's rule (record over all folds) after
  1, 2 or 3 of 5 folds, and for the alternative of a record fold by fold.

    HONE_DATA_DIR=../shared/data .venv/bin/python bench/tpe_pruning.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from scipy.stats import loguniform, randint
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.tree import DecisionTreeRegressor

import hone
from hone.data import (
    build_preparation,
    housing_prepare_spec,
    housing_split_spec,
    load_housing,
    split_train_test,
)
from hone.search.pruning import cannot_win

TARGET = "median_house_value"
N_TRIALS, STARTUP, FOLDS = 30, 8, 5
SCENARIOS: dict[str, tuple[Any, dict[str, Any], int]] = {
    "forest": (
        RandomForestRegressor(random_state=0),
        {"n_estimators": randint(5, 60), "max_features": randint(1, 16), "min_samples_leaf": randint(1, 20)},
        1500,
    ),
    "tree": (
        DecisionTreeRegressor(random_state=0),
        {"max_depth": randint(1, 20), "min_samples_leaf": randint(1, 50)},
        4000,
    ),
    "knn": (KNeighborsRegressor(), {"n_neighbors": randint(1, 60), "weights": ["uniform", "distance"]}, 3000),
    "ridge": (Ridge(), {"alpha": loguniform(1e-3, 1e6)}, 3000),
}


def search(name: str, seed: int, prune: bool, data: Any) -> tuple[hone.TPESearch, float]:
    estimator, space, _ = SCENARIOS[name]
    model = hone.TPESearch(
        estimator,
        space,
        n_trials=N_TRIALS,
        n_startup_trials=STARTUP,
        cv=FOLDS,
        scoring="neg_mean_squared_error",
        random_state=seed,
        prune=prune,
        refit=False,
    )
    X, y = data
    start = time.perf_counter()
    model.fit(X, y)
    return model, time.perf_counter() - start


def replay(results: dict[str, Any], first: int, per_fold: bool) -> tuple[int, int, int]:
    """(pruned, lost improvements, fits saved) if the rule had run on the anchor's candidates."""
    table = np.column_stack([results[f"split{f}_test_score"] for f in range(FOLDS)])
    means = results["mean_test_score"]
    pruned = lost = 0
    for index in range(STARTUP, len(means)):
        best = means[:index].max()
        if per_fold:
            bound = (table[index, :first].sum() + table[:index, first:].max(axis=0).sum()) / FOLDS
            stop = not bound > best
        else:
            known = table[: index + 1].copy()
            known[index, first:] = np.nan
            seen = {f"split{f}_test_score": known[:, f] for f in range(FOLDS)}
            seen["mean_test_score"] = np.append(means[:index], np.nan)
            stop = cannot_win(seen, index, "score", range(first), FOLDS)
        pruned += stop
        lost += bool(stop and means[index] > best)
    return pruned, lost, pruned * (FOLDS - first)


def housing() -> tuple[np.ndarray, np.ndarray]:
    split = split_train_test(load_housing(), housing_split_spec())
    preparation = build_preparation(housing_prepare_spec(), split.train, TARGET)
    return preparation.fit_transform(split.train.drop(columns=TARGET)), split.train[TARGET].to_numpy()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    seeds = range(parser.parse_args().seeds)
    X, y = housing()
    rules = {f"all-fold record after {k}": (k, False) for k in (1, 2, 3)} | {
        "per-fold record after 1": (1, True)
    }
    totals = {rule: np.zeros(3, dtype=int) for rule in rules}
    improvements = candidates = 0
    print("scenario seed | anchor fits, s, best | pruned run fits, s, best, pruned")
    for name in SCENARIOS:
        rows = SCENARIOS[name][2]
        for seed in seeds:
            anchor, anchor_s = search(name, seed, False, (X[:rows], y[:rows]))
            pruned, pruned_s = search(name, seed, True, (X[:rows], y[:rows]))
            a, p = anchor.cv_results_, pruned.cv_results_
            best_a, best_p = np.nanmax(a["mean_test_score"]), np.nanmax(p["mean_test_score"])
            print(
                f"{name:6} {seed} | {anchor.n_fits_computed_} {anchor_s:.1f} {best_a:.6g}"
                f" | {pruned.n_fits_computed_} {pruned_s:.1f} {best_p:.6g} {pruned.n_pruned_}"
            )
            means = a["mean_test_score"]
            improvements += sum(means[i] > means[:i].max() for i in range(STARTUP, len(means)))
            candidates += len(means) - STARTUP
            for rule, (first, per_fold) in rules.items():
                totals[rule] += replay(a, first, per_fold)
    print(
        f"\nreplayed on {candidates} candidates after start-up ({improvements} improved on the best so far)"
    )
    for rule, (n_pruned, lost, saved) in totals.items():
        print(f"{rule:26} pruned {n_pruned:4}  lost improvements {lost:3}  fits saved {saved:4}")


if __name__ == "__main__":
    main()
