"""Scorers, resolved once from the user's ``scoring`` as GridSearchCV would, and shown to humans."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sklearn.metrics import check_scoring, get_scorer_names

from hone.errors import SearchError

Scorer = Callable[..., float]

# The single-metric key GridSearchCV uses in cv_results_ ("mean_test_score").
SINGLE = "score"


@dataclass(frozen=True)
class Scoring:
    """The resolved scorers and which one picks the best candidate."""

    scorers: dict[str, Scorer]
    multimetric: bool
    refit_metric: str

    @property
    def names(self) -> list[str]:
        return list(self.scorers)


def resolve_scoring(estimator: Any, scoring: Any, refit: Any) -> Scoring:
    """Turn ``scoring`` (None, a name, a callable, a list of names or a dict) into scorers."""
    if scoring is None or isinstance(scoring, str) or callable(scoring):
        return Scoring({SINGLE: _scorer(estimator, scoring)}, False, SINGLE)
    if isinstance(scoring, Mapping):
        named = dict(scoring)
    elif isinstance(scoring, Sequence):
        if len(set(scoring)) != len(scoring) or not all(isinstance(s, str) for s in scoring):
            raise SearchError(f"scoring as a list must hold distinct scorer names, got {list(scoring)!r}")
        named = {name: name for name in scoring}
    else:
        raise SearchError(f"scoring must be a name, a callable, a list or a dict, got {scoring!r}")
    if not named:
        raise SearchError("scoring is an empty list or dict")
    scorers = {name: _scorer(estimator, value) for name, value in named.items()}
    if refit is True:
        raise SearchError(
            "with several metrics, refit must name the metric that picks the best candidate "
            f"(one of {list(scorers)}), or be False or a callable"
        )
    if isinstance(refit, str) and refit not in scorers:
        raise SearchError(f"refit={refit!r} is not one of the scoring names {list(scorers)}")
    refit_metric = refit if isinstance(refit, str) else next(iter(scorers))
    return Scoring(scorers, True, refit_metric)


def _scorer(estimator: Any, scoring: Any) -> Scorer:
    if isinstance(scoring, str) and scoring not in get_scorer_names():
        raise SearchError(f"unknown scoring {scoring!r}; see sklearn.metrics.get_scorer_names()")
    try:
        return check_scoring(estimator, scoring=scoring)
    except (TypeError, ValueError) as error:
        raise SearchError(f"bad scoring {scoring!r}: {error}") from None


def display_score(scoring_name: str | None, value: float) -> tuple[str, float]:
    """A score as people read it: RMSE for neg_mean_squared_error (as the seed prints), etc."""
    if scoring_name == "neg_mean_squared_error":
        return "RMSE", math.sqrt(abs(value)) if value <= 0 else math.nan  # abs: sqrt(-0.0) is -0.0
    if scoring_name and scoring_name.startswith("neg_"):
        return _short_name(scoring_name[4:]), -value
    return _short_name(scoring_name or SINGLE), value


# Scores are printed with at least this many decimals (RMSE 49,123.4) and at most this many.
MIN_DECIMALS, MAX_DECIMALS = 1, 6
# Without any spread to go by, a score between -1 and 1 (AUC, accuracy, R²) gets this many.
UNIT_DECIMALS = 4


def score_decimals(spreads: Sequence[float], values: Sequence[float] = ()) -> int:
    """Decimals that show the smallest spread with two significant digits (0.9938 ± 0.0041, 49,123.4 ± 812.0).

    Rounding every score to one decimal made classifier scores read ``1.0 ± 0.0`` for every candidate."""
    positive = [abs(s) for s in spreads if math.isfinite(s) and s > 0]
    if positive:
        decimals = 1 - math.floor(math.log10(min(positive)))
    else:
        finite = [abs(v) for v in values if math.isfinite(v)]
        decimals = UNIT_DECIMALS if finite and max(finite) <= 1 else MIN_DECIMALS
    return min(MAX_DECIMALS, max(MIN_DECIMALS, decimals))


def format_score(value: float, decimals: int) -> str:
    """A score with thousands separators and ``decimals`` decimals (see ``score_decimals``)."""
    return f"{value:,.{decimals}f}"


def _short_name(name: str) -> str:
    known = {
        "root_mean_squared_error": "RMSE",
        "mean_absolute_error": "MAE",
        "mean_squared_error": "MSE",
        "log_loss": "log loss",
        "r2": "R²",
    }
    return known.get(name, name)


def lower_is_better(scoring_name: str | None) -> bool:
    """Whether the displayed number improves downwards (errors, losses)."""
    return bool(scoring_name and scoring_name.startswith("neg_"))
