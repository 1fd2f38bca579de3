import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from airsweep.config import SweepConfig, SweepConfigError, merged_space
from airsweep.models import available_families, get_family
from airsweep.space import grid_search_space, model_params, resolve_space, suggest


def test_defaults_become_distributions():
    space = resolve_space("xgboost", "classification")
    assert space["learning_rate"] == FloatDistribution(0.01, 0.3, log=True)
    assert space["max_depth"] == IntDistribution(2, 10)
    assert set(space) == set(get_family("xgboost").default_space("classification"))


def test_overrides_replace_only_the_named_parameter():
    space = resolve_space(
        "random_forest",
        "regression",
        {
            "max_depth": {"type": "categorical", "choices": [4, 8]},
            "n_estimators": {"type": "int", "low": 10, "high": 50, "step": 10},
        },
    )
    assert space["max_depth"] == CategoricalDistribution([4, 8])
    assert space["n_estimators"] == IntDistribution(10, 50, step=10)
    assert space["max_features"] == FloatDistribution(0.1, 1.0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"alpha": {"type": "float", "low": 2.0, "high": 1.0}},
            "search_space.ridge.alpha: low (2.0) is greater than high (1.0)",
        ),
        ({"beta": {"type": "float", "low": 1, "high": 2}}, "search_space.ridge.beta: unknown"),
        (
            {"alpha": {"type": "float", "low": 1, "high": 2, "q": 1}},
            "search_space.ridge.alpha: unknown key(s) q",
        ),
        ({"alpha": {"type": "categorical", "choices": []}}, "search_space.ridge.alpha: choices"),
        (
            {"alpha": {"type": "categorical", "choices": [1, 1]}},
            "search_space.ridge.alpha: choices must be distinct",
        ),
        (
            {"alpha": {"type": "float", "low": 1e-3, "high": 1, "log": True, "step": 0.1}},
            "search_space.ridge.alpha: step cannot",
        ),
        ({"alpha": 3}, "search_space.ridge.alpha: must be an object"),
    ],
)
def test_bad_overrides_name_the_field(overrides, message):
    with pytest.raises(SweepConfigError) as info:
        resolve_space("ridge", "regression", overrides)
    assert str(info.value).startswith(message), str(info.value)


def test_model_of_the_wrong_task_type_is_refused():
    with pytest.raises(SweepConfigError, match=r"^search_space\.ridge: ridge does not support"):
        resolve_space("ridge", "classification")


@pytest.mark.parametrize("name", available_families())
def test_family_defaults_are_valid_and_do_not_depend_on_the_task_type(name):
    family = get_family(name)
    spaces = [merged_space(name, task_type) for task_type in family.task_types]
    assert spaces[0]
    assert all(space == spaces[0] for space in spaces)


def test_suggest_prefixes_names_in_the_study_and_returns_plain_names():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    xgb = suggest(trial, "xgboost", resolve_space("xgboost", "classification"))
    rf = suggest(trial, "random_forest", resolve_space("random_forest", "classification"))
    assert set(trial.params) == {f"xgboost.{k}" for k in xgb} | {f"random_forest.{k}" for k in rf}
    assert trial.params["xgboost.max_depth"] == xgb["max_depth"]
    assert trial.params["random_forest.max_depth"] == rf["max_depth"]
    assert 2 <= xgb["max_depth"] <= 10
    assert model_params("xgboost", trial.params) == xgb


def test_grid_space_is_prefixed_and_enumerates_steps():
    config = SweepConfig.from_params(
        {
            "sampler": "grid",
            "models": ["random_forest"],
            "n_trials": 4,
            "search_space": {
                "random_forest": {
                    "n_estimators": {"type": "int", "low": 10, "high": 30, "step": 10},
                    "max_depth": {"type": "categorical", "choices": [None, 4]},
                    "min_samples_leaf": {"type": "int", "low": 1, "high": 1},
                    "max_features": {"type": "float", "low": 0.2, "high": 0.6, "step": 0.2},
                }
            },
        }
    )
    assert grid_search_space(config) == {
        "random_forest.n_estimators": [10, 20, 30],
        "random_forest.max_depth": [None, 4],
        "random_forest.min_samples_leaf": [1],
        "random_forest.max_features": [0.2, 0.4, 0.6],
    }
