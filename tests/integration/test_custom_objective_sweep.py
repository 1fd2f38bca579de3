"""A custom objective on the real cluster: the shipped MLP objective
(plugins/examples/mlp_objective.py) trains epoch by epoch, the median pruner stops
the trials whose learning rate is too low on their epochs, and the refitted best
model is stored, loads and predicts (issue 12, points 2 and 5). With
``objective_device: gpu`` the same objective runs on the gpu queue (the test
cluster's gpu worker has no CUDA: ``gpu_fallback: cpu`` trains on its CPU)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import joblib
import pytest
from optuna.trial import TrialState
from sklearn.metrics import accuracy_score

from airsweep.artifacts import ArtifactStore
from airsweep.data import load_split
from tests.integration.conftest import SWEEP
from tests.integration.sweep_checks import assert_exact_budget, trials_of

pytestmark = pytest.mark.integration

FAMILY = "mlp_classifier"
MLP = {
    "dataset": "breast_cancer",
    "objective": f"examples.mlp_objective:{FAMILY}",
    "n_trials": 16,
    "cv_folds": 3,
    "sampler": "random",
    "pruner": "median",
    "pruner_options": {"n_startup_trials": 3},
}


#: The same objective on the gpu queue, a few trials.
ON_GPU = {**MLP, "n_trials": 3, "pruner": "none", "pruner_options": {}, "objective_device": "gpu"}


def test_the_mlp_objective_is_pruned_on_epochs_and_its_best_model_predicts(cluster):
    run_id = cluster.trigger(MLP)
    gpu_run_id = cluster.trigger(ON_GPU)
    run = cluster.client.wait_for_run(SWEEP, run_id, timeout_s=600)
    assert run["state"] == "success"
    assert cluster.client.wait_for_run(SWEEP, gpu_run_id, timeout_s=600)["state"] == "success"
    on_gpu = trials_of(cluster, gpu_run_id)
    assert_exact_budget(on_gpu, ON_GPU["n_trials"])
    for trial in on_gpu:
        where = trial.user_attrs["placement"]
        assert (trial.state, where["queue"], where["device_requested"]) == (
            TrialState.COMPLETE,
            "gpu",
            "gpu",
        )
        assert where["device_used"] == "cpu" and where["fallback_reason"]
    found = trials_of(cluster, run_id)
    assert_exact_budget(found, MLP["n_trials"])
    assert {t.user_attrs["model"] for t in found} == {FAMILY}
    assert all(t.user_attrs["placement"]["queue"] == "cpu" for t in found)
    complete = [t for t in found if t.state == TrialState.COMPLETE]
    pruned = [t for t in found if t.state == TrialState.PRUNED]
    print(f"custom objective sweep: {len(complete)} complete, {len(pruned)} pruned")
    assert len(complete) >= 3 and not [t for t in found if t.state == TrialState.FAIL]
    for trial in complete:  # a value per epoch
        assert list(trial.intermediate_values) == list(range(trial.params[f"{FAMILY}.epochs"]))
    # Pruned on epochs: fewer reports than the trial's epochs, and on a low learning rate.
    early = [t for t in pruned if len(t.intermediate_values) < t.params[f"{FAMILY}.epochs"]]
    assert early, [t.intermediate_values for t in pruned]
    assert min(t.params[f"{FAMILY}.learning_rate_init"] for t in early) < 1e-2
    # The best trial is refitted by the objective itself and stored with joblib.
    summary = cluster.client.xcom(SWEEP, run_id, "finalize")
    card = ArtifactStore(cluster.artifact_uri).read_json(summary["card_uri"])
    assert card["model"] == FAMILY and card["refit"]["stored"] == "joblib"
    assert set(card["params"]) == {"learning_rate_init", "hidden_units", "alpha", "epochs"}
    manifest = cluster.client.xcom(SWEEP, run_id, "setup", key="manifest")
    x_test, y_test = load_split(manifest, "test")
    model = joblib.load(Path(urlparse(card["model_uri"]).path))
    assert accuracy_score(y_test, model.predict(x_test)) == pytest.approx(card["test_score"])
    assert summary["test_score"] == pytest.approx(card["test_score"])
    assert card["test_score"] > 0.8
