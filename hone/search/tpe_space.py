"""TPE's search space: ``param_distributions`` as Optuna distributions, and a candidate asked of a trial.

Accepted as RandomizedSearchCV accepts them, as far as TPE can model them: a list of values
(categorical), ``scipy.stats`` ``randint`` (integers), ``uniform`` (floats) and ``loguniform`` (floats on a
log scale), or an Optuna distribution. A list of dicts is a conditional space: the trial first picks
a sub-space (a categorical over their positions), then that sub-space's parameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from hone.errors import SearchError

Params = dict[str, Any]

SUBSPACE = "hone.subspace"  # the trial's parameter that picks a sub-space of a list of dicts
SUPPORTED = "a list of values, scipy.stats randint / uniform / loguniform, or an Optuna distribution"


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: its name for the estimator, its name and distribution for Optuna."""

    name: str
    key: str
    distribution: BaseDistribution
    choices: tuple[Any, ...] = ()  # a categorical's values; Optuna samples their positions

    def suggest(self, trial: Any) -> Any:
        d = self.distribution
        if isinstance(d, IntDistribution):
            return trial.suggest_int(self.key, d.low, d.high, step=d.step, log=d.log)
        if isinstance(d, FloatDistribution):
            return trial.suggest_float(self.key, d.low, d.high, step=d.step, log=d.log)
        return self.choices[trial.suggest_categorical(self.key, d.choices)]

    def fingerprint(self) -> tuple[Any, ...]:
        return (self.name, self.key, repr(self.distribution), self.choices)


Space = list[list[Dimension]]


def tpe_space(param_distributions: Any) -> Space:
    """The sub-spaces of ``param_distributions`` (a dict, or a non-empty list of dicts)."""
    spaces = [param_distributions] if isinstance(param_distributions, Mapping) else param_distributions
    if isinstance(spaces, str) or not isinstance(spaces, Sequence) or not spaces:
        raise SearchError(
            f"param_distributions must be a dict or a non-empty list of dicts, got {param_distributions!r}"
        )
    several = len(spaces) > 1
    converted = []
    for index, space in enumerate(spaces):
        where = f"param_distributions[{index}]" if several else "param_distributions"
        if not isinstance(space, Mapping) or not space:
            raise SearchError(f"{where} must be a non-empty dict of parameter -> distribution, got {space!r}")
        prefix = f"{index}:" if several else ""  # sub-spaces may share a name with other values
        converted.append(
            [
                _dimension(str(name), f"{prefix}{name}", value, f"{where}[{name!r}]")
                for name, value in space.items()
            ]
        )
    return converted


def ask(trial: Any, space: Space) -> Params:
    """The candidate ``trial`` proposes: a sub-space first when there are several, then its parameters."""
    index = trial.suggest_categorical(SUBSPACE, list(range(len(space)))) if len(space) > 1 else 0
    return {dimension.name: dimension.suggest(trial) for dimension in space[index]}


def _dimension(name: str, key: str, value: Any, where: str) -> Dimension:
    if isinstance(value, CategoricalDistribution):
        return _categorical(name, key, tuple(value.choices), where)
    if isinstance(value, IntDistribution | FloatDistribution):
        return Dimension(name, key, value)
    if isinstance(value, list | tuple):
        return _categorical(name, key, tuple(value), where)
    if hasattr(value, "dist") and hasattr(value, "support"):
        return Dimension(name, key, _from_scipy(value, where))
    raise SearchError(f"{where}: {value!r} is not something TPE can sample; use {SUPPORTED}")


def _categorical(name: str, key: str, choices: tuple[Any, ...], where: str) -> Dimension:
    if not choices:
        raise SearchError(f"{where}: the list of values is empty")
    return Dimension(name, key, CategoricalDistribution(tuple(range(len(choices)))), choices)


def _from_scipy(frozen: Any, where: str) -> BaseDistribution:
    kind = getattr(frozen.dist, "name", type(frozen.dist).__name__)
    low, high = (float(bound) for bound in frozen.support())
    if kind == "randint":
        return IntDistribution(int(low), int(high))
    if kind == "uniform":
        return FloatDistribution(low, high)
    # loguniform with loc != 0 is not log-uniform on its support: its geometric mean is not its median.
    if kind in ("loguniform", "reciprocal") and math.isclose(frozen.cdf(math.sqrt(low * high)), 0.5):
        return FloatDistribution(low, high, log=True)
    arguments = ", ".join([repr(a) for a in frozen.args] + [f"{k}={v!r}" for k, v in frozen.kwds.items()])
    raise SearchError(f"{where}: TPE cannot sample scipy.stats {kind}({arguments}); use {SUPPORTED}")
