"""What a finished search says, the same whether it just ran or is read back from the store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hone.errors import StoreError
from hone.search.results import build_cv_results, last_iteration_best
from hone.search.scoring import display_score, lower_is_better, score_decimals
from hone.search.space import EdgeHit, find_edges
from hone.search.trials import stored_pruned, stored_study


@dataclass
class SearchSummary:
    model: str
    study: str | None
    strategy: str
    scoring: str | None  # the refit scorer's name, for display (None: the estimator's own score)
    refit_metric: str
    n_splits: int
    cv_results: dict[str, Any]
    computed: int = 0
    reused: int = 0
    edges: list[EdgeHit] = field(default_factory=list)
    n_pruned: int = 0  # candidates stopped after their first folds (tpe)

    @property
    def best_index(self) -> int:
        if "iter" in self.cv_results:
            return last_iteration_best(self.cv_results)
        return int(self.cv_results[f"rank_test_{self.refit_metric}"].argmin())

    @property
    def best_params(self) -> dict[str, Any]:
        return self.cv_results["params"][self.best_index]

    @property
    def best_score(self) -> float:
        return float(self.cv_results[f"mean_test_{self.refit_metric}"][self.best_index])

    @property
    def n_candidates(self) -> int:
        return len(self.cv_results["params"])

    @property
    def label(self) -> str:
        """How the refit score reads to people: "RMSE" for neg_mean_squared_error, etc."""
        return display_score(self.scoring, -1.0)[0]

    @property
    def lower_is_better(self) -> bool:
        return lower_is_better(self.scoring)

    def raw_mean(self, index: int, part: str = "test") -> float:
        return float(self.cv_results[f"mean_{part}_{self.refit_metric}"][index])

    def display_mean(self, index: int, part: str = "test") -> float:
        """The mean CV score as people read it (the seed's sqrt(-mean) for neg MSE)."""
        return display_score(self.scoring, self.raw_mean(index, part))[1]

    def display_fold_std(self, index: int) -> float:
        """Spread of the per-fold scores, each in display units."""
        folds = [self.cv_results[f"split{k}_test_{self.refit_metric}"][index] for k in range(self.n_splits)]
        return float(np.std([display_score(self.scoring, f)[1] for f in folds]))

    def decimals(self, indices: Sequence[int] | None = None) -> int:
        """How many decimals this search's scores need to be told apart (see ``score_decimals``)."""
        chosen = range(self.n_candidates) if indices is None else indices
        kept = [i for i in chosen if not self.is_pruned(i)]
        return score_decimals([self.display_fold_std(i) for i in kept], [self.display_mean(i) for i in kept])

    def is_pruned(self, index: int) -> bool:
        return "pruned" in self.cv_results and bool(self.cv_results["pruned"][index])

    @property
    def has_train_scores(self) -> bool:
        return f"mean_train_{self.refit_metric}" in self.cv_results


def _scoring_name(scoring: Any, refit_metric: str) -> str | None:
    if isinstance(scoring, str):
        return scoring
    if isinstance(scoring, list | tuple | dict):
        return refit_metric
    return None


def summarize(model: str, search: Any, strategy: str) -> SearchSummary:
    """A live search (GridSearch / RandomSearch after fit)."""
    return SearchSummary(
        model,
        search.study_name_,
        strategy,
        _scoring_name(search.scoring, search.refit_metric_),
        search.refit_metric_,
        search.n_splits_,
        search.cv_results_,
        search.n_fits_computed_,
        search.n_fits_reused_,
        list(search.edges_),
        search.n_pruned_,
    )


def read_summary(storage: Any, study: str) -> SearchSummary:
    """A study read back from the store; unfinished fits are an error that says how to finish them."""
    candidates, attrs, folds = stored_study(storage, study)
    pruned = stored_pruned(storage, study)
    n_splits = int(attrs["n_splits"])
    expected = [(c, f) for c in range(len(candidates)) if c not in pruned for f in range(n_splits)]
    missing = sum(1 for key in expected if key not in folds)
    if missing:
        raise StoreError(
            f"study {study!r} has {missing} of {len(expected)} fits unfinished; "
            "rerun `hone tune` with the same config to finish it"
        )
    metrics = list(attrs["metrics"])
    results = build_cv_results(candidates, folds, n_splits, metrics, bool(attrs["return_train_score"]))
    for key in ("iter", "n_resources"):  # successive halving's iterations
        if len(attrs.get(key, ())) == len(candidates):
            results[key] = np.asarray(attrs[key])
    if attrs["strategy"] == "tpe":
        results["pruned"] = np.array([c in pruned for c in range(len(candidates))])
    refit_metric = attrs["refit_metric"]
    summary = SearchSummary(
        attrs.get("model", study),
        study,
        attrs["strategy"],
        _scoring_name(attrs.get("scoring"), refit_metric),
        refit_metric,
        n_splits,
        results,
        0,
        len(folds),
        n_pruned=len(pruned),
    )
    summary.edges = find_edges(candidates, summary.best_params)
    return summary
