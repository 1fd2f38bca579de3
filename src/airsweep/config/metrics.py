"""The metric catalog: which metrics a sweep can optimize, their task type and direction.

Kept small and free of :class:`~airsweep.config.sweep.SweepConfig` so that
:mod:`airsweep.models.scoring` can read the scorers from the same catalog the
``metric`` param is validated against. A new metric is one :class:`MetricSpec`
in :data:`METRICS`; the ``metric`` Param's enum follows from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from airsweep.config.errors import SweepConfigError
from airsweep.models.base import AUTO, CLASSIFICATION, REGRESSION

MAXIMIZE = "maximize"
MINIMIZE = "minimize"


@dataclass(frozen=True)
class MetricSpec:
    """A metric a sweep can optimize.

    Attributes:
        name: Name used in the ``metric`` sweep param.
        task_type: Task type the metric applies to.
        direction: ``"maximize"`` or ``"minimize"``.
        scorer: Name of the scikit-learn scorer computing it (``neg_*`` scorers
            are negated back, so stored values are in the metric's own units).
        low: The lowest value the metric can take, ``None`` when unbounded.
        high: The highest value the metric can take, ``None`` when unbounded.
    """

    name: str
    task_type: str
    direction: str
    scorer: str
    low: float | None = None
    high: float | None = None


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("accuracy", CLASSIFICATION, MAXIMIZE, "accuracy", 0, 1),
        MetricSpec("balanced_accuracy", CLASSIFICATION, MAXIMIZE, "balanced_accuracy", 0, 1),
        MetricSpec("f1_macro", CLASSIFICATION, MAXIMIZE, "f1_macro", 0, 1),
        MetricSpec("roc_auc", CLASSIFICATION, MAXIMIZE, "roc_auc", 0, 1),
        MetricSpec("log_loss", CLASSIFICATION, MINIMIZE, "neg_log_loss", 0),
        MetricSpec("rmse", REGRESSION, MINIMIZE, "neg_root_mean_squared_error", 0),
        MetricSpec("mae", REGRESSION, MINIMIZE, "neg_mean_absolute_error", 0),
        MetricSpec("r2", REGRESSION, MAXIMIZE, "r2", high=1),
    )
}

#: Metric used when ``metric`` is ``null`` or ``"auto"``.
DEFAULT_METRICS = {CLASSIFICATION: "accuracy", REGRESSION: "rmse"}


def metric_direction(metric: str) -> str:
    """Return ``"maximize"`` or ``"minimize"`` for a metric name.

    Raises:
        SweepConfigError: the metric is unknown.
    """
    return metric_spec(metric).direction


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
    spec = metric_spec(metric)
    if spec.task_type != task_type:
        raise SweepConfigError(
            f"metric: {metric} is a {spec.task_type} metric but the task is {task_type}"
        )
    return spec.name


def metric_spec(metric: str) -> MetricSpec:
    """Return the catalog entry of ``metric`` or raise a field-named error."""
    try:
        return METRICS[metric]
    except KeyError:
        raise SweepConfigError(
            f"metric: unknown metric {metric!r}; expected one of {', '.join(METRICS)}"
        ) from None
