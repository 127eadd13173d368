"""Tuning from a project file: estimators and spaces resolved, the data split, every model searched."""

from hone.tune.outcome import TuneOutcome
from hone.tune.project import tune

__all__ = ["TuneOutcome", "tune"]
