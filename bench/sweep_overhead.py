"""Orchestration overhead of an airsweep sweep versus plain Optuna, on the running cluster.

Question: how much of the machine does a sweep spend fitting models? For the
same dataset, model, search space and trial budget the bench runs two modes
and reports, per mode, the median over ``--repeats`` runs of:

* ``wall_s``: the trial phase. For ``airsweep``, the earliest ``start_date``
  to the latest ``end_date`` of the mapped ``cpu_trials`` task instances (the
  runners; REST API); for ``optuna``, the wall of ``study.optimize``.
* ``trials_span_s``: first trial start to last trial completion (study
  timestamps), in both modes.
* ``dag_run_wall_s``: the whole DAG run (``start_date`` to ``end_date``:
  setup, plans, runners, finalize); ``-`` for ``optuna``.
* ``sum_fit_s``: the sum of the trials' ``fit_seconds`` user attr (the whole
  cross-validated fit of a trial, pruned and failed trials included).
* ``slots``: the ``cpu_trials`` pool size (``GET /api/v2/pools``); ``optuna``
  runs ``study.optimize(n_jobs=slots)`` with that many threads.
* ``runners`` / ``idle``: mapped ``cpu_trials`` task instances, and those that
  ran no trial (they started after the budget was spent: ``trials: 0``).
* ``E = sum_fit_s / (slots * wall_s)``, the efficiency, computed per run, and
  ``wall vs optuna`` = median wall / median wall of the ``optuna`` mode.

Modes:

* ``airsweep``: ``hpo_sweep`` triggered through the REST API with
  ``max_parallel`` runners on the cpu queue (``--max-parallel``: default ``auto``,
  the param's default; ``slots`` maps one runner per pool slot, so no runner
  is idle). Every runner takes trials from the shared budget until it is
  spent (``airsweep.runner``); the pool runs ``slots`` of them at once.
* ``optuna``: one process, ``optuna.create_study`` (in memory, or the cluster's
  Postgres with ``--optuna-storage cluster``) and ``study.optimize(objective,
  n_trials, n_jobs=slots)``, where the objective does what an airsweep trial
  does (:class:`Objective` mirrors ``airsweep.trials.TrialExecutor``): the same
  prepared split (``prepare_dataset`` + ``load_split``), the same folds, space
  (``resolve_space`` + ``suggest``), pipeline (``build_pipeline``), scorer,
  pruning (``FamilyPruner`` over ``make_pruner``), sampler (``make_sampler``) and
  thread limit. What a runner adds around the executor (the budget count under
  the study lock, heartbeats, the ``placement`` and ``model`` attrs) is
  orchestration, and is measured as such. ``bench/elastic_sweep.py --scenario
  overhead`` compares with Optuna's distributed set-up (one process per slot
  on the cluster's Postgres) instead.

Runs are interleaved (repeat 1 of every mode, then repeat 2, ...).

Workload: ``random_forest`` (``device: cpu``, cpu queue only) on the
``synthetic`` dataset (2 classes, 20 features), ``cv_folds`` 3. The search
space is a single point (``low == high`` for every parameter), so every trial
does the same work, trial times do not vary with the sampled point, and the
scores tie: airsweep's ``MedianPruner(n_startup_trials=5)`` only prunes a trial
strictly worse than the median, so nothing is pruned and the modes fit the
same amount. Trials still go through TPE ask/tell in every mode.
``--n-estimators-spread k`` widens ``n_estimators`` to ``[N, N + k]``; scores
then differ and the pruner may stop trials (the table counts pruned trials;
their partial fits are in ``sum_fit_s``). At start the bench calibrates the
number of rows in-process so that one trial takes about ``--trial-seconds`` on
one core, and prints the measured trial time (``--rows`` skips calibration).

The bench also reads each airsweep run's task logs
(``$AIRSWEEP_HOME/logs/airflow/.../attempt=N.log``, whose "Returned value" line
holds the runner's summary: ``runner``, ``queue``, ``map_index``, ``worker``,
``trials``, ``complete``, ``pruned``, ``failed``, ``lost``, ``stop_reason``,
``fit_seconds``, ``wall_seconds``) and splits the slot time of the trial phase
(``slots * wall_s``) among the ``cpu_trials`` task instances:

* ``queued_to_start``: queued (or the phase start) to ``start_date``: Celery
  pickup, task process fork;
* ``pre_execute``: ``start_date`` to the end of the log's "Pre Execute" group
  (DAG file parse, XCom pulls);
* ``setup``: ``execute`` outside ``Runner.run`` (imports, settings, storage,
  study and lock);
* ``runner_overhead``: ``Runner.run``'s ``wall_seconds`` minus its
  ``fit_seconds`` (lost-trial checks, the budget count under the lock, ask,
  attrs, heartbeats, tell, metrics, data load);
* ``fit``: the runners' ``fit_seconds``;
* ``post_execute``: execute end to ``end_date`` (XCom push, final state);
* ``idle_runners``: the whole slot time (queued to ``end_date``) of runners
  that ran no trial: they started after the budget was spent;
* ``idle``: no trial task queued or running on the slot (scheduler gaps, the
  tail of the last trial on the other slot).

Rows: ``slot-s`` sums every runner; ``per runner`` divides each part by the
runners that ran trials, and ``idle_runners`` by the idle ones. The bench also
joins the workers' ``Workload finished`` log lines with the API's ``end_date``
to count Celery slots held more than 2 s after their task instance ended.

Run (the cluster must be up: ``.venv/bin/airsweep up``; run nothing else heavy
meanwhile; default settings take about 6 minutes on 2 cores)::

    .venv/bin/python bench/sweep_overhead.py
    .venv/bin/python bench/sweep_overhead.py --repeats 1 --rows 1700
    .venv/bin/python bench/sweep_overhead.py --max-parallel slots   # no idle runner
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DAG_ID = "hpo_sweep"
TRIAL_TASK = "cpu_trials"
POOL = "cpu_trials"
MODES = ("airsweep", "optuna")
MODEL = "random_forest"
FEATURES = 20
SEED = 42
#: ``max_parallel`` of the ``hpo_sweep`` param (its default: twice the live slots).
DEFAULT_MAX_PARALLEL = "auto"
#: The single point of the search space (``n_estimators`` may get a spread).
POINT = {"n_estimators": 40, "max_depth": 12, "min_samples_leaf": 2, "max_features": 0.5}
BREAKDOWN = (
    "queued_to_start",
    "pre_execute",
    "setup",
    "runner_overhead",
    "fit",
    "post_execute",
    "idle_runners",
    "idle",
)
#: Keys of a runner's summary read back from its task log ("Returned value was ...").
SUMMARY_NUMBERS = ("trials", "complete", "pruned", "failed", "lost", "fit_seconds", "wall_seconds")
SUMMARY_TEXTS = ("runner", "queue", "worker", "stop_reason")


def _use_src() -> None:
    src = str(ROOT / "src")
    if src not in sys.path:
        sys.path.insert(0, src)


def say(message: str) -> None:
    """Print one progress line with a timestamp."""
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def search_space(spread: int) -> dict[str, dict[str, Any]]:
    """The fixed, narrow space of ``random_forest`` (a single point unless ``spread``)."""
    space: dict[str, dict[str, Any]] = {}
    for name, value in POINT.items():
        kind = "float" if isinstance(value, float) else "int"
        high = value + spread if name == "n_estimators" else value
        space[name] = {"type": kind, "low": value, "high": high}
    return space


def sweep_params(
    rows: int,
    n_trials: int,
    cv_folds: int,
    spread: int,
    max_parallel: int | str = DEFAULT_MAX_PARALLEL,
) -> dict[str, Any]:
    """The ``hpo_sweep`` conf of the workload (also configures the in-process modes)."""
    return {
        "dataset": "synthetic",
        "synthetic": {"rows": rows, "features": FEATURES, "classes": 2, "noise": 0.05},
        "models": [MODEL],
        "device": {MODEL: "cpu"},
        "search_space": {MODEL: search_space(spread)},
        "n_trials": n_trials,
        "cv_folds": cv_folds,
        "sampler": "tpe",
        "seed": SEED,
        "trial_timeout_s": 3600,
        "max_parallel": max_parallel,
    }


def max_parallel_arg(value: str) -> str | int:
    """``--max-parallel``: ``auto``, ``slots`` or a positive integer."""
    if value in ("auto", "slots"):
        return value
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'auto', 'slots' or an integer, got {value!r}"
        ) from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {number}")
    return number


def resolve_max_parallel(value: str | int, slots: int) -> int | str:
    """The ``max_parallel`` param: ``slots`` means one runner per ``cpu_trials`` pool slot."""
    if value == "slots":
        return slots
    return value if value == "auto" else int(value)


# --------------------------------------------------------------------------- in-process


class Objective:
    """One airsweep trial as an Optuna objective (``TrialExecutor.cross_validate``).

    The same split, folds, space, pipeline, scorer, pruning checks and thread
    count as a runner's trials (the very same code); ``fit_seconds`` and
    ``error`` are recorded as in airsweep. Pass ``catch=(Exception,)`` to
    ``study.optimize`` so a failed trial does not stop it, as a failed trial
    does not stop a runner.
    """

    def __init__(self, manifest: dict[str, Any], config: Any, n_jobs: int) -> None:
        self.manifest = manifest
        self.config = config
        self.n_jobs = n_jobs
        self._executors: dict[str, Any] = {}

    def _executor(self, study: Any) -> Any:
        """The study's executor (data, folds and spaces loaded once per study)."""
        from airsweep.metrics import Metrics
        from airsweep.trial_outcome import Device
        from airsweep.trials import TrialExecutor

        if study.study_name not in self._executors:
            self._executors[study.study_name] = TrialExecutor(
                study,
                self.manifest,
                self.config,
                "cpu",
                Device("cpu", "cpu", None),
                self.n_jobs,
                Metrics(client=False),
            )
        return self._executors[study.study_name]

    def __call__(self, trial: Any) -> float:
        """Suggest, cross-validate with pruning checks, record ``fit_seconds``."""
        import optuna

        started = time.perf_counter()
        try:
            return self._executor(trial.study).cross_validate(trial, MODEL)
        except optuna.TrialPruned:
            raise
        except Exception as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
            raise
        finally:
            trial.set_user_attr("fit_seconds", round(time.perf_counter() - started, 3))


def prepare_local(params: dict[str, Any], workdir: Path) -> tuple[dict[str, Any], Any]:
    """Prepare the sweep's dataset into a local artifact store; return (manifest, config)."""
    from airsweep.artifacts import ArtifactStore
    from airsweep.config import SweepConfig
    from airsweep.data import prepare_dataset

    config = SweepConfig.from_params(params)
    store = ArtifactStore(workdir.as_uri())
    run_key = f"bench-r{params['synthetic']['rows']}-{time.monotonic_ns()}"
    return prepare_dataset(config, store, run_key), config


def time_trials(manifest: dict[str, Any], config: Any, n_jobs: int, count: int) -> list[float]:
    """Run ``count`` trials one after another (in-memory study); return their fit seconds."""
    import optuna
    from threadpoolctl import threadpool_limits

    from airsweep.search import make_pruner, make_sampler

    study = optuna.create_study(
        direction=manifest["direction"], sampler=make_sampler(config), pruner=make_pruner(config)
    )
    objective = Objective(manifest, config, n_jobs)
    with threadpool_limits(limits=n_jobs):
        study.optimize(objective, n_trials=count)
    return [t.user_attrs["fit_seconds"] for t in study.trials]


def calibrate(args: argparse.Namespace, n_jobs: int, workdir: Path) -> tuple[int, float]:
    """Pick the row count whose trial takes about ``--trial-seconds`` on one core; say it.

    Reads ``args.trial_seconds``, ``args.rows`` (0: calibrate), ``args.cv_folds``
    and ``args.n_estimators_spread``.
    """
    target = args.trial_seconds
    rows = args.rows or 6000
    measured = 0.0
    for attempt in range(1, 6):
        params = sweep_params(rows, 1, args.cv_folds, args.n_estimators_spread)
        manifest, config = prepare_local(params, workdir)
        times = time_trials(manifest, config, n_jobs, 3)
        measured = statistics.median(times[1:])  # the first trial warms caches up
        say(
            f"calibration {attempt}: rows={rows} trial={measured:.3f}s "
            f"(trials {', '.join(f'{t:.3f}' for t in times)})"
        )
        if args.rows or abs(measured / target - 1) <= 0.07:
            break
        rows = max(200, min(1_000_000, round(rows * target / measured / 100) * 100))
    say(
        f"workload: {MODEL} {POINT}, synthetic {rows} rows x {FEATURES} features, "
        f"cv_folds={args.cv_folds}: one trial = {measured:.3f}s on one core"
    )
    return rows, measured


def trials_span(trials: list[Any]) -> float | None:
    """Seconds from the first trial start to the last trial completion."""
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    if not starts or not ends:
        return None
    return (max(ends) - min(starts)).total_seconds()


def run_optuna(
    args: argparse.Namespace, rows: int, slots: int, n_jobs: int, storage: str, workdir: Path
) -> dict[str, Any]:
    """Mode ``optuna``: ``study.optimize(n_jobs=slots)`` in this process."""
    import optuna
    from threadpoolctl import threadpool_limits

    from airsweep.search import make_pruner, make_sampler

    params = sweep_params(rows, args.n_trials, args.cv_folds, args.n_estimators_spread)
    manifest, config = prepare_local(params, workdir)
    objective = Objective(manifest, config, n_jobs)
    use_db = args.optuna_storage == "cluster"
    study = optuna.create_study(
        storage=storage if use_db else None,
        study_name=f"bench_sweep_overhead_{datetime.now(UTC):%Y%m%dT%H%M%S%f}" if use_db else None,
        direction=manifest["direction"],
        sampler=make_sampler(config),
        pruner=make_pruner(config),
    )
    load = os.getloadavg()[0]
    with threadpool_limits(limits=n_jobs):
        started = time.perf_counter()
        study.optimize(objective, n_trials=args.n_trials, n_jobs=slots, catch=(Exception,))
        wall = time.perf_counter() - started
    trials = study.get_trials(deepcopy=False)
    return {
        "mode": "optuna",
        "wall_s": wall,
        "trials_span_s": trials_span(trials),
        "dag_run_wall_s": None,
        "sum_fit_s": sum(t.user_attrs.get("fit_seconds", 0.0) for t in trials),
        "slots": slots,
        "states": dict(Counter(t.state.name.lower() for t in trials)),
        "tasks": 0,
        "idle_runners": 0,
        "n_trials": args.n_trials,
        "load_before": load,
    }


# --------------------------------------------------------------------------- cluster


def _ts(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _secs(a: datetime | None, b: datetime | None) -> float:
    return (b - a).total_seconds() if a and b else 0.0


def parse_summary(text: str) -> dict[str, Any]:
    """The runner summary's fields in a "Returned value was: {...}" log line."""
    out: dict[str, Any] = {}
    for key in SUMMARY_NUMBERS:
        found = re.search(rf"'{key}': ([0-9.]+)", text)
        if found:
            out[key] = float(found.group(1))
    for key in SUMMARY_TEXTS:
        found = re.search(rf"'{key}': '([^']*)'", text)
        if found:
            out[key] = found.group(1)
    return out


def read_task_log(path: Path) -> dict[str, Any]:
    """A runner attempt's log: first line, pre-execute end, execute end, its summary."""
    out: dict[str, Any] = {}
    if not path.is_file():
        return out
    in_pre = False
    for line in path.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        ts, text = _ts(event.get("timestamp")), str(event.get("event", ""))
        out.setdefault("first", ts)
        out["last"] = ts
        if text == "::group::Pre Execute":
            in_pre = True
        elif text == "::endgroup::" and in_pre:
            in_pre = False
            out.setdefault("exec_start", ts)
        elif "dag_file_parse_ms" in event:
            out["parse_ms"] = event["dag_file_parse_ms"]
        elif text.startswith("Done. Returned value was"):
            out["exec_end"] = ts
            out["summary"] = parse_summary(text)
    return out


def runner_log_path(log_root: Path, run_id: str, ti: dict[str, Any]) -> Path:
    """The log file of a ``cpu_trials`` task instance's attempt."""
    return (
        log_root
        / f"dag_id={DAG_ID}"
        / f"run_id={run_id}"
        / f"task_id={ti['task_id']}"
        / f"map_index={ti['map_index']}"
        / f"attempt={ti['try_number']}.log"
    )


def breakdown(tis: list[dict[str, Any]], log_root: Path, run_id: str) -> dict[str, Any]:
    """Split the slot time of the trial phase into the :data:`BREAKDOWN` parts (seconds).

    The window is the trial phase (first ``start_date`` to last ``end_date``);
    a task's queue wait counts from when it was queued or the window opened.
    ``idle`` (slot time with no trial task queued or running) is filled in by
    the caller, who knows the pool size. Also returns ``busy_runners``,
    ``idle_runner_count``, ``occupied``, ``parse_s_mean`` and ``summaries``
    (the runner summaries found in the logs).
    """
    parts: dict[str, Any] = dict.fromkeys(BREAKDOWN, 0.0)
    parse_ms: list[float] = []
    summaries: list[dict[str, Any]] = []
    first = min(_ts(ti["start_date"]) for ti in tis)
    occupied = 0.0
    busy = idle = 0
    for ti in tis:
        queued, start, end = (_ts(ti.get(k)) for k in ("queued_when", "start_date", "end_date"))
        queued = max(queued or start, first)
        log = read_task_log(runner_log_path(log_root, run_id, ti))
        occupied += _secs(queued, end)
        if "exec_start" not in log or "exec_end" not in log:
            parts["queued_to_start"] += _secs(queued, start)
            parts["setup"] += _secs(start, end)  # no log: count the task as overhead
            busy += 1
            continue
        summary = log.get("summary", {})
        summaries.append(summary)
        if "parse_ms" in log:
            parse_ms.append(log["parse_ms"])
        if summary.get("trials", 1) == 0:
            parts["idle_runners"] += _secs(queued, end)
            idle += 1
            continue
        busy += 1
        execute = _secs(log["exec_start"], log["exec_end"])
        runner_wall = summary.get("wall_seconds", execute)
        fit = summary.get("fit_seconds", runner_wall)
        parts["queued_to_start"] += _secs(queued, start)
        parts["pre_execute"] += _secs(start, log["exec_start"])
        parts["setup"] += execute - runner_wall
        parts["runner_overhead"] += runner_wall - fit
        parts["fit"] += fit
        parts["post_execute"] += _secs(log["exec_end"], end)
    parts["occupied"] = occupied
    parts["busy_runners"] = busy
    parts["idle_runner_count"] = idle
    parts["parse_s_mean"] = statistics.mean(parse_ms) / 1000 if parse_ms else None
    parts["summaries"] = summaries
    return parts


def celery_release_lag(log_dir: Path, tis: list[dict[str, Any]]) -> dict[str, Any]:
    """How long Celery slots stayed busy after their task instance had ended.

    Joins the workers' ``Workload finished`` lines (``workload_id`` is the task
    instance id) with the API's ``end_date``: a Celery process is free for the
    next task only when its workload has finished.
    """
    ends = {ti["id"]: _ts(ti["end_date"]) for ti in tis if ti.get("end_date")}
    lags: list[float] = []
    for path in sorted(log_dir.glob("worker-*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if "Workload finished" not in line:
                continue
            found = re.search(r"workload_id=(\S+)", line)
            if found and found.group(1) in ends:
                lags.append(_secs(ends[found.group(1)], _ts(line.split()[0])))
    slow = [lag for lag in lags if lag > 2]
    return {"workloads": len(lags), "slow": len(slow), "slow_s": sum(slow)}


class Cluster:
    """The running native cluster: API client, Optuna storage, pool size, logs.

    The state directory is ``AIRSWEEP_HOME`` (default ``<root>/.airsweep``),
    as for the ``airsweep`` command.
    """

    def __init__(self, root: Path) -> None:
        from airsweep.cluster.config import ClusterConfig
        from airsweep.cluster.lifecycle import admin_client, env_file
        from airsweep.envfile import read_env_file

        self.root = root
        self.cfg = ClusterConfig.from_env(root)
        env_path = env_file(self.cfg)
        if not env_path.is_file():
            raise SystemExit(f"{env_path} is missing: start the cluster with `airsweep up`")
        self.env = read_env_file(env_path)
        self.storage_url = self.env["AIRSWEEP_OPTUNA_STORAGE"]
        self.threads_per_slot = int(self.env.get("AIRSWEEP_THREADS_PER_SLOT", "1") or 1)
        self.client = admin_client(self.cfg)
        self.log_root = self.cfg.log_dir / "airflow"
        self._storage: Any = None

    @property
    def storage(self) -> Any:
        """One RDB storage object for every read of this process."""
        if self._storage is None:
            import optuna

            self._storage = optuna.storages.RDBStorage(self.storage_url)
        return self._storage

    def slots(self) -> int:
        """Size of the ``cpu_trials`` pool."""
        return int(self.client.request("GET", f"/pools/{POOL}")["slots"])

    def trial_counts(self, study_name: str) -> str:
        """The study's trials by state, as text."""
        import optuna

        try:
            study = optuna.load_study(study_name=study_name, storage=self.storage)
        except KeyError:
            return "study not created yet"
        counts = Counter(t.state.name.lower() for t in study.get_trials(deepcopy=False))
        return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no trial yet"

    def run_sweep(self, mode: str, params: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Trigger one sweep, wait for it, and measure it."""
        import optuna

        from airsweep.follow import failure_report, trigger_sweep
        from airsweep.study import study_name_for

        load = os.getloadavg()[0]
        run_id = trigger_sweep(self.client, params)
        study_name = study_name_for(DAG_ID, run_id)
        say(f"  {mode}: triggered {run_id} (load avg {load:.2f})")
        started = last_print = time.monotonic()
        while True:
            time.sleep(2)
            try:
                run = self.client.dag_run(DAG_ID, run_id)
            except Exception:  # a busy api-server: ask again
                continue
            if run["state"] in ("success", "failed"):
                break
            now = time.monotonic()
            if now - last_print >= 20:
                last_print = now
                counts = self.trial_counts(study_name)
                say(f"  {mode}: {now - started:4.0f}s {run['state']}, trials: {counts}")
            if now - started > timeout_s:
                raise TimeoutError(f"{run_id} still {run['state']} after {timeout_s:.0f}s")
        if run["state"] != "success":
            raise RuntimeError(f"{run_id} failed:\n{failure_report(self.client, run_id)}")
        all_tis = self.client.task_instances(DAG_ID, run_id)
        tis = [t for t in all_tis if t["task_id"] == TRIAL_TASK]
        starts = [_ts(t["start_date"]) for t in tis]
        ends = [_ts(t["end_date"]) for t in tis]
        first, last = min(starts), max(ends)
        run_start, run_end = _ts(run["start_date"]), _ts(run["end_date"])
        study = optuna.load_study(study_name=study_name, storage=self.storage)
        trials = study.get_trials(deepcopy=False)
        slots = self.slots()
        wall = _secs(first, last)
        parts = breakdown(tis, self.log_root, run_id)
        parts["idle"] = slots * wall - parts["occupied"]
        workers = Counter(
            t.user_attrs.get("placement", {}).get("worker", "?")
            for t in trials
            if t.state.is_finished()
        )
        return {
            "mode": mode,
            "run_id": run_id,
            "wall_s": wall,
            "trials_span_s": trials_span(trials),
            "dag_run_wall_s": _secs(run_start, run_end),
            "before_trials_s": _secs(run_start, first),
            "after_trials_s": _secs(last, run_end),
            "sum_fit_s": sum(t.user_attrs.get("fit_seconds", 0.0) for t in trials),
            "slots": slots,
            "states": dict(Counter(t.state.name.lower() for t in trials)),
            "tasks": len(tis),
            "idle_runners": parts["idle_runner_count"],
            "workers": dict(workers),
            "n_trials": params["n_trials"],
            "max_parallel": params["max_parallel"],
            "breakdown": parts,
            "celery_lag": celery_release_lag(self.cfg.log_dir, all_tis),
            "load_before": load,
        }


# --------------------------------------------------------------------------- report


def _median(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summarize(results: list[dict[str, Any]], modes: list[str]) -> str:
    """The Markdown tables of medians: figures per mode, then the trial phase's slot time."""
    for r in results:
        r["E"] = r["sum_fit_s"] / (r["slots"] * r["wall_s"])
        r["fit_per_trial_s"] = r["sum_fit_s"] / max(1, sum(r["states"].values()))
    by_mode = {m: [r for r in results if r["mode"] == m] for m in modes}
    optuna_wall = _median(by_mode.get("optuna", []), "wall_s")
    lines = [
        "| mode | runs | n_trials | runners (idle) | wall_s (trial phase) | trials_span_s "
        "| dag_run_wall_s | sum_fit_s | fit/trial s | slots | E | wall vs optuna | trials |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, rows in by_mode.items():
        if not rows:
            continue
        wall = _median(rows, "wall_s")
        ratio = f"{wall / optuna_wall:.2f}x" if optuna_wall and wall else "-"
        states: Counter[str] = Counter()
        for r in rows:
            states.update(r["states"])
        state_text = ", ".join(f"{k} {v / len(rows):g}" for k, v in sorted(states.items()))
        runners = (
            f"{_fmt(_median(rows, 'tasks'), 0)} ({_fmt(_median(rows, 'idle_runners'), 0)})"
            if mode != "optuna"
            else "-"
        )
        lines.append(
            f"| {mode} | {len(rows)} | {rows[0]['n_trials']} | {runners} "
            f"| {_fmt(wall)} | {_fmt(_median(rows, 'trials_span_s'))} "
            f"| {_fmt(_median(rows, 'dag_run_wall_s'))} "
            f"| {_fmt(_median(rows, 'sum_fit_s'))} | {_fmt(_median(rows, 'fit_per_trial_s'), 2)} "
            f"| {rows[0]['slots']} | {_fmt(_median(rows, 'E'), 3)} | {ratio} | {state_text} |"
        )
    cluster = [m for m in modes if m != "optuna" and by_mode.get(m)]
    if not cluster:
        return "\n".join(lines)
    lines += [
        "",
        "Slot time of the trial phase in seconds (per run the parts add up to "
        "slots x wall_s; each cell is a median over runs; 'per runner' divides by the "
        "runners that ran trials, idle_runners by the idle ones):",
        "",
        "| mode | | " + " | ".join(BREAKDOWN) + " | DAG parse | before trials | after trials "
        "| Celery slot held >2 s after task end |",
        "|---|---|" + "---|" * (len(BREAKDOWN) + 4),
    ]
    for mode in cluster:
        rows = by_mode[mode]
        parts = {k: _median([r["breakdown"] for r in rows], k) or 0.0 for k in BREAKDOWN}
        parse = _median([r["breakdown"] for r in rows], "parse_s_mean")
        busy = _median([r["breakdown"] for r in rows], "busy_runners") or 1
        idle = _median([r["breakdown"] for r in rows], "idle_runner_count") or 0
        lag = rows[len(rows) // 2]["celery_lag"]
        tail_cells = (
            f"{_fmt(_median(rows, 'before_trials_s'))} s | "
            f"{_fmt(_median(rows, 'after_trials_s'))} s | "
            f"{lag['slow']} of {lag['workloads']} workloads, {lag['slow_s']:.1f} s"
        )
        per_runner = [_fmt(parts[k] / busy, 2) for k in BREAKDOWN]
        per_runner[BREAKDOWN.index("idle_runners")] = (
            _fmt(parts["idle_runners"] / idle, 2) if idle else "-"
        )
        lines.append(
            f"| {mode} | slot-s | "
            + " | ".join(_fmt(parts[k]) for k in BREAKDOWN)
            + f" | | {tail_cells} |"
        )
        lines.append(
            f"| {mode} | per runner | " + " | ".join(per_runner) + f" | {_fmt(parse, 2)} s | | | |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-trials", type=int, default=64, help="trials per sweep (64)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per mode; medians (3)")
    parser.add_argument(
        "--trial-seconds", type=float, default=1.0, help="target time of one trial (1.0)"
    )
    parser.add_argument(
        "--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}"
    )
    parser.add_argument(
        "--max-parallel",
        type=max_parallel_arg,
        default=DEFAULT_MAX_PARALLEL,
        help=f"runners of the airsweep sweep ({DEFAULT_MAX_PARALLEL}, the param's default; "
        "'slots': one per cpu_trials pool slot)",
    )
    parser.add_argument(
        "--cluster-root", type=Path, default=ROOT, help="airsweep checkout of the running cluster"
    )
    parser.add_argument("--cv-folds", type=int, default=3, help="CV folds per trial (3)")
    parser.add_argument("--rows", type=int, default=0, help="skip calibration: use these rows")
    parser.add_argument(
        "--n-estimators-spread",
        type=int,
        default=0,
        help="n_estimators range [N, N+k] instead of one value (enables pruning)",
    )
    parser.add_argument(
        "--optuna-storage",
        choices=("memory", "cluster"),
        default="memory",
        help="study storage of the optuna mode (memory)",
    )
    parser.add_argument("--timeout", type=float, default=1500, help="seconds per sweep (1500)")
    parser.add_argument("--json-out", type=Path, help="also write every run's figures here")
    args = parser.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(args.modes) - set(MODES))
    if unknown:
        parser.error(f"--modes: unknown {unknown}; choose from {MODES}")
    return args


def run_mode(
    mode: str,
    args: argparse.Namespace,
    cluster: Cluster,
    rows: int,
    slots: int,
    workdir: Path,
) -> dict[str, Any]:
    """One run of one mode."""
    if mode == "optuna":
        n_jobs = cluster.threads_per_slot
        return run_optuna(args, rows, slots, n_jobs, cluster.storage_url, workdir)
    runners = resolve_max_parallel(args.max_parallel, slots)
    params = sweep_params(rows, args.n_trials, args.cv_folds, args.n_estimators_spread, runners)
    return cluster.run_sweep(mode, params, args.timeout)


def main(argv: list[str] | None = None) -> int:
    """Calibrate, run every mode ``--repeats`` times (interleaved), print the tables."""
    args = parse_args(argv)
    _use_src()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    began = time.monotonic()
    cluster = Cluster(args.cluster_root.resolve())
    slots = cluster.slots()
    n_jobs = cluster.threads_per_slot
    runners = resolve_max_parallel(args.max_parallel, slots)
    say(
        f"cluster {cluster.cfg.api_url}: pool {POOL}={slots} slots, {n_jobs} thread(s)/slot; "
        f"machine: {os.cpu_count()} cores, load avg {os.getloadavg()[0]:.2f}"
    )
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sweep-overhead-") as tmp:
        workdir = Path(tmp)
        rows, trial_s = calibrate(args, n_jobs, workdir)
        for repeat in range(1, args.repeats + 1):
            for mode in args.modes:
                say(f"repeat {repeat}/{args.repeats}: {mode} ...")
                result = run_mode(mode, args, cluster, rows, slots, workdir)
                result["repeat"] = repeat
                result["E"] = result["sum_fit_s"] / (result["slots"] * result["wall_s"])
                results.append(result)
                say(
                    f"  {mode}: wall {result['wall_s']:.1f}s, dag run "
                    f"{_fmt(result['dag_run_wall_s'])}s, sum fit {result['sum_fit_s']:.1f}s, "
                    f"E {result['E']:.3f}, trials {result['states']}"
                    + (f", by worker {result['workers']}" if result.get("workers") else "")
                )
    print()
    print(
        f"n_trials={args.n_trials}, repeats={args.repeats}, medians; airsweep max_parallel="
        f"{runners} runners on {slots} slots; {MODEL} on synthetic {rows} rows x {FEATURES} "
        f"features, cv_folds={args.cv_folds}; calibrated trial {trial_s:.3f}s on one core; "
        f"optuna storage: {args.optuna_storage}"
    )
    print(
        f"machine: {os.cpu_count()} cores, shared with the whole cluster (api-server, "
        f"scheduler, dag-processor, triggerer, workers, Postgres, Redis, monitoring)"
    )
    print()
    print(summarize(results, args.modes))
    print()
    say(f"total bench time {time.monotonic() - began:.0f}s")
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
