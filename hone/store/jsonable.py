"""Values as JSON takes them: numpy scalars as Python numbers, non-finite floats as null, the rest named.

Every record hone writes (trials, registry versions, monitor history, analysis tables) goes through here,
so one value is written one way wherever it is stored.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np


def python_value(value: Any) -> Any:
    """A numpy scalar as the Python number it holds; anything else unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def json_default(value: Any) -> Any:
    """``json.dumps``'s ``default``: what JSON has no type for, as the closest value a reader can use."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, Path):
        return str(value)
    return repr(value)  # an estimator or callable in params: its repr is what a reader can use


def to_json(value: Any, *, sort_keys: bool = False) -> str:
    return json.dumps(value, default=json_default, sort_keys=sort_keys)


def finite_or_none(value: float | None) -> float | None:
    """A float for JSON: NaN and infinities (which JSON cannot hold) become null."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def params_key(params: dict[str, Any]) -> str:
    """Params as the store keys them (sorted, odd values by repr): equal params give equal text."""
    return json.dumps(params, sort_keys=True, default=repr)
