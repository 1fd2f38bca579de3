"""Optuna storage calls per trial of an airsweep runner against the cluster's Postgres.

Question: which study round trips does a trial make, and what do they cost? Two
processes (as on a 2-slot worker; ``--runners``) each run one
:class:`airsweep.runner.Runner` the way a ``cpu_trials`` task does
(``airsweep.pipeline.run_trials``: a heartbeat storage, the study, the
study's Postgres advisory lock) against one new study in the running
cluster's Optuna database, with a budget of ``--runners x --trials`` trials of
``logistic_regression`` on iris (short fits, so the calls dominate). The
runners share the budget, so each runs about ``--trials`` of them.

Every method of Optuna's ``_CachedStorage`` (the layer every study call goes
through) and of ``RDBStorage`` (which the runner also calls directly: trial
heartbeats, lost-trial checks) is wrapped with a timer; a call is counted once,
under the outermost wrapped method, so a cached call is not counted again in
the RDB storage beneath it. Heartbeats are recorded in a background thread
(every 5 s) and are counted too. The study lock's acquire and release are
timed as ``study lock (acquire)`` and ``study lock (release)``: acquiring
includes waiting for the other runner.

The table gives, per trial, the wall time spent inside each method and how
often it was called, summed over the runners; the header gives each runner's
``wall_seconds`` minus its ``fit_seconds`` per trial (what
``bench/sweep_overhead.py`` calls ``runner_overhead``).

Run (the cluster must be up: ``.venv/bin/airsweep up``; the cluster's state
directory is ``AIRSWEEP_HOME``, default ``.airsweep``; takes about 15 s)::

    .venv/bin/python bench/storage_calls.py
    .venv/bin/python bench/storage_calls.py --runners 4 --trials 16
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing as mp
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODEL = "logistic_regression"


def _use_src() -> None:
    src = str(ROOT / "src")
    if src not in sys.path:
        sys.path.insert(0, src)


def _timed_storage(times: Counter[str], calls: Counter[str]) -> None:
    """Wrap the methods of ``_CachedStorage``, ``RDBStorage`` and the study lock with timers."""
    from optuna.storages import RDBStorage, _CachedStorage

    from airsweep.study_lock import PostgresStudyLock

    depth = threading.local()

    def wrap(cls: type, name: str, label: str) -> None:
        method = vars(cls)[name]

        def timed(*args: Any, _method: Any = method, _label: str = label, **kwargs: Any) -> Any:
            outer = getattr(depth, "n", 0) == 0
            depth.n = getattr(depth, "n", 0) + 1
            started = time.perf_counter()
            try:
                return _method(*args, **kwargs)
            finally:
                depth.n -= 1
                if outer:
                    times[_label] += time.perf_counter() - started
                    calls[_label] += 1

        setattr(cls, name, functools.wraps(method)(timed))

    for cls in (_CachedStorage, RDBStorage):
        for name, method in list(vars(cls).items()):
            if isinstance(method, (staticmethod, classmethod)):
                continue  # URL and engine helpers, called while the storage is built
            if not name.startswith("__") and callable(method):
                wrap(cls, name, name)
    wrap(PostgresStudyLock, "__enter__", "study lock (acquire)")
    wrap(PostgresStudyLock, "__exit__", "study lock (release)")


def _runner(index: int, setup: dict[str, Any], queue: mp.Queue) -> None:
    """Run one runner in this (forked) process and report its timings."""
    from airsweep.liveness import heartbeat_storage
    from airsweep.metrics import Metrics
    from airsweep.runner import Runner, RunnerContext
    from airsweep.study import load_study
    from airsweep.study_lock import study_lock

    times: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    _timed_storage(times, calls)
    config, manifest, url, name = setup["config"], setup["manifest"], setup["url"], setup["name"]
    storage = heartbeat_storage(url)
    study = load_study(storage, name, config)
    lock = study_lock(url, name)
    context = RunnerContext("bench", "cpu", index, 1, f"bench-{index}", n_jobs=1)
    plan = {"queue": "cpu", "models": [MODEL]}
    try:
        summary = Runner(plan, manifest, config, study, context, lock, storage, Metrics()).run()
    finally:
        lock.close()
        storage.remove_session()
    queue.put((summary, dict(times), dict(calls)))


def main(argv: list[str] | None = None) -> int:
    """Run the runners and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=32, help="trials per runner (32)")
    parser.add_argument("--runners", type=int, default=2, help="runner processes (2)")
    parser.add_argument("--cluster-root", type=Path, default=ROOT, help="checkout of the cluster")
    args = parser.parse_args(argv)
    _use_src()
    import optuna

    from airsweep.artifacts import ArtifactStore
    from airsweep.cluster.config import ClusterConfig
    from airsweep.cluster.lifecycle import env_file
    from airsweep.config import SweepConfig
    from airsweep.data import prepare_dataset
    from airsweep.envfile import read_env_file
    from airsweep.study import create_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cluster_env = env_file(ClusterConfig.from_env(args.cluster_root.resolve()))
    if not cluster_env.is_file():
        print(f"no running cluster: {cluster_env} is missing (run airsweep up)", file=sys.stderr)
        return 2
    url = read_env_file(cluster_env)["AIRSWEEP_OPTUNA_STORAGE"]
    n = args.runners * args.trials
    params = {"dataset": "iris", "models": [MODEL], "n_trials": n, "cv_folds": 3}
    config = SweepConfig.from_params(params)
    store = ArtifactStore(Path(tempfile.mkdtemp(prefix="storage_calls_")).as_uri())
    manifest = prepare_dataset(config, store, "storage-calls")
    name = f"bench_storage_calls_{time.time_ns()}"
    create_study(url, name, manifest["direction"], config, manifest)
    setup = {"url": url, "name": name, "config": config, "manifest": manifest}

    context = mp.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_runner, args=(i, setup, queue)) for i in range(args.runners)]
    for worker in workers:
        worker.start()
    results = [queue.get() for _ in workers]
    for worker in workers:
        worker.join()

    times: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    ran = sum(int(summary["trials"]) for summary, _, _ in results)
    for _, runner_times, runner_calls in results:
        times.update(runner_times)
        calls.update(runner_calls)
    overhead = ", ".join(
        f"{s['runner']} {s['trials']} trials "
        f"{(s['wall_seconds'] - s['fit_seconds']) / max(1, s['trials']) * 1000:.0f}"
        for s, _, _ in results
    )
    print(f"study {name}: {args.runners} runners, budget {n}, ran {ran} trials")
    print(f"outside fits per trial: {overhead} ms")
    print("\n| storage method | ms/trial | calls/trial |\n|---|---|---|")
    per = max(1, ran)
    for method, seconds in times.most_common():
        if seconds / per < 0.0005:
            continue  # negligible
        print(f"| `{method}` | {seconds / per * 1000:.1f} | {calls[method] / per:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
