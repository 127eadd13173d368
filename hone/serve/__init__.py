"""Serving: the HTTP prediction service on the champion of a registered model.

HTTP only: the predictor it serves through is hone.launch.register.predictor. Imports are lazy.
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
