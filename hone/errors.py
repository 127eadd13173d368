"""User-facing errors: each one is a problem the user can fix.

The CLI prints a HoneError as one line (``where: message``) and exits with code 2; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


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


def close_matches(word: str, choices: Iterable[str], n: int = 1) -> list[str]:
    """The choices a typo most likely meant (difflib's ratio of at least 0.6), closest first."""
    return difflib.get_close_matches(word, list(choices), n=n, cutoff=0.6)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or nothing: the tail of a "not found" message."""
    close = close_matches(word, choices)
    return f" (did you mean {close[0]!r}?)" if close else ""
