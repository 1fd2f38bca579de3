"""Samplers and pruners: their names, option allow-lists, JSON schemas and fit checks.

The ``sampler`` / ``sampler_options`` and ``pruner`` / ``pruner_options``
params choose how a sweep proposes and stops trials. This module is the
catalog (import-light: no Optuna); :mod:`airsweep.search` builds the Optuna
objects from it. The schemas of the option objects accept every known option
of every sampler (pruner); :func:`check_strategies` then refuses an option the
chosen one does not take, a sampler that does not fit the search space, and a
sampler whose dependency is not installed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any

from airsweep.config.errors import SweepConfigError
from airsweep.config.search_space import check_grid, merged_space
from airsweep.models.registry import get_family

_COUNT = {"type": "integer", "minimum": 0, "maximum": 10_000}
_BOOL = {"type": "boolean"}

#: Every sampler option: its JSON schema.
SAMPLER_OPTION_SCHEMAS: dict[str, dict[str, Any]] = {
    "n_startup_trials": _COUNT,
    "multivariate": _BOOL,
    "constant_liar": _BOOL,
    "qmc_type": {"type": "string", "enum": ["sobol", "halton"]},
    "scramble": _BOOL,
    "deterministic_objective": _BOOL,
}

#: Sampler name -> the options it takes (keyword arguments of its Optuna constructor).
SAMPLER_OPTIONS: dict[str, tuple[str, ...]] = {
    "tpe": ("n_startup_trials", "multivariate", "constant_liar"),
    "random": (),
    "grid": (),
    # Not sigma0 or x0: Optuna deprecates them (4.9.0, removal planned in 6.0.0).
    "cmaes": ("n_startup_trials",),
    "qmc": ("qmc_type", "scramble"),
    "gp": ("n_startup_trials", "deterministic_objective"),
}
SAMPLERS = tuple(SAMPLER_OPTIONS)

#: Samplers that model the intersection of the finished trials' parameters:
#: the families of a sweep share no parameter, so they need a single model.
ONE_MODEL_SAMPLERS = ("grid", "cmaes", "qmc", "gp")

#: Sampler -> (Python module it needs, the package that provides it).
SAMPLER_DEPENDENCIES: dict[str, tuple[str, str]] = {
    "cmaes": ("cmaes", "cmaes"),
    "qmc": ("scipy", "SciPy"),
    "gp": ("torch", "PyTorch"),
}

#: Every pruner option: its JSON schema.
PRUNER_OPTION_SCHEMAS: dict[str, dict[str, Any]] = {
    "n_startup_trials": _COUNT,
    "n_warmup_steps": _COUNT,
    "interval_steps": {"type": "integer", "minimum": 1, "maximum": 10_000},
    "percentile": {"type": "number", "minimum": 0, "maximum": 100},
    "min_resource": {"type": "integer", "minimum": 1, "maximum": 10_000},
    "reduction_factor": {"type": "integer", "minimum": 2, "maximum": 100},
    "steps": {"type": "string", "enum": ["rounds", "folds"]},
}

_PERIODIC = ("n_startup_trials", "n_warmup_steps", "interval_steps", "steps")
#: Pruner name -> the options it takes (keyword arguments of its Optuna constructor).
PRUNER_OPTIONS: dict[str, tuple[str, ...]] = {
    "auto": (),
    "none": (),
    "median": _PERIODIC,
    "percentile": ("percentile", *_PERIODIC),
    "successive_halving": ("min_resource", "reduction_factor", "steps"),
    "hyperband": ("min_resource", "reduction_factor", "steps"),
}
#: ``pruner: auto`` without objectives: the median pruner between CV folds, for every
#: family (on boosting rounds it prunes trials that a slow learning rate only delays;
#: docs/benchmarks.md, "Search strategies").
AUTO_PRUNER = ("median", {"steps": "folds"})
PRUNERS = tuple(PRUNER_OPTIONS)


def strategy_schemas() -> dict[str, dict[str, Any]]:
    """The Param schemas of ``sampler``, ``sampler_options``, ``pruner``, ``pruner_options``."""
    return {
        "sampler": {
            "default": "tpe",
            "type": "string",
            "enum": list(SAMPLERS),
            "description": (
                "Optuna sampler: tpe, random, grid, cmaes, qmc or gp (grid, cmaes, qmc, "
                "gp: one model)."
            ),
        },
        "sampler_options": _options_schema(
            SAMPLER_OPTION_SCHEMAS, "Options of the sampler (an allow-list per sampler)."
        ),
        "pruner": {
            "default": "auto",
            "type": "string",
            "enum": list(PRUNERS),
            "description": (
                "Optuna pruner, applied at each step (boosting rounds, else CV folds; "
                "pruner_options.steps) among trials of the same model family: none, median, "
                "percentile, successive_halving or hyperband; auto: median between CV folds, "
                "or none in a multi-objective sweep (objectives)."
            ),
        },
        "pruner_options": _options_schema(
            PRUNER_OPTION_SCHEMAS, "Options of the pruner (an allow-list per pruner)."
        ),
    }


def resolve_pruner(
    pruner: str, options: Mapping[str, Any], objectives: Sequence[str]
) -> tuple[str, dict[str, Any]]:
    """The pruner a sweep uses and its options: ``auto`` is :data:`AUTO_PRUNER`, or none.

    Args:
        pruner: The ``pruner`` param.
        options: The ``pruner_options`` param (for ``auto``: over its defaults).
        objectives: The ``objectives`` param: with them ``auto`` prunes nothing.
    """
    if pruner != "auto":
        return pruner, dict(options)
    if objectives:
        return "none", dict(options)
    name, defaults = AUTO_PRUNER
    return name, {**defaults, **options}


def on_rounds(options: Mapping[str, Any]) -> bool:
    """Whether the pruner counts a family's boosting rounds as its steps (``steps: rounds``)."""
    return options.get("steps", "rounds") == "rounds"


def _options_schema(options: Mapping[str, Any], description: str) -> dict[str, Any]:
    """The schema of an options object: the known options, nothing else."""
    return {
        "default": {},
        "type": "object",
        "properties": dict(options),
        "additionalProperties": False,
        "description": description,
    }


def check_strategies(values: Mapping[str, Any], task_types: Sequence[str]) -> None:
    """Check that the sampler and pruner take their options and fit the sweep.

    Args:
        values: The sweep params, schema-checked (``sampler``,
            ``sampler_options``, ``pruner``, ``pruner_options``, ``models``,
            ``search_space``, ``n_trials``, ``objective``).
        task_types: The task types the sweep can resolve to.

    Raises:
        SweepConfigError: an option the chosen sampler (pruner) does not take;
            a one-model sampler with several models; ``cmaes`` over a space
            without an int or float range; a grid that cannot be enumerated;
            a sampler whose dependency is not installed. A custom objective's
            space and steps are unknown before it runs: only its options and
            dependencies are checked here (and what it refuses,
            :func:`airsweep.config.custom_objective.check_custom_objective`).
    """
    sampler, pruner = values["sampler"], values["pruner"]
    _check_options("sampler", sampler, values["sampler_options"], SAMPLER_OPTIONS[sampler])
    _check_options("pruner", pruner, values["pruner_options"], PRUNER_OPTIONS[pruner])
    if not values["objective"]:
        _check_fit(values, task_types)
    _check_dependency(sampler)


def _check_fit(values: Mapping[str, Any], task_types: Sequence[str]) -> None:
    """Refuse a sampler or pruner that does not fit the models' search spaces and steps."""
    sampler, models, search_space = values["sampler"], values["models"], values["search_space"]
    check_pruner_steps(values, task_types)
    if sampler == "grid":
        check_grid(models, search_space, task_types, values["n_trials"])
    elif sampler in ONE_MODEL_SAMPLERS and len(models) != 1:
        raise SweepConfigError(
            f"sampler: {sampler} models the parameters that every trial shares, and "
            f"model families share none: it searches one model per sweep (got "
            f"{len(models)} models); use tpe, or run one sweep per model"
        )
    if sampler == "cmaes":
        model = models[0]
        ranged = [
            name
            for task_type in task_types
            for name, spec in merged_space(model, task_type, search_space.get(model)).items()
            if spec["type"] != "categorical" and spec["low"] != spec["high"]
        ]
        if not ranged:
            raise SweepConfigError(
                f"sampler: cmaes models only int and float ranges, and every parameter of "
                f"search_space.{model} is categorical or fixed; use tpe"
            )


def _check_dependency(sampler: str) -> None:
    """Refuse a sampler whose dependency is not installed."""
    module, package = SAMPLER_DEPENDENCIES.get(sampler, (None, None))
    if module is not None and importlib.util.find_spec(module) is None:
        raise SweepConfigError(
            f"sampler: {sampler} needs {package} ('{module}'), which is not installed "
            "in this cluster; use tpe"
        )


def _check_options(
    field: str, name: str, options: Mapping[str, Any], allowed: Sequence[str]
) -> None:
    """Refuse the first key of ``<field>_options`` that sampler (pruner) ``name`` does not take."""
    for key in options:
        if key not in allowed:
            takes = ", ".join(allowed) or "none"
            raise SweepConfigError(
                f"{field}_options.{key}: not an option of {field} {name}; its options: {takes}"
            )


def max_steps(model: str, task_type: str, search_space: Mapping[str, Any]) -> int | None:
    """The most training steps a trial of ``model`` can take, ``None`` for a family without steps.

    Args:
        model: The family's name.
        task_type: A task type of the sweep.
        search_space: The ``search_space`` param (the family's overrides are applied).

    Returns:
        The highest value of the family's ``step_param`` in its search space.
    """
    step_param = get_family(model).step_param
    if step_param is None:
        return None
    spec = merged_space(model, task_type, search_space.get(model))[step_param]
    return int(max(spec["choices"]) if spec["type"] == "categorical" else spec["high"])


def check_pruner_steps(values: Mapping[str, Any], task_types: Sequence[str]) -> None:
    """Refuse a pruner that cannot act on the steps of the sweep's families.

    A family's steps are its boosting rounds when it trains in steps, else its
    CV folds (``0 .. cv_folds - 1``).

    Raises:
        SweepConfigError: ``pruner_options.min_resource`` at or beyond a family's
            last step (it would never prune); ``hyperband`` in a ``grid`` sweep
            of a family without steps (each grid point runs once, and hyperband
            has nothing to allocate but a fold or two).
    """
    pruner, options = values["pruner"], values["pruner_options"]
    for model in values["models"]:
        most = max(
            (max_steps(model, t, values["search_space"]) or 0 for t in task_types), default=0
        )
        if not on_rounds(options):  # steps: folds
            most = 0
        if "min_resource" in options:
            last = most or values["cv_folds"] - 1
            where = f"{most} rounds" if most else f"fold {last} of cv_folds={values['cv_folds']}"
            if options["min_resource"] >= last:
                raise SweepConfigError(
                    f"pruner_options.min_resource: {options['min_resource']} is at or beyond "
                    f"{model}'s last step ({where}): {pruner} would never prune it"
                )
        if pruner == "hyperband" and values["sampler"] == "grid" and not most:
            raise SweepConfigError(
                f"pruner: hyperband allocates training steps, and {model} has none (it is "
                "pruned between CV folds): in a grid sweep each point runs once and would be "
                "dropped on a fold or two; use pruner median or none, or a family with steps"
            )
