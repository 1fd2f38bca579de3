"""Samplers and pruners on the real cluster: ``pruner: none`` prunes nothing where the
median pruner prunes, ``sampler: random`` runs a sweep, successive halving records its
rungs in Postgres, hyperband prunes xgboost on boosting rounds (issue 11)."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from airsweep.report import fold_scores
from airsweep.search.pruners import StepSchedule
from tests.integration.conftest import SWEEP
from tests.integration.sweep_checks import assert_exact_budget, study_of, trials_of

pytestmark = pytest.mark.integration

#: Logistic regressions whose C spans eight decades: their fold scores spread, so the
#: median pruner would prune about half of the trials after its first five.
NO_PRUNING = {
    "dataset": "breast_cancer",
    "models": ["logistic_regression"],
    "n_trials": 16,
    "cv_folds": 3,
    "sampler": "random",
    "pruner": "none",
    "search_space": {
        "logistic_regression": {"C": {"type": "float", "low": 1e-6, "high": 100, "log": True}}
    },
}
#: Two families on the cpu queue, random sampling, successive halving over the folds.
RANDOM = {
    "dataset": "breast_cancer",
    "models": ["random_forest", "logistic_regression"],
    "n_trials": 10,
    "cv_folds": 3,
    "sampler": "random",
    "pruner": "successive_halving",
    "pruner_options": {"reduction_factor": 2},
    "search_space": {"random_forest": {"n_estimators": {"type": "int", "low": 5, "high": 20}}},
}


#: The control: the same sweep with the default pruner does prune.
CONFS = {"none": NO_PRUNING, "median": {**NO_PRUNING, "pruner": "median"}, "random": RANDOM}


def test_pruner_none_prunes_nothing_and_sampler_random_succeeds(cluster):
    run_ids = {name: cluster.trigger(conf) for name, conf in CONFS.items()}
    runs = {
        name: cluster.client.wait_for_run(SWEEP, run_id, timeout_s=600)
        for name, run_id in run_ids.items()
    }
    assert {name: run["state"] for name, run in runs.items()} == dict.fromkeys(CONFS, "success")

    found = trials_of(cluster, run_ids["none"])
    assert_exact_budget(found, NO_PRUNING["n_trials"])
    assert [t.state for t in found] == [TrialState.COMPLETE] * NO_PRUNING["n_trials"]
    assert all(len(t.intermediate_values) == NO_PRUNING["cv_folds"] for t in found)
    control = trials_of(cluster, run_ids["median"])
    assert_exact_budget(control, NO_PRUNING["n_trials"])
    assert TrialState.PRUNED in {t.state for t in control}

    study = study_of(cluster, run_ids["random"])
    assert study.user_attrs["config"]["sampler"] == "random"
    found = study.get_trials()
    assert_exact_budget(found, RANDOM["n_trials"])
    assert {t.state for t in found} <= {TrialState.COMPLETE, TrialState.PRUNED}
    assert {t.user_attrs["model"] for t in found} == set(RANDOM["models"])
    # Each trial that passed fold 2 (step 1) wrote its rung through the runner.
    rungs = [t for t in found if "completed_rung_0" in t.system_attrs]
    assert rungs == [t for t in found if 1 in t.intermediate_values]


#: xgboost with learning rates from hopeless to good: hyperband has rounds to allocate
#: (rungs at 10, 30, 90 rounds; 3 brackets up to 200 rounds).
HYPERBAND_XGBOOST = {
    "dataset": "breast_cancer",
    "models": ["xgboost"],
    "device": {"xgboost": "cpu"},
    "n_trials": 16,
    "cv_folds": 3,
    "sampler": "random",
    "pruner": "hyperband",
    "search_space": {
        "xgboost": {
            "n_estimators": {"type": "int", "low": 40, "high": 200},
            "learning_rate": {"type": "float", "low": 1e-4, "high": 0.5, "log": True},
        }
    },
}


def test_hyperband_prunes_xgboost_on_boosting_rounds(cluster):
    run_id = cluster.trigger(HYPERBAND_XGBOOST)
    run = cluster.client.wait_for_run(SWEEP, run_id, timeout_s=600)
    assert run["state"] == "success"
    found = trials_of(cluster, run_id)
    assert_exact_budget(found, HYPERBAND_XGBOOST["n_trials"])
    pruned = [t for t in found if t.state == TrialState.PRUNED]
    assert pruned, [t.intermediate_values for t in found]
    schedule = StepSchedule(10, 3, 200)
    for trial in found:
        total = trial.params["xgboost.n_estimators"]
        steps = sorted(trial.intermediate_values)
        assert steps == schedule.checkpoints(total)[: len(steps)]  # rounds, not folds
        assert len(fold_scores(trial)) == HYPERBAND_XGBOOST["cv_folds"]
        assert (steps[-1] == total) is (trial.state == TrialState.COMPLETE)
    # A pruned trial stopped at a rung (in rounds), written to Postgres by its runner.
    assert all(max(t.intermediate_values) in (10, 30, 90) for t in pruned)
    assert any(k.startswith("completed_rung_") for t in found for k in t.system_attrs)
