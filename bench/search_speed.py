"""hone's search engine against scikit-learn on the housing training set (run by hand, not in `make test`).

For each scenario, in this one process, hone and scikit-learn run alternately (``--reps`` times each,
n_jobs=-1); the script prints the median wall times, the ratio hone / sklearn, whether every split
score, rank and best params are identical (relative 1e-9), and the lower bound of that ratio: the work
hone cannot avoid over the work sklearn does, counting an ensemble fit by its trees.

    HONE_DATA_DIR=../shared/data .venv/bin/python bench/search_speed.py [--reps 3] [--only a,b,c,d]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import randint
from sklearn.ensemble import RandomForestRegressor
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline

import hone
from hone.data import (
    build_preparation,
    housing_prepare_spec,
    housing_split_spec,
    load_housing,
    split_train_test,
)
from hone.search.plan import INDEPENDENT, configure, plan, units_of
from hone.search.space import grid_candidates, sampled_candidates

TARGET = "median_house_value"
SEED_GRID = [
    {"n_estimators": [3, 10, 30], "max_features": [2, 4, 6, 8]},
    {"bootstrap": [False], "n_estimators": [3, 10], "max_features": [2, 3, 4]},
]


@dataclass
class Scenario:
    key: str
    title: str
    target: float | None
    make: Callable[[bool], Any]  # True: hone's search, False: sklearn's
    X: Any
    y: Any
    candidates: list[dict[str, Any]]
    estimator: Any


def _units_ratio(models: list[Any]) -> float:
    """Work units hone must spend / units sklearn spends (trees for ensembles, 1 per other fit)."""
    needed = 0.0
    for group in plan(models):
        units = [units_of(model) for _, model in group.members]
        needed += sum(units) if group.family == INDEPENDENT.name else max(units)
    return needed / sum(units_of(m) for m in models)


def lower_bound(estimator: Any, candidates: list[dict[str, Any]]) -> str:
    models = configure(estimator, candidates)
    if not isinstance(estimator, Pipeline):
        return f"{_units_ratio(models):.3f}"
    preparations = len(plan(models))  # one preparation fit per group of identical earlier steps
    final = _units_ratio([m.steps[-1][1] for m in models])
    return f"{final:.3f} (final step); preparation fitted {preparations}x per fold, not {len(models)}x"


def identical(ours: Any, theirs: Any) -> bool:
    a, b = ours.cv_results_, theirs.cv_results_
    if a["params"] != b["params"] or ours.best_params_ != theirs.best_params_:
        return False
    for key in b:
        scores = key.startswith(("split", "mean_test", "mean_train"))
        if scores and not np.allclose(a[key], b[key], rtol=1e-9, atol=0):
            return False
        if key.startswith("rank_") and not np.array_equal(a[key], b[key]):
            return False
    return True


def scenarios() -> list[Scenario]:
    split = split_train_test(load_housing(), housing_split_spec())
    frame = split.train
    raw_X, y = frame.drop(columns=TARGET), frame[TARGET].to_numpy()
    preparation = build_preparation(housing_prepare_spec(), frame, TARGET)
    X = preparation.fit_transform(raw_X)
    forest = RandomForestRegressor(random_state=42)
    book = {"n_estimators": randint(1, 200), "max_features": randint(1, 8)}
    knn_grid = {"n_neighbors": list(range(1, 51)), "weights": ["uniform", "distance"]}
    costly = Pipeline(
        [
            ("prepare", build_preparation(housing_prepare_spec(), frame, TARGET)),
            ("kernel", Nystroem(n_components=600, random_state=0)),
            ("model", Ridge()),
        ]
    )
    ridge_grid = {"model__alpha": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]}
    common = dict(cv=5, scoring="neg_mean_squared_error", n_jobs=-1)
    return [
        Scenario(
            "a",
            "seed grid: RandomForest, 18 candidates, cv 5, train scores",
            0.75,
            lambda ours: (hone.GridSearch if ours else GridSearchCV)(
                forest, SEED_GRID, return_train_score=True, **common
            ),
            X,
            y,
            grid_candidates(SEED_GRID),
            forest,
        ),
        Scenario(
            "b",
            "book randomized search: RandomForest, n_iter 10, cv 5",
            0.60,
            lambda ours: (hone.RandomSearch if ours else RandomizedSearchCV)(
                forest, book, n_iter=10, random_state=42, **common
            ),
            X,
            y,
            sampled_candidates(book, 10, 42),
            forest,
        ),
        Scenario(
            "c",
            "k-NN grid: n_neighbors 1..50 x weights, cv 5",
            0.25,
            lambda ours: (hone.GridSearch if ours else GridSearchCV)(
                KNeighborsRegressor(), knn_grid, **common
            ),
            X,
            y,
            grid_candidates(knn_grid),
            KNeighborsRegressor(),
        ),
        Scenario(
            "d",
            "Pipeline: book preparation + Nystroem(600) -> Ridge alpha x8, cv 5",
            None,
            lambda ours: (hone.GridSearch if ours else GridSearchCV)(costly, ridge_grid, **common),
            raw_X,
            y,
            grid_candidates(ridge_grid),
            costly,
        ),
    ]


def warm_up(scenario: Scenario) -> None:
    """An untimed small fit of each, so neither pays for starting the worker processes and imports."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for ours in (True, False):
            scenario.make(ours).fit(scenario.X[:400], scenario.y[:400])


def run(scenario: Scenario, reps: int) -> None:
    times: dict[bool, list[float]] = {True: [], False: []}
    last: dict[bool, Any] = {}
    warm_up(scenario)
    for rep in range(reps):
        order = (True, False) if rep % 2 == 0 else (False, True)
        for ours in order:
            search = scenario.make(ours)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                search.fit(scenario.X, scenario.y)
            times[ours].append(time.perf_counter() - start)
            last[ours] = search
    ours_s, theirs_s = statistics.median(times[True]), statistics.median(times[False])
    ratio = ours_s / theirs_s
    target = (
        f" (target <= {scenario.target:.2f}: {'met' if ratio <= scenario.target else 'NOT met'})"
        if (scenario.target)
        else ""
    )
    print(f"{scenario.key}. {scenario.title}")
    print(f"   hone {ours_s:7.2f} s   sklearn {theirs_s:7.2f} s   ratio {ratio:.3f}{target}")
    runs = "  ".join(f"{h:.1f}/{t:.1f}" for h, t in zip(times[True], times[False], strict=True))
    print(f"   runs (hone/sklearn s): {runs}")
    print(
        f"   lower bound {lower_bound(scenario.estimator, scenario.candidates)}   "
        f"identical scores: {'yes' if identical(last[True], last[False]) else 'NO'}   "
        f"best {last[True].best_params_}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--only", default="a,b,c,d", help="comma-separated scenario keys")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    for scenario in scenarios():
        if scenario.key in wanted:
            run(scenario, args.reps)


if __name__ == "__main__":
    main()
