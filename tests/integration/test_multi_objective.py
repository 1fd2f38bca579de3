"""Multi-objective sweeps on the real cluster (issue 11): accuracy against cost.

A two-objective sweep (``roc_auc`` up, ``fit_seconds`` down) prunes nothing,
and stores a model of its Pareto front (the knee); a sweep with a ``select``
constraint stores the best ``roc_auc`` among the trials that meet it. The front
is recomputed here from the study, independently of ``airsweep.pareto``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import joblib
import pytest
from optuna.study import StudyDirection
from optuna.trial import TrialState

from airsweep.artifacts import ArtifactStore
from airsweep.data import load_split
from tests.integration.conftest import SWEEP
from tests.integration.sweep_checks import assert_exact_budget, study_of

pytestmark = pytest.mark.integration

#: Small forests against logistic regressions: a real trade-off between roc_auc and time.
TWO = {
    "dataset": "breast_cancer",
    "models": ["logistic_regression", "random_forest"],
    "n_trials": 12,
    "cv_folds": 3,
    "objectives": ["roc_auc", "fit_seconds"],
    "search_space": {"random_forest": {"n_estimators": {"type": "int", "low": 5, "high": 60}}},
}
#: Forests up to 300 trees predict slower than logistic regressions: keep the most
#: accurate trial that predicts 1,000 rows in at most 25 ms.
CONSTRAINED = {
    **TWO,
    "objectives": ["roc_auc", "predict_ms_per_1k_rows"],
    "search_space": {"random_forest": {"n_estimators": {"type": "int", "low": 20, "high": 300}}},
    "select": {"objective": "roc_auc", "constraints": {"predict_ms_per_1k_rows": {"max": 25}}},
}


def front_of(trials, directions):
    """Numbers of the COMPLETE trials no other COMPLETE trial dominates."""
    signs = [1 if d == StudyDirection.MAXIMIZE else -1 for d in directions]
    points = {t.number: [s * v for s, v in zip(signs, t.values, strict=True)] for t in trials}

    def dominated(p):
        return any(
            all(o >= v for o, v in zip(q, p, strict=True))
            and any(o > v for o, v in zip(q, p, strict=True))
            for q in points.values()
        )

    return {n for n, p in points.items() if not dominated(p)}


def test_multi_objective_sweeps_store_a_model_of_the_pareto_front(cluster):
    run_ids = {name: cluster.trigger(conf) for name, conf in (("two", TWO), ("c", CONSTRAINED))}
    for run_id in run_ids.values():
        assert cluster.client.wait_for_run(SWEEP, run_id, timeout_s=600)["state"] == "success"
    store = ArtifactStore(cluster.artifact_uri)

    study = study_of(cluster, run_ids["two"])
    assert study.directions == [StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE]
    assert study.metric_names == ["roc_auc", "fit_seconds"]
    trials = study.get_trials()
    assert_exact_budget(trials, TWO["n_trials"])
    assert {t.state for t in trials} == {TrialState.COMPLETE}  # pruner auto: none
    assert {t.user_attrs["model"] for t in trials} == set(TWO["models"])
    for trial in trials:
        assert trial.intermediate_values == {}
        assert trial.values[1] == trial.user_attrs["fit_seconds"]  # one number, one name
    front = front_of(trials, study.directions)

    summary = cluster.client.xcom(SWEEP, run_ids["two"], "finalize")
    card = store.read_json(summary["card_uri"])
    chosen = card["best_trial"]["number"]
    assert chosen in front
    assert (
        sorted(front) == card["selection"]["pareto_front"] == summary["selection"]["pareto_front"]
    )
    assert card["selection"]["rule"] == "knee of the Pareto front"
    assert [o["name"] for o in card["objectives"]] == ["roc_auc", "fit_seconds"]
    assert [o["value"] for o in card["objectives"]] == trials[chosen].values
    assert (card["metric"], card["cv_score"]) == ("roc_auc", trials[chosen].values[0])
    ranked = [row for row in summary["leaderboard"] if row["front"] == 1]
    assert {row["number"] for row in ranked} <= front and ranked == summary["leaderboard"][
        : len(ranked)
    ]
    manifest = cluster.client.xcom(SWEEP, run_ids["two"], "setup", key="manifest")
    model = joblib.load(Path(urlparse(card["model_uri"]).path))
    X_test, _ = load_split(manifest, "test")
    assert len(model.predict(X_test)) == manifest["n_test"]

    study = study_of(cluster, run_ids["c"])
    trials = study.get_trials()
    assert_exact_budget(trials, CONSTRAINED["n_trials"])
    card = store.read_json(cluster.client.xcom(SWEEP, run_ids["c"], "finalize")["card_uri"])
    meeting = [t for t in trials if t.values[1] <= 25]
    chosen = trials[card["best_trial"]["number"]]
    if meeting:  # the rule: the best roc_auc among the trials that meet the constraint
        assert chosen.values[1] <= 25
        assert chosen.values[0] == max(t.values[0] for t in meeting)
        assert card["selection"]["rule"] == "best roc_auc where predict_ms_per_1k_rows <= 25"
        assert card["selection"]["note"] is None
    else:  # a machine so loaded that no trial met it: the knee, and a note saying so
        assert chosen.number in front_of(trials, study.directions)
        assert card["selection"]["note"].startswith("no trial met predict_ms_per_1k_rows <= 25")
