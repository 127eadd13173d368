"""build_preparation, DerivedFeatures and source_columns on small frames."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from hone.data import DerivedFeatures, PrepareSpec, build_preparation, source_columns
from hone.errors import DataError

TARGET = "value"


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rooms": [10.0, 20.0, np.nan, 40.0, 50.0, 60.0],
            "homes": [2.0, 4.0, 5.0, 8.0, 10.0, 3.0],
            "age": [1, 2, 3, 4, 5, 6],
            "coast": ["near", "far", "far", "island", "near", "far"],
            TARGET: [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    )


def _features(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=TARGET)


def _error(func, *args, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        func(*args, **kwargs)
    text = str(info.value)
    assert "\n" not in text
    return text


def test_names_and_values(frame: pd.DataFrame) -> None:
    spec = PrepareSpec(derived={"rooms_per_home": "rooms / homes", "size": "rooms*age"})
    prep = build_preparation(spec, frame, TARGET)
    out = prep.fit_transform(_features(frame))
    names = prep.get_feature_names_out().tolist()
    assert names == ["rooms", "homes", "age", "rooms_per_home", "size", "far", "island", "near"]
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == (6, 8)
    # Derived features are computed after imputation (median rooms = 40) and scaled like the rest.
    rooms = np.array([10.0, 20.0, 40.0, 40.0, 50.0, 60.0])
    ratio = rooms / frame["homes"].to_numpy()
    expected = (ratio - ratio.mean()) / ratio.std()
    np.testing.assert_allclose(out[:, 3], expected, rtol=1e-12)
    np.testing.assert_array_equal(
        out[:, 5:], [[0, 0, 1], [1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]]
    )


def test_target_is_never_a_feature(frame: pd.DataFrame) -> None:
    prep = build_preparation(PrepareSpec(), frame, TARGET)
    prep.fit(frame)  # even when the target column is present in the fitted frame
    assert TARGET not in prep.get_feature_names_out().tolist()


def test_other_options(frame: pd.DataFrame) -> None:
    spec = PrepareSpec(numeric=["homes", "age"], impute="none", scale="minmax", one_hot=False)
    prep = build_preparation(spec, frame, TARGET)
    out = prep.fit_transform(_features(frame))
    assert prep.get_feature_names_out().tolist() == ["homes", "age", "coast"]
    np.testing.assert_allclose(out[:, 0], MinMaxScaler().fit_transform(frame[["homes"]])[:, 0])
    assert sorted(set(out[:, 2])) == [0.0, 1.0, 2.0]


def test_passthrough_numeric(frame: pd.DataFrame) -> None:
    spec = PrepareSpec(numeric=["homes"], categorical=[], impute="none", scale="none")
    out = build_preparation(spec, frame, TARGET).fit_transform(_features(frame))
    np.testing.assert_array_equal(out[:, 0], frame["homes"].to_numpy())
    assert out.shape == (6, 1)


@pytest.mark.parametrize("impute", ["mean", "most_frequent"])
def test_impute_strategies(frame: pd.DataFrame, impute: str) -> None:
    spec = PrepareSpec(numeric=["rooms"], categorical=[], impute=impute, scale="none")
    out = build_preparation(spec, frame, TARGET).fit_transform(_features(frame))
    expected = SimpleImputer(strategy=impute).fit_transform(frame[["rooms"]])[:, 0]
    np.testing.assert_array_equal(out[:, 0], expected)


def test_unknown_category_at_serving_time(frame: pd.DataFrame) -> None:
    prep = build_preparation(PrepareSpec(), frame, TARGET).fit(_features(frame))
    row = _features(frame).iloc[[0]].assign(coast="moon")
    out = prep.transform(row)
    assert out[0, -3:].tolist() == [0.0, 0.0, 0.0]


def test_several_categorical_columns_keep_their_prefix(frame: pd.DataFrame) -> None:
    both = frame.assign(size=["s", "l", "s", "l", "s", "l"])
    prep = build_preparation(PrepareSpec(), both, TARGET).fit(_features(both))
    names = prep.get_feature_names_out().tolist()
    assert names[-5:] == ["coast_far", "coast_island", "coast_near", "size_l", "size_s"]


def test_source_columns(frame: pd.DataFrame) -> None:
    spec = PrepareSpec(derived={"rooms_per_home": "rooms / homes"})
    prep = build_preparation(spec, frame, TARGET).fit(_features(frame))
    assert source_columns(prep) == {
        "rooms": "rooms",
        "homes": "homes",
        "age": "age",
        "rooms_per_home": "rooms_per_home",
        "far": "coast",
        "island": "coast",
        "near": "coast",
    }
    assert list(source_columns(prep)) == prep.get_feature_names_out().tolist()


def test_preparation_pickles_and_clones(frame: pd.DataFrame) -> None:
    spec = PrepareSpec(derived={"rooms_per_home": "rooms / homes"})
    prep = build_preparation(spec, frame, TARGET)
    fitted = clone(prep).fit(_features(frame))
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(_features(frame)), fitted.transform(_features(frame)))
    assert restored.get_feature_names_out().tolist() == fitted.get_feature_names_out().tolist()


def test_derived_features_transformer() -> None:
    derived = {"ratio": "a / b", "diff": "b - a", "total": "`a` + b"}
    step = DerivedFeatures(columns=["a", "b"], derived=derived)
    assert step.get_params() == {"columns": ["a", "b"], "derived": derived}
    assert step.get_params()["derived"] is derived  # stored unchanged, as clone requires
    out = step.fit_transform(np.array([[6.0, 3.0], [1.0, 4.0]]))
    np.testing.assert_array_equal(out, [[6, 3, 2, -3, 9], [1, 4, 0.25, 3, 5]])
    assert step.get_feature_names_out().tolist() == ["a", "b", "ratio", "diff", "total"]
    assert step.get_feature_names_out(["x", "y"]).tolist() == ["x", "y", "ratio", "diff", "total"]
    copy = clone(step)
    assert not hasattr(copy, "operations_") and copy.get_params() == step.get_params()


def test_derived_features_use_frame_names_without_columns() -> None:
    step = DerivedFeatures(derived={"p": "a * b"}).fit(pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}))
    assert step.get_feature_names_out().tolist() == ["a", "b", "p"]


def test_division_by_zero_is_a_data_error() -> None:
    step = DerivedFeatures(columns=["a", "b"], derived={"ratio": "a / b"})
    message = _error(step.fit_transform, np.array([[1.0, 2.0], [3.0, 0.0]]))
    assert "'ratio'" in message and "'a / b'" in message and "row 2" in message


def test_missing_values_pass_through_derived_features() -> None:
    step = DerivedFeatures(columns=["a", "b"], derived={"ratio": "a / b"})
    out = step.fit_transform(np.array([[np.nan, 2.0], [3.0, 1.0]]))
    assert np.isnan(out[0, 2]) and out[1, 2] == 3.0


@pytest.mark.parametrize("expression", ["a ** b", "log(a)", "a / b / c", "a /", "", "a", "a / 2", "a % b"])
def test_bad_expressions(expression: str) -> None:
    message = _error(PrepareSpec, derived={"feat": expression})
    assert "'feat'" in message and repr(expression) in message and "<column> <op> <column>" in message


def test_bad_impute_and_scale() -> None:
    impute = _error(PrepareSpec, impute="avg")
    assert "'avg'" in impute and "median" in impute
    scale = _error(PrepareSpec, scale="robust")
    assert "'robust'" in scale and "minmax" in scale


def test_derived_feature_with_missing_column(frame: pd.DataFrame) -> None:
    spec = PrepareSpec(derived={"per_home": "room / homes"})
    message = _error(build_preparation, spec, frame, TARGET)
    assert "'per_home'" in message and "'room'" in message and "did you mean 'rooms'" in message


def test_derived_feature_on_a_non_numeric_column(frame: pd.DataFrame) -> None:
    spec = PrepareSpec(derived={"odd": "coast / homes"})
    message = _error(build_preparation, spec, frame, TARGET)
    assert "'odd'" in message and "'coast'" in message and "numeric" in message


def test_derived_feature_shadowing_a_column(frame: pd.DataFrame) -> None:
    message = _error(build_preparation, PrepareSpec(derived={"age": "rooms / homes"}), frame, TARGET)
    assert "'age'" in message and "existing column" in message


def test_listed_columns_are_checked(frame: pd.DataFrame) -> None:
    assert "'romos'" in _error(build_preparation, PrepareSpec(numeric=["romos"]), frame, TARGET)
    assert "target" in _error(build_preparation, PrepareSpec(numeric=[TARGET]), frame, TARGET)
    assert "dtype" in _error(build_preparation, PrepareSpec(numeric=["coast"]), frame, TARGET)
    both = _error(build_preparation, PrepareSpec(numeric=["age"], categorical=["age"]), frame, TARGET)
    assert "both numeric and categorical" in both and "age" in both


def test_integer_codes_can_be_listed_as_categorical(frame: pd.DataFrame) -> None:
    prep = build_preparation(PrepareSpec(categorical=["age", "coast"]), frame, TARGET).fit(_features(frame))
    names = prep.get_feature_names_out().tolist()
    assert names[:2] == ["rooms", "homes"] and "age_1" in names and "coast_far" in names


def test_columns_of_other_types_are_refused(frame: pd.DataFrame) -> None:
    dated = frame.assign(when=pd.date_range("2020-01-01", periods=6))
    message = _error(build_preparation, PrepareSpec(), dated, TARGET)
    assert "'when'" in message and "datetime" in message


def test_no_features_at_all() -> None:
    only_target = pd.DataFrame({TARGET: [1.0, 2.0]})
    assert "no feature columns" in _error(build_preparation, PrepareSpec(), only_target, TARGET)


def test_output_equals_a_hand_built_column_transformer(frame: pd.DataFrame) -> None:
    prep = build_preparation(PrepareSpec(numeric=["rooms", "age"], categorical=[]), frame, TARGET)
    reference = ColumnTransformer(
        [("n", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), [0, 2])]
    )
    X = _features(frame)  # noqa: N806
    np.testing.assert_array_equal(prep.fit_transform(X), reference.fit_transform(X))


def test_a_zero_denominator_is_named_by_its_line_in_the_file(tmp_path) -> None:
    from hone.config.load import load_config
    from hone.data.training import load_training_set

    rows = pd.DataFrame({"rooms": np.arange(1.0, 101.0), "homes": np.ones(100), TARGET: np.arange(100.0)})
    rows.loc[60, "homes"] = 0.0  # the 61st data row: line 62 of the CSV (the header is line 1)
    rows.loc[80, "homes"] = 0.0
    rows.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "hone.yaml").write_text(
        "project: p\ndata: {path: data.csv, target: value}\n"
        "prepare: {derived: {rooms_per_home: rooms / homes}}\n"
        "models: [{name: tree, estimator: sklearn.tree.DecisionTreeRegressor, grid: {max_depth: [2]}}]\n"
    )
    with pytest.raises(DataError) as refused:
        load_training_set(load_config(tmp_path / "hone.yaml"))
    message = str(refused.value)
    assert "'rooms_per_home'" in message and "in 2 row(s), first at line 62" in message
    assert "homes=0" in message and "data.csv" in message
