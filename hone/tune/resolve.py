"""Turning a model's search space from the project file into Python objects.

The project file names estimators by import path and writes distributions as text such as
``randint(1, 200)``. This module imports the estimator, checks that every fixed or searched
parameter is one the estimator accepts, and parses distribution text into frozen
``scipy.stats`` distributions with a small parser (never ``eval``: the file is user input).
Errors are ConfigErrors pointing at the offending key (``ModelSpec.where``).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from hone.config.distributions import Space, parse_distribution
from hone.errors import ConfigError, close_matches

if TYPE_CHECKING:
    from hone.config.schema import ModelSpec, SearchSettings

__all__ = [
    "check_space_params",
    "model_space",
    "resolve_estimator",
    "resolve_model",
]


# --- distributions -----------------------------------------------------------------------------


# --- estimators --------------------------------------------------------------------------------



def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _import_class(path: str, where: str) -> type:
    parts = path.split(".")
    if len(parts) < 2 or not all(part.isidentifier() for part in parts):
        raise ConfigError(
            f"{path!r} is not an import path like sklearn.ensemble.RandomForestRegressor", where=where
        )
    # The longest prefix that imports is the module; the rest are attributes (usually one class).
    module = None
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            module = importlib.import_module(module_name)
            break
        except ModuleNotFoundError as exc:
            if exc.name and not (module_name == exc.name or module_name.startswith(exc.name + ".")):
                # The module exists but one of its own imports is missing.
                raise ConfigError(f"cannot import {path!r}: {_one_line(exc)}", where=where) from exc
        except ImportError as exc:
            raise ConfigError(f"cannot import {path!r}: {_one_line(exc)}", where=where) from exc
    if module is None:
        raise ConfigError(f"cannot import {path!r}: no module named {parts[0]!r}", where=where)
    obj: Any = module
    for name in parts[split:]:
        if not hasattr(obj, name):
            names = set(dir(obj))
            if hasattr(obj, "__path__"):  # a package: its submodules are valid next names too
                names.update(info.name for info in pkgutil.iter_modules(obj.__path__))
            close = close_matches(name, sorted(set(names)), n=3)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"cannot import {path!r}: {getattr(obj, '__name__', obj)!s} has no attribute {name!r}{hint}",
                where=where,
            )
        obj = getattr(obj, name)
    if not (inspect.isclass(obj) and callable(getattr(obj, "get_params", None))):
        raise ConfigError(
            f"{path!r} is not an estimator class (a class with get_params, as in sklearn)", where=where
        )
    return obj


def _init_params(cls: type) -> set[str] | None:
    """The constructor's parameter names; None if it takes **kwargs (anything goes)."""
    names: set[str] = set()
    for parameter in inspect.signature(cls.__init__).parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            return None
        if parameter.kind is not inspect.Parameter.VAR_POSITIONAL and parameter.name != "self":
            names.add(parameter.name)
    return names


def _unknown_param(key: str, estimator: str, valid: Iterable[str], where: str) -> ConfigError:
    valid = sorted(set(valid))
    close = close_matches(key, sorted(set(valid)), n=3)
    if close:
        hint = "did you mean " + " or ".join(repr(name) for name in close) + "?"
    else:
        hint = "valid parameters: " + ", ".join(valid)
    return ConfigError(f"{estimator} does not accept parameter {key!r}; {hint}", where=where)


def _build(path: str, params: dict[str, Any], where_of: Callable[[str | None], str]) -> Any:
    cls = _import_class(path, where_of(None))
    accepted = _init_params(cls)
    # step__param names reach inside a composite estimator: set after construction.
    plain = {key: value for key, value in params.items() if "__" not in key}
    nested = {key: value for key, value in params.items() if "__" in key}
    for key in plain:
        if accepted is not None and key not in accepted:
            raise _unknown_param(key, cls.__name__, accepted, where_of(key))
    try:
        estimator = cls(**plain)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"cannot construct {cls.__name__}: {_one_line(exc)}", where=where_of(None)) from exc
    if nested:
        deep = estimator.get_params(deep=True)
        for key in nested:
            if key not in deep:
                raise _unknown_param(key, cls.__name__, deep, where_of(key))
        try:
            estimator.set_params(**nested)
        except (TypeError, ValueError) as exc:
            message = f"cannot set {cls.__name__} params: {_one_line(exc)}"
            raise ConfigError(message, where=where_of(None)) from exc
    return estimator


def resolve_estimator(path: str, params: dict[str, Any], where: str) -> Any:
    """Import the estimator class at ``path`` and construct it with ``params``."""
    return _build(path, params, lambda _key: where)


def _as_list(space: Space) -> list[dict[str, Any]]:
    return [space] if isinstance(space, dict) else list(space)


def _check_space(estimator: Any, space: Space, where_of: Callable[[int, str], str]) -> None:
    valid = estimator.get_params(deep=True)
    for index, params in enumerate(_as_list(space)):
        for key in params:
            if key in valid:
                continue
            if "__" in key and key.split("__", 1)[0] in params:
                continue  # the same mapping swaps in that sub-estimator; sklearn checks it when fitting
            raise _unknown_param(key, type(estimator).__name__, valid, where_of(index, key))


def check_space_params(estimator: Any, space: Space, where: str) -> None:
    """ConfigError unless every key of the grid/distributions is a parameter of ``estimator``.

    Nested ``step__param`` names are checked against ``estimator.get_params(deep=True)``.
    """
    _check_space(estimator, space, lambda _index, _key: where)


# --- a model's space -----------------------------------------------------------------------------


def model_space(model: ModelSpec, settings: SearchSettings) -> Space:
    """The space to search ``model`` with ``settings`` (its effective search settings).

    Strategy grid: the grid, a list of mappings param -> list of values (for ParameterGrid).
    Strategy random: the distributions (or the grid when there are none), values being lists or
    frozen scipy distributions; a single mapping is returned as a dict, several as a list (for
    ParameterSampler). The config is not modified.
    """
    key = model.space_key(settings.strategy)
    spaces = model.grid if key == "grid" else model.distributions
    if not spaces:
        raise ConfigError(f"strategy {settings.strategy} needs a non-empty {key}", where=model.where())
    if key == "grid" and settings.strategy != "random":  # grid, or halving over the grid
        return [{name: list(values) for name, values in params.items()} for params in spaces]
    sampled: list[dict[str, Any]] = []
    for index, params in enumerate(spaces):
        sampled.append({})
        for name, value in params.items():
            # A string is a distribution; a list is sampled uniformly by sklearn.
            if isinstance(value, str):
                sampled[-1][name] = parse_distribution(value, model.where(key, index, name))
            else:
                sampled[-1][name] = list(value)
    return sampled[0] if len(sampled) == 1 else sampled


def resolve_model(model: ModelSpec, settings: SearchSettings) -> tuple[Any, Space]:
    """The constructed estimator and its checked space, with errors pointing at the exact key."""
    estimator = _build(
        model.estimator,
        model.params,
        lambda key: model.where("estimator") if key is None else model.where("params", key),
    )
    space = model_space(model, settings)
    source = model.space_key(settings.strategy)
    _check_space(estimator, space, lambda index, key: model.where(source, index, key))
    return estimator, space
