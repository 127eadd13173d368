"""Tuning from a project file: estimators and spaces resolved, the data split, every model searched."""

from hone.tune.project import TuneOutcome, tune

__all__ = ["TuneOutcome", "tune"]
