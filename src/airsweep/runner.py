"""A runner: one mapped trial task that takes trials from the sweep's budget until it is spent.

Runners replace fixed quotas. Each queue maps ``max_parallel`` runners (the
pool lets as many run at once as its workers have slots), and each one loops:

1. fail the study's lost trials (:func:`airsweep.liveness.fail_lost_trials`),
   which gives their places in the budget back;
2. under the study lock (:mod:`airsweep.study_lock`): count the budget
   (:func:`airsweep.budget.usage`), choose the family
   (:func:`airsweep.budget.choose`), ask the trial, record its first
   heartbeat, and write its placement (and its family when the budget forces it);
3. outside the lock: let the sampler choose the family when it may, sample the
   family's params, cross-validate in the runner's trial process (killed at
   ``trial_timeout_s``) and tell (:class:`airsweep.trials.TrialExecutor`),
   heartbeating meanwhile.

A runner ends when the budget has no place left: the counted trials reach
``n_trials``. While some of them are still running it waits and looks again
every second rather than ending, because a running trial may yet be lost with
its worker and give its place back: the last runners standing take it, so a
sweep never ends short of its budget. A worker added mid-sweep starts the runners
still waiting for a pool slot; a runner that starts after the budget is spent
ends after one count. A retried runner simply takes new trials: it never
re-runs a finished one. A trial whose runner died is failed as lost by the
other runners (or by the runner's own retry) and taken again by whoever comes next.

A runner also ends, without waiting for the running trials, once a stopping
rule fired (:mod:`airsweep.stopping`): checked under the lock, the first reason
is recorded in the study's ``stop_reason``, which every runner reads from then on.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.samplers import BaseSampler, PartialFixedSampler
from optuna.storages import RDBStorage
from threadpoolctl import threadpool_limits

from airsweep.budget import Choice, budget_spent, choose, usage
from airsweep.config import SweepConfig
from airsweep.liveness import (
    HEARTBEAT_INTERVAL_S,
    Heartbeat,
    fail_lost_trials,
    trial_id,
)
from airsweep.metrics import Metrics
from airsweep.models.base import CPU, GPU
from airsweep.models.device import resolve_device
from airsweep.search import make_sampler
from airsweep.shutdown import WorkerStopping, worker_stopping
from airsweep.stopping import STARTED_AT, STOP_REASON, check_rules, has_rules
from airsweep.study_lock import StudyLock
from airsweep.trial_outcome import STATE_NAMES, Device
from airsweep.trials import TrialExecutor

log = logging.getLogger(__name__)

#: Monotonic clock of the runner (replaceable in tests).
clock = time.perf_counter
#: Seconds between two looks at the budget while trials still running use all of it.
WAIT_POLL_S = 1.0
#: Wall clock of the stopping rules: the same on every worker (replaceable in tests).
wall_clock = time.time


def family_param(queue: str) -> str:
    """The study param holding a trial's family when a queue trains several: ``<queue>.model``."""
    return f"{queue}.model"


@dataclass(frozen=True)
class RunnerContext:
    """Where and how a runner runs.

    Attributes:
        run_id: Airflow run id of the sweep.
        queue: Celery queue of the task (``cpu`` or ``gpu``).
        map_index: Index of the mapped task (the runner's number on its queue).
        try_number: Airflow try number (1 for the first try).
        worker: Name of the worker running it.
        n_jobs: CPU threads each trial may use (threads of one worker slot).
    """

    run_id: str
    queue: str
    map_index: int
    try_number: int
    worker: str
    n_jobs: int = 1

    @property
    def key(self) -> str:
        """The runner's name in summaries and sampler streams: ``"<queue>/<map_index>"``."""
        return f"{self.queue}/{self.map_index}"


class Runner:
    """Takes trials from one sweep's budget and runs them (see the module docstring).

    Args:
        runner: The runner's plan entry: ``queue`` and ``models`` (the
            families its queue trains; :func:`airsweep.planning.plan_runners`).
        manifest: The dataset manifest.
        config: The sweep config.
        study: The shared study.
        context: Where the runner runs.
        lock: The study lock.
        storage: The study's RDB storage with heartbeats; ``None`` for an
            in-memory study (no heartbeats, no lost trials).
        metrics: StatsD emitter.
    """

    def __init__(
        self,
        runner: dict[str, Any],
        manifest: dict[str, Any],
        config: SweepConfig,
        study: optuna.Study,
        context: RunnerContext,
        lock: StudyLock,
        storage: RDBStorage | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        if runner["queue"] != context.queue:
            raise ValueError(
                f"runner is planned for queue {runner['queue']!r} but runs on {context.queue!r}"
            )
        self.models: list[str] = list(runner["models"])
        self.manifest = manifest
        self.config = config
        self.study = study
        self.context = context
        self.lock = lock
        self.storage = storage
        self.metrics = metrics if metrics is not None else Metrics()
        requested = GPU if context.queue == GPU else CPU
        self.device = Device(requested, *resolve_device(requested, config.gpu_fallback))
        self.hostname = socket.gethostname()
        self._sampler = make_sampler(
            config, stream=f"{context.run_id}/{context.key}/{context.try_number}"
        )
        self._study_id = storage.get_study_id_from_name(study.study_name) if storage else None
        self._last_liveness_check = -float("inf")
        self.lost_found = 0

    @property
    def placement(self) -> dict[str, Any]:
        """The ``placement`` attr of this runner's trials."""
        ctx, device = self.context, self.device
        return {
            "queue": ctx.queue,
            "map_index": ctx.map_index,
            "try_number": ctx.try_number,
            "worker": ctx.worker,
            "hostname": self.hostname,
            "device_requested": device.requested,
            "device_used": device.used,
            "fallback_reason": device.fallback_reason,
        }

    def run(self) -> dict[str, Any]:
        """Take and run trials until the budget is spent; return the runner's summary.

        Returns:
            ``runner``, ``queue``, ``map_index``, ``worker``, ``hostname``,
            ``device_used``, ``trials``, ``complete``, ``pruned``, ``failed``,
            ``lost`` (its own trials declared lost), ``lost_found`` (other
            runners' trials it failed as lost), ``stop_reason``,
            ``fit_seconds`` and ``wall_seconds``.
        """
        started = clock()
        ctx = self.context
        self.metrics.runner_started(ctx.queue, ctx.worker)
        outcomes: Counter[str] = Counter()
        fit_seconds = 0.0
        executor: TrialExecutor | None = None  # built at the first trial: idle runners end fast
        # One read of the study's attrs: a runner that starts after the sweep stopped (its
        # budget spent or a stopping rule fired) ends without reading the study's trials.
        stopped = self.study.user_attrs.get(STOP_REASON)
        with contextlib.ExitStack() as stack:
            stack.enter_context(threadpool_limits(limits=ctx.n_jobs))  # the trial process's too
            while True:
                if worker_stopping():  # make down, scale down: hand the budget back
                    raise WorkerStopping(
                        f"{ctx.worker} is shutting down; the runner is rescheduled"
                    )
                taken = Choice(False, reason=stopped) if stopped else self.take()
                if isinstance(taken, Choice) and taken.wait:  # a running trial may be lost
                    time.sleep(WAIT_POLL_S)
                    continue
                if isinstance(taken, Choice):
                    stop_reason = taken.reason
                    break
                trial, model = taken
                if executor is None:  # its trial process is killed when the runner ends
                    executor = stack.enter_context(
                        TrialExecutor(
                            self.study,
                            self.manifest,
                            self.config,
                            ctx.queue,
                            self.device,
                            ctx.n_jobs,
                            self.metrics,
                        )
                    )
                executor.start()
                with self._heartbeat(trial):
                    outcome = executor.run(trial, model)
                outcomes["lost" if outcome.lost else STATE_NAMES[outcome.state]] += 1
                fit_seconds += outcome.fit_seconds
        wall = clock() - started
        self.metrics.runner_finished(ctx.queue, ctx.worker, idle=not outcomes, ms=wall * 1000)
        return {
            "runner": ctx.key,
            "queue": ctx.queue,
            "map_index": ctx.map_index,
            "worker": ctx.worker,
            "hostname": self.hostname,
            "device_used": self.device.used,
            "trials": sum(outcomes.values()),
            "complete": outcomes["complete"],
            "pruned": outcomes["pruned"],
            "failed": outcomes["fail"],
            "lost": outcomes["lost"],
            "lost_found": self.lost_found,
            "stop_reason": stop_reason,
            "fit_seconds": round(fit_seconds, 3),
            "wall_seconds": round(wall, 3),
        }

    def take(self) -> tuple[optuna.Trial, str] | Choice:
        """Take the next trial from the budget, or say why there is none.

        Under the study lock: the stopping rules (the recorded ``stop_reason``,
        else :func:`airsweep.stopping.check_rules`, recording the reason when
        one fires), count, choose, ask, first heartbeat, ``placement`` and,
        when the family is forced, ``model``. A family the sampler chooses
        is suggested (and recorded) after the lock is released: only forced
        families need counting, and sampling reads every finished trial.

        Returns:
            ``(trial, model)``: the trial is RUNNING with its first heartbeat,
            ``model`` and ``placement`` recorded; or the refusing
            :class:`~airsweep.budget.Choice`.
        """
        self._fail_lost_trials()
        config = self.config
        with self.lock:
            rules = has_rules(config)
            attrs = self.study.user_attrs if rules else {}
            if STOP_REASON in attrs:  # a rule fired: the sweep takes no more trials
                return Choice(False, reason=attrs[STOP_REASON])
            trials = self.study.get_trials(deepcopy=False)
            used = usage(trials)
            self.metrics.budget_left(self.study.study_name, config.n_trials - used.used)
            if rules and used.finished < config.n_trials:
                directions = [d.name.lower() for d in self.study.directions]
                now = wall_clock()
                reason = check_rules(trials, used, config, directions, attrs[STARTED_AT], now)
                if reason is not None:  # recorded once: later takes end on the attr above
                    log.warning("the sweep stops taking trials: %s", reason)
                    self.study.set_user_attr(STOP_REASON, reason)
                    return Choice(False, reason=reason)
            choice = choose(
                used,
                config.n_trials,
                self.models,
                config.model_budget,
                config.trials_per_model(),
                config.min_trials_per_model(),
            )
            if not choice.take:
                if used.finished >= config.n_trials:  # final: later runners read only this
                    self.study.set_user_attr(STOP_REASON, budget_spent(config.n_trials))
                return choice
            several = len(self.models) > 1
            param = family_param(self.context.queue)
            sampler: BaseSampler = self._sampler
            if several and choice.model is not None:
                with warnings.catch_warnings():  # "experimental" since Optuna 2.4
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    sampler = PartialFixedSampler({param: choice.model}, self._sampler)
            self.study.sampler = sampler
            with warnings.catch_warnings():  # "heartbeats are meant for Study.optimize"
                warnings.simplefilter("ignore", UserWarning)
                trial = self.study.ask()
            if self.storage is not None:
                self.storage.record_heartbeat(self._trial_id(trial))
            trial.set_user_attr("placement", self.placement)
            forced = choice.model or (None if several else self.models[0])
            if forced is not None:  # the budget counts it by family from now on
                trial.set_user_attr("model", forced)
        # Outside the lock: the first suggest runs TPE's relative sampling, which
        # reads every finished trial (lazily, in Optuna's Trial.relative_params).
        model = trial.suggest_categorical(param, self.models) if several else self.models[0]
        if forced is None:
            trial.set_user_attr("model", model)
        return trial, str(model)

    def _trial_id(self, trial: optuna.Trial) -> int:
        assert self.storage is not None and self._study_id is not None
        return trial_id(self.storage, self._study_id, trial.number)

    def _heartbeat(self, trial: optuna.Trial) -> contextlib.AbstractContextManager[Any]:
        if self.storage is None:
            return contextlib.nullcontext()
        return Heartbeat(self.storage, self._trial_id(trial))

    def _fail_lost_trials(self) -> None:
        """Fail lost trials, at most once per heartbeat interval per runner."""
        if self.storage is None or clock() - self._last_liveness_check < HEARTBEAT_INTERVAL_S:
            return
        self._last_liveness_check = clock()
        lost = fail_lost_trials(self.study, self.storage)
        if lost:
            numbers = [trial.number for trial in lost]
            log.warning("trials %s lost their worker; their places return to the budget", numbers)
            self.lost_found += len(lost)
            for trial in lost:
                self.metrics.trial_lost(
                    trial.user_attrs.get("placement", {}).get("queue", "unknown")
                )
