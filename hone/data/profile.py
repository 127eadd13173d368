"""The reference profile: a compact, JSON-ready summary of the training data, stored with each model.

Monitoring compares live data against it (PSI on the stored bins, a KS-type test on the stored
percentiles, missing-rate jumps, out-of-range shares, stale feeds) and so never needs the training data
again. Everything is plain numbers and strings; undefined values are ``None``, never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from hone.data.schema import FeatureSchema, SchemaViolation
from hone.errors import DataError

# Percentiles 0, 1, ..., 100: enough for a KS-type test against live data, small enough to store.
N_PERCENTILES = 101
# Example records use these quantiles of each numeric feature (one record per level).
EXAMPLE_QUANTILES = (0.1, 0.3, 0.5, 0.7, 0.9)


def _number(value: float) -> float | None:
    """A float JSON can hold: NaN and infinities become None."""
    value = float(value)
    return value if math.isfinite(value) else None


def _six_digits(value: float) -> float:
    """Six significant digits: plenty for drift tests, and it keeps the stored JSON short."""
    return float(f"{value:.6g}")


def _rounded(value: float) -> float | None:
    return _number(_six_digits(value))


def _as_floats(values: Any) -> np.ndarray:
    """Any column or array as float64; text that is not a number counts as missing."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        return values.astype(np.float64, copy=False)
    series = pd.Series(values) if not isinstance(values, pd.Series) else values
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


@dataclass(frozen=True)
class NumericProfile:
    """Quantile bins of a numeric column: (-inf, e1], (e1, e2], ..., (ek, inf), so every value has a bin."""

    edges: tuple[float, ...]  # interior cut points, increasing, each a value seen in training
    counts: tuple[int, ...]  # training values per bin, len(edges) + 1; they sum to the non-missing count
    missing: float  # share of rows without a value
    mean: float | None
    std: float | None  # sample standard deviation (ddof=1)
    low: float | None  # smallest and largest finite values
    high: float | None
    distinct_share: float | None  # distinct values / non-missing values (a stuck feed drives it to ~0)
    percentiles: tuple[float, ...]  # percentiles 0..100 of the finite values (empty when there are none)

    kind: ClassVar[str] = "numeric"

    @classmethod
    def build(cls, values: Any, *, n_bins: int = 10) -> NumericProfile:
        numbers = _as_floats(values)
        present = numbers[~np.isnan(numbers)]
        finite = present[np.isfinite(present)]
        if finite.size:
            # Empirical quantiles (values seen in data), so discrete columns get edges on their values
            # and repeated cut points collapse into one edge.
            cuts = np.quantile(finite, np.linspace(0.0, 1.0, n_bins + 1)[1:-1], method="inverted_cdf")
            edges = tuple(float(e) for e in np.unique(cuts))
            levels = np.linspace(0.0, 1.0, N_PERCENTILES)
            percentiles = tuple(_six_digits(q) for q in np.quantile(finite, levels, method="inverted_cdf"))
        else:
            edges, percentiles = (), ()
        profile = cls(
            edges=edges,
            counts=(),
            missing=float(np.isnan(numbers).mean()) if numbers.size else 0.0,
            mean=_rounded(finite.mean()) if finite.size else None,
            std=_rounded(finite.std(ddof=1)) if finite.size > 1 else None,
            low=float(finite.min()) if finite.size else None,
            high=float(finite.max()) if finite.size else None,
            distinct_share=float(np.unique(present).size / present.size) if present.size else None,
            percentiles=percentiles,
        )
        # Counted with bin_counts itself, so live data is binned exactly as the training data was.
        counts = tuple(int(c) for c in profile.bin_counts(numbers))
        return replace(profile, counts=counts)

    def bin_counts(self, values: Any) -> np.ndarray:
        """How many of ``values`` fall in each bin (missing values are not counted)."""
        numbers = _as_floats(values)
        numbers = numbers[~np.isnan(numbers)]
        # side="left": a value equal to an edge belongs to the bin that edge closes, (e_{i-1}, e_i].
        bins = np.searchsorted(np.asarray(self.edges, dtype=np.float64), numbers, side="left")
        return np.bincount(bins, minlength=len(self.edges) + 1)

    @property
    def n(self) -> int:
        """Non-missing training values (the sample size behind ``percentiles``)."""
        return int(sum(self.counts))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "edges": list(self.edges),
            "counts": list(self.counts),
            "missing": self.missing,
            "mean": self.mean,
            "std": self.std,
            "low": self.low,
            "high": self.high,
            "distinct_share": self.distinct_share,
            "percentiles": list(self.percentiles),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericProfile:
        return cls(
            edges=tuple(float(e) for e in data["edges"]),
            counts=tuple(int(c) for c in data["counts"]),
            missing=float(data["missing"]),
            mean=data.get("mean"),
            std=data.get("std"),
            low=data.get("low"),
            high=data.get("high"),
            distinct_share=data.get("distinct_share"),
            percentiles=tuple(float(q) for q in data["percentiles"]),
        )


@dataclass(frozen=True)
class CategoricalProfile:
    """Category counts, most frequent first; live values are counted in that order plus one unseen slot."""

    frequencies: dict[str, int]
    missing: float

    kind: ClassVar[str] = "categorical"

    @classmethod
    def build(cls, values: Any) -> CategoricalProfile:
        series = pd.Series(values).reset_index(drop=True).astype(object)
        missing = series.isna()
        # str() as the schema does, so a category reads the same in the schema, the profile and the log.
        counts = series[~missing].map(str).value_counts()
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        return cls(
            frequencies={str(name): int(count) for name, count in ordered},
            missing=float(missing.mean()) if len(series) else 0.0,
        )

    @property
    def categories(self) -> list[str]:
        return list(self.frequencies)

    def bin_counts(self, values: Any) -> np.ndarray:
        """Counts per stored category, in stored order, then one slot for unseen ones; missing not counted."""
        series = pd.Series(values).astype(object)
        present = series[series.notna()].map(str)
        codes = pd.Index(self.categories).get_indexer(present)  # -1: a category training never saw
        other = len(self.frequencies)
        return np.bincount(np.where(codes < 0, other, codes), minlength=other + 1)

    @property
    def n(self) -> int:
        return int(sum(self.frequencies.values()))

    def to_dict(self) -> dict[str, Any]:
        # Lists rather than an object: some JSON stores (PostgreSQL JSONB) do not keep key order.
        return {
            "kind": self.kind,
            "categories": list(self.frequencies),
            "counts": list(self.frequencies.values()),
            "missing": self.missing,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoricalProfile:
        pairs = zip(data["categories"], data["counts"], strict=True)
        return cls(frequencies={str(c): int(n) for c, n in pairs}, missing=float(data["missing"]))


ColumnProfile = NumericProfile | CategoricalProfile


def column_profile_from_dict(data: Mapping[str, Any]) -> ColumnProfile:
    if data["kind"] == "numeric":
        return NumericProfile.from_dict(data)
    return CategoricalProfile.from_dict(data)


def psi(
    expected_counts: Sequence[float] | np.ndarray,
    actual_counts: Sequence[float] | np.ndarray,
    eps: float = 1e-4,
) -> float:
    """Population stability index between two count vectors over the same bins.

    Shares are floored at ``eps`` so an empty bin does not give log(0). The usual reading: below 0.1
    stable, 0.1 to 0.25 a moderate shift, above 0.25 a large shift. NaN when either side has no values.
    """
    expected = np.asarray(expected_counts, dtype=np.float64)
    actual = np.asarray(actual_counts, dtype=np.float64)
    if expected.shape != actual.shape:
        raise ValueError(f"psi needs counts over the same bins, got {expected.size} and {actual.size}")
    if expected.sum() <= 0 or actual.sum() <= 0:
        return math.nan
    p = np.maximum(expected / expected.sum(), eps)
    q = np.maximum(actual / actual.sum(), eps)
    return float(np.sum((q - p) * np.log(q / p)))


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    both = ~(np.isnan(a) | np.isnan(b))
    if both.sum() < 3:
        return None
    ranks_a = pd.Series(a[both]).rank().to_numpy()
    ranks_b = pd.Series(b[both]).rank().to_numpy()
    if ranks_a.std() == 0 or ranks_b.std() == 0:
        return None  # a constant column has no correlation
    return _rounded(np.corrcoef(ranks_a, ranks_b)[0, 1])


@dataclass(frozen=True)
class ReferenceProfile:
    """What the training data looked like, per feature, plus target, predictions and example records."""

    n_rows: int
    features: dict[str, ColumnProfile]  # per schema feature, schema order
    target: ColumnProfile | None
    predictions: ColumnProfile | None  # the model's out-of-fold predictions
    correlations: dict[str, dict[str, float | None]]  # numeric feature -> {"target": r, "prediction": r}
    duplicate_share: float  # share of rows repeating an earlier row exactly (baseline for a stale feed)
    examples: list[dict[str, Any]]  # records the model must accept (the registry's smoke test)

    @classmethod
    def build(
        cls,
        X: pd.DataFrame,  # noqa: N803 - scikit-learn's naming
        schema: FeatureSchema,
        *,
        y: Any = None,
        predictions: Any = None,
        n_bins: int = 10,
        task: Literal["regression", "classification"] | None = None,
    ) -> ReferenceProfile:
        """Profile training features ``X`` (and target ``y``, out-of-fold ``predictions`` when given).

        ``task="classification"`` profiles target and predictions as categories even when the labels are
        numbers; otherwise numeric labels get quantile bins.
        """
        missing = [name for name in schema.names if name not in X.columns]
        if missing:
            raise DataError(f"training data lacks schema feature(s): {', '.join(missing)}", where="profile")
        if len(X) == 0:
            raise DataError("cannot profile training data with no rows", where="profile")
        if n_bins < 2:
            raise ValueError(f"n_bins must be at least 2, got {n_bins}")
        features: dict[str, ColumnProfile] = {}
        for feature in schema.features:
            column = X[feature.name]
            features[feature.name] = (
                NumericProfile.build(column, n_bins=n_bins)
                if feature.kind == "numeric"
                else CategoricalProfile.build(column)
            )
        outcomes = {"target": y, "prediction": predictions}
        for label, values in outcomes.items():
            if values is not None and len(values) != len(X):
                raise DataError(
                    f"{label} has {len(values)} values for {len(X)} training rows", where="profile"
                )
        target = None if y is None else _outcome_profile(y, task, n_bins)
        predicted = None if predictions is None else _outcome_profile(predictions, task, n_bins)
        examples = _examples(schema, features)
        try:
            schema.check_records(examples)
        except SchemaViolation as exc:
            message = f"training data does not match the model's schema ({exc})"
            raise DataError(message, where="profile") from exc
        return cls(
            n_rows=len(X),
            features=features,
            target=target,
            predictions=predicted,
            correlations=_correlations(
                X, schema, {"target": (y, target), "prediction": (predictions, predicted)}
            ),
            duplicate_share=float(X[schema.names].duplicated().mean()),
            examples=examples,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_rows": self.n_rows,
            "features": [{"name": name, **profile.to_dict()} for name, profile in self.features.items()],
            "target": None if self.target is None else self.target.to_dict(),
            "predictions": None if self.predictions is None else self.predictions.to_dict(),
            "correlations": {name: dict(pair) for name, pair in self.correlations.items()},
            "duplicate_share": self.duplicate_share,
            "examples": [dict(record) for record in self.examples],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceProfile:
        target, predictions = data.get("target"), data.get("predictions")
        return cls(
            n_rows=int(data["n_rows"]),
            features={f["name"]: column_profile_from_dict(f) for f in data["features"]},
            target=None if target is None else column_profile_from_dict(target),
            predictions=None if predictions is None else column_profile_from_dict(predictions),
            correlations={name: dict(pair) for name, pair in data.get("correlations", {}).items()},
            duplicate_share=float(data["duplicate_share"]),
            examples=[dict(record) for record in data["examples"]],
        )


def _outcome_profile(values: Any, task: str | None, n_bins: int) -> ColumnProfile:
    array = np.asarray(values)
    numeric = array.dtype.kind in "fiu"
    if task == "classification" or not numeric:
        return CategoricalProfile.build(array)
    return NumericProfile.build(array, n_bins=n_bins)


def _correlations(
    X: pd.DataFrame,  # noqa: N803 - scikit-learn's naming
    schema: FeatureSchema,
    outcomes: dict[str, tuple[Any, ColumnProfile | None]],
) -> dict[str, dict[str, float | None]]:
    numeric_outcomes = {
        label: _as_floats(np.asarray(values))
        for label, (values, profile) in outcomes.items()
        if isinstance(profile, NumericProfile)
    }
    if not numeric_outcomes:
        return {}
    correlations: dict[str, dict[str, float | None]] = {}
    for feature in schema.features:
        if feature.kind == "numeric":
            column = _as_floats(X[feature.name])
            correlations[feature.name] = {
                label: _spearman(column, outcome) for label, outcome in numeric_outcomes.items()
            }
    return correlations


def _examples(schema: FeatureSchema, profiles: Mapping[str, ColumnProfile]) -> list[dict[str, Any]]:
    """Synthetic records: numeric features at 10/30/50/70/90 % quantiles, frequent categories in turn."""
    records: list[dict[str, Any]] = [{} for _ in EXAMPLE_QUANTILES]
    for feature in schema.features:
        profile = profiles[feature.name]
        for i, level in enumerate(EXAMPLE_QUANTILES):
            value: Any = None  # a column with no values in training is nullable in the schema
            if isinstance(profile, NumericProfile) and profile.percentiles:
                value = profile.percentiles[round(level * (len(profile.percentiles) - 1))]
            elif isinstance(profile, CategoricalProfile) and profile.frequencies:
                value = profile.categories[i % len(profile.frequencies)]
            records[i][feature.name] = value
    return records
