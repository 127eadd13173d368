"""Where fold results go the moment they finish: memory, or an Optuna study in the project database.

Each candidate is one Optuna trial. Each finished fold is one user attribute ``fold.<k>`` written in
its own transaction (so a killed run loses only the fits in flight), plus the fold's refit score as
an intermediate value so Optuna's plots show it. A candidate whose folds are all in is COMPLETE with
its mean score as the trial value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, Protocol

from hone.errors import StoreError
from hone.search.fitting import FoldResult

Params = dict[str, Any]
_PLAIN = (type(None), bool, int, float, str)


def plain_value(value: Any) -> Any:
    """A JSON-friendly form of a parameter value (numpy scalars become Python numbers)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value)
    return {"repr": repr(value)}


def encode_params(params: Params) -> str:
    return json.dumps({k: plain_value(v) for k, v in params.items()}, sort_keys=False)


def decode_params(text: str) -> Params:
    return {k: (v["repr"] if isinstance(v, dict) else v) for k, v in json.loads(text).items()}


def _among(value: Any, choices: Sequence[Any]) -> bool:
    return any(type(c) is type(value) and c == value for c in choices)


class TrialLog(Protocol):
    """What the engine needs from a store of fold results."""

    def load(self) -> dict[tuple[int, int], FoldResult]: ...

    def record(self, result: FoldResult) -> None: ...

    def complete(self, candidate: int, score: float) -> None: ...

    def prune(self, candidate: int) -> None:
        """The candidate was stopped before its last folds (its remaining folds will never run)."""

    def add_candidates(self, candidates: Sequence[Params], start: int) -> None:
        """Candidates ``start``, ``start + 1``, ... join the search (a strategy's next batch)."""

    def note(self, key: str, value: Any) -> None:
        """Keep something a strategy knows about its candidates (halving: each one's iteration)."""


class MemoryTrialLog:
    """No persistence: the default when no store is given."""

    def __init__(self) -> None:
        self.results: dict[tuple[int, int], FoldResult] = {}

    def load(self) -> dict[tuple[int, int], FoldResult]:
        return dict(self.results)

    def record(self, result: FoldResult) -> None:
        self.results[result.candidate, result.fold] = result

    def complete(self, candidate: int, score: float) -> None:
        pass

    def prune(self, candidate: int) -> None:
        pass

    def add_candidates(self, candidates: Sequence[Params], start: int) -> None:
        pass

    def note(self, key: str, value: Any) -> None:
        pass


class OptunaTrialLog:
    """Fold results as trials of an Optuna study; reopening the same study resumes it."""

    def __init__(
        self,
        storage: Any,
        study_name: str,
        candidates: Sequence[Params],
        fingerprint: str,
        attrs: dict[str, Any],
        run_id: str,
    ) -> None:
        import optuna

        self._optuna = optuna
        self.storage = storage
        self.study_name = study_name
        self.candidates = list(candidates)
        self.run_id = run_id
        self._distributions = self._categorical_distributions()
        try:
            self.study_id = storage.get_study_id_from_name(study_name)
        except KeyError:
            self.study_id = storage.create_new_study([optuna.study.StudyDirection.MAXIMIZE], study_name)
            storage.set_study_user_attr(self.study_id, "hone.fingerprint", fingerprint)
            storage.set_study_user_attr(
                self.study_id, "hone.candidates", [encode_params(c) for c in self.candidates]
            )
            for key, value in attrs.items():
                storage.set_study_user_attr(self.study_id, f"hone.{key}", value)
        stored = storage.get_study_user_attrs(self.study_id).get("hone.fingerprint")
        if stored != fingerprint:
            raise StoreError(
                f"study {study_name!r} already holds a different search (other data, candidates, cv or "
                "scoring); pick another study name"
            )
        self._trial_ids: dict[int, int] = {}

    def add_candidates(self, candidates: Sequence[Params], start: int) -> None:
        """Record the batch; a resumed run must propose what the stored run proposed, in the same order."""
        stored = self.storage.get_study_user_attrs(self.study_id).get("hone.candidates", [])
        encoded = [encode_params(c) for c in candidates]
        known = stored[start : start + len(encoded)]
        if known != encoded[: len(known)]:
            raise StoreError(
                f"study {self.study_name!r} holds other candidates at positions {start}+ than this run "
                "proposes (a strategy that is not reproducible?); pick another study name"
            )
        if start != len(self.candidates):
            raise StoreError(f"candidates are added in order: expected {len(self.candidates)}, got {start}")
        self.candidates.extend(candidates)
        for name, distribution in self._categorical_distributions().items():
            self._distributions.setdefault(name, distribution)
        if len(stored) < start + len(encoded):
            self.storage.set_study_user_attr(self.study_id, "hone.candidates", stored[:start] + encoded)

    def note(self, key: str, value: Any) -> None:
        self.storage.set_study_user_attr(self.study_id, f"hone.{key}", value)

    def _categorical_distributions(self) -> dict[str, Any]:
        # Optuna needs a distribution per parameter; the values actually tried make a categorical one.
        # Values Optuna cannot hold (estimators, arrays) stay only in the candidate list.
        choices: dict[str, list[Any]] = {}
        opaque: set[str] = set()
        for params in self.candidates:
            for name, value in params.items():
                plain = plain_value(value)
                if not isinstance(plain, _PLAIN):
                    opaque.add(name)
                    continue
                bucket = choices.setdefault(name, [])
                if not any(type(c) is type(plain) and c == plain for c in bucket):
                    bucket.append(plain)
        return {
            name: self._optuna.distributions.CategoricalDistribution(values)
            for name, values in choices.items()
            if name not in opaque
        }

    def load(self) -> dict[tuple[int, int], FoldResult]:
        results = {}
        for trial in self.storage.get_all_trials(self.study_id, deepcopy=False):
            candidate = trial.user_attrs.get("hone.candidate")
            if candidate is None:
                continue
            self._trial_ids[candidate] = trial._trial_id
            for key, record in trial.user_attrs.items():
                if key.startswith("fold."):
                    fold = int(key.split(".", 1)[1])
                    results[candidate, fold] = FoldResult.from_record(candidate, fold, record)
        return results

    def _trial_for(self, candidate: int) -> int:
        if candidate in self._trial_ids:
            return self._trial_ids[candidate]
        trial_id = self.storage.create_new_trial(self.study_id)
        self.storage.set_trial_user_attr(trial_id, "hone.candidate", candidate)
        for name, value in self.candidates[candidate].items():
            distribution = self._distributions.get(name)
            if distribution is not None and _among(plain_value(value), distribution.choices):
                internal = distribution.to_internal_repr(plain_value(value))
                self.storage.set_trial_param(trial_id, name, internal, distribution)
        self._trial_ids[candidate] = trial_id
        return trial_id

    def record(self, result: FoldResult) -> None:
        trial_id = self._trial_for(result.candidate)
        record = result.to_record() | {"run": self.run_id}
        self.storage.set_trial_user_attr(trial_id, f"fold.{result.fold}", record)
        first = next(iter(result.test_scores.values()))
        if math.isfinite(first):
            self.storage.set_trial_intermediate_value(trial_id, result.fold, first)

    def complete(self, candidate: int, score: float) -> None:
        trial_id = self._trial_for(candidate)
        state = self._optuna.trial.TrialState
        if self.storage.get_trial(trial_id).state.is_finished():
            return
        if math.isfinite(score):
            self.storage.set_trial_state_values(trial_id, state.COMPLETE, [score])
        else:
            self.storage.set_trial_state_values(trial_id, state.FAIL)

    def prune(self, candidate: int) -> None:
        trial_id = self._trial_for(candidate)
        if not self.storage.get_trial(trial_id).state.is_finished():
            self.storage.set_trial_state_values(trial_id, self._optuna.trial.TrialState.PRUNED)


def stored_study(
    storage: Any, study_name: str
) -> tuple[list[Params], dict[str, Any], dict[tuple[int, int], FoldResult]]:
    """A study's candidates, hone attributes and fold results, read back from the store."""
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:
        raise StoreError(f"no study named {study_name!r} in the store") from None
    attrs = storage.get_study_user_attrs(study_id)
    if "hone.candidates" not in attrs:
        raise StoreError(f"study {study_name!r} was not written by hone")
    candidates = [decode_params(text) for text in attrs["hone.candidates"]]
    results: dict[tuple[int, int], FoldResult] = {}
    for trial in storage.get_all_trials(study_id, deepcopy=False):
        candidate = trial.user_attrs.get("hone.candidate")
        for key, record in trial.user_attrs.items():
            if candidate is not None and key.startswith("fold."):
                fold = int(key.split(".", 1)[1])
                results[candidate, fold] = FoldResult.from_record(candidate, fold, record)
    hone_attrs = {k[5:]: v for k, v in attrs.items() if k.startswith("hone.")}
    return candidates, hone_attrs, results


def stored_pruned(storage: Any, study_name: str) -> set[int]:
    """The candidates of a study that were pruned (stopped before their last folds)."""
    import optuna

    study_id = storage.get_study_id_from_name(study_name)
    pruned = storage.get_all_trials(study_id, deepcopy=False, states=(optuna.trial.TrialState.PRUNED,))
    return {t.user_attrs["hone.candidate"] for t in pruned if "hone.candidate" in t.user_attrs}
