"""The ``objective`` param: a custom objective (``module:function``) instead of model families.

A sweep with ``objective`` tunes the user's function (:mod:`airsweep.objective`)
as if it were one model family, its *pseudo-family*, named after the function
(:func:`objective_family`): trials carry it in their ``model`` attr and metric
labels, their params are ``<family>.<name>``, and the pruner compares a trial
with the trials of that family. The function samples its own params, so the
params that describe a search space (``models``, ``search_space``, ``device``)
are refused with it, and so are what needs that space or family before the
sweep starts (:func:`check_custom_objective`). Import-light: the function is
imported by the sweep's ``setup`` (:func:`airsweep.custom.loading.load_objective`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from airsweep.config.errors import SweepConfigError

#: ``module:function``: a dotted module path (the plugins folder or an installed package).
OBJECTIVE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
#: A family name (as :data:`airsweep.models.plugins.NAME`).
_FAMILY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def objective_schema() -> dict[str, dict[str, Any]]:
    """The Param schema of ``objective``."""
    return {
        "objective": {
            "default": None,
            "type": ["string", "null"],
            "pattern": OBJECTIVE_PATTERN,
            "description": (
                "A custom objective, module:function (a module of the plugins folder or an "
                "installed package): the function samples its params from a trial handle and "
                "returns the score (docs/plugins.md). Replaces models and search_space. "
                "null: tune the model families of models."
            ),
        },
        "objective_device": {
            "default": "cpu",
            "type": "string",
            "enum": ["auto", "cpu", "gpu"],
            "description": (
                "Queue and device of a custom objective: cpu, gpu (the gpu queue; without a "
                "usable CUDA device gpu_fallback applies) or auto (gpu when a live gpu worker "
                "has CUDA). The function reads the device it got from data.device."
            ),
        },
    }


def objective_family(objective: str) -> str:
    """The pseudo-family of ``objective``: its function's name in lower case, without leading ``_``.

    Raises:
        SweepConfigError: The function's name cannot name a family (over 64 characters).
    """
    family = objective.rpartition(":")[2].lower().lstrip("_")
    if not _FAMILY.match(family):
        raise SweepConfigError(
            f"objective: the function name of {objective} must make a family name of 1-64 "
            "letters, digits or _ (starting with a letter); rename the function"
        )
    return family


def check_custom_objective(
    values: Mapping[str, Any], default_models: Sequence[str], families: Sequence[str]
) -> None:
    """Refuse the params that do not go with ``objective`` (when it is set).

    Args:
        values: The sweep params, schema-checked.
        default_models: The default of ``models`` (which Airflow passes when
            the trigger leaves it out).
        families: The names of the model families (the objective's may not be one).

    Raises:
        SweepConfigError: ``models`` other than its default, a ``search_space``, a
            ``device`` (the objective's is ``objective_device``), ``sampler: grid``,
            ``pruner: hyperband``, ``warm_start_from``, or a function named like a
            model family; ``objective_device`` other than cpu without ``objective``.
    """
    objective = values["objective"]
    if objective is None:
        if values["objective_device"] != "cpu":
            raise SweepConfigError(
                "objective_device: places a custom objective (objective); for model "
                "families use device"
            )
        return
    family = objective_family(objective)
    if family in families:
        raise SweepConfigError(
            f"objective: its family name {family} (the function's) is a model family's; "
            "rename the function"
        )
    if list(values["models"]) != list(default_models):
        raise SweepConfigError(
            "models: a sweep with objective tunes that function only; leave models out, "
            "or run the model families in a sweep of their own"
        )
    refused = {
        "search_space": "the objective samples its own params (trial.suggest_*)",
        "device": "a custom objective's queue is objective_device",
        "warm_start_from": "an earlier sweep's trials cannot be checked against a space the "
        "objective defines as it runs",
    }
    for name, why in refused.items():
        if values[name]:
            raise SweepConfigError(f"{name}: {why}; leave {name} out with objective")
    if values["sampler"] == "grid":
        raise SweepConfigError(
            "sampler: grid needs the search space before the sweep starts, and a custom "
            "objective defines it as it runs; use tpe, random, qmc, cmaes or gp"
        )
    if values["pruner"] == "hyperband":
        raise SweepConfigError(
            "pruner: hyperband needs the most steps a trial can take, which a custom "
            "objective does not declare; use median, percentile or successive_halving"
        )
