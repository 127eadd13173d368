"""`hone tune --expand`: a best value at the edge of the grid triggers a wider search, until it is inside."""

from __future__ import annotations

from pathlib import Path

from hone.config.load import load_config
from hone.store.db import Store, sqlite_url
from hone.tune.project import tune

CONFIG = """\
project: expand
data: {path: data.csv, target: median_house_value}
split: {test_size: 0.2, seed: 42}
prepare: {categorical: [ocean_proximity]}
search: {cv: 3, scoring: neg_mean_squared_error, max_rounds: 4}
models:
  - name: knn
    estimator: sklearn.neighbors.KNeighborsRegressor
    grid: {n_neighbors: [1, 2, 3]}
"""


def test_expansion_moves_past_the_edge_until_the_best_is_inside(tmp_path: Path, housing):
    housing.iloc[:1000].to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "hone.yaml").write_text(CONFIG)
    config = load_config(tmp_path / "hone.yaml")
    store = Store(sqlite_url(tmp_path / "store.db"))

    single = tune(config, store=store).models[0]
    assert [h.param for h in single.edges] == ["n_neighbors"]  # more neighbours keep helping on this data

    expanded = tune(config, store=store, expand=True).models[0]
    assert len(expanded.rounds) >= 2
    assert expanded.edges == [], "stopped while the best value was still at an edge"
    tried = sorted({p["n_neighbors"] for p in expanded.tried})
    best = expanded.search.best_params_["n_neighbors"]
    assert tried[0] < best < tried[-1]
    assert expanded.search.best_score_ >= single.search.best_score_
    # The first round was read back from the store, not refitted.
    assert expanded.rounds[0].n_fits_reused_ == 9 and expanded.rounds[0].n_fits_computed_ == 0
    assert len({r.study_name_ for r in expanded.rounds}) == len(expanded.rounds)
