"""The steps of a sweep, one function per ``hpo_sweep`` task.

Each step takes and returns small JSON-able dicts (they travel as XCom); data
and models travel as URIs in the artifact store. The DAG file only wires these
steps to Airflow tasks, queues and pools, so every step runs and is tested
without Airflow.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import optuna

from airsweep.artifacts import ArtifactStore
from airsweep.config import SweepConfig
from airsweep.config.sweep import check_target_score
from airsweep.custom.loading import load_objective
from airsweep.data import prepare_dataset
from airsweep.liveness import heartbeat_storage
from airsweep.metrics import Metrics
from airsweep.planning import plan_runners, resolve_devices
from airsweep.registry import ModelRegistry
from airsweep.report import leaderboard, sweep_timing
from airsweep.runner import Runner, RunnerContext
from airsweep.selection import finalize_best
from airsweep.settings import Settings, get_settings
from airsweep.study import create_study, load_study, study_name_for
from airsweep.study_lock import study_lock
from airsweep.sweep_report import report_fields
from airsweep.warm_start import WARM_START, open_source, seed_study
from airsweep.workers import LiveWorkers, current_workers


def _open(
    config: dict[str, Any], study_name: str, settings: Settings
) -> tuple[SweepConfig, optuna.Study]:
    """The sweep's config and its study, loaded from the study database."""
    cfg = SweepConfig.from_dict(config)
    return cfg, load_study(settings.optuna_storage, study_name, cfg)


def warm_up() -> None:
    """Load what the steps need before a Celery worker forks its task processes.

    Importing this module loads scikit-learn, pandas and Optuna. This also
    builds one Optuna RDB storage (on an in-memory SQLite database, then
    discarded): that imports alembic and configures the SQLAlchemy mappers,
    whose hook imports every Airflow model. A task process forked afterwards
    opens the study in about 0.2 s instead of 2.5 s (docs/benchmarks.md).
    """
    optuna.storages.RDBStorage("sqlite://").engine.dispose()


def setup(
    params: dict[str, Any],
    dag_id: str,
    run_id: str,
    broker_url: str = "",
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Validate the params, prepare the data, create the study and plan the runners.

    One step, so the first trial starts one task hop after the trigger.

    With ``warm_start_from``, the new study is seeded with the earlier
    sweep's fitting COMPLETE trials (:func:`airsweep.warm_start.seed_study`;
    once, whatever the retries).

    Args:
        params: The DAG run's params.
        dag_id: The sweep DAG.
        run_id: The DAG run (the sweep).
        broker_url: The Celery broker, to find the live workers: their slots
            (``max_parallel: auto``) and whether a gpu worker has CUDA
            (``device: auto``); without it, ``auto`` trains on the cpu queue.
        settings: Default: from the environment.

    Returns:
        ``config`` (normalized), ``manifest`` (the dataset), ``study_name``,
        ``devices`` (family -> cpu or gpu), ``warm_start`` (the seeding's
        record, or ``None``) and the runners of each queue under ``cpu`` and
        ``gpu`` (:func:`airsweep.planning.plan_runners`).

    Raises:
        airsweep.config.SweepConfigError: A bad param (or an ``objective`` that does
            not import); the message starts with its name.
        airsweep.data.DatasetError: The dataset is unusable; the message says why.
    """
    settings = settings or get_settings()
    cfg = SweepConfig.from_params(params)
    if cfg.objective is not None:  # one that does not import fails here, before any trial
        load_objective(cfg.objective)
    store = ArtifactStore(settings.artifact_uri)
    manifest = prepare_dataset(cfg, store, run_id, metrics=Metrics())
    check_target_score(cfg.target_score, manifest["metric"], [manifest["task_type"]])
    name = study_name_for(dag_id, run_id)
    source = None
    if cfg.warm_start_from is not None:  # a bad one fails before the new study exists
        source = open_source(settings.optuna_storage, name, cfg, manifest, dag_id)
    create_study(settings.optuna_storage, name, manifest["objectives"], cfg, manifest)
    live = current_workers(broker_url) if broker_url else LiveWorkers()
    devices = resolve_devices(cfg, live.gpu_usable)
    seeded = None
    if source is not None:
        seeded = seed_study(settings.optuna_storage, name, source, cfg, manifest, devices)
    return {
        "config": cfg.to_dict(),
        "manifest": manifest,
        "study_name": name,
        "devices": devices,
        "warm_start": seeded,
        **plan_runners(cfg, devices, live.slots),
    }


def run_trials(
    runner: dict[str, Any],
    config: dict[str, Any],
    manifest: dict[str, Any],
    study_name: str,
    *,
    run_id: str,
    map_index: int,
    try_number: int,
    queue: str,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Run one runner: take trials from the sweep's budget until it is spent; return its summary."""
    settings = settings or get_settings()
    cfg = SweepConfig.from_dict(config)
    storage = heartbeat_storage(settings.optuna_storage)
    study = load_study(storage, study_name, cfg)
    lock = study_lock(settings.optuna_storage, study_name)
    context = RunnerContext(
        run_id=run_id,
        queue=queue,
        map_index=map_index,
        try_number=try_number,
        worker=settings.worker_name,
        n_jobs=settings.threads_per_slot,
    )
    try:
        return Runner(runner, manifest, cfg, study, context, lock, storage).run()
    finally:
        lock.close()
        storage.remove_session()


def finalize(
    config: dict[str, Any],
    manifest: dict[str, Any],
    study_name: str,
    run_id: str,
    run_started: datetime,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Pick the trial to store, refit, test-score and store it; report the sweep.

    The trial is the best COMPLETE one, or in a multi-objective sweep the one
    ``select`` picks from the Pareto front (:func:`airsweep.selection.select_best`).

    Returns:
        The summary: ``study_name``, ``model``, ``metric`` (the primary
        one), ``cv_score``, ``test_score``, ``model_uri``, ``card_uri``,
        ``promoted``, ``trials`` (counts by state), ``objectives`` (each
        ``name``, ``direction`` and the stored trial's ``value``),
        ``selection`` (``rule``, ``note``, ``pareto_front``), ``stop_reason``
        (why the sweep stopped taking trials: its budget spent or the
        stopping rule that fired),
        ``dropped_rows`` (rows of the dataset dropped before the split, by
        reason), ``dropped_columns`` (column names, by reason),
        ``infinite_values`` (per column, made missing), ``warm_start`` (the
        seeding's record, :data:`airsweep.warm_start.WARM_START`, or ``None``;
        the best trial may be a seeded one: it is refitted like any other),
        ``leaderboard`` (top 5) and ``report_uri`` (the sweep's HTML report,
        :mod:`airsweep.sweep_report`), or ``report_error`` when the report could
        not be written (the sweep succeeds all the same).

    Raises:
        airsweep.selection.NoCompletedTrialError: No trial completed; the
            message counts the trials by state and gives their errors.
    """
    settings = settings or get_settings()
    cfg, study = _open(config, study_name, settings)
    store = ArtifactStore(settings.artifact_uri)
    registry = ModelRegistry(settings.optuna_storage, store)
    card = finalize_best(study, manifest, cfg, store, run_id, registry)
    timing = sweep_timing(study)
    metrics = Metrics()
    now = datetime.now(run_started.tzinfo)
    metrics.sweep_duration(cfg.dataset_name, (now - run_started).total_seconds() * 1000)
    if timing["first_trial_start"]:
        # Optuna stores naive local times; astimezone() reads them as such.
        first = datetime.fromisoformat(timing["first_trial_start"]).astimezone(UTC)
        metrics.time_to_first_trial(cfg.dataset_name, (first - run_started).total_seconds() * 1000)
    metrics.sweep_finished("success")
    return {
        "study_name": study_name,
        "model": card["model"],
        "metric": card["metric"],
        "cv_score": card["cv_score"],
        "test_score": card["test_score"],
        "model_uri": card["model_uri"],
        "card_uri": card["card_uri"],
        "promoted": card["promoted"],
        "trials": card["trials"],
        "objectives": card["objectives"],
        "selection": card["selection"],
        "stop_reason": card["sweep"]["stop_reason"],
        "dropped_rows": card["dataset"]["dropped_rows"],
        "dropped_columns": card["dataset"]["dropped_columns"],
        "infinite_values": card["dataset"]["infinite_values"],
        "warm_start": study.user_attrs.get(WARM_START),
        "leaderboard": leaderboard(study, top=5),
        **report_fields(study, run_id, card, settings),
    }


def record_failure() -> None:
    """Count a failed sweep (``airsweep.sweep.finished.failed``)."""
    Metrics().sweep_finished("failed")
