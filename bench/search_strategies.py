"""Search strategies at an equal trial budget: best CV score and wall against Optuna's default.

Question (issue 11): at the same number of trials, how good a model does each
sampler and pruner find, and how long does the sweep take? Is airsweep's
default (``sampler: tpe``, ``pruner: auto`` = median between CV folds) at least as good in score
as Optuna's own default (``TPESampler``, no pruner), and faster?

Workload: one model family with training steps, ``xgboost`` (its default
search space: 50-500 boosting rounds, which are the pruning steps), so that
hyperband has real resources to allocate and ``cmaes`` (one model only) can
run. Three builtin datasets, one per task type: ``breast_cancer`` (binary,
accuracy), ``wine`` (3 classes, accuracy) and ``diabetes`` (regression, rmse):
the default metric of each task type. ``cv_folds`` 3, one thread per fit
(``threadpool_limits(1)``, ``n_jobs=1``), ``--n-trials`` (30) trials per sweep.

Each dataset is prepared once (:func:`airsweep.data.prepare_dataset` into a
temporary artifact store; the train/test split is fixed, seed 0). Each seed
(``--seeds``, 0-4) sets the config's ``seed``: the CV folds, XGBoost's seed and
the sampler's seed. Per seed and dataset every strategy runs one sweep, in a
rotated order (interleaved: machine noise hits them alike):

* ``optuna default``: the baseline, plain ``optuna.create_study(direction=...,
  sampler=TPESampler(seed=seed), pruner=NopPruner())`` (in memory); the
  objective is :meth:`airsweep.trials.TrialExecutor.cross_validate` of a
  ``pruner: none`` config (one plain fit per fold, nothing pruned).
* airsweep configs built with :meth:`SweepConfig.from_params` and
  :func:`airsweep.study.create_study` / :func:`~airsweep.study.load_study` on an
  Optuna ``InMemoryStorage`` (so the real ``make_sampler``, ``make_pruner``,
  step schedule and :class:`~airsweep.pruning.FamilyPruner` act; FamilyPruner
  does not need an RDB storage): ``tpe + none``, ``tpe + auto`` (airsweep's
  default: the median pruner between CV folds), ``tpe + median`` (on boosting
  rounds), ``tpe + hyperband``, ``random + median``, ``cmaes + median`` (both on
  boosting rounds).

Every sweep is in-process and sequential, one trial at a time, like one runner
without its trial process: this compares search strategies, not orchestration
(no cluster, no Postgres). A trial is asked, gets its ``model`` attr, is
cross-validated by ``TrialExecutor.cross_validate`` and told COMPLETE with its
value, or PRUNED (FAIL if it raised), as a runner tells it. The sweep's wall is
from the first ask to the last tell (the executor's data load and folds are
outside it).

Reported per strategy and dataset (medians over the seeds):

* ``best CV``: the study's best value (mean CV score of the best COMPLETE trial).
* ``Δ score``: the per-seed difference to the baseline's best, in the metric's
  direction (positive: better than Optuna's default), then the median; ``W-T-L``
  counts the seeds where the strategy was better, equal, worse.
* ``wall s`` and ``wall ×``: the sweep's wall and the per-seed ratio to the
  baseline's wall (below 1: faster); ``cpu ×``: the same ratio of this
  process's CPU time over the sweep (one thread: about the wall on an idle
  machine, and less moved by other processes on a shared one).
* ``pruned``: trials pruned; ``rounds k``: boosting rounds trained by all
  trials together per fold, in thousands (the work, free of machine noise: a
  trial's last reported step).

The ``all`` rows average the three datasets: the mean of the per-dataset
median ``Δ score`` relative to the baseline's median best (in %), of the
medians of ``wall ×``, ``cpu ×``, ``pruned`` and ``rounds k``.

Diagnostics: ``--only KEY ...`` runs a subset of the strategies (the baseline
always runs), ``--extra SAMPLER:PRUNER[:OPTIONS]`` adds strategies with
``pruner_options`` (JSON), e.g. ``tpe:median:'{"n_warmup_steps": 40}'``.

Run (no cluster; about 8 minutes on 2 busy cores, 11 with the two diagnostic
rows of docs/benchmarks.md; ``--quick`` is a smoke run of 8 trials, one seed,
under a minute)::

    nice -n 10 .venv/bin/python bench/search_strategies.py
    nice -n 10 .venv/bin/python bench/search_strategies.py --quick
    nice -n 10 .venv/bin/python bench/search_strategies.py --datasets wine --seeds 0 1
    nice -n 10 .venv/bin/python bench/search_strategies.py --only tpe-auto \\
        --extra 'tpe:median:{"n_warmup_steps": 40}'
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODEL = "xgboost"
DATASETS = ("breast_cancer", "wine", "diabetes")
#: Score differences below this are ties (the same CV mean, summed in another order).
TIE = 1e-12


@dataclass(frozen=True)
class Strategy:
    """One row of the table: a sampler and a pruner (``sampler`` ``None``: Optuna's default).

    Attributes:
        key: Its name on the command line (``--only``).
        label: The row's name.
        sampler: The ``sampler`` param, ``None`` for the Optuna baseline.
        pruner: The ``pruner`` param (the baseline's objective uses ``none``).
        pruner_options: The ``pruner_options`` param.
    """

    key: str
    label: str
    sampler: str | None
    pruner: str
    pruner_options: dict[str, Any] = field(default_factory=dict)

    @property
    def baseline(self) -> bool:
        """Whether this is plain Optuna (TPESampler, NopPruner)."""
        return self.sampler is None

    @classmethod
    def parse(cls, text: str) -> Strategy:
        """An ``--extra`` strategy: ``SAMPLER:PRUNER`` or ``SAMPLER:PRUNER:{options as JSON}``."""
        sampler, pruner, *options = text.split(":", 2)
        parsed = json.loads(options[0]) if options else {}
        label = f"{sampler} + {pruner}" + (f" {json.dumps(parsed)}" if parsed else "")
        return cls(text, label, sampler, pruner, parsed)


BASELINE = Strategy("optuna", "optuna default (TPE, no pruner)", None, "none")
STRATEGIES = (
    BASELINE,
    Strategy("tpe-none", "tpe + none", "tpe", "none"),
    Strategy("tpe-auto", "tpe + auto (median on folds): airsweep default", "tpe", "auto"),
    Strategy("tpe-median", "tpe + median (on boosting rounds)", "tpe", "median"),
    Strategy("tpe-hyperband", "tpe + hyperband", "tpe", "hyperband"),
    Strategy("random-median", "random + median", "random", "median"),
    Strategy("cmaes-median", "cmaes + median", "cmaes", "median"),
)


@dataclass(frozen=True)
class Sweep:
    """What one sweep gave.

    Attributes:
        strategy: The strategy's label.
        dataset: The builtin dataset.
        seed: The config's seed.
        metric: The dataset's metric.
        direction: ``maximize`` or ``minimize``.
        best: The study's best value.
        wall_s: First ask to last tell.
        cpu_s: CPU time of this process over the same span.
        complete: COMPLETE trials.
        pruned: PRUNED trials.
        failed: FAIL trials.
        rounds: Boosting rounds trained per fold, summed over the trials.
    """

    strategy: str
    dataset: str
    seed: int
    metric: str
    direction: str
    best: float
    wall_s: float
    cpu_s: float
    complete: int
    pruned: int
    failed: int
    rounds: int


def _use_src() -> None:
    src = str(ROOT / "src")
    if src not in sys.path:
        sys.path.insert(0, src)


def sweep_params(dataset: str, args: argparse.Namespace, seed: int, **extra: Any) -> dict[str, Any]:
    """The DAG params of a sweep of this bench."""
    return {
        "dataset": dataset,
        "models": [MODEL],
        "n_trials": args.n_trials,
        "cv_folds": args.cv_folds,
        "seed": seed,
        **extra,
    }


def run_sweep(
    strategy: Strategy,
    dataset: str,
    manifest: dict[str, Any],
    seed: int,
    args: argparse.Namespace,
    seen: Counter[str],
) -> Sweep:
    """Run one sweep of ``args.n_trials`` trials, sequentially, in this process.

    Args:
        strategy: The sampler and pruner.
        dataset: The builtin dataset (prepared in ``manifest``).
        manifest: The dataset's manifest.
        seed: The config's seed (folds, XGBoost, sampler).
        args: The command line (``n_trials``, ``cv_folds``).
        seen: Receives ``"<Category>: <message>"`` of every warning raised.
    """
    import optuna
    from optuna.trial import TrialState

    from airsweep.config import SweepConfig
    from airsweep.metrics import Metrics
    from airsweep.study import create_study, load_study
    from airsweep.trial_outcome import Device
    from airsweep.trials import TrialExecutor

    storage = optuna.storages.InMemoryStorage()
    name = f"bench-{dataset}-{seed}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if strategy.baseline:
            config = SweepConfig.from_params(sweep_params(dataset, args, seed, pruner="none"))
            study = optuna.create_study(
                storage=storage,
                study_name=name,
                direction=manifest["direction"],
                sampler=optuna.samplers.TPESampler(seed=seed),
                pruner=optuna.pruners.NopPruner(),
            )
        else:
            config = SweepConfig.from_params(
                sweep_params(
                    dataset,
                    args,
                    seed,
                    sampler=strategy.sampler,
                    pruner=strategy.pruner,
                    pruner_options=strategy.pruner_options,
                )
            )
            create_study(storage, name, manifest["objectives"], config, manifest)
            study = load_study(storage, name, config)
        device = Device("cpu", "cpu", None)
        with TrialExecutor(study, manifest, config, "cpu", device, 1, Metrics(client=False)) as ex:
            started, cpu_started = time.perf_counter(), time.process_time()
            for _ in range(args.n_trials):
                trial = study.ask()
                trial.set_user_attr("model", MODEL)
                try:
                    value = ex.cross_validate(trial, MODEL)
                except optuna.TrialPruned:
                    study.tell(trial, state=TrialState.PRUNED)
                except Exception as exc:  # as a runner: the trial fails, the sweep goes on
                    print(f"  trial {trial.number} failed: {exc!r}", file=sys.stderr)
                    study.tell(trial, state=TrialState.FAIL)
                else:
                    study.tell(trial, value)
            wall = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
    for warning in caught:
        seen[f"{warning.category.__name__}: {str(warning.message).splitlines()[0]}"] += 1
    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state for t in trials)
    return Sweep(
        strategy=strategy.label,
        dataset=dataset,
        seed=seed,
        metric=manifest["metric"],
        direction=manifest["direction"],
        best=float(study.best_value),
        wall_s=wall,
        cpu_s=cpu,
        complete=states[TrialState.COMPLETE],
        pruned=states[TrialState.PRUNED],
        failed=states[TrialState.FAIL],
        rounds=sum(max(t.intermediate_values, default=0) for t in trials),
    )


def better_by(value: float, baseline: float, direction: str) -> float:
    """How much ``value`` beats ``baseline`` in ``direction`` (negative: worse; 0 within 1e-12)."""
    delta = value - baseline if direction == "maximize" else baseline - value
    return 0.0 if abs(delta) < TIE else delta


def table(sweeps: list[Sweep], datasets: list[str], strategies: list[Strategy]) -> str:
    """The markdown table: per strategy, one row per dataset, then one over the datasets."""
    by_key = {(s.strategy, s.dataset, s.seed): s for s in sweeps}
    seeds = sorted({s.seed for s in sweeps})
    header = (
        "| strategy | dataset (metric) | best CV | Δ score vs optuna | W-T-L | wall s | "
        "wall × | cpu × | pruned | rounds k |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [header]
    for strategy in strategies:
        rel, ratios, cpus, pruned, rounds = [], [], [], [], []
        for dataset in datasets:
            runs = [by_key[(strategy.label, dataset, seed)] for seed in seeds]
            bases = [by_key[(BASELINE.label, dataset, seed)] for seed in seeds]
            pairs = list(zip(runs, bases, strict=True))
            deltas = [better_by(r.best, b.best, r.direction) for r, b in pairs]
            walls = [r.wall_s / b.wall_s for r, b in pairs]
            cpus.append(statistics.median(r.cpu_s / b.cpu_s for r, b in pairs))
            wins = sum(d > 0 for d in deltas)
            losses = sum(d < 0 for d in deltas)
            delta = statistics.median(deltas)
            base_best = statistics.median(b.best for b in bases)
            rel.append(100 * delta / abs(base_best))
            ratios.append(statistics.median(walls))
            pruned.append(statistics.median(r.pruned for r in runs))
            rounds.append(statistics.median(r.rounds for r in runs) / 1000)
            lines.append(
                f"| {strategy.label} | {dataset} ({runs[0].metric}) | "
                f"{statistics.median(r.best for r in runs):.4f} | {delta:+.4f} | "
                f"{wins}-{len(deltas) - wins - losses}-{losses} | "
                f"{statistics.median(r.wall_s for r in runs):.1f} | {ratios[-1]:.2f} | "
                f"{cpus[-1]:.2f} | {pruned[-1]:g} | {rounds[-1]:.1f} |"
            )
        lines.append(
            f"| {strategy.label} | all (mean of the datasets) | | {statistics.mean(rel):+.2f} % | "
            f"| | {statistics.mean(ratios):.2f} | {statistics.mean(cpus):.2f} | "
            f"{statistics.mean(pruned):.1f} | "
            f"{statistics.mean(rounds):.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run every strategy on every dataset and seed; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-trials", type=int, default=30, help="trials per sweep (30)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--cv-folds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smoke run: 8 trials, seed 0")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=[s.key for s in STRATEGIES[1:]],
        help="run only these strategies (and the baseline)",
    )
    parser.add_argument(
        "--extra",
        nargs="+",
        type=Strategy.parse,
        default=[],
        metavar="SAMPLER:PRUNER[:OPTIONS]",
        help="more strategies, e.g. tpe:median:'{\"n_warmup_steps\": 40}' (pruner_options)",
    )
    parser.add_argument("--json", type=Path, help="also write every sweep's result here")
    args = parser.parse_args(argv)
    chosen = [s for s in STRATEGIES[1:] if args.only is None or s.key in args.only]
    strategies = [BASELINE, *chosen, *args.extra]
    if args.quick:
        args.n_trials, args.seeds = 8, [0]
    _use_src()
    import optuna
    import xgboost
    from threadpoolctl import threadpool_limits

    from airsweep.artifacts import ArtifactStore
    from airsweep.config import SweepConfig
    from airsweep.data import prepare_dataset

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = ArtifactStore(Path(tempfile.mkdtemp(prefix="search_strategies_")).as_uri())
    manifests = {
        dataset: prepare_dataset(
            SweepConfig.from_params(sweep_params(dataset, args, 0)), store, f"search-{dataset}"
        )
        for dataset in args.datasets
    }
    sweeps: list[Sweep] = []
    seen: Counter[str] = Counter()
    started = time.perf_counter()
    with threadpool_limits(limits=1):
        for seed in args.seeds:
            for d, dataset in enumerate(args.datasets):
                shift = (seed * len(args.datasets) + d) % len(strategies)
                for strategy in strategies[shift:] + strategies[:shift]:
                    sweep = run_sweep(strategy, dataset, manifests[dataset], seed, args, seen)
                    sweeps.append(sweep)
                    print(
                        f"seed {seed} {dataset:<13} {strategy.label:<40} best {sweep.best:.4f} "
                        f"wall {sweep.wall_s:6.1f}s pruned {sweep.pruned:2d} "
                        f"rounds {sweep.rounds}",
                        file=sys.stderr,
                        flush=True,
                    )
    total = time.perf_counter() - started
    sizes = ", ".join(f"{d} {m['n_train']} rows" for d, m in manifests.items())
    print(
        f"{MODEL} (default space), {args.n_trials} trials per sweep, cv_folds {args.cv_folds}, "
        f"1 thread, seeds {args.seeds}; training splits: {sizes}; python "
        f"{platform.python_version()}, optuna {optuna.__version__}, xgboost "
        f"{xgboost.__version__}, {os.cpu_count()} CPUs; bench wall {total / 60:.1f} min\n"
    )
    print(table(sweeps, args.datasets, strategies))
    if seen:
        print("\nwarnings (count):")
        for text, count in seen.most_common():
            print(f"- {text} ({count})")
    if args.json:
        args.json.write_text(json.dumps([asdict(s) for s in sweeps], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
