"""Plots of the study, drawn with Optuna's matplotlib visualizations and matplotlib.

The optimization history (or the Pareto front), the score by family, and per
family the parameter importances and slices.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from optuna.trial import TrialState
from optuna.visualization import matplotlib as optuna_plots

from airsweep.sweep_report.data import SweepData
from airsweep.sweep_report.figures import Figure, NotDrawn, new_axes, render

#: COMPLETE trials a family needs before its parameter importances are drawn
#: (fANOVA fits a random forest on them: with fewer, the ranking is noise).
MIN_IMPORTANCE_TRIALS = 4


def _target(data: SweepData) -> dict[str, Any]:
    """Optuna's ``target``/``target_name`` arguments: the study's primary metric."""
    objective, index = data.objectives[data.primary], data.primary
    if not data.multi_objective:
        return {"target_name": objective.name}
    return {"target": lambda trial: trial.values[index], "target_name": objective.name}


def _caveat(data: SweepData) -> str | None:
    """The note under per-objective plots of a multi-objective study."""
    if data.multi_objective:
        return f"the primary metric only: {data.objectives[data.primary].name}"
    return None


def history(data: SweepData) -> Figure:
    """The best value over the trials; the Pareto front for a multi-objective study."""
    if data.multi_objective:
        return pareto_front(data)
    objective = data.objectives[data.primary]

    def draw() -> Any:
        study = data.plot_study()
        if not study.trials:
            raise NotDrawn("no COMPLETE trial yet")
        return optuna_plots.plot_optimization_history(study, target_name=objective.name)

    return render(f"Optimization history: {objective.name} ({objective.direction})", draw)


def pareto_front(data: SweepData) -> Figure:
    """The COMPLETE trials in objective space, the Pareto front highlighted."""
    names = [o.name for o in data.objectives]

    def draw() -> Any:
        study = data.plot_study()
        if not study.trials:
            raise NotDrawn("no COMPLETE trial yet")
        if len(names) > 3:
            raise NotDrawn(f"{len(names)} objectives: a Pareto front is drawn for 2 or 3")
        return optuna_plots.plot_pareto_front(study, target_names=names)

    return render(f"Pareto front: {' / '.join(names)}", draw)


def score_by_family(data: SweepData) -> Figure:
    """Each family's COMPLETE scores (box and points), with its trials by state."""
    families = data.families()
    objective, index = data.objectives[data.primary], data.primary

    def draw() -> Any:
        scores = [[t.values[index] for t in data.complete(data.family_trials(f))] for f in families]
        if not any(scores):
            raise NotDrawn("no COMPLETE trial yet")
        ax = new_axes()
        jitter = np.random.default_rng(0)
        for position, values in enumerate(scores, start=1):
            if values:
                ax.boxplot([values], positions=[position], widths=0.5, showfliers=False)
                spread = jitter.uniform(-0.12, 0.12, len(values))
                ax.scatter(position + spread, values, s=14, alpha=0.7, zorder=3)
        ax.set_xticks(range(1, len(families) + 1), [_family_label(data, f) for f in families])
        ax.set_xlim(0.4, len(families) + 0.6)
        ax.set_ylabel(f"{objective.name} ({objective.direction})")
        return ax

    return render(f"Score by family: {objective.name}", draw, note=_caveat(data))


def _family_label(data: SweepData, family: str) -> str:
    """``family`` and its trial counts by state, for an axis label."""
    states = [t.state for t in data.family_trials(family)]
    counts = [
        f"{states.count(state)} {state.name.lower()}"
        for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)
        if states.count(state)
    ]
    return f"{family}\n{', '.join(counts)}"


def family_figures(data: SweepData, family: str) -> list[Figure]:
    """Parameter importances and slice plots of one family, over its COMPLETE trials."""
    params = data.family_params(family)
    target = _target(data)
    caveat = _caveat(data)
    study = data.plot_study(family)

    def importances() -> Any:
        if len(study.trials) < MIN_IMPORTANCE_TRIALS:
            raise NotDrawn(
                f"needs at least {MIN_IMPORTANCE_TRIALS} COMPLETE trials of {family}"
                f" (has {len(study.trials)})"
            )
        if not params:
            raise NotDrawn(f"{family} has no sampled parameters")
        return optuna_plots.plot_param_importances(study, params=params, **target)

    def slices() -> Any:
        if not study.trials:
            raise NotDrawn(f"no COMPLETE trial of {family} yet")
        if not params:
            raise NotDrawn(f"{family} has no sampled parameters")
        return optuna_plots.plot_slice(study, params=params, **target)

    return [
        render(f"{family}: parameter importances", importances, note=caveat),
        render(f"{family}: score against each parameter (slice)", slices, note=caveat),
    ]
