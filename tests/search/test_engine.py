"""The engine on its own: batches of candidates driven as a strategy drives them, against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_validate

from hone.errors import SearchError
from hone.search.engine import CandidateEvaluator, SearchJob
from hone.search.scoring import resolve_scoring
from hone.search.trials import MemoryTrialLog


@pytest.fixture()
def job() -> SearchJob:
    X, y = make_regression(n_samples=120, n_features=5, noise=5.0, random_state=0)
    splits = list(KFold(3, shuffle=True, random_state=0).split(X))
    scoring = resolve_scoring(Ridge(), "neg_mean_squared_error", True)
    return SearchJob(estimator=Ridge(), X=X, y=y, splits=splits, scoring=scoring, n_jobs=1)


def sklearn_scores(job: SearchJob, alpha: float) -> np.ndarray:
    scores = cross_validate(Ridge(alpha=alpha), job.X, job.y, cv=job.splits, scoring="neg_mean_squared_error")
    return scores["test_score"]


def test_batches_accumulate_and_every_score_is_scikit_learns(job):
    evaluate = CandidateEvaluator(job, MemoryTrialLog())
    first = evaluate([{"alpha": 0.1}, {"alpha": 1.0}])
    assert len(first["params"]) == 2
    results = evaluate([{"alpha": 10.0}])  # a strategy's second batch: results of all three come back
    assert [p["alpha"] for p in results["params"]] == [0.1, 1.0, 10.0]
    for index, alpha in enumerate([0.1, 1.0, 10.0]):
        ours = [results[f"split{fold}_test_score"][index] for fold in range(3)]
        np.testing.assert_allclose(ours, sklearn_scores(job, alpha), rtol=1e-12)
    assert (evaluate.computed, evaluate.reused) == (9, 0)


def test_folds_in_the_log_are_read_back_not_refitted(job):
    log = MemoryTrialLog()
    CandidateEvaluator(job, log)([{"alpha": 0.1}, {"alpha": 1.0}])
    again = CandidateEvaluator(job, log)
    again([{"alpha": 0.1}, {"alpha": 1.0}])
    assert (again.computed, again.reused) == (0, 6)


def test_a_batch_on_some_folds_then_pruned_keeps_the_rest_missing(job):
    evaluate = CandidateEvaluator(job, MemoryTrialLog())
    results = evaluate([{"alpha": 0.1}, {"alpha": 1e6}], folds=[0])
    assert evaluate.computed == 2
    assert np.isnan(results["split1_test_score"]).all()
    evaluate.prune([1])
    results = evaluate.evaluate_folds([0])  # the survivor's remaining folds
    assert evaluate.computed == 4 and evaluate.pruned == {1}
    assert np.isfinite([results[f"split{f}_test_score"][0] for f in range(3)]).all()
    assert np.isnan(results["split2_test_score"][1])


def test_a_batch_with_the_wrong_number_of_folds_is_refused(job):
    evaluate = CandidateEvaluator(job, MemoryTrialLog())
    with pytest.raises(SearchError, match="a batch must use 3 folds, got 2"):
        evaluate([{"alpha": 1.0}], splits=job.splits[:2])
    with pytest.raises(SearchError, match="folds must be between 0 and 2"):
        evaluate([{"alpha": 1.0}], folds=[3])
