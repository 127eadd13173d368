"""Built-in search spaces: what to try for common models, scaled to the data, starting cheap and good.

Each space is a list of dimensions (numbers on a linear or log scale, or choices) mapped from a unit
cube, so a proposer can move in it without knowing the model, plus ``starts``: known-good settings in
increasing order of cost, the first being the low-cost default every search begins with.

Preparation: ``scaled`` models (linear, k-NN, SVM) get the project's preparation as written (scaling,
one-hot); ``trees`` get the same imputation and derived features but no scaling and ordinal-encoded
categories, which HistGradientBoosting (``categorical_features``) and LightGBM (``categorical_feature``)
split on natively and forests split on as ordered codes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hone.errors import ConfigError

Params = dict[str, Any]
Task = Literal["regression", "classification"]
Preparation = Literal["scaled", "trees"]

SMALL_DATA = 5000  # rows: k-NN and SVMs join the default shortlist only below this


@dataclass(frozen=True)
class Number:
    """A number between ``low`` and ``high`` (log scale if ``log``), rounded if ``integer``."""

    name: str
    low: float
    high: float
    log: bool = False
    integer: bool = False

    def value(self, unit: float) -> Any:
        unit = min(max(unit, 0.0), 1.0)
        if self.log:
            raw = math.exp(math.log(self.low) + unit * (math.log(self.high) - math.log(self.low)))
        else:
            raw = self.low + unit * (self.high - self.low)
        return int(round(raw)) if self.integer else float(raw)

    def unit(self, value: Any) -> float:
        value = min(max(float(value), self.low), self.high)
        if self.log:
            return (math.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (value - self.low) / (self.high - self.low)


@dataclass(frozen=True)
class Choice:
    """One of ``options``; the unit interval is cut into equal parts."""

    name: str
    options: tuple[Any, ...]

    def value(self, unit: float) -> Any:
        index = min(int(min(max(unit, 0.0), 1.0) * len(self.options)), len(self.options) - 1)
        return self.options[index]

    def unit(self, value: Any) -> float:
        return (self.options.index(value) + 0.5) / len(self.options)


Dimension = Number | Choice


@dataclass(frozen=True)
class ModelSpace:
    """A model's built-in space: the estimator, its fixed params, the dimensions and the good starts."""

    name: str
    estimator: str
    fixed: Params
    dimensions: tuple[Dimension, ...]
    starts: tuple[Params, ...]
    preparation: Preparation = "trees"
    notes: str = field(default="", compare=False)

    def params(self, point: Sequence[float]) -> Params:
        return {dim.name: dim.value(u) for dim, u in zip(self.dimensions, point, strict=True)}

    def point(self, params: Params) -> list[float]:
        return [dim.unit(params[dim.name]) for dim in self.dimensions]

    def describe(self) -> Any:
        """A plain, stable description (part of the study's identity)."""
        return {
            "estimator": self.estimator,
            "fixed": {k: v for k, v in sorted(self.fixed.items())},
            "dimensions": [repr(d) for d in self.dimensions],
            "starts": [dict(sorted(s.items())) for s in self.starts],
        }


@dataclass(frozen=True)
class DataShape:
    """What the spaces are scaled to."""

    task: Task
    n_rows: int
    n_features: int
    categorical: tuple[int, ...] = ()  # positions of ordinal-encoded categorical columns (trees)


def _trees(n_rows: int) -> int:
    # More rows, more trees pay off; small data over-fits fast and fits are cheap anyway.
    return 2000 if n_rows >= 5000 else 1000


def _lightgbm(shape: DataShape) -> ModelSpace:
    kind = "LGBMRegressor" if shape.task == "regression" else "LGBMClassifier"
    fixed: Params = {"verbose": -1, "n_jobs": 1, "random_state": 0, "subsample_freq": 1}
    if shape.categorical:
        fixed["categorical_feature"] = list(shape.categorical)
    leaves = max(7, min(255, shape.n_rows // 20))
    return ModelSpace(
        "lightgbm",
        f"lightgbm.{kind}",
        fixed,
        (
            Number("n_estimators", 50, 4 * _trees(shape.n_rows), log=True, integer=True),
            Number("learning_rate", 0.01, 0.3, log=True),
            Number("num_leaves", 4, leaves, log=True, integer=True),
            Number("min_child_samples", 3, 100, log=True, integer=True),
            Number("colsample_bytree", 0.3, 1.0),
            Number("subsample", 0.5, 1.0),
            Number("reg_lambda", 1e-3, 10.0, log=True),
        ),
        (
            _lgb(100, 0.1, min(31, leaves), 20, 1.0, 1.0),
            _lgb(_trees(shape.n_rows) // 2, 0.05, min(31, leaves), 20, 0.5, 0.8),
            _lgb(_trees(shape.n_rows), 0.02, min(63, leaves), 10, 0.6, 0.8),
        ),
    )


def _lgb(n: int, rate: float, leaves: int, child: int, columns: float, rows: float) -> Params:
    return {
        "n_estimators": n,
        "learning_rate": rate,
        "num_leaves": leaves,
        "min_child_samples": child,
        "colsample_bytree": columns,
        "subsample": rows,
        "reg_lambda": 1e-3,
    }


def _hist_gb(shape: DataShape) -> ModelSpace:
    kind = "HistGradientBoostingRegressor" if shape.task == "regression" else "HistGradientBoostingClassifier"
    leaves = max(7, min(255, shape.n_rows // 20))
    fixed: Params = {"random_state": 0, "early_stopping": False}
    if shape.categorical:
        fixed["categorical_features"] = list(shape.categorical)

    def start(n: int, rate: float, nodes: int, leaf: int, features: float) -> Params:
        return {
            "max_iter": n,
            "learning_rate": rate,
            "max_leaf_nodes": nodes,
            "min_samples_leaf": leaf,
            "max_features": features,
            "l2_regularization": 1e-3,
        }

    return ModelSpace(
        "hist_gb",
        f"sklearn.ensemble.{kind}",
        fixed,
        (
            Number("max_iter", 50, 2 * _trees(shape.n_rows), log=True, integer=True),
            Number("learning_rate", 0.01, 0.3, log=True),
            Number("max_leaf_nodes", 4, leaves, log=True, integer=True),
            Number("min_samples_leaf", 3, 100, log=True, integer=True),
            Number("max_features", 0.3, 1.0),
            Number("l2_regularization", 1e-3, 10.0, log=True),
        ),
        (
            start(100, 0.1, min(31, leaves), 20, 1.0),
            start(_trees(shape.n_rows) // 2, 0.05, min(31, leaves), 20, 0.5),
        ),
    )


def _forest(shape: DataShape, extra: bool) -> ModelSpace:
    family = "ExtraTrees" if extra else "RandomForest"
    kind = f"{family}{'Regressor' if shape.task == 'regression' else 'Classifier'}"
    default_share = 0.5 if shape.task == "regression" else max(1.0 / math.sqrt(max(shape.n_features, 1)), 0.1)
    return ModelSpace(
        "extra_trees" if extra else "random_forest",
        f"sklearn.ensemble.{kind}",
        {"random_state": 0, "n_jobs": 1},
        (
            Number("n_estimators", 10, 500, log=True, integer=True),
            Number("max_features", 0.1, 1.0),
            Number("min_samples_leaf", 1, 30, log=True, integer=True),
        ),
        (
            {"n_estimators": 10, "max_features": round(default_share, 3), "min_samples_leaf": 1},
            {"n_estimators": 100, "max_features": round(default_share, 3), "min_samples_leaf": 1},
        ),
    )


def _linear(shape: DataShape) -> ModelSpace:
    if shape.task == "regression":
        return ModelSpace(
            "ridge",
            "sklearn.linear_model.Ridge",
            {},
            (Number("alpha", 1e-4, 1e4, log=True),),
            ({"alpha": 1.0},),
            preparation="scaled",
        )
    return ModelSpace(
        "logistic",
        "sklearn.linear_model.LogisticRegression",
        {"max_iter": 2000},
        (Number("C", 1e-4, 1e4, log=True),),
        ({"C": 1.0},),
        preparation="scaled",
    )


def _elastic_net(shape: DataShape) -> ModelSpace:
    if shape.task != "regression":
        raise _unsupported("ElasticNet", shape.task)
    return ModelSpace(
        "elastic_net",
        "sklearn.linear_model.ElasticNet",
        {"max_iter": 5000},
        (Number("alpha", 1e-4, 10.0, log=True), Number("l1_ratio", 0.01, 1.0)),
        ({"alpha": 1e-2, "l1_ratio": 0.5},),
        preparation="scaled",
    )


def _knn(shape: DataShape) -> ModelSpace:
    kind = "KNeighborsRegressor" if shape.task == "regression" else "KNeighborsClassifier"
    return ModelSpace(
        "knn",
        f"sklearn.neighbors.{kind}",
        {},
        (
            Number("n_neighbors", 1, min(100, max(2, shape.n_rows // 10)), log=True, integer=True),
            Choice("weights", ("uniform", "distance")),
        ),
        ({"n_neighbors": 5, "weights": "uniform"},),
        preparation="scaled",
    )


def _svm(shape: DataShape) -> ModelSpace:
    kind = "SVR" if shape.task == "regression" else "SVC"
    gamma = 1.0 / max(shape.n_features, 1)
    return ModelSpace(
        "svm",
        f"sklearn.svm.{kind}",
        {"kernel": "rbf"},
        (Number("C", 1e-2, 1e4, log=True), Number("gamma", 1e-4, 10.0, log=True)),
        ({"C": 1.0, "gamma": gamma},),
        preparation="scaled",
    )


def _unsupported(name: str, task: str) -> ConfigError:
    return ConfigError(f"there is no built-in {task} space for {name}")


_BUILDERS = {
    "lightgbm": _lightgbm,
    "hist_gb": _hist_gb,
    "random_forest": lambda shape: _forest(shape, extra=False),
    "extra_trees": lambda shape: _forest(shape, extra=True),
    "linear": _linear,
    "elastic_net": _elastic_net,
    "knn": _knn,
    "svm": _svm,
}

# Estimator class names -> the builder of their space (regressor and classifier share one).
_BY_CLASS = {
    "LGBMRegressor": "lightgbm",
    "LGBMClassifier": "lightgbm",
    "HistGradientBoostingRegressor": "hist_gb",
    "HistGradientBoostingClassifier": "hist_gb",
    "RandomForestRegressor": "random_forest",
    "RandomForestClassifier": "random_forest",
    "ExtraTreesRegressor": "extra_trees",
    "ExtraTreesClassifier": "extra_trees",
    "Ridge": "linear",
    "LogisticRegression": "linear",
    "ElasticNet": "elastic_net",
    "KNeighborsRegressor": "knn",
    "KNeighborsClassifier": "knn",
    "SVR": "svm",
    "SVC": "svm",
}


def space_for(estimator_path: str, shape: DataShape, where: str = "") -> ModelSpace:
    """The built-in space of the estimator at ``estimator_path`` (``space: default`` in the project file)."""
    name = estimator_path.rsplit(".", 1)[-1]
    key = _BY_CLASS.get(name)
    if key is None:
        known = ", ".join(sorted(_BY_CLASS))
        raise ConfigError(f"no built-in space for {name}; built-in spaces exist for: {known}", where=where)
    space = _BUILDERS[key](shape)
    if space.estimator.rsplit(".", 1)[-1] != name:
        raise ConfigError(f"no built-in {shape.task} space for {name}", where=where)
    return space


def default_shortlist(shape: DataShape) -> list[ModelSpace]:
    """The models tried when the project file lists none: boosting and forests, a linear baseline,
    and on small data k-NN and an SVM (their fits grow quadratically with the rows)."""
    names = ["linear", "lightgbm", "hist_gb", "extra_trees", "random_forest"]
    if shape.n_rows <= SMALL_DATA:
        names += ["knn", "svm"]
    return [_BUILDERS[name](shape) for name in names]
