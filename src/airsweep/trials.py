"""Run one trial a runner has taken: sample its params, cross-validate, tell the study.

A runner (:mod:`airsweep.runner`) takes a trial from the sweep's shared budget
with its family decided; :class:`TrialExecutor` does the rest. It keeps what
every trial of the runner shares: the training split, the folds, the search
spaces and the device.

User attrs of a trial: ``placement`` (``queue``, ``map_index``, ``try_number``,
``worker``, ``hostname``, ``device_requested``, ``device_used``,
``fallback_reason``) and ``model`` when it is taken; ``fit_seconds`` and, if
it failed, ``error`` when it ends. The running mean CV score after each fold is
the trial's intermediate value (fold scores follow from it:
:func:`airsweep.report.fold_scores`). Each attr is one storage transaction
(about 5 ms on Postgres), so they are kept few.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from airsweep.budget import WORKER_LOST
from airsweep.config import SweepConfig
from airsweep.data import load_split
from airsweep.metrics import Metrics
from airsweep.models.base import CLASSIFICATION
from airsweep.models.pipeline import build_pipeline
from airsweep.models.scoring import score
from airsweep.pruning import FoldPruner
from airsweep.space import resolve_space, suggest

log = logging.getLogger(__name__)

#: Monotonic clock of the cooperative timeout (replaceable in tests).
clock = time.perf_counter

STATE_NAMES = {
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "fail",
}


class TrialTimeoutError(TimeoutError):
    """A trial ran past ``trial_timeout_s`` (checked after each fold)."""


@dataclass(frozen=True)
class Device:
    """Device a runner asked for and the one it got.

    Attributes:
        requested: ``cpu`` or ``gpu`` (the queue's device).
        used: The device trials really train on.
        fallback_reason: Why a gpu request trains on the CPU, else ``None``.
    """

    requested: str
    used: str
    fallback_reason: str | None


@dataclass(frozen=True)
class Outcome:
    """How one trial ended.

    Attributes:
        state: COMPLETE, PRUNED or FAIL.
        fit_seconds: Wall time of its cross-validation.
        error: Why it failed, else ``None``.
        lost: Whether it was declared lost (its heartbeat lapsed) before it ended.
    """

    state: TrialState
    fit_seconds: float
    error: str | None = None
    lost: bool = False


class TrialExecutor:
    """Cross-validates the trials of one runner: shared data, folds and search spaces.

    Args:
        study: The sweep's study.
        manifest: The dataset manifest.
        config: The sweep config.
        queue: Queue of the runner (metric labels).
        device: Device of the runner.
        n_jobs: CPU threads each fit may use.
        metrics: StatsD emitter.
    """

    def __init__(
        self,
        study: optuna.Study,
        manifest: dict[str, Any],
        config: SweepConfig,
        queue: str,
        device: Device,
        n_jobs: int,
        metrics: Metrics,
    ) -> None:
        from sklearn.model_selection import KFold, StratifiedKFold

        self.study = study
        self.manifest = manifest
        self.config = config
        self.queue = queue
        self.device = device
        self.n_jobs = n_jobs
        self.metrics = metrics
        self.X, self.y = load_split(manifest, "train")
        splitter_cls = StratifiedKFold if manifest["task_type"] == CLASSIFICATION else KFold
        splitter = splitter_cls(n_splits=config.cv_folds, shuffle=True, random_state=config.seed)
        self.folds = list(splitter.split(self.X, self.y))
        self._spaces: dict[str, dict[str, Any]] = {}
        self._best_seen: float | None = None
        self._maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE

    def space(self, model: str) -> dict[str, Any]:
        """Return (and cache) the search space of ``model``."""
        if model not in self._spaces:
            overrides = self.config.search_space.get(model)
            self._spaces[model] = resolve_space(model, self.manifest["task_type"], overrides)
        return self._spaces[model]

    def run(self, trial: optuna.Trial, model: str) -> Outcome:
        """Cross-validate ``trial`` (already taken, family ``model``) and tell the study.

        A trial-level error (bad params, a NaN score, the trial timeout) fails
        the trial, not the runner. An interruption (task killed or timed out)
        marks it lost and is re-raised.
        """
        self.metrics.trial_started(model, self.queue, self.device.used)
        started = clock()
        error = None
        try:
            value = self.cross_validate(trial, model, started)
            state = TrialState.COMPLETE
        except optuna.TrialPruned:
            state, value = TrialState.PRUNED, None
        except Exception as exc:  # a failing trial must not fail the runner
            state, value, error = TrialState.FAIL, None, f"{type(exc).__name__}: {exc}"
        except BaseException as exc:  # interrupted (task timeout, kill): record, re-raise
            self._finish(
                trial, TrialState.FAIL, None, started, f"{WORKER_LOST}: interrupted {exc!r}"
            )
            raise
        outcome = self._finish(trial, state, value, started, error)
        if not outcome.lost:
            self._emit(model, state, value, outcome.fit_seconds)
        return outcome

    def cross_validate(self, trial: optuna.Trial, model: str, started: float) -> float:
        """Sample ``model``'s params, fit and score every fold; return the mean score.

        The running mean is reported after each fold, and the pruner is asked
        after every fold but the last (a finished trial has nothing left to
        save). Benchmarks use this as the objective of plain Optuna, so both
        sides train the same way.

        Args:
            trial: The running trial.
            model: Its family.
            started: :data:`clock` when the trial started (for ``trial_timeout_s``).

        Raises:
            optuna.TrialPruned: The pruner stopped the trial.
            TrialTimeoutError: The trial passed ``trial_timeout_s``.
            ValueError: A fold scored NaN or infinity.
        """
        params = suggest(trial, model, self.space(model))
        scores: list[float] = []
        pruner = FoldPruner(self.study, trial)
        timeout = self.config.trial_timeout_s
        last = len(self.folds) - 1
        for step, (train_idx, valid_idx) in enumerate(self.folds):
            pipeline = build_pipeline(
                self.manifest, model, params, self.n_jobs, self.device.used, seed=self.config.seed
            )
            pipeline.fit(self.X.iloc[train_idx], self.y.iloc[train_idx])
            fold_score = score(
                pipeline, self.X.iloc[valid_idx], self.y.iloc[valid_idx], self.manifest["metric"]
            )
            if not math.isfinite(fold_score):
                raise ValueError(f"fold {step} scored {fold_score}")
            scores.append(fold_score)
            pruner.report(float(np.mean(scores)), step)
            elapsed = clock() - started
            if elapsed > timeout:
                raise TrialTimeoutError(
                    f"trial ran {elapsed:.1f}s after fold {step + 1}/{len(self.folds)}, "
                    f"over trial_timeout_s={timeout}"
                )
            if step < last and pruner.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(scores))

    def _finish(
        self,
        trial: optuna.Trial,
        state: TrialState,
        value: float | None,
        started: float,
        error: str | None,
    ) -> Outcome:
        """Record the trial's result attrs and tell the study.

        A trial another runner already failed as lost (its heartbeat lapsed,
        e.g. a worker frozen for longer than the grace period) cannot be told
        any more: the outcome says so and the runner goes on.
        """
        seconds = clock() - started
        try:
            trial.set_user_attr("fit_seconds", round(seconds, 3))
            if error is not None:
                trial.set_user_attr("error", error)
            self.study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
        except (optuna.exceptions.UpdateFinishedTrialError, ValueError) as exc:
            if self.study.get_trials(deepcopy=False)[trial.number].state.is_finished():
                log.warning("trial %s was declared lost before it ended: %s", trial.number, exc)
                return Outcome(TrialState.FAIL, seconds, f"{WORKER_LOST}", lost=True)
            raise
        return Outcome(state, seconds, error)

    def _emit(self, model: str, state: TrialState, value: float | None, seconds: float) -> None:
        """Send the trial's StatsD metrics.

        The study's best score is read back only when this trial beats the best
        the runner has seen: any new best of the study comes from such a trial.
        """
        queue, device = self.queue, self.device.used
        self.metrics.trial_finished(STATE_NAMES[state], model, queue, device)
        self.metrics.trial_duration(model, queue, device, seconds * 1000)
        if value is None:
            return
        self.metrics.trial_score(self.study.study_name, model, value)
        if self._best_seen is None or self._better(value, self._best_seen):
            self._best_seen = self.study.best_value
            self.metrics.best_score(self.study.study_name, self._best_seen)

    def _better(self, value: float, than: float) -> bool:
        """Whether ``value`` beats ``than`` in the study's direction."""
        return value > than if self._maximize else value < than
