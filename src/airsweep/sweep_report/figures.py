"""Figures of a report: matplotlib drawings saved as PNG, or a note saying why not.

Every plot is drawn through :func:`render`, which never raises: a plot that
cannot be drawn (too few trials, no data, a library error) becomes a note, so
one plot never costs the whole report.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit, any thread

import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
import numpy as np  # noqa: E402

logger = logging.getLogger(__name__)

#: Resolution of every PNG (dots per inch).
DPI = 80
#: Matplotlib settings of every figure.
STYLE = {"figure.figsize": (8.0, 4.2), "axes.grid": True, "grid.alpha": 0.3, "font.size": 9}


@dataclass(frozen=True)
class Figure:
    """One figure of the report.

    Attributes:
        title: What it shows.
        png: The PNG image; ``None`` when it could not be drawn.
        note: Why it was not drawn, or a caveat shown under it.
    """

    title: str
    png: bytes | None = None
    note: str | None = None


class NotDrawn(Exception):
    """A plot has nothing to show; the message says why (it becomes the figure's note)."""


def render(title: str, draw: Callable[[], Any], note: str | None = None) -> Figure:
    """Draw one figure; never raises.

    Args:
        title: The figure's title in the report.
        draw: Draws with matplotlib (or Optuna's matplotlib plots) and returns
            the Axes, an array of Axes or the Figure; raises :class:`NotDrawn`
            when there is nothing to show.
        note: A caveat shown under the figure.

    Returns:
        The figure as PNG, or with a note saying why it was not drawn.
    """
    try:
        with plt.rc_context(STYLE), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna's ExperimentalWarning, empty-data warnings
            figure = _figure_of(draw())
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
        return Figure(title, png=buffer.getvalue(), note=note)
    except NotDrawn as reason:
        return Figure(title, note=str(reason))
    except Exception as exc:  # a library error costs this figure only
        logger.warning("report figure %r not drawn: %s: %s", title, type(exc).__name__, exc)
        return Figure(title, note=f"not drawn: {type(exc).__name__}: {exc}")
    finally:
        plt.close("all")


def new_axes(height: float | None = None) -> Any:
    """A new figure's Axes (``height`` in inches, default the style's)."""
    width, default = STYLE["figure.figsize"]
    return plt.subplots(figsize=(width, height or default))[1]


def _figure_of(drawn: Any) -> Any:
    """The matplotlib Figure of what a draw function returned."""
    if isinstance(drawn, np.ndarray):
        drawn = drawn.flat[0]
    return drawn if isinstance(drawn, matplotlib.figure.Figure) else drawn.figure
