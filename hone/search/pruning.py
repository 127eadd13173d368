"""Pruning at fold granularity: stop a candidate whose remaining folds cannot lift it above the best.

The rule (best-case completion). A candidate evaluated on its first folds is given, for each fold
it has not run, the best score any candidate has reached on any fold so far; the mean over all
folds is then the best it could end with unless it beats that record. It is pruned when that mean is
not strictly above the best mean of a complete candidate (a tie never wins: the earlier candidate
ranks first). A candidate whose first folds scored NaN (a failed fit with ``error_score=nan``) is
pruned too: its mean is NaN whatever its other folds score. Without a complete candidate with a
finite mean, nothing is pruned.

The record is taken over all folds, not fold by fold: candidates' scores move together from fold to
fold, so a per-fold record prunes nearly every candidate that trails the best one on its first fold,
including ones that would have overtaken it on the others. The all-fold record leaves the fold-to-fold
spread as headroom, and stops only candidates that are far behind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _table(results: Mapping[str, Any], metric: str, n_splits: int) -> np.ndarray:
    columns = [np.asarray(results[f"split{f}_test_{metric}"], dtype=np.float64) for f in range(n_splits)]
    return np.column_stack(columns)


def best_case_mean(
    results: Mapping[str, Any], index: int, metric: str, folds_run: Sequence[int], n_splits: int
) -> float:
    """Candidate ``index``'s mean if each fold it has not run scored the best fold score seen."""
    table = _table(results, metric, n_splits)
    if np.isnan(table).all():
        return np.inf
    record = float(np.nanmax(table))
    own = [float(table[index, fold]) for fold in folds_run]
    return float(np.mean(own + [record] * (n_splits - len(own))))


def cannot_win(
    results: Mapping[str, Any], index: int, metric: str, folds_run: Sequence[int], n_splits: int
) -> bool:
    """True when the rule above prunes candidate ``index`` (``results``: ``cv_results_`` so far)."""
    means = np.delete(np.asarray(results[f"mean_test_{metric}"], dtype=np.float64), index)
    if np.isnan(means).all():
        return False
    bound = best_case_mean(results, index, metric, folds_run, n_splits)
    return not bound > float(np.nanmax(means))
