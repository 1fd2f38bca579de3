"""Sweep parameters: their JSON schemas, deep validation and the frozen :class:`SweepConfig`.

Two layers of validation, one source of truth:

* :data:`PARAM_SCHEMAS` are JSON schemas; the DAG turns each into an Airflow
  ``Param`` so that a bad trigger is refused by the REST API (HTTP 400).
* :meth:`SweepConfig.from_params` validates the same schemas again (for callers
  that do not go through Airflow) and then checks what a schema cannot express:
  low > high, a metric that does not fit the task type, a grid over a
  continuous space... Every :class:`SweepConfigError` message starts with the
  path of the offending field.

One module per concern; this package re-exports their public names:

* :mod:`~airsweep.config.schemas`: the Param JSON schemas (:data:`PARAM_SCHEMAS`),
  budget choices, limits;
* :mod:`~airsweep.config.metrics`: the metric catalog and directions;
* :mod:`~airsweep.config.datasets`: builtin and synthetic datasets, file suffixes;
* :mod:`~airsweep.config.search_space`: search-space spec checks and grids;
* :mod:`~airsweep.config.strategies`: samplers and pruners, their options and fit checks;
* :mod:`~airsweep.config.sweep`: :class:`SweepConfig` and the cross-field checks;
* :mod:`~airsweep.config.errors`: :class:`SweepConfigError`.

This package is import-light (no scikit-learn, Optuna or pandas): DAG files
import it at parse time.
"""

from airsweep.config.datasets import BUILTIN_DATASETS, FILE_SUFFIXES, SYNTHETIC, SYNTHETIC_DEFAULTS
from airsweep.config.errors import SweepConfigError
from airsweep.config.metrics import (
    DEFAULT_METRICS,
    MAXIMIZE,
    METRICS,
    MINIMIZE,
    MetricSpec,
    metric_direction,
    resolve_metric,
)
from airsweep.config.schemas import (
    JSON_SCHEMA_DIALECT,
    MAX_RUNNERS,
    MAX_TRIALS,
    MODEL_BUDGETS,
    PARAM_SCHEMAS,
)
from airsweep.config.search_space import GRID_LIMIT, grid_space, grid_values, merged_space
from airsweep.config.strategies import PRUNERS, SAMPLERS
from airsweep.config.sweep import SweepConfig

__all__ = [
    "BUILTIN_DATASETS",
    "DEFAULT_METRICS",
    "FILE_SUFFIXES",
    "GRID_LIMIT",
    "JSON_SCHEMA_DIALECT",
    "MAXIMIZE",
    "MAX_RUNNERS",
    "MAX_TRIALS",
    "METRICS",
    "MINIMIZE",
    "MODEL_BUDGETS",
    "MetricSpec",
    "PARAM_SCHEMAS",
    "PRUNERS",
    "SAMPLERS",
    "SYNTHETIC",
    "SYNTHETIC_DEFAULTS",
    "SweepConfig",
    "SweepConfigError",
    "grid_space",
    "grid_values",
    "merged_space",
    "metric_direction",
    "resolve_metric",
]
