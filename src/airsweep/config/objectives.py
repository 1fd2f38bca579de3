"""Multi-objective sweeps: the ``objectives`` and ``select`` params and their checks.

A sweep optimizes one metric (the ``metric`` param) unless ``objectives``
lists two or three: metrics of the catalog (:mod:`airsweep.config.metrics`,
each in its own direction) and the cost objectives of :data:`COST_OBJECTIVES`
(always minimized). The study is then multi-objective, and ``select`` says
which trial of its Pareto front is refit and stored
(:func:`airsweep.pareto.select`):

* ``"knee"`` (default): the trial nearest the ideal point once every
  objective is scaled to 0..1 over the front;
* ``{"objective": NAME, "constraints": {NAME: {"min": x, "max": y}}}``: the
  best trial in objective ``NAME`` among the COMPLETE trials that meet every
  constraint.

The sweep's *primary metric* is ``metric`` when it names one of the
objectives, else the first metric of ``objectives``: the one the registry
ranks models by and the test split scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airsweep.config.errors import SweepConfigError
from airsweep.config.metrics import METRICS, MINIMIZE, metric_direction

#: Cost objectives (minimized): the trial's ``fit_seconds`` (the wall time of its
#: cross-validation, the same number as its ``fit_seconds`` attr) and the time to
#: predict 1,000 rows of a validation fold, in milliseconds (mean over the folds).
FIT_SECONDS = "fit_seconds"
COST_OBJECTIVES = (FIT_SECONDS, "predict_ms_per_1k_rows")
#: Names ``objectives`` accepts.
OBJECTIVE_NAMES = (*METRICS, *COST_OBJECTIVES)
MAX_OBJECTIVES = 3
#: The default ``select`` rule.
KNEE = "knee"


def objective_schemas() -> dict[str, dict[str, Any]]:
    """The Param schemas of ``objectives`` and ``select``."""
    bounds = {
        "type": "object",
        "properties": {"min": {"type": "number"}, "max": {"type": "number"}},
        "additionalProperties": False,
        "minProperties": 1,
    }
    return {
        "objectives": {
            "default": [],
            "type": "array",
            "items": {"type": "string", "enum": list(OBJECTIVE_NAMES)},
            "maxItems": MAX_OBJECTIVES,
            "uniqueItems": True,
            "description": (
                "Two or three objectives for a multi-objective sweep: metrics (each in its "
                "own direction) and the costs fit_seconds and predict_ms_per_1k_rows "
                "(minimized). The primary metric (registry, test score) is metric, or auto: "
                "the first metric listed. "
                "Empty: optimize metric alone."
            ),
        },
        "select": {
            "default": KNEE,
            "anyOf": [
                {"type": "string", "enum": [KNEE]},
                {
                    "type": "object",
                    "properties": {
                        "objective": {"type": "string", "enum": list(OBJECTIVE_NAMES)},
                        "constraints": {
                            "type": "object",
                            "properties": {name: bounds for name in OBJECTIVE_NAMES},
                            "additionalProperties": False,
                        },
                    },
                    "required": ["objective"],
                    "additionalProperties": False,
                },
            ],
            "description": (
                "Which Pareto-front trial a multi-objective sweep refits and stores: knee "
                "(nearest the ideal point, every objective scaled 0..1 over the front) or "
                '{"objective": NAME, "constraints": {NAME: {"min": x, "max": y}}} (the best '
                "in NAME among the trials meeting the constraints)."
            ),
        },
    }


def objective_direction(name: str) -> str:
    """``"maximize"`` or ``"minimize"`` for an objective name (a cost is minimized)."""
    return MINIMIZE if name in COST_OBJECTIVES else metric_direction(name)


def objective_metrics(objectives: Sequence[str]) -> list[str]:
    """The metrics among ``objectives``, in order."""
    return [name for name in objectives if name not in COST_OBJECTIVES]


def primary_metric(objectives: Sequence[str], metric: str | None) -> str:
    """The primary metric of a multi-objective sweep: ``metric`` if set, else the first metric."""
    return metric if metric not in (None, "auto") else objective_metrics(objectives)[0]


def check_objectives(values: Mapping[str, Any]) -> None:
    """Check ``objectives`` and ``select`` against each other and the rest of the sweep.

    Task types are checked with the other fields (a metric of ``objectives``
    restricts them as ``metric`` does); the pruner and stopping rules of a
    multi-objective sweep are checked here.

    Args:
        values: The sweep params, schema-checked (``objectives``, ``select``,
            ``metric``, ``sampler``, ``pruner``, ``target_score``).

    Raises:
        SweepConfigError: one objective; no metric among them; ``metric`` set
            to a metric not in them; a ``select`` that names something not in
            them, or a ``select`` rule without ``objectives``; ``cmaes``, a
            pruner or a ``target_score`` in a multi-objective sweep.
    """
    objectives, select = list(values["objectives"]), values["select"]
    if not objectives:
        if select != KNEE:
            raise SweepConfigError(
                "select: chooses among the Pareto front of a multi-objective sweep; "
                "set objectives too, or leave select at knee"
            )
        return
    if len(objectives) == 1:
        raise SweepConfigError(
            f"objectives: give 2 or 3 objectives; to optimize {objectives[0]} alone, "
            f"set metric: {objectives[0]}"
        )
    metrics = objective_metrics(objectives)
    if not metrics:
        raise SweepConfigError(
            f"objectives: needs at least one metric ({', '.join(METRICS)}); "
            f"{' and '.join(COST_OBJECTIVES)} are costs"
        )
    metric = values["metric"]
    if metric not in (None, "auto") and metric not in metrics:
        raise SweepConfigError(
            f"metric: {metric} is not one of objectives; with objectives, metric picks the "
            f"primary one among {', '.join(metrics)} (auto: {metrics[0]})"
        )
    if isinstance(select, Mapping):
        for name in [select["objective"], *select.get("constraints", {})]:
            if name not in objectives:
                raise SweepConfigError(
                    f"select: {name} is not one of objectives ({', '.join(objectives)})"
                )
    if values["sampler"] == "cmaes":
        raise SweepConfigError(
            "sampler: cmaes optimizes a single objective; with objectives use tpe, random, "
            "qmc or grid"
        )
    if values["pruner"] not in ("auto", "none"):
        raise SweepConfigError(
            f"pruner: {values['pruner']} compares a single value; a multi-objective sweep "
            "cannot prune: use none (or auto)"
        )
    if values["target_score"] is not None:
        raise SweepConfigError(
            "target_score: a multi-objective sweep has no single best value; "
            "use patience (no trial joined the Pareto front) or timeout_s"
        )
