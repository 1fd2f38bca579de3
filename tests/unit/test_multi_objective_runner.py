"""A multi-objective sweep run in-process: runner, trial process, finalize (issue 11, point 4)."""

from __future__ import annotations

import pytest
from optuna.study import StudyDirection
from optuna.trial import TrialState

from airsweep.data import prepare_dataset
from airsweep.pareto import pareto_ranks
from airsweep.registry import ModelRegistry
from airsweep.report import format_leaderboard, leaderboard
from airsweep.runner import Runner, RunnerContext
from airsweep.selection import finalize_best
from airsweep.study_lock import ThreadStudyLock

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def test_a_multi_objective_sweep_tells_every_objective_and_stores_a_front_trial(
    make_config, store, new_study, metrics, postgres_url
):
    config = make_config(
        models=["random_forest", "logistic_regression"],
        n_trials=8,
        objectives=["predict_ms_per_1k_rows", "accuracy", "fit_seconds"],
    )
    manifest = prepare_dataset(config, store, "run-mo")
    assert manifest["objectives"] == [
        {"name": "predict_ms_per_1k_rows", "direction": "minimize"},
        {"name": "accuracy", "direction": "maximize"},
        {"name": "fit_seconds", "direction": "minimize"},
    ]
    study = new_study(config, manifest, name="hpo__run-mo")
    assert study.metric_names == ["predict_ms_per_1k_rows", "accuracy", "fit_seconds"]
    context = RunnerContext("run-mo", "cpu", 0, 1, "w1", 1)
    plan = {"queue": "cpu", "models": list(config.models)}
    lock = ThreadStudyLock(study.study_name)
    Runner(plan, manifest, config, study, context, lock, None, metrics).run()

    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 8  # pruner auto: none
    for trial in trials:
        predict_ms, accuracy, fit_seconds = trial.values
        assert predict_ms > 0 and 0 < accuracy <= 1
        assert fit_seconds == trial.user_attrs["fit_seconds"]
        assert trial.intermediate_values == {}

    card = finalize_best(
        study, manifest, config, store, "run-mo", ModelRegistry(postgres_url, store), n_jobs=1
    )
    chosen = trials[card["best_trial"]["number"]]
    front = sorted(n for n, rank in pareto_ranks(trials, study.directions).items() if rank == 1)
    assert chosen.number in front and card["selection"]["pareto_front"] == front
    assert card["selection"]["rule"] == "knee of the Pareto front"
    assert card["cv_score"] == chosen.values[1]  # the primary metric: accuracy
    assert [o["value"] for o in card["objectives"]] == chosen.values
    assert [o["direction"] for o in card["objectives"]] == ["minimize", "maximize", "minimize"]
    assert study.directions[1] == StudyDirection.MAXIMIZE
    rows = leaderboard(study)
    assert [r["front"] for r in rows[: len(front)]] == [1] * len(front)
    assert "predict_ms_per_1k_rows" in format_leaderboard(rows).splitlines()[0]
