"""Stopping rules: the pure decision (airsweep.stopping) and their params' validation."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timedelta

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState, create_trial

from airsweep import pipeline
from airsweep.budget import WORKER_LOST, usage
from airsweep.config import PARAM_SCHEMAS, SweepConfig, SweepConfigError
from airsweep.settings import Settings
from airsweep.stopping import STARTED_AT, check_rules, has_rules
from airsweep.study import create_study

ACCURACY = [{"name": "accuracy", "direction": "maximize"}]

T0 = datetime(2026, 1, 1, 12, 0, 0)


def trials(*specs: tuple[str, float | None], start: int = 0) -> list[FrozenTrial]:
    """Trials numbered and finished in the order given (from ``start``): ``(state, value)``.

    ``state`` is a lower-case trial state, or ``lost`` (FAIL with the worker lost).
    """
    made = []
    for number, (state, value) in enumerate(specs, start):
        if state == "lost":
            trial = create_trial(state=TrialState.FAIL, user_attrs={"error": WORKER_LOST})
        else:
            trial = create_trial(state=TrialState[state.upper()], value=value)
        trial.number = number
        trial.datetime_complete = T0 + timedelta(seconds=number)
        made.append(trial)
    return made


def config(make_config, **rules) -> SweepConfig:
    return make_config(n_trials=100, **rules)


def decide(cfg, done, direction="maximize", elapsed=0.0):
    return check_rules(done, usage(done), cfg, [direction], 1000.0, 1000.0 + elapsed)


def test_no_rule_never_stops(make_config):
    cfg = config(make_config)
    assert not has_rules(cfg)
    done = trials(*[("complete", 0.5)] * 50)
    assert decide(cfg, done, elapsed=10**9) is None


@pytest.mark.parametrize(
    ("direction", "values", "target", "by"),
    [
        ("maximize", [0.5, 0.9, 0.95, 0.97], 0.95, 2),  # reaching it exactly is enough
        ("maximize", [0.5, 0.97, 0.96], 0.95, 1),
        ("minimize", [3.0, 0.2, 0.1], 0.2, 1),
        ("minimize", [3.0, 0.5, 0.1], 0.2, 2),
    ],
)
def test_target_score_stops_once_the_best_value_reaches_it(
    make_config, direction, values, target, by
):
    cfg = config(make_config, target_score=target)
    done = trials(*[("complete", v) for v in values])
    reason = decide(cfg, done, direction)
    assert reason == f"target_score={target:g} reached by trial {by} ({values[by]:g})"
    assert decide(cfg, done[:by], direction) is None


def test_target_score_ignores_pruned_values_and_counts_in_the_metric_direction(make_config):
    done = trials(("complete", 0.5), ("pruned", 0.99))  # a pruned trial's value is no score
    assert decide(config(make_config, target_score=0.9), done) is None
    assert decide(config(make_config, target_score=0.6), done) is None
    assert decide(config(make_config, target_score=0.6), done, "minimize") is not None


@pytest.mark.parametrize(
    ("direction", "values"),
    [
        ("maximize", [0.5, 0.8, 0.7, 0.8, 0.6]),  # 0.8 again is a tie: no improvement
        ("minimize", [0.5, 0.2, 0.3, 0.2, 0.4]),
    ],
)
def test_patience_counts_finished_trials_since_the_last_improvement(make_config, direction, values):
    cfg = config(make_config, patience=3)
    done = trials(*[("complete", v) for v in values])
    assert decide(cfg, done, direction) == "patience=3: no improvement in the last 3 trials"
    assert decide(cfg, done[:4], direction) is None
    assert decide(config(make_config, patience=4), done, direction) is None


def test_patience_counts_pruned_and_failed_trials_but_not_lost_or_running_ones(make_config):
    cfg = config(make_config, patience=3)
    done = trials(
        ("complete", 0.9), ("pruned", 0.95), ("lost", None), ("fail", None), ("lost", None)
    )
    running = create_trial(state=TrialState.RUNNING)
    assert decide(cfg, [*done, running]) is None  # 2 counted trials without improvement
    done += trials(("complete", 0.1), start=5)
    assert decide(cfg, done) == "patience=3: no improvement in the last 3 trials"


def test_patience_follows_the_order_trials_finished_in_not_their_numbers(make_config):
    cfg = config(make_config, patience=2)
    done = trials(("complete", 0.5), ("complete", 0.9), ("complete", 0.6))
    done[1].datetime_complete = T0 + timedelta(seconds=10)  # 0.9 finished last
    assert decide(cfg, done) is None  # 0.9 just improved
    done[1].datetime_complete = T0 - timedelta(seconds=1)  # 0.9 finished first
    assert decide(cfg, done) == "patience=2: no improvement in the last 2 trials"


def test_timeout_stops_after_the_wall_time_and_counts_the_trials_taken(make_config):
    cfg = config(make_config, timeout_s=60)
    done = [*trials(*[("complete", 0.5)] * 36), create_trial(state=TrialState.RUNNING)]
    assert decide(cfg, done, elapsed=59.9) is None
    assert decide(cfg, done, elapsed=60) is not None
    assert decide(cfg, done, elapsed=61.2) == ("timeout_s=60 reached after 61 s, 37 of 100 trials")


def test_the_first_rule_in_order_target_patience_timeout_gives_the_reason(make_config):
    done = trials(("complete", 0.95), ("complete", 0.5))
    cfg = config(make_config, target_score=0.9, patience=1, timeout_s=1)
    assert decide(cfg, done, elapsed=5).startswith("target_score=")
    cfg = config(make_config, target_score=0.99, patience=1, timeout_s=1)
    assert decide(cfg, done, elapsed=5).startswith("patience=")
    assert decide(cfg, done[:1], elapsed=5).startswith("timeout_s=")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"timeout_s": 0}, "timeout_s: 0 is less than the minimum of 1"),
        ({"timeout_s": 30 * 86_400 + 1}, "timeout_s: 2592001 is greater than the maximum"),
        ({"timeout_s": 1.5}, "timeout_s: 1.5 is not of type 'integer', 'null'"),
        ({"patience": 0}, "patience: 0 is less than the minimum of 1"),
        ({"patience": True}, "patience: True is not of type 'integer', 'null'"),
        ({"target_score": "high"}, "target_score: 'high' is not of type 'number', 'null'"),
        ({"target_score": float("nan")}, "target_score: nan is not a finite number"),
        ({"target_score": float("inf")}, "target_score: inf is not a finite number"),
        (
            {"metric": "accuracy", "target_score": 1.5},
            "target_score: 1.5 is outside the range of accuracy (0 to 1)",
        ),
        (
            {"metric": "rmse", "dataset": "diabetes", "target_score": -0.1},
            "target_score: -0.1 is outside the range of rmse (>= 0)",
        ),
        (
            {"metric": "r2", "dataset": "diabetes", "target_score": 1.01},
            "target_score: 1.01 is outside the range of r2 (<= 1)",
        ),
        (
            {"dataset": "diabetes", "target_score": -1},
            "target_score: -1 is outside the range of accuracy (0 to 1), rmse (>= 0)",
        ),
    ],
)
def test_bad_stopping_rules_are_refused_naming_the_field(make_config, params, message):
    with pytest.raises(SweepConfigError) as info:
        make_config(**params)
    assert str(info.value).startswith(message), str(info.value)


def test_stopping_rules_are_off_by_default_and_kept_in_the_config(make_config):
    for name in ("timeout_s", "patience", "target_score"):
        assert PARAM_SCHEMAS[name]["default"] is None
    assert not has_rules(make_config())
    cfg = make_config(timeout_s=60, patience=5, target_score=1.0)
    assert (cfg.timeout_s, cfg.patience, cfg.target_score) == (60, 5, 1.0)
    assert SweepConfig.from_dict(cfg.to_dict()) == cfg
    # A metric the task type leaves open: a bound of either metric is fine.
    assert make_config(dataset="diabetes", target_score=40.0).target_score == 40.0
    assert make_config(metric="r2", dataset="diabetes", target_score=-3).target_score == -3


def test_setup_refuses_a_target_score_outside_the_resolved_metric(tmp_path):
    settings = dataclasses.replace(
        Settings.from_env({}),
        artifact_uri=(tmp_path / "artifacts").as_uri(),
        optuna_storage=f"sqlite:///{tmp_path}/optuna.db",
    )
    # breast_cancer may be either task until its target is read: accuracy it is.
    params = {"dataset": "breast_cancer", "models": ["random_forest"], "target_score": 2.0}
    with pytest.raises(SweepConfigError, match=r"^target_score: 2 is outside .* accuracy"):
        pipeline.setup(params, "hpo_sweep", "run-1", settings=settings)


def test_the_sweep_clock_starts_when_its_study_is_created_and_a_retry_keeps_it(make_config):
    storage = optuna.storages.InMemoryStorage()
    config = make_config(timeout_s=60)
    before = time.time()
    create_study(storage, "clock", ACCURACY, config)
    started = optuna.load_study(study_name="clock", storage=storage).user_attrs[STARTED_AT]
    assert before <= started <= time.time()
    time.sleep(0.01)
    create_study(storage, "clock", ACCURACY, config)  # setup retried
    assert optuna.load_study(study_name="clock", storage=storage).user_attrs[STARTED_AT] == started


def mo_trials(*values):
    made = []
    for number, vals in enumerate(values):
        trial = create_trial(state=TrialState.COMPLETE, values=list(vals))
        trial.number = number
        trial.datetime_complete = T0 + timedelta(seconds=number)
        made.append(trial)
    return made


def test_patience_with_objectives_counts_trials_that_did_not_join_the_pareto_front(make_config):
    cfg = config(make_config, patience=2)
    directions = ["maximize", "minimize"]  # accuracy, fit_seconds
    done = mo_trials((0.9, 2.0), (0.8, 1.0), (0.85, 1.5), (0.8, 3.0), (0.9, 2.0))
    # 1 and 2 are trade-offs (they join the front); 3 is dominated, 4 ties trial 0.
    assert check_rules(done[:3], usage(done), cfg, directions, 0.0, 1.0) is None
    assert check_rules(done, usage(done), cfg, directions, 0.0, 1.0) == (
        "patience=2: no improvement in the last 2 trials"
    )
    better = mo_trials((0.95, 2.5))[0]
    better.number, better.datetime_complete = 5, T0 + timedelta(seconds=5)
    assert check_rules([*done, better], usage(done), cfg, directions, 0.0, 1.0) is None
