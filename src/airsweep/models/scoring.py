"""Score a fitted pipeline with a sweep metric, in the metric's own units."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
from sklearn.metrics import get_scorer

from airsweep.config.metrics import METRICS

#: The cost objective measured on a validation fold (see :func:`measure`).
PREDICT_MS = "predict_ms_per_1k_rows"
#: Timed ``predict`` calls of :func:`predict_ms_per_1k_rows` (the best is kept).
PREDICT_REPEATS = 3


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
        X: Features (a DataFrame of at least one row).
        y: True targets.
        objectives: Metric names and :data:`PREDICT_MS` (:func:`predict_ms_per_1k_rows`).

    Returns:
        Objective name -> value.
    """
    values = {}
    for name in objectives:
        if name == PREDICT_MS:
            values[name] = predict_ms_per_1k_rows(estimator, X)
        else:
            values[name] = score(estimator, X, y, name)
    return values


def predict_ms_per_1k_rows(estimator: Any, X: Any, repeats: int = PREDICT_REPEATS) -> float:
    """Milliseconds ``estimator`` takes to predict 1,000 rows drawn from ``X``.

    The rows of ``X`` are repeated (or cut) to exactly 1,000, so a small fold
    does not inflate the per-row cost with the fixed cost of a call; the best
    of ``repeats`` calls is kept (the least disturbed by other work).
    """
    rows = X.iloc[np.resize(np.arange(len(X)), 1000)]
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        estimator.predict(rows)
        best = min(best, time.perf_counter() - started)
    return best * 1000
