"""Histogram gradient boosting from scikit-learn."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from airsweep.models.base import CLASSIFICATION, TASK_TYPES, ModelFamily, Spec


class HistGradientBoostingFamily(ModelFamily):
    """``HistGradientBoostingClassifier`` / ``HistGradientBoostingRegressor``.

    The estimator has no ``n_jobs``; its OpenMP threads are capped by the trial
    runner with ``threadpoolctl``. Its steps are boosting iterations (``max_iter``),
    trained on with ``warm_start``: the same trees as one fit of ``max_iter``
    iterations.
    """

    name = "hist_gradient_boosting"
    task_types = TASK_TYPES
    step_param = "max_iter"

    def default_space(self, task_type: str) -> dict[str, Spec]:
        """Return the default search space (same for both task types)."""
        return {
            "learning_rate": {"type": "float", "low": 0.01, "high": 0.3, "log": True},
            "max_iter": {"type": "int", "low": 50, "high": 400, "log": True},
            "max_leaf_nodes": {"type": "int", "low": 8, "high": 128, "log": True},
            "min_samples_leaf": {"type": "int", "low": 5, "high": 100, "log": True},
            "l2_regularization": {"type": "float", "low": 1e-6, "high": 10.0, "log": True},
        }

    def build(
        self, params: dict[str, Any], task_type: str, n_jobs: int, device: str, seed: int = 0
    ) -> Any:
        """Build a histogram gradient-boosting estimator."""
        from sklearn.ensemble import (
            HistGradientBoostingClassifier,
            HistGradientBoostingRegressor,
        )

        cls = (
            HistGradientBoostingClassifier
            if task_type == CLASSIFICATION
            else HistGradientBoostingRegressor
        )
        return cls(random_state=seed, **params)

    def fit_steps(
        self, estimator: Any, X: Any, y: Any, checkpoints: Sequence[int]
    ) -> Iterator[Any]:
        """Raise ``max_iter`` to each checkpoint in turn and fit on (``warm_start=True``)."""
        estimator.set_params(warm_start=True)
        for iterations in checkpoints:
            estimator.set_params(max_iter=iterations)
            yield estimator.fit(X, y)
