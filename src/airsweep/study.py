"""The sweep's shared Optuna study: naming, sampler, pruner, creation and loading.

One study per sweep (DAG run) lives in the Optuna storage (Postgres in the
cluster); every runner loads it and runs ask-and-tell against it.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping
from typing import Any

import optuna

from airsweep.config import SweepConfig
from airsweep.space import grid_search_space

Storage = str | optuna.storages.BaseStorage

#: Keys of the manifest copied into the study's user attrs.
MANIFEST_SUMMARY_KEYS = (
    "dataset",
    "dataset_name",
    "fingerprint",
    "task_type",
    "metric",
    "direction",
    "n_train",
    "n_test",
)


class _AskTellGridSampler(optuna.samplers.GridSampler):
    """``GridSampler`` usable with ask-and-tell.

    The stock sampler calls ``study.stop()`` in ``after_trial`` once the grid is
    exhausted, which raises ``RuntimeError`` outside ``Study.optimize``, so the
    last ``study.tell`` of a grid sweep would fail. There is no optimize loop to
    stop here: the sweep's budget stops the runners.
    """

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        """Do nothing (see the class docstring)."""


def study_name_for(dag_id: str, run_id: str) -> str:
    """Return the study name of a DAG run: ``"<dag_id>__<run_id>"``."""
    return f"{dag_id}__{run_id}"


def make_sampler(config: SweepConfig, stream: str | None = None) -> optuna.samplers.BaseSampler:
    """Return the sampler of a sweep.

    Args:
        config: The sweep config (``sampler`` and ``seed``).
        stream: Optional name of a random stream (a runner and its try). TPE
            and random samplers seeded with the same seed in every worker would
            propose the same candidates in concurrent runners; a stream derives
            a distinct, reproducible seed per runner. The grid sampler ignores
            it: every process must shuffle the grid the same way.

    Returns:
        ``TPESampler(multivariate=True, group=True, constant_liar=True)``,
        ``RandomSampler`` or a ``GridSampler`` over the sweep's finite space.
        ``group=True`` makes the multivariate model real: each family's
        parameters exist only in that family's trials, and TPE models each
        such group jointly (without it, only parameters present in every trial
        are modelled jointly, and there are none).
    """
    if config.sampler == "grid":
        return _AskTellGridSampler(grid_search_space(config), seed=config.seed)
    seed = config.seed
    if stream is not None:
        digest = hashlib.sha256(f"{config.seed}/{stream}".encode()).digest()
        seed = int.from_bytes(digest[:4], "big")
    if config.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():  # multivariate and group are "experimental" in Optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=seed, multivariate=True, group=True, constant_liar=True
        )


def make_pruner() -> optuna.pruners.BasePruner:
    """Return the pruner of every sweep: median of the running CV score per fold."""
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)


def create_study(
    storage_url: Storage,
    study_name: str,
    direction: str,
    config: SweepConfig,
    manifest: Mapping[str, Any] | None = None,
) -> None:
    """Create the sweep's study, or keep the existing one (idempotent under retries).

    The config (and a summary of the manifest, when given) are stored as study
    user attrs ``config`` and ``manifest``.

    Args:
        storage_url: Optuna storage URL (or storage object, for tests).
        study_name: Name from :func:`study_name_for`.
        direction: ``"maximize"`` or ``"minimize"`` (the manifest's ``direction``).
        config: The sweep config.
        manifest: The dataset manifest, summarized into the study.

    Raises:
        ValueError: a study of that name exists with another direction.
    """
    study = optuna.create_study(
        storage=storage_url,
        study_name=study_name,
        direction=direction,
        load_if_exists=True,
    )
    existing = study.direction.name.lower()
    if existing != direction:
        raise ValueError(
            f"study {study_name!r} already exists with direction {existing}, not {direction}"
        )
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
        pruner=make_pruner(),
    )
