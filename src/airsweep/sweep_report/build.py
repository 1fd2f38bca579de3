"""Assemble a sweep's report from its snapshot: summary, plots, timeline, panels."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from airsweep.budget import is_lost
from airsweep.report import LEADERBOARD_COLUMNS, leaderboard
from airsweep.sweep_report.data import SweepData
from airsweep.sweep_report.html import Section, Table, render_page
from airsweep.sweep_report.panels import panel_figures
from airsweep.sweep_report.study_plots import family_figures, history, score_by_family
from airsweep.sweep_report.timeline import trial_timeline

logger = logging.getLogger(__name__)

#: Rows of the report's leaderboard.
LEADERBOARD_ROWS = 10
DASHBOARD = "Sweeps dashboard (Prometheus)"


def _when(epoch_s: float | None) -> str:
    """A time as ``YYYY-MM-DD HH:MM:SS UTC`` (``-`` if unknown)."""
    if epoch_s is None:
        return "-"
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _cell(value: Any) -> str:
    """A table cell: floats to 4 decimals, ``None`` as ``-``."""
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def facts(data: SweepData) -> Table:
    """The sweep at a glance: run, data, objectives, trials, window, best model."""
    states = Counter("lost" if is_lost(t) else t.state.name.lower() for t in data.trials)
    start, end = data.window
    manifest = data.manifest
    rows = [
        ("Run", data.run_id),
        ("Study", data.study_name),
        (
            "Dataset",
            f"{manifest.get('dataset_name', '-')} ({manifest.get('task_type', '-')}, "
            f"{manifest.get('n_train', '-')} train / {manifest.get('n_test', '-')} test rows)",
        ),
        ("Objectives", ", ".join(f"{o.name} ({o.direction})" for o in data.objectives)),
        ("Models", ", ".join(data.families()) or "-"),
        ("Trials", ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "none yet"),
        ("State", data.stop_reason if data.ended is not None else "running"),
        ("Window", f"{_when(start)} to {_when(end)} ({end - start:.0f} s)"),
    ]
    if data.model:
        card = data.model
        rows += [
            (
                "Best model",
                f"{card.get('model')}: CV {card.get('metric')} {_cell(card.get('cv_score'))}",
            ),
            (
                "Test score",
                f"{card.get('metric')} {_cell(card.get('test_score'))} on the held-out split",
            ),
            ("Model", str(card.get("model_uri"))),
            ("Model card", str(card.get("card_uri"))),
        ]
    return Table(("", ""), tuple(rows))


def summary(data: SweepData) -> Section:
    """The facts and the leaderboard (single objective) of the sweep."""
    tables = [facts(data)]
    if not data.multi_objective:
        rows = leaderboard(data.study, top=LEADERBOARD_ROWS)
        if rows:
            body = tuple(tuple(_cell(row[c]) for c in LEADERBOARD_COLUMNS) for row in rows)
            tables.append(Table(LEADERBOARD_COLUMNS, body))
    return Section("Summary", tables=tuple(tables))


def _sections(title: str, build: Callable[[], list[Section]]) -> list[Section]:
    """Build some sections; a failure leaves one note in their place, not a failed report."""
    try:
        return build()
    except Exception as exc:
        logger.warning("report section %r not built: %s: %s", title, type(exc).__name__, exc)
        return [Section(title, note=f"not built: {type(exc).__name__}: {exc}")]


def dashboard(data: SweepData, prometheus_url: str) -> Section:
    """The Sweeps dashboard's panels, or one line saying why there are none."""
    figures, note = panel_figures(data, prometheus_url)
    return Section(DASHBOARD, note=note, figures=tuple(figures))


def build_report(data: SweepData, prometheus_url: str) -> str:
    """The report of a sweep as one HTML page.

    Args:
        data: The sweep's snapshot.
        prometheus_url: Prometheus' base URL, for the dashboard panels (empty: none).

    Returns:
        The page.
    """
    started = time.perf_counter()
    parts: list[tuple[str, Callable[[], list[Section]]]] = [
        ("Summary", lambda: [summary(data)]),
        ("Search", lambda: [Section("Search", figures=(history(data), score_by_family(data)))]),
        (
            "Families",
            lambda: [
                Section(f"Family {family}", figures=tuple(family_figures(data, family)))
                for family in data.families()
            ],
        ),
        (
            "Trials over time",
            lambda: [Section("Trials over time", figures=(trial_timeline(data),))],
        ),
        (DASHBOARD, lambda: [dashboard(data, prometheus_url)]),
    ]
    sections = [section for title, build in parts for section in _sections(title, build)]
    seconds = time.perf_counter() - started
    subtitle = f"Sweep report, generated {_when(data.generated_at)} in {seconds:.1f} s" + (
        "" if data.ended is not None else " while the sweep runs"
    )
    return render_page(f"Sweep {data.run_id}", subtitle, sections)
