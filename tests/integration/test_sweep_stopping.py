"""Stopping rules on the real cluster: a sweep with a budget far larger than its
``timeout_s`` stops taking trials on time, finishes its running trials, stores the best
model and says why it stopped (issue 11, third point)."""

from __future__ import annotations

import time

import pytest

from airsweep.artifacts import ArtifactStore
from airsweep.follow import final_report
from airsweep.stopping import STARTED_AT, STOP_REASON
from tests.integration.conftest import SWEEP
from tests.integration.sweep_checks import counted, study_of

pytestmark = pytest.mark.integration

TIMEOUT_S = 20
#: Logistic regressions of a fraction of a second: 10,000 of them would take hours.
CONF = {
    "dataset": "breast_cancer",
    "models": ["logistic_regression"],
    "n_trials": 10_000,
    "cv_folds": 2,
    "timeout_s": TIMEOUT_S,
}


def test_a_sweep_stops_at_its_timeout_and_stores_the_best_model(cluster):
    started = time.monotonic()
    run_id = cluster.trigger(CONF)
    run = cluster.client.wait_for_run(SWEEP, run_id, timeout_s=400)
    wall = time.monotonic() - started
    assert run["state"] == "success"
    assert wall < TIMEOUT_S + 150  # the sweep's own tasks around 20 s of trials

    study = study_of(cluster, run_id)
    reason = study.user_attrs[STOP_REASON]
    found = study.get_trials()
    assert reason.startswith(f"timeout_s={TIMEOUT_S} reached after "), reason
    assert reason.endswith(f" of {CONF['n_trials']} trials"), reason
    assert 0 < len(counted(found)) < CONF["n_trials"]
    assert all(t.state.is_finished() for t in found)  # the running trials finished
    # No trial was taken after the timeout (Optuna stores naive local times).
    deadline = study.user_attrs[STARTED_AT] + TIMEOUT_S
    assert max(t.datetime_start.timestamp() for t in found) < deadline + 1

    summary = cluster.client.xcom(SWEEP, run_id, "finalize")
    assert summary["stop_reason"] == reason
    assert summary["cv_score"] == study.best_value
    store = ArtifactStore(cluster.artifact_uri)
    card = store.read_json(summary["card_uri"])
    assert card["sweep"]["stop_reason"] == reason
    assert store.read_bytes(summary["model_uri"])  # the best model is stored
    assert f"Stopped    : {reason}" in final_report(cluster.client, run_id)
