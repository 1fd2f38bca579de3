"""How a trial ended and on what it trained: the records a runner and its executor share.

:class:`Device` is what a runner asked for and got; :class:`Outcome` how one
trial ended (:meth:`airsweep.trials.TrialExecutor.run`); :data:`STATE_NAMES`
the lower-case state names of metrics and runner summaries.
"""

from __future__ import annotations

from dataclasses import dataclass

from optuna.trial import TrialState

#: Prefix of the ``error`` of a trial that passed ``trial_timeout_s``.
TIMEOUT = "timeout"

STATE_NAMES = {
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "fail",
}


class TrialTimeoutError(Exception):
    """A trial passed ``trial_timeout_s`` and its process was killed; the message is its error."""


@dataclass(frozen=True)
class Device:
    """Device a runner asked for and the one it got.

    Attributes:
        requested: ``cpu`` or ``gpu`` (the queue's device).
        used: The device trials really train on.
        fallback_reason: Why a gpu request trains on the CPU, else ``None``.
    """

    requested: str
    used: str
    fallback_reason: str | None


@dataclass(frozen=True)
class Outcome:
    """How one trial ended.

    Attributes:
        state: COMPLETE, PRUNED or FAIL.
        fit_seconds: Wall time of its cross-validation.
        error: Why it failed, else ``None``.
        lost: Whether it was declared lost (its heartbeat lapsed) before it ended.
        values: The objectives it was told (COMPLETE only), in the study's order.
    """

    state: TrialState
    fit_seconds: float
    error: str | None = None
    lost: bool = False
    values: list[float] | None = None
