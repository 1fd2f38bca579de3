import optuna
import pytest
from optuna.trial import TrialState

from airsweep.config import SweepConfig
from airsweep.pruning import FamilyPruner
from airsweep.search import make_pruner

MEDIAN = {}
PERCENTILE = {"pruner": "percentile", "pruner_options": {"percentile": 50}}
SUCCESSIVE_HALVING = {"pruner": "successive_halving", "pruner_options": {"reduction_factor": 2}}
HYPERBAND = {"pruner": "hyperband", "cv_folds": 5, "pruner_options": {"reduction_factor": 2}}
NONE = {"pruner": "none"}


def new_study(params=MEDIAN, direction="maximize"):
    """An in-memory study named ``s`` (hyperband's brackets hash the name) with its pruner."""
    pruner = make_pruner(SweepConfig.from_params(params))
    return optuna.create_study(study_name="s", direction=direction, pruner=pruner)


def run_trial(study, family, reports):
    """Run one trial of ``family`` through FamilyPruner; return its state and its last step."""
    trial = study.ask()
    trial.set_user_attr("model", family)
    pruner = FamilyPruner(study, trial, family)
    for step, value in enumerate(reports):
        pruner.report(value, step)
        if step < len(reports) - 1 and pruner.should_prune():
            study.tell(trial, state=TrialState.PRUNED)
            return TrialState.PRUNED, step
    study.tell(trial, reports[-1])
    return TrialState.COMPLETE, len(reports) - 1


def complete(study, family, values, steps=2):
    """Add one COMPLETE trial of ``family`` per value, reporting it at every step."""
    for value in values:
        trial = study.ask()
        trial.set_user_attr("model", family)
        for step in range(steps):
            trial.report(value, step)
        study.tell(trial, value)


def optuna_decision(study, family, reports):
    """What Optuna's own ``Trial.should_prune`` says for the same reports."""
    trial = study.ask()
    trial.set_user_attr("model", family)
    for step, value in enumerate(reports):
        trial.report(value, step)
    decision = trial.should_prune()
    study.tell(trial, state=TrialState.FAIL)
    return decision


@pytest.mark.parametrize(
    ("direction", "completed", "reports", "expected"),
    [
        ("maximize", [0.9] * 5, [0.5], True),  # below the median at step 0
        ("maximize", [0.9] * 5, [0.95], False),
        ("maximize", [0.9] * 4, [0.1], False),  # fewer than the pruner's 5 startup trials
        ("maximize", [0.9, 0.8, 0.7, 0.6, 0.5], [0.5, 0.8], False),  # best so far counts
        ("minimize", [0.2] * 5, [0.5], True),
        ("minimize", [0.2] * 5, [0.1], False),
    ],
)
def test_decides_like_optunas_should_prune(direction, completed, reports, expected):
    study = new_study(MEDIAN, direction)
    complete(study, "a", completed)
    assert bool(optuna_decision(study, "a", reports)) is expected
    trial = study.ask()
    pruner = FamilyPruner(study, trial, "a")
    for step, value in enumerate(reports):
        pruner.report(value, step)
    assert pruner.should_prune() is expected
    assert study.get_trials()[-1].intermediate_values == dict(enumerate(reports))


@pytest.mark.parametrize("params", [MEDIAN, PERCENTILE, SUCCESSIVE_HALVING, HYPERBAND, NONE])
def test_one_family_decides_like_optuna_at_every_step(params):
    """The family's study is read as Optuna reads a study (private attrs included)."""
    scores = [0.9, 0.5, 0.8, 0.6, 0.7, 0.95, 0.55, 0.85, 0.65, 0.75, 0.4, 0.3]
    reports = [[s - 0.01 * k for k in range(5)] for s in scores]
    ours, optunas = new_study(params), new_study(params)
    for values in reports:
        state, step = run_trial(ours, "a", values)
        trial = optunas.ask()
        trial.set_user_attr("model", "a")
        for k, value in enumerate(values):
            trial.report(value, k)
            if k < len(values) - 1 and trial.should_prune():
                optunas.tell(trial, state=TrialState.PRUNED)
                assert (state, step) == (TrialState.PRUNED, k)
                break
        else:
            optunas.tell(trial, values[-1])
            assert state == TrialState.COMPLETE
    mine = [(t.state, t.system_attrs) for t in ours.trials]
    assert mine == [(t.state, t.system_attrs) for t in optunas.trials]


def test_reads_the_study_once_per_trial(monkeypatch):
    study = new_study()
    complete(study, "a", [0.9] * 5)
    trial = study.ask()
    reads = []
    original = study.get_trials
    monkeypatch.setattr(study, "get_trials", lambda *a, **k: reads.append(k) or original(*a, **k))
    pruner = FamilyPruner(study, trial, "a")
    for step in range(3):
        pruner.report(0.95, step)
        assert not pruner.should_prune()
    assert len(reads) == 1


def test_none_prunes_nothing():
    study = new_study(NONE)
    complete(study, "a", [0.9] * 10)
    assert run_trial(study, "a", [0.0, 0.0, 0.0]) == (TrialState.COMPLETE, 2)


@pytest.mark.parametrize("params", [MEDIAN, PERCENTILE])
def test_a_worse_family_is_compared_with_itself(params):
    study = new_study(params)
    complete(study, "good", [0.95] * 10)
    complete(study, "worse", [0.5, 0.55, 0.6, 0.65, 0.7])
    # Below every "good" trial, above the median of its own family: it goes on.
    assert run_trial(study, "worse", [0.68, 0.68, 0.68]) == (TrialState.COMPLETE, 2)
    # Below its own family's median: pruned after the first fold.
    assert run_trial(study, "worse", [0.52, 0.52, 0.52]) == (TrialState.PRUNED, 0)
    # A family without 5 finished trials is not pruned yet, however bad.
    assert run_trial(study, "new", [0.1, 0.1, 0.1]) == (TrialState.COMPLETE, 2)


@pytest.mark.parametrize("params", [SUCCESSIVE_HALVING, HYPERBAND])
def test_rung_pruners_prune_on_fold_steps_within_the_family(params):
    study = new_study(params)
    for _ in range(8):
        run_trial(study, "good", [0.95] * 5)
    results = [run_trial(study, "worse", [0.9 - 0.05 * i] * 5) for i in range(12)]
    pruned = [step for state, step in results if state == TrialState.PRUNED]
    assert pruned, results
    assert all(0 < step < 4 for step in pruned)
    # The first "worse" trial is its family's best so far: never pruned for its family.
    assert results[0] == (TrialState.COMPLETE, 4)
    rungs = [t for t in study.trials if "completed_rung_0" in t.system_attrs]
    assert rungs and all(t.intermediate_values for t in rungs)
