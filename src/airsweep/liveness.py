"""Which trials are alive: heartbeats of running trials, and failing those whose worker died.

A runner records a heartbeat for its trial every :data:`HEARTBEAT_INTERVAL_S`
seconds (Optuna's trial heartbeat table, ``RDBStorage(heartbeat_interval=...)``).
Optuna fails stale trials only inside ``study.optimize``; with ask-and-tell the
runners do it themselves (:func:`fail_lost_trials`), before each trial they
take. A lost trial is FAIL with ``error`` ``"worker lost: ..."``: it gives its
place in the budget back (:mod:`airsweep.budget`).

Optuna has no public call that lists stale trials; :func:`stale_trial_ids`
wraps the one private method this needs, and ``tests/unit/test_liveness.py``
fails when Optuna changes it.
"""

from __future__ import annotations

import logging
import threading
import warnings
from datetime import datetime, timedelta
from types import TracebackType

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from airsweep.budget import WORKER_LOST

log = logging.getLogger(__name__)

#: Seconds between two heartbeats of a running trial.
HEARTBEAT_INTERVAL_S = 5
#: A running trial without a heartbeat for this long is lost (4 missed heartbeats).
GRACE_PERIOD_S = 20


def heartbeat_storage(url: str) -> RDBStorage:
    """An Optuna RDB storage on ``url`` with trial heartbeats enabled."""
    with warnings.catch_warnings():  # heartbeat_interval is "experimental" in Optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RDBStorage(url, heartbeat_interval=HEARTBEAT_INTERVAL_S, grace_period=GRACE_PERIOD_S)


def trial_id(storage: optuna.storages.BaseStorage, study_id: int, number: int) -> int:
    """The storage id of trial ``number`` of a study."""
    return storage.get_trial_id_from_study_id_trial_number(study_id, number)


def stale_trial_ids(storage: RDBStorage, study_id: int) -> list[int]:
    """Ids of the study's RUNNING trials whose last heartbeat is older than the grace period.

    Wraps ``RDBStorage._get_stale_trial_ids`` (private; what
    ``optuna.storages.fail_stale_trials`` calls).
    """
    return list(storage._get_stale_trial_ids(study_id))


def fail_lost_trials(study: optuna.Study, storage: RDBStorage) -> list[FrozenTrial]:
    """Mark the study's lost trials FAIL with ``error`` ``"worker lost: ..."``; return them.

    A trial is lost when its heartbeat is older than :data:`GRACE_PERIOD_S`, or
    when it is RUNNING without a ``placement`` attr (its runner died between
    taking it and its first heartbeat) for longer than that. Several runners
    may race here: a trial another one failed first is skipped.

    Args:
        study: The sweep's study.
        storage: Its storage, with heartbeats (:func:`heartbeat_storage`).
    """
    study_id = storage.get_study_id_from_name(study.study_name)
    reasons = {
        tid: f"no heartbeat for {GRACE_PERIOD_S}s" for tid in stale_trial_ids(storage, study_id)
    }
    cutoff = datetime.now() - timedelta(seconds=GRACE_PERIOD_S)  # Optuna stores local naive times
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if (
            "placement" not in trial.user_attrs
            and trial.datetime_start
            and trial.datetime_start < cutoff
        ):
            reasons[trial_id(storage, study_id, trial.number)] = "died before its first heartbeat"
    lost = []
    for tid, reason in reasons.items():
        try:
            storage.set_trial_user_attr(tid, "error", f"{WORKER_LOST}: {reason}")
            if storage.set_trial_state_values(tid, state=TrialState.FAIL):
                lost.append(storage.get_trial(tid))
        except UpdateFinishedTrialError:
            continue  # finished meanwhile, or another runner failed it first
    return lost


class Heartbeat:
    """Record a trial's heartbeat now and then every :data:`HEARTBEAT_INTERVAL_S` in a thread.

    Args:
        storage: The study's storage, with heartbeats.
        trial_id: Storage id of the running trial.
    """

    def __init__(self, storage: RDBStorage, trial_id: int) -> None:
        self._storage = storage
        self._trial_id = trial_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="trial-heartbeat", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_INTERVAL_S):
            try:
                self._storage.record_heartbeat(self._trial_id)
            except Exception as exc:  # the next beat may get through; the trial goes on
                log.warning("heartbeat of trial id %s failed: %s", self._trial_id, exc)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
