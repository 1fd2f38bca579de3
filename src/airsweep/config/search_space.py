"""Search-space specs: their JSON schema, deep checks, merging with defaults, grid enumeration.

A *spec* is the JSON-able dict users write in the ``search_space`` param (see
:mod:`airsweep.models.base`). This module checks and normalizes specs and
enumerates finite grids; it is import-light, as the DAG validates at parse
time. Turning a normalized spec into an Optuna distribution, and sampling it,
is :mod:`airsweep.space`'s job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from airsweep.config.errors import SweepConfigError
from airsweep.models.base import Spec
from airsweep.models.registry import get_family

#: A grid sampler enumerates every point in memory; refuse larger grids.
GRID_LIMIT = 100_000


def spec_schema() -> dict[str, Any]:
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


def check_grid(
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
