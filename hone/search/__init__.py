"""Hyper-parameter search: strategies propose candidates, one engine fits, stores and reports them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hone.search.estimators import GridSearch, RandomSearch
    from hone.search.halving import HalvingGridSearch, HalvingRandomSearch

__all__ = ["GridSearch", "RandomSearch", "HalvingGridSearch", "HalvingRandomSearch"]


def __getattr__(name: str) -> Any:
    # Lazy: the store's trial log imports hone.search.fitting, and the estimators import the store.
    if name in ("GridSearch", "RandomSearch"):
        from hone.search import estimators

        return getattr(estimators, name)
    if name in __all__:
        from hone.search import halving

        return getattr(halving, name)
    raise AttributeError(f"module 'hone.search' has no attribute {name!r}")
