"""Warm start on the real cluster: a second sweep seeded with a first one's COMPLETE trials
runs exactly its own ``n_trials`` new trials; a first sweep on other data is refused in
setup, once (issue 11, point 5)."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from airsweep.budget import WARM_START_FROM
from airsweep.follow import task_error
from airsweep.warm_start import SOURCE_TRIAL
from tests.integration.conftest import SWEEP
from tests.integration.sweep_checks import assert_exact_budget, study_of, trials_of

pytestmark = pytest.mark.integration

FIRST = {
    "dataset": "iris",
    "models": ["random_forest", "logistic_regression"],
    "n_trials": 6,
    "cv_folds": 2,
    "search_space": {"random_forest": {"n_estimators": {"type": "int", "low": 5, "high": 20}}},
}


def test_a_warm_started_sweep_runs_n_trials_new_trials_besides_the_copied_ones(cluster):
    first = cluster.trigger(FIRST)
    assert cluster.client.wait_for_run(SWEEP, first, timeout_s=600)["state"] == "success"
    earlier = [t.number for t in trials_of(cluster, first) if t.state == TrialState.COMPLETE]
    assert earlier

    second = cluster.trigger({**FIRST, "n_trials": 3, "warm_start_from": first})
    wine = {"dataset": "wine", "models": ["logistic_regression"], "n_trials": 2}
    refused = cluster.trigger({**wine, "warm_start_from": first})

    assert cluster.client.wait_for_run(SWEEP, second, timeout_s=600)["state"] == "success"
    found = trials_of(cluster, second)
    seeded = [t for t in found if WARM_START_FROM in t.user_attrs]
    assert sorted(t.user_attrs[SOURCE_TRIAL] for t in seeded) == earlier
    assert {t.user_attrs[WARM_START_FROM] for t in seeded} == {first}
    assert_exact_budget([t for t in found if WARM_START_FROM not in t.user_attrs], 3)
    summary = cluster.client.xcom(SWEEP, second, "finalize")
    assert summary["warm_start"] == {
        "from": first,
        "copied": len(earlier),
        "skipped": 0,
        "reasons": {},
    }
    assert summary["trials"]["complete"] >= len(earlier)

    assert cluster.client.wait_for_run(SWEEP, refused, timeout_s=300)["state"] == "failed"
    tis = {ti["task_id"]: ti for ti in cluster.client.task_instances(SWEEP, refused)}
    assert tis["setup"]["state"] == "failed"
    assert tis["setup"]["try_number"] == 1, "bad input must not be retried"
    error = task_error(cluster.client, refused, tis["setup"])
    assert f"warm_start_from: run '{first}' swept other data" in error
    with pytest.raises(KeyError):
        study_of(cluster, refused)
