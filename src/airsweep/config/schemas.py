"""The JSON schemas of the sweep params: one per DAG ``Param``, in :data:`PARAM_SCHEMAS`.

The DAG turns each schema into an Airflow ``Param`` so that a bad trigger is
refused by the REST API (HTTP 400); :meth:`SweepConfig.from_params
<airsweep.config.sweep.SweepConfig.from_params>` checks them again with
:func:`check_schema` for callers that do not go through Airflow. A new sweep
option starts here: its schema (with ``default`` and ``description``) in
:func:`_build_param_schemas`, and its field on ``SweepConfig``.
"""

from __future__ import annotations

import re
from typing import Any

from airsweep.config.custom_objective import objective_schema
from airsweep.config.datasets import BUILTIN_DATASETS, FILE_SUFFIXES, SYNTHETIC, SYNTHETIC_DEFAULTS
from airsweep.config.errors import SweepConfigError
from airsweep.config.metrics import METRICS
from airsweep.config.objectives import objective_schemas
from airsweep.config.search_space import spec_schema
from airsweep.config.strategies import strategy_schemas
from airsweep.csv_options import SCHEMA as CSV_OPTIONS_SCHEMA
from airsweep.models.base import AUTO, DEVICES, TASK_TYPES
from airsweep.models.registry import available_families, get_family

#: How the trial budget is shared among the model families (``model_budget``).
MODEL_BUDGETS = ("adaptive", "even")

MAX_TRIALS = 10_000
#: Most runners (mapped trial tasks) per queue; ``[core] max_map_length`` is above it.
MAX_RUNNERS = 256
#: An Airflow run id (``warm_start_from``): Airflow's default allowed characters, 250 at most.
RUN_ID_PATTERN = r"^[A-Za-z0-9_.~:+-]{1,250}$"
#: Longest ``timeout_s`` of a sweep: 30 days.
MAX_SWEEP_TIMEOUT_S = 30 * 86_400


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
        **objective_schema(),
        "search_space": {
            "default": {},
            "type": "object",
            # One shared spec: Airflow checks each param schema against the
            # metaschema in every task, and 30 inline copies took 0.3 s.
            "definitions": {"spec": spec_schema()},
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
            "description": (
                "Metric to optimize; auto: accuracy (classification) or rmse. With "
                "objectives: the primary one of their metrics (auto: the first listed)."
            ),
        },
        **objective_schemas(),
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
        **strategy_schemas(),
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
        "warm_start_from": {
            "default": None,
            "type": ["string", "null"],
            "pattern": RUN_ID_PATTERN,
            "description": (
                "Run id of an earlier hpo_sweep run on the same data and metric: its COMPLETE "
                "trials that fit this search space seed the study and do not count against "
                "n_trials. null: start from zero."
            ),
        },
        "timeout_s": {
            "default": None,
            "type": ["integer", "null"],
            "minimum": 1,
            "maximum": MAX_SWEEP_TIMEOUT_S,
            "description": (
                "Stop taking trials this many seconds after the sweep started; running "
                "trials finish and the best one is stored. null: no time limit."
            ),
        },
        "patience": {
            "default": None,
            "type": ["integer", "null"],
            "minimum": 1,
            "maximum": MAX_TRIALS,
            "description": (
                "Stop taking trials after this many finished trials in a row did not "
                "improve the best value. null: off."
            ),
        },
        "target_score": {
            "default": None,
            "type": ["number", "null"],
            "description": (
                "Stop taking trials once the best value reaches this score (>= for a "
                "maximized metric, <= for a minimized one). null: off."
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


def check_schema(name: str, value: Any) -> None:
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
