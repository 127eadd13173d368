"""Fast predictions for small requests: a fitted hone pipeline rebuilt as plain numpy arithmetic.

``pipeline.predict`` on one row spends milliseconds in pandas, ColumnTransformer dispatch, input validation
and joblib, and microseconds on arithmetic. ``compile_predictor`` redoes that arithmetic from the fitted
transformers (the same numpy operations in the same order, so results are bit-identical), proves it on
synthesised rows, and falls back to the plain pipeline for anything it does not recognise. Any input the
compiled path cannot take as the pipeline would (an infinite value, an unknown category, a division by
zero) is handed to the pipeline, so errors are the pipeline's own. Predictors hold no per-call state:
threads may share one. For batch prediction (``large_batches``) a forest's trees are also walked by
compiled code (``treewalk``), under the same self-check.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Protocol

import numpy as np
import pandas as pd
from joblib import effective_n_jobs
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)

from hone.data.prepare import DerivedFeatures
from hone.data.schema import FeatureSchema
from hone.errors import DataError

# There is no size above which the plain pipeline wins: on the seed's forest (30 trees, one thread) the
# compiled path is ~10 ms faster at every size measured (1 to 4,096 rows; the trees' work is the same,
# the pipeline adds pandas and ColumnTransformer overhead). Only a forest told to use several jobs is
# worth handing big batches to: its own predict spreads the trees over threads.
PARALLEL_FOREST_FROM = 1024
# With ``large_batches``, a forest's trees are walked by compiled code (``treewalk``) from this many rows:
# 2-2.5x faster than the forest's own predict on 1M rows, and bit-identical to a one-job forest. Below it,
# the per-tree path is already microseconds and needs neither numba nor threads.
WALK_FROM = 2048
# Rows of the first big batch the walk is checked on (against the tree-by-tree sum) before it is used.
WALK_CHECK_ROWS = 1024
# Compiled and plain predictions must agree this closely at compile time, else the pipeline is used.
RELATIVE_TOLERANCE = 1e-9


class Predictor(Protocol):
    compiled: bool  # True when the fast path is used; False = plain pipeline fallback
    reason: str | None  # why it fell back, if it did

    def predict_rows(self, rows: Sequence[Sequence[Any]]) -> np.ndarray: ...

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray: ...


class _Unsupported(Exception):
    """The pipeline holds something the compiler does not know; the message says what."""


class _Defer(Exception):
    """This input must go through the plain pipeline (it may fail there, with the pipeline's error)."""


class PipelinePredictor:
    """The plain pipeline on a DataFrame: the reference, and the fallback."""

    def __init__(self, pipeline: Pipeline, schema: FeatureSchema, reason: str | None = None) -> None:
        self.pipeline = pipeline
        self.schema = schema
        self.compiled = False
        self.reason = reason

    def predict_rows(self, rows: Sequence[Sequence[Any]]) -> np.ndarray:
        return np.asarray(self.pipeline.predict(self.schema.frame_from_rows(rows)))

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.pipeline.predict(frame))


# -- inputs: the columns the preparation reads, as arrays ----------------------------------------------------


@dataclass(frozen=True)
class _Inputs:
    numeric: np.ndarray  # (n, number of numeric inputs), float64
    categorical: list[Sequence[Any]]  # one sequence of values (str or None) per categorical input
    n_rows: int


class _InputReader:
    """Takes the numeric and categorical inputs out of checked rows or a checked frame."""

    def __init__(self, schema: FeatureSchema, numeric: list[str], categorical: list[str]) -> None:
        position = {name: i for i, name in enumerate(schema.names)}
        self.numeric_names = numeric
        self.categorical_names = categorical
        self._numeric_positions = [position[name] for name in numeric]
        self._categorical_positions = [position[name] for name in categorical]
        self._pick_numeric = itemgetter(*self._numeric_positions) if numeric else None

    def from_rows(self, rows: Sequence[Sequence[Any]]) -> _Inputs:
        n = len(rows)
        if self._pick_numeric is None:
            numeric = np.empty((n, 0))
        else:
            picked = [self._pick_numeric(row) for row in rows]
            numeric = np.array(picked, dtype=np.float64).reshape(n, len(self._numeric_positions))
        categorical = [[row[p] for row in rows] for p in self._categorical_positions]
        return self._checked(_Inputs(numeric, categorical, n))

    def from_frame(self, frame: pd.DataFrame) -> _Inputs:
        n = len(frame)
        try:
            columns = [frame[name].to_numpy(dtype=np.float64, na_value=np.nan) for name in self.numeric_names]
        except (KeyError, TypeError, ValueError) as error:
            raise _Defer from error
        numeric = np.column_stack(columns) if columns else np.empty((n, 0))
        categorical = []
        for name in self.categorical_names:
            if name not in frame.columns or frame[name].dtype != object:
                raise _Defer  # the pipeline's encoders treat other dtypes (and their NaN) their own way
            categorical.append(frame[name].to_numpy())
        return self._checked(_Inputs(numeric, categorical, n))

    @staticmethod
    def _checked(inputs: _Inputs) -> _Inputs:
        # sklearn's validation refuses infinite values: let the pipeline say so.
        if np.isinf(inputs.numeric).any():
            raise _Defer
        return inputs


# -- the numeric block: imputation, derived features, scaling ------------------------------------------------


class _Impute:
    def __init__(self, imputer: SimpleImputer) -> None:
        if imputer.add_indicator:
            raise _Unsupported("SimpleImputer(add_indicator=True)")
        if not (isinstance(imputer.missing_values, float) and np.isnan(imputer.missing_values)):
            raise _Unsupported(f"SimpleImputer(missing_values={imputer.missing_values!r})")
        fit_dtype = np.dtype(getattr(imputer, "_fit_dtype", np.float64))
        if fit_dtype.kind != "f":
            raise _Unsupported(f"SimpleImputer fitted on {fit_dtype} data")
        statistics = np.asarray(imputer.statistics_)
        if not imputer.keep_empty_features and np.isnan(statistics.astype(np.float64)).any():
            raise _Unsupported("SimpleImputer drops columns that had no values in training")
        # sklearn casts the statistics to the training dtype before filling.
        fill_dtype = np.dtype(getattr(imputer, "_fill_dtype", fit_dtype))
        self.fill = statistics.astype(fill_dtype).astype(np.float64)

    def __call__(self, X: np.ndarray) -> np.ndarray:  # noqa: N803 - scikit-learn's naming
        np.copyto(X, self.fill, where=np.isnan(X))
        return X


# The operators DerivedFeatures knows; numpy's ufuncs are what its ``a / b`` etc. evaluate to.
_OPERATIONS = {"/": np.divide, "*": np.multiply, "+": np.add, "-": np.subtract}


class _Derive:
    def __init__(self, derive: DerivedFeatures) -> None:
        self.operations = [(left, _OPERATIONS[op], right) for _, _, left, op, right in derive.operations_]

    def __call__(self, X: np.ndarray) -> np.ndarray:  # noqa: N803 - scikit-learn's naming
        if not self.operations:
            return X
        columns = []
        for left, op, right in self.operations:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                values = op(X[:, left], X[:, right])
            # DerivedFeatures refuses non-finite results of finite inputs; the pipeline raises its error.
            if not np.isfinite(values).all():
                broken = ~np.isfinite(values) & np.isfinite(X[:, left]) & np.isfinite(X[:, right])
                if broken.any():
                    raise _Defer
            columns.append(values)
        return np.column_stack([X, *columns])


class _Standardize:
    def __init__(self, scaler: StandardScaler) -> None:
        self.mean = np.asarray(scaler.mean_, dtype=np.float64) if scaler.with_mean else None
        self.scale = np.asarray(scaler.scale_, dtype=np.float64) if scaler.with_std else None

    def __call__(self, X: np.ndarray) -> np.ndarray:  # noqa: N803 - scikit-learn's naming
        # In place and in sklearn's order (subtract, then divide), so every bit matches.
        if self.mean is not None:
            X -= self.mean
        if self.scale is not None:
            X /= self.scale
        return X


class _MinMax:
    def __init__(self, scaler: MinMaxScaler) -> None:
        self.scale = np.asarray(scaler.scale_, dtype=np.float64)
        self.min = np.asarray(scaler.min_, dtype=np.float64)
        self.clip = tuple(float(bound) for bound in scaler.feature_range) if scaler.clip else None

    def __call__(self, X: np.ndarray) -> np.ndarray:  # noqa: N803 - scikit-learn's naming
        X *= self.scale
        X += self.min
        if self.clip is not None:
            np.clip(X, self.clip[0], self.clip[1], out=X)
        return X


def _is_identity(step: object) -> bool:
    # A fitted ColumnTransformer keeps "passthrough" as a FunctionTransformer without a function.
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return True
    return (
        type(step) is FunctionTransformer
        and step.func is None
        and not step.validate
        and getattr(step, "feature_names_out", None) == "one-to-one"
    )


# One fitted numeric transformer as an in-place operation on a float64 matrix.
_Step = Callable[[np.ndarray], np.ndarray]


def _numeric_step(step: object) -> _Step:
    kind = type(step)
    if kind is SimpleImputer:
        return _Impute(step)
    if kind is DerivedFeatures:
        return _Derive(step)
    if kind is StandardScaler:
        return _Standardize(step)
    if kind is MinMaxScaler:
        return _MinMax(step)
    raise _Unsupported(f"a {kind.__name__} in the numeric preparation")


class _NumericBlock:
    def __init__(self, transformer: object, columns: list[int]) -> None:
        self.columns = columns  # positions among the numeric inputs
        if _is_identity(transformer):
            parts: list[object] = []
        elif type(transformer) is Pipeline:
            parts = [step for _, step in transformer.steps if not _is_identity(step)]
        else:
            parts = [transformer]
        self.steps = [_numeric_step(part) for part in parts]

    def transform(self, inputs: _Inputs) -> np.ndarray:
        X = inputs.numeric[:, self.columns]  # noqa: N806 - a fresh copy: the steps work in place
        for step in self.steps:
            X = step(X)  # noqa: N806
        return X


# -- the categorical block: each value's encoding, looked up -------------------------------------------------


class _CategoricalBlock:
    """One-hot or ordinal encoding as a lookup table per column, filled by the fitted encoder itself.

    Asking the encoder for each known value (instead of re-deriving its rules) keeps its exact treatment
    of categories and missing values; values not in a table go to the pipeline.
    """

    def __init__(self, encoder: Any, names: list[str], columns: list[int], schema: FeatureSchema) -> None:
        widths = self._widths(encoder)
        if len(widths) != len(names):
            raise _Unsupported(f"{type(encoder).__name__} with {len(widths)} columns for {len(names)} inputs")
        self.columns = columns  # positions among the categorical inputs
        self.width = sum(widths)
        keys = [
            self._keys(schema, name, categories)
            for name, categories in zip(names, encoder.categories_, strict=True)
        ]
        self.tables = [
            self._table(encoder, names, keys, column, sum(widths[:column]), widths[column])
            for column in range(len(names))
        ]

    @staticmethod
    def _widths(encoder: object) -> list[int]:
        if type(encoder) is OrdinalEncoder:
            return [1] * len(encoder.categories_)
        if type(encoder) is OneHotEncoder:
            if encoder.drop_idx_ is not None:
                raise _Unsupported("OneHotEncoder(drop=...)")
            if getattr(encoder, "_infrequent_enabled", False):
                raise _Unsupported("OneHotEncoder with infrequent categories")
            return [len(categories) for categories in encoder.categories_]
        raise _Unsupported(f"a {type(encoder).__name__} in the categorical preparation")

    @staticmethod
    def _keys(schema: FeatureSchema, name: str, categories: np.ndarray) -> list[Any]:
        feature = schema[name]
        if feature.kind != "categorical":
            raise _Unsupported(f"numeric feature {name!r} is encoded as categories")
        known = [*(feature.categories or ()), *(c for c in categories if isinstance(c, str))]
        keys: list[Any] = list(dict.fromkeys(known))
        return [*keys, None] if feature.nullable else keys

    @staticmethod
    def _table(
        encoder: Any, names: list[str], keys: list[list[Any]], column: int, start: int, width: int
    ) -> tuple[dict[Any, int], np.ndarray]:
        # Other columns hold a value of their own while this column's values are encoded one by one.
        base = {
            name: column_keys[0] if column_keys else None
            for name, column_keys in zip(names, keys, strict=True)
        }
        index: dict[Any, int] = {}
        rows = []
        for key in keys[column]:
            record = {**base, names[column]: key}
            frame = pd.DataFrame({name: pd.Series([value], dtype=object) for name, value in record.items()})
            try:
                encoded = encoder.transform(frame)
            except ValueError:
                continue  # the encoder refuses this value: the pipeline will say so
            encoded = encoded.toarray() if hasattr(encoded, "toarray") else np.asarray(encoded)
            index[key] = len(rows)
            rows.append(np.asarray(encoded[0, start : start + width], dtype=np.float64))
        return index, np.array(rows, dtype=np.float64).reshape(len(rows), width)

    def transform(self, inputs: _Inputs) -> np.ndarray:
        out = np.empty((inputs.n_rows, self.width))
        start = 0
        for column, (index, table) in zip(self.columns, self.tables, strict=True):
            values = inputs.categorical[column]
            rows = _lookup(index, values) if isinstance(values, list) else _lookup_array(index, values)
            out[:, start : start + table.shape[1]] = table[rows]
            start += table.shape[1]
        return out


def _lookup(index: dict[Any, int], values: list[Any]) -> list[int]:
    try:
        return [index[value] for value in values]
    except (KeyError, TypeError) as error:
        raise _Defer from error


def _lookup_array(index: dict[Any, int], values: np.ndarray) -> np.ndarray:
    """Vectorised ``_lookup`` for a batch: str values by category code, ``None`` by its own entry."""
    text = [key for key in index if isinstance(key, str)]
    codes = pd.Categorical(values, categories=text).codes.astype(np.intp)
    rows = np.array([index[key] for key in text], dtype=np.intp)[codes]
    missing = pd.isna(values)
    if missing.any():
        # NaN and None can encode differently; only None (what the schema checks produce) is tabled.
        if None not in index or any(value is not None for value in values[missing]):
            raise _Defer
        rows[missing] = index[None]
    if ((codes < 0) & ~missing).any():
        raise _Defer
    return rows


# -- the preparation: the blocks in the ColumnTransformer's output order -------------------------------------


class _Preparation:
    def __init__(self, preparation: object, schema: FeatureSchema) -> None:
        if type(preparation) is not ColumnTransformer:
            raise _Unsupported(f"the first step is a {type(preparation).__name__}, not a ColumnTransformer")
        if preparation.sparse_output_:
            raise _Unsupported("the ColumnTransformer's output is sparse")
        if preparation.transformer_weights:
            raise _Unsupported("ColumnTransformer(transformer_weights=...)")
        numeric: list[str] = []
        categorical: list[str] = []
        self.blocks: list[_NumericBlock | _CategoricalBlock] = []
        for name, transformer, columns in self._selected(preparation, schema):
            if isinstance(transformer, OneHotEncoder | OrdinalEncoder):
                positions = [_position(categorical, column) for column in columns]
                block: _NumericBlock | _CategoricalBlock = _CategoricalBlock(
                    transformer, columns, positions, schema
                )
            else:
                for column in columns:
                    if schema[column].kind != "numeric":
                        raise _Unsupported(f"categorical feature {column!r} goes to {name!r}, not an encoder")
                block = _NumericBlock(transformer, [_position(numeric, column) for column in columns])
            self.blocks.append(block)
        self.reader = _InputReader(schema, numeric, categorical)

    @staticmethod
    def _selected(preparation: Any, schema: FeatureSchema) -> list[tuple[str, object, list[str]]]:
        """(name, fitted transformer, input column names) in output order, as ``transform`` stacks them."""
        input_names = [str(name) for name in getattr(preparation, "feature_names_in_", [])]
        indices = getattr(preparation, "_transformer_to_input_indices", None)
        if not input_names or indices is None:
            raise _Unsupported("the ColumnTransformer was not fitted on a DataFrame")
        selected = []
        for name, transformer, _ in preparation.transformers_:
            columns = [input_names[i] for i in indices.get(name, [])]
            if (isinstance(transformer, str) and transformer == "drop") or not columns:
                continue
            missing = [column for column in columns if column not in schema.names]
            if missing:
                raise _Unsupported(f"the preparation reads {missing[0]!r}, which the schema does not have")
            selected.append((name, transformer, columns))
        return selected

    def transform(self, inputs: _Inputs) -> np.ndarray:
        parts = [block.transform(inputs) for block in self.blocks]
        return np.hstack(parts) if len(parts) > 1 else parts[0]


def _position(names: list[str], name: str) -> int:
    if name not in names:
        names.append(name)
    return names.index(name)


# -- the model -----------------------------------------------------------------------------------------------

_FOREST_REGRESSORS = (RandomForestRegressor, ExtraTreesRegressor)
_FOREST_CLASSIFIERS = (RandomForestClassifier, ExtraTreesClassifier)


class ForestTables:
    """A forest's predict without its validation and joblib dispatch: trees' leaves, summed in tree order."""

    def __init__(self, forest: Any, *, walk: bool = False) -> None:
        if forest.n_outputs_ != 1:
            raise _Unsupported(f"a {type(forest).__name__} with {forest.n_outputs_} outputs")
        self.classifier = type(forest) in _FOREST_CLASSIFIERS
        self.classes = forest.classes_ if self.classifier else None
        width = forest.n_classes_ if self.classifier else 1
        # Its own predict on the matrix (threads; summation order then varies, as in sklearn).
        self.parallel = (
            forest if forest.n_jobs not in (None, 1) and not hasattr(forest, "feature_names_in_") else None
        )
        # The leaves' values, copied once: what tree_.predict takes from the node table on every call.
        self.trees = [
            (tree.tree_, np.ascontiguousarray(tree.tree_.value[:, 0, :width])) for tree in forest.estimators_
        ]
        # The compiled walk is built (numba imported, the kernel loaded) at the first batch that needs it.
        self.walk_wanted = walk
        self.walk: Any = None
        self.walk_note: str | None = None  # why there is no walk, once one was tried
        self._forest, self._width = forest, width
        self._walk_lock = threading.Lock()

    def predict(self, X: np.ndarray, *, walk: bool | None = None) -> np.ndarray:  # noqa: N803
        """``walk``: use the compiled tree walk (None: if wanted and the batch is big enough)."""
        if walk is None:
            walk = self.walk_wanted and X.shape[0] >= WALK_FROM
        X32 = X.astype(np.float32)  # noqa: N806 - what the forest's validation does
        finite = bool(np.isfinite(X32).all())
        walker = self._walker(X32) if walk and finite else None
        if walker is None and self.parallel is not None and X.shape[0] >= PARALLEL_FOREST_FROM:
            return np.asarray(self.parallel.predict(X))
        if not finite:
            raise _Defer  # NaN support (or the error) differs by tree kind: the forest decides
        total = walker.predict(X32) if walker is not None else self._sum_trees(X32)
        if self.classes is None:
            return total[:, 0]
        return self.classes.take(np.argmax(total, axis=1), axis=0)

    def _sum_trees(self, X32: np.ndarray) -> np.ndarray:  # noqa: N803
        # Same accumulation as sklearn: zeros, += each tree's output in order, then /= the trees.
        total = np.zeros((X32.shape[0], self._width), dtype=np.float64)
        for tree, values in self.trees:
            total += values[tree.apply(X32)]
        total /= len(self.trees)
        return total

    def _walker(self, X32: np.ndarray) -> Any:  # noqa: N803
        """The compiled walk; the first time, built and checked against the tree-by-tree sum on ``X32``."""
        with self._walk_lock:
            if self.walk is None and self.walk_note is None:
                self.walk, self.walk_note = _tree_walk(self._forest, self._width, X32, self._sum_trees)
            return self.walk


def _tree_walk(
    forest: Any,
    width: int,
    X32: np.ndarray,  # noqa: N803 - scikit-learn's naming
    reference: Callable[[np.ndarray], np.ndarray],
) -> tuple[Any, str | None]:
    """The forest's compiled walk on as many threads as it may use, or None and why not."""
    try:
        from hone.launch.treewalk import TreeWalk
    except Exception as error:  # numba missing, broken, or with nowhere to cache: the trees still work
        return None, f"no compiled walk: {type(error).__name__}: {error}"
    walk = TreeWalk(
        [tree.tree_ for tree in forest.estimators_], width, threads=effective_n_jobs(forest.n_jobs)
    )
    probe = X32[:WALK_CHECK_ROWS]
    # The same leaves added in the same order: anything but bit-for-bit equality is a bug to stay clear of.
    if not np.array_equal(walk.predict(probe), reference(probe)):
        return None, "the compiled walk differed from the trees' own sum on the first rows"
    return walk, None


class _Estimator:
    """Any other model: its own predict on the prepared matrix (no DataFrame, no ColumnTransformer)."""

    def __init__(self, estimator: Any) -> None:
        if hasattr(estimator, "feature_names_in_"):
            raise _Unsupported(f"the {type(estimator).__name__} was fitted with feature names")
        self.estimator = estimator

    def predict(self, X: np.ndarray) -> np.ndarray:  # noqa: N803 - scikit-learn's naming
        return np.asarray(self.estimator.predict(X))


def _model(estimator: Any, *, walk: bool) -> ForestTables | _Estimator:
    if type(estimator) in (*_FOREST_REGRESSORS, *_FOREST_CLASSIFIERS):
        return ForestTables(estimator, walk=walk)
    if not hasattr(estimator, "predict"):
        raise _Unsupported(f"the last step, a {type(estimator).__name__}, cannot predict")
    return _Estimator(estimator)


# -- the compiled predictor ----------------------------------------------------------------------------------


class CompiledPredictor:
    """The fast path; inputs it cannot take exactly as the pipeline would go to the pipeline."""

    def __init__(self, pipeline: Pipeline, schema: FeatureSchema, *, large_batches: bool = False) -> None:
        if type(pipeline) is not Pipeline or len(pipeline.steps) != 2:
            raise _Unsupported("not a two-step Pipeline (preparation, model)")
        self.plain = PipelinePredictor(pipeline, schema)
        self.preparation = _Preparation(pipeline.steps[0][1], schema)
        self.model = _model(pipeline.steps[1][1], walk=large_batches)
        self.compiled = True
        self.reason: str | None = None

    def prepare_rows(self, rows: Sequence[Sequence[Any]]) -> np.ndarray:
        """The prepared matrix, as the ColumnTransformer gives it (_Defer: the pipeline must do it)."""
        return self.preparation.transform(self.preparation.reader.from_rows(rows))

    def prepare_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """``prepare_rows`` for a checked frame."""
        return self.preparation.transform(self.preparation.reader.from_frame(frame))

    def predict_rows(self, rows: Sequence[Sequence[Any]]) -> np.ndarray:
        if len(rows) == 0:
            return self.plain.predict_rows(rows)
        try:
            return self.model.predict(self.prepare_rows(rows))
        except _Defer:
            return self.plain.predict_rows(rows)

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        if len(frame) == 0:
            return self.plain.predict_frame(frame)
        try:
            return self.model.predict(self.prepare_frame(frame))
        except _Defer:
            return self.plain.predict_frame(frame)


def compile_predictor(
    pipeline: Pipeline,
    schema: FeatureSchema,
    *,
    examples: Sequence[Mapping[str, Any]] = (),
    large_batches: bool = False,
) -> Predictor:
    """The fast predictor for ``pipeline``, or the plain one with ``reason`` saying why not.

    The compiled path is checked against the pipeline on rows synthesised from the schema (mid-range
    numbers, missing values where allowed, every category) and on ``examples`` (records the model must
    accept, such as the reference profile's); any disagreement means the plain pipeline is used.
    ``large_batches`` (batch prediction): a forest's trees are walked by compiled code from ``WALK_FROM``
    rows (numba; built at the first such batch, ~1 s the first time on a machine, then cached), checked
    first on that batch's rows against the tree-by-tree sum.
    """
    try:
        compiled = CompiledPredictor(pipeline, schema, large_batches=large_batches)
    except _Unsupported as unsupported:
        return PipelinePredictor(pipeline, schema, reason=f"not compiled: {unsupported}")
    except Exception as error:  # a fitted object not shaped as its type promises: serve it as it is
        reason = f"not compiled: {type(error).__name__} while compiling: {error}"
        return PipelinePredictor(pipeline, schema, reason=reason)
    problem = _disagreement(compiled, pipeline, schema, examples)
    if problem is not None:
        return PipelinePredictor(pipeline, schema, reason=f"not compiled: {problem}")
    return compiled


def describe(predictor: Predictor) -> str:
    """Which path predicts, in a few words for the user."""
    if not isinstance(predictor, CompiledPredictor):
        return f"the pipeline's own predict ({predictor.reason or 'as asked'})"
    model = predictor.model
    if not isinstance(model, ForestTables):
        return "compiled preparation; the model's own predict"
    if model.walk is not None:
        threads = model.walk.threads
        return (
            f"compiled preparation; the forest's trees walked by compiled code on {threads} thread"
            f"{'s' if threads > 1 else ''} (from {WALK_FROM:,} rows)"
        )
    if model.walk_note is not None:
        return f"compiled preparation; the forest's trees one by one ({model.walk_note})"
    why = f"no batch reached {WALK_FROM:,} rows" if model.walk_wanted else "as asked"
    return f"compiled preparation; the forest's trees one by one ({why})"


# -- the self-check ------------------------------------------------------------------------------------------


def probe_records(schema: FeatureSchema) -> list[dict[str, Any]]:
    """Records covering the schema: each category in turn, numbers across the seen range, missing values."""
    n = max([4, *(len(f.categories or ()) + f.nullable for f in schema.features if f.kind == "categorical")])
    fractions = [0.5, 0.25, 0.75, 0.1, 0.9, 0.4, 0.6]
    records = []
    for i in range(n):
        record: dict[str, Any] = {}
        for feature in schema.features:
            if feature.kind == "numeric":
                missing = feature.nullable and (i % 4 == 3 or feature.low is None)
                if missing:
                    record[feature.name] = None
                elif feature.low is None or feature.high is None:
                    record[feature.name] = 0.0
                else:
                    fraction = fractions[i % len(fractions)]
                    record[feature.name] = feature.low + fraction * (feature.high - feature.low)
            else:
                choices: list[Any] = list(feature.categories or ())
                if feature.nullable:
                    choices.append(None)
                record[feature.name] = choices[i % len(choices)] if choices else None
        records.append(record)
    return records


def _disagreement(
    compiled: CompiledPredictor,
    pipeline: Pipeline,
    schema: FeatureSchema,
    examples: Sequence[Mapping[str, Any]],
) -> str | None:
    try:
        rows = schema.check_records([*probe_records(schema), *examples])
    except DataError as error:  # SchemaViolation: the examples do not fit the schema
        return f"the check rows do not fit the schema ({error})"
    try:
        expected = np.asarray(pipeline.predict(schema.frame_from_rows(rows)))
        expected_matrix = np.asarray(
            pipeline.steps[0][1].transform(schema.frame_from_rows(rows)), dtype=float
        )
    except Exception as error:  # any failure means the pipeline cannot be checked
        return f"the pipeline fails on the check rows ({type(error).__name__}: {error})"
    try:
        matrix = compiled.prepare_rows(rows)
    except _Defer:
        return "the compiled preparation cannot take the check rows"
    if matrix.shape != expected_matrix.shape:
        return f"prepared {matrix.shape[1]} columns where the pipeline prepares {expected_matrix.shape[1]}"
    # Bit for bit: the operations are sklearn's own, and a tree split can hinge on the last bit.
    if not np.array_equal(matrix, expected_matrix, equal_nan=True):
        return "the compiled preparation differs from the ColumnTransformer's"
    try:
        checks = {
            "a batch": compiled.predict_rows(rows),
            "a single row": np.concatenate([compiled.predict_rows([row]) for row in rows[:3]]),
            "a frame": compiled.predict_frame(schema.frame_from_rows(rows)),
        }
    except Exception as error:  # the model refuses the prepared matrix
        return f"the compiled path fails on the check rows ({type(error).__name__}: {error})"
    for what, predicted in checks.items():
        if not _agrees(predicted, expected[: len(predicted)]):
            return f"compiled predictions for {what} differ from the pipeline's"
    return None


def _agrees(predicted: np.ndarray, expected: np.ndarray) -> bool:
    if predicted.shape != expected.shape:
        return False
    if expected.dtype.kind in "fc":
        return bool(np.allclose(predicted, expected, rtol=RELATIVE_TOLERANCE, atol=0.0, equal_nan=True))
    return bool((predicted == expected).all())
