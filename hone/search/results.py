"""``cv_results_`` from fold results, with GridSearchCV's keys, dtypes and ranking rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata

from hone.search.fitting import FoldResult

Params = dict[str, Any]


def param_columns(candidates: Sequence[Params]) -> dict[str, np.ma.MaskedArray]:
    """One masked array per parameter: masked where a candidate's sub-grid lacks it."""
    seen: dict[str, dict[int, Any]] = {}
    for index, params in enumerate(candidates):
        for name, value in params.items():
            seen.setdefault(f"param_{name}", {})[index] = value
    columns = {}
    for key, values in seen.items():
        # A numeric dtype when numpy infers a flat one; object for strings, ragged or nested values.
        try:
            inferred = np.array(list(values.values()))
            dtype = inferred.dtype if inferred.dtype.kind != "U" and inferred.ndim == 1 else np.dtype(object)
        except ValueError:
            dtype = np.dtype(object)
        column = np.ma.MaskedArray(np.empty(len(candidates), dtype=dtype), mask=True)
        for index, value in values.items():
            column[index] = value
        columns[key] = column
    return columns


def rank_scores(means: np.ndarray) -> np.ndarray:
    """Rank 1 is the highest mean; NaN means rank last; all NaN ranks all first, as sklearn does."""
    if np.isnan(means).all():
        return np.ones_like(means, dtype=np.int32)
    filled = np.nan_to_num(means, nan=np.nanmin(means) - 1)
    return rankdata(-filled, method="min").astype(np.int32, copy=False)


def _store_scores(results: dict[str, Any], key: str, table: np.ndarray, *, splits: bool, rank: bool) -> None:
    if splits:
        for split in range(table.shape[1]):
            results[f"split{split}_{key}"] = table[:, split]
    means = np.average(table, axis=1)
    results[f"mean_{key}"] = means
    results[f"std_{key}"] = np.sqrt(np.average((table - means[:, np.newaxis]) ** 2, axis=1))
    if rank:
        results[f"rank_{key}"] = rank_scores(means)


def last_iteration_best(results: Mapping[str, Any]) -> int:
    """Successive halving's best: the highest mean score of the last iteration (the earlier ones had
    fewer resources); the first of them when all are NaN, as scikit-learn's halving picks."""
    last = np.flatnonzero(results["iter"] == np.max(results["iter"]))
    scores = results["mean_test_score"][last]
    return int(last[0 if np.isnan(scores).all() else np.nanargmax(scores)])


def build_cv_results(
    candidates: Sequence[Params],
    folds: Mapping[tuple[int, int], FoldResult],
    n_splits: int,
    metric_names: Sequence[str],
    return_train_score: bool,
) -> dict[str, Any]:
    """Assemble the results dict; a (candidate, fold) absent from ``folds`` (pruned) reads NaN."""
    n = len(candidates)

    def table(read: Any) -> np.ndarray:
        return np.array(
            [[read(folds[c, f]) if (c, f) in folds else np.nan for f in range(n_splits)] for c in range(n)],
            dtype=np.float64,
        ).reshape(n, n_splits)

    results: dict[str, Any] = {}
    _store_scores(results, "fit_time", table(lambda r: r.fit_time), splits=False, rank=False)
    _store_scores(results, "score_time", table(lambda r: r.score_time), splits=False, rank=False)
    results.update(param_columns(candidates))
    results["params"] = list(candidates)
    for name in metric_names:
        _store_scores(
            results, f"test_{name}", table(lambda r, m=name: r.test_scores[m]), splits=True, rank=True
        )
        if return_train_score:
            _store_scores(
                results, f"train_{name}", table(lambda r, m=name: r.train_scores[m]), splits=True, rank=False
            )
    return results
