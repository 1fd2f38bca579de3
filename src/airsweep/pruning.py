"""Pruning checks between the CV folds of a trial, reading the study once per trial.

``optuna.Trial.should_prune`` reads the running trial and every completed trial
back from the storage at each call: two reads, about 20 ms of mostly client CPU
per fold on the cluster's Postgres (docs/benchmarks.md). :class:`FoldPruner`
reads the completed trials once, when its trial starts, keeps the trial's own
intermediate values, and applies the study's pruner to that snapshot. Trials
that complete while the trial runs are not seen, which barely moves a median
over the study.
"""

from __future__ import annotations

from collections.abc import Container, Sequence

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState


class _CompletedTrials:
    """What a percentile pruner reads from a study: its direction and completed trials."""

    def __init__(self, direction: StudyDirection, trials: Sequence[FrozenTrial]) -> None:
        self.direction = direction
        self._trials = trials

    def get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        """The snapshot's trials in ``states`` (never copied: they are read-only here)."""
        return [t for t in self._trials if states is None or t.state in states]


class FoldPruner:
    """Report a trial's running CV score and decide whether to prune it.

    The study's pruner (:func:`airsweep.study.make_pruner`: Optuna's
    ``MedianPruner``) must read only ``direction`` and ``get_trials`` from the
    study it is given, as Optuna's median and percentile pruners do.

    Args:
        study: The sweep's study.
        trial: The running trial, just asked from ``study``.
    """

    def __init__(self, study: optuna.Study, trial: optuna.Trial) -> None:
        self._pruner = study.pruner
        completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        self._snapshot = _CompletedTrials(study.direction, completed)
        self._trial = trial
        self._values: dict[int, float] = {}

    def report(self, value: float, step: int) -> None:
        """Store ``value`` as the trial's intermediate value at ``step`` (one storage write)."""
        self._trial.report(value, step)
        self._values[step] = value

    def should_prune(self) -> bool:
        """Whether the study's pruner stops the trial, given the values reported so far."""
        trial = self._trial
        running = FrozenTrial(
            number=trial.number,
            state=TrialState.RUNNING,
            value=None,
            datetime_start=trial.datetime_start,
            datetime_complete=None,
            params={},
            distributions={},
            user_attrs={},
            system_attrs={},
            intermediate_values=dict(self._values),
            trial_id=trial.number,  # not read by the pruner; the storage id is private
        )
        return bool(self._pruner.prune(self._snapshot, running))  # type: ignore[arg-type]
