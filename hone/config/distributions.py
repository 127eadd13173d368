"""The grammar of distributions in a project file: `randint(1, 200)`, `loguniform(1e-3, 1)`, ..."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from hone.errors import ConfigError, close_matches

Space = list[dict[str, Any]] | dict[str, Any]


@dataclass(frozen=True)
class _Form:
    params: tuple[str, ...]
    defaults: dict[str, float] = field(default_factory=dict)
    integer: bool = False  # randint: its bounds must be ints


_FORMS = {
    "randint": _Form(("low", "high"), integer=True),
    "uniform": _Form(("loc", "scale"), {"loc": 0.0, "scale": 1.0}),
    "loguniform": _Form(("low", "high")),
    "norm": _Form(("loc", "scale"), {"loc": 0.0, "scale": 1.0}),
    "expon": _Form(("loc", "scale"), {"loc": 0.0, "scale": 1.0}),
}


SUPPORTED_DISTRIBUTIONS = (
    "randint(low, high) [high excluded], uniform(loc, scale) [loc to loc+scale], loguniform(low, high), "
    "norm(loc, scale), expon(loc, scale)"
)


_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"


_CALL_RE = re.compile(r"\s*([A-Za-z_]\w*)\s*\(([^()]*)\)\s*")


_ARG_RE = re.compile(rf"\s*(?:([A-Za-z_]\w*)\s*=\s*)?({_NUMBER})\s*")


_INT_RE = re.compile(r"[+-]?\d+")


def _parse(text: str) -> tuple[str, dict[str, float]]:
    """``"randint(1, 200)"`` -> ``("randint", {"low": 1, "high": 200})``; ValueError if malformed."""
    call = _CALL_RE.fullmatch(text)
    if not call:
        raise ValueError("not a distribution call")
    name, inner = call.groups()
    form = _FORMS.get(name)
    if form is None:
        close = close_matches(name, _FORMS)
        raise ValueError(f"unknown distribution {name!r}" + (f", did you mean {close[0]!r}" if close else ""))
    args: dict[str, float] = {}
    keywords_started = False
    for position, piece in enumerate(inner.split(",") if inner.strip() else []):
        arg = _ARG_RE.fullmatch(piece)
        if not arg:
            raise ValueError(f"argument {piece.strip()!r} is not a number")
        key, number = arg.groups()
        if key is None:
            if keywords_started:
                raise ValueError("a positional argument follows a keyword argument")
            if position >= len(form.params):
                raise ValueError(f"{name} takes at most {len(form.params)} arguments")
            key = form.params[position]
        else:
            keywords_started = True
            if key not in form.params:
                raise ValueError(f"{name} has no argument {key!r}")
        if key in args:
            raise ValueError(f"{key} is given twice")
        value: float = int(number) if _INT_RE.fullmatch(number) else float(number)
        if not math.isfinite(value):
            raise ValueError(f"{key} is not finite")
        if form.integer and not isinstance(value, int):
            raise ValueError(f"{name} needs integer bounds, {key} is {number}")
        args[key] = value
    for key in form.params:
        if key not in args:
            if key not in form.defaults:
                raise ValueError(f"{name} needs {' and '.join(form.params)}")
            args[key] = form.defaults[key]
    if "scale" in args and not args["scale"] > 0:
        raise ValueError("scale must be positive")
    if "low" in args and not args["low"] < args["high"]:
        raise ValueError("low must be less than high")
    if name == "loguniform" and not args["low"] > 0:
        raise ValueError("loguniform needs low > 0")
    return name, args


def distribution_problem(text: str) -> str | None:
    """What is wrong with a distribution text, as an error message, or None if it parses."""
    try:
        _parse(text)
    except ValueError as exc:
        return f"bad distribution {text!r}: {exc}; supported: {SUPPORTED_DISTRIBUTIONS} with number arguments"
    return None


def parse_distribution(text: str, where: str) -> Any:
    """A frozen ``scipy.stats`` distribution from text such as ``randint(1, 200)``."""
    problem = distribution_problem(text)
    if problem:
        raise ConfigError(problem, where=where)
    name, args = _parse(text)
    from scipy import stats  # imported late: loading a config only needs the parser above

    if name == "randint":
        return stats.randint(args["low"], args["high"])
    if name == "loguniform":
        return stats.loguniform(args["low"], args["high"])
    return getattr(stats, name)(loc=args["loc"], scale=args["scale"])
