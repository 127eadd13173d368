"""Numbers and parameters as people read them: thousands separators, short floats, ``name=value``."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

MISSING = "—"
DEFAULT = "(default)"  # a parameter a candidate does not set, e.g. bootstrap in the seed's first sub-grid


def number(value: Any) -> str:
    """A number with thousands separators and as many decimals as its size needs."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return str(value)
    if isinstance(value, Integral):
        return f"{int(value):,}"
    v = float(value)
    if not math.isfinite(v):
        return MISSING
    size = abs(v)
    if v == int(v) and size < 1e15:  # 100.0 reads as 100 (tick labels, counts stored as floats)
        return f"{int(v):,}"
    if size >= 1000:
        return f"{v:,.0f}"
    if size >= 100:
        return f"{v:,.1f}"
    if size >= 1:
        return f"{v:.2f}".rstrip("0").rstrip(".")
    return f"{v:.3g}"


def signed(value: float) -> str:
    """A difference with its sign, using a real minus sign."""
    text = number(abs(value))
    return ("+" if value > 0 else "−" if value < 0 else "±") + text


def param_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        # four significant digits, written out (14440, 0.5304) unless tiny or huge
        rounded = float(f"{float(value):.4g}")
        if rounded == int(rounded) and abs(rounded) < 1e9:
            return str(int(rounded))
        return f"{rounded:.4g}" if abs(rounded) < 1e-3 else f"{rounded:.10g}"
    return str(value)


def params(values: dict[str, Any]) -> str:
    """``max_features=8, n_estimators=30``; empty params read as the model's defaults."""
    if not values:
        return "defaults"
    return ", ".join(f"{name}={param_value(v)}" for name, v in values.items())


def compact(value: float) -> str:
    """Short labels for heatmap cells: 49,899 -> 49.9k."""
    size = abs(value)
    if not math.isfinite(value):
        return MISSING
    if size >= 1e6:
        return f"{value / 1e6:.2f}M"
    if size >= 1e4:
        return f"{value / 1e3:.1f}".removesuffix(".0") + "k"
    return number(value)
