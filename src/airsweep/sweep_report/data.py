"""What a sweep report shows, read once from the sweep's Optuna study."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from airsweep.budget import is_seeded
from airsweep.pareto import primary_index
from airsweep.space import param_key
from airsweep.stopping import STARTED_AT, STOP_REASON

_TAKEN = (TrialState.RUNNING, TrialState.WAITING)


@dataclass(frozen=True)
class Objective:
    """One objective of the study.

    Attributes:
        name: The metric (the study's metric name, else ``objective N``).
        direction: ``"maximize"`` or ``"minimize"``.
    """

    name: str
    direction: str


@dataclass(frozen=True)
class SweepData:
    """One snapshot of a sweep's study, as the report shows it.

    Attributes:
        run_id: The DAG run (the sweep).
        study: The sweep's study (the plots of the whole study read it).
        trials: Every trial of the study at the time of the snapshot.
        objectives: The study's objectives (two or three: multi-objective).
        config: The sweep config (the study's ``config`` user attr).
        manifest: The dataset summary (the study's ``manifest`` user attr).
        stop_reason: Why the sweep stopped taking trials; ``None`` while it runs.
        started: When the sweep's study was created (seconds since the epoch), if known.
        ended: When its last trial finished, once no trial runs and a stop reason
            is recorded; ``None`` while the sweep runs.
        model: The sweep's stored model (model card or registry entry), if it has one.
        generated_at: When the snapshot was taken (seconds since the epoch).
    """

    run_id: str
    study: optuna.Study
    trials: tuple[FrozenTrial, ...]
    objectives: tuple[Objective, ...]
    config: dict[str, Any]
    manifest: dict[str, Any]
    stop_reason: str | None
    started: float | None
    ended: float | None
    model: dict[str, Any] | None = None
    generated_at: float = field(default_factory=time.time)

    @property
    def study_name(self) -> str:
        """The study's name, ``hpo_sweep__<run_id>``."""
        return self.study.study_name

    @property
    def multi_objective(self) -> bool:
        """Whether the study has more than one objective."""
        return len(self.objectives) > 1

    @property
    def primary(self) -> int:
        """Index of the primary metric among the objectives (the manifest's ``metric``)."""
        return primary_index([o.name for o in self.objectives], self.manifest.get("metric"))

    @property
    def window(self) -> tuple[float, float]:
        """The sweep's time window (seconds since the epoch): start, then end or now.

        The start is the study's creation, else its first trial's start (trials
        seeded from an earlier sweep left out).
        """
        starts = [
            epoch(t.datetime_start) for t in self.trials if t.datetime_start and not is_seeded(t)
        ]
        start = self.started if self.started is not None else min(starts, default=None)
        end = self.ended if self.ended is not None else self.generated_at
        return (start if start is not None else end), end

    def complete(self, trials: tuple[FrozenTrial, ...] | None = None) -> list[FrozenTrial]:
        """The COMPLETE trials among ``trials`` (default: all of the study)."""
        pool = self.trials if trials is None else trials
        return [t for t in pool if t.state == TrialState.COMPLETE]

    def families(self) -> list[str]:
        """Model families with at least one trial: the config's order, then any other."""
        seen = {family_of(t) for t in self.trials} - {None}
        ordered = [m for m in self.config.get("models", []) if m in seen]
        return ordered + sorted(seen - set(ordered))  # type: ignore[arg-type]

    def family_trials(self, family: str) -> tuple[FrozenTrial, ...]:
        """The trials of one model family."""
        return tuple(t for t in self.trials if family_of(t) == family)

    def family_params(self, family: str) -> list[str]:
        """The study params of one family (``<family>.<param>``), sorted."""
        prefix = param_key(family, "")
        names = {name for t in self.family_trials(family) for name in t.params}
        return sorted(name for name in names if name.startswith(prefix))

    def plot_study(self, family: str | None = None) -> optuna.Study:
        """An in-memory study of the snapshot's COMPLETE trials (of ``family`` only, if given).

        Optuna's plots read it without another database round trip.
        """
        trials = self.family_trials(family) if family is not None else self.trials
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" line per plot
        try:
            study = optuna.create_study(
                directions=[o.direction for o in self.objectives],
                study_name=f"{self.study_name}/{family or 'all'}",
            )
        finally:
            optuna.logging.set_verbosity(verbosity)
        study.add_trials(self.complete(trials))
        return study


def family_of(trial: FrozenTrial) -> str | None:
    """The model family a trial trained (its ``model`` user attr), if recorded."""
    model = trial.user_attrs.get("model")
    return str(model) if model is not None else None


def epoch(moment: Any) -> float:
    """Seconds since the epoch of a datetime Optuna stored (naive local time)."""
    return moment.astimezone().timestamp()


def objectives_of(study: optuna.Study) -> tuple[Objective, ...]:
    """The study's objectives: its metric names (if set) and directions."""
    names = study.metric_names or [None] * len(study.directions)
    manifest_metric = study.user_attrs.get("manifest", {}).get("metric")
    result = []
    for index, (name, direction) in enumerate(zip(names, study.directions, strict=True)):
        default = manifest_metric if len(study.directions) == 1 and manifest_metric else None
        label = name or default or f"objective {index}"
        result.append(Objective(str(label), direction.name.lower()))
    return tuple(result)


def snapshot(study: optuna.Study, run_id: str, model: dict[str, Any] | None = None) -> SweepData:
    """Read the sweep's study once.

    Args:
        study: The sweep's study.
        run_id: The DAG run of the sweep.
        model: The sweep's stored model, if it has one (see :class:`SweepData`).

    Returns:
        The snapshot; ``ended`` is set only once the sweep recorded why it
        stopped and no trial is running.
    """
    trials = tuple(study.get_trials(deepcopy=False))
    attrs = study.user_attrs
    stop_reason = attrs.get(STOP_REASON)
    ends = [epoch(t.datetime_complete) for t in trials if t.datetime_complete]
    running = any(t.state in _TAKEN for t in trials)
    ended = max(ends, default=None) if stop_reason and not running else None
    started = attrs.get(STARTED_AT)
    return SweepData(
        run_id=run_id,
        study=study,
        trials=trials,
        objectives=objectives_of(study),
        config=dict(attrs.get("config") or {}),
        manifest=dict(attrs.get("manifest") or {}),
        stop_reason=stop_reason,
        started=float(started) if started is not None else None,
        ended=ended,
        model=model,
    )
