"""Hyper-parameter search: strategies propose candidates, one engine fits, stores and reports them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hone.search.estimators import GridSearch, RandomSearch
    from hone.search.halving import HalvingGridSearch, HalvingRandomSearch
    from hone.search.tpe import TPESearch

__all__ = ["GridSearch", "RandomSearch", "HalvingGridSearch", "HalvingRandomSearch", "TPESearch"]


def __getattr__(name: str) -> Any:
    # Lazy: importing a strategy pulls in scikit-learn and the store, which light users never need.
    homes = {
        "GridSearch": "estimators",
        "RandomSearch": "estimators",
        "HalvingGridSearch": "halving",
        "HalvingRandomSearch": "halving",
        "TPESearch": "tpe",
    }
    if name in homes:
        import importlib

        return getattr(importlib.import_module(f"hone.search.{homes[name]}"), name)
    raise AttributeError(f"module 'hone.search' has no attribute {name!r}")
