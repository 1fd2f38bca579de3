"""The ``objectives`` and ``select`` params: what a multi-objective sweep accepts and refuses."""

from __future__ import annotations

import pytest

from airsweep.config import PARAM_SCHEMAS, SweepConfig, SweepConfigError

TWO = {"objectives": ["accuracy", "fit_seconds"], "models": ["logistic_regression"]}


def test_one_metric_by_default():
    config = SweepConfig.from_params({})
    assert config.objectives == ()
    assert config.select == "knee"
    assert config.objectives_for("classification") == [
        {"name": "accuracy", "direction": "maximize"}
    ]
    assert config.pruner == "median"  # pruner auto is median for one objective


def test_objectives_directions_primary_metric_and_pruner():
    config = SweepConfig.from_params(
        {**TWO, "objectives": ["predict_ms_per_1k_rows", "log_loss", "roc_auc"]}
    )
    assert config.objectives_for("classification") == [
        {"name": "predict_ms_per_1k_rows", "direction": "minimize"},
        {"name": "log_loss", "direction": "minimize"},
        {"name": "roc_auc", "direction": "maximize"},
    ]
    assert config.metric_for("classification") == "log_loss"  # the first metric listed
    assert config.pruner == "none"  # pruner auto prunes nothing with objectives
    assert SweepConfig.from_dict(config.to_dict()) == config
    chosen = SweepConfig.from_params(
        {**TWO, "objectives": ["log_loss", "roc_auc"], "metric": "roc_auc"}
    )
    assert chosen.metric_for("classification") == "roc_auc"


def test_select_with_constraints():
    select = {"objective": "accuracy", "constraints": {"fit_seconds": {"max": 2.5}}}
    assert SweepConfig.from_params({**TWO, "select": select}).select == select


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({**TWO, "objectives": ["accuracy"]}, "objectives: give 2 or 3 objectives"),
        (
            {**TWO, "objectives": ["fit_seconds", "predict_ms_per_1k_rows"]},
            "objectives: needs at least one metric",
        ),
        (
            {**TWO, "objectives": ["accuracy", "f1_macro", "roc_auc", "fit_seconds"]},
            "objectives: ",
        ),
        ({**TWO, "objectives": ["accuracy", "accuracy"]}, "objectives: "),
        ({**TWO, "objectives": ["accuracy", "rmse"]}, "objectives: rmse supports only regression"),
        (
            {**TWO, "objectives": ["r2", "fit_seconds"]},
            "models: logistic_regression supports only classification, which conflicts with "
            "objective r2",
        ),
        ({**TWO, "metric": "roc_auc"}, "metric: roc_auc is not one of objectives"),
        ({**TWO, "pruner": "hyperband"}, "pruner: hyperband compares a single value"),
        ({**TWO, "target_score": 0.9}, "target_score: a multi-objective sweep has no single"),
        ({**TWO, "sampler": "cmaes"}, "sampler: cmaes optimizes a single objective"),
        ({**TWO, "pruner_options": {"n_warmup_steps": 1}}, "pruner_options.n_warmup_steps: "),
        ({"select": {"objective": "accuracy"}}, "select: chooses among the Pareto front"),
        ({**TWO, "select": {"objective": "roc_auc"}}, "select: roc_auc is not one of objectives"),
        (
            {**TWO, "select": {"objective": "accuracy", "constraints": {"r2": {"min": 0}}}},
            "select: r2 is not one of objectives",
        ),
        ({**TWO, "select": {"objective": "accuracy", "where": {}}}, "select.where: unknown key"),
        ({**TWO, "select": "pareto"}, "select: "),
        ({**TWO, "objectives": ["accuracy", "wall"]}, "objectives.1: "),
    ],
)
def test_bad_objectives_are_refused_naming_the_field(params, message):
    with pytest.raises(SweepConfigError) as info:
        SweepConfig.from_params(params)
    assert str(info.value).startswith(message)


def test_schemas_reach_the_dag_params():
    assert PARAM_SCHEMAS["objectives"]["default"] == []
    assert PARAM_SCHEMAS["select"]["default"] == "knee"
    assert PARAM_SCHEMAS["pruner"]["default"] == "auto"
