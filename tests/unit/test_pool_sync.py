"""The pool sync: which pools change, the REST calls it makes, its loop and its stop."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from airsweep.client import AirflowAPIError
from airsweep.cluster import pool_sync
from airsweep.cluster.pool_sync import (
    PoolChange,
    PoolSync,
    api_url,
    pool_changes,
    pool_kinds,
)
from airsweep.metrics import Metrics
from airsweep.workers import LiveWorker, LiveWorkers

ROOT = Path(__file__).resolve().parents[2]
KINDS = {"cpu_trials": "cpu", "gpu_trials": "gpu"}


def test_pools_json_names_the_kind_each_pool_follows():
    assert pool_kinds(ROOT) == KINDS


@pytest.mark.parametrize(
    ("current", "live", "expected"),
    [
        ({"cpu_trials": 2, "gpu_trials": 1}, {"cpu": 2, "gpu": 1}, []),
        (
            {"cpu_trials": 2, "gpu_trials": 1},
            {"cpu": 6, "gpu": 1},
            [PoolChange("cpu_trials", "cpu", 2, 6)],
        ),
        (
            {"cpu_trials": 6, "gpu_trials": 2},
            {"cpu": 4, "gpu": 1},
            [PoolChange("cpu_trials", "cpu", 6, 4), PoolChange("gpu_trials", "gpu", 2, 1)],
        ),
        # No live worker of a kind (restarting): its pool keeps its size, never 0.
        ({"cpu_trials": 4, "gpu_trials": 1}, {"cpu": 0, "gpu": 0}, []),
        ({"cpu_trials": 4, "gpu_trials": 1}, {"cpu": 2}, [PoolChange("cpu_trials", "cpu", 4, 2)]),
        # A pool that does not exist is not created here (bootstrap does).
        ({"gpu_trials": 1}, {"cpu": 2, "gpu": 1}, []),
    ],
)
def test_pools_follow_the_live_slots_but_never_go_to_zero(current, live, expected):
    assert pool_changes(current, KINDS, live) == expected


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({"AIRSWEEP_API_URL": "http://api:8080/"}, "http://api:8080"),
        (
            {
                "AIRSWEEP_API_URL": "http://127.0.0.1:28080",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://other:1/execution/",
            },
            "http://127.0.0.1:28080",
        ),
        (
            {"AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://airflow-apiserver:8080/execution/"},
            "http://airflow-apiserver:8080",
        ),
    ],
)
def test_api_url_is_explicit_or_the_execution_api_less_its_path(env, url):
    assert api_url(env) == url


def test_api_url_needs_a_variable():
    with pytest.raises(ValueError, match="AIRSWEEP_API_URL"):
        api_url({})


class FakeClient:
    """Answers GET/PATCH /pools/{name} like Airflow 3.3's REST API."""

    def __init__(self, pools: dict[str, int], fail: Exception | None = None) -> None:
        self.pools = {
            name: {"name": name, "slots": slots, "include_deferred": False}
            for name, slots in pools.items()
        }
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.fail = fail

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        self.calls.append((method, path, kwargs))
        if self.fail is not None:
            raise self.fail
        name = path.removeprefix("/pools/")
        if name not in self.pools:
            raise AirflowAPIError(404, f"The Pool with name: `{name}` was not found")
        if method == "PATCH":
            assert kwargs["params"] == {"update_mask": "slots"}
            body = kwargs["json"]
            # Airflow 3.3 validates the body as a whole pool: name and include_deferred too.
            assert body["name"] == name and isinstance(body["include_deferred"], bool)
            self.pools[name]["slots"] = body["slots"]
        return dict(self.pools[name])


#: The control worker (queue ``default``) has no pool: its processes are no trial slots.
LIVE = LiveWorkers(
    (
        LiveWorker("worker-control@a", "control", 3, False),
        LiveWorker("worker-cpu@a", "cpu", 2, False),
        LiveWorker("worker-cpu-2@a", "cpu", 2, False),
    )
)


def _sync(client: FakeClient, live: LiveWorkers, stats: Any, stored: list) -> PoolSync:
    return PoolSync(
        "redis://:pw@broker:6379/0",
        client,  # type: ignore[arg-type]
        KINDS,
        metrics=Metrics(client=stats),
        inspect=lambda url: live,
        store=lambda url, snapshot: stored.append(snapshot),
    )


def test_a_round_publishes_the_snapshot_resizes_logs_and_gauges(caplog, stats):
    client = FakeClient({"cpu_trials": 2, "gpu_trials": 1})
    stored: list[LiveWorkers] = []
    with caplog.at_level(logging.INFO, logger="airsweep.pool_sync"):
        changes = _sync(client, LIVE, stats, stored).run_once()
    assert stored == [LIVE]
    assert changes == [PoolChange("cpu_trials", "cpu", 2, 4)]
    assert client.pools["cpu_trials"]["slots"] == 4 and client.pools["gpu_trials"]["slots"] == 1
    assert [c[:2] for c in client.calls if c[0] == "PATCH"] == [("PATCH", "/pools/cpu_trials")]
    assert (
        "pool cpu_trials: 2 -> 4 slots (live workers: worker-cpu@a (cpu, 2 slots), "
        "worker-cpu-2@a (cpu, 2 slots))" in caplog.messages
    )
    assert "pool gpu_trials: kept at 1 slot: no live gpu worker" in caplog.messages
    assert sorted(stats.calls) == [
        ("gauge", "airsweep.pool.slots.cpu_trials", 4),
        ("gauge", "airsweep.pool.slots.gpu_trials", 1),
        ("gauge", "airsweep.workers.live_slots.cpu", 4),
        ("gauge", "airsweep.workers.live_slots.gpu", 0),
    ]


def test_no_live_worker_leaves_every_pool_alone(stats):
    client = FakeClient({"cpu_trials": 4, "gpu_trials": 1})
    changes = _sync(client, LiveWorkers(), stats, []).run_once()
    assert changes == [] and not [c for c in client.calls if c[0] == "PATCH"]
    assert client.pools["cpu_trials"]["slots"] == 4


def test_a_missing_pool_is_skipped(caplog, stats):
    client = FakeClient({"cpu_trials": 2})
    with caplog.at_level(logging.WARNING, logger="airsweep.pool_sync"):
        changes = _sync(client, LIVE, stats, []).run_once()
    assert changes == [PoolChange("cpu_trials", "cpu", 2, 4)]
    assert any("pool gpu_trials does not exist" in m for m in caplog.messages)


def test_the_loop_survives_failures_touches_its_heartbeat_and_stops(tmp_path, caplog, stats):
    client = FakeClient({"cpu_trials": 2, "gpu_trials": 1}, fail=ConnectionError("api down"))
    stop = threading.Event()
    rounds = []

    def inspect(url: str) -> LiveWorkers:
        rounds.append(url)
        if len(rounds) == 3:
            stop.set()
        return LIVE

    sync = PoolSync(
        "redis://x",
        client,
        KINDS,
        Metrics(client=stats),
        inspect,
        lambda u, s: None,
    )  # type: ignore[arg-type]
    heartbeat = tmp_path / "alive"
    with caplog.at_level(logging.WARNING, logger="airsweep.pool_sync"):
        sync.run(stop, interval_s=0.01, heartbeat=heartbeat)
    assert len(rounds) == 3 and heartbeat.exists()
    assert caplog.messages.count("pool sync failed: ConnectionError: api down") == 3


def test_main_needs_its_environment(monkeypatch, capsys):
    monkeypatch.delenv("AIRSWEEP_ADMIN_PASSWORD", raising=False)
    monkeypatch.setenv("AIRFLOW__CELERY__BROKER_URL", "redis://x")
    assert pool_sync.main() == 2
    assert "AIRSWEEP_ADMIN_PASSWORD" in capsys.readouterr().err


def test_sigterm_stops_main_cleanly(monkeypatch):
    monkeypatch.setenv("AIRFLOW__CELERY__BROKER_URL", "redis://:pw@127.0.0.1:1/0")
    monkeypatch.setenv("AIRSWEEP_ADMIN_PASSWORD", "pw")
    monkeypatch.setenv("AIRSWEEP_API_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("AIRSWEEP_ROOT", str(ROOT))
    monkeypatch.setenv("AIRSWEEP_POOL_SYNC_INTERVAL_S", "0.05")
    rounds = []
    monkeypatch.setattr(PoolSync, "run_once", lambda self: rounds.append(1) or [])
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        assert pool_sync.main() == 0
    finally:
        timer.cancel()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    assert rounds
