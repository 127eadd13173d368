"""Hyper-parameter search: strategies propose candidates, one engine fits, stores and reports them."""

from hone.search.estimators import GridSearch, RandomSearch

__all__ = ["GridSearch", "RandomSearch"]
