"""The sweep's pruners, built from ``pruner``, ``pruner_options`` and each family's steps.

A trial reports its mean CV score at *steps*. A family pruned between folds
(:attr:`airsweep.models.ModelFamily.step_param` is ``None``) reports its running
mean after fold ``k`` (counted from 0) at step ``k``. A family that trains in steps
(boosting rounds) trains all its folds side by side and reports the mean score of
the folds after ``r`` rounds at step ``r``, at the checkpoints of
:class:`StepSchedule`. Either way the pruner is applied per model family by
:class:`airsweep.pruning.FamilyPruner`, with the family's own pruner
(:func:`make_pruner`): successive halving and hyperband count their resources in
the family's steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna

from airsweep.config import SweepConfig
from airsweep.config.strategies import max_steps, on_rounds

#: Options the sweep sets when the user does not (Optuna's defaults otherwise).
PRUNER_DEFAULTS: dict[str, dict[str, Any]] = {
    "median": {"n_startup_trials": 5, "n_warmup_steps": 0},
    "percentile": {"percentile": 25.0},
    "successive_halving": {"min_resource": 1},
    "hyperband": {"min_resource": 1},
}
#: Optuna's default ``reduction_factor`` of the rung pruners.
REDUCTION_FACTORS = {"successive_halving": 4, "hyperband": 3}
#: First checkpoint of a family with steps (``min_resource`` unless the user sets it).
FIRST_STEP = 10
#: Growth of the checkpoints of the median and percentile pruners.
STEP_GROWTH = 2


@dataclass(frozen=True)
class StepSchedule:
    """Where a family with steps stops to report: ``first``, ``first × growth``, ...

    The checkpoints are the same for every trial of the sweep (the median
    pruner compares trials at the same step) and include every rung of
    successive halving and hyperband (``min_resource × reduction_factor^k``).

    Attributes:
        first: The first checkpoint, ``None`` when the pruner never prunes (one
            checkpoint, the trial's total: no chunking, no cost).
        growth: The factor between two checkpoints.
        max_steps: The most steps a trial of the family can train (its search space's).
    """

    first: int | None
    growth: int
    max_steps: int

    def checkpoints(self, total: int) -> list[int]:
        """The step counts a trial of ``total`` steps reports at; the last is ``total``."""
        points: list[int] = []
        point = self.first
        while point is not None and point < total:
            points.append(point)
            point *= self.growth
        return [*points, total]


def step_schedule(config: SweepConfig, model: str, task_type: str) -> StepSchedule | None:
    """The checkpoints of ``model``'s trials in this sweep, ``None`` when it prunes on folds.

    A family prunes on folds when it has no steps, or when ``pruner_options.steps``
    is ``folds`` (``pruner: auto`` sets it).
    """
    most = max_steps(model, task_type, config.search_space)
    if most is None or not on_rounds(config.pruner_options):
        return None
    if config.pruner == "none":
        return StepSchedule(None, STEP_GROWTH, most)
    options = _options(config, most)
    growth = options.get("reduction_factor", STEP_GROWTH)
    return StepSchedule(options.get("min_resource", FIRST_STEP), growth, most)


def make_pruner(
    config: SweepConfig, schedule: StepSchedule | None = None
) -> optuna.pruners.BasePruner:
    """Return the pruner of a sweep, or of one of its families with steps.

    Args:
        config: The sweep config (``pruner``, ``pruner_options``, ``cv_folds``).
        schedule: The family's :func:`step_schedule`; ``None`` for a family
            pruned between folds.

    Returns:
        ``none``: ``NopPruner``; ``median``: ``MedianPruner(n_startup_trials=5)``;
        ``percentile``: ``PercentilePruner(25)``; ``successive_halving``:
        ``SuccessiveHalvingPruner(min_resource=1)``; ``hyperband``:
        ``HyperbandPruner(min_resource=1, max_resource=cv_folds)``; each with
        ``pruner_options`` over these defaults. For a family with steps,
        ``min_resource`` defaults to :data:`FIRST_STEP` (at most a
        ``reduction_factor``-th of its most steps) and hyperband's
        ``max_resource`` is its most steps.
    """
    most = schedule.max_steps if schedule is not None else None
    options = _options(config, most)
    if config.pruner == "none":
        return optuna.pruners.NopPruner()
    if config.pruner == "median":
        return optuna.pruners.MedianPruner(**options)
    if config.pruner == "percentile":
        return optuna.pruners.PercentilePruner(**options)
    if config.pruner == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(**options)
    return optuna.pruners.HyperbandPruner(max_resource=most or config.cv_folds, **options)


def _options(config: SweepConfig, most: int | None) -> dict[str, Any]:
    """The pruner's options: the user's over the defaults (in steps when ``most`` is given)."""
    options = {**PRUNER_DEFAULTS.get(config.pruner, {}), **config.pruner_options}
    options.pop("steps", None)  # airsweep's: what a step is (step_schedule), not Optuna's
    if config.pruner in REDUCTION_FACTORS:
        options.setdefault("reduction_factor", REDUCTION_FACTORS[config.pruner])
        if most is not None and "min_resource" not in config.pruner_options:
            options["min_resource"] = max(1, min(FIRST_STEP, most // options["reduction_factor"]))
    return options
