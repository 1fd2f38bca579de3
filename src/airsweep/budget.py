"""The sweep's shared trial budget: how many trials count, and which family runs next.

Every runner of every queue takes its next trial from one budget, ``n_trials``
*counted* trials: COMPLETE, PRUNED, FAIL for a trial-level reason, and RUNNING
(taken, not yet finished). A trial lost with its worker (FAIL with an ``error``
starting with :data:`WORKER_LOST`) gives its place back. A trial seeded from an
earlier sweep (:mod:`airsweep.warm_start`, user attr :data:`WARM_START_FROM`)
never counts: ``n_trials`` is the number of new trials. A runner may take a
trial only while the counted trials are fewer than ``n_trials``, and it counts
and creates the trial under one lock per study (:mod:`airsweep.study_lock`), so
the sweep never ends with more or fewer than ``n_trials`` finished counted
trials, whatever the interleaving of runners.

This module is the pure part: counting a study's trials and choosing the
family of the next one. :mod:`airsweep.runner` applies it under the lock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from optuna.trial import FrozenTrial, TrialState

#: ``error`` of a trial whose runner died (killed worker, lost heartbeat, interrupted task).
WORKER_LOST = "worker lost"
#: User attr of a trial seeded from an earlier sweep: that sweep's run id.
WARM_START_FROM = "warm_start_from"

_COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
_TAKEN = (TrialState.RUNNING, TrialState.WAITING)


def is_lost(trial: FrozenTrial) -> bool:
    """Whether ``trial`` failed because its worker was lost (it does not count)."""
    return trial.state == TrialState.FAIL and str(trial.user_attrs.get("error", "")).startswith(
        WORKER_LOST
    )


def is_seeded(trial: FrozenTrial) -> bool:
    """Whether ``trial`` was seeded from an earlier sweep (it does not count)."""
    return WARM_START_FROM in trial.user_attrs


@dataclass(frozen=True)
class Usage:
    """How much of a sweep's budget its trials use.

    Attributes:
        finished: Finished trials that count (COMPLETE, PRUNED, trial-level FAIL).
        running: Trials taken and not finished (RUNNING or WAITING).
        lost: Trials lost with their worker (not counted).
        by_model: Counted trials (finished or running) per model family.
    """

    finished: int = 0
    running: int = 0
    lost: int = 0
    by_model: Counter[str] = field(default_factory=Counter)

    @property
    def used(self) -> int:
        """Counted trials: finished plus running."""
        return self.finished + self.running


def usage(trials: Iterable[FrozenTrial]) -> Usage:
    """Count a study's trials against its budget (seeded trials are not counted at all).

    Args:
        trials: Every trial of the study.
    """
    finished = running = lost = 0
    by_model: Counter[str] = Counter()
    for trial in trials:
        if is_seeded(trial):
            continue
        if is_lost(trial):
            lost += 1
            continue
        if trial.state in _COUNTED:
            finished += 1
        elif trial.state in _TAKEN:
            running += 1
        else:
            continue
        model = trial.user_attrs.get("model")
        if model is not None:
            by_model[model] += 1
    return Usage(finished, running, lost, by_model)


def budget_spent(n_trials: int) -> str:
    """The stop reason of a sweep whose counted trials reached its budget."""
    return f"budget spent (n_trials={n_trials})"


@dataclass(frozen=True)
class Choice:
    """What a runner may take next.

    Attributes:
        take: Whether the runner may take a trial at all.
        model: The family the next trial must use, or ``None`` when the
            sampler chooses among the runner's families.
        reason: Why the runner may not take one (``take`` false).
        wait: ``take`` is false only because trials still running use the budget:
            one of them may yet be lost with its worker and give its place back,
            so the runner should ask again rather than end.
    """

    take: bool
    model: str | None = None
    reason: str = ""
    wait: bool = False


def choose(
    used: Usage,
    n_trials: int,
    models: Sequence[str],
    model_budget: str,
    quotas: dict[str, int],
    minimum: int,
) -> Choice:
    """Decide whether a runner takes a trial, and whether its family is forced.

    Args:
        used: The study's usage (:func:`usage`), counted under the study lock.
        n_trials: The sweep's budget.
        models: Families this runner's queue trains, in the sweep's order.
        model_budget: ``"adaptive"`` or ``"even"``.
        quotas: Trials per family under ``"even"`` (``SweepConfig.trials_per_model``).
        minimum: Trials every family gets first under ``"adaptive"``.

    Returns:
        ``take`` false once the counted trials reach ``n_trials`` (or, under
        ``"even"``, once this queue's families reached their quotas), with
        ``wait`` true while some of them are still running. Else the
        family with the fewest counted trials when one is below its quota
        (``"even"``) or its minimum (``"adaptive"``); a single family is always
        forced; otherwise ``model`` is ``None`` and the sampler chooses.
    """
    pending = used.running > 0
    if used.used >= n_trials:
        return Choice(False, reason=budget_spent(n_trials), wait=pending)
    if model_budget == "even":
        open_models = [m for m in models if used.by_model[m] < quotas.get(m, 0)]
        if not open_models:
            reason = "this queue's families reached their quotas"
            return Choice(False, reason=reason, wait=pending)
        return Choice(True, min(open_models, key=lambda m: used.by_model[m]))
    if len(models) == 1:
        return Choice(True, models[0])
    behind = [m for m in models if used.by_model[m] < minimum]
    if behind:
        return Choice(True, min(behind, key=lambda m: used.by_model[m]))
    return Choice(True, None)
