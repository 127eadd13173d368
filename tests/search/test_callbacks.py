"""scikit-learn 1.9's fit callbacks on hone's searches: they are told what sklearn's searches tell them."""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pytest
from scipy.stats import randint
from sklearn.callback import FitCallback, ProgressBar
from sklearn.ensemble import RandomForestRegressor
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    HalvingRandomSearchCV,
    RandomizedSearchCV,
)
from sklearn.tree import DecisionTreeRegressor

import hone


def _path(context) -> tuple[int, ...]:
    ids = []
    while context is not None:
        ids.append(context.task_id)
        context = context.parent
    return tuple(reversed(ids))


class Recorder(FitCallback):
    """Every hook call, with the task's place in the tree and the shapes of what it was given."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def setup(self, estimator, context) -> None:
        self.events.append(("setup", (), context.task_name, None, None, None))

    def teardown(self, estimator, context) -> None:
        self.events.append(("teardown", (), context.task_name, None, None, None))

    def _record(self, hook, context, X, y, metadata) -> None:
        shapes = tuple(None if v is None else np.shape(v) for v in (X, y))
        weights = None if metadata is None else np.shape(metadata["sample_weight"])
        self.events.append((hook, _path(context), context.task_name, context.max_subtasks, shapes, weights))

    def on_fit_task_begin(self, estimator, context, *, X=None, y=None, metadata=None) -> None:
        self._record("begin", context, X, y, metadata)

    def on_fit_task_end(self, estimator, context, *, X=None, y=None, metadata=None) -> None:
        self._record("end", context, X, y, metadata)


class PropagatedRecorder(Recorder):
    """Auto-propagated: sklearn hands it down to the estimators it fits, when they take callbacks."""

    max_propagation_depth = None


def assert_same_calls(ours: Recorder, theirs: Recorder) -> None:
    # The same calls; hone's fits come back in another order (shared groups, largest first).
    assert Counter(ours.events) == Counter(theirs.events)
    assert ours.events[:3] == theirs.events[:3]  # setup, then the root and the first task begin
    assert ours.events[-2:] == theirs.events[-2:]  # the root ends, then teardown
    begun = set()
    for hook, path, *_ in ours.events:
        if hook == "begin":
            assert path[:-1] in begun or len(path) == 1, f"{path} began before its parent"
            begun.add(path)
        elif hook == "end":
            assert path in begun, f"{path} ended before it began"


@pytest.fixture()
def rows(housing_slice):
    X, y = housing_slice
    return X[:240], y[:240]


GRID = {"max_depth": [2, 4, 8], "splitter": ["best", "random"]}


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_grid_search_tells_callbacks_what_gridsearchcv_tells(rows, n_jobs):
    X, y = rows
    weights = np.linspace(0.5, 1.5, len(y))
    theirs, ours = Recorder(), Recorder()
    model = DecisionTreeRegressor(random_state=0)
    GridSearchCV(model, GRID, cv=3).set_callbacks(theirs).fit(X, y, sample_weight=weights)
    # Reported from hone's main process, so the calls reach the callback even with workers.
    hone.GridSearch(model, GRID, cv=3, n_jobs=n_jobs).set_callbacks(ours).fit(X, y, sample_weight=weights)
    assert len([e for e in theirs.events if e[2] == "candidate-split-evaluation"]) == 2 * 6 * 3
    assert_same_calls(ours, theirs)


def test_random_search_without_refit(rows):
    X, y = rows
    space = {"max_depth": randint(1, 9), "min_samples_leaf": randint(1, 20)}
    settings = dict(n_iter=5, cv=4, random_state=3, refit=False)
    theirs, ours = Recorder(), Recorder()
    model = DecisionTreeRegressor(random_state=0)
    RandomizedSearchCV(model, space, **settings).set_callbacks(theirs).fit(X, y)
    hone.RandomSearch(model, space, **settings).set_callbacks(ours).fit(X, y)
    assert not any(e[2] == "refit-with-best-params" for e in ours.events)
    assert_same_calls(ours, theirs)


def test_halving_over_rows_reports_each_iteration(rows):
    X, y = rows
    settings = dict(cv=3, factor=2, random_state=0)
    theirs, ours = Recorder(), Recorder()
    model = DecisionTreeRegressor(random_state=0)
    HalvingGridSearchCV(model, GRID, **settings).set_callbacks(theirs).fit(X, y)
    search = hone.HalvingGridSearch(model, GRID, **settings).set_callbacks(ours).fit(X, y)
    iterations = [e for e in ours.events if e[0] == "begin" and e[2] == "halving-iteration"]
    assert len(iterations) == search.n_iterations_ > 1
    assert_same_calls(ours, theirs)  # the leaves' X: each iteration's subsampled training rows


def test_halving_over_n_estimators_and_a_resumed_run(tmp_path, rows):
    X, y = rows
    space = {"max_features": randint(1, 9), "min_samples_leaf": randint(1, 9)}
    settings = dict(resource="n_estimators", max_resources=12, n_candidates=6, cv=3, random_state=1)
    model = RandomForestRegressor(random_state=0)
    theirs = Recorder()
    HalvingRandomSearchCV(model, space, **settings).set_callbacks(theirs).fit(X, y)
    db = tmp_path / "store.db"
    for run in range(2):
        ours = Recorder()
        search = hone.HalvingRandomSearch(model, space, store=db, **settings).set_callbacks(ours).fit(X, y)
        assert search.n_fits_computed_ == (0 if run else search.n_fits_reused_ + search.n_fits_computed_)
        # A resumed run reads its fits from the store, and still reports each of them.
        assert_same_calls(ours, theirs)


def test_auto_propagated_callbacks_reach_the_refit_but_not_the_candidates_fits(rows):
    # The one difference, documented: sklearn also hands auto-propagated callbacks to each candidate's
    # own fit when the estimator takes callbacks (LogisticRegression does), which then reports its own
    # tasks in place of the fit's leaf. hone reports the leaf (its fits may be shared or come from the
    # store); the refit estimator gets them, as in sklearn.
    X, y = rows
    labels = (y > np.median(y)).astype(int)
    grid = {"C": [0.1, 1.0]}
    theirs, ours = PropagatedRecorder(), PropagatedRecorder()
    GridSearchCV(LogisticRegression(), grid, cv=3).set_callbacks(theirs).fit(X, labels)
    hone.GridSearch(LogisticRegression(), grid, cv=3).set_callbacks(ours).fit(X, labels)
    leaves = [e for e in ours.events if e[2] == "candidate-split-evaluation"]
    assert len(leaves) == 2 * (2 * 3)  # begin and end of each fit

    def refit(events):
        return [e for e in events if e[1][:2] == (0, 1)]

    def search_level(events):
        return [e for e in events if len(e[1]) <= 2 and e[1][:2] != (0, 1)]

    assert len(refit(theirs.events)) > 2  # the refit LogisticRegression reports its own tasks ...
    assert refit(ours.events) == refit(theirs.events)  # ... under hone too
    assert search_level(ours.events) == search_level(theirs.events)


def test_progress_bar_runs_on_every_search(rows, capsys):
    X, y = rows
    model = DecisionTreeRegressor(random_state=0)
    searches = [
        hone.GridSearch(model, GRID, cv=3),
        hone.RandomSearch(model, GRID, n_iter=3, cv=3, random_state=0),
        hone.HalvingGridSearch(model, GRID, cv=3, factor=2, random_state=0),
        hone.HalvingRandomSearch(model, GRID, cv=3, factor=2, random_state=0),
    ]
    for search in searches:
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore"
            )  # the refit tree takes no callbacks: sklearn warns, as for its own
            search.set_callbacks(ProgressBar()).fit(X, y)
        shown = capsys.readouterr().out
        assert f"{type(search).__name__} - fit" in shown and "100%" in shown
        assert not hasattr(search, "_callback_fit_ctx")  # torn down


def test_set_callbacks_refuses_what_is_not_a_callback():
    with pytest.raises(TypeError, match="FitCallback"):
        hone.GridSearch(DecisionTreeRegressor(), GRID).set_callbacks(object())
