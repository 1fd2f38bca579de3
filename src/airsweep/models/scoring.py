"""Score a fitted pipeline with a sweep metric, in the metric's own units."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from sklearn.metrics import get_scorer

from airsweep.config.metrics import METRICS

#: The cost objective measured on a validation fold (see :func:`measure`).
PREDICT_MS = "predict_ms_per_1k_rows"


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


def measure(estimator: Any, X: Any, y: Any, objectives: Iterable[str]) -> dict[str, float]:
    """Measure ``objectives`` of a fitted estimator on a validation fold ``(X, y)``.

    Args:
        estimator: A fitted classifier or regressor (or pipeline).
        X: Features (at least one row).
        y: True targets.
        objectives: Metric names and :data:`PREDICT_MS` (milliseconds to
            predict 1,000 rows: one ``predict`` call on ``X``, timed and scaled).

    Returns:
        Objective name -> value.
    """
    values = {}
    for name in objectives:
        if name == PREDICT_MS:
            started = time.perf_counter()
            estimator.predict(X)
            values[name] = (time.perf_counter() - started) * 1e6 / len(X)
        else:
            values[name] = score(estimator, X, y, name)
    return values
