import importlib.util

import optuna
import pytest

from airsweep.config import SweepConfig, SweepConfigError
from airsweep.search import make_pruner, make_sampler

GRID = {
    "sampler": "grid",
    "models": ["ridge"],
    "n_trials": 3,
    "search_space": {"ridge": {"alpha": {"type": "categorical", "choices": [0.1, 1.0, 10.0]}}},
}
ONE_MODEL = {"models": ["random_forest"]}


def first_params(sampler, trials=1):
    """Params of the last of ``trials`` trials asked from a fresh study (random startup)."""
    study = optuna.create_study(sampler=sampler)
    for _ in range(trials):
        trial = study.ask()
        params = trial.suggest_float("x", 0, 1), trial.suggest_int("y", 0, 10**6)
        study.tell(trial, params[0])
    return params


def test_tpe_is_the_default_with_todays_settings():
    tpe = make_sampler(SweepConfig.from_params({}))
    assert isinstance(tpe, optuna.samplers.TPESampler)
    assert tpe._multivariate and tpe._group and tpe._constant_liar
    assert tpe._n_startup_trials == 10


def test_tpe_options():
    options = {"n_startup_trials": 3, "multivariate": False, "constant_liar": False}
    tpe = make_sampler(SweepConfig.from_params({"sampler_options": options}))
    assert tpe._n_startup_trials == 3
    assert not tpe._multivariate and not tpe._group and not tpe._constant_liar


def test_random_and_grid():
    random = make_sampler(SweepConfig.from_params({"sampler": "random"}))
    assert isinstance(random, optuna.samplers.RandomSampler)
    assert isinstance(make_sampler(SweepConfig.from_params(GRID)), optuna.samplers.GridSampler)


def test_qmc_takes_its_options_and_one_seed_in_every_runner():
    params = {**ONE_MODEL, "sampler": "qmc", "sampler_options": {"qmc_type": "halton"}}
    config = SweepConfig.from_params({**params, "sampler_options": {"scramble": True}})
    qmc = make_sampler(config, stream="run/cpu/0/1")
    assert isinstance(qmc, optuna.samplers.QMCSampler) and qmc._scramble
    assert qmc._seed == make_sampler(config, stream="run/cpu/1/1")._seed == config.seed
    halton = make_sampler(SweepConfig.from_params(params))
    assert halton._qmc_type == "halton" and not halton._scramble


@pytest.mark.parametrize(
    ("name", "module", "options", "cls"),
    [
        ("cmaes", "cmaes", {"n_startup_trials": 4}, "CmaEsSampler"),
        ("gp", "torch", {"n_startup_trials": 4, "deterministic_objective": True}, "GPSampler"),
    ],
)
def test_samplers_with_a_dependency_are_built_or_refused(name, module, options, cls):
    params = {**ONE_MODEL, "sampler": name, "sampler_options": options}
    if importlib.util.find_spec(module) is None:
        with pytest.raises(SweepConfigError, match=f"^sampler: {name} needs .*'{module}'.*use tpe"):
            SweepConfig.from_params(params)
    else:
        sampler = make_sampler(SweepConfig.from_params(params), stream="run/cpu/0/1")
        assert isinstance(sampler, getattr(optuna.samplers, cls))
        assert sampler._n_startup_trials == 4


def test_streams_give_distinct_but_reproducible_seeds():
    config = SweepConfig.from_params({"sampler": "random"})
    a = first_params(make_sampler(config, stream="run/cpu/0/1"))
    assert a == first_params(make_sampler(config, stream="run/cpu/0/1"))
    assert a != first_params(make_sampler(config, stream="run/cpu/1/1"))
    assert first_params(make_sampler(config)) == first_params(make_sampler(config))
    tpe = SweepConfig.from_params({})  # 11th trial: past TPE's random startup
    b = first_params(make_sampler(tpe, stream="run/cpu/0/1"), trials=11)
    assert b != first_params(make_sampler(tpe, stream="run/cpu/1/1"), trials=11)


@pytest.mark.parametrize(
    ("params", "cls", "settings"),
    [
        ({}, optuna.pruners.MedianPruner, {"_n_startup_trials": 5, "_n_warmup_steps": 0}),
        (
            {"pruner": "median", "pruner_options": {"n_warmup_steps": 1, "interval_steps": 2}},
            optuna.pruners.MedianPruner,
            {"_n_startup_trials": 5, "_n_warmup_steps": 1, "_interval_steps": 2},
        ),
        ({"pruner": "none"}, optuna.pruners.NopPruner, {}),
        (
            {"pruner": "percentile", "pruner_options": {"percentile": 10}},
            optuna.pruners.PercentilePruner,
            {"_percentile": 10},
        ),
        (
            {"pruner": "successive_halving"},
            optuna.pruners.SuccessiveHalvingPruner,
            {"_min_resource": 1, "_reduction_factor": 4},
        ),
        (
            {"pruner": "hyperband", "cv_folds": 9, "pruner_options": {"reduction_factor": 2}},
            optuna.pruners.HyperbandPruner,
            {"_min_resource": 1, "_max_resource": 9, "_reduction_factor": 2},
        ),
    ],
)
def test_pruners_follow_the_config(params, cls, settings):
    pruner = make_pruner(SweepConfig.from_params(params))
    assert type(pruner) is cls
    assert {key: getattr(pruner, key) for key in settings} == settings
