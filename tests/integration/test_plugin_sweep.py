"""A model-family plugin on the real cluster: a sweep mixing a built-in family and the
shipped LightGBM plugin (plugins/examples/lightgbm_family.py) ends with a stored model
that loads and predicts (issue 12)."""

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

MIXED = {
    "dataset": "breast_cancer",
    "models": ["random_forest", "lightgbm"],
    "n_trials": 10,
    "cv_folds": 3,
    "model_budget": "even",
    "pruner": "none",
    "search_space": {
        "random_forest": {"n_estimators": {"type": "int", "low": 5, "high": 20}},
        "lightgbm": {"n_estimators": {"type": "int", "low": 20, "high": 60}},
    },
}


def test_a_sweep_mixes_a_built_in_family_and_the_lightgbm_plugin(cluster):
    run_id = cluster.trigger(MIXED)
    run = cluster.client.wait_for_run(SWEEP, run_id, timeout_s=600)
    assert run["state"] == "success"
    found = trials_of(cluster, run_id)
    assert_exact_budget(found, MIXED["n_trials"])
    complete = [t for t in found if t.state == TrialState.COMPLETE]
    assert {t.user_attrs["model"] for t in complete} == {"random_forest", "lightgbm"}
    for (
        trial
    ) in complete:  # pruner none: a lightgbm trial is one fit (its rounds), a forest's folds
        steps = list(trial.intermediate_values)
        if trial.user_attrs["model"] == "lightgbm":
            assert steps == [trial.params["lightgbm.n_estimators"]]
        else:
            assert steps == list(range(MIXED["cv_folds"]))
    # The best model (whichever family) is stored, loads and scores as its card says.
    summary = cluster.client.xcom(SWEEP, run_id, "finalize")
    card = ArtifactStore(cluster.artifact_uri).read_json(summary["card_uri"])
    assert card["model"] in MIXED["models"]
    manifest = cluster.client.xcom(SWEEP, run_id, "setup", key="manifest")
    x_test, y_test = load_split(manifest, "test")
    model = joblib.load(Path(urlparse(card["model_uri"]).path))
    assert accuracy_score(y_test, model.predict(x_test)) == pytest.approx(card["test_score"])
