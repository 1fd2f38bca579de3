"""Random forests from scikit-learn."""

from __future__ import annotations

from typing import Any

from airsweep.models.base import CLASSIFICATION, TASK_TYPES, ModelFamily, Spec


class RandomForestFamily(ModelFamily):
    """``RandomForestClassifier`` / ``RandomForestRegressor``."""

    name = "random_forest"
    task_types = TASK_TYPES

    def default_space(self, task_type: str) -> dict[str, Spec]:
        """Return the default random-forest search space (same for both task types)."""
        return {
            "n_estimators": {"type": "int", "low": 50, "high": 400, "log": True},
            "max_depth": {"type": "int", "low": 2, "high": 32, "log": True},
            "min_samples_leaf": {"type": "int", "low": 1, "high": 20, "log": True},
            "max_features": {"type": "float", "low": 0.1, "high": 1.0},
        }

    def build(
        self, params: dict[str, Any], task_type: str, n_jobs: int, device: str, seed: int = 0
    ) -> Any:
        """Build a random forest using ``n_jobs`` threads."""
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        cls = RandomForestClassifier if task_type == CLASSIFICATION else RandomForestRegressor
        return cls(n_jobs=n_jobs, random_state=seed, **params)
