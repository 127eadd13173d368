"""The paired gate's statistics on constructed losses, and per-row losses of real fitted models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.svm import LinearSVC

from hone.errors import HoneError
from hone.maintain.gate import GateResult, loss_name, paired_gate, resampled_means, row_losses


def losses(n: int = 500, seed: int = 0) -> np.ndarray:
    # Squared errors vary a lot from row to row, as real ones do.
    return np.random.default_rng(seed).exponential(100.0, size=n)


def gate(champion: np.ndarray, challenger: np.ndarray, **kwargs) -> GateResult:
    settings = {"margin": 0.0, "confidence": 0.95, "n_bootstrap": 2000} | kwargs
    return paired_gate(champion, challenger, **settings)


def test_a_clearly_better_challenger_is_promoted_with_the_numbers_behind_it():
    champion = losses()
    challenger = champion * 0.8  # 20% lower loss on every row
    result = gate(champion, challenger)
    assert result.promote
    assert result.improvement == pytest.approx(champion.mean() * 0.2)
    assert result.relative == pytest.approx(0.2)
    assert 0 < result.low < result.improvement < result.high
    assert result.challenger_low < challenger.mean() < result.challenger_high
    assert result.share_better == 1.0
    assert "challenger better on 500 holdout rows" in result.verdict and "95% lower bound" in result.verdict


def test_equal_models_are_never_promoted():
    champion = losses()
    result = gate(champion, champion.copy())
    assert not result.promote
    assert result.improvement == 0 and result.low == 0 and result.required == 0
    assert "not better enough" in result.verdict


def test_better_by_less_than_the_margin_is_not_promoted():
    champion = losses()
    challenger = champion * 0.97  # 3% better on every row: certain, but small
    assert gate(champion, challenger, margin=0.0).promote
    kept = gate(champion, challenger, margin=0.05)
    assert not kept.promote
    assert kept.required == pytest.approx(0.05 * champion.mean())
    assert kept.low < kept.required
    assert gate(champion, challenger, margin=0.02).promote


def test_confidence_matters_for_a_noisy_small_improvement():
    rng = np.random.default_rng(3)
    champion = losses(400, seed=1)
    # Better on average by about 4%, but with row-to-row noise much larger than that.
    challenger = np.clip(champion * 0.96 + rng.normal(0, 25, size=champion.size), 0, None)
    relaxed = gate(champion, challenger, confidence=0.6)
    strict = gate(champion, challenger, confidence=0.999)
    assert relaxed.improvement > 0
    assert relaxed.promote and not strict.promote
    assert strict.low < relaxed.low


def test_pairing_sees_a_consistent_improvement_that_separate_intervals_would_miss():
    champion = losses(300, seed=5)
    challenger = champion - 2.0  # 2 less on every row: tiny next to the spread of the losses (sd ~ 100)
    result = gate(champion, challenger)
    assert result.promote and result.low == pytest.approx(2.0)
    # Unpaired, the challenger's own interval still holds the champion's mean loss: no difference seen.
    assert result.challenger_low < result.champion_loss < result.challenger_high


def test_the_bootstrap_is_seeded_and_the_result_round_trips_through_json():
    champion, challenger = losses(), losses(seed=9)
    first, again = gate(champion, challenger), gate(champion, challenger)
    assert first == again
    assert gate(champion, challenger, random_state=1).low != first.low
    assert GateResult.from_dict(first.to_dict()) == first


def test_resampled_means_keep_columns_paired():
    values = np.column_stack([np.arange(50.0), np.arange(50.0) * 2])
    means = resampled_means(values, 300, random_state=0)
    assert means.shape == (300, 2)
    np.testing.assert_allclose(means[:, 1], 2 * means[:, 0])  # the same rows drawn for both columns
    assert means[:, 0].std() > 0


@pytest.mark.parametrize(
    ("champion", "challenger", "message"),
    [
        (np.ones(3), np.ones(4), "paired losses"),
        (np.array([]), np.array([]), "at least one holdout row"),
        (np.array([1.0, np.nan]), np.ones(2), "non-finite"),
    ],
)
def test_bad_losses_are_one_line_errors(champion, challenger, message):
    with pytest.raises(HoneError, match=message):
        gate(champion, challenger)


def test_row_losses_of_real_models():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = 3 * X["a"] - X["b"] + rng.normal(0, 0.1, size=200)
    regressor = LinearRegression().fit(X, y)
    assert loss_name("regression", [regressor]) == "squared error"
    squared = row_losses(regressor, X, y, "squared error")
    np.testing.assert_allclose(squared, (regressor.predict(X) - y) ** 2)

    labels = np.where(X["a"] > 0, "up", "down")
    logistic = LogisticRegression().fit(X, labels)
    assert loss_name("classification", [logistic]) == "log loss"
    log_losses = row_losses(logistic, X, labels, "log loss")
    proba = logistic.predict_proba(X)[np.arange(200), (labels == "up").astype(int)]
    np.testing.assert_allclose(log_losses, -np.log(proba))
    unseen = row_losses(logistic, X.iloc[:2], np.array(["sideways", "up"]), "log loss")
    assert unseen[0] == pytest.approx(-np.log(1e-15))  # a class the model never saw: the maximum loss

    margins = LinearSVC().fit(X, labels)  # no predict_proba: the gate falls back to 0/1 errors
    assert loss_name("classification", [logistic, margins]) == "0/1 error"
    errors = row_losses(margins, X, labels, "0/1 error")
    assert set(np.unique(errors)) <= {0.0, 1.0}
    assert errors.mean() == pytest.approx((margins.predict(X) != labels).mean())
