"""Hyper-parameter search: strategies propose candidates, one engine fits, stores and reports them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hone.search.estimators import GridSearch, RandomSearch
    from hone.search.tpe import TPESearch

__all__ = ["GridSearch", "RandomSearch", "TPESearch"]


def __getattr__(name: str) -> Any:
    # Lazy: the store's trial log imports hone.search.fitting, and the estimators import the store.
    if name == "TPESearch":
        from hone.search import tpe

        return tpe.TPESearch
    if name in __all__:
        from hone.search import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'hone.search' has no attribute {name!r}")
