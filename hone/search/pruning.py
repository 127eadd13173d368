"""Pruning at fold granularity: stop a candidate whose remaining folds cannot lift it above the best.

The rule (best-case completion). A candidate evaluated on its first folds is given, for each fold
it has not run, the best score any candidate has reached on that fold so far; the mean over all
folds is then the best it could end with. It is pruned when that mean is not strictly above the best
mean of a complete candidate (a tie never wins: the earlier candidate ranks first). A candidate
whose first folds scored NaN (a failed fit with ``error_score=nan``) is pruned too: its mean is NaN
whatever its other folds score. Without a complete candidate with a finite mean, nothing is pruned.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def best_case_mean(
    results: Mapping[str, Any], index: int, metric: str, folds_run: Sequence[int], n_splits: int
) -> float:
    """Candidate ``index``'s mean if each fold it has not run scored the best score seen on that fold."""
    scores = []
    for fold in range(n_splits):
        column = np.asarray(results[f"split{fold}_test_{metric}"], dtype=np.float64)
        if fold in folds_run:
            scores.append(float(column[index]))
            continue
        others = np.delete(column, index)
        others = others[~np.isnan(others)]
        if not len(others):
            return math.inf  # nobody has run this fold: no bound
        scores.append(float(others.max()))
    return float(np.mean(scores))


def cannot_win(
    results: Mapping[str, Any], index: int, metric: str, folds_run: Sequence[int], n_splits: int
) -> bool:
    """True when the rule above prunes candidate ``index`` (``results``: ``cv_results_`` so far)."""
    means = np.delete(np.asarray(results[f"mean_test_{metric}"], dtype=np.float64), index)
    if np.isnan(means).all():
        return False
    bound = best_case_mean(results, index, metric, folds_run, n_splits)
    return not bound > float(np.nanmax(means))
