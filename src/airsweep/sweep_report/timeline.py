"""Trials over time per queue and worker: a Gantt chart of the sweep's trials."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from matplotlib.patches import Patch
from optuna.trial import FrozenTrial, TrialState

from airsweep.budget import is_lost, is_seeded
from airsweep.report import placement
from airsweep.sweep_report.data import SweepData, epoch
from airsweep.sweep_report.figures import Figure, NotDrawn, new_axes, render

#: Bar colour of each outcome (``lost``: failed because its worker died).
COLORS = {
    "complete": "#2e7d32",
    "pruned": "#f9a825",
    "fail": "#c62828",
    "lost": "#6d4c41",
    "running": "#1565c0",
}

Bar = tuple[float, float, str]  # start, end (seconds since the sweep started), outcome


def outcome(trial: FrozenTrial) -> str:
    """A trial's outcome as the chart colours it: its state, or ``lost``."""
    if is_lost(trial):
        return "lost"
    return "running" if trial.state == TrialState.WAITING else trial.state.name.lower()


def lanes(data: SweepData) -> dict[str, list[list[Bar]]]:
    """The sweep's own trials (seeded ones left out) by ``queue/worker``, in lanes.

    A worker runs several trials at once (one per slot): each lane holds
    trials that do not overlap, the first lane that is free taking the next
    trial, so a worker with two slots shows up to two lanes. Running trials
    end at the snapshot's time.
    """
    start, now = data.window
    grouped: dict[str, list[Bar]] = defaultdict(list)
    for trial in data.trials:
        if trial.datetime_start is None or is_seeded(trial):
            continue
        where = placement(trial)
        end = epoch(trial.datetime_complete) if trial.datetime_complete else now
        row = f"{where.get('queue', '?')}/{where.get('worker', '?')}"
        grouped[row].append((epoch(trial.datetime_start) - start, end - start, outcome(trial)))
    result: dict[str, list[list[Bar]]] = {}
    for row in sorted(grouped):
        rows: list[list[Bar]] = []
        for bar in sorted(grouped[row]):
            free = next((lane for lane in rows if lane[-1][1] <= bar[0]), None)
            if free is None:
                rows.append([bar])
            else:
                free.append(bar)
        result[row] = rows
    return result


def trial_timeline(data: SweepData) -> Figure:
    """The Gantt chart: one row per worker slot in use, one bar per trial, by outcome."""
    seeded = sum(1 for t in data.trials if is_seeded(t))
    note = f"{seeded} trials seeded from an earlier sweep are not shown" if seeded else None

    def draw() -> Any:
        rows = lanes(data)
        if not rows:
            raise NotDrawn("no trial has started yet")
        labels: list[str] = []
        bars: list[list[Bar]] = []
        for row, row_lanes in rows.items():
            for index, lane in enumerate(row_lanes):
                labels.append(row if index == 0 else f"{row} ({index + 1})")
                bars.append(lane)
        ax = new_axes(height=1.4 + 0.32 * len(labels))
        for y, lane in enumerate(bars):
            spans = [(begin, max(end - begin, 0.05)) for begin, end, _ in lane]
            colors = [COLORS.get(state, "#9e9e9e") for _, _, state in lane]
            ax.broken_barh(spans, (y - 0.4, 0.8), facecolors=colors, edgecolor="white")
        ax.set_yticks(range(len(labels)), labels)
        ax.invert_yaxis()
        ax.set_xlim(left=min(0.0, *(begin for lane in bars for begin, _, _ in lane)))
        ax.set_xlabel("seconds since the sweep started")
        used = {state for lane in bars for _, _, state in lane}
        handles = [Patch(color=c, label=s) for s, c in COLORS.items() if s in used]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
        return ax

    return render("Trials over time per queue and worker", draw, note=note)
