"""The sweep's shared Optuna study: naming, sampler, pruner, creation and loading.

One study per sweep (DAG run) lives in the Optuna storage (Postgres in the
cluster); every runner loads it and runs ask-and-tell against it.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import optuna

from airsweep.config import SweepConfig
from airsweep.search import make_pruner, make_sampler
from airsweep.stopping import record_start

Storage = str | optuna.storages.BaseStorage

#: Keys of the manifest copied into the study's user attrs.
MANIFEST_SUMMARY_KEYS = (
    "dataset",
    "dataset_name",
    "fingerprint",
    "task_type",
    "metric",
    "direction",
    "objectives",
    "n_train",
    "n_test",
)


def study_name_for(dag_id: str, run_id: str) -> str:
    """Return the study name of a DAG run: ``"<dag_id>__<run_id>"``."""
    return f"{dag_id}__{run_id}"


def create_study(
    storage_url: Storage,
    study_name: str,
    objectives: Sequence[Mapping[str, str]],
    config: SweepConfig,
    manifest: Mapping[str, Any] | None = None,
) -> None:
    """Create the sweep's study, or keep the existing one (idempotent under retries).

    The config (and a summary of the manifest, when given) are stored as study
    user attrs ``config`` and ``manifest``; the creation time as
    :data:`airsweep.stopping.STARTED_AT` (kept by a retry: the sweep's clock
    for ``timeout_s``).

    Args:
        storage_url: Optuna storage URL (or storage object, for tests).
        study_name: Name from :func:`study_name_for`.
        objectives: The study's objectives, each ``name`` and ``direction``
            (the manifest's ``objectives``, :meth:`SweepConfig.objectives_for`):
            the study's directions and metric names.
        config: The sweep config.
        manifest: The dataset manifest, summarized into the study.

    Raises:
        ValueError: a study of that name exists with other directions.
    """
    directions = [objective["direction"] for objective in objectives]
    study = optuna.create_study(
        storage=storage_url,
        study_name=study_name,
        directions=directions,
        load_if_exists=True,
    )
    existing = [d.name.lower() for d in study.directions]
    if existing != directions:
        raise ValueError(
            f"study {study_name!r} already exists with directions {existing}, not {directions}"
        )
    with warnings.catch_warnings():  # experimental since Optuna 3.2, read by its plots
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([objective["name"] for objective in objectives])
    record_start(study, time.time())
    study.set_user_attr("config", config.to_dict())
    if manifest is not None:
        summary = {key: manifest[key] for key in MANIFEST_SUMMARY_KEYS if key in manifest}
        study.set_user_attr("manifest", summary)


def load_study(storage_url: Storage, study_name: str, config: SweepConfig) -> optuna.Study:
    """Load the sweep's study with its sampler and pruner.

    Each :class:`airsweep.runner.Runner` replaces the sampler by one seeded
    with its own random stream.

    Args:
        storage_url: Optuna storage URL (or storage object).
        study_name: Name from :func:`study_name_for`.
        config: The sweep config.
    """
    return optuna.load_study(
        study_name=study_name,
        storage=storage_url,
        sampler=make_sampler(config),
        pruner=make_pruner(config),
    )
