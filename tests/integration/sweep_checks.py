"""Helpers of the integration tests: a sweep's study and trials, waits, scaling and crashes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import optuna
import psutil
import pytest
from optuna.trial import FrozenTrial, TrialState

from airsweep.budget import is_lost
from airsweep.study import study_name_for
from tests.integration.conftest import SWEEP, Cluster


def study_of(cluster: Cluster, run_id: str) -> optuna.Study:
    """The Optuna study of sweep ``run_id``."""
    return optuna.load_study(
        study_name=study_name_for(SWEEP, run_id), storage=cluster.optuna_storage
    )


def trials_of(cluster: Cluster, run_id: str) -> list[FrozenTrial]:
    """The sweep's trials so far (none before ``setup`` created the study)."""
    try:
        return study_of(cluster, run_id).get_trials()
    except KeyError:
        return []


def wait(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``predicate`` every half second; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout_s}s waiting for {what}")


def counted(found: list[FrozenTrial]) -> list[FrozenTrial]:
    """Trials that count against the budget: finished and not lost with their worker."""
    return [t for t in found if t.state.is_finished() and not is_lost(t)]


def assert_exact_budget(found: list[FrozenTrial], n_trials: int) -> None:
    """Exactly ``n_trials`` counted trials and none left RUNNING."""
    assert len(counted(found)) == n_trials
    assert not [t.number for t in found if t.state == TrialState.RUNNING]


def scale(cluster: Cluster, workers: int) -> None:
    """Run ``airsweep scale --cpu-workers N`` and require it to succeed."""
    result = cluster.airsweep("scale", "--cpu-workers", str(workers), timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def kill_tree(pid: int) -> int:
    """SIGKILL a process and all its descendants, as a crash would; return how many."""
    root = psutil.Process(pid)
    tree = [root, *root.children(recursive=True)]
    for proc in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(tree, timeout=30)
    return len(tree)
