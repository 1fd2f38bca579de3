"""Run one batch of trials against the sweep's shared study (ask, fit, score, tell).

A batch is one Airflow mapped task: a few trials per model, planned by
:func:`airsweep.planning.plan_batches`. Each trial is asked from the shared
study, cross-validated on the training split, and told back, so every batch on
every worker and queue feeds the same sampler.

User attrs of a trial: ``placement`` (``queue``, ``map_index``,
``try_number``, ``worker``, ``hostname``, ``device_requested``, ``device_used``,
``fallback_reason``) and ``model`` when it starts; ``fit_seconds`` and, if it
failed, ``error`` when it ends. The running mean CV score after each fold is
the trial's intermediate value (fold scores follow from it:
:func:`airsweep.report.fold_scores`). Each attr is one storage transaction
(about 5 ms on Postgres), so they are kept few.

Retries are idempotent: the study belongs to one DAG run, and ``queue`` and
``map_index`` name the batch within it. A new try counts the batch's COMPLETE
and PRUNED trials as done, marks trials left RUNNING by a killed try as FAIL,
and runs only the remainder.
"""

from __future__ import annotations

import math
import socket
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState
from threadpoolctl import threadpool_limits

from airsweep.config import SweepConfig
from airsweep.data import load_split
from airsweep.metrics import Metrics
from airsweep.models.base import CLASSIFICATION, CPU, GPU
from airsweep.models.device import resolve_device
from airsweep.models.pipeline import build_pipeline
from airsweep.models.scoring import score
from airsweep.pruning import FoldPruner
from airsweep.report import placement
from airsweep.space import resolve_space, suggest
from airsweep.study import make_sampler

#: Monotonic clock of the cooperative timeout (replaceable in tests).
clock = time.perf_counter

_STATE_NAMES = {
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "fail",
}


class BatchFailedError(RuntimeError):
    """Every trial a batch ran failed."""


class TrialTimeoutError(TimeoutError):
    """A trial ran past ``trial_timeout_s`` (checked after each fold)."""


@dataclass
class BatchContext:
    """Where and how a batch runs.

    Attributes:
        run_id: Airflow run id of the sweep.
        map_index: Index of the mapped task running the batch.
        try_number: Airflow try number (1 for the first try).
        queue: Celery queue of the task.
        worker: Name of the worker running it.
        n_jobs: CPU threads each trial may use (threads of one worker slot).
    """

    run_id: str
    map_index: int
    try_number: int
    queue: str
    worker: str
    n_jobs: int = 1

    @property
    def batch_key(self) -> str:
        """The batch's name in summaries and sampler streams: ``"<run_id>/<queue>/<map_index>"``."""
        return f"{self.run_id}/{self.queue}/{self.map_index}"


@dataclass
class _Device:
    """Device a batch asked for and the one it got."""

    requested: str
    used: str
    fallback_reason: str | None


def run_trial_batch(
    batch: dict[str, Any],
    manifest: dict[str, Any],
    config: SweepConfig,
    study: optuna.Study,
    context: BatchContext,
    metrics: Metrics | None = None,
) -> dict[str, Any]:
    """Run the trials of one batch that are not done yet.

    The study's sampler is replaced by one seeded with the batch's own random
    stream (batch key and try number), so concurrent batches do not propose
    the same candidates.

    Args:
        batch: A batch from :func:`airsweep.planning.plan_batches`.
        manifest: The dataset manifest.
        config: The sweep config.
        study: The shared study (from :func:`airsweep.study.load_study`).
        context: Where the batch runs.
        metrics: StatsD emitter; default: one configured from the settings.

    Returns:
        Summary: ``batch_key``, ``queue``, ``worker``, ``hostname``,
        ``device_used``, ``planned``, ``complete``, ``pruned``, ``failed``,
        ``skipped_done``, ``fit_seconds``, ``wall_seconds``.

    Raises:
        BatchFailedError: every trial run by this try failed (the message holds
            the first error).
        GpuUnavailableError: a gpu batch, no usable CUDA and ``gpu_fallback="fail"``.
    """
    started = clock()
    metrics = metrics if metrics is not None else Metrics()
    queue = batch["queue"]
    if queue != context.queue:
        raise ValueError(f"batch is planned for queue {queue!r} but runs on {context.queue!r}")
    requested = GPU if queue == GPU else CPU
    device = _Device(requested, *resolve_device(requested, config.gpu_fallback))
    study.sampler = make_sampler(config, stream=f"{context.batch_key}/{context.try_number}")
    done = _reconcile(study, context)
    todo = _remaining(batch["trials"], done)
    runner = _TrialRunner(study, manifest, config, context, device, metrics)
    outcomes: Counter[TrialState] = Counter()
    first_error = None
    fit_seconds = 0.0
    with threadpool_limits(limits=context.n_jobs):
        for model in todo:
            state, seconds, error = runner.run(model)
            outcomes[state] += 1
            fit_seconds += seconds
            first_error = first_error or error
    wall = clock() - started
    metrics.batch_duration(queue, wall * 1000)
    if todo and outcomes[TrialState.FAIL] == len(todo):
        raise BatchFailedError(
            f"batch {context.batch_key}: all {len(todo)} trial(s) failed; first error: "
            f"{first_error}"
        )
    return {
        "batch_key": context.batch_key,
        "queue": queue,
        "worker": context.worker,
        "hostname": runner.hostname,
        "device_used": device.used,
        "planned": sum(batch["trials"].values()),
        "complete": outcomes[TrialState.COMPLETE],
        "pruned": outcomes[TrialState.PRUNED],
        "failed": outcomes[TrialState.FAIL],
        "skipped_done": sum(min(done[m], n) for m, n in batch["trials"].items()),
        "fit_seconds": round(fit_seconds, 3),
        "wall_seconds": round(wall, 3),
    }


def _reconcile(study: optuna.Study, context: BatchContext) -> Counter[str]:
    """Count the batch's finished trials per model; fail trials left RUNNING by a dead try."""
    done: Counter[str] = Counter()
    for trial in study.get_trials(deepcopy=False):
        where = placement(trial)
        if (where.get("queue"), where.get("map_index")) != (context.queue, context.map_index):
            continue
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            done[trial.user_attrs["model"]] += 1
        elif trial.state == TrialState.RUNNING:
            error = f"abandoned by try {where.get('try_number')}"
            # Optuna has no public handle on another process's running trial but this one.
            optuna.trial.Trial(study, trial._trial_id).set_user_attr("error", error)
            study.tell(trial.number, state=TrialState.FAIL)
    return done


def _remaining(planned: dict[str, int], done: Counter[str]) -> list[str]:
    """Models of the trials still to run, interleaved (a, b, a, b, a)."""
    left = {model: max(0, count - done[model]) for model, count in planned.items()}
    order = []
    while any(left.values()):
        for model in planned:
            if left[model]:
                order.append(model)
                left[model] -= 1
    return order


class _TrialRunner:
    """Runs single trials of one batch: shared data, folds and search spaces."""

    def __init__(
        self,
        study: optuna.Study,
        manifest: dict[str, Any],
        config: SweepConfig,
        context: BatchContext,
        device: _Device,
        metrics: Metrics,
    ) -> None:
        from sklearn.model_selection import KFold, StratifiedKFold

        self.study = study
        self.manifest = manifest
        self.config = config
        self.context = context
        self.device = device
        self.metrics = metrics
        self.hostname = socket.gethostname()
        self.placement = {
            "queue": context.queue,
            "map_index": context.map_index,
            "try_number": context.try_number,
            "worker": context.worker,
            "hostname": self.hostname,
            "device_requested": device.requested,
            "device_used": device.used,
            "fallback_reason": device.fallback_reason,
        }
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

    def run(self, model: str) -> tuple[TrialState, float, str | None]:
        """Ask, cross-validate and tell one trial of ``model``.

        Returns:
            ``(state, fit_seconds, error)``; ``error`` is ``None`` unless it failed.
        """
        ctx, device = self.context, self.device
        trial = self.study.ask()
        trial.set_user_attr("placement", self.placement)  # first: a retry finds it by this
        trial.set_user_attr("model", model)
        self.metrics.trial_started(model, ctx.queue, device.used)
        started = clock()
        error = None
        try:
            value = self._cross_validate(trial, model, started)
            state = TrialState.COMPLETE
        except optuna.TrialPruned:
            state, value = TrialState.PRUNED, None
        except Exception as exc:  # a failing trial must not fail the batch
            state, value, error = TrialState.FAIL, None, f"{type(exc).__name__}: {exc}"
        except BaseException as exc:  # interrupted (task timeout, kill): record, re-raise
            self._finish(trial, TrialState.FAIL, None, started, f"interrupted: {exc!r}")
            raise
        seconds = self._finish(trial, state, value, started, error)
        self._emit(model, state, value, seconds)
        return state, seconds, error

    def _cross_validate(self, trial: optuna.Trial, model: str, started: float) -> float:
        """Fit and score every fold, reporting the running mean; return the mean score.

        The pruner is asked after every fold but the last (a finished trial has
        nothing left to save).
        """
        params = suggest(trial, model, self.space(model))
        scores: list[float] = []
        pruner = FoldPruner(self.study, trial)
        timeout = self.config.trial_timeout_s
        last = len(self.folds) - 1
        for step, (train_idx, valid_idx) in enumerate(self.folds):
            pipeline = build_pipeline(
                self.manifest,
                model,
                params,
                self.context.n_jobs,
                self.device.used,
                seed=self.config.seed,
            )
            pipeline.fit(self.X.iloc[train_idx], self.y.iloc[train_idx])
            fold_score = score(
                pipeline,
                self.X.iloc[valid_idx],
                self.y.iloc[valid_idx],
                self.manifest["metric"],
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
    ) -> float:
        """Record the trial's result attrs and tell the study; return fit seconds."""
        seconds = clock() - started
        trial.set_user_attr("fit_seconds", round(seconds, 3))
        if error is not None:
            trial.set_user_attr("error", error)
        self.study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
        return seconds

    def _emit(self, model: str, state: TrialState, value: float | None, seconds: float) -> None:
        """Send the trial's StatsD metrics.

        The study's best score is read back only when this trial beats the best
        the batch has seen: any new best of the study comes from such a trial.
        """
        queue, device = self.context.queue, self.device.used
        self.metrics.trial_finished(_STATE_NAMES[state], model, queue, device)
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
