"""User-facing errors: each one is a problem the user can fix.

The CLI prints a HoneError as one line (``where: message``) and exits with code 2; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations


class HoneError(Exception):
    """A problem with the user's input, named with where it is (file, key, line, column)."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class ConfigError(HoneError):
    """The project file is malformed or names something that does not exist."""


class DataError(HoneError):
    """The data cannot be read or does not have the shape the project expects."""


class SearchError(HoneError):
    """The search space, estimator or cross-validation settings cannot work."""


class StoreError(HoneError):
    """The store is unreachable, or does not hold what was asked for."""
