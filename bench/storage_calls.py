"""Optuna storage calls per trial of ``run_trial_batch`` against the cluster's Postgres.

Question: which study round trips does a trial make, and what do they cost? Two
processes (as on a 2-slot worker) each run one batch of ``--trials`` trials of
``logistic_regression`` on iris (short fits, so the calls dominate) against one
new study in the running cluster's Optuna database. Every method of Optuna's
``_CachedStorage`` (the layer every study call goes through) is wrapped with a
timer. The table gives, per trial, the wall time spent inside each method and
how often it was called, summed over both processes; the header gives each
batch's wall time minus its trials' ``fit_seconds`` per trial (what
``bench/sweep_overhead.py`` calls ``batch_overhead``).

Run (the cluster must be up: ``.venv/bin/airsweep up``; takes about 15 s)::

    .venv/bin/python bench/storage_calls.py
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing as mp
import sys
import tempfile
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
    """Wrap every public and private method of ``_CachedStorage`` with a timer."""
    from optuna.storages import _CachedStorage

    for name, method in list(vars(_CachedStorage).items()):
        if name.startswith("__") or not callable(method):
            continue

        def timed(*args: Any, _method: Any = method, _name: str = name, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return _method(*args, **kwargs)
            finally:
                times[_name] += time.perf_counter() - started
                calls[_name] += 1

        setattr(_CachedStorage, name, functools.wraps(method)(timed))


def _batch(index: int, setup: dict[str, Any], queue: mp.Queue) -> None:
    """Run one batch in this (forked) process and report its timings."""
    from airsweep.metrics import Metrics
    from airsweep.study import load_study
    from airsweep.trials import BatchContext, run_trial_batch

    times: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    _timed_storage(times, calls)
    config, manifest = setup["config"], setup["manifest"]
    study = load_study(setup["url"], setup["name"], config)
    context = BatchContext("bench", index, 1, "cpu", f"bench-{index}", n_jobs=1)
    batch = {"queue": "cpu", "trials": {MODEL: setup["trials"]}}
    started = time.perf_counter()
    summary = run_trial_batch(batch, manifest, config, study, context, Metrics())
    wall = time.perf_counter() - started
    queue.put((wall - summary["fit_seconds"], dict(times), dict(calls)))


def main(argv: list[str] | None = None) -> int:
    """Run the two batches and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=32, help="trials per batch (32)")
    parser.add_argument("--cluster-root", type=Path, default=ROOT, help="checkout of the cluster")
    args = parser.parse_args(argv)
    _use_src()
    import optuna

    from airsweep.artifacts import ArtifactStore
    from airsweep.config import SweepConfig
    from airsweep.data import prepare_dataset
    from airsweep.envfile import read_env_file
    from airsweep.study import create_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    env_file = args.cluster_root / ".airsweep" / "cluster.env"
    if not env_file.is_file():
        print(f"no running cluster: {env_file} is missing (run airsweep up)", file=sys.stderr)
        return 2
    url = read_env_file(env_file)["AIRSWEEP_OPTUNA_STORAGE"]
    params = {"dataset": "iris", "models": [MODEL], "n_trials": 2 * args.trials, "cv_folds": 3}
    config = SweepConfig.from_params(params)
    store = ArtifactStore(Path(tempfile.mkdtemp(prefix="storage_calls_")).as_uri())
    manifest = prepare_dataset(config, store, "storage-calls")
    name = f"bench_storage_calls_{time.time_ns()}"
    create_study(url, name, manifest["direction"], config, manifest)
    setup = {"url": url, "name": name, "config": config, "manifest": manifest}
    setup["trials"] = args.trials

    context = mp.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_batch, args=(i, setup, queue)) for i in range(2)]
    for worker in workers:
        worker.start()
    results = [queue.get() for _ in workers]
    for worker in workers:
        worker.join()

    n = 2 * args.trials
    times: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    for _, batch_times, batch_calls in results:
        times.update(batch_times)
        calls.update(batch_calls)
    overhead = ", ".join(f"{o / args.trials * 1000:.0f}" for o, _, _ in results)
    print(f"study {name}: 2 batches x {args.trials} trials; outside fits: {overhead} ms/trial")
    print("\n| storage method | ms/trial | calls/trial |\n|---|---|---|")
    for method, seconds in times.most_common():
        if method.startswith("_") or seconds / n < 0.0005:
            continue  # internal helpers of the public calls, or negligible
        print(f"| `{method}` | {seconds / n * 1000:.1f} | {calls[method] / n:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
