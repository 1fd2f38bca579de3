"""Score a fitted pipeline with a sweep metric, in the metric's own units."""

from __future__ import annotations

from typing import Any

from sklearn.metrics import get_scorer

from airsweep.config.metrics import METRICS


def score(estimator: Any, X: Any, y: Any, metric: str) -> float:
    """Score ``estimator`` on ``(X, y)`` with a metric of :data:`airsweep.config.metrics.METRICS`.

    Losses are returned positive (rmse, mae, log_loss: lower is better).
    ``roc_auc`` on more than two classes is the one-vs-rest macro average.

    Args:
        estimator: A fitted classifier or regressor (or pipeline).
        X: Features.
        y: True targets.
        metric: Metric name.

    Returns:
        The score as a Python float.
    """
    scorer = METRICS[metric].scorer
    if scorer == "roc_auc" and len(getattr(estimator, "classes_", ())) > 2:
        scorer = "roc_auc_ovr"
    value = float(get_scorer(scorer)(estimator, X, y))
    return -value if scorer.startswith("neg_") else value
