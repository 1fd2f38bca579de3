"""Objectives of a sweep's study: the primary value, Pareto fronts and the ``select`` rule.

A sweep's study has one objective (its metric) or, with the ``objectives``
param, two or three (:mod:`airsweep.config.objectives`). Everything that
reads a trial's score goes through here, so one code path serves both:

* :func:`primary_index` / :func:`primary_value`: the primary metric, which
  the test split scores and the registry ranks;
* :func:`pareto_ranks`: each COMPLETE trial's front (1: not dominated by any
  other trial; 2: dominated only by the first front; ...);
* :func:`select`: the trial a sweep refits and stores: the best one for a
  single objective, else the ``select`` rule over the Pareto front.

Pure functions of frozen trials and directions; no storage access beyond the
study attributes :func:`objective_names` reads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

#: ``select`` rule: the Pareto-front trial nearest the ideal point (every objective scaled 0..1).
KNEE = "knee"


@dataclass(frozen=True)
class Selection:
    """The trial a sweep stores and why.

    Attributes:
        trial: The chosen COMPLETE trial.
        rule: How it was chosen, in words (``best accuracy``, ``knee of the
            Pareto front``, ``best accuracy where fit_seconds <= 2``).
        note: What the user should know about the choice (e.g. no trial met
            the constraints), else ``None``.
    """

    trial: FrozenTrial
    rule: str
    note: str | None = None


def objective_names(study: optuna.Study) -> list[str]:
    """Names of the study's objectives (its metric names; ``value``, ``value_1``... if unset)."""
    names = study.metric_names
    if names is None:
        n = len(study.directions)
        return ["value"] if n == 1 else [f"value_{i}" for i in range(n)]
    return list(names)


def primary_index(names: Sequence[str], metric: str | None) -> int:
    """Index of the primary metric ``metric`` among the objectives ``names`` (0 if absent)."""
    return list(names).index(metric) if metric in names else 0


def study_primary_index(study: optuna.Study) -> int:
    """Index of the study's primary metric (its manifest's ``metric``) among its objectives."""
    manifest = study.user_attrs.get("manifest") or {}
    return primary_index(objective_names(study), manifest.get("metric"))


def primary_value(trial: FrozenTrial, index: int) -> float | None:
    """The trial's primary metric value (``None`` unless it has values)."""
    return trial.values[index] if trial.values else None


def best_trial(study: optuna.Study, index: int) -> FrozenTrial | None:
    """The best COMPLETE trial in objective ``index`` (the first to reach it); ``None``: none.

    One storage read (:attr:`optuna.Study.best_trial` for one objective).
    """
    directions = study.directions
    if len(directions) == 1:
        try:
            return study.best_trial
        except ValueError:
            return None
    sign = -1.0 if directions[index] == StudyDirection.MAXIMIZE else 1.0
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return min(complete, key=lambda t: (sign * t.values[index], t.number), default=None)


def best_value(study: optuna.Study, index: int) -> float | None:
    """The value of :func:`best_trial` in objective ``index``; ``None`` before any COMPLETE."""
    best = best_trial(study, index)
    return best.values[index] if best is not None else None


def better(a: float, b: float, direction: StudyDirection) -> bool:
    """Whether ``a`` is strictly better than ``b`` in ``direction``."""
    return a > b if direction == StudyDirection.MAXIMIZE else a < b


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[StudyDirection]) -> bool:
    """Whether values ``a`` Pareto-dominate ``b``: no worse in any objective, better in one."""
    pairs = list(zip(a, b, directions, strict=True))
    return all(not better(y, x, d) for x, y, d in pairs) and any(
        better(x, y, d) for x, y, d in pairs
    )


def pareto_ranks(
    trials: Sequence[FrozenTrial], directions: Sequence[StudyDirection]
) -> dict[int, int]:
    """Each COMPLETE trial's Pareto front: trial number -> 1, 2, ...

    Front 1 holds the trials no other trial dominates; front ``k`` those
    dominated only by trials of fronts below ``k``. With one objective, the
    fronts are the distinct values, best first.
    """
    left = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
    ranks: dict[int, int] = {}
    level = 0
    while left:
        level += 1
        front = [
            t for t in left if not any(dominates(o.values, t.values, directions) for o in left)
        ]
        ranks.update((t.number, level) for t in front)
        left = [t for t in left if t.number not in ranks]
    return ranks


def knee(front: Sequence[FrozenTrial], directions: Sequence[StudyDirection]) -> FrozenTrial:
    """The trial of ``front`` nearest the ideal point, every objective scaled to 0..1.

    Each objective is scaled over the front so that its best value is 0 and
    its worst 1 (an objective equal on the whole front is left out); the
    trial with the smallest Euclidean distance to the origin wins, the lower
    trial number on a tie.
    """
    columns = list(zip(*(t.values for t in front), strict=True))
    scaled = []
    for trial in front:
        distance = 0.0
        for value, column, direction in zip(trial.values, columns, directions, strict=True):
            low, high = min(column), max(column)
            if high == low:
                continue
            gap = (high - value) if direction == StudyDirection.MAXIMIZE else (value - low)
            distance += (gap / (high - low)) ** 2
        scaled.append((math.sqrt(distance), trial.number, trial))
    return min(scaled, key=lambda item: item[:2])[2]


def select(
    trials: Sequence[FrozenTrial],
    directions: Sequence[StudyDirection],
    names: Sequence[str],
    primary: int,
    rule: str | Mapping[str, Any] = KNEE,
) -> Selection:
    """Choose the trial a sweep refits and stores.

    One objective: the best COMPLETE trial (the first to reach the best value).
    Several: ``rule`` (the ``select`` param) over the COMPLETE trials:

    * ``"knee"``: :func:`knee` of the Pareto front;
    * ``{"objective": NAME, "constraints": {NAME: {"min": x, "max": y}}}``:
      the best trial in ``NAME`` among those meeting every constraint (ties go
      to the lower Pareto front, then the lower trial number). When no trial
      meets them, the knee, with a note saying so.

    Args:
        trials: The study's trials.
        directions: The study's directions.
        names: The objectives' names, in the study's order.
        primary: Index of the primary metric.
        rule: The ``select`` param.

    Raises:
        ValueError: no COMPLETE trial.
    """
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
    if not complete:
        raise ValueError("no COMPLETE trial to select")
    if len(directions) == 1:
        best = _best_in(complete, 0, directions[0], {})
        return Selection(best, f"best {names[0]}")
    ranks = pareto_ranks(complete, directions)
    front = [t for t in complete if ranks[t.number] == 1]
    if isinstance(rule, Mapping):
        objective = list(names).index(rule["objective"])
        constraints = dict(rule.get("constraints", {}))
        meeting = [t for t in complete if _meets(t, names, constraints)]
        words = f"best {rule['objective']}" + (
            f" where {_constraint_words(constraints)}" if constraints else ""
        )
        if meeting:
            return Selection(_best_in(meeting, objective, directions[objective], ranks), words)
        note = f"no trial met {_constraint_words(constraints)}: chose the knee of the Pareto front"
        return Selection(knee(front, directions), "knee of the Pareto front", note)
    return Selection(knee(front, directions), "knee of the Pareto front")


def _best_in(
    trials: Sequence[FrozenTrial], index: int, direction: StudyDirection, ranks: Mapping[int, int]
) -> FrozenTrial:
    """The best of ``trials`` in objective ``index``; ties: lower Pareto front, lower number."""
    sign = -1.0 if direction == StudyDirection.MAXIMIZE else 1.0
    return min(trials, key=lambda t: (sign * t.values[index], ranks.get(t.number, 0), t.number))


def _meets(trial: FrozenTrial, names: Sequence[str], constraints: Mapping[str, Any]) -> bool:
    """Whether ``trial`` meets every ``{name: {"min": x, "max": y}}`` constraint."""
    for name, bounds in constraints.items():
        value = trial.values[list(names).index(name)]
        if "min" in bounds and value < bounds["min"]:
            return False
        if "max" in bounds and value > bounds["max"]:
            return False
    return True


def _constraint_words(constraints: Mapping[str, Any]) -> str:
    """Constraints in words: ``fit_seconds <= 2, accuracy >= 0.9``."""
    words = []
    for name, bounds in constraints.items():
        if "min" in bounds:
            words.append(f"{name} >= {bounds['min']:g}")
        if "max" in bounds:
            words.append(f"{name} <= {bounds['max']:g}")
    return ", ".join(words)
