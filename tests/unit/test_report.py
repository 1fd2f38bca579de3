import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from airsweep.report import (
    cv_std,
    fold_scores,
    format_leaderboard,
    leaderboard,
    progress,
    sweep_timing,
)


def add(study, state, value=None, model="xgboost"):
    study.add_trial(
        create_trial(
            state=state,
            value=value if state == TrialState.COMPLETE else None,
            intermediate_values={0: value, 1: value} if value is not None else {},
            params={f"{model}.depth": 3},
            distributions={f"{model}.depth": IntDistribution(1, 5)},
            user_attrs={
                "model": model,
                "placement": {"worker": "w1", "queue": "cpu", "device_used": "cpu"},
                "fit_seconds": 1.5,
            },
        )
    )


@pytest.fixture
def study():
    study = optuna.create_study(direction="minimize")
    add(study, TrialState.COMPLETE, 3.0)
    add(study, TrialState.FAIL)
    add(study, TrialState.COMPLETE, 1.0, model="ridge")
    add(study, TrialState.PRUNED, 0.5)
    add(study, TrialState.COMPLETE, 2.0)
    study.ask()  # running
    return study


def test_leaderboard_ranks_complete_trials_in_the_study_direction(study):
    rows = leaderboard(study)
    assert [(r["rank"], r["number"], r["state"]) for r in rows] == [
        (1, 2, "COMPLETE"),
        (2, 4, "COMPLETE"),
        (3, 0, "COMPLETE"),
        (None, 3, "PRUNED"),
        (None, 1, "FAIL"),
    ]
    assert rows[0]["model"] == "ridge" and rows[0]["value"] == 1.0
    assert rows[0]["cv_std"] == 0.0
    assert (rows[0]["worker"], rows[0]["queue"], rows[0]["device"]) == ("w1", "cpu", "cpu")
    assert leaderboard(study, top=2)[-1]["number"] == 4


def test_formatted_leaderboard_is_aligned(study):
    lines = format_leaderboard(leaderboard(study, top=3)).splitlines()
    assert lines[0].split() == [
        "rank",
        "number",
        "model",
        "value",
        "cv_std",
        "state",
        "worker",
        "queue",
        "device",
        "fit_seconds",
    ]
    assert lines[1].split()[:4] == ["1", "2", "ridge", "1.0000"]
    column = lines[0].index("model")
    assert [line[column:].split()[0] for line in lines[1:]] == ["ridge", "xgboost", "xgboost"]
    assert "-" in format_leaderboard([{**leaderboard(study)[4]}]).splitlines()[1].split()


def test_progress_counts_states_and_best(study):
    lost = study.ask()
    lost.set_user_attr("error", "worker lost: no heartbeat for 20s")
    study.tell(lost, state=TrialState.FAIL)
    assert progress(study, 10) == {
        "total": 10,
        "done": 5,
        "by_state": {"complete": 3, "fail": 1, "lost": 1, "pruned": 1, "running": 1},
        "percent": 50.0,
        "budget_left": 4,
        "running_by_worker": {"?/?": 1},  # asked, placement not written yet
        "best_value": 1.0,
        "best_trial": 2,
        "best_model": "ridge",
    }
    empty = progress(optuna.create_study(), 4)
    assert (empty["done"], empty["best_value"], empty["percent"]) == (0, None, 0.0)


def test_sweep_timing_spans_first_start_to_last_completion(study):
    timing = sweep_timing(study)
    assert timing["first_trial_start"] <= timing["last_trial_complete"]
    assert timing["wall_seconds"] >= 0
    assert sweep_timing(optuna.create_study())["wall_seconds"] is None


def test_fold_scores_follow_from_the_running_means():
    trial = create_trial(state=TrialState.COMPLETE, value=0.8, intermediate_values={0: 0.9, 1: 0.8})
    assert fold_scores(trial) == pytest.approx([0.9, 0.7])
    assert cv_std(trial) == pytest.approx(0.1)
    assert cv_std(create_trial(state=TrialState.FAIL)) is None


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_leaderboard_of_a_multi_objective_study_ranks_by_pareto_front():
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.set_metric_names(["accuracy", "fit_seconds"])
    study.set_user_attr("manifest", {"metric": "accuracy"})
    for values in ([0.90, 2.0], [0.80, 1.0], [0.85, 3.0], [0.95, 9.0]):
        study.add_trial(create_trial(values=values, user_attrs={"model": "ridge"}))
    rows = leaderboard(study)
    assert [(r["rank"], r["front"], r["number"]) for r in rows] == [
        (1, 1, 3),  # the front, by accuracy
        (2, 1, 0),
        (3, 1, 1),
        (4, 2, 2),  # dominated by trial 0
    ]
    assert rows[0]["value"] == 0.95 and rows[0]["objectives"] == {
        "accuracy": 0.95,
        "fit_seconds": 9.0,
    }
    header = format_leaderboard(rows).splitlines()[0].split()
    assert header[:6] == ["rank", "front", "number", "model", "accuracy", "fit_seconds"]
    assert "value" not in header and header.count("fit_seconds") == 1
    prog = progress(study, 10)
    assert (prog["best_trial"], prog["best_value"]) == (3, 0.95)
