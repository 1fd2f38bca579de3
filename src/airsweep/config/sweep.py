"""The frozen :class:`SweepConfig`: every sweep param validated, and what it implies.

:meth:`SweepConfig.from_params` checks each param against its JSON schema
(:mod:`airsweep.config.schemas`) and then what a schema cannot express, each
concern in its module (:mod:`~airsweep.config.datasets`,
:mod:`~airsweep.config.metrics`, :mod:`~airsweep.config.search_space`); the
cross-field checks (task types, devices, trials per model) live here.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import Any

from airsweep.config.custom_objective import check_custom_objective, objective_family
from airsweep.config.datasets import (
    BUILTIN_DATASETS,
    FILE_SUFFIXES,
    SYNTHETIC,
    check_dataset,
    resolved_synthetic,
)
from airsweep.config.errors import SweepConfigError
from airsweep.config.metrics import metric_direction, metric_spec, resolve_metric
from airsweep.config.objectives import (
    KNEE,
    check_objectives,
    objective_direction,
    objective_metrics,
    primary_metric,
)
from airsweep.config.schemas import PARAM_SCHEMAS, check_schema
from airsweep.config.search_space import merged_space
from airsweep.config.strategies import check_strategies, resolve_pruner
from airsweep.models.base import AUTO, CLASSIFICATION, CPU, GPU, REGRESSION, TASK_TYPES, Spec
from airsweep.models.registry import available_families, get_family


@dataclass(frozen=True)
class SweepConfig:
    """Validated parameters of one sweep (see :data:`PARAM_SCHEMAS` for each field).

    Build it with :meth:`from_params` (or :meth:`from_dict`); ``device`` then
    names every model, ``synthetic`` has every key and ``metric`` is a metric
    name or ``"auto"``.
    """

    dataset: str
    target: str | None
    task_type: str
    synthetic: dict[str, Any]
    models: tuple[str, ...]
    search_space: dict[str, dict[str, Spec]]
    device: dict[str, str]
    gpu_fallback: str
    n_trials: int
    metric: str
    cv_folds: int
    test_size: float
    sampler: str
    seed: int
    trial_timeout_s: int
    max_parallel: int | str
    model_budget: str = "adaptive"
    csv_options: dict[str, Any] = field(default_factory=dict)
    sampler_options: dict[str, Any] = field(default_factory=dict)
    pruner: str = "median"
    pruner_options: dict[str, Any] = field(default_factory=dict)
    warm_start_from: str | None = None
    timeout_s: int | None = None
    patience: int | None = None
    target_score: float | None = None
    objectives: tuple[str, ...] = ()
    select: str | dict[str, Any] = KNEE
    objective: str | None = None
    objective_device: str = CPU

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> SweepConfig:
        """Validate DAG params (missing ones take their defaults) into a config.

        Args:
            params: Param name to value, as Airflow passes them to a task.

        Raises:
            SweepConfigError: the first problem found, its message starting with
                the field path.
        """
        unknown = sorted(set(params) - set(PARAM_SCHEMAS))
        if unknown:
            raise SweepConfigError(f"{unknown[0]}: unknown parameter")
        values = {
            name: copy.deepcopy(params.get(name, schema["default"]))
            for name, schema in PARAM_SCHEMAS.items()
        }
        for name, value in values.items():
            check_schema(name, value)
        values["synthetic"] = resolved_synthetic(values["synthetic"])
        check_dataset(values["dataset"], values["target"], values["csv_options"])
        values["metric"] = values["metric"] or AUTO
        check_objectives(values)
        values["pruner"], values["pruner_options"] = resolve_pruner(
            values["pruner"], values["pruner_options"], values["objectives"]
        )
        check_custom_objective(values, PARAM_SCHEMAS["models"]["default"], available_families())
        task_types = _allowed_task_types(values)
        models = tuple(values["models"])
        searched = _families(values)
        for model in values["search_space"]:
            if model not in models:
                raise SweepConfigError(f"search_space.{model}: {model} is not in models")
        for task_type in task_types:
            for model in searched:
                merged_space(model, task_type, values["search_space"].get(model))
        device = _resolved_devices(searched, values["device"])
        if values["n_trials"] < len(searched):
            raise SweepConfigError(
                f"n_trials: {values['n_trials']} is fewer than the {len(searched)} models"
            )
        check_strategies({**values, "models": models}, task_types)
        check_target_score(values["target_score"], values["metric"], task_types)
        objectives = tuple(values["objectives"])
        return cls(**{**values, "models": models, "device": device, "objectives": objectives})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepConfig:
        """Rebuild a config from :meth:`to_dict` output (validated again)."""
        return cls.from_params(data)

    def to_dict(self) -> dict[str, Any]:
        """Return the config as a JSON-able dict of DAG params."""
        data = asdict(self)
        data["models"] = list(self.models)
        data["objectives"] = list(self.objectives)
        return data

    @property
    def families(self) -> tuple[str, ...]:
        """The families the sweep trains: ``models``, or the custom objective's pseudo-family."""
        return (objective_family(self.objective),) if self.objective else self.models

    def task_types(self) -> tuple[str, ...]:
        """Task types this sweep can resolve to, given task_type, metric, models and dataset."""
        return _allowed_task_types(asdict(self))

    def metric_for(self, task_type: str) -> str:
        """Return the (primary) metric name once the task type is known."""
        if self.objectives:
            return resolve_metric(primary_metric(self.objectives, self.metric), task_type)
        return resolve_metric(self.metric, task_type)

    def device_of(self, family: str) -> str:
        """The device ``family`` asks for: cpu, gpu or auto (an objective: ``objective_device``)."""
        if self.objective is not None and family == objective_family(self.objective):
            return self.objective_device
        return self.device.get(family, CPU)

    def objectives_for(self, task_type: str) -> list[dict[str, str]]:
        """The study's objectives once the task type is known: ``name`` and ``direction`` each.

        One objective, the metric, unless ``objectives`` lists several (in their order).
        """
        names = list(self.objectives) or [self.metric_for(task_type)]
        return [{"name": name, "direction": objective_direction(name)} for name in names]

    def direction_for(self, task_type: str) -> str:
        """Return ``"maximize"`` or ``"minimize"`` once the task type is known."""
        return metric_direction(self.metric_for(task_type))

    @property
    def dataset_name(self) -> str:
        """Short name of the dataset: builtin name, ``"synthetic"``, or the file stem."""
        if self.dataset in (*BUILTIN_DATASETS, SYNTHETIC):
            return self.dataset
        name = PurePosixPath(self.dataset.rstrip("/")).name
        for suffix in sorted(FILE_SUFFIXES, key=len, reverse=True):
            if name.endswith(suffix):
                return name[: -len(suffix)] or name
        return name

    @property
    def is_file_dataset(self) -> bool:
        """Whether the dataset is a file (path or URI) rather than builtin or synthetic."""
        return self.dataset not in (*BUILTIN_DATASETS, SYNTHETIC)

    def trials_per_model(self) -> dict[str, int]:
        """Split ``n_trials`` evenly among the families (earlier ones get the remainder)."""
        base, extra = divmod(self.n_trials, len(self.families))
        return {model: base + (1 if i < extra else 0) for i, model in enumerate(self.families)}

    def min_trials_per_model(self) -> int:
        """Trials every family gets before an adaptive sampler may favour one.

        A quarter of an even share, between 1 and 5: enough for TPE to see
        each family, few enough to leave most of the budget to the sampler.
        """
        return max(1, min(5, self.n_trials // (4 * len(self.families))))


def _allowed_task_types(values: Mapping[str, Any]) -> tuple[str, ...]:
    """Intersect the task types allowed by task_type, the dataset, metric and models.

    Each constraint is applied in turn so that the error names the field that
    makes the set empty.
    """
    allowed = list(TASK_TYPES)
    why = ""

    def restrict(path: str, subject: str, supported: Sequence[str], label: str) -> None:
        nonlocal allowed, why
        remaining = [t for t in allowed if t in supported]
        if not remaining:
            raise SweepConfigError(
                f"{path}: {subject} supports only {' and '.join(supported)}, "
                f"which conflicts with {why}"
            )
        allowed = remaining
        if len(supported) == 1:
            why = label

    task_type = values["task_type"]
    if task_type != AUTO:
        restrict("task_type", task_type, [task_type], f"task_type={task_type}")
    if values["dataset"] == SYNTHETIC:
        classes = values["synthetic"]["classes"]
        synthetic_task = REGRESSION if classes == 0 else CLASSIFICATION
        restrict(
            "synthetic.classes",
            f"synthetic.classes={classes}",
            [synthetic_task],
            f"dataset synthetic with classes={classes} ({synthetic_task})",
        )
    if values["metric"] != AUTO:
        spec = metric_spec(values["metric"])
        restrict("metric", spec.name, [spec.task_type], f"metric {spec.name} ({spec.task_type})")
    for name in objective_metrics(values["objectives"]):
        spec = metric_spec(name)
        restrict(
            "objectives", spec.name, [spec.task_type], f"objective {spec.name} ({spec.task_type})"
        )
    for model in _families(values):
        supported = get_family(model).task_types
        restrict("models", model, supported, f"model {model} ({supported[0]} only)")
    return tuple(allowed)


def _families(values: Mapping[str, Any]) -> tuple[str, ...]:
    """The model families whose spaces, task types and devices the sweep checks.

    ``models``; none with a custom objective, whose pseudo-family samples its own
    params, takes any task type and trains where ``objective_device`` says.
    """
    return () if values["objective"] else tuple(values["models"])


def check_target_score(target: float | None, metric: str, task_types: Sequence[str]) -> None:
    """Refuse a ``target_score`` that is not finite or that no metric of the sweep can reach.

    Args:
        target: The ``target_score`` param.
        metric: The ``metric`` param (a name or ``"auto"``).
        task_types: The task types the sweep can resolve to.

    Raises:
        SweepConfigError: ``target_score`` is NaN or infinite, or outside the
            range of every metric the sweep may optimize (a metric without a
            known range accepts any value).
    """
    if target is None:
        return
    if not math.isfinite(target):
        raise SweepConfigError(f"target_score: {target} is not a finite number")
    specs = {metric_spec(resolve_metric(metric, task_type)) for task_type in task_types}
    outside = [
        spec
        for spec in specs
        if (spec.low is not None and target < spec.low)
        or (spec.high is not None and target > spec.high)
    ]
    if len(outside) == len(specs):
        ranges = ", ".join(
            f"{spec.name} ({_range(spec.low, spec.high)})"
            for spec in sorted(outside, key=lambda s: s.name)
        )
        raise SweepConfigError(f"target_score: {target:g} is outside the range of {ranges}")


def _range(low: float | None, high: float | None) -> str:
    """A metric's range in words: ``0 to 1``, ``>= 0`` or ``<= 1``."""
    if low is not None and high is not None:
        return f"{low:g} to {high:g}"
    return f">= {low:g}" if low is not None else f"<= {high:g}"


def _resolved_devices(models: Sequence[str], requested: Mapping[str, str]) -> dict[str, str]:
    """Return the device of every model: requested, else the family default.

    ``auto`` stays ``auto`` here: the sweep resolves it when it starts, from
    the live gpu workers (:func:`airsweep.planning.resolve_devices`).
    """
    devices = {}
    for model in models:
        family = get_family(model)
        devices[model] = requested.get(model, family.default_device)
        if devices[model] == AUTO and not family.supports_gpu:
            devices[model] = CPU
        if model in requested and devices[model] == GPU and not family.supports_gpu:
            raise SweepConfigError(f"device.{model}: {model} has no GPU implementation; use {CPU}")
    for model in requested:
        if model not in models:
            raise SweepConfigError(f"device.{model}: {model} is not in models")
    return devices
