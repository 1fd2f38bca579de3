"""Elastic sweeps on the running cluster: overhead against Optuna distributed, and drift.

Runners take trials from one shared budget (``airsweep.runner``): each counts
the budget under the study's lock, reads the study and takes the next trial
until ``n_trials`` are taken. Two questions, one scenario each.

``--scenario overhead``: what does a whole sweep cost against Optuna's own
distributed set-up? The workload is ``bench/sweep_overhead.py``'s: 64 trials
(``--n-trials``) of ``random_forest`` on one point of its space (every trial
does the same work, nothing is pruned), ``synthetic`` data with the rows
calibrated in-process so that one trial takes about ``--trial-seconds`` (1 s)
on one core, ``cv_folds`` 3. Each repeat runs two systems, interleaved (odd
repeats airsweep first, even repeats Optuna first):

* ``airsweep``: ``hpo_sweep`` triggered through the REST API with
  ``max_parallel`` runners (``--max-parallel``: default ``auto``, the param's
  default; ``slots``: one per ``cpu_trials`` slot) on the cluster's
  ``cpu_trials`` slots. ``wall_s`` is client-side: just before the trigger
  request to the first poll (every ``--poll`` s, 0.5) that sees ``success``.
  ``dag_run_s`` is the DAG run's ``start_date`` to ``end_date`` (setup, plans,
  runners, finalize with its refit);
* ``optuna``: Optuna distributed optimization as its documentation describes
  it: N processes (N = the ``cpu_trials`` pool size), each started as a fresh
  ``python`` process running ``optuna.create_study(study_name=<same name>,
  storage=<the cluster's Postgres>, load_if_exists=True)`` and
  ``study.optimize(objective, n_trials=<its share>)``; the shares add up to
  ``--n-trials``. Same objective as airsweep's trial
  (``sweep_overhead.Objective`` mirrors ``airsweep.trials.TrialExecutor``),
  sampler (``make_sampler``; each process gets its own seed stream, as each
  runner does), pruner (``make_pruner``) and threads per trial (the cluster's
  ``AIRSWEEP_THREADS_PER_SLOT``). The data are prepared beforehand, outside
  the wall; each process loads the split. ``wall_s`` is the first process's
  start (``Popen``) to the last one's exit: interpreter start, imports and the
  study load are in it.

Per system, the medians over ``--repeats`` of: ``wall_s``; the phases
``to_first_trial_s`` (trigger or first process start to the first trial's
``datetime_start``), ``trial_phase_s`` (first trial start to last trial
completion) and ``after_last_trial_s`` (last completion to the DAG run's
``end_date``, or to the last process exit); ``sum_fit_s`` (the trials'
``fit_seconds``); ``E = sum_fit_s / (N x trial_phase_s)``; and the ratios
airsweep / optuna of the medians (wall: both the client-side and the DAG
run's wall against Optuna's).

``--scenario drift``: does a trial cost more when the study holds thousands
of trials? ``--n-trials`` (default 1000; 5000 for the long run) cheap trials,
``logistic_regression`` on iris with ``cv_folds`` 2, on the cluster as it is.
The finished counted trials (not lost with a worker) are sorted by
``datetime_complete``; for a slice of k trials, the per-trial wall is
(last completion in the slice - first completion in the slice) / k. The bench
reports it for the first 10 % and the last 10 % of trials, their ratio last /
first (target: at most 1.2), and every decile with the median trial duration
(``datetime_complete - datetime_start``), the median ``fit_seconds`` and the
trials per worker, so growth outside the fits shows. ``--sampler`` (tpe)
separates the sampler's own growth from airsweep's (``random`` costs nothing
per trial already in the study).

``--add-worker-at S`` (drift only): the cluster starts with one cpu worker (the
bench scales it to 1 first if needed), ``airsweep scale --cpu-workers 2`` runs
S seconds after the trigger (``airsweep scale`` waits for the worker to be
healthy; the pool then follows within seconds), and the bench scales back to 1
at the end (also on failure). The report adds when the scale started and
finished, and the trials per worker (``placement.worker``) overall and per
decile. The per-trial wall then falls once the second worker's runners take
trials: compare the deciles, not only first and last.

Trials are read from the study (``optuna.load_study``). Optuna stores naive
local times; they are read as this machine's local time, which is right for
the native cluster (one machine).

Run (the cluster must be up: ``.venv/bin/airsweep up``; its state directory is
``AIRSWEEP_HOME``, default ``.airsweep``; run nothing else heavy meanwhile)::

    .venv/bin/python bench/elastic_sweep.py --scenario overhead                # ~8 min
    .venv/bin/python bench/elastic_sweep.py --scenario overhead --repeats 1 --rows 1700
    .venv/bin/python bench/elastic_sweep.py --scenario drift                   # 1000 trials
    .venv/bin/python bench/elastic_sweep.py --scenario drift --n-trials 5000 --timeout 7200
    .venv/bin/python bench/elastic_sweep.py --scenario drift --add-worker-at 30
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sweep_overhead import (
    DAG_ID,
    DEFAULT_MAX_PARALLEL,
    FEATURES,
    MODEL,
    ROOT,
    Cluster,
    Objective,
    calibrate,
    max_parallel_arg,
    prepare_local,
    resolve_max_parallel,
    say,
    sweep_params,
)

TRIAL_TASK = "cpu_trials"
DRIFT_MODEL = "logistic_regression"
#: Target of the drift scenario: per-trial wall of the last 10 % / the first 10 %.
DRIFT_TARGET = 1.2
SYSTEMS = ("airsweep", "optuna")


def _use_src() -> None:
    src = str(ROOT / "src")
    if src not in sys.path:
        sys.path.insert(0, src)


def _api_time(value: str | None) -> datetime | None:
    """An API timestamp (ISO 8601, UTC) as an aware datetime."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _local(value: datetime | None) -> datetime | None:
    """An Optuna timestamp (naive, local time) as an aware datetime."""
    return value.astimezone(UTC) if value is not None else None


def _secs(a: datetime | None, b: datetime | None) -> float | None:
    return (b - a).total_seconds() if a and b else None


def _median(values: list[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def counted(trials: list[Any]) -> list[Any]:
    """Finished trials that count against the budget (lost ones give their place back)."""
    from airsweep.budget import is_lost

    return [t for t in trials if t.state.is_finished() and not is_lost(t)]


def worker_of(trial: Any) -> str:
    """The worker that ran ``trial`` (``placement.worker``)."""
    return str(trial.user_attrs.get("placement", {}).get("worker") or "?")


def phases(trials: list[Any], start: datetime, end: datetime | None) -> dict[str, Any]:
    """``to_first_trial_s``, ``trial_phase_s``, ``after_last_trial_s`` and ``sum_fit_s``.

    Args:
        trials: The study's trials.
        start: Trigger (or first process start), aware.
        end: DAG run end (or last process exit), aware.
    """
    starts = [_local(t.datetime_start) for t in trials if t.datetime_start]
    ends = [_local(t.datetime_complete) for t in trials if t.datetime_complete]
    first = min(starts) if starts else None
    last = max(ends) if ends else None
    return {
        "to_first_trial_s": _secs(start, first),
        "trial_phase_s": _secs(first, last),
        "after_last_trial_s": _secs(last, end),
        "sum_fit_s": sum(t.user_attrs.get("fit_seconds", 0.0) for t in trials),
        "states": dict(Counter(t.state.name.lower() for t in trials)),
    }


# --------------------------------------------------------------------------- airsweep


def run_airsweep(
    cluster: Cluster,
    conf: dict[str, Any],
    args: argparse.Namespace,
    label: str,
    on_trigger: Any = None,
) -> dict[str, Any]:
    """Trigger one sweep, poll it to the end; return its times and its trials.

    Args:
        cluster: The running cluster.
        conf: The ``hpo_sweep`` conf.
        args: ``timeout``, ``poll`` and ``progress_every``.
        label: Prefix of the progress lines.
        on_trigger: Called with the trigger's ``time.monotonic()`` right after
            the trigger request returned.
    """
    import optuna

    from airsweep.follow import failure_report
    from airsweep.study import study_name_for

    cluster.client.wait_for_dag(DAG_ID)
    load = os.getloadavg()[0]
    triggered = datetime.now(UTC)
    started = time.monotonic()
    run_id = cluster.client.trigger(DAG_ID, conf)["dag_run_id"]
    if on_trigger is not None:
        on_trigger(started)
    study_name = study_name_for(DAG_ID, run_id)
    say(f"  {label}: triggered {run_id} (load avg {load:.2f})")
    last_print = started
    while True:
        time.sleep(args.poll)
        try:
            run = cluster.client.dag_run(DAG_ID, run_id)
        except Exception:  # a busy api-server: ask again
            continue
        now = time.monotonic()
        if run["state"] in ("success", "failed"):
            break
        if args.progress_every and now - last_print >= args.progress_every:
            last_print = now
            counts = cluster.trial_counts(study_name)
            say(f"  {label}: {now - started:5.0f}s {run['state']}, trials: {counts}")
        if now - started > args.timeout:
            raise TimeoutError(f"{run_id} still {run['state']} after {args.timeout:.0f}s")
    client_wall = time.monotonic() - started
    if run["state"] != "success":
        raise RuntimeError(f"{run_id} failed:\n{failure_report(cluster.client, run_id)}")
    tis = [t for t in cluster.client.task_instances(DAG_ID, run_id) if t["task_id"] == TRIAL_TASK]
    study = optuna.load_study(study_name=study_name, storage=cluster.storage)
    trials = study.get_trials(deepcopy=False)
    run_start, run_end = _api_time(run["start_date"]), _api_time(run["end_date"])
    busy_runners = {
        t.user_attrs["placement"]["map_index"]
        for t in trials
        if isinstance(t.user_attrs.get("placement"), dict)
    }
    return {
        "run_id": run_id,
        "study_name": study_name,
        "triggered": triggered,
        "started_monotonic": started,
        "wall_s": client_wall,
        "dag_run_s": _secs(run_start, run_end),
        "run_end": run_end,
        "runners": len(tis),
        "idle_runners": len(tis) - len(busy_runners),
        "trials": trials,
        "load_before": load,
    }


# --------------------------------------------------------------------------- optuna


def optuna_worker(spec_path: Path) -> int:
    """One Optuna distributed process: load or create the study, optimize its share."""
    spec = json.loads(spec_path.read_text())
    _use_src()
    import optuna
    from threadpoolctl import threadpool_limits

    from airsweep.config import SweepConfig
    from airsweep.search import make_pruner, make_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = SweepConfig.from_dict(spec["config"])
    study = optuna.create_study(
        study_name=spec["study_name"],
        storage=spec["storage"],
        direction=spec["direction"],
        load_if_exists=True,
        sampler=make_sampler(config, stream=f"optuna/{spec['index']}"),
        pruner=make_pruner(config),
    )
    objective = Objective(spec["manifest"], config, spec["n_jobs"])
    with threadpool_limits(limits=spec["n_jobs"]):
        study.optimize(objective, n_trials=spec["n_trials"], catch=(Exception,))
    return 0


def run_optuna(
    cluster: Cluster,
    args: argparse.Namespace,
    rows: int,
    processes: int,
    workdir: Path,
) -> dict[str, Any]:
    """Optuna distributed: ``processes`` fresh processes on one study in the cluster's Postgres."""
    import optuna

    params = sweep_params(rows, args.n_trials, args.cv_folds, args.n_estimators_spread)
    manifest, config = prepare_local(params, workdir)
    name = f"bench_elastic_optuna_{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    base, extra = divmod(args.n_trials, processes)
    shares = [base + (1 if i < extra else 0) for i in range(processes)]
    specs = []
    for index, share in enumerate(shares):
        if share == 0:
            continue
        spec = workdir / f"{name}-{index}.json"
        spec.write_text(
            json.dumps(
                {
                    "storage": cluster.storage_url,
                    "study_name": name,
                    "direction": manifest["direction"],
                    "config": config.to_dict(),
                    "manifest": manifest,
                    "n_trials": share,
                    "n_jobs": cluster.threads_per_slot,
                    "index": index,
                }
            )
        )
        specs.append(spec)
    load = os.getloadavg()[0]
    say(f"  optuna: {len(specs)} processes on study {name} (load avg {load:.2f})")
    command = [sys.executable, str(Path(__file__).resolve()), "--optuna-worker"]
    started_at = datetime.now(UTC)
    started = time.monotonic()
    procs = [subprocess.Popen([*command, str(spec)], cwd=ROOT) for spec in specs]
    codes = []
    for proc in procs:
        left = max(1.0, args.timeout - (time.monotonic() - started))
        try:
            codes.append(proc.wait(timeout=left))
        except subprocess.TimeoutExpired as exc:
            for other in procs:
                other.kill()
            raise TimeoutError(f"optuna processes still running after {args.timeout:.0f}s") from exc
    wall = time.monotonic() - started
    ended_at = datetime.now(UTC)
    if any(codes):
        raise RuntimeError(f"optuna processes exited with {codes}")
    trials = optuna.load_study(study_name=name, storage=cluster.storage).get_trials(deepcopy=False)
    result = {
        "system": "optuna",
        "wall_s": wall,
        "dag_run_s": None,
        "workers": len(specs),
        "idle_runners": None,
        "load_before": load,
        "study_name": name,
        **phases(trials, started_at, ended_at),
    }
    if not args.keep_studies:
        optuna.delete_study(study_name=name, storage=cluster.storage)
    return result


# --------------------------------------------------------------------------- overhead


def overhead_once(
    system: str,
    cluster: Cluster,
    args: argparse.Namespace,
    rows: int,
    slots: int,
    workdir: Path,
) -> dict[str, Any]:
    """One run of one system of the overhead scenario."""
    if system == "optuna":
        result = run_optuna(cluster, args, rows, slots, workdir)
    else:
        runners = resolve_max_parallel(args.max_parallel, slots)
        conf = sweep_params(rows, args.n_trials, args.cv_folds, args.n_estimators_spread, runners)
        run = run_airsweep(cluster, conf, args, "airsweep")
        result = {
            "system": "airsweep",
            "wall_s": run["wall_s"],
            "dag_run_s": run["dag_run_s"],
            "workers": run["runners"],
            "idle_runners": run["idle_runners"],
            "load_before": run["load_before"],
            "run_id": run["run_id"],
            **phases(run["trials"], run["triggered"], run["run_end"]),
        }
    phase = result["trial_phase_s"]
    result["slots"] = slots
    result["E"] = result["sum_fit_s"] / (slots * phase) if phase else None
    return result


def overhead_tables(results: list[dict[str, Any]]) -> str:
    """The overhead scenario's tables: medians per system, then the ratios."""
    by_system = {s: [r for r in results if r["system"] == s] for s in SYSTEMS}
    keys = ("wall_s", "dag_run_s", "to_first_trial_s", "trial_phase_s", "after_last_trial_s")
    med = {
        s: {k: _median([r.get(k) for r in rows]) for k in (*keys, "sum_fit_s", "E")}
        for s, rows in by_system.items()
    }
    lines = [
        "| system | runs | runners (idle) / processes | wall_s | dag_run_s | to_first_trial_s "
        "| trial_phase_s | after_last_trial_s | sum_fit_s | E (trial phase) | trials |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for system, rows in by_system.items():
        if not rows:
            continue
        m = med[system]
        workers = _fmt(_median([r["workers"] for r in rows]), 0)
        if system == "airsweep":
            workers += f" ({_fmt(_median([r['idle_runners'] for r in rows]), 0)})"
        states: Counter[str] = Counter()
        for r in rows:
            states.update(r["states"])
        state_text = ", ".join(f"{k} {v / len(rows):g}" for k, v in sorted(states.items()))
        lines.append(
            f"| {system} | {len(rows)} | {workers} | "
            + " | ".join(_fmt(m[k]) for k in keys)
            + f" | {_fmt(m['sum_fit_s'])} | {_fmt(m['E'], 3)} | {state_text} |"
        )
    a, o = med["airsweep"], med["optuna"]
    if by_system["airsweep"] and by_system["optuna"]:
        lines += [
            "",
            "| ratio airsweep / optuna (medians) | value |",
            "|---|---|",
            f"| wall: client trigger->success / processes start->end | "
            f"{_ratio(a['wall_s'], o['wall_s'])} |",
            f"| wall: DAG run start->end / processes start->end | "
            f"{_ratio(a['dag_run_s'], o['wall_s'])} |",
            f"| trial phase | {_ratio(a['trial_phase_s'], o['trial_phase_s'])} |",
            f"| to first trial | {_ratio(a['to_first_trial_s'], o['to_first_trial_s'])} |",
            f"| after last trial | {_ratio(a['after_last_trial_s'], o['after_last_trial_s'])} |",
        ]
    return "\n".join(lines)


def scenario_overhead(args: argparse.Namespace, cluster: Cluster) -> list[dict[str, Any]]:
    """Calibrate, run both systems ``--repeats`` times interleaved, print the tables."""
    slots = cluster.slots()
    n_jobs = cluster.threads_per_slot
    runners = resolve_max_parallel(args.max_parallel, slots)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="elastic-sweep-") as tmp:
        workdir = Path(tmp)
        rows, trial_s = calibrate(args, n_jobs, workdir)
        for repeat in range(1, args.repeats + 1):
            order = SYSTEMS if repeat % 2 else tuple(reversed(SYSTEMS))
            for system in order:
                say(f"repeat {repeat}/{args.repeats}: {system} ...")
                result = overhead_once(system, cluster, args, rows, slots, workdir)
                result["repeat"] = repeat
                results.append(result)
                say(
                    f"  {system}: wall {result['wall_s']:.1f}s"
                    + (f", dag run {result['dag_run_s']:.1f}s" if result["dag_run_s"] else "")
                    + f", to first trial {_fmt(result['to_first_trial_s'])}s, trial phase "
                    f"{_fmt(result['trial_phase_s'])}s, after {_fmt(result['after_last_trial_s'])}"
                    f"s, E {_fmt(result['E'], 3)}, trials {result['states']}"
                )
    print()
    print(
        f"scenario overhead: n_trials={args.n_trials}, repeats={args.repeats} (interleaved), "
        f"medians; {slots} cpu_trials slots = {slots} optuna processes; airsweep max_parallel="
        f"{runners}; {MODEL} on synthetic {rows} rows x {FEATURES} features, "
        f"cv_folds={args.cv_folds}; calibrated trial {trial_s:.3f}s on one core; "
        f"{n_jobs} thread(s) per trial; machine: {os.cpu_count()} cores, shared with the cluster"
    )
    print()
    print(overhead_tables(results))
    return results


# --------------------------------------------------------------------------- drift


def per_trial_wall(done: list[datetime]) -> float | None:
    """(last completion - first completion) / trials, of one slice sorted by completion."""
    if len(done) < 2:
        return None
    return (done[-1] - done[0]).total_seconds() / len(done)


def drift_stats(trials: list[Any]) -> dict[str, Any]:
    """Per-trial wall of the first and last 10 % of trials, and of every decile."""
    done = sorted(counted(trials), key=lambda t: t.datetime_complete)
    n = len(done)
    k = max(2, n // 10)
    times = [t.datetime_complete for t in done]
    first, last = per_trial_wall(times[:k]), per_trial_wall(times[-k:])
    deciles = []
    for i in range(10):
        chunk = done[i * n // 10 : (i + 1) * n // 10]
        durations = {
            t.number: (t.datetime_complete - t.datetime_start).total_seconds()
            for t in chunk
            if t.datetime_start
        }
        outside = [
            durations[t.number] - t.user_attrs["fit_seconds"]
            for t in chunk
            if t.number in durations and "fit_seconds" in t.user_attrs
        ]
        deciles.append(
            {
                "trials": len(chunk),
                "per_trial_s": per_trial_wall([t.datetime_complete for t in chunk]),
                "trial_s": _median(list(durations.values())),
                "fit_s": _median([t.user_attrs.get("fit_seconds") for t in chunk]),
                "outside_s": _median(outside),
                "workers": dict(Counter(worker_of(t) for t in chunk)),
            }
        )
    return {
        "counted": n,
        "slice": k,
        "first_s": first,
        "last_s": last,
        "ratio": last / first if first and last else None,
        "deciles": deciles,
        "workers": dict(Counter(worker_of(t) for t in done)),
    }


def airsweep_command(cluster_root: Path) -> list[str]:
    """The ``airsweep`` command of the cluster's checkout."""
    program = cluster_root / ".venv" / "bin" / "airsweep"
    return [str(program)] if program.exists() else [sys.executable, "-m", "airsweep"]


def scale(cluster: Cluster, workers: int, timeout_s: float) -> tuple[int, str]:
    """Run ``airsweep scale --cpu-workers N``; return its exit code and its output's tail."""
    env = {**os.environ, "AIRSWEEP_ROOT": str(cluster.root)}
    try:
        proc = subprocess.run(
            [*airsweep_command(cluster.root), "scale", "--cpu-workers", str(workers)],
            cwd=cluster.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return -1, f"airsweep scale --cpu-workers {workers} timed out after {timeout_s:.0f}s"
    return proc.returncode, (proc.stdout + proc.stderr).strip()[-2000:]


def wait_for_slots(cluster: Cluster, slots: int, timeout_s: float = 120) -> int:
    """Wait until the ``cpu_trials`` pool has ``slots`` slots (pool-sync follows the workers)."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = cluster.slots()
        if now == slots or time.monotonic() > deadline:
            return now
        time.sleep(2)


class ScaleLater:
    """Scale to 2 cpu workers ``at_s`` seconds after the trigger, in a thread.

    Attributes:
        events: ``scale_start_s`` and ``scale_end_s`` (seconds after the
            trigger), ``rc`` and ``output`` once it ran; ``skipped`` if the
            sweep ended first.
    """

    def __init__(self, cluster: Cluster, at_s: float, timeout_s: float) -> None:
        self.cluster = cluster
        self.at_s = at_s
        self.timeout_s = timeout_s
        self.events: dict[str, Any] = {}
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, triggered: float) -> None:
        """Start the timer; ``triggered`` is the trigger's ``time.monotonic()``."""
        self._thread = threading.Thread(target=self._run, args=(triggered,), daemon=True)
        self._thread.start()

    def _run(self, triggered: float) -> None:
        if self._cancel.wait(max(0.0, triggered + self.at_s - time.monotonic())):
            self.events["skipped"] = "the sweep ended first"
            return
        self.events["scale_start_s"] = time.monotonic() - triggered
        say(f"  scaling to 2 cpu workers ({self.events['scale_start_s']:.0f}s after trigger)")
        rc, output = scale(self.cluster, 2, self.timeout_s)
        self.events.update(rc=rc, output=output, scale_end_s=time.monotonic() - triggered)
        say(f"  scale done {self.events['scale_end_s']:.0f}s after trigger (rc {rc})")
        if rc != 0:
            say(f"  WARNING: airsweep scale --cpu-workers 2 failed:\n{output}")

    def finish(self) -> dict[str, Any]:
        """Cancel the timer if it has not fired; wait for a scale in progress."""
        self._cancel.set()
        if self._thread is not None:
            self._thread.join()
        return self.events


def drift_once(args: argparse.Namespace, cluster: Cluster, repeat: int) -> dict[str, Any]:
    """One drift sweep (with a worker added mid-sweep when ``--add-worker-at``)."""
    from airsweep.cluster.components import worker_concurrency

    per_worker = worker_concurrency("cpu", cluster.env)
    if args.add_worker_at is not None:
        code, output = scale(cluster, 1, args.scale_timeout)
        if code != 0:
            raise RuntimeError(f"airsweep scale --cpu-workers 1 failed:\n{output}")
        slots = wait_for_slots(cluster, per_worker)
        if slots != per_worker:
            raise RuntimeError(f"cpu_trials has {slots} slots, not {per_worker}, with 1 worker")
    slots_at_start = cluster.slots()
    conf = {
        "dataset": "iris",
        "models": [DRIFT_MODEL],
        "n_trials": args.n_trials,
        "cv_folds": 2,
        "sampler": args.sampler,
        "seed": 42,
        "max_parallel": resolve_max_parallel(args.max_parallel, slots_at_start),
    }
    later = None
    if args.add_worker_at is not None:
        later = ScaleLater(cluster, args.add_worker_at, args.scale_timeout)
    try:
        run = run_airsweep(
            cluster,
            conf,
            args,
            f"drift {repeat}",
            on_trigger=later.start if later is not None else None,
        )
    finally:
        scaled = later.finish() if later is not None else {}
        if later is not None:
            code, output = scale(cluster, 1, args.scale_timeout)
            if code != 0:
                say(f"  WARNING: scaling back to 1 cpu worker failed:\n{output}")
    slots_at_end = cluster.slots()
    trials = run["trials"]
    stats = drift_stats(trials)
    first = _local(min((t.datetime_start for t in trials if t.datetime_start), default=None))
    return {
        "repeat": repeat,
        "run_id": run["run_id"],
        "n_trials": args.n_trials,
        "max_parallel": conf["max_parallel"],
        "runners": run["runners"],
        "idle_runners": run["idle_runners"],
        "slots_at_start": slots_at_start,
        "slots_at_end": slots_at_end,
        "wall_s": run["wall_s"],
        "dag_run_s": run["dag_run_s"],
        "to_first_trial_s": _secs(run["triggered"], first),
        "states": dict(Counter(t.state.name.lower() for t in trials)),
        "scale": {k: v for k, v in scaled.items() if k != "output"},
        **stats,
    }


def drift_tables(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """The drift scenario's tables: the first and last 10 %, then every decile."""
    ms = 1000.0

    def med(key: str) -> float | None:
        return _median([r.get(key) for r in results])

    first, last, ratio = med("first_s"), med("last_s"), med("ratio")
    verdict = "-" if ratio is None else ("yes" if ratio <= DRIFT_TARGET else "NO")
    workers: Counter[str] = Counter()
    for r in results:
        workers.update(r["workers"])
    worker_text = ", ".join(f"{w} {c / len(results):g}" for w, c in sorted(workers.items()))
    lines = [
        "| runs | counted trials | runners (idle) | slots start/end | wall_s | dag_run_s "
        "| to_first_trial_s | first 10 % ms/trial | last 10 % ms/trial | last/first "
        f"| <= {DRIFT_TARGET} | trials per worker |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| {len(results)} | {_fmt(med('counted'), 0)} | {_fmt(med('runners'), 0)} "
        f"({_fmt(med('idle_runners'), 0)}) | {results[0]['slots_at_start']}/"
        f"{results[0]['slots_at_end']} | {_fmt(med('wall_s'))} | {_fmt(med('dag_run_s'))} "
        f"| {_fmt(med('to_first_trial_s'))} | {_fmt(first and first * ms)} "
        f"| {_fmt(last and last * ms)} | {_fmt(ratio, 2)} | {verdict} | {worker_text} |",
    ]
    if args.add_worker_at is not None:
        starts = [r["scale"].get("scale_start_s") for r in results]
        ends = [r["scale"].get("scale_end_s") for r in results]
        skipped = sum(1 for r in results if r["scale"].get("skipped"))
        failed = sum(1 for r in results if r["scale"].get("rc") not in (None, 0))
        lines += [
            "",
            f"scale to 2 cpu workers requested at {args.add_worker_at:g} s: started "
            f"{_fmt(_median(starts))} s, done {_fmt(_median(ends))} s after the trigger "
            f"(medians; {skipped} run(s) ended before it, {failed} scale(s) failed)",
        ]
    lines += [
        "",
        "Per decile of trials by completion time (medians over runs): ms/trial = (last "
        "completion - first completion) / trials; trial ms = median datetime_complete - "
        "datetime_start; fit ms = median fit_seconds; outside fit ms = median of each "
        "trial's (datetime_complete - datetime_start - fit_seconds): attrs, heartbeat, tell. "
        "The lost-trial check and the budget count under the study lock come before a "
        "trial's datetime_start: they show in ms/trial only.",
        "",
        "| decile | trials | ms/trial | trial ms | fit ms | outside fit ms | trials per worker |",
        "|---|---|---|---|---|---|---|",
    ]
    for i in range(10):
        rows = [r["deciles"][i] for r in results]
        per = _median([d["per_trial_s"] for d in rows])
        trial = _median([d["trial_s"] for d in rows])
        fit = _median([d["fit_s"] for d in rows])
        outside = _median([d["outside_s"] for d in rows])
        by_worker: Counter[str] = Counter()
        for d in rows:
            by_worker.update(d["workers"])
        text = ", ".join(f"{w} {c / len(rows):g}" for w, c in sorted(by_worker.items()))
        lines.append(
            f"| {i + 1} | {_fmt(_median([d['trials'] for d in rows]), 0)} "
            f"| {_fmt(per and per * ms)} | {_fmt(trial and trial * ms)} "
            f"| {_fmt(fit and fit * ms)} | {_fmt(outside and outside * ms)} | {text} |"
        )
    return "\n".join(lines)


def scenario_drift(args: argparse.Namespace, cluster: Cluster) -> list[dict[str, Any]]:
    """Run the drift sweep ``--repeats`` times and print its tables."""
    if args.add_worker_at is not None and os.environ.get("AIRSWEEP_CPU_WORKERS"):
        raise SystemExit("--add-worker-at: unset AIRSWEEP_CPU_WORKERS; it overrides the scale")
    results = []
    for repeat in range(1, args.repeats + 1):
        say(f"repeat {repeat}/{args.repeats}: drift, {args.n_trials} trials ...")
        result = drift_once(args, cluster, repeat)
        results.append(result)
        say(
            f"  drift {repeat}: wall {result['wall_s']:.1f}s, {result['counted']} counted "
            f"trials, first 10 % {_fmt(result['first_s'] and result['first_s'] * 1000)} "
            f"ms/trial, last 10 % {_fmt(result['last_s'] and result['last_s'] * 1000)} "
            f"ms/trial, ratio {_fmt(result['ratio'], 2)}, by worker {result['workers']}"
        )
    print()
    print(
        f"scenario drift: {DRIFT_MODEL} on iris, cv_folds=2, sampler={args.sampler}, "
        f"n_trials={args.n_trials}, max_parallel={results[0]['max_parallel']}, "
        f"repeats={args.repeats}"
        + (
            f", second cpu worker added {args.add_worker_at:g} s after the trigger"
            if args.add_worker_at is not None
            else ""
        )
        + f"; machine: {os.cpu_count()} cores, shared with the cluster"
    )
    print()
    print(drift_tables(results, args))
    return results


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenario", choices=("overhead", "drift"), help="what to measure (required)"
    )
    parser.add_argument(
        "--n-trials",
        type=int,
        help="trials per sweep (overhead: 64; drift: 1000, and 5000 for the long run)",
    )
    parser.add_argument(
        "--repeats", type=int, help="runs per system; medians (overhead 3, drift 1)"
    )
    parser.add_argument(
        "--max-parallel",
        type=max_parallel_arg,
        default=DEFAULT_MAX_PARALLEL,
        help=f"runners per queue ({DEFAULT_MAX_PARALLEL}, the param's default; "
        "'slots': one per cpu_trials pool slot)",
    )
    parser.add_argument(
        "--cluster-root", type=Path, default=ROOT, help="airsweep checkout of the running cluster"
    )
    parser.add_argument("--poll", type=float, default=0.5, help="DAG run poll interval, s (0.5)")
    parser.add_argument(
        "--progress-every", type=float, default=30, help="progress line every s; 0: none (30)"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per sweep (3600)")
    parser.add_argument("--json-out", type=Path, help="also write every run's figures here")
    over = parser.add_argument_group("overhead scenario")
    over.add_argument(
        "--trial-seconds", type=float, default=1.0, help="target time of one trial (1.0)"
    )
    over.add_argument("--cv-folds", type=int, default=3, help="CV folds per trial (3)")
    over.add_argument("--rows", type=int, default=0, help="skip calibration: use these rows")
    over.add_argument(
        "--n-estimators-spread",
        type=int,
        default=0,
        help="n_estimators range [N, N+k] instead of one value (enables pruning)",
    )
    over.add_argument(
        "--keep-studies", action="store_true", help="keep the Optuna processes' studies"
    )
    drift = parser.add_argument_group("drift scenario")
    drift.add_argument(
        "--sampler", choices=("tpe", "random"), default="tpe", help="sampler of the sweep (tpe)"
    )
    drift.add_argument(
        "--add-worker-at",
        type=float,
        metavar="S",
        help="scale to 2 cpu workers S seconds after the trigger (back to 1 at the end)",
    )
    drift.add_argument(
        "--scale-timeout", type=float, default=600, help="seconds per airsweep scale (600)"
    )
    parser.add_argument("--optuna-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.optuna_worker is not None:
        return args
    if args.scenario is None:
        parser.error("--scenario is required (overhead or drift)")
    if args.add_worker_at is not None and args.scenario != "drift":
        parser.error("--add-worker-at applies to --scenario drift")
    if args.add_worker_at is not None and args.max_parallel == "slots":
        parser.error("--add-worker-at needs runners for the added slots: give --max-parallel N")
    if args.n_trials is None:
        args.n_trials = 64 if args.scenario == "overhead" else 1000
    if args.repeats is None:
        args.repeats = 3 if args.scenario == "overhead" else 1
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenario and print its tables."""
    args = parse_args(argv)
    if args.optuna_worker is not None:
        return optuna_worker(args.optuna_worker)
    _use_src()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    began = time.monotonic()
    cluster = Cluster(args.cluster_root.resolve())
    say(
        f"cluster {cluster.cfg.api_url} (state {cluster.cfg.home}): {TRIAL_TASK} pool "
        f"{cluster.slots()} slots, {cluster.threads_per_slot} thread(s)/slot; machine: "
        f"{os.cpu_count()} cores, load avg {os.getloadavg()[0]:.2f}"
    )
    if args.scenario == "overhead":
        results = scenario_overhead(args, cluster)
    else:
        results = scenario_drift(args, cluster)
    print()
    say(f"total bench time {time.monotonic() - began:.0f}s")
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
