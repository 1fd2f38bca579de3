"""Sweep parameters: their JSON schemas, deep validation and the frozen :class:`SweepConfig`.

Two layers of validation, one source of truth:

* :data:`PARAM_SCHEMAS` are JSON schemas; the DAG turns each into an Airflow
  ``Param`` so that a bad trigger is refused by the REST API (HTTP 400).
* :meth:`SweepConfig.from_params` validates the same schemas again (for callers
  that do not go through Airflow) and then checks what a schema cannot express:
  low > high, a metric that does not fit the task type, a grid over a
  continuous space... Every :class:`SweepConfigError` message starts with the
  path of the offending field.

This module is import-light (no scikit-learn, Optuna or pandas): DAG files
import it at parse time.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import Any

from airsweep.csv_options import CSV_SUFFIXES, CsvOptionsError, check_csv_options
from airsweep.csv_options import SCHEMA as CSV_OPTIONS_SCHEMA
from airsweep.models.base import (
    AUTO,
    CLASSIFICATION,
    CPU,
    DEVICES,
    GPU,
    REGRESSION,
    TASK_TYPES,
    Spec,
)
from airsweep.models.registry import available_families, get_family

MAXIMIZE = "maximize"
MINIMIZE = "minimize"

BUILTIN_DATASETS = ("iris", "wine", "breast_cancer", "digits", "diabetes")
SYNTHETIC = "synthetic"
FILE_SUFFIXES = (*CSV_SUFFIXES, ".parquet")
SAMPLERS = ("tpe", "random", "grid")
#: How the trial budget is shared among the model families (``model_budget``).
MODEL_BUDGETS = ("adaptive", "even")

#: A grid sampler enumerates every point in memory; refuse larger grids.
GRID_LIMIT = 100_000
MAX_TRIALS = 10_000
#: Most runners (mapped trial tasks) per queue; ``[core] max_map_length`` is above it.
MAX_RUNNERS = 256


class SweepConfigError(ValueError):
    """An invalid sweep parameter; the message starts with the field path."""


@dataclass(frozen=True)
class MetricSpec:
    """A metric a sweep can optimize.

    Attributes:
        name: Name used in the ``metric`` sweep param.
        task_type: Task type the metric applies to.
        direction: ``"maximize"`` or ``"minimize"``.
        scorer: Name of the scikit-learn scorer computing it (``neg_*`` scorers
            are negated back, so stored values are in the metric's own units).
    """

    name: str
    task_type: str
    direction: str
    scorer: str


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("accuracy", CLASSIFICATION, MAXIMIZE, "accuracy"),
        MetricSpec("balanced_accuracy", CLASSIFICATION, MAXIMIZE, "balanced_accuracy"),
        MetricSpec("f1_macro", CLASSIFICATION, MAXIMIZE, "f1_macro"),
        MetricSpec("roc_auc", CLASSIFICATION, MAXIMIZE, "roc_auc"),
        MetricSpec("log_loss", CLASSIFICATION, MINIMIZE, "neg_log_loss"),
        MetricSpec("rmse", REGRESSION, MINIMIZE, "neg_root_mean_squared_error"),
        MetricSpec("mae", REGRESSION, MINIMIZE, "neg_mean_absolute_error"),
        MetricSpec("r2", REGRESSION, MAXIMIZE, "r2"),
    )
}

#: Metric used when ``metric`` is ``null`` or ``"auto"``.
DEFAULT_METRICS = {CLASSIFICATION: "accuracy", REGRESSION: "rmse"}

SYNTHETIC_DEFAULTS: dict[str, Any] = {
    "rows": 2000,
    "features": 20,
    "classes": 2,
    "noise": 0.05,
    "informative": None,
}


def _spec_schema() -> dict[str, Any]:
    """JSON schema of one search-space spec (int, float or categorical)."""
    number = {"type": "number"}
    return {
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "type": {"const": "int"},
                    "low": {"type": "integer"},
                    "high": {"type": "integer"},
                    "log": {"type": "boolean"},
                    "step": {"type": "integer", "minimum": 1},
                },
                "required": ["type", "low", "high"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    "type": {"const": "float"},
                    "low": number,
                    "high": number,
                    "log": {"type": "boolean"},
                    "step": {"type": "number", "exclusiveMinimum": 0},
                },
                "required": ["type", "low", "high"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    "type": {"const": "categorical"},
                    "choices": {
                        "type": "array",
                        "minItems": 1,
                        "uniqueItems": True,
                        "items": {"type": ["string", "number", "boolean", "null"]},
                    },
                },
                "required": ["type", "choices"],
                "additionalProperties": False,
            },
        ]
    }


def _build_param_schemas() -> dict[str, dict[str, Any]]:
    """Build :data:`PARAM_SCHEMAS` from the model and metric catalogs."""
    models = list(available_families())
    suffixes = "|".join(re.escape(s) for s in FILE_SUFFIXES)
    return {
        "dataset": {
            "default": "breast_cancer",
            "type": "string",
            "minLength": 1,
            "pattern": f"^({'|'.join((*BUILTIN_DATASETS, SYNTHETIC))})$|({suffixes})$",
            "description": (
                f"Builtin dataset ({', '.join(BUILTIN_DATASETS)}), 'synthetic', or a "
                "path / fsspec URI of a .csv, .csv.gz or .parquet file."
            ),
        },
        "target": {
            "default": None,
            "type": ["string", "null"],
            "minLength": 1,
            "description": "Target column of a file dataset (required for files only).",
        },
        "csv_options": CSV_OPTIONS_SCHEMA,
        "task_type": {
            "default": AUTO,
            "type": "string",
            "enum": [AUTO, *TASK_TYPES],
            "description": "auto infers it from the metric, the models, or the target column.",
        },
        "synthetic": {
            "default": dict(SYNTHETIC_DEFAULTS),
            "type": "object",
            "properties": {
                "rows": {"type": "integer", "minimum": 20, "maximum": 1_000_000},
                "features": {"type": "integer", "minimum": 1, "maximum": 1000},
                "classes": {"type": "integer", "minimum": 0, "maximum": 50},
                "noise": {"type": "number", "minimum": 0, "maximum": 1},
                "informative": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000},
            },
            "additionalProperties": False,
            "description": (
                "Shape of dataset 'synthetic': classes 0 makes a regression task; "
                "informative null means half the features (at least 1)."
            ),
        },
        "models": {
            "default": ["random_forest", "xgboost"],
            "type": "array",
            "items": {"type": "string", "enum": models},
            "minItems": 1,
            "uniqueItems": True,
            "description": (
                "Model families to search; the family is a sampled choice (see model_budget)."
            ),
        },
        "search_space": {
            "default": {},
            "type": "object",
            # One shared spec: Airflow checks each param schema against the
            # metaschema in every task, and 30 inline copies took 0.3 s.
            "definitions": {"spec": _spec_schema()},
            "properties": {
                name: {
                    "type": "object",
                    "properties": {
                        param: {"$ref": "#/definitions/spec"} for param in _param_names(name)
                    },
                    "additionalProperties": False,
                }
                for name in models
            },
            "additionalProperties": False,
            "description": "Overrides of the default search space: model -> param -> spec.",
        },
        "device": {
            "default": {},
            "type": "object",
            "properties": {name: {"type": "string", "enum": [AUTO, *DEVICES]} for name in models},
            "additionalProperties": False,
            "description": (
                "model -> auto|cpu|gpu. Unlisted models use their default (xgboost: auto, "
                "others: cpu); auto trains on the gpu queue only when a live gpu worker "
                "has a usable CUDA device, else on the cpu queue."
            ),
        },
        "gpu_fallback": {
            "default": "cpu",
            "type": "string",
            "enum": ["cpu", "fail"],
            "description": "What a gpu trial does when CUDA is not usable: train on cpu, or fail.",
        },
        "n_trials": {
            "default": 32,
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_TRIALS,
            "description": (
                "Finished trials the sweep runs (complete, pruned or failed for a "
                "trial-level reason), shared by every runner of both queues."
            ),
        },
        "metric": {
            "default": AUTO,
            "type": ["string", "null"],
            "enum": [None, AUTO, *METRICS],
            "description": "Metric to optimize; auto: accuracy (classification) or rmse.",
        },
        "cv_folds": {
            "default": 3,
            "type": "integer",
            "minimum": 2,
            "maximum": 20,
            "description": "Cross-validation folds on the training split.",
        },
        "test_size": {
            "default": 0.2,
            "type": "number",
            "minimum": 0.05,
            "maximum": 0.5,
            "description": "Fraction of rows held out to score the refitted best model.",
        },
        "sampler": {
            "default": "tpe",
            "type": "string",
            "enum": list(SAMPLERS),
            "description": "Optuna sampler: tpe, random, or grid (one model, finite space).",
        },
        "seed": {
            "default": 42,
            "type": "integer",
            "minimum": 0,
            "maximum": 2**32 - 1,
            "description": "Seed of the split, the folds, the sampler and the estimators.",
        },
        "trial_timeout_s": {
            "default": 600,
            "type": "integer",
            "minimum": 1,
            "maximum": 86_400,
            "description": "A trial running longer than this is killed, even mid-fit, and fails.",
        },
        "max_parallel": {
            "default": AUTO,
            "anyOf": [
                {"type": "string", "enum": [AUTO]},
                {"type": "integer", "minimum": 1, "maximum": MAX_RUNNERS},
            ],
            "description": (
                "Runners (mapped trial tasks) per queue: the most trials of this sweep "
                "running at once on a queue, however far its workers scale; auto: twice "
                "the queue's live worker slots when the sweep starts, at least 4."
            ),
        },
        "model_budget": {
            "default": "adaptive",
            "type": "string",
            "enum": list(MODEL_BUDGETS),
            "description": (
                "adaptive: the sampler chooses the family of each trial once every family "
                "has its minimum of trials; even: n_trials split evenly among the models."
            ),
        },
    }


def _param_names(model: str) -> list[str]:
    """Parameter names of a model family's search space, over all its task types."""
    family = get_family(model)
    names: dict[str, None] = {}
    for task_type in family.task_types:
        names.update(dict.fromkeys(family.default_space(task_type)))
    return list(names)


#: JSON Schema dialect of the params. Airflow validates every param, and checks
#: its schema against the dialect's metaschema, at trigger time and again in
#: every task: with draft 7 that takes 10 ms for all params, 65 ms with 2020-12.
JSON_SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"

#: One JSON schema per DAG Param: ``Param(spec["default"], **rest)``.
PARAM_SCHEMAS: dict[str, dict[str, Any]] = {
    name: {"$schema": JSON_SCHEMA_DIALECT, **schema}
    for name, schema in _build_param_schemas().items()
}


def metric_direction(metric: str) -> str:
    """Return ``"maximize"`` or ``"minimize"`` for a metric name.

    Raises:
        SweepConfigError: the metric is unknown.
    """
    return _metric_spec(metric).direction


def resolve_metric(metric: str | None, task_type: str) -> str:
    """Return the metric to use: ``metric``, or the task type's default when auto.

    Args:
        metric: A metric name, ``"auto"`` or ``None``.
        task_type: The resolved task type.

    Raises:
        SweepConfigError: the metric is unknown or does not fit ``task_type``.
    """
    if metric in (None, AUTO):
        return DEFAULT_METRICS[task_type]
    spec = _metric_spec(metric)
    if spec.task_type != task_type:
        raise SweepConfigError(
            f"metric: {metric} is a {spec.task_type} metric but the task is {task_type}"
        )
    return spec.name


def _metric_spec(metric: str) -> MetricSpec:
    """Return the catalog entry of ``metric`` or raise a field-named error."""
    try:
        return METRICS[metric]
    except KeyError:
        raise SweepConfigError(
            f"metric: unknown metric {metric!r}; expected one of {', '.join(METRICS)}"
        ) from None


def merged_space(
    model: str, task_type: str, overrides: Mapping[str, Any] | None = None
) -> dict[str, Spec]:
    """Return a model's default search space with validated user overrides applied.

    Args:
        model: Model family name.
        task_type: Task type selecting the family's default space.
        overrides: ``param -> spec`` replacing defaults (see :mod:`airsweep.models.base`).

    Returns:
        ``param -> normalized spec`` (``log`` and ``step`` always present for numbers).

    Raises:
        SweepConfigError: unknown model or parameter, malformed spec, low > high...
    """
    try:
        family = get_family(model)
    except KeyError as exc:
        raise SweepConfigError(f"search_space.{model}: {exc.args[0]}") from None
    if not family.supports(task_type):
        raise SweepConfigError(
            f"search_space.{model}: {model} does not support {task_type} "
            f"(supports {', '.join(family.task_types)})"
        )
    defaults = family.default_space(task_type)
    space = {name: _checked_spec(f"{model}.{name}", spec, None) for name, spec in defaults.items()}
    for name, spec in (overrides or {}).items():
        path = f"search_space.{model}.{name}"
        if name not in defaults:
            raise SweepConfigError(
                f"{path}: unknown parameter for {model}; known: {', '.join(defaults)}"
            )
        space[name] = _checked_spec(path, spec, defaults[name]["type"])
    return space


def _checked_spec(path: str, spec: Any, default_type: str | None) -> Spec:
    """Validate one spec and return it normalized.

    Args:
        path: Field path for error messages.
        spec: The spec to check.
        default_type: Type of the default spec it replaces; an override must
            keep that type or be categorical. ``None`` skips that check.
    """
    if not isinstance(spec, Mapping):
        raise SweepConfigError(f"{path}: must be an object with a 'type', got {spec!r}")
    kind = spec.get("type")
    allowed_keys = {
        "int": {"type", "low", "high", "log", "step"},
        "float": {"type", "low", "high", "log", "step"},
        "categorical": {"type", "choices"},
    }
    if kind not in allowed_keys:
        raise SweepConfigError(f"{path}: type must be int, float or categorical, got {kind!r}")
    if default_type is not None and kind not in (default_type, "categorical"):
        raise SweepConfigError(
            f"{path}: type {kind} does not fit this {default_type} parameter "
            f"(use {default_type} or categorical)"
        )
    unknown = sorted(set(spec) - allowed_keys[kind])
    if unknown:
        raise SweepConfigError(f"{path}: unknown key(s) {', '.join(unknown)} for a {kind} spec")
    if kind == "categorical":
        return {"type": kind, "choices": _checked_choices(path, spec.get("choices"))}
    return _checked_range(path, kind, spec)


def _checked_choices(path: str, choices: Any) -> list[Any]:
    """Validate categorical choices: a non-empty list of distinct JSON scalars."""
    if not isinstance(choices, Sequence) or isinstance(choices, str) or not choices:
        raise SweepConfigError(f"{path}: choices must be a non-empty list")
    for choice in choices:
        if choice is not None and not isinstance(choice, str | int | float | bool):
            raise SweepConfigError(f"{path}: choice {choice!r} is not a string, number or null")
    if len({(type(c), c) for c in choices}) != len(choices):
        raise SweepConfigError(f"{path}: choices must be distinct")
    return list(choices)


def _checked_range(path: str, kind: str, spec: Mapping[str, Any]) -> Spec:
    """Validate an int or float range spec."""
    number_types: tuple[type, ...] = (int,) if kind == "int" else (int, float)
    bounds = {}
    for key in ("low", "high"):
        value = spec.get(key)
        if isinstance(value, bool) or not isinstance(value, number_types):
            raise SweepConfigError(
                f"{path}: {key} must be {'an integer' if kind == 'int' else 'a number'}"
            )
        if not math.isfinite(value):
            raise SweepConfigError(f"{path}: {key} must be finite")
        bounds[key] = value
    low, high = bounds["low"], bounds["high"]
    if low > high:
        raise SweepConfigError(f"{path}: low ({low}) is greater than high ({high})")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise SweepConfigError(f"{path}: log must be true or false")
    step = spec.get("step")
    if step is not None and (
        isinstance(step, bool) or not isinstance(step, number_types) or step <= 0
    ):
        raise SweepConfigError(
            f"{path}: step must be a positive {'integer' if kind == 'int' else 'number'}"
        )
    if log and low <= 0:
        raise SweepConfigError(f"{path}: a log scale needs low > 0 (got {low})")
    if log and step not in (None, 1):
        raise SweepConfigError(f"{path}: step cannot be combined with a log scale")
    if kind == "int":
        return {"type": kind, "low": low, "high": high, "log": log, "step": step or 1}
    return {"type": kind, "low": float(low), "high": float(high), "log": log, "step": step}


def grid_values(spec: Spec) -> Sequence[Any] | None:
    """Return every value a normalized spec can take, or ``None`` when it is continuous.

    Args:
        spec: A spec returned by :func:`merged_space`.
    """
    if spec["type"] == "categorical":
        return spec["choices"]
    if spec["type"] == "int":
        return range(spec["low"], spec["high"] + 1, spec["step"])
    if spec["step"] is None:
        return None
    count = int(math.floor((spec["high"] - spec["low"]) / spec["step"] + 1e-9)) + 1
    return [round(spec["low"] + i * spec["step"], 12) for i in range(count)]


def _check_schema(name: str, value: Any) -> None:
    """Validate one param against its JSON schema; raise a field-named error."""
    import jsonschema

    schema = {k: v for k, v in PARAM_SCHEMAS[name].items() if k not in ("default", "description")}
    error = jsonschema.exceptions.best_match(jsonschema.Draft7Validator(schema).iter_errors(value))
    if error is None:
        return
    path = ".".join([name, *(str(part) for part in error.absolute_path)])
    message = error.message
    if error.validator == "additionalProperties":
        known = list(error.schema.get("properties", {}))
        unexpected = sorted(set(error.instance) - set(known))
        path = f"{path}.{unexpected[0]}"
        message = f"unknown key; known: {', '.join(known) or 'none'}"
    elif error.validator == "pattern":
        message = f"{error.instance!r} is not valid: {PARAM_SCHEMAS[name]['description']}"
    raise SweepConfigError(f"{path}: {message}")


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
            _check_schema(name, value)
        values["synthetic"] = _resolved_synthetic(values["synthetic"])
        _check_dataset(values["dataset"], values["target"], values["csv_options"])
        values["metric"] = values["metric"] or AUTO
        task_types = _allowed_task_types(values)
        models = tuple(values["models"])
        for model in values["search_space"]:
            if model not in models:
                raise SweepConfigError(f"search_space.{model}: {model} is not in models")
        for task_type in task_types:
            for model in models:
                merged_space(model, task_type, values["search_space"].get(model))
        device = _resolved_devices(models, values["device"])
        if values["n_trials"] < len(models):
            raise SweepConfigError(
                f"n_trials: {values['n_trials']} is fewer than the {len(models)} models"
            )
        if values["sampler"] == "grid":
            _check_grid(models, values["search_space"], task_types, values["n_trials"])
        return cls(**{**values, "models": models, "device": device})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepConfig:
        """Rebuild a config from :meth:`to_dict` output (validated again)."""
        return cls.from_params(data)

    def to_dict(self) -> dict[str, Any]:
        """Return the config as a JSON-able dict of DAG params."""
        data = asdict(self)
        data["models"] = list(self.models)
        return data

    def task_types(self) -> tuple[str, ...]:
        """Task types this sweep can resolve to, given task_type, metric, models and dataset."""
        return _allowed_task_types(asdict(self))

    def metric_for(self, task_type: str) -> str:
        """Return the metric name once the task type is known."""
        return resolve_metric(self.metric, task_type)

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
        """Split ``n_trials`` evenly among the models (earlier models get the remainder)."""
        base, extra = divmod(self.n_trials, len(self.models))
        return {model: base + (1 if i < extra else 0) for i, model in enumerate(self.models)}

    def min_trials_per_model(self) -> int:
        """Trials every family gets before an adaptive sampler may favour one.

        A quarter of an even share, between 1 and 5: enough for TPE to see
        each family, few enough to leave most of the budget to the sampler.
        """
        return max(1, min(5, self.n_trials // (4 * len(self.models))))


def _resolved_synthetic(synthetic: Mapping[str, Any]) -> dict[str, Any]:
    """Fill synthetic defaults and check the combination of its values."""
    resolved = {**SYNTHETIC_DEFAULTS, **synthetic}
    features, classes = resolved["features"], resolved["classes"]
    if resolved["informative"] is None:
        resolved["informative"] = max(1, features // 2)
    informative = resolved["informative"]
    if informative > features:
        raise SweepConfigError(
            f"synthetic.informative: {informative} exceeds features ({features})"
        )
    if classes == 1:
        raise SweepConfigError("synthetic.classes: 1 is not allowed (0 = regression, >= 2 classes)")
    if classes > 2**informative:
        raise SweepConfigError(
            f"synthetic.classes: {classes} classes need at least "
            f"{math.ceil(math.log2(classes))} informative features (got {informative})"
        )
    return resolved


def _check_dataset(dataset: str, target: str | None, csv_options: Mapping[str, Any]) -> None:
    """Check that a file dataset names its target and others do not; check csv_options."""
    if csv_options and not dataset.endswith(CSV_SUFFIXES):
        raise SweepConfigError(
            f"csv_options: only used with a .csv or .csv.gz dataset, not {dataset!r}"
        )
    try:
        check_csv_options(csv_options)
    except CsvOptionsError as exc:
        raise SweepConfigError(str(exc)) from None
    if dataset in (*BUILTIN_DATASETS, SYNTHETIC):
        if target is not None:
            raise SweepConfigError(
                f"target: only used with a file dataset; {dataset!r} has its own target"
            )
    elif target is None:
        raise SweepConfigError(f"target: required for the file dataset {dataset!r}")


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
        spec = _metric_spec(values["metric"])
        restrict("metric", spec.name, [spec.task_type], f"metric {spec.name} ({spec.task_type})")
    for model in values["models"]:
        supported = get_family(model).task_types
        restrict("models", model, supported, f"model {model} ({supported[0]} only)")
    return tuple(allowed)


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


def _check_grid(
    models: Sequence[str],
    search_space: Mapping[str, Any],
    task_types: Sequence[str],
    n_trials: int,
) -> None:
    """Check that a grid sweep has one model and a finite, bounded, unambiguous grid."""
    if len(models) != 1:
        raise SweepConfigError(
            f"sampler: grid searches one model per sweep (got {len(models)} models); "
            "run one grid sweep per model"
        )
    model = models[0]
    grids = [grid_space(model, t, search_space.get(model)) for t in task_types]
    if any(grid != grids[0] for grid in grids[1:]):
        raise SweepConfigError(
            f"task_type: the {model} grid differs by task type; set task_type explicitly"
        )
    size = math.prod(len(values) for values in grids[0].values())
    if size > GRID_LIMIT:
        raise SweepConfigError(
            f"search_space.{model}: the grid has {size} points (limit {GRID_LIMIT}); "
            "narrow int ranges, add a step or use categorical choices"
        )
    if n_trials > size:
        raise SweepConfigError(
            f"n_trials: {n_trials} exceeds the {size} points of the grid; use n_trials <= {size}"
        )


def grid_space(
    model: str, task_type: str, overrides: Mapping[str, Any] | None
) -> dict[str, Sequence[Any]]:
    """Return ``param -> values`` of a model's finite search space.

    Raises:
        SweepConfigError: a parameter is continuous (a float without a step).
    """
    grid = {}
    for name, spec in merged_space(model, task_type, overrides).items():
        values = grid_values(spec)
        if values is None:
            raise SweepConfigError(
                f"search_space.{model}.{name}: the grid sampler needs a finite space; "
                "give this float a step or categorical choices"
            )
        grid[name] = values
    return grid
