"""The public API of custom objectives: training code that is not an estimator (docs/plugins.md).

A sweep with ``objective: "module:function"`` tunes ``function`` instead of
model families. airsweep calls it once per trial, in the runner's trial
process, as ``function(trial, data)``:

* ``trial`` (:class:`TrialHandle`) samples the params (``suggest_float``,
  ``suggest_int``, ``suggest_categorical``), reports intermediate values
  (``report(value, step)``) and asks the sweep's pruner (``should_prune()``);
  every call is answered by the runner, which alone touches the study;
* ``data`` (:class:`ObjectiveData`) holds the training split, its CV folds,
  the task, the metric and the device and threads of the trial's slot.

It returns the trial's score in ``data.metric`` (a number), or in a
multi-objective sweep one number per objective of ``data.objectives``, in
their order. When ``should_prune()`` answered ``True`` the trial is pruned,
whatever the function does next: stop training and return (or raise
:class:`TrialPruned`, as Optuna code does).

When the sweep ends, the best trial is refitted by calling the function once
more with ``data.refit`` true: ``trial`` then replays the best trial's params,
``data.X`` and ``data.y`` are the whole training split (no folds), and the
function returns the fitted model (stored with joblib; test-scored when it
has ``predict``), or writes its files to ``data.model_dir`` and returns ``None``.

This module is import-light (no Optuna, no scikit-learn): plugin modules
import it at DAG parse time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class TrialPruned(Exception):  # noqa: N818 (Optuna's name, which users know)
    """Raise it to end a pruned trial (``optuna.TrialPruned`` works as well)."""


class TrialHandle(Protocol):
    """What a custom objective gets to sample params, report values and ask the pruner.

    Param names are the objective's own (``learning_rate``); the study stores
    them as ``<family>.<name>``, the family being the objective's
    (:attr:`ObjectiveData.family`). A name is sampled once per trial.
    """

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        """Sample a float in ``[low, high]`` (on a log scale, or a grid of ``step``)."""
        ...

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int:
        """Sample an int in ``[low, high]`` (on a log scale, or every ``step``)."""
        ...

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        """Sample one of ``choices`` (strings, numbers, booleans or ``None``)."""
        ...

    def report(self, value: float, step: int) -> None:
        """Report the trial's intermediate score at ``step`` (an epoch, a round; from 0).

        Raises:
            ValueError: ``value`` is NaN or infinite, or ``step`` is negative.
        """
        ...

    def should_prune(self) -> bool:
        """Whether the sweep's pruner stops the trial, given the values reported so far.

        Always ``False`` in a multi-objective sweep (which does not prune) and in a refit.
        """
        ...


@dataclass(frozen=True)
class ObjectiveData:
    """What a custom objective trains on, and with what.

    Attributes:
        X: Training features (a pandas DataFrame): the training split, cleaned,
            not preprocessed (no imputation, no encoding: that is the
            objective's to do).
        y: Training targets (a pandas Series, the dataset's own labels).
        folds: ``(train_idx, valid_idx)`` position arrays of the sweep's CV folds
            on ``X`` (``cv_folds`` of them; stratified for classification);
            empty in a refit.
        task_type: ``classification`` or ``regression``.
        metric: The metric the returned score is a value of (``accuracy``,
            ``rmse``, ...; docs/sweeps.md), in its own units (losses positive).
        objectives: What the function returns, in order: ``[metric]``, or
            in a multi-objective sweep the ``objectives`` other than
            ``fit_seconds`` (which airsweep measures).
        direction: ``maximize`` or ``minimize`` (``metric``'s).
        classes: The class labels (classification), else ``None``.
        family: The objective's name in the study, metrics and model card.
        device: ``cpu`` or ``gpu``: the device of the trial's slot.
        n_jobs: CPU threads the trial may use (its worker slot's).
        seed: The sweep's ``seed``.
        refit: Whether this call refits the best trial (see the module docstring).
        model_dir: In a refit, an empty local directory for the model's files
            when the function returns ``None``; else ``None``.
    """

    X: Any
    y: Any
    folds: list[tuple[Any, Any]]
    task_type: str
    metric: str
    objectives: list[str]
    direction: str
    classes: list[Any] | None
    family: str
    device: str
    n_jobs: int
    seed: int
    refit: bool = False
    model_dir: Path | None = field(default=None)


#: A custom objective: ``function(trial, data)`` returns a score or a sequence of scores
#: (or, in a refit, a model or ``None``).
Objective = Callable[[TrialHandle, ObjectiveData], Any]


def score(estimator: Any, X: Any, y: Any, metric: str) -> float:
    """Score a fitted scikit-learn-style ``estimator`` on ``(X, y)`` in a sweep metric.

    The built-in families' own scoring (losses positive): use it with
    ``data.metric`` so that the objective's scores mean what the sweep's do.

    Args:
        estimator: Has ``predict`` (and ``predict_proba`` for ``roc_auc`` and ``log_loss``).
        X: Features.
        y: True targets.
        metric: A metric name (``data.metric``).
    """
    from airsweep.models.scoring import score as metric_score  # late: scikit-learn

    return metric_score(estimator, X, y, metric)
