"""hone: from tabular data and a shortlist of models to a tuned, tested, launched, monitored model."""

from hone.errors import HoneError
from hone.search import GridSearch, RandomSearch

__version__ = "0.1.0"

__all__ = ["GridSearch", "HoneError", "RandomSearch", "__version__"]
