import json

import jsonschema
import pytest

from airsweep.config import (
    PARAM_SCHEMAS,
    SweepConfig,
    SweepConfigError,
    metric_direction,
    resolve_metric,
)


def test_every_param_default_validates_against_its_own_schema():
    for name, spec in PARAM_SCHEMAS.items():
        schema = {k: v for k, v in spec.items() if k != "default"}
        # jsonschema.validate, as Airflow calls it, picks the validator from "$schema"
        assert jsonschema.validators.validator_for(schema) is jsonschema.Draft7Validator
        jsonschema.Draft7Validator.check_schema(schema)
        jsonschema.validate(spec["default"], schema)
        assert spec["description"], name


def test_schemas_reject_what_airflow_should_refuse_at_trigger_time():
    cases = {
        "n_trials": 0,
        "models": ["random_forest", "random_forest"],
        "metric": "auc",
        "device": {"xgboost": "tpu"},
        "model_budget": "greedy",
        "max_parallel": 257,
        "dataset": "data.txt",
        "search_space": {"xgboost": {"max_depth": {"type": "int", "low": 1}}},
        "csv_options": {"delimiter": ";"},
    }
    for name, value in cases.items():
        schema = {k: v for k, v in PARAM_SCHEMAS[name].items() if k != "default"}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(value, schema)


def test_defaults_resolve_devices_and_auto_metric():
    config = SweepConfig.from_params({})
    assert config.models == ("random_forest", "xgboost")
    assert config.device == {"random_forest": "cpu", "xgboost": "auto"}
    assert config.metric == "auto"
    assert config.task_types() == ("classification", "regression")
    assert config.model_budget == "adaptive"
    assert config.max_parallel == "auto"
    assert config.synthetic["informative"] == 10


def test_dict_round_trip_through_json():
    config = SweepConfig.from_params(
        {
            "models": ["xgboost", "hist_gradient_boosting"],
            "search_space": {"xgboost": {"max_depth": {"type": "categorical", "choices": [3, 5]}}},
            "device": {"xgboost": "cpu"},
            "metric": None,
            "model_budget": "even",
        }
    )
    again = SweepConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    assert again.device == {"xgboost": "cpu", "hist_gradient_boosting": "cpu"}


@pytest.mark.parametrize(
    ("metric", "task_type", "resolved", "direction"),
    [
        ("auto", "classification", "accuracy", "maximize"),
        (None, "regression", "rmse", "minimize"),
        ("log_loss", "classification", "log_loss", "minimize"),
        ("r2", "regression", "r2", "maximize"),
    ],
)
def test_metric_and_direction_resolve_after_the_task_type(metric, task_type, resolved, direction):
    assert resolve_metric(metric, task_type) == resolved
    assert metric_direction(resolved) == direction
    config = SweepConfig.from_params({"metric": metric, "models": ["random_forest"]})
    assert config.direction_for(task_type) == direction


def test_resolve_metric_rejects_a_metric_of_the_other_task():
    with pytest.raises(SweepConfigError, match=r"^metric: mae is a regression metric"):
        resolve_metric("mae", "classification")


@pytest.mark.parametrize(
    ("params", "task_types"),
    [
        ({"metric": "rmse"}, ("regression",)),
        ({"models": ["logistic_regression"]}, ("classification",)),
        ({"dataset": "synthetic", "synthetic": {"classes": 0}}, ("regression",)),
        ({"task_type": "regression", "models": ["ridge", "random_forest"]}, ("regression",)),
    ],
)
def test_task_types_narrow_by_metric_models_and_dataset(params, task_types):
    assert SweepConfig.from_params(params).task_types() == task_types


def test_trials_split_evenly_earlier_models_get_the_remainder():
    config = SweepConfig.from_params(
        {"models": ["xgboost", "random_forest", "hist_gradient_boosting"], "n_trials": 10}
    )
    assert config.trials_per_model() == {
        "xgboost": 4,
        "random_forest": 3,
        "hist_gradient_boosting": 3,
    }


@pytest.mark.parametrize(
    ("dataset", "name"),
    [
        ("iris", "iris"),
        ("synthetic", "synthetic"),
        ("s3://bucket/dir/housing.csv.gz", "housing"),
        ("/data/sales.parquet", "sales"),
        ("file:///tmp/x/train.csv", "train"),
    ],
)
def test_dataset_short_name(dataset, name):
    target = None if name in ("iris", "synthetic") else "y"
    assert SweepConfig.from_params({"dataset": dataset, "target": target}).dataset_name == name


GRID_RF_FINITE = {
    "n_estimators": {"type": "categorical", "choices": [10, 20]},
    "max_depth": {"type": "int", "low": 2, "high": 3},
    "min_samples_leaf": {"type": "categorical", "choices": [1]},
    "max_features": {"type": "float", "low": 0.5, "high": 1.0, "step": 0.5},
}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"colour": "red"}, "colour: unknown parameter"),
        ({"models": ["catboost"]}, "models.0: 'catboost' is not one of"),
        ({"models": []}, "models: [] should be non-empty"),
        ({"metric": "auc"}, "metric: 'auc' is not one of"),
        (
            {"metric": "rmse", "task_type": "classification"},
            "metric: rmse supports only regression, which conflicts with task_type=classification",
        ),
        (
            {"models": ["ridge"], "task_type": "classification"},
            "models: ridge supports only regression, which conflicts with task_type=classification",
        ),
        (
            {"models": ["linear"], "metric": "accuracy"},
            "models: linear supports only regression, which conflicts with metric accuracy",
        ),
        (
            {"models": ["ridge", "logistic_regression"]},
            "models: logistic_regression supports only classification, which conflicts with "
            "model ridge",
        ),
        (
            {"search_space": {"xgboost": {"max_depth": {"type": "int", "low": 10, "high": 3}}}},
            "search_space.xgboost.max_depth: low (10) is greater than high (3)",
        ),
        (
            {"search_space": {"xgboost": {"depth": {"type": "int", "low": 1, "high": 3}}}},
            "search_space.xgboost.depth: unknown key; known: n_estimators, max_depth",
        ),
        (
            {"models": ["xgboost"], "search_space": {"random_forest": {}}},
            "search_space.random_forest: random_forest is not in models",
        ),
        (
            {"search_space": {"xgboost": {"max_depth": {"type": "float", "low": 1, "high": 3}}}},
            "search_space.xgboost.max_depth: type float does not fit this int parameter",
        ),
        (
            {
                "search_space": {
                    "xgboost": {
                        "learning_rate": {"type": "float", "low": 0, "high": 1, "log": True}
                    }
                }
            },
            "search_space.xgboost.learning_rate: a log scale needs low > 0",
        ),
        (
            {"search_space": {"xgboost": {"max_depth": {"type": "int", "low": 1}}}},
            "search_space.xgboost.max_depth: ",
        ),
        (
            {"sampler": "grid"},
            "sampler: grid searches one model per sweep (got 2 models)",
        ),
        (
            {"sampler": "grid", "models": ["random_forest"], "n_trials": 2},
            "search_space.random_forest.",
        ),
        (
            {
                "sampler": "grid",
                "models": ["random_forest"],
                "search_space": {"random_forest": {"max_features": GRID_RF_FINITE["max_features"]}},
            },
            "search_space.random_forest: the grid has 435240 points (limit 100000)",
        ),
        (
            {
                "sampler": "grid",
                "models": ["random_forest"],
                "n_trials": 9,
                "search_space": {"random_forest": GRID_RF_FINITE},
            },
            "n_trials: 9 exceeds the 8 points of the grid",
        ),
        (
            {"models": ["random_forest"], "device": {"xgboost": "gpu"}},
            "device.xgboost: xgboost is not in models",
        ),
        ({"device": {"random_forest": "gpu"}}, "device.random_forest: random_forest has no GPU"),
        ({"device": {"catboost": "gpu"}}, "device.catboost: unknown key"),
        ({"device": {"xgboost": "tpu"}}, "device.xgboost: 'tpu' is not one of"),
        ({"dataset": "/data/train.csv"}, "target: required for the file dataset"),
        ({"dataset": "iris", "target": "species"}, "target: only used with a file dataset"),
        ({"dataset": "data.xlsx", "target": "y"}, "dataset: 'data.xlsx' is not valid"),
        (
            {"dataset": "d.csv", "target": "y", "csv_options": {"delimiter": ";"}},
            "csv_options.delimiter: unknown key; known: sep, encoding, decimal, thousands, "
            "na_values",
        ),
        (
            {"dataset": "d.csv", "target": "y", "csv_options": {"sep": ";;"}},
            "csv_options.sep: ';;' is too long",
        ),
        (
            {"dataset": "d.csv", "target": "y", "csv_options": {"na_values": "NA"}},
            "csv_options.na_values: 'NA' is not of type 'array'",
        ),
        (
            {"dataset": "d.csv", "target": "y", "csv_options": {"encoding": "utf-9"}},
            "csv_options.encoding: 'utf-9' is not a text encoding Python knows",
        ),
        (
            {"dataset": "d.csv", "target": "y", "csv_options": {"encoding": "base64"}},
            "csv_options.encoding: 'base64' is not a text encoding Python knows",
        ),
        (
            {"dataset": "d.csv", "target": "y", "csv_options": {"sep": "\n"}},
            "csv_options.sep: '\\n' ends rows or quotes fields",
        ),
        (
            {"dataset": "d.csv", "target": "y", "csv_options": {"thousands": "."}},
            "csv_options.thousands: '.' is also the decimal mark",
        ),
        ({"csv_options": {"sep": ";"}}, "csv_options: only used with a .csv or .csv.gz dataset"),
        (
            {"dataset": "d.parquet", "target": "y", "csv_options": {"sep": ";"}},
            "csv_options: only used with a .csv or .csv.gz dataset, not 'd.parquet'",
        ),
        ({"n_trials": 0}, "n_trials: 0 is less than the minimum of 1"),
        ({"n_trials": 10_001}, "n_trials: 10001 is greater than the maximum of 10000"),
        ({"n_trials": 1}, "n_trials: 1 is fewer than the 2 models"),
        ({"cv_folds": 1}, "cv_folds: 1 is less than the minimum of 2"),
        ({"test_size": 0.9}, "test_size: 0.9 is greater than the maximum of 0.5"),
        ({"sampler": "bayes"}, "sampler: 'bayes' is not one of"),
        ({"gpu_fallback": "maybe"}, "gpu_fallback: 'maybe' is not one of"),
        ({"model_budget": "greedy"}, "model_budget: 'greedy' is not one of"),
        ({"device": {"random_forest": "gpu"}}, "device.random_forest: random_forest has no GPU"),
        ({"max_parallel": 0}, "max_parallel: 0 is less than the minimum of 1"),
        ({"trial_timeout_s": 0}, "trial_timeout_s: 0 is less than the minimum of 1"),
        ({"synthetic": {"features": 5, "informative": 6}}, "synthetic.informative: 6 exceeds"),
        ({"synthetic": {"classes": 1}}, "synthetic.classes: 1 is not allowed"),
        (
            {"synthetic": {"classes": 9, "informative": 3}},
            "synthetic.classes: 9 classes need at least 4 informative features",
        ),
        ({"synthetic": {"rows": 5}}, "synthetic.rows: 5 is less than the minimum of 20"),
        ({"synthetic": {"colour": 1}}, "synthetic.colour: unknown key"),
        (
            {"dataset": "synthetic", "synthetic": {"classes": 0}, "metric": "accuracy"},
            "metric: accuracy supports only classification, which conflicts with dataset "
            "synthetic with classes=0",
        ),
    ],
)
def test_invalid_params_raise_an_error_naming_the_field(params, message):
    with pytest.raises(SweepConfigError) as info:
        SweepConfig.from_params(params)
    assert str(info.value).startswith(message), str(info.value)


def test_a_finite_grid_of_one_model_is_accepted():
    config = SweepConfig.from_params(
        {
            "sampler": "grid",
            "models": ["random_forest"],
            "n_trials": 8,
            "search_space": {"random_forest": GRID_RF_FINITE},
        }
    )
    assert config.sampler == "grid"
    assert config.trials_per_model() == {"random_forest": 8}


def test_csv_options_are_kept_and_default_to_none():
    assert SweepConfig.from_params({}).csv_options == {}
    options = {"sep": "\t", "encoding": "cp1252", "decimal": ",", "na_values": ["?", "n/a"]}
    config = SweepConfig.from_params(
        {"dataset": "s3://b/d.csv.gz", "target": "y", "csv_options": options}
    )
    assert config.csv_options == options
    assert SweepConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
