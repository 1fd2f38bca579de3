"""Pareto fronts, the knee and the ``select`` rule (pure logic on frozen trials)."""

from __future__ import annotations

import optuna
import pytest
from optuna.study import StudyDirection
from optuna.trial import TrialState, create_trial

from airsweep.pareto import dominates, knee, pareto_ranks, primary_index, select

MAX, MIN = StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE
NAMES = ["accuracy", "fit_seconds"]


def trials(*values, states=None):
    made = []
    for number, vals in enumerate(values):
        state = (states or {}).get(number, TrialState.COMPLETE)
        trial = create_trial(state=state, values=vals if state == TrialState.COMPLETE else None)
        trial.number = number
        made.append(trial)
    return made


def test_dominates_needs_no_worse_everywhere_and_better_somewhere():
    assert dominates([0.9, 1.0], [0.8, 2.0], [MAX, MIN])
    assert dominates([0.9, 1.0], [0.9, 2.0], [MAX, MIN])
    assert not dominates([0.9, 1.0], [0.9, 1.0], [MAX, MIN])  # equal: neither dominates
    assert not dominates([0.9, 3.0], [0.8, 2.0], [MAX, MIN])  # a trade-off


def test_pareto_ranks_peel_fronts_and_skip_unfinished_trials():
    found = trials(
        [0.90, 1.0],  # front 1
        [0.95, 3.0],  # front 1
        [0.85, 2.0],  # dominated by 0 -> front 2
        [0.80, 4.0],  # dominated by 0, 1, 2 -> front 3
        None,
        states={4: TrialState.PRUNED},
    )
    assert pareto_ranks(found, [MAX, MIN]) == {0: 1, 1: 1, 2: 2, 3: 3}


def test_knee_is_nearest_the_ideal_point_after_scaling():
    # accuracy 0.80..0.96 and seconds 1..10: trial 1 is close to both bests.
    front = trials([0.80, 1.0], [0.94, 2.0], [0.96, 10.0])
    assert knee(front, [MAX, MIN]).number == 1
    # Scaling matters: raw distances would favour the seconds axis.
    assert knee(trials([0.5, 100.0], [0.9, 900.0]), [MAX, MIN]).number == 0  # tie -> lower number


def test_select_single_objective_is_the_best_trial_first_to_reach_it():
    study = optuna.create_study(direction="minimize")
    for value in (3.0, 1.0, 1.0, 2.0):
        study.add_trial(create_trial(value=value))
    chosen = select(study.get_trials(), study.directions, ["rmse"], 0)
    assert (chosen.trial.number, chosen.rule, chosen.note) == (1, "best rmse", None)


def test_select_knee_by_default_and_constraints_when_given():
    found = trials([0.80, 1.0], [0.94, 2.0], [0.96, 10.0], [0.93, 9.0])
    assert select(found, [MAX, MIN], NAMES, 0).trial.number == 1
    rule = {"objective": "accuracy", "constraints": {"fit_seconds": {"max": 9.0}}}
    chosen = select(found, [MAX, MIN], NAMES, 0, rule)
    assert (chosen.trial.number, chosen.rule) == (1, "best accuracy where fit_seconds <= 9")
    cheapest = select(found, [MAX, MIN], NAMES, 0, {"objective": "fit_seconds"})
    assert (cheapest.trial.number, cheapest.rule) == (0, "best fit_seconds")


def test_select_ties_go_to_the_pareto_front():
    found = trials([0.9, 5.0], [0.9, 2.0])  # same accuracy; 1 is cheaper, on the front
    assert select(found, [MAX, MIN], NAMES, 0, {"objective": "accuracy"}).trial.number == 1


def test_select_falls_back_to_the_knee_when_no_trial_meets_the_constraints():
    found = trials([0.80, 1.0], [0.94, 2.0], [0.96, 10.0])
    rule = {"objective": "accuracy", "constraints": {"accuracy": {"min": 0.99}}}
    chosen = select(found, [MAX, MIN], NAMES, 0, rule)
    assert chosen.trial.number == 1
    assert chosen.note == "no trial met accuracy >= 0.99: chose the knee of the Pareto front"


def test_select_without_a_complete_trial_raises():
    with pytest.raises(ValueError, match="no COMPLETE trial"):
        select(trials(None, states={0: TrialState.FAIL}), [MAX, MIN], NAMES, 0)


def test_primary_index():
    assert primary_index(["fit_seconds", "roc_auc", "accuracy"], "accuracy") == 2
    assert primary_index(["rmse"], None) == 0
