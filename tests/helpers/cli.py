"""Running the `hone` command in a real subprocess, and the slice project the CLI tests share."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HONE = str(Path(sys.executable).parent / "hone")

CONFIG = """\
project: slice
data:
  path: {data}
  target: median_house_value
split:
  test_size: 0.2
  stratify: median_income
  bins: [0, 1.5, 3.0, 4.5, 6.0, .inf]
  seed: 42
prepare:
  categorical: [ocean_proximity]
  derived:
    rooms_per_hhold: total_rooms / households
    pop_per_hhold: population / households
    bedrooms_per_room: total_bedrooms / total_rooms
search:
  cv: 3
  scoring: neg_mean_squared_error
  return_train_score: true
  n_jobs: 1
  random_state: 42
models:
  - name: forest
    estimator: sklearn.ensemble.RandomForestRegressor
    params: {{random_state: 42}}
    grid: {{n_estimators: [5, 10, 20], max_features: [2, 4, 6]}}
  - name: knn
    estimator: sklearn.neighbors.KNeighborsRegressor
    search: {{strategy: random, n_iter: 4}}
    distributions:
      n_neighbors: randint(1, 30)
store: {store}
"""


def run_hone(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"COLUMNS": "200"}
    return subprocess.run([HONE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
