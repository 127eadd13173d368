"""Reading a project file: YAML parsed, validated against the schema, every problem located."""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from hone.config.locate import (
    ConfigProblem,
    KeyPath,
    Locator,
    did_you_mean,
    format_path,
    parse_yaml,
    pydantic_message,
)
from hone.config.schema import ProjectConfig
from hone.errors import ConfigError


def _model_at(path: KeyPath) -> type[BaseModel] | None:
    """The schema model describing the mapping at ``path`` (list indices are looked through)."""
    model: type[BaseModel] | None = ProjectConfig
    for element in path:
        if isinstance(element, int):
            continue
        field = model.model_fields.get(element) if model else None
        model = _find_model(field.annotation) if field else None
    return model


def _find_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType, list, Annotated):
        for arg in get_args(annotation):
            found = _find_model(arg)
            if found is not None:
                return found
    return None


@dataclass(frozen=True)
class _Located:
    path: KeyPath
    mark: yaml.Mark | None
    message: str
    missing: bool = False


def _locate(error: Mapping[str, Any], locator: Locator) -> _Located:
    loc = tuple(error["loc"])
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, ConfigProblem):
        base, _ = locator.resolve(loc, skip_unknown=True)
        shown, spot = locator.resolve(base + cause.at)
        return _Located(shown, spot.mark() if spot else None, cause.message)
    if error["type"] == "missing":
        parent, spot = locator.resolve(loc[:-1], skip_unknown=True)
        return _Located(parent + loc[-1:], spot.mark() if spot else None, "required key is missing", True)
    shown, spot = locator.resolve(loc, skip_unknown=True)
    if error["type"] == "extra_forbidden":
        model = _model_at(shown[:-1])
        allowed = list(model.model_fields) if model else []
        key = str(shown[-1]) if shown else "?"
        message = f"unknown key{did_you_mean(key, allowed)}"
        if allowed:
            message += f" (allowed keys: {', '.join(allowed)})"
        return _Located(shown, spot.mark(key=True) if spot else None, message)
    return _Located(shown, spot.mark() if spot else None, pydantic_message(error))


def _first_problem(exc: ValidationError, locator: Locator) -> ConfigError:
    located = [_locate(error, locator) for error in exc.errors()]

    # A value failing a union fails once per member; keep the most specific of those paths.
    def deeper(other: _Located, item: _Located) -> bool:
        return len(other.path) > len(item.path) and other.path[: len(item.path)] == item.path

    specific = [item for item in located if not any(deeper(other, item) for other in located)]

    def position(item: _Located) -> tuple[bool, int, int]:
        # A misspelt key is also a missing one: the unknown key, with its suggestion, says more.
        line, column = (item.mark.line, item.mark.column) if item.mark else (1 << 30, 0)
        return item.missing, line, column

    first = min(specific, key=position)
    prefix = format_path(first.path)
    return ConfigError(f"{prefix}: {first.message}", where=locator.position(first.mark))


def load_config(path: str | Path) -> ProjectConfig:
    """Read and validate a project file; every problem is a ConfigError naming file:line:col."""
    file = Path(path)
    label = str(path)
    if file.is_dir():
        inside = file / "hone.yaml"
        hint = f"; did you mean {inside}?" if inside.is_file() else ""
        raise ConfigError(f"is a directory, not a project file{hint}", where=label)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("project file not found", where=label) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"project file is not UTF-8 text ({exc.reason})", where=label) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the project file: {exc.strerror or exc}", where=label) from None

    data, locator = parse_yaml(text, label)
    if locator is None or data is None:
        raise ConfigError("project file is empty", where=label)
    if not isinstance(data, dict):
        raise ConfigError(
            "the top level must be a mapping of keys (project:, data:, models:, ...), "
            f"not a {type(data).__name__}",
            where=locator.position(locator.spots[()].node.start_mark),
        )

    absolute = file.absolute()
    try:
        config = ProjectConfig.model_validate(data, context={"base_dir": absolute.parent})
    except ValidationError as exc:
        raise _first_problem(exc, locator) from None
    config._config_path = absolute
    config._locator = locator
    for index, model in enumerate(config.models):
        model._locator = locator.child("models", index)
    return config
