"""Where a key of the project file is: key path -> file:line:col, and messages that name it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from hone.errors import ConfigError, close_matches

KeyPath = tuple[str | int, ...]


class ConfigProblem(ValueError):
    """A validation failure located at ``at``, a key path below the value being validated.

    Raised inside validators; pydantic keeps it in the error's ``ctx`` so ``load_config`` can
    point at the exact key instead of the whole model.
    """

    def __init__(self, message: str, at: KeyPath = ()) -> None:
        super().__init__(message)
        self.message = message
        self.at = at


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = close_matches(word, choices)
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass(frozen=True)
class _Spot:
    """A node of the YAML tree, with the mark of its key (None for the root and list items)."""

    node: yaml.Node
    key_mark: yaml.Mark | None

    def mark(self, *, key: bool = False) -> yaml.Mark:
        # A block collection starts on the line after its key; the key is what the user looks for.
        block = isinstance(self.node, (yaml.MappingNode, yaml.SequenceNode)) and not self.node.flow_style
        if self.key_mark is not None and (key or block):
            return self.key_mark
        return self.node.start_mark


class Locator:
    """Maps key paths (``("models", 0, "grid")``) to positions in one YAML file."""

    def __init__(self, label: str, spots: Mapping[KeyPath, _Spot], prefix: KeyPath = ()) -> None:
        self.label = label
        self.spots = spots
        self.prefix = prefix

    @classmethod
    def detached(cls, prefix: KeyPath = ()) -> Locator:
        return cls("<config>", {}, prefix)

    def child(self, *prefix: str | int) -> Locator:
        return Locator(self.label, self.spots, self.prefix + prefix)

    def resolve(self, path: KeyPath, *, skip_unknown: bool = False) -> tuple[KeyPath, _Spot | None]:
        """The key path to show, and the deepest spot of the file found along ``path``.

        An int under a mapping is skipped: the file had one mapping where the config holds a list
        of one. With ``skip_unknown`` (pydantic's ``loc``) any element not in the file is skipped,
        which drops the union-member tags pydantic inserts.
        """
        shown: list[str | int] = []
        current: KeyPath = ()
        spot = self.spots.get(())
        found = True
        for element in path:
            if found and current + (element,) in self.spots:
                current += (element,)
                spot = self.spots[current]
                shown.append(element)
            elif skip_unknown or (found and isinstance(element, int) and _is_mapping(spot)):
                continue
            else:
                found = False
                shown.append(element)
        return tuple(shown), spot

    def position(self, mark: yaml.Mark | None) -> str:
        return f"{self.label}:{mark.line + 1}:{mark.column + 1}" if mark is not None else self.label

    def where(self, *key_path: str | int) -> str:
        # The key rather than its value: later errors are mostly about names (a param, an estimator).
        shown, spot = self.resolve(self.prefix + key_path)
        return f"{self.position(spot.mark(key=True) if spot else None)} ({format_path(shown)})"


def _is_mapping(spot: _Spot | None) -> bool:
    return spot is not None and isinstance(spot.node, yaml.MappingNode)


def format_path(path: KeyPath) -> str:
    text = ""
    for element in path:
        text += f"[{element}]" if isinstance(element, int) else (f".{element}" if text else str(element))
    return text or "(top level)"


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _index_nodes(root: yaml.Node, label: str) -> dict[KeyPath, _Spot]:
    """Every key path of the document -> its node, rejecting duplicate keys on the way."""
    constructor = yaml.constructor.SafeConstructor()  # a separate one: only to read scalar keys
    spots: dict[KeyPath, _Spot] = {(): _Spot(root, None)}
    visited: set[int] = set()  # aliases may repeat (or nest) a node: index it once
    stack: list[tuple[KeyPath, yaml.Node]] = [((), root)]
    while stack:
        path, node = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                if isinstance(key_node, yaml.ScalarNode):
                    key: Any = constructor.construct_object(key_node)
                else:
                    key = ("<complex key>", key_node.start_mark.line, key_node.start_mark.column)
                child = path + (key,)
                if child in spots:
                    mark = key_node.start_mark
                    raise ConfigError(
                        f"{format_path(child)}: duplicate key {key!r}",
                        where=f"{label}:{mark.line + 1}:{mark.column + 1}",
                    )
                spots[child] = _Spot(value_node, key_node.start_mark)
                stack.append((child, value_node))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                spots[path + (index,)] = _Spot(item, None)
                stack.append((path + (index,), item))
    return spots


def parse_yaml(text: str, label: str) -> tuple[Any, Locator | None]:
    """The constructed document and a locator for it; (None, None) for an empty document."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        # Indexed before constructing: merge keys (<<) are flattened in place by construction.
        locator = Locator(label, _index_nodes(root, label))
        return loader.construct_document(root), locator
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = str(exc.problem or exc.context or "cannot parse")
        context = exc.context_mark
        if exc.problem and exc.context and context is not None:
            detail += f" ({exc.context} at line {context.line + 1}, column {context.column + 1})"
        where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
        raise ConfigError(f"invalid YAML: {' '.join(detail.split())}", where=where) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {' '.join(str(exc).split())}", where=label) from exc
    finally:
        loader.dispose()


_SCALARS = (str, int, float, bool, type(None))


_PLAIN_MESSAGES = {"model_type": "should be a mapping", "dict_type": "should be a mapping"}


def pydantic_message(error: Mapping[str, Any]) -> str:
    message = _PLAIN_MESSAGES.get(error["type"]) or str(error["msg"])
    message = message.removeprefix("Value error, ")
    if message.startswith("Input should"):
        message = message[len("Input ") :]
    plain_input = isinstance(error["input"], _SCALARS)
    if plain_input and error["type"] not in ("missing", "extra_forbidden", "value_error"):
        message += f" (got {error['input']!r})"
    return message
