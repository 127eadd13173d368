"""The project database: trials (Optuna), the locked test split, runs."""

from hone.store.db import Store

__all__ = ["Store"]
