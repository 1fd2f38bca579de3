"""Run one trial a runner has taken: sample its params, cross-validate, tell the study.

A runner (:mod:`airsweep.runner`) takes a trial from the sweep's shared budget
with its family decided; :class:`TrialExecutor` does the rest. It keeps what
every trial of the runner shares: the training split, the folds, the search
spaces and the device.

User attrs of a trial: ``placement`` (``queue``, ``map_index``, ``try_number``,
``worker``, ``hostname``, ``device_requested``, ``device_used``,
``fallback_reason``) and ``model`` when it is taken; ``fit_seconds`` and, if
it failed, ``error`` when it ends. The trial's intermediate values are its mean
CV score at each step (:mod:`airsweep.crossval`): after each fold (the running
mean, from which the fold scores follow), or, for a family that trains in
steps, after each checkpoint of boosting rounds (its last fold scores are then
the ``fold_scores`` attr); :func:`airsweep.report.fold_scores` reads either.
Each attr is one storage transaction (about 5 ms on Postgres), so they are kept few.

The folds are fitted in the runner's trial process, a child forked from the
runner (:class:`airsweep.forked.ForkedProcess`) that sends a report after each
step back; the runner reports it, asks the pruner, and answers go on or stop. A
sweep with a custom objective (:mod:`airsweep.custom`) calls the user's function
there instead, and the runner answers its handle (params, reports, pruning). All
storage calls stay in the runner. A trial that passes ``trial_timeout_s`` is
stopped wherever it is, even inside a fit: the trial process is killed (and
forked again for the next trial), and the trial fails with an ``error``
starting with ``timeout:``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import optuna
from optuna.trial import TrialState

from airsweep.budget import WORKER_LOST
from airsweep.config import MAXIMIZE, SweepConfig
from airsweep.config.objectives import FIT_SECONDS
from airsweep.crossval import CrossValidation
from airsweep.custom.loading import load_objective
from airsweep.custom.trial import (
    ObjectiveAnswers,
    objective_data,
    outcome_scores,
    run_objective,
)
from airsweep.data import load_split
from airsweep.forked import Ask, DeadlinePassed, ForkedError, ForkedProcess
from airsweep.metrics import Metrics
from airsweep.models.base import CLASSIFICATION
from airsweep.models.registry import get_family
from airsweep.objective import ObjectiveData
from airsweep.pareto import best_value, primary_index
from airsweep.pruning import FamilyPruner, StepReporter
from airsweep.search.pruners import StepSchedule, make_pruner, step_schedule
from airsweep.space import resolve_space, suggest
from airsweep.trial_outcome import STATE_NAMES, TIMEOUT, Device, Outcome, TrialTimeoutError

log = logging.getLogger(__name__)

#: Monotonic clock of trial durations.
clock = time.perf_counter


class TrialExecutor:
    """Cross-validates the trials of one runner: shared data, folds and search spaces.

    Fits happen in the executor's trial process (see the module docstring),
    forked at the first trial or by :meth:`start`; :meth:`close` (or leaving
    the ``with`` block) kills it.

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
        self.objectives = [o["name"] for o in manifest["objectives"]]
        self.cv = CrossValidation(
            manifest,
            self.X,
            self.y,
            self.folds,
            n_jobs,
            device.used,
            config.seed,
            tuple(n for n in self.objectives if n not in (manifest["metric"], FIT_SECONDS)),
        )
        self._spaces: dict[str, dict[str, Any]] = {}
        self._pruning: dict[str, tuple[StepSchedule | None, optuna.pruners.BasePruner]] = {}
        self._best_seen: float | None = None
        self._primary = primary_index(self.objectives, manifest["metric"])
        self._maximize = manifest["direction"] == MAXIMIZE
        self.objective_data: ObjectiveData | None = None
        job = self._cv_job
        if config.objective is not None:  # the trial process calls the user's function
            self.objective_data = objective_data(
                config, manifest, self.X, self.y, self.folds, device.used, n_jobs
            )
            job = functools.partial(
                run_objective, load_objective(config.objective), self.objective_data
            )
        self._process = ForkedProcess(job, name="trial process")

    def __enter__(self) -> TrialExecutor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _cv_job(self, payload: tuple[str, dict[str, Any], Sequence[int] | None], ask: Ask) -> None:
        """The trial process's job: cross-validate, asking go on or stop after each report."""
        with contextlib.closing(self.cv.reports(*payload)) as reports:
            for report in reports:
                if not ask(report):
                    return

    def start(self) -> None:
        """Fork the trial process unless it is live.

        The runner calls this before it starts a trial's heartbeat thread, so
        the fork copies a process running no other thread of airsweep's.
        """
        self._process.start()

    def close(self) -> None:
        """Kill the trial process."""
        self._process.kill()

    def space(self, model: str) -> dict[str, Any]:
        """Return (and cache) the search space of ``model``."""
        if model not in self._spaces:
            overrides = self.config.search_space.get(model)
            self._spaces[model] = resolve_space(model, self.manifest["task_type"], overrides)
        return self._spaces[model]

    def run(self, trial: optuna.Trial, model: str) -> Outcome:
        """Cross-validate ``trial`` (already taken, family ``model``) and tell the study.

        A trial-level error (bad params, a NaN score, the trial timeout, a
        crashed trial process) fails the trial, not the runner. An interruption
        (task killed or timed out) marks it lost and is re-raised.
        """
        self.metrics.trial_started(model, self.queue, self.device.used)
        started = clock()
        error = None
        timed_out = False
        try:
            value = self._cross_validate_forked(trial, model, started)
            state = TrialState.COMPLETE
        except optuna.TrialPruned:
            state, value = TrialState.PRUNED, None
        except (TrialTimeoutError, ForkedError) as exc:  # the message is the error
            state, value, error = TrialState.FAIL, None, str(exc)
            timed_out = isinstance(exc, TrialTimeoutError)
            log.warning("trial %s (%s) failed: %s", trial.number, model, error)
        except Exception as exc:  # a failing trial must not fail the runner
            state, value, error = TrialState.FAIL, None, f"{type(exc).__name__}: {exc}"
        except BaseException as exc:  # interrupted (task timeout, kill): record, re-raise
            self._finish(
                trial, TrialState.FAIL, None, started, f"{WORKER_LOST}: interrupted {exc!r}"
            )
            raise
        outcome = self._finish(trial, state, value, started, error)
        if not outcome.lost:
            primary = outcome.values[self._primary] if outcome.values else None
            self._emit(model, state, primary, outcome.fit_seconds, timed_out)
        return outcome

    def _plan(
        self, trial: optuna.Trial, model: str, params: dict[str, Any]
    ) -> tuple[Sequence[int] | None, StepReporter]:
        """The trial's checkpoints (``None``: by folds) and its reporter (its family's pruner)."""
        if model not in self._pruning:
            schedule = step_schedule(self.config, model, self.manifest["task_type"])
            self._pruning[model] = (schedule, make_pruner(self.config, schedule))
        schedule, pruner = self._pruning[model]
        multi = len(self.objectives) > 1
        family_pruner = None if multi else FamilyPruner(self.study, trial, model, pruner)
        if schedule is None:
            return None, StepReporter(family_pruner, len(self.folds) - 1)
        step_param = get_family(model).step_param
        checkpoints = schedule.checkpoints(int(params[step_param]))
        return checkpoints, StepReporter(family_pruner, checkpoints[-1])

    def _cross_validate_forked(
        self, trial: optuna.Trial, model: str, started: float
    ) -> dict[str, float]:
        """Sample ``model``'s params here, fit the folds in the trial process; its objectives.

        Returns:
            The primary metric's mean CV score and, in a multi-objective sweep,
            the other measured objectives (``fit_seconds`` is the runner's).

        Args:
            trial: The running trial.
            model: Its family.
            started: :data:`clock` when the trial started (``trial_timeout_s`` counts from it).

        Raises:
            optuna.TrialPruned: The pruner stopped the trial.
            TrialTimeoutError: The trial passed ``trial_timeout_s``; its process was killed.
            ForkedError: A fold raised (``"<Type>: <message>"``) or the trial process died.
        """
        if self.objective_data is not None:
            return self._call_objective_forked(trial, model, started)
        params = suggest(trial, model, self.space(model))
        checkpoints, reporter = self._plan(trial, model, params)
        try:
            self._process.run((model, params, checkpoints), self._time_left(started), reporter)
        except DeadlinePassed:
            if checkpoints is None:
                done = f"{len(reporter.scores)}/{len(self.folds)} folds done"
            else:
                done = f"{reporter.step or 0}/{reporter.last_step} steps done"
            raise self._timed_out(started, done) from None
        return self._result(trial, checkpoints, reporter)

    def _call_objective_forked(
        self, trial: optuna.Trial, model: str, started: float
    ) -> dict[str, float]:
        """Call the custom objective in the trial process, answering its handle here.

        Returns:
            The objectives it returned, by name (``fit_seconds`` is the runner's).

        Raises:
            optuna.TrialPruned: The pruner stopped the trial.
            TrialTimeoutError: The trial passed ``trial_timeout_s``; its process was killed.
            ForkedError: The function raised or returned no usable score, or the
                trial process died.
        """
        assert self.objective_data is not None
        multi = len(self.objectives) > 1
        if model not in self._pruning:
            self._pruning[model] = (None, make_pruner(self.config))
        pruner = None if multi else FamilyPruner(self.study, trial, model, self._pruning[model][1])
        answers = ObjectiveAnswers(trial, model, pruner)
        try:
            outcome = self._process.run(trial.number, self._time_left(started), answers)
        except DeadlinePassed:
            raise self._timed_out(started, f"{answers.reported} values reported") from None
        return outcome_scores(outcome, self.objective_data.objectives)

    def _time_left(self, started: float) -> float:
        """Seconds the trial started at ``started`` has left of ``trial_timeout_s``."""
        return self.config.trial_timeout_s - (clock() - started)

    def _timed_out(self, started: float, done: str) -> TrialTimeoutError:
        """The error of a trial killed at ``trial_timeout_s`` after doing ``done``."""
        return TrialTimeoutError(
            f"{TIMEOUT}: trial passed trial_timeout_s={self.config.trial_timeout_s} and was "
            f"killed after {clock() - started:.1f}s ({done})"
        )

    def _result(
        self, trial: optuna.Trial, checkpoints: Sequence[int] | None, reporter: StepReporter
    ) -> dict[str, float]:
        """The trial's objectives; a trial with steps records its fold scores first.

        Raises:
            optuna.TrialPruned: The pruner stopped the trial.
        """
        if checkpoints is not None and reporter.scores:
            trial.set_user_attr("fold_scores", reporter.scores)
        if reporter.pruned:
            raise optuna.TrialPruned()
        return reporter.objectives(self.manifest["metric"])

    def cross_validate(self, trial: optuna.Trial, model: str) -> float:
        """Sample ``model``'s params, cross-validate them in this process; the mean score.

        No trial process and no ``trial_timeout_s``: benchmarks use this as the
        objective of plain Optuna and as the in-process baseline of the trial
        process (``bench/trial_isolation.py``). Pruning as in a runner.

        Raises:
            optuna.TrialPruned: The pruner stopped the trial.
            ValueError: A fold scored NaN or infinity.
        """
        params = suggest(trial, model, self.space(model))
        checkpoints, reporter = self._plan(trial, model, params)
        reports = self.cv.reports(model, params, checkpoints)
        for report in reports:
            if not reporter(report):
                reports.close()
                break
        return self._result(trial, checkpoints, reporter)[self.manifest["metric"]]

    def _finish(
        self,
        trial: optuna.Trial,
        state: TrialState,
        measured: dict[str, float] | None,
        started: float,
        error: str | None,
    ) -> Outcome:
        """Record the trial's result attrs and tell the study.

        A COMPLETE trial is told its objectives in the study's order:
        ``measured`` (:meth:`_result`), and ``fit_seconds``, the same number
        as the ``fit_seconds`` attr.

        A trial another runner already failed as lost (its heartbeat lapsed,
        e.g. a worker frozen for longer than the grace period) cannot be told
        any more: the outcome says so and the runner goes on.
        """
        seconds = clock() - started
        fit_seconds = round(seconds, 3)
        values = None
        if state == TrialState.COMPLETE and measured is not None:
            measured = {**measured, FIT_SECONDS: fit_seconds}
            values = [measured[name] for name in self.objectives]
        try:
            trial.set_user_attr(FIT_SECONDS, fit_seconds)
            if error is not None:
                trial.set_user_attr("error", error)
            self.study.tell(trial, values, state=state)
        except (optuna.exceptions.UpdateFinishedTrialError, ValueError) as exc:
            if self.study.get_trials(deepcopy=False)[trial.number].state.is_finished():
                log.warning("trial %s was declared lost before it ended: %s", trial.number, exc)
                return Outcome(TrialState.FAIL, seconds, f"{WORKER_LOST}", lost=True)
            raise
        return Outcome(state, seconds, error, values=values)

    def _emit(
        self,
        model: str,
        state: TrialState,
        value: float | None,
        seconds: float,
        timed_out: bool,
    ) -> None:
        """Send the trial's StatsD metrics.

        ``value`` is the primary metric's. The study's best score (in the
        primary metric) is read back only when this trial beats the best the
        runner has seen: any new best of the study comes from such a trial.
        """
        queue, device = self.queue, self.device.used
        self.metrics.trial_finished(STATE_NAMES[state], model, queue, device)
        if timed_out:
            self.metrics.trial_timed_out(model, queue, device)
        self.metrics.trial_duration(model, queue, device, seconds * 1000)
        if value is None:
            return
        self.metrics.trial_score(self.study.study_name, model, value)
        if self._best_seen is None or self._better(value, self._best_seen):
            self._best_seen = best_value(self.study, self._primary)
            self.metrics.best_score(self.study.study_name, self._best_seen)

    def _better(self, value: float, than: float) -> bool:
        """Whether ``value`` beats ``than`` in the primary metric's direction."""
        return value > than if self._maximize else value < than
