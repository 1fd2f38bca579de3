import pytest

from airsweep.config import SweepConfig
from airsweep.planning import plan_runners, resolve_devices, runner_limit


def config(**params):
    return SweepConfig.from_params(params)


def test_auto_trains_on_the_gpu_queue_only_when_a_live_gpu_worker_has_cuda():
    cfg = config(models=["random_forest", "xgboost"])
    assert cfg.device == {"random_forest": "cpu", "xgboost": "auto"}
    assert resolve_devices(cfg, gpu_usable=False) == {"random_forest": "cpu", "xgboost": "cpu"}
    assert resolve_devices(cfg, gpu_usable=True) == {"random_forest": "cpu", "xgboost": "gpu"}
    explicit = config(models=["xgboost"], device={"xgboost": "gpu"})
    assert resolve_devices(explicit, gpu_usable=False) == {"xgboost": "gpu"}


def test_each_queue_maps_max_parallel_runners_of_its_families():
    cfg = config(models=["random_forest", "xgboost"], n_trials=64, max_parallel=8)
    plan = plan_runners(cfg, {"random_forest": "cpu", "xgboost": "gpu"})
    assert plan["cpu"] == [{"queue": "cpu", "models": ["random_forest"]}] * 8
    assert plan["gpu"] == [{"queue": "gpu", "models": ["xgboost"]}] * 8
    together = plan_runners(cfg, {"random_forest": "cpu", "xgboost": "cpu"})
    assert together["cpu"] == [{"queue": "cpu", "models": ["random_forest", "xgboost"]}] * 8
    assert together["gpu"] == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"n_trials": 3, "max_parallel": 16}, 3),  # never more runners than trials
        ({"n_trials": 10_000, "max_parallel": 256}, 256),
        ({"n_trials": 100}, 4),  # auto: at least 4 ...
        ({"n_trials": 9, "model_budget": "even", "max_parallel": 16}, 4),  # rf's quota: 4 of 9
    ],
)
def test_runner_count(params, expected):
    cfg = config(models=["xgboost", "random_forest"], **params)
    plan = plan_runners(cfg, {"xgboost": "gpu", "random_forest": "cpu"})
    assert len(plan["cpu"]) == expected


def test_auto_maps_twice_the_live_slots_of_each_queue():
    cfg = config(models=["random_forest", "xgboost"], n_trials=100)
    assert (runner_limit(cfg, 0), runner_limit(cfg, 2), runner_limit(cfg, 8)) == (4, 4, 16)
    plan = plan_runners(cfg, {"random_forest": "cpu", "xgboost": "gpu"}, {"cpu": 6, "gpu": 1})
    assert (len(plan["cpu"]), len(plan["gpu"])) == (12, 4)
    assert runner_limit(config(max_parallel=3), 8) == 3
