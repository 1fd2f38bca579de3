"""Pick the sweep's best trial, refit it, score it on held-out data and store it.

Write order makes every crash point safe: model files first, then the model
card that points at them, then the registry entry that points at the card.
Each write is atomic (see :mod:`airsweep.artifacts`).
"""

from __future__ import annotations

import io
import platform
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import joblib
import optuna
from optuna.trial import TrialState

from airsweep.artifacts import ArtifactStore, safe_key
from airsweep.config import SweepConfig
from airsweep.custom.refit import Refitted, refit_objective
from airsweep.data import load_split
from airsweep.models.base import CPU
from airsweep.models.pipeline import build_pipeline
from airsweep.models.registry import get_family
from airsweep.models.scoring import score
from airsweep.pareto import KNEE, Selection, objective_names, pareto_ranks, primary_index, select
from airsweep.registry import ModelRegistry
from airsweep.report import cv_std, placement, sweep_timing
from airsweep.settings import get_settings
from airsweep.space import model_params
from airsweep.stopping import STOP_REASON

#: Distributions whose versions go into the model card.
VERSIONED_PACKAGES = ("scikit-learn", "xgboost", "optuna", "pandas", "numpy")


class NoCompletedTrialError(ValueError):
    """The study has no COMPLETE trial to select."""


def select_best(
    study: optuna.Study, metric: str | None = None, rule: str | Mapping[str, Any] = KNEE
) -> Selection:
    """Choose the trial to store: the best COMPLETE one, or by ``rule`` over the Pareto front.

    Args:
        study: The sweep's study.
        metric: The sweep's primary metric (the manifest's ``metric``); by
            default the study's first objective.
        rule: The ``select`` param (:func:`airsweep.pareto.select`).

    Raises:
        NoCompletedTrialError: no trial completed; the message counts trials by
            state and lists each distinct error with how many trials raised it.
    """
    trials = study.get_trials(deepcopy=False)
    if not any(t.state == TrialState.COMPLETE for t in trials):
        counts = Counter(t.state.name for t in trials)
        errors = Counter(t.user_attrs["error"] for t in trials if "error" in t.user_attrs)
        reasons = "; ".join(f"{n}x {error}" for error, n in errors.most_common()) or "none"
        raise NoCompletedTrialError(
            f"study {study.study_name!r} has no COMPLETE trial "
            f"({dict(counts) or 'no trials'}); errors: {reasons}"
        )
    names = objective_names(study)
    return select(trials, study.directions, names, primary_index(names, metric), rule)


def finalize_best(
    study: optuna.Study,
    manifest: dict[str, Any],
    config: SweepConfig,
    store: ArtifactStore,
    run_key: str,
    registry: ModelRegistry,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """Refit the chosen trial on the full training split, score it on the test split, store it.

    The chosen trial is the best COMPLETE one, or with several objectives
    the one the ``select`` rule picks from the Pareto front (:func:`select_best`).

    The refit runs on the CPU (portable model files, whatever device the trial
    used). Files go to ``runs/<run_key>/model/``: ``model.joblib`` (the whole
    pipeline), ``model.ubj`` (XGBoost's native format, xgboost only) and
    ``card.json``. A custom objective refits itself
    (:func:`airsweep.custom.refit.refit_objective`): ``model.joblib`` is what it
    returned, or ``files/`` what it wrote (no test score then); a model without a
    test score is stored with its card but not registered (the registry ranks by it).

    Args:
        study: The sweep's study.
        manifest: The dataset manifest.
        config: The sweep config.
        store: Artifact store.
        run_key: Key of the sweep run.
        registry: Registry receiving the model card.
        n_jobs: Threads of the refit; default ``threads_per_slot`` from the settings.

    Returns:
        The model card (``model_uri``, ``card_uri`` included; ``cv_score`` is
        the primary metric's, ``objectives`` every objective's name, direction
        and value, ``selection`` the rule, its note and the Pareto front) plus ``promoted``:
        whether the registry made it the champion of its dataset and metric.

    Raises:
        NoCompletedTrialError: no trial completed.
    """
    selection = select_best(study, manifest["metric"], config.select)
    best = selection.trial
    model = best.user_attrs["model"]
    params = model_params(model, best.params)
    threads = n_jobs or get_settings().threads_per_slot
    base = store.uri("runs", safe_key(run_key), "model")
    if config.objective is not None:
        refitted = refit_objective(config, manifest, params, best.number, store, base, threads)
    else:
        refitted = _refit_family(manifest, model, params, config.seed, store, base, threads)

    where = placement(best)
    names = objective_names(study)
    card = {
        "run_key": run_key,
        "study_name": study.study_name,
        "model": model,
        "params": params,
        "metric": manifest["metric"],
        "direction": manifest["direction"],
        "cv_score": best.values[primary_index(names, manifest["metric"])],
        "cv_std": cv_std(best),
        "objectives": [
            {"name": name, "direction": direction.name.lower(), "value": value}
            for name, direction, value in zip(names, study.directions, best.values, strict=True)
        ],
        "selection": _selection_record(study, selection),
        "test_score": refitted.test_score,
        "dataset": {
            "name": manifest["dataset_name"],
            "source": manifest["dataset"],
            "fingerprint": manifest["fingerprint"],
            "task_type": manifest["task_type"],
            "target": manifest["target"],
            "n_train": manifest["n_train"],
            "n_test": manifest["n_test"],
            "dropped_rows": manifest["dropped_rows"],
            "dropped_columns": manifest["dropped_columns"],
            "infinite_values": manifest["infinite_values"],
            "classes": manifest["classes"],
        },
        "trials": _trial_counts(study),
        "sweep": {**sweep_timing(study), "stop_reason": study.user_attrs.get(STOP_REASON)},
        "best_trial": {
            "number": best.number,
            "hostname": where.get("hostname"),
            "queue": where.get("queue"),
            "device": where.get("device_used"),
            "worker": where.get("worker"),
            "fit_seconds": best.user_attrs.get("fit_seconds"),
        },
        "refit": {
            "device": CPU,
            "n_jobs": threads,
            "seconds": round(refitted.seconds, 3),
            "stored": refitted.stored,
        },
        "versions": _versions(),
        "model_uri": refitted.model_uri,
        "native_model_uri": refitted.native_model_uri,
        "card_uri": f"{base}/card.json",
        "created_at": datetime.now(UTC).isoformat(),
    }
    store.write_json(card["card_uri"], card)
    promoted = registry.register(card) if refitted.test_score is not None else False
    return {**card, "promoted": promoted}


def _refit_family(
    manifest: dict[str, Any],
    model: str,
    params: dict[str, Any],
    seed: int,
    store: ArtifactStore,
    base: str,
    threads: int,
) -> Refitted:
    """Refit a family's pipeline on the training split, test-score it and store it in ``base``."""
    started = time.perf_counter()
    pipeline = build_pipeline(manifest, model, params, threads, CPU, seed=seed)
    pipeline.fit(*load_split(manifest, "train"))
    seconds = time.perf_counter() - started
    test_score = score(pipeline, *load_split(manifest, "test"), manifest["metric"])
    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer)
    model_uri = store.write_bytes(f"{base}/model.joblib", buffer.getvalue())
    native = get_family(model).native_model(pipeline.named_steps["model"])
    native_uri = store.write_bytes(f"{base}/model.ubj", native) if native is not None else None
    return Refitted(model_uri, native_uri, test_score, seconds)


def _selection_record(study: optuna.Study, selection: Selection) -> dict[str, Any]:
    """The card's ``selection``: ``rule``, ``note`` and ``pareto_front`` (trial numbers).

    ``pareto_front`` is ``None`` for a single objective.
    """
    front = None
    if len(study.directions) > 1:
        ranks = pareto_ranks(study.get_trials(deepcopy=False), study.directions)
        front = sorted(number for number, rank in ranks.items() if rank == 1)
    return {"rule": selection.rule, "note": selection.note, "pareto_front": front}


def _trial_counts(study: optuna.Study) -> dict[str, int]:
    """Count the study's trials by lower-case state, plus ``total``."""
    counts = Counter(t.state.name.lower() for t in study.get_trials(deepcopy=False))
    return {**dict(sorted(counts.items())), "total": sum(counts.values())}


def _versions() -> dict[str, str | None]:
    """Versions of Python and the libraries a stored model depends on."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions
