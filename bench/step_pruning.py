"""What training in steps costs a trial, and what it gives the pruner.

Question: a family with steps (xgboost, hist_gradient_boosting) trains its
folds side by side in chunks of boosting rounds so that the pruner can stop a
trial after 10, 30, 90 rounds (:mod:`airsweep.crossval`). How much longer does a
trial that runs to the end take than one plain fit per fold, and how far is
its CV score from the plain fit's when XGBoost subsamples?

For each family and schedule, ``--trials`` random configurations (each
family's default search space, seeded) are cross-validated twice on the same
folds: ``plain`` (:meth:`CrossValidation.fold_scores`, one fit per fold) and
``steps`` (:meth:`CrossValidation.reports` at the schedule's checkpoints, to the
last one: the worst case, a trial never pruned). Schedules: ``hyperband``
(10, 30, 90, ... rounds, the default of successive halving and hyperband with
``reduction_factor`` 3) and ``median`` (10, 20, 40, ..., the median and
percentile pruners'). The table gives the median time ratio steps / plain and
the largest difference of mean CV scores (0 where the chunks make the same
trees; XGBoost with ``subsample`` or ``colsample_bytree`` below 1 draws each
chunk's samples afresh).

Run (no cluster needed; about a minute)::

    .venv/bin/python bench/step_pruning.py
    .venv/bin/python bench/step_pruning.py --rows 20000 --trials 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from airsweep.crossval import CrossValidation
from airsweep.models.registry import get_family
from airsweep.search.pruners import StepSchedule
from airsweep.space import resolve_space, suggest

FAMILIES = ("xgboost", "hist_gradient_boosting")
SCHEDULES = {"hyperband": StepSchedule(10, 3, 500), "median": StepSchedule(10, 2, 500)}


def timed(fn: Any, *args: Any) -> tuple[float, list[Any]]:
    """Seconds ``list(fn(*args))`` took, and that list."""
    started = time.perf_counter()
    result = list(fn(*args))
    return time.perf_counter() - started, result


def main() -> None:
    """Run the comparison and print one row per family and schedule."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--trials", type=int, default=8)
    args = parser.parse_args()
    X, y = make_classification(args.rows, 20, n_informative=10, random_state=0)
    X, y = pd.DataFrame(X, columns=[f"x{i}" for i in range(20)]), pd.Series(y)
    manifest = {
        "features": list(X.columns),
        "categorical": [],
        "task_type": "classification",
        "metric": "accuracy",
    }
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    cv = CrossValidation(manifest, X, y, folds, n_jobs=1, device="cpu", seed=0)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"rows={args.rows} features=20 folds=3 trials={args.trials} n_jobs=1")
    print(
        f"{'family':<24}{'schedule':<11}{'plain s':>9}{'steps s':>9}{'ratio':>7}{'max |dCV|':>11}"
    )
    with threadpool_limits(1):
        for family in FAMILIES:
            study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
            space = resolve_space(family, "classification")
            configs = [suggest(study.ask(), family, space) for _ in range(args.trials)]
            step_param = get_family(family).step_param
            for name, schedule in SCHEDULES.items():
                plain, steps, diffs = [], [], []
                for params in configs:
                    checkpoints = schedule.checkpoints(params[step_param])
                    t_plain, scores = timed(cv.fold_scores, family, params)
                    t_steps, reports = timed(cv.reports, family, params, checkpoints)
                    plain.append(t_plain)
                    steps.append(t_steps)
                    diffs.append(abs(np.mean(scores) - np.mean(reports[-1][1])))
                ratio = statistics.median(s / p for s, p in zip(steps, plain, strict=True))
                print(
                    f"{family:<24}{name:<11}{statistics.median(plain):>9.3f}"
                    f"{statistics.median(steps):>9.3f}{ratio:>7.2f}{max(diffs):>11.4f}"
                )


if __name__ == "__main__":
    main()
