"""Lost trials on a real Optuna RDB storage.

A SQLite file: Optuna's heartbeat code is the subject, not the cluster's database.
"""

import time
from datetime import datetime, timedelta

import optuna
import pytest
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from airsweep import liveness
from airsweep.budget import WORKER_LOST, is_lost


@pytest.fixture
def storage(tmp_path, monkeypatch):
    monkeypatch.setattr(liveness, "GRACE_PERIOD_S", 1)
    return RDBStorage(f"sqlite:///{tmp_path}/study.db", heartbeat_interval=1, grace_period=1)


def test_a_trial_whose_heartbeat_lapsed_fails_as_lost_and_a_live_one_does_not(storage):
    study = optuna.create_study(storage=storage, study_name="s")
    study_id = storage.get_study_id_from_name("s")
    dead, alive = study.ask(), study.ask()
    for trial in (dead, alive):
        trial.set_user_attr("placement", {"queue": "cpu"})
        storage.record_heartbeat(liveness.trial_id(storage, study_id, trial.number))
    time.sleep(2.2)
    storage.record_heartbeat(liveness.trial_id(storage, study_id, alive.number))
    # The private call this module wraps: fails here first when Optuna changes it.
    stale = liveness.stale_trial_ids(storage, study_id)
    assert stale == [liveness.trial_id(storage, study_id, dead.number)]

    lost = liveness.fail_lost_trials(study, storage)
    assert [t.number for t in lost] == [dead.number]
    frozen = study.trials[dead.number]
    assert frozen.state == TrialState.FAIL and is_lost(frozen)
    assert frozen.user_attrs["error"].startswith(f"{WORKER_LOST}: no heartbeat")
    assert study.trials[alive.number].state == TrialState.RUNNING
    assert liveness.fail_lost_trials(study, storage) == []  # a second runner finds nothing


def test_a_trial_that_died_before_its_first_heartbeat_is_lost_after_the_grace_period(storage):
    study = optuna.create_study(storage=storage, study_name="s")
    early = study.ask()  # no heartbeat, no placement: its runner died right after ask
    assert liveness.fail_lost_trials(study, storage) == []  # too recent to tell
    later = datetime.now() + timedelta(seconds=5)

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return later

    liveness_datetime = liveness.datetime
    liveness.datetime = Clock
    try:
        lost = liveness.fail_lost_trials(study, storage)
    finally:
        liveness.datetime = liveness_datetime
    assert [t.number for t in lost] == [early.number]
    assert "before its first heartbeat" in study.trials[0].user_attrs["error"]


def test_heartbeat_thread_records_beats_until_stopped(storage, monkeypatch):
    monkeypatch.setattr(liveness, "HEARTBEAT_INTERVAL_S", 0.05)
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()
    study_id = storage.get_study_id_from_name("s")
    beats = []
    monkeypatch.setattr(storage, "record_heartbeat", beats.append)
    with liveness.Heartbeat(storage, liveness.trial_id(storage, study_id, trial.number)):
        time.sleep(0.3)
    count = len(beats)
    time.sleep(0.15)
    assert count >= 3 and len(beats) == count
