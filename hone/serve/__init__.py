"""Serving: the HTTP prediction service on the champion of a registered model.

Imports are lazy: batch prediction uses ``hone.serve.fastpath`` without loading FastAPI.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ModelSource", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from hone.serve.app import create_app

        return create_app
    if name == "ModelSource":
        from hone.serve.source import ModelSource

        return ModelSource
    raise AttributeError(f"module 'hone.serve' has no attribute {name!r}")
