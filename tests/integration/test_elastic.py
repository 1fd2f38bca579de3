"""Elastic sweeps on the real cluster: one shared budget that added workers join and
dead workers give back (issue "Elastic, self-healing sweeps")."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from optuna.trial import TrialState

from airsweep.budget import WORKER_LOST, is_lost
from airsweep.cluster.supervisor import Supervisor
from tests.integration.conftest import SWEEP
from tests.integration.sweep_checks import (
    assert_exact_budget,
    counted,
    kill_tree,
    scale,
    trials_of,
    wait,
)

pytestmark = pytest.mark.integration

#: Random forests of about a second per trial on breast_cancer (3 folds, one thread).
#: One point of the space: every trial does the same work and ties, so none is pruned.
FOREST = {
    "dataset": "breast_cancer",
    "models": ["random_forest"],
    "cv_folds": 3,
    "search_space": {
        "random_forest": {
            "n_estimators": {"type": "int", "low": 150, "high": 150},
            "max_depth": {"type": "int", "low": 6, "high": 6},
            "min_samples_leaf": {"type": "int", "low": 1, "high": 1},
            "max_features": {"type": "categorical", "choices": ["sqrt"]},
        }
    },
}


@pytest.fixture(scope="module")
def one_cpu_worker(cluster):
    """Start with the session's single cpu worker; leave it that way for the other modules."""
    scale(cluster, 1)
    yield cluster
    scale(cluster, 1)


def test_a_worker_added_mid_sweep_runs_its_share_of_the_trials(one_cpu_worker):
    cluster = one_cpu_worker
    # About 50 s of trials on 2 slots: a worker added after the first trial (it starts
    # in about 15 s on a busy 2-core host) shares the rest.
    conf = {**FOREST, "n_trials": 96}
    run_id = cluster.trigger(conf)
    wait(lambda: len(counted(trials_of(cluster, run_id))) >= 1, 300, "the first trial")
    scale(cluster, 2)
    run = cluster.client.wait_for_run(SWEEP, run_id, timeout_s=900)
    assert run["state"] == "success"
    trials = trials_of(cluster, run_id)
    assert_exact_budget(trials, 96)
    by_worker = Counter(t.user_attrs["placement"]["worker"] for t in counted(trials))
    assert by_worker["worker-cpu-2"] >= 96 / 4, by_worker
    pools = {p["name"]: p["slots"] for p in cluster.client.request("GET", "/pools")["pools"]}
    assert pools["cpu_trials"] == 4


def test_the_budget_is_exact_over_many_concurrent_runners(one_cpu_worker):
    cluster = one_cpu_worker
    scale(cluster, 2)
    conf = {
        "dataset": "iris",
        "models": ["logistic_regression"],
        "n_trials": 200,
        "cv_folds": 2,
    }
    run_id = cluster.trigger(conf)
    run = cluster.client.wait_for_run(SWEEP, run_id, timeout_s=900)
    assert run["state"] == "success"
    trials = trials_of(cluster, run_id)
    assert_exact_budget(trials, 200)
    assert len(trials) == 200
    spans: dict[tuple, list] = {}
    for trial in trials:
        where = trial.user_attrs["placement"]
        key = (where["worker"], where["map_index"], where["try_number"])
        span = spans.setdefault(key, [trial.datetime_start, trial.datetime_complete])
        span[0], span[1] = min(span[0], trial.datetime_start), max(span[1], trial.datetime_complete)
    peak = max(sum(1 for s, e in spans.values() if s <= start < e) for start, _ in spans.values())
    assert len(spans) >= 4 and peak >= 4, (len(spans), peak)


def test_a_killed_worker_costs_about_a_minute_and_no_trial(one_cpu_worker):
    cluster = one_cpu_worker
    scale(cluster, 2)
    conf = {**FOREST, "n_trials": 24}

    started = time.monotonic()
    calm = cluster.trigger(conf)
    assert cluster.client.wait_for_run(SWEEP, calm, timeout_s=900)["state"] == "success"
    undisturbed = time.monotonic() - started

    started = time.monotonic()
    run_id = cluster.trigger(conf)

    def running_on_victim():
        return any(
            t.state == TrialState.RUNNING
            and t.user_attrs.get("placement", {}).get("worker") == "worker-cpu-2"
            for t in trials_of(cluster, run_id)
        )

    wait(running_on_victim, 300, "a trial running on worker-cpu-2")
    pid = Supervisor(cluster.cfg).states()["worker-cpu-2"]["pid"]
    assert kill_tree(pid) >= 2  # the Celery worker and its pool processes
    run = cluster.client.wait_for_run(SWEEP, run_id, timeout_s=900)
    disturbed = time.monotonic() - started

    assert run["state"] == "success"
    trials = trials_of(cluster, run_id)
    assert_exact_budget(trials, 24)
    lost = [t for t in trials if is_lost(t)]
    assert lost, "the killed worker's running trial must be failed as lost"
    assert all(t.user_attrs["error"].startswith(WORKER_LOST) for t in lost)
    assert all(t.user_attrs["placement"]["worker"] == "worker-cpu-2" for t in lost)
    assert disturbed <= undisturbed + 90, (disturbed, undisturbed)
    wait(
        lambda: Supervisor(cluster.cfg).states()["worker-cpu-2"]["statename"] == "RUNNING",
        120,
        "supervisor to restart worker-cpu-2",
    )


def test_the_adaptive_budget_favours_the_better_family(one_cpu_worker):
    cluster = one_cpu_worker
    conf = {
        "dataset": "breast_cancer",
        "models": ["random_forest", "logistic_regression"],
        "n_trials": 30,
        "cv_folds": 2,
        # Regularized to uselessness: predicts the majority class (about 0.63).
        "search_space": {
            "random_forest": {"n_estimators": {"type": "int", "low": 20, "high": 40}},
            "logistic_regression": {"C": {"type": "float", "low": 1e-6, "high": 1e-5, "log": True}},
        },
    }
    run_id = cluster.trigger(conf)
    assert cluster.client.wait_for_run(SWEEP, run_id, timeout_s=900)["state"] == "success"
    trials = counted(trials_of(cluster, run_id))
    models = Counter(t.user_attrs["model"] for t in trials)
    assert models["random_forest"] > 15, models
    assert models["logistic_regression"] >= 3  # its minimum before the sampler chooses
