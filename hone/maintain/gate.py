"""The champion/challenger gate: is the challenger better on the same rows, by enough, with confidence?

Both models predict the same recent labelled holdout, so their per-row losses are paired. The gate
resamples the rows (a paired bootstrap: one resample draws the same rows for both models) and looks at the
mean of the per-row loss difference ``champion - challenger``. The challenger passes only if the
one-sided lower confidence bound of that mean improvement exceeds ``margin`` times the champion's mean
loss. Pairing removes the rows' own difficulty from the comparison, so a real but small improvement is
visible on a few hundred rows where two separate intervals would still overlap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from hone.errors import HoneError
from hone.store.jsonable import finite_or_none

# Resamples are drawn in blocks of about this many cells, to bound memory on large holdouts.
_BLOCK_CELLS = 2_000_000
# Log loss of a probability of 0 for the true class would be infinite; clipped as scikit-learn does.
_EPS = 1e-15


@dataclass(frozen=True)
class GateResult:
    """The paired comparison on the holdout, and its verdict. Losses are means per row."""

    n: int  # holdout rows
    loss: str  # "squared error" | "log loss" | "0/1 error"
    champion_loss: float
    challenger_loss: float
    improvement: float  # champion_loss - challenger_loss: positive when the challenger is better
    low: float  # one-sided lower confidence bound of the improvement (bootstrap percentile 1 - confidence)
    high: float  # one-sided upper bound (percentile ``confidence``), for display
    required: float  # margin * champion_loss: what ``low`` must exceed
    share_better: float  # share of resamples whose improvement exceeds ``required``
    challenger_low: float  # the challenger's mean loss: two-sided percentile interval at ``confidence``
    challenger_high: float
    margin: float
    confidence: float
    n_bootstrap: int
    promote: bool

    @property
    def relative(self) -> float:
        """The improvement as a share of the champion's loss (NaN when the champion's loss is 0)."""
        return self.improvement / self.champion_loss if self.champion_loss > 0 else math.nan

    @property
    def verdict(self) -> str:
        """One sentence with the numbers behind the decision."""
        level = f"{self.confidence:.0%}"
        bound = f"{level} lower bound {self.low:.4g}"
        if self.promote:
            return (
                f"challenger better on {self.n} holdout rows: mean {self.loss} {self.champion_loss:.4g} → "
                f"{self.challenger_loss:.4g}, improvement {self.improvement:.4g} ({bound} > required "
                f"{self.required:.4g}, margin {self.margin:g})"
            )
        return (
            f"challenger not better enough on {self.n} holdout rows: mean {self.loss} "
            f"{self.champion_loss:.4g} → {self.challenger_loss:.4g}, improvement {self.improvement:.4g} "
            f"({bound} ≤ required {self.required:.4g}, margin {self.margin:g})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            name: finite_or_none(value) if isinstance(value, float) else value
            for name, value in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateResult:
        fields = cls.__dataclass_fields__
        return cls(**{name: math.nan if data.get(name) is None else data[name] for name in fields})



def paired_gate(
    champion_loss: np.ndarray,
    challenger_loss: np.ndarray,
    *,
    margin: float,
    confidence: float,
    n_bootstrap: int,
    random_state: int = 0,
    loss: str = "loss",
) -> GateResult:
    """Paired bootstrap of the mean per-row loss difference (champion - challenger); see the module doc."""
    champion = np.asarray(champion_loss, dtype=np.float64).ravel()
    challenger = np.asarray(challenger_loss, dtype=np.float64).ravel()
    if champion.shape != challenger.shape:
        raise HoneError(f"the gate needs paired losses, got {champion.size} and {challenger.size} rows")
    if champion.size == 0:
        raise HoneError("the gate needs at least one holdout row")
    if not (np.isfinite(champion).all() and np.isfinite(challenger).all()):
        raise HoneError("the gate got non-finite losses: a model predicted NaN or infinity on the holdout")
    if not 0 < confidence < 1:
        raise HoneError(f"confidence must be between 0 and 1, got {confidence!r}")
    if margin < 0 or n_bootstrap < 1:
        raise HoneError(f"margin must be >= 0 and n_bootstrap >= 1, got {margin!r} and {n_bootstrap!r}")

    difference = champion - challenger
    means = resampled_means(np.column_stack([difference, challenger]), n_bootstrap, random_state)
    improvements, challenger_means = means[:, 0], means[:, 1]
    champion_mean = float(champion.mean())
    required = margin * champion_mean
    low = float(np.quantile(improvements, 1 - confidence))
    high = float(np.quantile(improvements, confidence))
    tail = (1 - confidence) / 2
    challenger_low, challenger_high = np.quantile(challenger_means, [tail, 1 - tail])
    return GateResult(
        n=int(champion.size),
        loss=loss,
        champion_loss=champion_mean,
        challenger_loss=float(challenger.mean()),
        improvement=float(difference.mean()),
        low=low,
        high=high,
        required=required,
        share_better=float((improvements > required).mean()),
        challenger_low=float(challenger_low),
        challenger_high=float(challenger_high),
        margin=float(margin),
        confidence=float(confidence),
        n_bootstrap=int(n_bootstrap),
        # Strictly greater: identical models (every difference 0) never replace the champion.
        promote=low > required,
    )


def resampled_means(values: np.ndarray, n_bootstrap: int, random_state: int = 0) -> np.ndarray:
    """Column means of ``values`` (rows x columns) over ``n_bootstrap`` resamples of its rows.

    One resample draws the same rows for every column, so columns stay paired. Returns an array of
    shape (n_bootstrap, columns).
    """
    table = np.asarray(values, dtype=np.float64)
    table = table[:, None] if table.ndim == 1 else table
    rng = np.random.default_rng(random_state)
    n = len(table)
    block = max(1, _BLOCK_CELLS // (n * table.shape[1]))
    means = []
    for start in range(0, n_bootstrap, block):
        rows = rng.integers(0, n, size=(min(block, n_bootstrap - start), n))
        means.append(table[rows].mean(axis=1))
    return np.concatenate(means)


# -- per-row losses -------------------------------------------------------------------------------------


def loss_name(task: str, models: Sequence[Any]) -> str:
    """Squared error for regression; log loss when every classifier gives probabilities, else 0/1 error."""
    if task == "regression":
        return "squared error"
    return "log loss" if all(hasattr(model, "predict_proba") for model in models) else "0/1 error"


def row_losses(model: Any, X: pd.DataFrame, y: Any, loss: str) -> np.ndarray:  # noqa: N803
    """The per-row ``loss`` of a fitted ``model`` on rows ``X`` with true values ``y``."""
    truth = np.asarray(y)
    if loss == "squared error":
        predicted = np.asarray(model.predict(X), dtype=np.float64)
        return (predicted - truth.astype(np.float64)) ** 2
    if loss == "log loss":
        proba = np.asarray(model.predict_proba(X), dtype=np.float64)
        classes = np.asarray(model.classes_)
        # A label the model never saw gets probability 0 (the clipped maximum loss), not an error.
        position = {label: index for index, label in enumerate(classes.tolist())}
        columns = np.asarray([position.get(label, -1) for label in truth.tolist()])
        p_true = np.where(columns >= 0, proba[np.arange(len(truth)), np.maximum(columns, 0)], 0.0)
        return -np.log(np.clip(p_true, _EPS, 1.0))
    predicted = np.asarray(model.predict(X))
    return (predicted != truth).astype(np.float64)
