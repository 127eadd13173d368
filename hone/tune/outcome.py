"""What `hone tune` hands back: each model's searches (rounds) and the run's split, ready to print."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hone.config.schema import SearchSettings
from hone.search.estimators import BaseSearch
from hone.search.space import EdgeHit, find_edges


@dataclass
class ModelOutcome:
    """One model's searches: the first round and any rounds that widened the grid past its edge."""

    name: str
    settings: SearchSettings
    rounds: list[BaseSearch] = field(default_factory=list)

    @property
    def search(self) -> BaseSearch:
        """The round whose best candidate scored highest."""
        return max(self.rounds, key=lambda s: s.best_score_)

    @property
    def tried(self) -> list[dict[str, Any]]:
        return [params for search in self.rounds for params in search.cv_results_["params"]]

    @property
    def edges(self) -> list[EdgeHit]:
        """Edges of the overall best against every value tried in any round."""
        return find_edges(self.tried, self.search.best_params_)


@dataclass
class TuneOutcome:
    run_id: int
    split_recorded: bool
    n_train: int
    n_test: int
    feature_names: list[str]
    models: list[ModelOutcome]
    budget: Any = None  # a hone.tune.budget.BudgetSummary when searched within a time budget
