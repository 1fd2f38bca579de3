"""Human-readable views of a sweep's study: leaderboard, progress, timing.

A multi-objective study (the ``objectives`` param) is shown by Pareto front:
its leaderboard ranks trials by front (``front`` 1 is the Pareto front), then
by the primary metric, with one column per objective (:mod:`airsweep.pareto`).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import numpy as np
import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from airsweep.budget import is_lost, is_seeded, usage
from airsweep.console import table
from airsweep.pareto import (
    best_trial,
    objective_names,
    pareto_ranks,
    primary_value,
    study_primary_index,
)

LEADERBOARD_COLUMNS = (
    "rank",
    "number",
    "model",
    "value",
    "cv_std",
    "state",
    "worker",
    "queue",
    "device",
    "fit_seconds",
)
_FINISHED_ORDER = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def placement(trial: FrozenTrial) -> dict[str, Any]:
    """Where a trial ran: its ``placement`` user attr; empty if not recorded.

    Keys: ``queue``, ``map_index``, ``try_number``, ``worker``, ``hostname``,
    ``device_requested``, ``device_used`` and ``fallback_reason``.
    """
    return trial.user_attrs.get("placement") or {}


def fold_scores(trial: FrozenTrial) -> list[float]:
    """A trial's CV fold scores.

    A family with steps (boosting rounds) records them in its ``fold_scores``
    attr (at its last step). Else they follow from the intermediate values, the
    running mean after each fold: fold ``k`` scored ``(k + 1) * mean_k - k *
    mean_(k-1)``; steps that are not folds ``0, 1, ...`` (a copy of a trial with
    steps, without its attr) give none.
    """
    if "fold_scores" in trial.user_attrs:
        return list(trial.user_attrs["fold_scores"])
    steps = sorted(trial.intermediate_values)
    if steps != list(range(len(steps))):
        return []
    means = [trial.intermediate_values[step] for step in steps]
    return [(k + 1) * mean - k * (means[k - 1] if k else 0.0) for k, mean in enumerate(means)]


def cv_std(trial: FrozenTrial) -> float | None:
    """Standard deviation of a trial's fold scores (``None`` before any fold finished)."""
    scores = fold_scores(trial)
    return float(np.std(scores)) if scores else None


def leaderboard(study: optuna.Study, top: int = 10) -> list[dict[str, Any]]:
    """Return the best ``top`` finished trials, best first.

    COMPLETE trials come first, ranked 1, 2, ...: by value in the study's
    direction, or with several objectives by Pareto front, then primary
    metric. PRUNED then FAIL trials follow, unranked (``rank`` None).

    Args:
        study: The sweep's study.
        top: Number of rows.

    Returns:
        Rows with the keys of :data:`LEADERBOARD_COLUMNS` (``value`` is the
        primary metric's). With several objectives also ``front`` (the
        trial's Pareto front, 1 the best; ``None`` unless COMPLETE) and
        ``objectives`` (objective name -> value).
    """
    trials = study.get_trials(deepcopy=False)
    directions = study.directions
    multi = len(directions) > 1
    index = study_primary_index(study) if multi else 0
    names = objective_names(study) if multi else []
    ranks = pareto_ranks(trials, directions) if multi else {}
    sign = -1.0 if directions[index] == StudyDirection.MAXIMIZE else 1.0

    def order(trial: FrozenTrial) -> tuple[int, int, float, int]:
        value = primary_value(trial, index)
        signed = sign * value if value is not None else 0.0
        return _FINISHED_ORDER.index(trial.state), ranks.get(trial.number, 0), signed, trial.number

    finished = [t for t in trials if t.state in _FINISHED_ORDER]
    rows = []
    for position, trial in enumerate(sorted(finished, key=order)[:top]):
        attrs, where = trial.user_attrs, placement(trial)
        complete = trial.state == TrialState.COMPLETE
        row = {
            "rank": position + 1 if complete else None,
            "number": trial.number,
            "model": attrs.get("model"),
            "value": primary_value(trial, index),
            "cv_std": cv_std(trial),
            "state": trial.state.name,
            "worker": where.get("worker"),
            "queue": where.get("queue"),
            "device": where.get("device_used"),
            "fit_seconds": attrs.get("fit_seconds"),
        }
        if multi:
            row["front"] = ranks.get(trial.number)
            row["objectives"] = dict(zip(names, trial.values or [None] * len(names), strict=True))
        rows.append(row)
    return rows


def format_leaderboard(rows: list[dict[str, Any]]) -> str:
    """Format leaderboard rows as an aligned text table (:func:`airsweep.console.table`).

    Rows of a multi-objective study show ``front`` and one column per
    objective in place of ``value`` and ``cv_std``.
    """
    columns: list[str] = list(LEADERBOARD_COLUMNS)
    if rows and "objectives" in rows[0]:
        names = list(rows[0]["objectives"])
        rows = [{**row, **row["objectives"]} for row in rows]
        at = columns.index("value")
        columns[at : at + 2] = names
        columns.insert(1, "front")
        columns = list(dict.fromkeys(columns))  # fit_seconds may be an objective too
    return table(columns, ([row[c] for c in columns] for row in rows))


def progress(study: optuna.Study, n_trials: int) -> dict[str, Any]:
    """Return the sweep's progress for a one-line display.

    Args:
        study: The sweep's study.
        n_trials: The sweep's trial budget.

    Returns:
        ``total``, ``done`` (finished trials that count against the budget),
        ``by_state`` (lower-case state -> count; trials lost with their
        worker are under ``lost``, not ``fail``), ``percent``, ``budget_left``
        (places not yet taken by a runner), ``running_by_worker``
        (``"<queue>/<worker>"`` -> running trials), and ``best_value`` /
        ``best_trial`` / ``best_model`` (``None`` before the first COMPLETE
        trial; with several objectives, the best in the primary metric).
    """
    trials = study.get_trials(deepcopy=False)
    by_state: Counter[str] = Counter()
    running: Counter[str] = Counter()
    for trial in trials:
        by_state["lost" if is_lost(trial) else trial.state.name.lower()] += 1
        if trial.state == TrialState.RUNNING:
            where = placement(trial)
            running[f"{where.get('queue', '?')}/{where.get('worker', '?')}"] += 1
    used = usage(trials)
    best, index = _best(study)
    return {
        "total": n_trials,
        "done": used.finished,
        "by_state": dict(sorted(by_state.items())),
        "percent": round(100.0 * used.finished / n_trials, 1) if n_trials else 100.0,
        "budget_left": max(0, n_trials - used.used),
        "running_by_worker": dict(sorted(running.items())),
        "best_value": primary_value(best, index) if best else None,
        "best_trial": best.number if best else None,
        "best_model": best.user_attrs.get("model") if best else None,
    }


def sweep_timing(study: optuna.Study) -> dict[str, Any]:
    """Return when the first trial of this sweep started and the last one finished.

    Trials seeded from an earlier sweep (:func:`airsweep.budget.is_seeded`) are left out.

    Returns:
        ``first_trial_start`` and ``last_trial_complete`` (ISO strings or
        ``None``) and ``wall_seconds`` between them (``None`` if unknown).
    """
    trials = [t for t in study.get_trials(deepcopy=False) if not is_seeded(t)]
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    ends = [t.datetime_complete for t in trials if t.datetime_complete is not None]
    first: datetime | None = min(starts, default=None)
    last: datetime | None = max(ends, default=None)
    return {
        "first_trial_start": first.isoformat() if first else None,
        "last_trial_complete": last.isoformat() if last else None,
        "wall_seconds": round((last - first).total_seconds(), 3) if first and last else None,
    }


def _best(study: optuna.Study) -> tuple[FrozenTrial | None, int]:
    """The best COMPLETE trial (or ``None``) and the index of the value it is best in.

    With several objectives, the best in the primary metric.
    """
    index = study_primary_index(study) if len(study.directions) > 1 else 0
    return best_trial(study, index), index
