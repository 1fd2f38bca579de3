from collections import Counter

import pytest
from optuna.trial import TrialState, create_trial

from airsweep.budget import WORKER_LOST, Usage, choose, is_lost, usage


def trial(state, model="rf", error=None):
    attrs = {"model": model}
    if error:
        attrs["error"] = error
    value = 1.0 if state == TrialState.COMPLETE else None
    return create_trial(state=state, value=value, user_attrs=attrs)


def test_usage_counts_finished_and_running_but_not_lost_trials():
    trials = [
        trial(TrialState.COMPLETE),
        trial(TrialState.PRUNED, "xgb"),
        trial(TrialState.FAIL, error="ValueError: bad C"),
        trial(TrialState.FAIL, error=f"{WORKER_LOST}: no heartbeat for 20s"),
        trial(TrialState.RUNNING, "xgb"),
        trial(TrialState.WAITING),
    ]
    used = usage(trials)
    assert (used.finished, used.running, used.lost, used.used) == (3, 2, 1, 5)
    assert used.by_model == Counter({"rf": 3, "xgb": 2})
    assert is_lost(trials[3]) and not is_lost(trials[2])


def test_no_trial_is_taken_once_the_counted_trials_reach_the_budget():
    full = Usage(finished=6, running=2, by_model=Counter({"rf": 8}))
    assert choose(full, 8, ["rf"], "adaptive", {"rf": 8}, 2).take is False
    assert choose(full, 8, ["rf"], "adaptive", {"rf": 8}, 2).reason == "budget spent (n_trials=8)"
    assert choose(full, 9, ["rf"], "adaptive", {"rf": 9}, 2).take is True


def test_a_runner_waits_while_running_trials_hold_the_last_places():
    running = Usage(finished=6, running=2, by_model=Counter({"rf": 8}))
    done = Usage(finished=8, by_model=Counter({"rf": 8}))
    assert choose(running, 8, ["rf"], "adaptive", {}, 2).wait is True
    assert choose(done, 8, ["rf"], "adaptive", {}, 2).wait is False
    quotas = {"rf": 4, "lr": 4}
    assert choose(running, 16, ["rf"], "even", quotas, 1).wait is True
    assert choose(done, 16, ["rf"], "even", quotas, 1).wait is False


@pytest.mark.parametrize(
    ("by_model", "expected"),
    [
        ({}, "rf"),  # ties go to the first family
        ({"rf": 1}, "xgb"),
        ({"rf": 2, "xgb": 1}, "xgb"),
        ({"rf": 2, "xgb": 2}, None),  # every family has its minimum: the sampler chooses
        ({"rf": 9, "xgb": 2}, None),
    ],
)
def test_adaptive_forces_the_family_furthest_below_its_minimum(by_model, expected):
    used = Usage(finished=sum(by_model.values()), by_model=Counter(by_model))
    choice = choose(used, 20, ["rf", "xgb"], "adaptive", {}, 2)
    assert (choice.take, choice.model) == (True, expected)


def test_even_fills_each_family_to_its_quota_and_stops_a_queue_when_its_quotas_are_met():
    quotas = {"rf": 2, "xgb": 1, "lr": 1}
    used = Usage(finished=2, by_model=Counter({"rf": 1, "lr": 1}))
    assert choose(used, 4, ["rf", "lr"], "even", quotas, 1).model == "rf"
    done = Usage(finished=3, by_model=Counter({"rf": 2, "lr": 1}))
    refused = choose(done, 4, ["rf", "lr"], "even", quotas, 1)
    assert refused.take is False and "quotas" in refused.reason
    assert choose(done, 4, ["xgb"], "even", quotas, 1).model == "xgb"


def test_a_single_family_is_always_named():
    assert choose(Usage(), 5, ["rf"], "adaptive", {}, 1).model == "rf"
