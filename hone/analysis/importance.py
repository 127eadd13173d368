"""Which features the tuned model relies on, and whether dropping the weak ones costs anything.

Every cross-validated number here redoes the search's own fits: the same rows, folds, scorer and params,
and the same preparation path (fitted once on the training set, or inside each fold with
``prepare_in_folds``). So the "before" of a drop check is the stored CV score, not a look-alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.inspection import permutation_importance

from hone.analysis.candidate import Candidate
from hone.data import source_columns
from hone.data.training import TrainingSet
from hone.errors import HoneError
from hone.search.scoring import Scorer, display_score, lower_is_better, resolve_scoring

Split = tuple[np.ndarray, np.ndarray]


# --- the search's path, redone ---------------------------------------------------------------------


@dataclass
class PreparedFold:
    """One CV fold's rows as the model sees them (prepared), with the prepared feature names."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_valid: np.ndarray
    y_valid: np.ndarray
    names: list[str]
    valid_rows: np.ndarray  # positions in the training set


@dataclass
class SearchPath:
    """What the search cross-validated a candidate on: enough to redo any of its fits exactly.

    Plain sklearn objects and arrays only, so it travels to joblib workers.
    """

    model: Any  # the candidate's unfitted model
    X: Any  # the prepared matrix, or the raw training frame when the preparation is fitted in the folds
    y: np.ndarray
    in_folds: bool
    preparation: ColumnTransformer  # fitted on the whole training set: the names and their sources
    names: list[str]
    sources: dict[str, str]
    folds: list[Split]
    scorer: Scorer
    scoring: str | None  # the refit scorer's name, for display_score
    _folds: dict[int, PreparedFold] = field(default_factory=dict, repr=False)
    _models: dict[int, Any] = field(default_factory=dict, repr=False)

    def fold(self, index: int) -> PreparedFold:
        """The fold's rows, prepared as the search prepared them (computed once per path)."""
        if index not in self._folds:
            self._folds[index] = self._prepare(index)
        return self._folds[index]

    def fitted(self, index: int) -> Any:
        """The candidate fitted on the fold's training rows: the search's own fit, made once per path and
        shared by permutation importance, the drop check's baseline and the out-of-fold predictions."""
        if index not in self._models:
            self._models[index] = self.fit(self.fold(index))
        return self._models[index]

    def _prepare(self, index: int) -> PreparedFold:
        train, valid = self.folds[index]
        if not self.in_folds:
            return PreparedFold(self.X[train], self.y[train], self.X[valid], self.y[valid], self.names, valid)
        # As the search's Pipeline does: the preparation learns from the fold's training rows only.
        preparation = clone(self.preparation)
        X_train = preparation.fit_transform(self.X.iloc[train], self.y[train])
        X_valid = preparation.transform(self.X.iloc[valid])
        names = [str(name) for name in preparation.get_feature_names_out()]
        return PreparedFold(X_train, self.y[train], X_valid, self.y[valid], names, valid)

    def fit(self, fold: PreparedFold, keep: list[int] | None = None) -> Any:
        model = clone(self.model)
        model.fit(fold.X_train if keep is None else fold.X_train[:, keep], fold.y_train)
        return model

    def display(self, score: float) -> float:
        return display_score(self.scoring, score)[1]

    @property
    def label(self) -> str:
        return display_score(self.scoring, 0.0)[0]


def search_path(candidate: Candidate, training: TrainingSet) -> SearchPath:
    """The candidate's search path on the training set, as `hone.tune.tune` ran it."""
    preparation = candidate.pipeline(training)[0]
    prepared = preparation.fit_transform(training.X)
    y = training.y.to_numpy()
    X = training.X if candidate.settings.prepare_in_folds else prepared
    model = candidate.estimator()
    settings = candidate.settings
    scoring = resolve_scoring(model, settings.scoring, settings.refit)
    return SearchPath(
        model=model,
        X=X,
        y=y,
        in_folds=settings.prepare_in_folds,
        preparation=preparation,
        names=[str(name) for name in preparation.get_feature_names_out()],
        sources=source_columns(preparation),
        folds=candidate.folds(X, y),
        scorer=scoring.scorers[scoring.refit_metric],
        scoring=candidate.summary.scoring,
    )


# --- impurity / coefficient importances -----------------------------------------------------------


@dataclass
class FeatureImportance:
    feature: str  # a prepared feature: numeric, derived, or one category of a one-hot column
    importance: float
    source: str  # the data column it comes from


@dataclass
class GroupImportance:
    source: str  # a data column
    importance: float  # the sum over its prepared features
    features: list[str]


@dataclass
class Importances:
    """The refitted model's own importances, most important first."""

    model: str
    kind: str  # "feature_importances_" or "abs(coef_)"
    features: list[FeatureImportance]
    grouped: list[GroupImportance]

    def pairs(self) -> list[tuple[float, str]]:
        """The seed's ``sorted(zip(feature_importances, attributes), reverse=True)``."""
        return [(f.importance, f.feature) for f in self.features]


def feature_importances(candidate: Candidate, training: TrainingSet) -> Importances:
    """Refit preparation + model on the whole training set (the seed's refit) and read its importances.

    ``abs(coef_)`` (linear models) compares features only when they are on one scale (``scale:`` on).
    """
    pipeline = candidate.pipeline(training)
    pipeline.fit(training.X, training.y.to_numpy())
    kind, values = _model_importances(pipeline[-1], candidate)
    names = [str(name) for name in pipeline[:-1].get_feature_names_out()]
    if len(names) != len(values):
        raise HoneError(
            f"model {candidate.model.name!r} reports {len(values)} importances for {len(names)} prepared"
            " features; use permutation importance instead",
            where=candidate.model.where("estimator"),
        )
    sources = source_columns(pipeline[0])
    ranked = sorted(zip(values.tolist(), names, strict=True), reverse=True)
    features = [FeatureImportance(name, value, sources.get(name, name)) for value, name in ranked]
    return Importances(candidate.label, kind, features, _grouped(features))


def _model_importances(model: Any, candidate: Candidate) -> tuple[str, np.ndarray]:
    if hasattr(model, "feature_importances_"):
        return "feature_importances_", np.asarray(model.feature_importances_, dtype=float)
    if hasattr(model, "coef_"):
        coef = np.abs(np.asarray(model.coef_, dtype=float))
        # One row of coefficients per class or output: a feature matters by its mean weight.
        return "abs(coef_)", coef.mean(axis=0) if coef.ndim == 2 else coef
    raise HoneError(
        f"model {candidate.model.name!r} ({type(model).__name__}) has neither feature_importances_ nor"
        " coef_; use permutation importance instead",
        where=candidate.model.where("estimator"),
    )


def _grouped(features: list[FeatureImportance]) -> list[GroupImportance]:
    groups: dict[str, GroupImportance] = {}
    for f in features:
        group = groups.setdefault(f.source, GroupImportance(f.source, 0.0, []))
        group.importance += f.importance
        group.features.append(f.feature)
    return sorted(groups.values(), key=lambda g: g.importance, reverse=True)


# --- permutation importances ----------------------------------------------------------------------


@dataclass
class PermutationImportance:
    feature: str  # a prepared feature, or a data column whose prepared features were permuted together
    mean: float  # mean score drop over folds x repeats, in the scorer's units (> 0: the model needs it)
    std: float
    worse_by: float  # how much the displayed metric worsens, e.g. RMSE up by this much (target units)
    worse_std: float  # the spread of worse_by over folds x repeats, in the same units


@dataclass
class PermutationImportances:
    """How much the validation score drops when a feature's values are shuffled.

    Read ``worse_by`` in ``label`` units: with neg_mean_squared_error, an RMSE that grows by that much
    (in the target's units) when the feature is scrambled. ``mean``/``std`` are the raw score drop
    (for neg_mean_squared_error: the MSE increase). Near zero or negative: the model does not use it.
    """

    model: str
    scoring: str | None
    label: str
    baseline: float  # the displayed CV score before permuting (the stored CV score)
    n_folds: int
    n_repeats: int
    features: list[PermutationImportance]
    grouped: list[PermutationImportance]


@dataclass
class _FoldDrops:
    baseline: float
    drops: dict[str, np.ndarray]  # prepared feature -> score drop per repeat
    group_drops: dict[str, np.ndarray]  # data column -> score drop per repeat, its features jointly


def permutation_importances(
    candidate: Candidate,
    training: TrainingSet,
    *,
    n_repeats: int = 5,
    random_state: int = 0,
    n_jobs: int | None = None,
    path: SearchPath | None = None,
) -> PermutationImportances:
    """Permutation importance on each of the search's validation folds, for any model."""
    path = path or search_path(candidate, training)
    folds = Parallel(n_jobs=n_jobs)(
        # A seed per fold: reproducible whatever the number of workers.
        delayed(_fold_permutation)(path, index, n_repeats, random_state + index)
        for index in range(len(path.folds))
    )
    baselines = [f.baseline for f in folds]
    return PermutationImportances(
        model=candidate.label,
        scoring=path.scoring,
        label=path.label,
        baseline=path.display(float(np.average(baselines))),
        n_folds=len(folds),
        n_repeats=n_repeats,
        features=_summarize(path, folds, baselines, grouped=False),
        grouped=_summarize(path, folds, baselines, grouped=True),
    )


def _fold_permutation(path: SearchPath, index: int, n_repeats: int, seed: int) -> _FoldDrops:
    fold, model = path.fold(index), path.fitted(index)
    result = permutation_importance(
        model, fold.X_valid, fold.y_valid, scoring=path.scorer, n_repeats=n_repeats, random_state=seed
    )
    baseline = float(path.scorer(model, fold.X_valid, fold.y_valid))
    drops = dict(zip(fold.names, result.importances, strict=True))
    members: dict[str, list[int]] = {}
    for position, name in enumerate(fold.names):
        members.setdefault(path.sources.get(name, name), []).append(position)
    rng = np.random.default_rng(seed)
    group_drops = {}
    for source, columns in members.items():
        if len(columns) == 1:  # one column: the same shuffle as above, keep the numbers consistent
            group_drops[source] = drops[fold.names[columns[0]]]
        else:
            group_drops[source] = _joint_drops(path, model, fold, columns, baseline, n_repeats, rng)
    return _FoldDrops(baseline, drops, group_drops)


def _joint_drops(
    path: SearchPath,
    model: Any,
    fold: PreparedFold,
    columns: list[int],
    baseline: float,
    n_repeats: int,
    rng: np.random.Generator,
) -> np.ndarray:
    # One row order for all of a column's one-hot features: each shuffled row is still a valid category.
    drops = []
    for _ in range(n_repeats):
        shuffled = fold.X_valid.copy()
        shuffled[:, columns] = fold.X_valid[rng.permutation(len(shuffled))][:, columns]
        drops.append(baseline - float(path.scorer(model, shuffled, fold.y_valid)))
    return np.asarray(drops)


def _summarize(
    path: SearchPath, folds: list[_FoldDrops], baselines: list[float], *, grouped: bool
) -> list[PermutationImportance]:
    collected: dict[str, list[float]] = {}
    worse: dict[str, list[float]] = {}
    sign = 1.0 if lower_is_better(path.scoring) else -1.0
    for fold, baseline in zip(folds, baselines, strict=True):
        for name, drops in (fold.group_drops if grouped else fold.drops).items():
            collected.setdefault(name, []).extend(drops.tolist())
            shown = path.display(baseline)
            worse.setdefault(name, []).extend(sign * (path.display(baseline - d) - shown) for d in drops)
    rows = [
        PermutationImportance(
            name, float(np.mean(v)), float(np.std(v)), float(np.mean(worse[name])), float(np.std(worse[name]))
        )
        for name, v in collected.items()
    ]
    return sorted(rows, key=lambda r: r.mean, reverse=True)


# --- dropping the weak features -------------------------------------------------------------------


@dataclass
class DropCheck:
    """Cross-validation redone without some prepared features; scores in ``label`` units (e.g. RMSE)."""

    model: str
    dropped: list[str]
    n_features: int  # prepared features before dropping
    selection: str  # how `dropped` was chosen
    scoring: str | None
    label: str
    stored: float  # the search's stored CV score, displayed
    before: float  # CV score redone with every feature (equals `stored` when the path is the search's)
    after: float  # CV score without `dropped`
    fold_std: float  # std of the per-fold displayed scores with every feature
    before_folds: list[float]  # raw per-fold scores
    after_folds: list[float]
    verdict: str  # "drop" (after is better or within one fold-std) or "keep"
    reason: str


def drop_check(
    candidate: Candidate,
    training: TrainingSet,
    importances_or_names: Importances | PermutationImportances | Sequence[str],
    *,
    share: float = 0.05,
    n_jobs: int | None = None,
    path: SearchPath | None = None,
) -> DropCheck:
    """Drop the least important features (together below ``share`` of the total) or the named ones,
    rerun the search's cross-validation without them and compare."""
    path = path or search_path(candidate, training)
    dropped, selection = _choose(path, importances_or_names, share)
    if len(dropped) >= len(path.names):
        raise HoneError(f"dropping {len(dropped)} features would leave the model none")
    before_folds = _cv_scores(path, [], n_jobs)
    after_folds = _cv_scores(path, dropped, n_jobs)
    before = path.display(float(np.average(before_folds)))
    after = path.display(float(np.average(after_folds)))
    fold_std = float(np.std([path.display(s) for s in before_folds]))
    verdict, reason = _verdict(path, len(dropped), before, after, fold_std)
    return DropCheck(
        model=candidate.label,
        dropped=dropped,
        n_features=len(path.names),
        selection=selection,
        scoring=path.scoring,
        label=path.label,
        stored=path.display(candidate.cv_score),
        before=before,
        after=after,
        fold_std=fold_std,
        before_folds=before_folds,
        after_folds=after_folds,
        verdict=verdict,
        reason=reason,
    )


def least_important(ranked: Sequence[tuple[str, float]], share: float) -> list[str]:
    """The weakest features whose importances add up to less than ``share`` of the (positive) total."""
    total = sum(max(value, 0.0) for _, value in ranked)
    chosen, running = [], 0.0
    for name, value in sorted(ranked, key=lambda pair: pair[1]):
        if running + value >= share * total:
            break
        running += value
        chosen.append(name)
    return chosen


def _choose(
    path: SearchPath, given: Importances | PermutationImportances | Sequence[str], share: float
) -> tuple[list[str], str]:
    if isinstance(given, Importances):
        ranked = [(f.feature, f.importance) for f in given.features]
        return least_important(ranked, share), f"{given.kind} below {share:.0%} of the total"
    if isinstance(given, PermutationImportances):
        ranked = [(f.feature, f.mean) for f in given.features]
        return least_important(ranked, share), f"permutation importance below {share:.0%} of the total"
    return _named(path, list(given)), "given"


def _named(path: SearchPath, names: list[str]) -> list[str]:
    # A data column's name stands for all its prepared features (ocean_proximity -> its categories).
    chosen: list[str] = []
    for name in names:
        expanded = [f for f in path.names if f == name or path.sources.get(f) == name]
        if not expanded:
            raise HoneError(
                f"no prepared feature or column named {name!r}; features: {', '.join(path.names)}"
            )
        chosen.extend(f for f in expanded if f not in chosen)
    return chosen


def _cv_scores(path: SearchPath, dropped: list[str], n_jobs: int | None) -> list[float]:
    return Parallel(n_jobs=n_jobs)(
        delayed(_fold_score)(path, index, dropped) for index in range(len(path.folds))
    )


def _fold_score(path: SearchPath, index: int, dropped: list[str]) -> float:
    fold = path.fold(index)
    if not dropped:  # the search's exact fit: no column copy at all
        return float(path.scorer(path.fitted(index), fold.X_valid, fold.y_valid))
    keep = [i for i, name in enumerate(fold.names) if name not in dropped]
    try:
        model = path.fit(fold, keep)
    except ValueError as error:  # e.g. max_features larger than the features left
        raise HoneError(f"the model cannot be fitted without {', '.join(dropped)}: {error}") from None
    return float(path.scorer(model, fold.X_valid[:, keep], fold.y_valid))


def _verdict(path: SearchPath, n_dropped: int, before: float, after: float, std: float) -> tuple[str, str]:
    lower = lower_is_better(path.scoring)
    change = after - before
    better = change < 0 if lower else change > 0
    text = f"without {n_dropped} feature(s) {path.label} goes from {_num(before)} to {_num(after)}"
    if better:
        return "drop", f"{text}: better without them"
    if abs(change) <= std:
        return "drop", f"{text}, within one fold-std ({_num(std)}): they add nothing measurable"
    return "keep", f"{text}, worse by more than one fold-std ({_num(std)}): keep them"


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
