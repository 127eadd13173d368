"""k-NN candidates share one neighbour query per fold and still score exactly like scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.parity import assert_same_results
from scipy.stats import randint
from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from threadpoolctl import threadpool_limits

import hone
from hone.search.families.neighbors import NeighborLists, first_ties, tied_rows
from hone.search.fitting import FoldContext, fit_and_score, fold_data
from hone.search.plan import PLANNER, configure, plan
from hone.search.scoring import resolve_scoring
from hone.search.space import grid_candidates

# A sharing family that falls back to independent fits would pass on scores alone: make it fail here.
pytestmark = pytest.mark.filterwarnings("error::hone.search.plan.SharingFallbackWarning")


WEIGHTS = ["uniform", "distance"]


@pytest.fixture(autouse=True)
def _one_openmp_thread():
    # sklearn's brute-force k-NN spins OpenMP threads; on a busy small machine that makes these tiny
    # queries 10-50x slower. Both searches of a test run under the same limit, so parity is unaffected.
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def _split_scores(search) -> dict[str, np.ndarray]:
    return {k: v for k, v in search.cv_results_.items() if k.startswith("split")}


def _with_duplicates(X: np.ndarray, y: np.ndarray, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Real rows plus exact copies of some of them (other targets): exact distance ties for some rows."""
    rng = np.random.default_rng(7)
    copies = rng.choice(n, size=n // 2, replace=False)
    X_all = np.vstack([X[:n], X[copies], X[copies[:40]]])
    y_all = np.concatenate([y[:n], y[copies] * 1.1, y[copies[:40]] * 0.9])
    order = rng.permutation(len(y_all))
    return X_all[order], y_all[order]


def _integer_data(n: int = 240) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.integers(0, 4, size=(n, 3)).astype(float)
    return X, X.sum(axis=1) + rng.normal(size=n)


def _run_family(models, X, y, *, return_train_score: bool, scoring="neg_mean_squared_error", n_splits=4):
    train, test = next(KFold(n_splits).split(X))
    data = fold_data(X, y, train, test)
    scorers = resolve_scoring(models[0], scoring, False).scorers
    context = FoldContext(scorers, 0, return_train_score, np.nan)
    return data, context, NeighborLists().run(list(enumerate(models)), data, context, PLANNER)


def _count_real_queries(monkeypatch, cls) -> list[tuple[int, int]]:
    """Record (rows, n_neighbors) of every real kneighbors call on ``cls``."""
    calls: list[tuple[int, int]] = []
    real = cls.kneighbors

    def counting(self, X=None, n_neighbors=None, return_distance=True):
        calls.append((len(X), n_neighbors or self.n_neighbors))
        return real(self, X, n_neighbors, return_distance)

    monkeypatch.setattr(cls, "kneighbors", counting)
    return calls


def test_key_groups_only_plain_knn_differing_in_k_and_weights():
    family = NeighborLists()
    base = family.key(KNeighborsRegressor(n_neighbors=3))
    assert base is not None
    assert family.key(KNeighborsRegressor(n_neighbors=17, weights="distance")) == base
    assert family.key(KNeighborsRegressor(p=1)) != base
    assert family.key(KNeighborsRegressor(algorithm="kd_tree")) != base
    assert family.key(KNeighborsClassifier(n_neighbors=3)) not in (None, base)
    assert family.key(KNeighborsRegressor(weights=lambda d: 1.0 / (1.0 + d))) is None

    class Custom(KNeighborsRegressor):
        pass

    assert family.key(Custom()) is None
    assert family.units(KNeighborsRegressor(), PLANNER) == 1.0
    nine, two = [KNeighborsRegressor()] * 9, [KNeighborsRegressor()] * 2
    assert family.cost(nine, PLANNER) > family.cost(two, PLANNER)


def test_regression_grid_with_train_scores_is_exact(housing_slice):
    X, y = housing_slice
    grid = {"n_neighbors": list(range(1, 31)), "weights": WEIGHTS}
    settings = dict(cv=3, scoring="neg_mean_squared_error", return_train_score=True)
    theirs = GridSearchCV(KNeighborsRegressor(), grid, **settings).fit(X, y)
    ours = hone.GridSearch(KNeighborsRegressor(), grid, **settings).fit(X, y)
    assert_same_results(ours, theirs)
    for key, values in _split_scores(theirs).items():  # not just close: the very same numbers
        np.testing.assert_array_equal(_split_scores(ours)[key], values, err_msg=key)


def test_classifier_multimetric_is_exact(housing_slice):
    X, y = housing_slice
    labels = (y > np.median(y)).astype(int)
    grid = {"n_neighbors": [1, 2, 5, 9, 16, 25], "weights": WEIGHTS}
    settings = dict(cv=3, scoring=["accuracy", "roc_auc", "neg_log_loss"], refit="accuracy")
    theirs = GridSearchCV(KNeighborsClassifier(), grid, **settings).fit(X, labels)
    ours = hone.GridSearch(KNeighborsClassifier(), grid, **settings).fit(X, labels)
    assert_same_results(ours, theirs)
    np.testing.assert_array_equal(ours.predict_proba(X[:30]), theirs.predict_proba(X[:30]))


def test_random_search_is_exact(housing_slice):
    X, y = housing_slice
    space = {"n_neighbors": randint(1, 40), "weights": WEIGHTS}
    settings = dict(n_iter=10, cv=3, random_state=5, scoring="r2")
    theirs = RandomizedSearchCV(KNeighborsRegressor(algorithm="kd_tree"), space, **settings).fit(X, y)
    ours = hone.RandomSearch(KNeighborsRegressor(algorithm="kd_tree"), space, **settings).fit(X, y)
    assert_same_results(ours, theirs)


def test_tie_detection_is_needed_and_sufficient():
    # On tied data the first k of a K-list differ from a k-query; every such row must be flagged.
    X, y = _integer_data()
    width = 20
    for algorithm in ("brute", "kd_tree"):
        differing = 0
        model = KNeighborsRegressor(algorithm=algorithm).fit(X[:160], y[:160])
        dist, ind = model.kneighbors(X[160:], n_neighbors=width)
        first_tie = first_ties(dist)
        for k in range(1, width + 1):
            flagged = set(tied_rows(first_tie, k, width).tolist())
            own = model.kneighbors(X[160:], n_neighbors=k, return_distance=False)
            wrong = set(np.flatnonzero((own != ind[:, :k]).any(axis=1)).tolist())
            assert wrong <= flagged, (algorithm, k)
            differing += len(wrong)
        assert differing > 0, "the data has no ties that matter: the test proves nothing"
    assert len(tied_rows(first_tie, width, width)) == 0  # k == K is the very same query


@pytest.mark.parametrize("algorithm", ["brute", "kd_tree", "ball_tree"])
@pytest.mark.parametrize("tied", ["duplicates", "integers"])
def test_tied_data_matches_gridsearchcv(housing_slice, algorithm, tied):
    X, y = _with_duplicates(*housing_slice) if tied == "duplicates" else _integer_data()
    grid = {"n_neighbors": [1, 2, 3, 4, 6, 9, 13, 20], "weights": WEIGHTS}
    settings = dict(cv=4, scoring="neg_mean_absolute_error", return_train_score=True)
    theirs = GridSearchCV(KNeighborsRegressor(algorithm=algorithm), grid, **settings).fit(X, y)
    ours = hone.GridSearch(KNeighborsRegressor(algorithm=algorithm), grid, **settings).fit(X, y)
    assert_same_results(ours, theirs)
    for key, values in _split_scores(theirs).items():
        np.testing.assert_array_equal(_split_scores(ours)[key], values, err_msg=key)


@pytest.mark.parametrize("algorithm", ["brute", "kd_tree"])
def test_family_scores_equal_independent_fits_on_tied_data(housing_slice, monkeypatch, algorithm):
    X, y = _with_duplicates(*housing_slice)
    labels = (y > np.median(y)).astype(int)
    grid = [{"n_neighbors": k, "weights": w} for k in (1, 2, 3, 5, 8, 13) for w in WEIGHTS]
    models = configure(KNeighborsClassifier(algorithm=algorithm), grid)
    calls = _count_real_queries(monkeypatch, KNeighborsClassifier)
    data, context, results = _run_family(
        models, X, labels, return_train_score=True, scoring=["accuracy", "neg_log_loss"]
    )
    shared_calls = list(calls)
    n_test = len(data.y_test)
    assert shared_calls[0] == (n_test, 13)  # the shared query, with the largest k
    if algorithm == "brute":  # tied members query for themselves, on the whole X
        assert any(n == n_test and k < 13 for n, k in shared_calls)
    else:  # only the tied rows are queried again
        assert any(n < n_test for n, _ in shared_calls)
    monkeypatch.undo()
    for (index, model), result in zip(enumerate(models), results, strict=True):
        alone = fit_and_score(model, data, context, candidate=index)
        assert result.candidate == index
        assert result.test_scores == alone.test_scores, grid[index]
        assert result.train_scores == alone.train_scores, grid[index]
        assert result.fit_time > 0 and result.score_time > 0


def test_one_query_per_fold_and_share_false_is_identical(housing_slice, monkeypatch):
    X, y = housing_slice
    grid = {"n_neighbors": list(range(1, 21)), "weights": WEIGHTS}
    models = configure(KNeighborsRegressor(algorithm="brute"), grid_candidates(grid))
    groups = plan(models)
    assert [group.family for group in groups] == ["neighbors"]
    assert sorted(groups[0].indices) == list(range(40))
    assert all(group.family == "independent" for group in plan(models, share=False))

    calls = _count_real_queries(monkeypatch, KNeighborsRegressor)
    _, _, results = _run_family(models, X, y, return_train_score=True)
    assert sorted(calls) == [(300, 20), (900, 20)]  # one test query, one train query, with the largest k
    assert [r.candidate for r in results] == list(range(40))
    monkeypatch.undo()

    settings = dict(cv=3, scoring="neg_mean_squared_error", return_train_score=True)
    shared = hone.GridSearch(KNeighborsRegressor(algorithm="brute"), grid, **settings).fit(X, y)
    alone = hone.GridSearch(KNeighborsRegressor(algorithm="brute"), grid, share=False, **settings).fit(X, y)
    for key, values in _split_scores(alone).items():
        np.testing.assert_array_equal(_split_scores(shared)[key], values, err_msg=key)


def test_auto_algorithm_subgroups_by_resolved_method(housing_slice, monkeypatch):
    # 8 features and 60 training rows per fold: k < 30 resolves to kd_tree, k >= 30 to brute.
    X, y = housing_slice[0][:90, :8], housing_slice[1][:90]
    grid = {"n_neighbors": [1, 4, 12, 29, 30, 45, 60], "weights": WEIGHTS}
    methods = {KNeighborsRegressor(n_neighbors=k).fit(X[:60], y[:60])._fit_method for k in (29, 30)}
    assert methods == {"kd_tree", "brute"}
    calls = _count_real_queries(monkeypatch, KNeighborsRegressor)
    models = configure(KNeighborsRegressor(), grid_candidates(grid))
    _run_family(models, X, y, return_train_score=False, n_splits=3)
    assert sorted(k for _, k in calls) == [29, 60]  # one query per resolved method
    monkeypatch.undo()
    settings = dict(cv=3, return_train_score=True)
    theirs = GridSearchCV(KNeighborsRegressor(), grid, **settings).fit(X, y)
    ours = hone.GridSearch(KNeighborsRegressor(), grid, **settings).fit(X, y)
    assert_same_results(ours, theirs)


def test_too_large_k_fails_like_sklearn(housing_slice):
    X, y = housing_slice[0][:60], housing_slice[1][:60]
    grid = {"n_neighbors": [3, 10, 45], "weights": WEIGHTS}  # 40 training rows per fold: k=45 cannot score
    with pytest.warns(UserWarning):
        theirs = GridSearchCV(KNeighborsRegressor(), grid, cv=3).fit(X, y)
    ours = hone.GridSearch(KNeighborsRegressor(), grid, cv=3).fit(X, y)
    assert np.isnan(ours.cv_results_["mean_test_score"][-1])
    assert_same_results(ours, theirs)
