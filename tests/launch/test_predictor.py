"""The compiled predictor gives the pipeline's predictions, on real fitted pipelines and housing rows."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingRegressor,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline

from hone.data import PrepareSpec, build_preparation
from hone.data.schema import FeatureSchema
from hone.errors import DataError
from hone.launch.predictor import compile_predictor, probe_records

TARGET = "median_house_value"
DERIVED = {
    "rooms_per_hhold": "total_rooms / households",
    "pop_per_hhold": "population / households",
    "bedrooms_per_room": "total_bedrooms / total_rooms",
}
BOOK_SPEC = PrepareSpec(categorical=["ocean_proximity"], derived=DERIVED)
N_FIT = 1500  # training rows for the small models; the rows after them are the requests


@pytest.fixture(scope="module")
def train(housing_split) -> pd.DataFrame:
    return housing_split.train


@pytest.fixture(scope="module")
def schema(train: pd.DataFrame) -> FeatureSchema:
    features = train.drop(columns=TARGET)
    return FeatureSchema.from_frame(features, target=TARGET, imputed=["total_bedrooms"])


@pytest.fixture(scope="module")
def records(train: pd.DataFrame) -> list[dict[str, Any]]:
    """300 request records the models have not seen, as JSON would bring them (None for missing)."""
    rows = train.drop(columns=TARGET).iloc[N_FIT : N_FIT + 300]
    return [{k: (None if pd.isna(v) else v) for k, v in record.items()} for record in rows.to_dict("records")]


def fitted(
    train: pd.DataFrame,
    model: Any,
    spec: PrepareSpec = BOOK_SPEC,
    *,
    classes: bool = False,
    extra: Any = None,
) -> Pipeline:
    """hone's registered shape, fitted on the first rows; ``extra`` is appended to the numeric block."""
    X = train.drop(columns=TARGET).iloc[:N_FIT]  # noqa: N806 - scikit-learn's naming
    y = train[TARGET].iloc[:N_FIT]
    if classes:  # a class target: is the district's price above the median?
        y = np.where(y > y.median(), "high", "low")
    preparation = build_preparation(spec, train, TARGET)
    if extra is not None:
        preparation.transformers[0][1].steps.append(("extra", extra))
    return Pipeline([("prepare", preparation), ("model", model)]).fit(X, y)


def assert_same_predictions(predictor: Any, pipeline: Pipeline, schema: FeatureSchema, records: list) -> None:
    """1 row, 5 rows, every row, and the frame path: as the pipeline predicts on the same rows."""
    rows = schema.check_records(records)
    frame = schema.frame_from_rows(rows)
    expected = pipeline.predict(frame)
    if predictor.compiled:  # both paths really are compiled, and prepare the ColumnTransformer's matrix
        np.testing.assert_array_equal(predictor.prepare_rows(rows), pipeline[0].transform(frame))
        np.testing.assert_array_equal(predictor.prepare_frame(frame), pipeline[0].transform(frame))
    got = {
        "1 row": (predictor.predict_rows(rows[:1]), expected[:1]),
        "5 rows": (predictor.predict_rows(rows[:5]), expected[:5]),
        "all rows": (predictor.predict_rows(rows), expected),
        "frame": (predictor.predict_frame(frame), expected),
    }
    for what, (predicted, wanted) in got.items():
        assert predicted.dtype.kind == wanted.dtype.kind, what
        if wanted.dtype.kind == "f":
            np.testing.assert_allclose(predicted, wanted, rtol=1e-9, atol=0, err_msg=what)
        else:
            np.testing.assert_array_equal(predicted, wanted, err_msg=what)


def with_each_category(schema: FeatureSchema, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per category the schema knows (ISLAND is one row in 1,500 of the fitted ones)."""
    categories = schema["ocean_proximity"].categories or ()
    return [{**records[i], "ocean_proximity": category} for i, category in enumerate(categories)]


def with_missing_bedrooms(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**record, "total_bedrooms": None} if i % 2 else record for i, record in enumerate(records[:20])]


MODELS = {
    "random forest": lambda: RandomForestRegressor(n_estimators=20, max_features=8, random_state=42),
    "extra trees": lambda: ExtraTreesRegressor(n_estimators=15, random_state=42),
    "gradient boosting": lambda: GradientBoostingRegressor(n_estimators=30, random_state=42),
    "hist gradient boosting": lambda: HistGradientBoostingRegressor(
        max_iter=10, max_leaf_nodes=15, random_state=42
    ),
    "ridge": lambda: Ridge(alpha=1.0),
    "k-nn": lambda: KNeighborsRegressor(n_neighbors=5),
}


@pytest.mark.parametrize("model", MODELS, ids=list(MODELS))
def test_regressors_predict_as_the_pipeline(train, schema, records, model) -> None:
    pipeline = fitted(train, MODELS[model]())
    predictor = compile_predictor(pipeline, schema)

    assert predictor.compiled, predictor.reason
    assert predictor.reason is None
    assert_same_predictions(predictor, pipeline, schema, records)
    assert_same_predictions(predictor, pipeline, schema, with_each_category(schema, records))
    assert_same_predictions(predictor, pipeline, schema, with_missing_bedrooms(records))


@pytest.mark.parametrize(
    "model",
    [
        RandomForestClassifier(n_estimators=15, random_state=42),
        ExtraTreesClassifier(n_estimators=10, random_state=42),
    ],
    ids=["random forest", "extra trees"],
)
def test_forest_classifiers_predict_the_pipelines_classes(train, schema, records, model) -> None:
    pipeline = fitted(train, model, classes=True)
    predictor = compile_predictor(pipeline, schema)

    assert predictor.compiled, predictor.reason
    assert set(predictor.predict_rows(schema.check_records(records))) == {"high", "low"}
    assert_same_predictions(predictor, pipeline, schema, records)
    assert_same_predictions(predictor, pipeline, schema, with_each_category(schema, records))
    assert_same_predictions(predictor, pipeline, schema, with_missing_bedrooms(records))


def test_forest_predictions_are_bit_identical(train, schema, records) -> None:
    pipeline = fitted(train, RandomForestRegressor(n_estimators=30, max_features=8, random_state=42))
    predictor = compile_predictor(pipeline, schema)
    rows = schema.check_records(with_missing_bedrooms(records) + records)
    frame = schema.frame_from_rows(rows)

    assert predictor.compiled, predictor.reason
    # The prepared matrix itself is the ColumnTransformer's, bit for bit (a split can hinge on one bit).
    np.testing.assert_array_equal(predictor.prepare_rows(rows), pipeline[0].transform(frame))
    np.testing.assert_array_equal(predictor.predict_rows(rows), pipeline.predict(frame))
    for row in rows[:20]:
        assert predictor.predict_rows([row])[0] == pipeline.predict(schema.frame_from_rows([row]))[0]


PREPARATIONS = {
    "min-max scaling": PrepareSpec(categorical=["ocean_proximity"], derived=DERIVED, scale="minmax"),
    "no derived features": PrepareSpec(categorical=["ocean_proximity"]),
    "ordinal encoding": PrepareSpec(categorical=["ocean_proximity"], derived=DERIVED, one_hot=False),
    "mean imputation, no scaling": PrepareSpec(categorical=["ocean_proximity"], impute="mean", scale="none"),
    "numbers passed through": PrepareSpec(categorical=["ocean_proximity"], impute="none", scale="none"),
}


@pytest.mark.parametrize("spec", PREPARATIONS, ids=list(PREPARATIONS))
def test_preparation_variants_compile_exactly(train, schema, records, spec) -> None:
    pipeline = fitted(train, RandomForestRegressor(n_estimators=10, random_state=0), PREPARATIONS[spec])
    predictor = compile_predictor(pipeline, schema)
    rows = schema.check_records(records)

    assert predictor.compiled, predictor.reason
    np.testing.assert_array_equal(
        predictor.prepare_rows(rows), pipeline[0].transform(schema.frame_from_rows(rows))
    )
    assert_same_predictions(predictor, pipeline, schema, records)
    assert_same_predictions(predictor, pipeline, schema, with_each_category(schema, records))
    # Without imputation the forest meets NaN itself: those requests take the pipeline, same answers.
    assert_same_predictions(predictor, pipeline, schema, with_missing_bedrooms(records))


@pytest.mark.parametrize("one_hot", [True, False], ids=["one-hot", "ordinal"])
def test_a_missing_category_encodes_as_the_encoder_does(train, records, one_hot) -> None:
    features = train.drop(columns=TARGET)
    schema = FeatureSchema.from_frame(features, imputed=["total_bedrooms", "ocean_proximity"])
    spec = PrepareSpec(categorical=["ocean_proximity"], derived=DERIVED, one_hot=one_hot)
    pipeline = fitted(train, RandomForestRegressor(n_estimators=10, random_state=0), spec)
    predictor = compile_predictor(pipeline, schema)
    missing = [{**record, "ocean_proximity": None} if i % 3 else record for i, record in enumerate(records)]

    assert schema["ocean_proximity"].nullable
    assert predictor.compiled, predictor.reason
    assert_same_predictions(predictor, pipeline, schema, missing)


def test_a_schema_in_another_column_order_than_the_preparation(train, records) -> None:
    features = train.drop(columns=TARGET)
    reversed_schema = FeatureSchema.from_frame(features[features.columns[::-1]], imputed=["total_bedrooms"])
    pipeline = fitted(train, RandomForestRegressor(n_estimators=10, random_state=0))
    predictor = compile_predictor(pipeline, reversed_schema)

    assert reversed_schema.names[0] == "ocean_proximity"
    assert predictor.compiled, predictor.reason
    assert_same_predictions(predictor, pipeline, reversed_schema, records)


class Clip(TransformerMixin, BaseEstimator):
    """A transformer hone does not know."""

    def fit(self, X, y=None):  # noqa: N803 - scikit-learn's naming
        self.bound_ = 3.0
        return self

    def transform(self, X):  # noqa: N803 - scikit-learn's naming
        return np.clip(np.asarray(X, dtype=float), -self.bound_, self.bound_)


def test_an_unknown_transformer_falls_back_to_the_pipeline(train, schema, records) -> None:
    pipeline = fitted(train, Ridge(), extra=Clip())
    predictor = compile_predictor(pipeline, schema)

    assert not predictor.compiled
    assert predictor.reason is not None and "Clip" in predictor.reason
    assert_same_predictions(predictor, pipeline, schema, records)


def test_a_model_fitted_on_feature_names_falls_back(train, schema, records) -> None:
    pipeline = fitted(train, Ridge())
    pipeline[0].set_output(transform="pandas")
    pipeline.fit(train.drop(columns=TARGET).iloc[:N_FIT], train[TARGET].iloc[:N_FIT])
    predictor = compile_predictor(pipeline, schema)

    assert not predictor.compiled
    assert predictor.reason is not None and "feature names" in predictor.reason
    assert_same_predictions(predictor, pipeline, schema, records[:20])


def test_examples_that_do_not_fit_the_schema_prevent_compiling(train, schema, records) -> None:
    pipeline = fitted(train, RandomForestRegressor(n_estimators=5, random_state=0))
    bad_example = {**records[0], "ocean_proximity": "ON THE MOON"}

    assert compile_predictor(pipeline, schema, examples=records[:10]).compiled
    predictor = compile_predictor(pipeline, schema, examples=[bad_example])
    assert not predictor.compiled
    assert predictor.reason is not None and "ON THE MOON" in predictor.reason


def test_a_division_by_zero_raises_the_pipelines_error(train, schema, records) -> None:
    pipeline = fitted(train, RandomForestRegressor(n_estimators=5, random_state=0))
    predictor = compile_predictor(pipeline, schema)
    rows = schema.check_records([records[0], {**records[1], "households": 0.0}])

    assert predictor.compiled, predictor.reason
    with pytest.raises(DataError, match="division by zero") as from_pipeline:
        pipeline.predict(schema.frame_from_rows(rows))
    with pytest.raises(DataError, match="division by zero") as compiled:
        predictor.predict_rows(rows)
    assert str(compiled.value) == str(from_pipeline.value)


def test_concurrent_single_row_calls_give_the_sequential_answers(train, schema, records) -> None:
    pipeline = fitted(train, RandomForestRegressor(n_estimators=10, random_state=0))
    predictor = compile_predictor(pipeline, schema)
    rows = schema.check_records(records)
    sequential = [predictor.predict_rows([row])[0] for row in rows]

    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda row: predictor.predict_rows([row])[0], rows))

    assert concurrent == sequential
    np.testing.assert_array_equal(sequential, pipeline.predict(schema.frame_from_rows(rows)))


def test_a_parallel_forest_predicts_big_batches_as_the_pipeline(train, schema) -> None:
    pipeline = fitted(train, RandomForestRegressor(n_estimators=8, random_state=0, n_jobs=2))
    predictor = compile_predictor(pipeline, schema)
    check = schema.check_frame(train.drop(columns=TARGET).iloc[:1100])

    assert predictor.compiled, predictor.reason
    np.testing.assert_allclose(
        predictor.predict_frame(check.frame), pipeline.predict(check.frame), rtol=1e-9, atol=0
    )


def test_probe_records_cover_every_category_and_missing_values(schema) -> None:
    probes = probe_records(schema)
    rows = schema.check_records(probes)  # the schema accepts them

    assert len(rows) == len(probes) >= 5
    assert {p["ocean_proximity"] for p in probes} == set(schema["ocean_proximity"].categories or ())
    assert any(p["total_bedrooms"] is None for p in probes)
    low, high = schema["median_income"].low, schema["median_income"].high
    assert all(low <= p["median_income"] <= high for p in probes)
