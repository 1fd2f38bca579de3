"""Sweep reports: one self-contained HTML file per sweep in the artifact store.

``finalize`` writes the report of every sweep that ends with a model
(:func:`report_fields`, best effort: a report that fails never fails the
sweep); :func:`write_run_report` writes it on demand, for a running, finished
or failed sweep (``airsweep sweep report RUN``). It holds the sweep's facts and
leaderboard, the optimization history (the Pareto front of a multi-objective
sweep), the score by model family, each family's parameter importances and
slice plots, a Gantt chart of the trials per queue and worker, and the Sweeps
dashboard's panels drawn from Prometheus over the sweep's window. Plots are
PNG ``data:`` URIs: the file opens from disk with no server and no network.

Modules: :mod:`~airsweep.sweep_report.data` (the study's snapshot),
:mod:`~airsweep.sweep_report.figures` (PNG rendering), ``study_plots``,
``timeline``, ``panels`` (Prometheus), :mod:`~airsweep.sweep_report.html`
and ``build`` (assembly). Matplotlib is imported only when a report is built.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import optuna

from airsweep.artifacts import ArtifactStore, safe_key
from airsweep.settings import Settings, get_settings
from airsweep.study import study_name_for

__all__ = ["REPORT_FILE", "report_fields", "report_uri", "write_report", "write_run_report"]

logger = logging.getLogger(__name__)

#: The report's file name under the sweep's folder of the artifact store.
REPORT_FILE = "report.html"


def report_uri(store: ArtifactStore, run_id: str) -> str:
    """Where the report of sweep ``run_id`` is stored: ``runs/<run>/report/report.html``."""
    return store.uri("runs", safe_key(run_id), "report", REPORT_FILE)


def write_report(
    study: optuna.Study,
    run_id: str,
    settings: Settings | None = None,
    model: dict[str, Any] | None = None,
) -> str:
    """Build the report of a sweep from its study and write it to the artifact store.

    Args:
        study: The sweep's study (read once; the sweep may be running).
        run_id: The DAG run of the sweep.
        settings: Artifact store and Prometheus URL; default from the environment.
        model: The sweep's stored model: its model card or registry entry
            (``model``, ``metric``, ``cv_score``, ``test_score``, ``model_uri``,
            ``card_uri``), if it has one.

    Returns:
        The report's URI (:func:`report_uri`).
    """
    from airsweep.sweep_report.build import build_report
    from airsweep.sweep_report.data import snapshot

    settings = settings or get_settings()
    store = ArtifactStore(settings.artifact_uri)
    page = build_report(snapshot(study, run_id, model), settings.prometheus_url)
    return store.write_bytes(report_uri(store, run_id), page.encode("utf-8"))


def report_fields(
    study: optuna.Study, run_id: str, model: dict[str, Any], settings: Settings
) -> dict[str, str]:
    """Write the report of a finished sweep, best effort, for its summary.

    Returns:
        ``{"report_uri": uri}``, or ``{"report_error": why}`` when the report
        could not be written (logged as a warning; the sweep goes on).
    """
    try:
        return {"report_uri": write_report(study, run_id, settings, model)}
    except Exception as exc:
        logger.warning("sweep report not written: %s: %s", type(exc).__name__, exc)
        return {"report_error": f"{type(exc).__name__}: {exc}"}


def write_run_report(run_id: str, settings: Settings, dag_id: str = "hpo_sweep") -> str:
    """Write the report of sweep ``run_id`` now, whatever its state; return its URI.

    The stored model, if the sweep has one, comes from the model registry.

    Raises:
        KeyError: The sweep has no study (unknown run id, or its ``setup`` has
            not created it yet).
    """
    from airsweep.registry import ModelRegistry, RegistryError

    study = optuna.load_study(
        study_name=study_name_for(dag_id, run_id), storage=settings.optuna_storage
    )
    model = None
    # No model yet (a running or failed sweep), or no registry (not Postgres): no model.
    with contextlib.suppress(KeyError, RegistryError):
        store = ArtifactStore(settings.artifact_uri)
        model = ModelRegistry(settings.optuna_storage, store).get(run_id)
    return write_report(study, run_id, settings, model)
