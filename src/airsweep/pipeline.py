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
from airsweep.cluster.components import WORKER_QUEUES
from airsweep.cluster.health import live_slots
from airsweep.config import SweepConfig
from airsweep.data import prepare_dataset
from airsweep.metrics import Metrics
from airsweep.planning import plan_batches
from airsweep.registry import ModelRegistry
from airsweep.report import leaderboard, sweep_timing
from airsweep.selection import finalize_best
from airsweep.settings import Settings, get_settings
from airsweep.study import create_study, load_study, study_name_for
from airsweep.trials import BatchContext, run_trial_batch


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


def validate(params: dict[str, Any]) -> dict[str, Any]:
    """Validate the sweep's params deeply; return the normalized config.

    Raises:
        airsweep.config.SweepConfigError: The message starts with the bad field.
    """
    return SweepConfig.from_params(params).to_dict()


def prepare(config: dict[str, Any], run_id: str, settings: Settings | None = None) -> dict:
    """Load, check, split and store the dataset once; return its manifest.

    Raises:
        airsweep.data.DatasetError: The dataset is unusable; the message says why.
    """
    settings = settings or get_settings()
    store = ArtifactStore(settings.artifact_uri)
    return prepare_dataset(SweepConfig.from_dict(config), store, run_id, metrics=Metrics())


def open_study(
    config: dict[str, Any],
    manifest: dict[str, Any],
    dag_id: str,
    run_id: str,
    settings: Settings | None = None,
) -> str:
    """Create the sweep's Optuna study in the study database; return its name."""
    settings = settings or get_settings()
    name = study_name_for(dag_id, run_id)
    cfg = SweepConfig.from_dict(config)
    create_study(settings.optuna_storage, name, manifest["direction"], cfg, manifest)
    return name


def plan(
    config: dict[str, Any], broker_url: str = "", settings: Settings | None = None
) -> dict[str, list[dict]]:
    """Split the trials into batches per queue, sized to the worker slots.

    The slots are those of the workers consuming each queue right now (asked
    over the broker, so scaled workers count); if no worker answers, the
    configured slots (``AIRSWEEP_*_WORKERS`` x concurrency) are used.
    """
    settings = settings or get_settings()
    live = live_slots(broker_url, WORKER_QUEUES) if broker_url else {}
    slots = {kind: live.get(kind) or settings.slots[kind] for kind in WORKER_QUEUES}
    return plan_batches(SweepConfig.from_dict(config), slots["cpu"], slots["gpu"])


def run_batch(
    batch: dict[str, Any],
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
    """Run one batch of trials against the shared study; return its summary."""
    settings = settings or get_settings()
    cfg, study = _open(config, study_name, settings)
    context = BatchContext(
        run_id=run_id,
        map_index=map_index,
        try_number=try_number,
        queue=queue,
        worker=settings.worker_name,
        n_jobs=settings.threads_per_slot,
    )
    return run_trial_batch(batch, manifest, cfg, study, context)


def finalize(
    config: dict[str, Any],
    manifest: dict[str, Any],
    study_name: str,
    run_id: str,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Pick the best COMPLETE trial, refit, test-score and store it; return the model card."""
    settings = settings or get_settings()
    cfg, study = _open(config, study_name, settings)
    store = ArtifactStore(settings.artifact_uri)
    return finalize_best(study, manifest, cfg, store, run_id, ModelRegistry(store))


def summarize(
    config: dict[str, Any],
    card: dict[str, Any],
    study_name: str,
    run_started: datetime,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Report the sweep: emit its duration metrics and return a short summary."""
    cfg, study = _open(config, study_name, settings or get_settings())
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
        "leaderboard": leaderboard(study, top=5),
    }


def record_failure() -> None:
    """Count a failed sweep (``airsweep.sweep.finished.failed``)."""
    Metrics().sweep_finished("failed")
