"""Benchmark airsweep's gpu-queue xgboost trial (CUDA) against its cpu-queue trial.

Every trial goes through airsweep's own code path: a seeded synthetic Parquet
dataset is prepared with :func:`airsweep.data.prepare_dataset` (a file dataset,
so it can exceed the built-in ``synthetic`` dataset's 1M-row cap), then each
trial is one :class:`airsweep.runner.Runner` with a budget of one trial
(``n_trials: 1``) against its own in-memory Optuna study (no storage, so no
heartbeats; a process-local :class:`airsweep.study_lock.ThreadStudyLock`), on
the ``gpu`` queue or the ``cpu`` queue. The runner resolves the device
(:func:`airsweep.models.device.resolve_device`), and its
:class:`airsweep.trials.TrialExecutor` builds the pipeline with the xgboost
family and records the user attrs ``placement`` (``device_requested``,
``device_used``, ``fallback_reason``) and ``fit_seconds`` (the whole
cross-validated trial: fold copies, preprocessing, fit, scoring).

Modes:

* ``gpu``: a gpu-queue trial with ``n_jobs=1`` (one gpu worker slot, as
  ``AIRSWEEP_THREADS_PER_SLOT=1`` runs it);
* ``cpu-all``: a cpu-queue trial with ``n_jobs`` = all cores, one at a time;
* ``cpu-1``: cpu-queue trials with ``n_jobs=1`` (one cpu worker slot), run as
  parallel processes (like a cpu worker with several slots), one per trial.

To prove where the trees were really built, the bench wraps the scorer that
each fold calls right after its fit (in the runner's trial process, a forked
child: :mod:`airsweep.forked`) to read the device back from the fitted
booster's config and write it to a file; on a GPU machine it also samples
``nvidia-smi``. The bench's own process never opens a CUDA context (the probe
in ``env.json`` runs in a child, as a runner's does): the trial processes it
forks could not use CUDA otherwise.

Run (CPU-only machine: the gpu request falls back to the CPU with a reason)::

    PYTHONPATH=src python bench/gpu_xgboost.py --rows 20000 --out /tmp/gpu-bench

Results: ``trials.jsonl`` (one line per trial), ``env.json``, ``table.md`` and,
on a GPU machine, ``nvidia-smi.csv`` / ``nvidia-smi.txt`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODES = ("gpu", "cpu-all", "cpu-1")
#: Hyperparameters shared by every grid point.
FIXED_PARAMS: dict[str, Any] = {
    "learning_rate": 0.1,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 1.0,
    "reg_lambda": 1.0,
}


def _use_src() -> None:
    """Make ``src/`` importable (also in spawned worker processes)."""
    src = str(ROOT / "src")
    if src not in sys.path:
        sys.path.insert(0, src)


class _NullStatsd:
    """StatsD client that drops everything (no StatsD server on a bench machine)."""

    def incr(self, *args: Any) -> None:
        pass

    def timing(self, *args: Any) -> None:
        pass

    def gauge(self, *args: Any) -> None:
        pass


def sweep_params(dataset_uri: str, cv_folds: int, point: dict[str, Any] | None) -> dict:
    """Return the sweep params of one trial (its search space fixed to ``point``)."""
    params: dict[str, Any] = {
        "dataset": dataset_uri,
        "target": "target",
        "models": ["xgboost"],
        "device": {"xgboost": "gpu"},
        "gpu_fallback": "cpu",
        "n_trials": 1,
        "cv_folds": cv_folds,
        "sampler": "random",
        "seed": 42,
        "trial_timeout_s": 86_400,
        "test_size": 0.2,
    }
    if point is not None:
        space = {**FIXED_PARAMS, **point}
        params["search_space"] = {
            "xgboost": {k: {"type": "categorical", "choices": [v]} for k, v in space.items()}
        }
    return params


def prepare(args: argparse.Namespace) -> dict[str, Any]:
    """Write the seeded dataset and run airsweep's data preparation (reused when present)."""
    _use_src()
    from airsweep.artifacts import ArtifactStore
    from airsweep.config import SweepConfig
    from airsweep.data import prepare_dataset

    data_dir = Path(args.data_dir).resolve()
    tag = f"r{args.rows}_f{args.features}_cv{args.cv_folds}"
    manifest_path = data_dir / f"manifest_{tag}.json"
    if manifest_path.exists():
        print(f"reusing prepared data {manifest_path}", flush=True)
        return json.loads(manifest_path.read_text())
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification

    started = time.perf_counter()
    data_dir.mkdir(parents=True, exist_ok=True)
    X, y = make_classification(
        n_samples=args.rows,
        n_features=args.features,
        n_informative=max(2, args.features // 2),
        n_redundant=0,
        n_clusters_per_class=2,
        flip_y=0.05,
        random_state=42,
    )
    frame = pd.DataFrame(X.astype(np.float32), columns=[f"x{i}" for i in range(args.features)])
    frame["target"] = y
    raw = data_dir / f"raw_{tag}.parquet"
    frame.to_parquet(raw)
    config = SweepConfig.from_params(sweep_params(raw.as_uri(), args.cv_folds, None))
    store = ArtifactStore((data_dir / "artifacts").as_uri())
    manifest = prepare_dataset(config, store, f"bench-{tag}")
    manifest_path.write_text(json.dumps(manifest))
    print(
        f"prepared {args.rows} rows x {args.features} features "
        f"({manifest['n_train']} train) in {time.perf_counter() - started:.1f}s",
        flush=True,
    )
    return manifest


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one trial through a :class:`~airsweep.runner.Runner` and return its record."""
    _use_src()
    import optuna

    from airsweep import trials
    from airsweep.config import SweepConfig
    from airsweep.metrics import Metrics
    from airsweep.report import fold_scores
    from airsweep.runner import Runner, RunnerContext
    from airsweep.search import make_sampler
    from airsweep.study_lock import ThreadStudyLock

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    manifest = job["manifest"]
    config = SweepConfig.from_params(
        sweep_params(manifest["dataset"], job["cv_folds"], job["point"])
    )
    queue = "gpu" if job["mode"] == "gpu" else "cpu"
    study = optuna.create_study(
        direction=manifest["direction"],
        sampler=make_sampler(config),
        pruner=optuna.pruners.NopPruner(),
    )
    context = RunnerContext(
        run_id=f"bench-{job['mode']}-{job['index']}",
        queue=queue,
        map_index=job["index"],
        try_number=1,
        worker=f"bench-{job['mode']}",
        n_jobs=job["n_jobs"],
    )
    plan = {"queue": queue, "models": ["xgboost"]}
    lock = ThreadStudyLock(study.study_name)
    boosters = Path(job["out"]) / f"boosters-{job['mode']}-{job['index']}.txt"
    boosters.unlink(missing_ok=True)
    original_score = trials.score

    def recording_score(pipeline: Any, *args: Any, **kwargs: Any) -> float:
        # Runs in the trial process right after the fold's fit: write the device down.
        with boosters.open("a") as out:
            out.write(_booster_device(pipeline[-1]) + "\n")
        return original_score(pipeline, *args, **kwargs)

    trials.score = recording_score
    try:
        started = time.perf_counter()
        runner = Runner(
            plan, manifest, config, study, context, lock, metrics=Metrics(client=_NullStatsd())
        )
        summary = runner.run()  # config n_trials is 1: the runner runs one trial
        wall = time.perf_counter() - started
    finally:
        trials.score = original_score
    trial = study.trials[-1]
    fitted = boosters.read_text().splitlines() if boosters.exists() else []
    booster_devices = sorted(set(fitted))
    attrs = trial.user_attrs
    where = attrs.get("placement", {})
    return {
        "mode": job["mode"],
        "repeat": job["repeat"],
        "n_jobs": job["n_jobs"],
        "queue": queue,
        "rows": manifest["n_rows"],
        "features": len(manifest["features"]),
        "cv_folds": job["cv_folds"],
        "params": {k.split(".", 1)[-1]: v for k, v in trial.params.items()},
        "state": trial.state.name,
        "score": trial.value,
        "metric": manifest["metric"],
        "device_requested": where.get("device_requested"),
        "device_used": where.get("device_used"),
        "fallback_reason": where.get("fallback_reason"),
        "fit_seconds": attrs.get("fit_seconds"),
        "fold_scores": fold_scores(trial),
        "error": attrs.get("error"),
        "booster_devices": booster_devices,
        "folds_fitted": len(fitted),
        "runner_wall_seconds": round(wall, 3),
        "runner_summary": summary,
    }


def _booster_device(estimator: Any) -> str:
    """Device xgboost really trained on, read from the fitted booster's config."""
    fitted = getattr(estimator, "estimator_", estimator)
    try:
        config = json.loads(fitted.get_booster().save_config())
    except Exception as exc:  # not fitted (a failed fold)
        return f"unknown ({type(exc).__name__})"
    return str(config["learner"]["generic_param"]["device"])


def grid(args: argparse.Namespace) -> list[dict[str, int]]:
    """Grid points: every ``n_estimators`` x ``max_depth`` pair."""
    return [{"n_estimators": n, "max_depth": d} for n in args.n_estimators for d in args.max_depth]


class GpuSampler:
    """Sample ``nvidia-smi`` while the gpu trials run (no-op without nvidia-smi)."""

    QUERY = "timestamp,name,utilization.gpu,memory.used,power.draw"

    def __init__(self, out: Path) -> None:
        self.out = out
        self.proc: subprocess.Popen | None = None
        self.handle: Any = None

    def __enter__(self) -> GpuSampler:
        if shutil.which("nvidia-smi"):
            self.handle = open(self.out / "nvidia-smi.csv", "w")  # noqa: SIM115
            self.proc = subprocess.Popen(
                ["nvidia-smi", f"--query-gpu={self.QUERY}", "--format=csv", "-lms", "200"],
                stdout=self.handle,
                stderr=subprocess.DEVNULL,
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            # While this process still holds its CUDA context, list the GPU's processes.
            snapshot = subprocess.run(["nvidia-smi"], capture_output=True, text=True).stdout
            (self.out / "nvidia-smi.txt").write_text(snapshot)
            self.proc.terminate()
            self.proc.wait()
            self.handle.close()

    def summary(self) -> dict[str, Any] | None:
        """Peak GPU utilization and memory seen during the gpu trials."""
        path = self.out / "nvidia-smi.csv"
        if self.proc is None or not path.exists():
            return None
        utils, mems = [], []
        for line in path.read_text().splitlines()[1:]:
            cells = [c.strip() for c in line.split(",")]
            try:
                utils.append(float(cells[2].split()[0]))
                mems.append(float(cells[3].split()[0]))
            except (IndexError, ValueError):
                continue
        if not utils:
            return None
        busy = [u for u in utils if u > 0]
        return {
            "samples": len(utils),
            "max_util_pct": max(utils),
            "median_util_pct_when_busy": statistics.median(busy) if busy else 0.0,
            "max_memory_used_mib": max(mems),
        }


def environment() -> dict[str, Any]:
    """Machine, GPU, driver and library versions."""
    _use_src()
    import xgboost

    from airsweep.models.device import cuda_status_in_child

    info: dict[str, Any] = {
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "xgboost": xgboost.__version__,
        "xgboost_use_cuda": xgboost.build_info().get("USE_CUDA"),
        "xgboost_cuda_version": xgboost.build_info().get("CUDA_VERSION"),
        "cuda_status": list(cuda_status_in_child()),
    }
    if shutil.which("nvidia-smi"):
        query = "name,driver_version,memory.total"
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        header = subprocess.run(["nvidia-smi"], capture_output=True, text=True).stdout
        cuda = [line for line in header.splitlines() if "CUDA Version" in line]
        info["gpu"] = out
        info["nvidia_smi_header"] = cuda[0].strip(" |") if cuda else None
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def run_modes(
    args: argparse.Namespace, manifest: dict[str, Any], out: Path
) -> list[dict[str, Any]]:
    """Run every requested mode; append each trial's record to ``trials.jsonl``."""
    records: list[dict[str, Any]] = []
    log = out / "trials.jsonl"
    all_cores = args.cpu_all_jobs or os.cpu_count() or 1

    def jobs_for(mode: str, n_jobs: int, repeats: int) -> list[dict[str, Any]]:
        return [
            {
                "mode": mode,
                "n_jobs": n_jobs,
                "point": point,
                "repeat": rep,
                "index": i * repeats + rep,
                "manifest": manifest,
                "cv_folds": args.cv_folds,
                "out": str(out),
            }
            for i, point in enumerate(grid(args))
            for rep in range(repeats)
        ]

    def keep(record: dict[str, Any]) -> None:
        records.append(record)
        with log.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        print(
            f"{record['mode']:8s} n_jobs={record['n_jobs']:<2d} {record['params']} "
            f"state={record['state']} device_used={record['device_used']} "
            f"booster={record['booster_devices']} fit_seconds={record['fit_seconds']} "
            f"score={record['score']}"
            + (
                f" fallback_reason={record['fallback_reason']!r}"
                if record["fallback_reason"]
                else ""
            )
            + (f" error={record['error']!r}" if record["error"] else ""),
            flush=True,
        )

    for mode in args.modes:
        started = time.perf_counter()
        if mode == "gpu":
            sampler = GpuSampler(out)
            with sampler:
                for job in jobs_for(mode, args.gpu_jobs, args.gpu_repeats):
                    keep(run_job(job))
            util = sampler.summary()
            if util is not None:
                (out / "gpu_util.json").write_text(json.dumps(util))
                print(f"nvidia-smi during gpu trials: {util}", flush=True)
        elif mode == "cpu-all":
            for job in jobs_for(mode, all_cores, args.cpu_repeats):
                keep(run_job(job))
        else:
            jobs = jobs_for(mode, 1, args.cpu_repeats)
            workers = min(len(jobs), args.cpu1_parallel)
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                for future in as_completed([pool.submit(run_job, job) for job in jobs]):
                    keep(future.result())
        print(f"mode {mode} done in {time.perf_counter() - started:.1f}s", flush=True)
    return records


def table(records: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """Markdown table: median trial seconds per point and mode, and the GPU speedups."""
    by_mode: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for rec in records:
        key = f"{rec['params'].get('n_estimators')} trees, depth {rec['params'].get('max_depth')}"
        by_mode.setdefault(rec["mode"], {}).setdefault(key, []).append(rec)
    modes = [m for m in MODES if m in by_mode]
    points = list(dict.fromkeys(k for m in modes for k in by_mode[m]))

    def med(mode: str, point: str, field: str) -> float | None:
        values = [r[field] for r in by_mode.get(mode, {}).get(point, []) if r[field] is not None]
        return statistics.median(values) if values else None

    def fmt(value: float | None, digits: int = 1) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    labels = {"gpu": "gpu queue", "cpu-all": "cpu, all cores", "cpu-1": "cpu, 1 thread"}
    first = records[0]
    rows = first.get("rows", args.rows)
    folds = first.get("cv_folds", args.cv_folds)
    fit_rows = int(rows * 0.8 * (folds - 1) / folds)
    lines = [
        f"Trial = {folds}-fold CV on {rows:,} rows x {first.get('features', args.features)} "
        f"features (fits on ~{fit_rows:,} rows); median `fit_seconds` per trial "
        "(airsweep's user attr).",
        "",
    ]
    others = [m for m in modes if m != "gpu"] if "gpu" in modes else []
    header = ["trial", *(f"{labels[m]} s" for m in modes)]
    header += [f"speedup vs {labels[m]}" for m in others]
    lines += [_row(header), _row(["---"] * len(header))]
    for point in points:
        secs = {m: med(m, point, "fit_seconds") for m in modes}
        ratios = [
            fmt(secs[m] / secs["gpu"], 1) + "x" if secs["gpu"] and secs[m] else "-" for m in others
        ]
        lines.append(_row([point, *(fmt(secs[m]) for m in modes), *ratios]))
    if len(points) > 1:
        meds = {m: [med(m, p, "fit_seconds") for p in points] for m in modes}
        totals = {m: sum(v) if None not in v else None for m, v in meds.items()}
        ratios = [
            fmt(totals[m] / totals["gpu"], 1) + "x" if totals["gpu"] and totals[m] else "-"
            for m in others
        ]
        lines.append(_row(["**all points (sum)**", *(fmt(totals[m]) for m in modes), *ratios]))
    lines += [
        "",
        "| mode | n_jobs | trials | device_used | booster device | score (median) | "
        "fallback_reason |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode in modes:
        recs = [r for pt in by_mode[mode].values() for r in pt]
        used = sorted({str(r["device_used"]) for r in recs})
        boosters = sorted({d for r in recs for d in r["booster_devices"]})
        scores = [r["score"] for r in recs if r["score"] is not None]
        reasons = sorted({str(r["fallback_reason"]) for r in recs if r["fallback_reason"]})
        lines.append(
            f"| {labels[mode]} | {recs[0]['n_jobs']} | {len(recs)} | {', '.join(used)} | "
            f"{', '.join(boosters)} | {fmt(statistics.median(scores) if scores else None, 4)} "
            f"| {'; '.join(reasons) or '-'} |"
        )
    gpu_used = {str(r["device_used"]) for pt in by_mode.get("gpu", {}).values() for r in pt}
    if gpu_used and gpu_used != {"gpu"}:
        lines += [
            "",
            "NOTE: the gpu-queue trials fell back to the CPU here (see fallback_reason): "
            "the speedup columns compare CPU runs, not a GPU.",
        ]
    return "\n".join(lines) + "\n"


def _row(cells: list[str]) -> str:
    """One Markdown table row."""
    return "| " + " | ".join(cells) + " |"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_250_000, help="dataset rows (>= 1M)")
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--cv-folds", type=int, default=2)
    parser.add_argument("--n-estimators", type=int, nargs="+", default=[200, 400])
    parser.add_argument("--max-depth", type=int, nargs="+", default=[6, 8])
    parser.add_argument(
        "--modes", nargs="+", choices=MODES, default=list(MODES), help="what to run, in order"
    )
    parser.add_argument("--gpu-jobs", type=int, default=1, help="n_jobs of a gpu-queue trial")
    parser.add_argument("--gpu-repeats", type=int, default=2)
    parser.add_argument("--cpu-repeats", type=int, default=1)
    parser.add_argument("--cpu-all-jobs", type=int, default=0, help="0: os.cpu_count()")
    parser.add_argument(
        "--cpu1-parallel", type=int, default=8, help="parallel 1-thread cpu trials (slots)"
    )
    parser.add_argument("--data-dir", default="/tmp/airsweep-gpu-bench")
    parser.add_argument("--out", default=os.environ.get("OUT") or "bench-out")
    parser.add_argument(
        "--table-from",
        nargs="+",
        metavar="JSONL",
        help="only print the table of these trials.jsonl files (runs nothing)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Prepare the data, run the modes, print and save the table."""
    args = parse_args(argv)
    if args.table_from:
        records = [
            json.loads(line)
            for path in args.table_from
            for line in Path(path).read_text().splitlines()
            if line.strip()
        ]
        print(table(records, args), end="")
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = environment()
    (out / "env.json").write_text(json.dumps(env, indent=2))
    print(json.dumps(env, indent=2), flush=True)
    manifest = prepare(args)
    records = run_modes(args, manifest, out)
    if not records:
        return 1
    text = table(records, args)
    (out / "table.md").write_text(text)
    print(text, flush=True)
    failed = [r for r in records if r["state"] != "COMPLETE"]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
