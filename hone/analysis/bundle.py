"""Everything `hone analyze` computes for one candidate, in one call (the CLI and the report share it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hone.analysis.candidate import Candidate
from hone.analysis.error_slices import ErrorReport, error_report, oof_predictions
from hone.analysis.importance import (
    DropCheck,
    Importances,
    PermutationImportances,
    drop_check,
    feature_importances,
    permutation_importances,
    search_path,
)
from hone.data.training import TrainingSet
from hone.errors import HoneError


@dataclass
class Analysis:
    candidate: Candidate
    importances: Importances | None
    importance_note: str | None  # why there are no model importances (e.g. k-NN has none)
    permutation: PermutationImportances | None
    drop: DropCheck | None
    truth: np.ndarray  # the training set's target
    predictions: np.ndarray  # out-of-fold, on the training set
    errors: ErrorReport


def analyze(
    candidate: Candidate,
    training: TrainingSet,
    *,
    permutation: bool = True,
    drop_share: float = 0.05,
    bins: int = 5,
    worst: int = 10,
    n_jobs: int | None = None,
) -> Analysis:
    try:
        importances, note = feature_importances(candidate, training), None
    except HoneError as error:
        importances, note = None, error.message
    # One path for all three: each fold's fit is made once and shared (in-process, so no n_jobs here).
    path = search_path(candidate, training)
    shuffled = permutation_importances(candidate, training, path=path) if permutation else None
    ranked = importances or shuffled  # what the drop suggestion is based on
    drop = (
        drop_check(candidate, training, ranked, share=drop_share, n_jobs=n_jobs, path=path)
        if ranked
        else None
    )
    predictions = oof_predictions(candidate, training, path=path)
    errors = error_report(candidate, training, predictions, bins=bins, worst=worst)
    return Analysis(candidate, importances, note, shuffled, drop, training.y.to_numpy(), predictions, errors)
