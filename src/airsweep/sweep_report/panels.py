"""The Sweeps dashboard's panels over a sweep's time window, drawn from Prometheus.

The panels and their queries are the Grafana dashboard's own
(``monitoring/grafana/dashboards/sweeps.json``), with ``$sweep`` set to the
sweep's metric id and ``$__range`` to its window; every other variable
matches everything, as in the Prometheus UI. Time series panels are queried
with ``query_range`` over the window, stat and bar panels with one instant
query at its end.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from airsweep.metrics import sweep_id
from airsweep.monitoring.queries import DASHBOARD_DIR, dashboard_panels, render_grafana_expr
from airsweep.sweep_report.data import SweepData
from airsweep.sweep_report.figures import Figure, NotDrawn, new_axes, render

SWEEPS_DASHBOARD = "sweeps.json"
#: Seconds of Prometheus data drawn before the sweep's start and after its end.
MARGIN_S = 60
#: The query step is at least the scrape interval and gives at most this many points.
MIN_STEP_S = 15
MAX_POINTS = 240
#: Series of at most this many points are drawn with a marker on each.
MARKED_POINTS = 30
#: Panel unit (Grafana's) -> axis label.
UNITS = {"opm": "per minute", "s": "seconds", "percentunit": "ratio"}
_LEGEND_RE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


class PrometheusUnavailable(Exception):
    """Prometheus is not configured or does not answer; the message says which, in one line."""


@dataclass(frozen=True)
class Panel:
    """One dashboard panel.

    Attributes:
        title: The panel's title.
        kind: Grafana's panel type (``timeseries``, ``stat``, ``bargauge``...).
        unit: Grafana's unit of its values.
        targets: Each query as written in the dashboard, with its legend format.
    """

    title: str
    kind: str
    unit: str
    targets: tuple[tuple[str, str], ...]


def sweeps_dashboard() -> Path:
    """The Sweeps dashboard file.

    Under ``$AIRSWEEP_ROOT`` (the checkout, or the image's ``/opt/airsweep``) when
    it is there, else in the source checkout.
    """
    root = os.environ.get("AIRSWEEP_ROOT", "").strip()
    candidate = Path(root) / "monitoring" / "grafana" / "dashboards" / SWEEPS_DASHBOARD
    return candidate if root and candidate.is_file() else DASHBOARD_DIR / SWEEPS_DASHBOARD


def load_panels(path: Path) -> list[Panel]:
    """The panels of a dashboard file that have at least one query."""
    panels = []
    for panel in dashboard_panels(path):
        targets = tuple(
            (t["expr"], t.get("legendFormat", ""))
            for t in panel.get("targets", [])
            if t.get("expr")
        )
        if targets:
            unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
            panels.append(Panel(panel.get("title", ""), panel.get("type", ""), unit, targets))
    return panels


class Prometheus:
    """A client of Prometheus' HTTP API (``/api/v1``).

    Args:
        url: Base URL, e.g. ``http://127.0.0.1:28090``.
        timeout_s: Seconds per request.
    """

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(base_url=self.url, timeout=timeout_s)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def check(self) -> None:
        """Raise :class:`PrometheusUnavailable` unless Prometheus answers."""
        try:
            self._client.get("/api/v1/status/buildinfo").raise_for_status()
        except httpx.HTTPError as exc:
            raise PrometheusUnavailable(
                f"Prometheus at {self.url} is not reachable ({type(exc).__name__})"
            ) from exc

    def query(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """The ``result`` of ``/api/v1/<path>`` (``query`` or ``query_range``).

        Raises:
            ValueError: Prometheus refused the query; the message is its error.
        """
        body = self._client.get(f"/api/v1/{path}", params=params).json()
        if body.get("status") != "success":
            raise ValueError(f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]["result"]


def legend(template: str, labels: dict[str, str]) -> str:
    """A series' legend: Grafana's ``{{label}}`` placeholders filled in."""
    text = _LEGEND_RE.sub(lambda match: labels.get(match.group(1), ""), template).strip()
    return text or ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "value"


def _finite(points: list[list[Any]]) -> Iterator[tuple[float, float]]:
    for stamp, raw in points:
        value = float(raw)
        if math.isfinite(value):
            yield float(stamp), value


def draw_panel(prometheus: Prometheus, panel: Panel, data: SweepData) -> Any:
    """Draw one panel over the sweep's window; raise :class:`NotDrawn` without data."""
    start, end = data.window
    first, last = start - MARGIN_S, min(end + MARGIN_S, data.generated_at)
    step = max(MIN_STEP_S, math.ceil((last - first) / MAX_POINTS))
    values = {
        "sweep": sweep_id(data.study_name),  # [A-Za-z0-9_-] only: a literal regex
        "__range": f"{max(1, round(last - first))}s",
        "__interval": f"{step}s",
    }
    ax = new_axes()
    drawn = 0
    for raw, template in panel.targets:
        expr = render_grafana_expr(raw, values)
        if panel.kind == "timeseries":
            for series in prometheus.query(
                "query_range", query=expr, start=first, end=last, step=step
            ):
                points = list(_finite(series["values"]))
                if points:
                    xs, ys = zip(*points, strict=True)
                    label = legend(template, series["metric"])
                    marker = "o" if len(xs) <= MARKED_POINTS else None  # one point is no line
                    ax.plot([x - start for x in xs], ys, label=label, marker=marker, markersize=3)
                    drawn += 1
        else:
            for series in prometheus.query("query", query=expr, time=last):
                for _, value in _finite([series["value"]]):
                    ax.bar(legend(template, series["metric"]), value)
                    drawn += 1
    if not drawn:
        raise NotDrawn("no data in the sweep's window")
    if panel.kind == "timeseries":
        ax.axvline(0, color="grey", linestyle=":")
        ax.axvline(end - start, color="grey", linestyle=":")
        ax.set_xlim(first - start, last - start)
        ax.set_xlabel("seconds since the sweep started (dotted: start and end)")
        ax.legend(fontsize=7, ncol=2, loc="best")
    else:
        ax.set_xlabel(f"at the end of the sweep's window (range {values['__range']})")
        ax.tick_params(axis="x", labelrotation=30)
    ax.set_ylabel(UNITS.get(panel.unit, ""))
    return ax


def panel_figures(data: SweepData, prometheus_url: str) -> tuple[list[Figure], str | None]:
    """Every panel of the Sweeps dashboard over the sweep's window.

    Args:
        data: The sweep.
        prometheus_url: Prometheus' base URL; empty when none is configured.

    Returns:
        The figures, and a one-line note when Prometheus is not configured or
        not reachable (then there are no figures).
    """
    if not prometheus_url:
        return [], "No Prometheus configured (AIRSWEEP_PROMETHEUS_URL is unset): no panels."
    prometheus = Prometheus(prometheus_url)
    try:
        prometheus.check()
    except PrometheusUnavailable as exc:
        prometheus.close()
        return [], f"{exc}: no panels."
    try:
        return [
            render(panel.title, lambda panel=panel: draw_panel(prometheus, panel, data))
            for panel in load_panels(sweeps_dashboard())
        ], None
    finally:
        prometheus.close()
