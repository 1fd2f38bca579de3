"""What the trial process costs a trial: forked child against fitting in the runner itself.

Question: a runner fits its trials in a forked child that it can kill at
``trial_timeout_s`` (:mod:`airsweep.forked`, docs/sweeps.md "The trial
process"). How much longer does a small trial take that way than when the
runner fitted it in its own process, as it did before?

:class:`airsweep.trials.TrialExecutor` (the runner's: same split, folds,
space, pipeline, scorer, pruning checks; ``n_jobs=1`` under
``threadpool_limits(1)`` as a runner on one slot) on one in-memory study runs
``--trials`` trials in each mode, interleaved (one trial of every mode in
turn, so machine noise hits them alike):

* ``in-process``: ``TrialExecutor.cross_validate`` (sample, fit and score the
  folds in this process, report and prune) then ``fit_seconds`` and ``tell``,
  the storage calls of a runner's trial: the path before the trial process.
* ``trial process``: ``TrialExecutor.run``, the runner's path now: sample in
  this process, fit and score the folds in the trial process (forked at the
  first trial and kept), each fold's score back through the pipe, report,
  prune, ``fit_seconds``, ``tell``.
* ``fork per trial``: the same with an executor of its own whose trial process
  is killed after each trial, so every trial forks a new one (and kills it):
  the cost of a design that forks per trial, and about what the trial after a
  timed-out one pays.

Workload: ``logistic_regression`` on ``breast_cancer`` (455 training rows, 30
features), ``cv_folds`` 3, every parameter a one-point space (``C`` 1.0,
``class_weight`` null; ``--model random_forest``: 20 trees of depth 6), so
every trial does the same work (TPE still samples it) and nothing is pruned
(the scores tie). The table gives per mode the median and 90th percentile of
the trial's wall time (from before sampling to after ``tell``), the overhead
(median minus the in-process median) and the ratio of medians. The header
gives this process's resident memory, whose page tables each fork copies, and
the memory the kept trial process does not share with it (USS) at the end.

Run (no cluster needed; about a minute)::

    .venv/bin/python bench/trial_isolation.py
    .venv/bin/python bench/trial_isolation.py --trials 400 --model random_forest
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODES = ("in-process", "trial process", "fork per trial")
#: One point of each family's space: every trial does the same work.
PINNED = {
    "logistic_regression": {
        "C": {"type": "float", "low": 1.0, "high": 1.0},
        "class_weight": {"type": "categorical", "choices": [None]},
    },
    "random_forest": {
        "n_estimators": {"type": "int", "low": 20, "high": 20},
        "max_depth": {"type": "int", "low": 6, "high": 6},
        "min_samples_leaf": {"type": "int", "low": 1, "high": 1},
        "max_features": {"type": "float", "low": 0.5, "high": 0.5},
    },
}


def _use_src() -> None:
    src = str(ROOT / "src")
    if src not in sys.path:
        sys.path.insert(0, src)


def trial_modes(
    kept: Any, forked_each_time: Any, study: Any, model: str
) -> dict[str, Callable[[], None]]:
    """One function per mode, each running one whole trial.

    Args:
        kept: The executor of ``in-process`` and ``trial process`` (its trial
            process is kept from trial to trial).
        forked_each_time: The executor of ``fork per trial``.
        study: The study of every trial.
        model: The family.
    """
    from optuna.trial import TrialState

    def in_process() -> None:
        trial = study.ask()
        started = time.perf_counter()
        value = kept.cross_validate(trial, model)
        trial.set_user_attr("fit_seconds", round(time.perf_counter() - started, 3))
        study.tell(trial, value)

    def trial_process() -> None:
        outcome = kept.run(study.ask(), model)
        assert outcome.state == TrialState.COMPLETE, outcome

    def fork_per_trial() -> None:
        outcome = forked_each_time.run(study.ask(), model)
        assert outcome.state == TrialState.COMPLETE, outcome
        forked_each_time.close()

    return dict(zip(MODES, (in_process, trial_process, fork_per_trial), strict=True))


def main(argv: list[str] | None = None) -> int:
    """Run the trials and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200, help="trials per mode (200)")
    parser.add_argument("--model", choices=sorted(PINNED), default="logistic_regression")
    parser.add_argument("--dataset", default="breast_cancer")
    parser.add_argument("--cv-folds", type=int, default=3)
    args = parser.parse_args(argv)
    _use_src()
    import optuna
    import psutil
    import sklearn
    from threadpoolctl import threadpool_limits

    from airsweep.artifacts import ArtifactStore
    from airsweep.config import SweepConfig
    from airsweep.data import prepare_dataset
    from airsweep.metrics import Metrics
    from airsweep.study import create_study, load_study
    from airsweep.trial_outcome import Device
    from airsweep.trials import TrialExecutor

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = SweepConfig.from_params(
        {
            "dataset": args.dataset,
            "models": [args.model],
            "search_space": {args.model: PINNED[args.model]},
            "n_trials": 10_000,
            "cv_folds": args.cv_folds,
        }
    )
    store = ArtifactStore(Path(tempfile.mkdtemp(prefix="trial_isolation_")).as_uri())
    manifest = prepare_dataset(config, store, "trial-isolation")
    storage = optuna.storages.InMemoryStorage()
    create_study(storage, "bench", manifest["direction"], config, manifest)
    study = load_study(storage, "bench", config)
    device = Device("cpu", "cpu", None)
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    metrics = Metrics(client=False)
    with (
        threadpool_limits(limits=1),
        TrialExecutor(study, manifest, config, "cpu", device, 1, metrics) as kept,
        TrialExecutor(study, manifest, config, "cpu", device, 1, metrics) as forked_each_time,
    ):
        modes = trial_modes(kept, forked_each_time, study, args.model)
        for mode in MODES:  # warm-up: imports, caches, the first fork
            modes[mode]()
        for _ in range(args.trials):
            for mode, one in modes.items():
                started = time.perf_counter()
                one()
                times[mode].append(time.perf_counter() - started)
        rss = psutil.Process().memory_info().rss / 2**20
        [child] = psutil.Process().children()  # the kept trial process (the other is killed)
        child_own = child.memory_full_info().uss / 2**20

    base = statistics.median(times["in-process"])
    print(
        f"{args.trials} trials per mode, interleaved: {args.model} on {args.dataset} "
        f"({manifest['n_train']} training rows), cv_folds {args.cv_folds}, n_jobs 1; "
        f"python {platform.python_version()}, scikit-learn {sklearn.__version__}, "
        f"{os.cpu_count()} CPUs, this process {rss:.0f} MiB resident, its kept trial process "
        f"{child_own:.0f} MiB of its own (USS)"
    )
    print("\n| mode | median ms | p90 ms | overhead ms | ratio |\n|---|---|---|---|---|")
    for mode in MODES:
        median = statistics.median(times[mode])
        p90 = statistics.quantiles(times[mode], n=10)[-1]
        print(
            f"| {mode} | {median * 1000:.1f} | {p90 * 1000:.1f} | "
            f"{(median - base) * 1000:+.1f} | {median / base:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
