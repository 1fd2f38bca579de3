import json
from collections import Counter

import pytest

from airsweep.config import SweepConfig
from airsweep.planning import plan_batches


def config(**params):
    return SweepConfig.from_params(params)


def model_totals(plan):
    totals = Counter()
    for batches in plan.values():
        for batch in batches:
            totals.update(batch["trials"])
    return dict(totals)


def test_auto_uses_one_batch_per_slot_on_each_queue():
    plan = plan_batches(config(n_trials=32), cpu_slots=4, gpu_slots=1)
    assert plan["cpu"] == [
        {"batch_index": i, "queue": "cpu", "trials": {"random_forest": 4}} for i in range(4)
    ]
    assert plan["gpu"] == [{"batch_index": 0, "queue": "gpu", "trials": {"xgboost": 16}}]


def test_auto_is_capped_by_max_parallel_and_by_the_trial_count():
    capped = plan_batches(config(n_trials=40, max_parallel=3), cpu_slots=64, gpu_slots=64)
    assert [sum(b["trials"].values()) for b in capped["cpu"]] == [7, 7, 6]
    few = plan_batches(config(n_trials=6), cpu_slots=16, gpu_slots=16)
    assert [b["trials"] for b in few["cpu"]] == [{"random_forest": 1}] * 3


def test_explicit_batch_size_gives_ceil_n_over_size_batches():
    plan = plan_batches(
        config(n_trials=17, batch_size=5, models=["random_forest"]), cpu_slots=1, gpu_slots=0
    )
    assert [b["trials"]["random_forest"] for b in plan["cpu"]] == [5, 4, 4, 4]
    assert plan["gpu"] == []


def test_a_side_without_models_is_empty_and_missing_slots_still_get_one_batch():
    plan = plan_batches(config(device={"xgboost": "cpu"}, n_trials=8), cpu_slots=0, gpu_slots=8)
    assert plan["gpu"] == []
    assert plan["cpu"] == [
        {"batch_index": 0, "queue": "cpu", "trials": {"random_forest": 4, "xgboost": 4}}
    ]


def test_models_sharing_a_queue_are_spread_over_every_batch():
    plan = plan_batches(
        config(models=["random_forest", "hist_gradient_boosting"], n_trials=12),
        cpu_slots=3,
        gpu_slots=0,
    )
    assert [b["trials"] for b in plan["cpu"]] == [
        {"random_forest": 2, "hist_gradient_boosting": 2}
    ] * 3


@pytest.mark.parametrize(
    ("params", "cpu_slots", "gpu_slots"),
    [
        ({"n_trials": 1024, "models": ["xgboost", "random_forest", "ridge"]}, 7, 2),
        ({"n_trials": 33, "models": ["xgboost", "random_forest"], "batch_size": 4}, 3, 3),
        ({"n_trials": 5, "models": ["linear", "ridge", "xgboost"], "max_parallel": 2}, 9, 1),
    ],
)
def test_trials_are_conserved_and_batches_are_balanced(params, cpu_slots, gpu_slots):
    cfg = config(**params)
    plan = plan_batches(cfg, cpu_slots, gpu_slots)
    assert model_totals(plan) == cfg.trials_per_model()
    for queue, batches in plan.items():
        sizes = [sum(b["trials"].values()) for b in batches]
        assert [b["batch_index"] for b in batches] == list(range(len(batches)))
        assert all(b["queue"] == queue for b in batches)
        assert all(sizes) and max(sizes) - min(sizes) <= 1
    assert json.loads(json.dumps(plan)) == plan
