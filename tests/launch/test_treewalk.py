"""The compiled tree walk reaches scikit-learn's leaves and sums them as a one-job forest, bit for bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.pipeline import Pipeline

from hone.data import PrepareSpec, build_preparation
from hone.data.schema import FeatureSchema
from hone.launch import treewalk
from hone.launch.predictor import WALK_FROM, ForestTables, compile_predictor, describe
from hone.launch.treewalk import TreeWalk, round_down_to_float32

TARGET = "median_house_value"
SPEC = PrepareSpec(categorical=["ocean_proximity"], derived={"rooms_per_hhold": "total_rooms / households"})
N_FIT = 1500


@pytest.fixture(scope="module")
def prepared(housing_split) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prepared training rows, their target, and 4,003 other rows (not a multiple of 8: the tail walks)."""
    train = housing_split.train
    preparation = build_preparation(SPEC, train, TARGET).fit(train.drop(columns=TARGET).iloc[:N_FIT])
    matrix = preparation.transform(train.drop(columns=TARGET))
    return matrix[:N_FIT], train[TARGET].to_numpy()[:N_FIT], matrix[N_FIT : N_FIT + 4003]


def walk_of(forest, width: int = 1, **options) -> TreeWalk:
    return TreeWalk([tree.tree_ for tree in forest.estimators_], width, **options)


REGRESSORS = {
    "random forest": lambda: RandomForestRegressor(n_estimators=12, max_features=5, random_state=0),
    "extra trees": lambda: ExtraTreesRegressor(n_estimators=8, random_state=0),
    # Best-first growth numbers nodes in another order than depth-first.
    "max_leaf_nodes": lambda: RandomForestRegressor(n_estimators=6, max_leaf_nodes=200, random_state=0),
    "one shallow tree": lambda: RandomForestRegressor(n_estimators=1, max_depth=2, random_state=0),
}


@pytest.mark.parametrize("make", REGRESSORS.values(), ids=list(REGRESSORS))
def test_regressor_walk_is_bit_identical_to_the_forest(prepared, make) -> None:
    X, y, rows = prepared
    forest = make().fit(X, y)
    expected = forest.predict(rows)  # n_jobs=None: sklearn adds the trees in order

    for threads in (1, 2, 3):
        got = walk_of(forest, threads=threads).predict(rows.astype(np.float32))
        assert got.shape == (len(rows), 1)
        np.testing.assert_array_equal(got[:, 0], expected)
        # Blocks of 64 rows: many blocks per thread, each with a tail of fewer than eight rows.
        small_blocks = walk_of(forest, threads=threads, block_bytes=1).predict(rows.astype(np.float32))
        np.testing.assert_array_equal(small_blocks[:, 0], expected)


@pytest.mark.parametrize(
    "forest",
    [
        RandomForestClassifier(n_estimators=9, random_state=0),
        ExtraTreesClassifier(n_estimators=7, random_state=0),
    ],
    ids=["random forest", "extra trees"],
)
def test_classifier_walk_gives_the_forests_probabilities(prepared, forest) -> None:
    X, y, rows = prepared
    labels = np.digitize(y, np.quantile(y, [0.33, 0.66]))  # three classes
    forest.fit(X, labels)

    got = walk_of(forest, width=forest.n_classes_, threads=2).predict(rows.astype(np.float32))

    np.testing.assert_array_equal(got, forest.predict_proba(rows))


def test_values_at_a_threshold_go_where_sklearn_sends_them() -> None:
    # Thresholds are float64 midpoints; a float32 input can sit on, just under or just over one.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3)).astype(np.float32)
    y = X[:, 0] * 3 + np.sin(X[:, 1] * 5) + rng.normal(scale=0.1, size=400)
    forest = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y)
    tree = forest.estimators_[0].tree_
    inner = np.flatnonzero(tree.children_left != -1)[:60]
    edges = []
    for node in inner:
        at = np.float32(tree.threshold[node])
        for value in (np.nextafter(at, np.float32(-np.inf)), at, np.nextafter(at, np.float32(np.inf))):
            row = X[node % len(X)].copy()
            row[tree.feature[node]] = value
            edges.append(row)
    edges_matrix = np.array(edges, dtype=np.float32)

    got = walk_of(forest).predict(edges_matrix)[:, 0]

    np.testing.assert_array_equal(got, forest.predict(edges_matrix))


def test_a_walk_that_disagrees_with_the_trees_is_not_used(monkeypatch) -> None:
    # Break the walk on purpose (thresholds rounded to nearest): values on a threshold then go left.
    monkeypatch.setattr(treewalk, "round_down_to_float32", lambda threshold: threshold.astype(np.float32))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    forest = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, X[:, 0] + rng.normal(size=400))
    tree = forest.estimators_[0].tree_
    rounded_up = [
        n
        for n in np.flatnonzero(tree.children_left != -1)
        if np.float32(tree.threshold[n]) > tree.threshold[n]
    ]
    assert rounded_up
    rows = np.resize(X, (WALK_FROM, 3)).astype(np.float32)
    # A value on a threshold that float32 rounds up: sklearn sends it right, the broken walk left.
    for row, node in enumerate(rounded_up):
        rows[row] = X[0]
        rows[row, tree.feature[node]] = np.float32(tree.threshold[node])
    model = ForestTables(forest, walk=True)

    got = model.predict(rows.astype(np.float64))

    assert model.walk is None and "differed" in (model.walk_note or "")
    np.testing.assert_array_equal(got, forest.predict(rows))  # the trees' own sum answered


def test_thresholds_round_down_to_the_largest_float32_not_above_them() -> None:
    thresholds = np.array([0.5, 0.1, -0.1, 1e-45, 3.0e38, 1e300, -1e300, 2.0**-149 / 3])
    rounded = round_down_to_float32(thresholds)

    assert rounded.dtype == np.float32
    assert (rounded.astype(np.float64) <= thresholds).all()
    with np.errstate(over="ignore"):
        above = np.nextafter(rounded, np.float32(np.inf)).astype(np.float64)
    assert (above > thresholds).all()  # the next float32 up is already above: nothing larger fits
    assert rounded[0] == np.float32(0.5)  # exact ones stay


def housing_pipeline(
    housing_split, model, *, classes: bool = False
) -> tuple[Pipeline, FeatureSchema, pd.DataFrame]:
    train = housing_split.train
    X = train.drop(columns=TARGET)
    y = train[TARGET].iloc[:N_FIT]
    if classes:
        y = np.where(y > y.median(), "high", "low")
    pipeline = Pipeline([("prepare", build_preparation(SPEC, train, TARGET)), ("model", model)])
    pipeline.fit(X.iloc[:N_FIT], y)
    schema = FeatureSchema.from_frame(X, target=TARGET, imputed=["total_bedrooms"])
    return pipeline, schema, X.iloc[N_FIT : N_FIT + 2 * WALK_FROM + 5]


@pytest.mark.parametrize(
    ("model", "classes"),
    [
        (RandomForestRegressor(n_estimators=10, max_features=6, random_state=0), False),
        (RandomForestRegressor(n_estimators=10, random_state=0, n_jobs=2), False),
        (ExtraTreesClassifier(n_estimators=10, random_state=0), True),
    ],
    ids=["regressor", "regressor on two jobs", "classifier"],
)
def test_compiled_predictor_walks_big_batches_as_the_pipeline(housing_split, model, classes) -> None:
    pipeline, schema, rows = housing_pipeline(housing_split, model, classes=classes)
    predictor = compile_predictor(pipeline, schema, large_batches=True)
    frame = schema.check_frame(rows).frame

    assert predictor.compiled, predictor.reason
    got, expected = predictor.predict_frame(frame), pipeline.predict(frame)
    assert predictor.model.walk is not None, predictor.model.walk_note
    assert predictor.model.walk.threads == (2 if model.n_jobs == 2 else 1)
    if classes:
        np.testing.assert_array_equal(got, expected)
        assert set(got) == {"high", "low"}
    elif model.n_jobs is None:  # one job: the same additions in the same order
        np.testing.assert_array_equal(got, expected)
    else:  # two jobs: sklearn adds the trees in the order its threads finish
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    # Missing inputs are imputed by the preparation, so the walk takes those rows too.
    assert frame["total_bedrooms"].isna().any()


def test_compiled_predictor_walks_only_when_asked_and_only_big_batches(housing_split) -> None:
    pipeline, schema, rows = housing_pipeline(
        housing_split, RandomForestRegressor(n_estimators=3, random_state=0)
    )
    frame = schema.check_frame(rows).frame
    served, batch = (
        compile_predictor(pipeline, schema),
        compile_predictor(pipeline, schema, large_batches=True),
    )

    batch.predict_frame(frame.iloc[: WALK_FROM - 1])
    assert batch.model.walk is None  # numba is not even imported for small batches
    assert "no batch reached 2,048 rows" in describe(batch)
    batch.predict_frame(frame)
    assert batch.model.walk is not None and "walked by compiled code" in describe(batch)
    served.predict_frame(frame)
    assert served.model.walk is None  # the service never builds it
