"""Warm start: seed a new sweep's study with the COMPLETE trials of an earlier sweep.

The ``warm_start_from`` param names an earlier ``hpo_sweep`` run. In ``setup``,
before the new study is created, :func:`open_source` loads that run's study
from the same Optuna storage and checks it: it exists, it ran on the same data
as split (its dataset fingerprint, recorded in its ``manifest`` study attr,
covers the data, target, task type, seed and test_size), and it optimized the
same objectives (the same metric, or the same ``objectives`` in the same
order). Once the new study exists, :func:`seed_study` copies each COMPLETE
trial whose family is in
the new sweep and whose every param lies in the new search space, with the new
space's distributions (so the runners' samplers see one distribution per
param), its values, its ``model`` and ``fit_seconds`` attrs and, when both
sweeps use the same ``cv_folds``, its intermediate values (the running fold
means the pruner compares against). Each copy carries
:data:`airsweep.budget.WARM_START_FROM` (the source run id) and
:data:`SOURCE_TRIAL` (its number there): such trials do not count against the
new sweep's budget (:func:`airsweep.budget.usage`).

The outcome is recorded once in the study attr :data:`WARM_START`; a retried
``setup`` returns it and copies nothing, and a retry that follows a copy
interrupted before that record skips the source trials already copied.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from airsweep.budget import WARM_START_FROM, is_seeded
from airsweep.config import SweepConfig, SweepConfigError
from airsweep.runner import family_param
from airsweep.space import param_key, resolve_space
from airsweep.study import Storage, study_name_for

#: Study user attr of a warm-started sweep: ``from``, ``copied``, ``skipped``, ``reasons``.
WARM_START = "warm_start"
#: Trial user attr of a seeded trial: its number in the source study.
SOURCE_TRIAL = "source_trial"
#: Trial user attrs copied from a source trial.
COPIED_ATTRS = ("model", "fit_seconds")


def open_source(
    storage: Storage,
    study_name: str,
    config: SweepConfig,
    manifest: Mapping[str, Any],
    dag_id: str = "hpo_sweep",
) -> optuna.Study:
    """Load and check the study of the run ``config.warm_start_from`` names.

    Args:
        storage: The Optuna storage of both sweeps' studies.
        study_name: The new sweep's study.
        config: The new sweep's config; ``warm_start_from`` is set.
        manifest: The new sweep's dataset manifest (``fingerprint``,
            ``dataset_name``, ``metric``, ``direction``).
        dag_id: The DAG of the earlier run.

    Raises:
        SweepConfigError: The earlier run has no study, is this sweep, ran on
            other data, or optimized another metric; the message starts with
            ``warm_start_from``.
    """
    source_run = config.warm_start_from
    assert source_run is not None
    source_name = study_name_for(dag_id, source_run)
    if source_name == study_name:
        raise SweepConfigError("warm_start_from: a sweep cannot warm start from itself")
    try:
        source = optuna.load_study(study_name=source_name, storage=storage)
    except KeyError:
        raise SweepConfigError(
            f"warm_start_from: no {dag_id} run {source_run!r} in the study database"
        ) from None
    check_source(source, source_run, manifest)
    return source


def seed_study(
    storage: Storage,
    study_name: str,
    source: optuna.Study,
    config: SweepConfig,
    manifest: Mapping[str, Any],
    devices: Mapping[str, str],
) -> dict[str, Any]:
    """Copy the fitting COMPLETE trials of the earlier sweep into the new study, once.

    Args:
        storage: The Optuna storage of the new study.
        study_name: The new sweep's study (already created).
        source: The earlier sweep's study (:func:`open_source`).
        config: The new sweep's config; ``warm_start_from`` is set.
        manifest: The new sweep's dataset manifest (``task_type``).
        devices: Family -> queue of the new sweep
            (:func:`airsweep.planning.resolve_devices`): where a queue trains
            several families, a copy records its family in ``<queue>.model``.

    Returns:
        The :data:`WARM_START` record: ``from`` (the run id), ``copied`` (trials
        seeded), ``skipped`` (COMPLETE source trials not copied) and
        ``reasons`` (why, with counts). A study that has the record already
        gets nothing more and returns it.
    """
    study = optuna.load_study(study_name=study_name, storage=storage)
    if WARM_START in study.user_attrs:
        return dict(study.user_attrs[WARM_START])
    source_run = config.warm_start_from
    assert source_run is not None
    same_folds = source.user_attrs.get("config", {}).get("cv_folds") == config.cv_folds
    space = new_space(config, manifest["task_type"], devices)
    already = {t.user_attrs.get(SOURCE_TRIAL) for t in study.get_trials(deepcopy=False)}
    copies: list[FrozenTrial] = []
    reasons: Counter[str] = Counter()
    copied = 0
    for trial in source.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if is_seeded(trial):  # seeded there: copied from its own source, not measured again
            reasons["seeded in that sweep"] += 1
            continue
        reason = incompatibility(trial, space)
        if reason is not None:
            reasons[reason] += 1
            continue
        copied += 1
        if trial.number not in already:
            family = space[trial.user_attrs["model"]]
            copies.append(seeded_copy(trial, family, source_run, same_folds))
    study.add_trials(copies)
    record = {
        "from": source_run,
        "copied": copied,
        "skipped": sum(reasons.values()),
        "reasons": dict(sorted(reasons.items())),
    }
    study.set_user_attr(WARM_START, record)
    return record


def check_source(source: optuna.Study, source_run: str, manifest: Mapping[str, Any]) -> None:
    """Refuse a source study of other data or of other objectives.

    Raises:
        SweepConfigError: the message starts with ``warm_start_from``.
    """
    old = source.user_attrs.get("manifest") or {}
    if not old.get("fingerprint"):
        raise SweepConfigError(
            f"warm_start_from: run {source_run!r} recorded no dataset fingerprint"
        )
    if old["fingerprint"] != manifest["fingerprint"]:
        raise SweepConfigError(
            f"warm_start_from: run {source_run!r} swept other data "
            f"({old.get('dataset_name')}, fingerprint {old['fingerprint'][:12]}; this sweep: "
            f"{manifest.get('dataset_name')}, {manifest['fingerprint'][:12]}); the dataset, "
            "target, task_type, seed and test_size must be the same"
        )
    if (old.get("metric"), old.get("direction")) != (manifest["metric"], manifest["direction"]):
        raise SweepConfigError(
            f"warm_start_from: run {source_run!r} optimized {old.get('metric')} "
            f"({old.get('direction')}), this sweep {manifest['metric']} ({manifest['direction']})"
        )
    # A source from before multi-objective sweeps had its metric as its one objective.
    before = old.get("objectives") or [{"name": old["metric"], "direction": old["direction"]}]
    if [o["name"] for o in before] != [o["name"] for o in manifest["objectives"]]:
        raise SweepConfigError(
            f"warm_start_from: run {source_run!r} optimized "
            f"{', '.join(o['name'] for o in before)}, this sweep "
            f"{', '.join(o['name'] for o in manifest['objectives'])}"
        )


def new_space(
    config: SweepConfig, task_type: str, devices: Mapping[str, str]
) -> dict[str, dict[str, BaseDistribution]]:
    """The new sweep's study params per family: ``model -> {study param -> distribution}``.

    Each family's params are ``<model>.<param>``; a family whose queue trains
    several families also has ``<queue>.model``, as its runners suggest it.
    """
    spaces = {}
    for model in config.models:
        space = {
            param_key(model, name): dist
            for name, dist in resolve_space(
                model, task_type, config.search_space.get(model)
            ).items()
        }
        queue_models = [m for m in config.models if devices[m] == devices[model]]
        if len(queue_models) > 1:
            space[family_param(devices[model])] = CategoricalDistribution(queue_models)
        spaces[model] = space
    return spaces


def incompatibility(
    trial: FrozenTrial, space: Mapping[str, Mapping[str, BaseDistribution]]
) -> str | None:
    """Why a source trial does not fit the new sweep, or ``None`` when it does.

    Args:
        trial: A COMPLETE trial of the source study.
        space: :func:`new_space`.
    """
    model = trial.user_attrs.get("model")
    if model not in space:
        return f"{model} not in models"
    family = space[model]
    for key in sorted(trial.params):
        if key.startswith(f"{model}.") and key not in family:
            return f"{key} not in the search space"
    for key, dist in family.items():
        if not key.startswith(f"{model}."):  # <queue>.model: the family itself
            continue
        if key not in trial.params:
            return f"{key} missing"
        if not contains(dist, trial.params[key]):
            return f"{key} outside the search space"
    return None


def seeded_copy(
    trial: FrozenTrial,
    family: Mapping[str, BaseDistribution],
    source_run: str,
    same_folds: bool,
) -> FrozenTrial:
    """A COMPLETE trial for the new study: ``trial``'s values and params in the new space.

    Args:
        trial: A source trial that fits (:func:`incompatibility` is ``None``).
        family: Its family's part of :func:`new_space`.
        source_run: The source run id (the :data:`~airsweep.budget.WARM_START_FROM` attr).
        same_folds: Whether both sweeps use the same ``cv_folds``: only then
            are the intermediate values (running fold means) copied.
    """
    model = trial.user_attrs["model"]
    params = {key: trial.params[key] if key.startswith(f"{model}.") else model for key in family}
    attrs = {key: trial.user_attrs[key] for key in COPIED_ATTRS if key in trial.user_attrs}
    return optuna.trial.create_trial(
        state=TrialState.COMPLETE,
        values=trial.values,
        params=params,
        distributions=dict(family),
        user_attrs={**attrs, WARM_START_FROM: source_run, SOURCE_TRIAL: trial.number},
        intermediate_values=dict(trial.intermediate_values) if same_folds else None,
    )


def contains(dist: BaseDistribution, value: Any) -> bool:
    """Whether ``value`` is a point of ``dist`` (in range, on its step, or one of its choices)."""
    if isinstance(dist, CategoricalDistribution):
        return any(type(c) is type(value) and c == value for c in dist.choices)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    if isinstance(dist, IntDistribution):
        on_grid = isinstance(value, int) and (value - dist.low) % dist.step == 0
        return on_grid and dist.low <= value <= dist.high
    assert isinstance(dist, FloatDistribution)
    if not dist.low <= value <= dist.high:
        return False
    if dist.step is None:
        return True
    k = (value - dist.low) / dist.step
    return abs(k - round(k)) < 1e-8
