"""Cross-validate one trial's params the way the trial process does: by folds or by steps.

A family without steps is fitted fold after fold; after fold ``k`` the trial
reports the running mean of the folds so far at step ``k``. A family that
trains in steps (:attr:`airsweep.models.ModelFamily.step_param`: xgboost's and
HistGradientBoosting's boosting rounds) trains every fold side by side: each
fold's preprocessor is fitted once, then every fold trains up to the next
checkpoint (:meth:`airsweep.models.ModelFamily.fit_steps`) and is scored on its
validation rows, and the trial reports the mean of the folds at step = rounds
done. Its last checkpoint is its total number of rounds, so its value is the
mean CV score of the whole fit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from airsweep.models.pipeline import build_pipeline
from airsweep.models.registry import get_family
from airsweep.models.scoring import measure, score

#: What the trial process sends after each step: the step, the fold scores it covers and
#: each fold's other objectives (:attr:`CrossValidation.other_objectives`; once a fold is done).
Report = tuple[int, list[float], list[dict[str, float]]]


@dataclass(frozen=True)
class CrossValidation:
    """The training split, its folds and how a runner's trials fit.

    Attributes:
        manifest: The dataset manifest (features, task type, metric).
        X: Training features.
        y: Training targets.
        folds: ``(train_idx, valid_idx)`` of each fold.
        n_jobs: CPU threads each fit may use.
        device: The device trials train on (``cpu`` or ``gpu``).
        seed: Seed of the estimators.
        other_objectives: What a multi-objective sweep measures on each fold
            besides the primary metric once the fold is trained
            (:func:`airsweep.models.scoring.measure`: its other metrics and
            ``predict_ms_per_1k_rows``); empty for one objective.
    """

    manifest: dict[str, Any]
    X: pd.DataFrame
    y: pd.Series
    folds: list[tuple[Any, Any]]
    n_jobs: int
    device: str
    seed: int
    other_objectives: tuple[str, ...] = ()

    def reports(
        self, model: str, params: dict[str, Any], checkpoints: Sequence[int] | None
    ) -> Iterator[Report]:
        """Cross-validate ``model`` with ``params``, yielding a report after each step.

        Args:
            model: The family.
            params: Its sampled params.
            checkpoints: The step counts of a family with steps
                (:meth:`airsweep.search.pruners.StepSchedule.checkpoints`);
                ``None`` for a family fitted fold by fold.

        Yields:
            ``(step, scores, others)``: by folds, step ``k``, the scores of folds
            ``0..k`` and their other objectives; by steps, the rounds done, every
            fold's score after them and, at the last checkpoint, the folds' other
            objectives (``[]`` before).

        Raises:
            ValueError: A fold scored NaN or infinity.
        """
        if checkpoints is not None:
            yield from self._step_reports(model, params, checkpoints)
            return
        scores: list[float] = []
        others: list[dict[str, float]] = []
        for fold_score, other in self._fold_results(model, params):
            scores.append(fold_score)
            others.append(other)
            yield len(scores) - 1, list(scores), list(others)

    def fold_scores(self, model: str, params: dict[str, Any]) -> Iterator[float]:
        """Fit ``model`` with ``params`` on each fold in turn and yield the fold's score.

        Raises:
            ValueError: A fold scored NaN or infinity.
        """
        for fold_score, _ in self._fold_results(model, params):
            yield fold_score

    def _fold_results(
        self, model: str, params: dict[str, Any]
    ) -> Iterator[tuple[float, dict[str, float]]]:
        """Fit each fold in turn; yield its score and its other objectives."""
        for fold, (train_idx, valid_idx) in enumerate(self.folds):
            pipeline = build_pipeline(
                self.manifest, model, params, self.n_jobs, self.device, seed=self.seed
            )
            pipeline.fit(self.X.iloc[train_idx], self.y.iloc[train_idx])
            X_valid, y_valid = self.X.iloc[valid_idx], self.y.iloc[valid_idx]
            yield (
                self._score(pipeline, X_valid, y_valid, fold),
                self._others(pipeline, X_valid, y_valid),
            )

    def _step_reports(
        self, model: str, params: dict[str, Any], checkpoints: Sequence[int]
    ) -> Iterator[Report]:
        """Train every fold up to each checkpoint in turn; the fold scores there."""
        family = get_family(model)
        runs = []
        pipelines = []  # each fold's pipeline and raw validation rows: the other objectives
        for train_idx, valid_idx in self.folds:
            pipeline = build_pipeline(
                self.manifest, model, params, self.n_jobs, self.device, seed=self.seed
            )
            preprocess, estimator = pipeline[:-1], pipeline[-1]
            X_train = preprocess.fit_transform(self.X.iloc[train_idx])
            X_valid = preprocess.transform(self.X.iloc[valid_idx])
            steps = family.fit_steps(estimator, X_train, self.y.iloc[train_idx], checkpoints)
            runs.append((steps, X_valid, self.y.iloc[valid_idx]))
            pipelines.append((pipeline, self.X.iloc[valid_idx]))
        try:
            for step in checkpoints:
                last = step == checkpoints[-1]
                scores: list[float] = []
                others: list[dict[str, float]] = []
                for fold, (steps, X_valid, y_valid) in enumerate(runs):
                    estimator = next(steps)
                    scores.append(self._score(estimator, X_valid, y_valid, fold))
                    if last and self.other_objectives:  # timed with the preprocessing
                        pipeline, X_raw = pipelines[fold]
                        fitted = Pipeline(
                            [*pipeline.steps[:-1], (pipeline.steps[-1][0], estimator)]
                        )
                        others.append(self._others(fitted, X_raw, y_valid))
                yield step, scores, others
        finally:  # pruned or failed: the folds stop training where they are
            for steps, _, _ in runs:
                steps.close()

    def _others(self, estimator: Any, X: Any, y: Any) -> dict[str, float]:
        """The fold's other objectives (empty for one objective); refuse NaN and infinity."""
        values = measure(estimator, X, y, self.other_objectives)
        for name, value in values.items():
            if not math.isfinite(value):
                raise ValueError(f"{name} is {value} on a validation fold")
        return values

    def _score(self, estimator: Any, X: Any, y: Any, fold: int) -> float:
        """Score a fitted fold on its validation rows; refuse NaN and infinity."""
        fold_score = score(estimator, X, y, self.manifest["metric"])
        if not math.isfinite(fold_score):
            raise ValueError(f"fold {fold} scored {fold_score}")
        return fold_score
