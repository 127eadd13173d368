"""The shared chart style and the step from a matplotlib figure to an inline ``<svg>``.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot), so rendering touches no global
backend state and works headless; the style is applied with ``rc_context`` for the same reason.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from html import escape
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from hone.report import format as fmt

ACCENT = "#2563eb"
ACCENT_DARK = "#1e3a8a"
ACCENT_LIGHT = "#dbe6fd"
MUTED = "#a3afc2"
INK = "#1f2937"
FONT_STACK = "'DejaVu Sans', Verdana, 'Liberation Sans', Arial, sans-serif"  # DejaVu: the layout's metrics
SCATTER_LIMIT = 5000
SAMPLE_SEED = 0

STYLE: dict[str, Any] = {
    "svg.fonttype": "none",  # text stays text: small, crisp and searchable
    "svg.hashsalt": "hone-report",  # deterministic ids, so the same data gives the same file
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 9.5,
    "axes.titlesize": 10,
    "axes.titlelocation": "left",
    "axes.labelsize": 9.5,
    "axes.edgecolor": "#9ca3af",
    "axes.labelcolor": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#e5e7eb",
    "grid.linewidth": 0.8,
    "xtick.color": "#4b5563",
    "ytick.color": "#4b5563",
    "text.color": INK,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "figure.facecolor": "white",
    "figure.titlesize": 11.5,
    "figure.titleweight": "bold",
    "savefig.dpi": 144,  # only rasterised scatter points use it
}

ACCENT_CMAP = LinearSegmentedColormap.from_list("hone_accent", ["#f3f7ff", "#93b4f5", ACCENT, ACCENT_DARK])


@dataclass
class Chart:
    """One rendered chart: the ``<svg>`` markup (ids not yet unique) and a caption in plain text."""

    svg: str
    caption: str = ""


@contextmanager
def styled() -> Iterator[None]:
    with mpl.rc_context(STYLE):
        yield


def new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def text(value: Any) -> str:
    """User text for matplotlib: a ``$`` would otherwise start mathtext."""
    return str(value).replace("$", r"\$")


def thousands(axis: Any) -> None:
    """Tick labels with separators; 100k-style once the axis reaches 100,000, so labels do not collide."""

    def label(value: float, _pos: Any) -> str:
        reach = max(abs(limit) for limit in axis.get_view_interval())
        return fmt.compact(float(value)) if reach >= 1e5 and value != 0 else fmt.number(float(value))

    axis.set_major_formatter(FuncFormatter(label))


def shades(n: int) -> list[Any]:
    """n shades of the accent, light to dark, for lines that belong to one family."""
    if n == 1:
        return [ACCENT]
    return [ACCENT_CMAP(x) for x in np.linspace(0.35, 1.0, n)]


def sample(*arrays: Sequence[float], limit: int = SCATTER_LIMIT) -> tuple[list[np.ndarray], int, int]:
    """Finite points, downsampled (seeded) above ``limit``; returns arrays, shown count, finite count."""
    data = [np.asarray(a, dtype=float) for a in arrays]
    keep = np.all([np.isfinite(a) for a in data], axis=0)
    data = [a[keep] for a in data]
    total = len(data[0])
    if total > limit:
        index = np.sort(np.random.default_rng(SAMPLE_SEED).choice(total, size=limit, replace=False))
        data = [a[index] for a in data]
    return data, len(data[0]), total


_HEADER = re.compile(r"^.*?(?=<svg\b)", re.S)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.S)
_NAMESPACES = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
_FONT_FAMILY = re.compile(r"font-family:[^;\"]*;?\s*")


def to_svg(fig: Figure, label: str) -> str:
    """The figure as inline SVG: no XML header, metadata or namespace URLs (HTML needs none of them)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    svg = _HEADER.sub("", buffer.getvalue(), count=1)
    svg = _METADATA.sub("", svg, count=1)
    svg = _NAMESPACES.sub("", svg)
    svg = svg.replace("xlink:href=", "href=")  # SVG 2 spelling, no xlink namespace needed
    svg = _FONT_FAMILY.sub("", svg)  # the page's CSS sets one font stack for every chart
    svg = svg.replace("<svg ", f'<svg class="chart" role="img" aria-label="{escape(label, quote=True)}" ', 1)
    return svg.strip()


_ID = re.compile(r'\bid="([^"]+)"')


def scope_ids(svg: str, prefix: str) -> str:
    """Prefix every id and its references: matplotlib's ids repeat between figures on one page."""
    ids = set(_ID.findall(svg))
    if not ids:
        return svg

    def rename(match: re.Match[str]) -> str:
        name = match.group(2)
        return f"{match.group(1)}{prefix}-{name}{match.group(3)}" if name in ids else match.group(0)

    svg = re.sub(r'(\bid=")([^"]+)(")', rename, svg)
    svg = re.sub(r'(href="#)([^"]+)(")', rename, svg)
    return re.sub(r"(url\(#)([^)]+)(\))", rename, svg)
