"""`hone serve`: the HTTP prediction service on the champion of a registered model."""

from __future__ import annotations

from hone.cli import app  # noqa: F401 - commands below register on the one `hone` app
