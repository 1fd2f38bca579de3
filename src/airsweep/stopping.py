"""Stopping rules: when a sweep stops taking trials before its budget is spent.

Three optional rules, each off when its param is ``null``:

* ``timeout_s``: the sweep's wall time, counted from the study's creation
  (:data:`STARTED_AT`, recorded by :func:`record_start`), reaches ``timeout_s``;
* ``patience``: the last ``patience`` finished trials that count (COMPLETE,
  PRUNED, trial-level FAIL, in the order they finished) did not improve the best
  value; a tie is not an improvement. With several objectives, a trial improves
  when it joins the Pareto front: no earlier COMPLETE trial is at least as good
  in every objective;
* ``target_score``: the best value reaches ``target_score`` (``>=`` when the
  metric is maximized, ``<=`` when it is minimized).

This module is the pure part: :func:`check_rules` decides from the study's
trials and a clock. :mod:`airsweep.runner` applies it under the study lock and
records the first reason in the study (:data:`STOP_REASON`), so every runner
on every worker sees the same decision and the running trials finish on their own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime

import optuna
from optuna.trial import FrozenTrial, TrialState

from airsweep.budget import Usage, is_lost, is_seeded
from airsweep.config import MAXIMIZE, SweepConfig

#: Study user attr: when the sweep's study was created (seconds since the epoch).
STARTED_AT = "started_at"
#: Study user attr: why the sweep stopped taking trials, set once by the first runner to see it.
STOP_REASON = "stop_reason"

_COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def record_start(study: optuna.Study, now: float) -> None:
    """Record the sweep's start in its study, unless a retry already did.

    Args:
        study: The sweep's study.
        now: Seconds since the epoch.
    """
    if STARTED_AT not in study.user_attrs:
        study.set_user_attr(STARTED_AT, now)


def has_rules(config: SweepConfig) -> bool:
    """Whether the sweep sets any stopping rule."""
    return any(r is not None for r in (config.timeout_s, config.patience, config.target_score))


def check_rules(
    trials: Iterable[FrozenTrial],
    used: Usage,
    config: SweepConfig,
    directions: Sequence[str],
    started_at: float,
    now: float,
) -> str | None:
    """Decide whether a sweep stops taking trials, and say why.

    Args:
        trials: Every trial of the study.
        used: The study's budget usage (:func:`airsweep.budget.usage`).
        config: The sweep config (``timeout_s``, ``patience``, ``target_score``,
            ``n_trials``).
        directions: The study's directions, ``"maximize"`` or ``"minimize"`` each.
        started_at: When the sweep started (seconds since the epoch, :data:`STARTED_AT`).
        now: Seconds since the epoch.

    Returns:
        The reason of the first rule that fires, checked in the order
        ``target_score``, ``patience``, ``timeout_s``; ``None`` when none does.
    """
    finished = sorted(
        (t for t in trials if t.state in _COUNTED and not is_lost(t)),
        key=lambda t: (t.datetime_complete or datetime.max, t.number),
    )
    signs = [1.0 if direction == MAXIMIZE else -1.0 for direction in directions]
    front: list[list[float]] = []  # the best signed values so far (larger is better)
    reached_by: FrozenTrial | None = None
    since_best = 0
    for trial in finished:
        values = trial.values if trial.state == TrialState.COMPLETE else None
        signed = [s * v for s, v in zip(signs, values or (), strict=False)]
        if values and all(math.isfinite(v) for v in values) and _improves(signed, front):
            front = [other for other in front if _improves(other, [signed])] + [signed]
            since_best = 0
            target = config.target_score
            if reached_by is None and target is not None and signs[0] * target <= signed[0]:
                reached_by = trial
        elif not is_seeded(trial):  # a warm start's trials set the best, only new ones wait
            since_best += 1
    if reached_by is not None:
        return (
            f"target_score={config.target_score:g} reached by trial {reached_by.number} "
            f"({reached_by.value:.6g})"
        )
    if config.patience is not None and since_best >= config.patience:
        return f"patience={config.patience}: no improvement in the last {since_best} trials"
    elapsed = now - started_at
    if config.timeout_s is not None and elapsed >= config.timeout_s:
        return (
            f"timeout_s={config.timeout_s} reached after {elapsed:.0f} s, "
            f"{used.used} of {config.n_trials} trials"
        )
    return None


def _improves(signed: Sequence[float], front: Iterable[Sequence[float]]) -> bool:
    """Whether signed values (larger is better) join ``front``: no point of it is as good in all."""
    return not any(all(o >= v for o, v in zip(other, signed, strict=True)) for other in front)
