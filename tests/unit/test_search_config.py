"""Config checks of sampler, sampler_options, pruner and pruner_options."""

import importlib.util

import jsonschema
import pytest

from airsweep.config import PARAM_SCHEMAS, PRUNERS, SAMPLERS, SweepConfig, SweepConfigError

RF = {"models": ["random_forest"]}
LINEAR = {"models": ["linear"], "dataset": "diabetes"}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("sampler", "bayes"),
        ("sampler_options", {"n_trials": 3}),
        ("sampler_options", {"scramble": "yes"}),
        ("sampler_options", {"n_startup_trials": -1}),
        ("sampler_options", {"qmc_type": "lattice"}),
        ("pruner", "asha"),
        ("pruner_options", {"patience": 2}),
        ("pruner_options", {"percentile": 101}),
        ("pruner_options", {"reduction_factor": 1}),
        ("pruner_options", {"interval_steps": 1.5}),
    ],
)
def test_schemas_refuse_at_trigger_time(name, value):
    schema = {k: v for k, v in PARAM_SCHEMAS[name].items() if k != "default"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(value, schema)


def test_catalog():
    assert SAMPLERS == ("tpe", "random", "grid", "cmaes", "qmc", "gp")
    assert PRUNERS == ("auto", "none", "median", "percentile", "successive_halving", "hyperband")
    config = SweepConfig.from_params({})
    assert (config.sampler, config.sampler_options) == ("tpe", {})
    # pruner auto: the median pruner between CV folds, for every family
    assert (config.pruner, config.pruner_options) == ("median", {"steps": "folds"})
    assert SweepConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"sampler_options": {"n_trials": 3}}, "sampler_options.n_trials: unknown key; known: "),
        (
            {"sampler_options": {"scramble": True}},
            "sampler_options.scramble: not an option of sampler tpe; its options: "
            "n_startup_trials, multivariate, constant_liar",
        ),
        (
            {"sampler": "random", "sampler_options": {"n_startup_trials": 3}},
            "sampler_options.n_startup_trials: not an option of sampler random; its options: none",
        ),
        (
            {"sampler_options": {"multivariate": "yes"}},
            "sampler_options.multivariate: 'yes' is not of type 'boolean'",
        ),
        (
            {"pruner": "median", "pruner_options": {"percentile": 10}},
            "pruner_options.percentile: not an option of pruner median; its options: "
            "n_startup_trials, n_warmup_steps, interval_steps",
        ),
        (
            {"pruner": "none", "pruner_options": {"n_startup_trials": 10}},
            "pruner_options.n_startup_trials: not an option of pruner none",
        ),
        (
            {"pruner": "hyperband", "pruner_options": {"n_warmup_steps": 1}},
            "pruner_options.n_warmup_steps: not an option of pruner hyperband",
        ),
        ({"pruner_options": {"n_warmup_steps": -1}}, "pruner_options.n_warmup_steps: -1 is less"),
        ({"pruner": "asha"}, "pruner: 'asha' is not one of"),
        ({"sampler": "qmc"}, "sampler: qmc models the parameters that every trial shares"),
        ({"sampler": "cmaes"}, "sampler: cmaes models the parameters that every trial shares"),
        ({"sampler": "gp"}, "sampler: gp models the parameters that every trial shares"),
        (
            {**LINEAR, "sampler": "cmaes"},
            "sampler: cmaes models only int and float ranges, and every parameter of "
            "search_space.linear is categorical or fixed",
        ),
        (
            {
                **RF,
                "sampler": "cmaes",
                "search_space": {
                    "random_forest": {
                        "n_estimators": {"type": "categorical", "choices": [10, 20]},
                        "max_depth": {"type": "int", "low": 4, "high": 4},
                        "min_samples_leaf": {"type": "categorical", "choices": [1, 2]},
                        "max_features": {"type": "categorical", "choices": [0.5, 1.0]},
                    }
                },
            },
            "sampler: cmaes models only int and float ranges",
        ),
        ({**RF, "sampler": "grid"}, "search_space.random_forest.max_features: the grid sampler"),
    ],
)
def test_invalid_strategies_raise_an_error_naming_the_field(params, message):
    with pytest.raises(SweepConfigError) as info:
        SweepConfig.from_params(params)
    assert str(info.value).startswith(message), str(info.value)


def test_gp_without_pytorch_is_refused_naming_it():
    if importlib.util.find_spec("torch") is not None:
        pytest.skip("PyTorch is installed here")
    with pytest.raises(SweepConfigError) as info:
        SweepConfig.from_params({**RF, "sampler": "gp"})
    assert str(info.value) == (
        "sampler: gp needs PyTorch ('torch'), which is not installed in this cluster; use tpe"
    )


@pytest.mark.parametrize(
    "params",
    [
        {**RF, "sampler": "qmc", "sampler_options": {"qmc_type": "halton", "scramble": True}},
        {"sampler": "tpe", "sampler_options": {"n_startup_trials": 0, "constant_liar": False}},
        {"pruner": "none"},
        {"pruner": "percentile", "pruner_options": {"percentile": 10, "n_startup_trials": 2}},
        {"pruner": "successive_halving", "pruner_options": {"reduction_factor": 2}},
        {"pruner": "hyperband", "pruner_options": {"min_resource": 1, "reduction_factor": 2}},
    ],
)
def test_valid_strategies_are_accepted(params):
    config = SweepConfig.from_params(params)
    assert config.sampler_options == params.get("sampler_options", {})
    if "pruner" in params:
        assert config.pruner_options == params.get("pruner_options", {})
