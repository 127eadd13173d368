"""hone: from tabular data and a shortlist of models to a tuned, tested, launched, monitored model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hone.errors import HoneError

if TYPE_CHECKING:
    from hone.search import GridSearch, HalvingGridSearch, HalvingRandomSearch, RandomSearch, TPESearch

__version__ = "0.1.0"

__all__ = [
    "GridSearch",
    "RandomSearch",
    "HalvingGridSearch",
    "HalvingRandomSearch",
    "TPESearch",
    "HoneError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # The search classes pull in scikit-learn's model selection (about 2 s to import): commands that
    # only serve, predict or monitor should not pay for it at start-up.
    if name in ("GridSearch", "RandomSearch", "HalvingGridSearch", "HalvingRandomSearch", "TPESearch"):
        from hone import search

        return getattr(search, name)
    raise AttributeError(f"module 'hone' has no attribute {name!r}")
