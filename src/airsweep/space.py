"""Search spaces: family defaults merged with user overrides, as Optuna distributions.

All models of a sweep share one Optuna study, so every parameter is stored in
the study as ``"<model>.<param>"`` (``xgboost.max_depth``): two models never
share a parameter name, and TPE models each family's parameters separately.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from airsweep.config import SweepConfig, grid_space, merged_space
from airsweep.models.base import Spec


def resolve_space(
    model_name: str, task_type: str, overrides: Mapping[str, Any] | None = None
) -> dict[str, BaseDistribution]:
    """Return the search space of a model: defaults merged with user overrides.

    Args:
        model_name: Model family name.
        task_type: ``"classification"`` or ``"regression"``.
        overrides: ``param -> spec`` from the ``search_space`` sweep param.

    Returns:
        ``param -> distribution`` (unprefixed names).

    Raises:
        SweepConfigError: unknown model or parameter, malformed spec, low > high...
    """
    specs = merged_space(model_name, task_type, overrides)
    return {name: to_distribution(spec) for name, spec in specs.items()}


def to_distribution(spec: Spec) -> BaseDistribution:
    """Convert a normalized spec (see :func:`airsweep.config.merged_space`) to a distribution."""
    if spec["type"] == "categorical":
        return CategoricalDistribution(spec["choices"])
    if spec["type"] == "int":
        return IntDistribution(spec["low"], spec["high"], log=spec["log"], step=spec["step"])
    return FloatDistribution(spec["low"], spec["high"], log=spec["log"], step=spec["step"])


def param_key(model_name: str, param: str) -> str:
    """Return the study-wide name of a model parameter: ``"<model>.<param>"``."""
    return f"{model_name}.{param}"


def model_params(model_name: str, trial_params: Mapping[str, Any]) -> dict[str, Any]:
    """Return the parameters of ``model_name`` from a trial, without their prefix."""
    prefix = param_key(model_name, "")
    return {
        name[len(prefix) :]: value
        for name, value in trial_params.items()
        if name.startswith(prefix)
    }


def suggest(
    trial: optuna.Trial, model_name: str, space: Mapping[str, BaseDistribution]
) -> dict[str, Any]:
    """Sample every parameter of ``space`` in ``trial`` under prefixed names.

    Args:
        trial: The running trial.
        model_name: Model family name, used as the prefix.
        space: ``param -> distribution`` from :func:`resolve_space`.

    Returns:
        ``param -> value`` with unprefixed names, ready for the family's ``build``.
    """
    params = {}
    for name, dist in space.items():
        key = param_key(model_name, name)
        if isinstance(dist, CategoricalDistribution):
            params[name] = trial.suggest_categorical(key, dist.choices)
        elif isinstance(dist, IntDistribution):
            params[name] = trial.suggest_int(key, dist.low, dist.high, step=dist.step, log=dist.log)
        elif isinstance(dist, FloatDistribution):
            params[name] = trial.suggest_float(
                key, dist.low, dist.high, step=dist.step, log=dist.log
            )
        else:
            raise TypeError(f"{key}: unsupported distribution {dist!r}")
    return params


def grid_search_space(config: SweepConfig) -> dict[str, list[Any]]:
    """Return the prefixed grid of a grid sweep, for ``optuna.samplers.GridSampler``.

    ``SweepConfig.from_params`` has already checked that a grid sweep has one
    model whose grid is finite and the same for every task type it may resolve to.
    """
    model = config.models[0]
    grid = grid_space(model, config.task_types()[0], config.search_space.get(model))
    return {param_key(model, name): list(values) for name, values in grid.items()}
