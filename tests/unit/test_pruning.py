import optuna
import pytest

from airsweep.pruning import FoldPruner
from airsweep.study import make_pruner


def study_with_completed(values, direction="maximize"):
    """An in-memory study with one COMPLETE trial per value (reported at steps 0 and 1)."""
    study = optuna.create_study(direction=direction, pruner=make_pruner())
    for value in values:
        trial = study.ask()
        trial.report(value, 0)
        trial.report(value, 1)
        study.tell(trial, value)
    return study


def optuna_decision(study, reports):
    """What Optuna's own ``Trial.should_prune`` says for the same reports."""
    trial = study.ask()
    for step, value in enumerate(reports):
        trial.report(value, step)
    decision = trial.should_prune()
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
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
    study = study_with_completed(completed, direction)
    assert bool(optuna_decision(study, reports)) is expected
    trial = study.ask()
    pruner = FoldPruner(study, trial)
    for step, value in enumerate(reports):
        pruner.report(value, step)
    assert pruner.should_prune() is expected
    assert study.get_trials()[-1].intermediate_values == dict(enumerate(reports))


def test_reads_the_completed_trials_once(monkeypatch):
    study = study_with_completed([0.9] * 5)
    trial = study.ask()
    reads = []
    original = study.get_trials
    monkeypatch.setattr(study, "get_trials", lambda *a, **k: reads.append(k) or original(*a, **k))
    pruner = FoldPruner(study, trial)
    for step in range(3):
        pruner.report(0.95, step)
        assert not pruner.should_prune()
    assert len(reads) == 1
