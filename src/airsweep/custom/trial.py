"""One trial of a custom objective, on both sides of the trial process's pipe.

The user's function runs in the runner's trial process (:mod:`airsweep.forked`),
which never touches the study: each call of its :class:`ForkedHandle` asks the
runner (``ask``), and :class:`ObjectiveAnswers`, in the runner, answers it:

=========================================  =======================================
the function calls (trial process)         the runner does, and answers
=========================================  =======================================
``suggest_float/int/categorical(name,…)``  samples ``<family>.<name>`` in the trial
``report(value, step)``                    reports it to the family's pruner
``should_prune()``                         asks the family's pruner
=========================================  =======================================

An answer is ``(True, value)``, or ``(False, message)`` when Optuna refused the
request (``low > high``, a name sampled again with another range): the handle
raises ``ValueError(message)`` in the function, so the trial fails with it.
When the function returns, the trial process sends ``("complete", values)``
(its scores, checked) or ``("pruned", None)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna

from airsweep.config import SweepConfig
from airsweep.config.objectives import FIT_SECONDS
from airsweep.forked import Ask
from airsweep.objective import Objective, ObjectiveData, TrialPruned
from airsweep.pruning import FamilyPruner
from airsweep.space import suggest, to_distribution

SUGGEST, REPORT, SHOULD_PRUNE = "suggest", "report", "should_prune"
#: How a trial ended in the trial process (the job's return value's first item).
COMPLETE, PRUNED = "complete", "pruned"
#: The job's return value: ``(COMPLETE, scores)`` or ``(PRUNED, None)``.
Outcome = tuple[str, list[float] | None]


class ForkedHandle:
    """The :class:`~airsweep.objective.TrialHandle` of the trial process: each call asks the runner.

    Args:
        ask: Sends a request to the runner and returns its answer (:data:`airsweep.forked.Ask`).

    Attributes:
        pruned: Whether ``should_prune()`` answered ``True`` (the trial is then pruned).
    """

    def __init__(self, ask: Ask) -> None:
        self._ask = ask
        self.pruned = False

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        """Sample a float (see :class:`airsweep.objective.TrialHandle`)."""
        spec = {"type": "float", "low": low, "high": high, "step": step, "log": log}
        return float(self._request(SUGGEST, name, spec))

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int:
        """Sample an int (see :class:`airsweep.objective.TrialHandle`)."""
        spec = {"type": "int", "low": low, "high": high, "step": step, "log": log}
        return int(self._request(SUGGEST, name, spec))

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        """Sample a choice (see :class:`airsweep.objective.TrialHandle`)."""
        return self._request(SUGGEST, name, {"type": "categorical", "choices": list(choices)})

    def report(self, value: float, step: int) -> None:
        """Report an intermediate score (see :class:`airsweep.objective.TrialHandle`)."""
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"report: the value at step {step} is {value}")
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise ValueError(f"report: step {step!r} is not an int >= 0")
        self._request(REPORT, value, int(step))

    def should_prune(self) -> bool:
        """Ask the sweep's pruner (see :class:`airsweep.objective.TrialHandle`)."""
        self.pruned = self.pruned or bool(self._request(SHOULD_PRUNE))
        return self.pruned

    def _request(self, *request: Any) -> Any:
        ok, body = self._ask(request)
        if not ok:
            raise ValueError(body)
        return body


def objective_data(
    config: SweepConfig,
    manifest: Mapping[str, Any],
    X: Any,
    y: Any,
    folds: list[tuple[Any, Any]],
    device: str,
    n_jobs: int,
    model_dir: Path | None = None,
) -> ObjectiveData:
    """What the sweep's custom objective gets: a trial's data, or a refit's with ``model_dir``.

    Args:
        config: The sweep config.
        manifest: The dataset manifest.
        X: Training features.
        y: Training targets.
        folds: The CV folds (none in a refit).
        device: The device of the slot.
        n_jobs: Its threads.
        model_dir: A refit's folder for the model's files; ``None`` in a trial.
    """
    return ObjectiveData(
        X=X,
        y=y,
        folds=folds,
        task_type=manifest["task_type"],
        metric=manifest["metric"],
        objectives=[o["name"] for o in manifest["objectives"] if o["name"] != FIT_SECONDS],
        direction=manifest["direction"],
        classes=manifest["classes"],
        family=config.families[0],
        device=device,
        n_jobs=n_jobs,
        seed=config.seed,
        refit=model_dir is not None,
        model_dir=model_dir,
    )


def run_objective(objective: Objective, data: ObjectiveData, payload: Any, ask: Ask) -> Outcome:
    """The trial process's job for one trial: call the function, check what it returns.

    Args:
        objective: The user's function.
        data: What it trains on (shared by the runner's trials).
        payload: The trial's number (unused: the handle asks for the rest).
        ask: The trial process's pipe to the runner.

    Raises:
        TypeError: The function returned something other than a number (or sequence).
        ValueError: It returned NaN, infinity or the wrong number of values.
        Exception: Whatever the function raised (the trial fails with it).
    """
    handle = ForkedHandle(ask)
    try:
        result = objective(handle, data)
    except (TrialPruned, optuna.TrialPruned):
        return PRUNED, None
    if handle.pruned:
        return PRUNED, None
    return COMPLETE, checked_scores(result, data.objectives)


def checked_scores(result: Any, names: Sequence[str]) -> list[float]:
    """The objective's return value as one finite float per objective of ``names``.

    Raises:
        TypeError: Not a number or a list/tuple of numbers.
        ValueError: A value is NaN or infinite, or the count is not ``len(names)``.
    """
    if isinstance(result, numbers.Real) and not isinstance(result, bool):
        values = [result]
    elif isinstance(result, list | tuple):
        values = list(result)
    else:
        raise TypeError(
            f"the objective returned {type(result).__name__}; expected "
            f"{'a number' if len(names) == 1 else 'a list of numbers'} ({', '.join(names)})"
        )
    if len(values) != len(names):
        raise ValueError(
            f"the objective returned {len(values)} values for the {len(names)} objectives "
            f"({', '.join(names)})"
        )
    scores = []
    for name, value in zip(names, values, strict=True):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"the objective returned {value!r} for {name}, not a number")
        if not math.isfinite(value):
            raise ValueError(f"the objective returned {value} for {name}")
        scores.append(float(value))
    return scores


class ObjectiveAnswers:
    """The runner's side of one trial: answers its handle's requests (the ``on_value`` of the job).

    Args:
        trial: The running trial.
        family: The objective's pseudo-family (the prefix of its params).
        pruner: The family's pruner; ``None`` in a multi-objective sweep (no pruning).

    Attributes:
        reported: How many values the trial reported.
    """

    def __init__(self, trial: optuna.Trial, family: str, pruner: FamilyPruner | None) -> None:
        self._trial = trial
        self._family = family
        self._pruner = pruner
        self.reported = 0

    def __call__(self, request: tuple[Any, ...]) -> tuple[bool, Any]:
        """Answer one request: ``(True, value)``, or ``(False, why)`` when Optuna refused it."""
        kind, *args = request
        try:
            return True, self._answer(kind, args)
        except ValueError as exc:  # a bad range or choice: the function gets the error
            return False, str(exc)

    def _answer(self, kind: str, args: list[Any]) -> Any:
        if kind == SUGGEST:
            name, spec = args
            distribution = to_distribution(spec)
            return suggest(self._trial, self._family, {name: distribution})[name]
        if kind == REPORT:
            self.reported += 1
            if self._pruner is not None:
                self._pruner.report(*args)
            return None
        if kind == SHOULD_PRUNE:
            return self._pruner is not None and self._pruner.should_prune()
        raise ValueError(f"unknown request {kind!r}")


def outcome_scores(outcome: Outcome, names: Sequence[str]) -> dict[str, float]:
    """The trial's scores by objective name, from the job's return value.

    Raises:
        optuna.TrialPruned: The trial was pruned.
    """
    state, scores = outcome
    if state == PRUNED or scores is None:
        raise optuna.TrialPruned()
    return dict(zip(names, scores, strict=True))
