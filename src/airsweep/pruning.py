"""Pruning checks at a trial's steps (CV folds or training steps), among trials of its family.

A sweep's families share one study, and their scores are not comparable: a
``random_forest`` trial below the median of all trials may be a good forest.
:class:`FamilyPruner` gives the family's pruner (:func:`airsweep.search.make_pruner`;
its steps are folds or boosting rounds) a study that holds only the trial's own
family, and reads it once per trial:
``optuna.Trial.should_prune`` reads the running trial and every completed
trial back from the storage at each call, about 20 ms of mostly client CPU per
step on the cluster's Postgres (docs/benchmarks.md). Trials that finish, or
reach a rung, while the trial runs are not seen, which barely moves a median
or a rung over the study.

The family's study is an ``optuna.Study`` over :class:`_FamilyStorage`, so a
pruner can read it as it reads any study (Optuna's median, percentile,
successive-halving and hyperband pruners read ``direction`` and
``get_trials``; successive halving writes each rung a trial completes as a
trial system attr, which goes to the real storage, so runners on other workers
see it). This needs two private attributes of Optuna, read here only:
``Study._study_id`` and ``Trial._trial_id``.

:class:`StepReporter` is what a runner calls with each report of its trial
process: it keeps the fold scores and other objectives, reports the mean to
the :class:`FamilyPruner` and answers whether the trial goes on.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from airsweep.crossval import Report


class _FamilyStorage:
    """The storage a family's study reads: a snapshot of the family's trials.

    Every other call goes to the real storage; a system attr set on the
    running trial is also kept in ``system_attrs`` (the running trial's own
    copy, read by the next pruning check).

    Args:
        storage: The sweep study's storage.
        study_id: The sweep study's id in ``storage``.
        directions: The sweep study's directions.
        trials: The family's trials other than the running one.
        trial_id: The running trial's id in ``storage``.
        system_attrs: The running trial's system attrs, updated in place.
    """

    def __init__(
        self,
        storage: optuna.storages.BaseStorage,
        study_id: int,
        directions: Sequence[StudyDirection],
        trials: Sequence[FrozenTrial],
        trial_id: int,
        system_attrs: dict[str, Any],
    ) -> None:
        self._storage = storage
        self._study_id = study_id
        self._directions = list(directions)
        self._trials = trials
        self._trial_id = trial_id
        self._system_attrs = system_attrs

    def get_study_id_from_name(self, study_name: str) -> int:
        """The sweep study's id (no storage read)."""
        return self._study_id

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        """The sweep study's directions (no storage read)."""
        return list(self._directions)

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        """The snapshot's trials in ``states`` (never copied: they are read-only here)."""
        return [t for t in self._trials if states is None or t.state in states]

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        """Write a trial system attr to the real storage (a pruner's rung)."""
        self._storage.set_trial_system_attr(trial_id, key, value)
        if trial_id == self._trial_id:
            self._system_attrs[key] = value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)


def family_study(
    study: optuna.Study,
    trial: optuna.Trial,
    family: str,
    pruner: optuna.pruners.BasePruner | None = None,
) -> optuna.Study:
    """Return the study a pruner sees for ``trial``: the trials of ``family`` only.

    Args:
        study: The sweep's study.
        trial: The running trial, just asked from ``study``.
        family: The trial's model family (each trial's ``model`` user attr).
        pruner: The family's pruner; default the study's.

    Returns:
        A study named like ``study`` over :class:`_FamilyStorage`: the family's
        trials other than ``trial`` as they are now, in every state.
    """
    trials = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.user_attrs.get("model") == family and t.number != trial.number
    ]
    storage = _FamilyStorage(
        study._storage, study._study_id, study.directions, trials, trial._trial_id, {}
    )
    return optuna.Study(
        study_name=study.study_name,
        storage=storage,  # type: ignore[arg-type]
        sampler=study.sampler,
        pruner=pruner if pruner is not None else study.pruner,
    )


class FamilyPruner:
    """Report a trial's CV score at its steps and decide whether to prune it.

    The family's pruner compares the trial only with the trials of its model
    family, as they were when the trial started (see the module docstring).

    Args:
        study: The sweep's study.
        trial: The running trial, just asked from ``study``.
        family: The trial's model family.
        pruner: The family's pruner (:func:`airsweep.search.make_pruner`); default
            the study's.
    """

    def __init__(
        self,
        study: optuna.Study,
        trial: optuna.Trial,
        family: str,
        pruner: optuna.pruners.BasePruner | None = None,
    ) -> None:
        self._study = family_study(study, trial, family, pruner)
        self._storage: _FamilyStorage = self._study._storage  # type: ignore[assignment]
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
            system_attrs=dict(self._storage._system_attrs),
            intermediate_values=dict(self._values),
            trial_id=self._storage._trial_id,
        )
        return bool(self._study.pruner.prune(self._study, running))


class StepReporter:
    """Reports a trial's mean CV score at each step and asks the pruner.

    Runs in the runner's process (the storage is there): called with each
    :data:`~airsweep.crossval.Report` of the trial process, in step order.

    Args:
        pruner: The trial's pruner (its family's trials only); ``None`` in a
            multi-objective sweep, which neither reports nor prunes (Optuna's
            pruners compare one value).
        last_step: The trial's last step (its last fold, or its total rounds).
    """

    def __init__(self, pruner: FamilyPruner | None, last_step: int) -> None:
        self._pruner = pruner
        self.last_step = last_step
        self.step: int | None = None
        self.scores: list[float] = []
        self.others: list[dict[str, float]] = []
        self.pruned = False

    def __call__(self, report: Report) -> bool:
        """Report the mean at this step; return whether the trial goes on.

        The pruner is asked at every step but the last (a finished trial has
        nothing left to save).
        """
        self.step, self.scores, self.others = report
        if self._pruner is None:
            return True
        self._pruner.report(self.mean, self.step)
        self.pruned = self.step < self.last_step and self._pruner.should_prune()
        return not self.pruned

    @property
    def mean(self) -> float:
        """The mean score of the folds at the last step."""
        return float(np.mean(self.scores))

    def objectives(self, metric: str) -> dict[str, float]:
        """The trial's measured objectives: ``metric`` (the mean) and the others' fold means."""
        names = self.others[0] if self.others else {}
        return {
            metric: self.mean,
            **{n: float(np.mean([o[n] for o in self.others])) for n in names},
        }
