"""Live workers: parsing Celery inspect replies, the Redis snapshot, the CUDA announcement."""

from __future__ import annotations

import types
from typing import Any

import celery
import pytest
from celery import Celery, signals
from celery.worker import control

from airsweep import workers
from airsweep.cli.cluster import announce_cuda
from airsweep.models.device import cuda_status
from airsweep.queues import TRIAL_KINDS
from airsweep.workers import (
    CUDA_KEY,
    CUDA_REASON_KEY,
    SNAPSHOT_KEY,
    SNAPSHOT_TTL_S,
    LiveWorker,
    LiveWorkers,
    cuda_announcement,
    current_workers,
    inspect_workers,
    probe_cuda,
    publish,
    read_snapshot,
)


def _queues(*names: str) -> list[dict[str, Any]]:
    return [{"name": name, "exchange": {"name": name}, "routing_key": name} for name in names]


def _stats(concurrency: int) -> dict[str, Any]:
    return {"pool": {"max-concurrency": concurrency, "processes": list(range(concurrency))}}


#: Replies as two cpu workers (one with 4 slots), a gpu worker, the control worker and a
#: stray worker give them.
ACTIVE_QUEUES = {
    "worker-cpu@a": _queues("cpu"),
    "worker-cpu-2@a": _queues("cpu"),
    "worker-gpu@b": _queues("gpu"),
    "worker-control@a": _queues("default"),
    "stray@c": _queues("reports"),
}
STATS = {
    "worker-cpu@a": _stats(2),
    "worker-cpu-2@a": _stats(4),
    "worker-gpu@b": _stats(1),
    "worker-control@a": _stats(3),
    "stray@c": _stats(2),
}
CONF = {
    "worker-cpu@a": {CUDA_KEY: False, CUDA_REASON_KEY: "cpu worker: CUDA not probed"},
    "worker-cpu-2@a": {"broker_url": "********"},  # started without airsweep: no announcement
    "worker-gpu@b": {CUDA_KEY: True, CUDA_REASON_KEY: None},
    "worker-control@a": {CUDA_KEY: False, CUDA_REASON_KEY: "control worker: CUDA not probed"},
}


def test_replies_give_each_worker_its_kind_slots_and_cuda():
    live = LiveWorkers.from_replies(ACTIVE_QUEUES, STATS, CONF)
    assert live.workers == (
        LiveWorker("worker-control@a", "control", 3, False, "control worker: CUDA not probed"),
        LiveWorker("worker-cpu-2@a", "cpu", 4, None),
        LiveWorker("worker-cpu@a", "cpu", 2, False, "cpu worker: CUDA not probed"),
        LiveWorker("worker-gpu@b", "gpu", 1, True),
    )
    # Trial slots are every Celery process of a trial worker; the control worker has none.
    assert live.slots == {"cpu": 6, "gpu": 1}
    assert live.gpu_usable
    assert live.describe("gpu") == "worker-gpu@b (gpu, 1 slot, cuda)"
    assert live.describe("control") == "worker-control@a (control, 3 processes)"


def test_a_worker_on_default_and_cpu_counts_as_cpu_with_every_process_a_slot():
    """A worker started by hand on the old queues still counts its processes as cpu slots."""
    live = LiveWorkers.from_replies(
        {"old-cpu@a": _queues("default", "cpu")}, {"old-cpu@a": _stats(3)}, None
    )
    assert live.workers == (LiveWorker("old-cpu@a", "cpu", 3, None),)
    assert live.slots == {"cpu": 3, "gpu": 0}


def test_missing_or_odd_replies_count_no_slot():
    live = LiveWorkers.from_replies(
        {"worker-cpu@a": _queues("cpu"), "broken@x": {"error": "boom"}},
        {},  # no stats reply: the slots are unknown, so none
        None,
    )
    assert live.workers == (LiveWorker("worker-cpu@a", "cpu", 0, None),)
    assert LiveWorkers.from_replies(None, None, None) == LiveWorkers()


def test_slots_list_every_kind_even_without_workers():
    assert LiveWorkers().slots == dict.fromkeys(TRIAL_KINDS, 0) == {"cpu": 0, "gpu": 0}
    assert LiveWorkers().describe() == "none"


@pytest.mark.parametrize(
    ("workers_", "usable"),
    [
        ((LiveWorker("worker-gpu@b", "gpu", 1, False, "no driver"),), False),
        ((LiveWorker("worker-gpu@b", "gpu", 1, None),), False),
        ((LiveWorker("worker-cpu@a", "cpu", 2, True),), False),  # only gpu workers count
        (
            (
                LiveWorker("worker-gpu@b", "gpu", 1, False, "no driver"),
                LiveWorker("worker-gpu@c", "gpu", 1, True),
            ),
            True,
        ),
    ],
)
def test_gpu_usable_needs_a_gpu_worker_that_announced_cuda(workers_, usable):
    assert LiveWorkers(workers_).gpu_usable is usable


def test_json_round_trip():
    live = LiveWorkers.from_replies(ACTIVE_QUEUES, STATS, CONF)
    assert LiveWorkers.from_json(live.to_json()) == live
    assert LiveWorkers.from_json(live.to_json().encode()) == live
    assert LiveWorkers.from_json(LiveWorkers().to_json()) == LiveWorkers()


@pytest.mark.parametrize("text", ["", "[]", '{"workers": [{"name": "w"}]}', "{}", "null"])
def test_bad_json_is_a_value_error(text):
    with pytest.raises(ValueError):
        LiveWorkers.from_json(text)


class FakeInspect:
    def __init__(self, calls: list[dict[str, Any]], **kwargs: Any) -> None:
        self.kwargs = kwargs
        calls.append(kwargs)

    def _only(self, replies: dict[str, Any]) -> dict[str, Any]:
        destination = self.kwargs.get("destination")
        return {n: r for n, r in replies.items() if destination is None or n in destination}

    def active_queues(self) -> dict[str, Any]:
        return self._only(ACTIVE_QUEUES)

    def stats(self) -> dict[str, Any]:
        return self._only(STATS)

    def conf(self) -> dict[str, Any]:
        return self._only(CONF)


def test_inspect_asks_stats_and_conf_only_of_the_workers_that_answered(monkeypatch):
    calls: list[dict[str, Any]] = []
    apps = []

    class FakeCelery:
        def __init__(self, main: str, broker: str) -> None:
            self.broker = broker
            self.closed = False
            self.control = types.SimpleNamespace(inspect=lambda **kw: FakeInspect(calls, **kw))
            apps.append(self)

        def close(self) -> None:
            self.closed = True

    monkeypatch.setattr(celery, "Celery", FakeCelery)
    live = inspect_workers("redis://:pw@broker:6379/0", timeout_s=0.5)
    assert live == LiveWorkers.from_replies(ACTIVE_QUEUES, STATS, CONF)
    assert calls[0] == {"timeout": 0.5}
    assert calls[1] == {"destination": sorted(ACTIVE_QUEUES), "timeout": 0.5, "limit": 5}
    assert apps[0].broker == "redis://:pw@broker:6379/0" and apps[0].closed


class FakeRedis:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.ttl: dict[str, int] = {}

    def set(self, key: str, value: str, ex: int) -> None:
        self.data[key] = value.encode()
        self.ttl[key] = ex

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def close(self) -> None:
        pass


def test_snapshot_round_trip_with_a_ttl(monkeypatch):
    fake = FakeRedis()
    monkeypatch.setattr(workers, "_redis", lambda url: fake)
    assert read_snapshot("redis://x") is None
    live = LiveWorkers.from_replies(ACTIVE_QUEUES, STATS, CONF)
    publish("redis://x", live)
    assert fake.ttl[SNAPSHOT_KEY] == SNAPSHOT_TTL_S == 30
    assert read_snapshot("redis://x") == live
    fake.data[SNAPSHOT_KEY] = b"not json"
    assert read_snapshot("redis://x") is None


def test_an_unreachable_broker_has_no_snapshot():
    assert read_snapshot("redis://:pw@127.0.0.1:1/0") is None


def test_current_workers_reads_the_snapshot_and_asks_only_without_one(monkeypatch):
    fake = FakeRedis()
    monkeypatch.setattr(workers, "_redis", lambda url: fake)
    asked = LiveWorkers((LiveWorker("worker-gpu@b", "gpu", 1, True),))
    monkeypatch.setattr(workers, "inspect_workers", lambda url, timeout_s: asked)
    assert current_workers("redis://x") == asked  # no snapshot
    publish("redis://x", LiveWorkers())
    assert current_workers("redis://x") == asked  # a snapshot without workers
    stored = LiveWorkers.from_replies(ACTIVE_QUEUES, STATS, CONF)
    publish("redis://x", stored)
    assert current_workers("redis://x") == stored


@pytest.mark.parametrize("kind", ["cpu", "control"])
def test_cpu_and_control_workers_announce_no_cuda_without_probing(monkeypatch, kind):
    monkeypatch.setattr(workers, "probe_cuda", lambda: pytest.fail("probed"))
    assert cuda_announcement(kind) == {
        CUDA_KEY: False,
        CUDA_REASON_KEY: f"{kind} worker: CUDA not probed",
    }


def test_gpu_workers_announce_the_probe(monkeypatch):
    monkeypatch.setattr(workers, "probe_cuda", lambda: (False, "no driver"))
    assert cuda_announcement("gpu") == {CUDA_KEY: False, CUDA_REASON_KEY: "no driver"}


def test_probe_in_a_child_process_answers_as_the_in_process_probe():
    assert probe_cuda() == cuda_status()


def test_a_failed_probe_says_why(monkeypatch):
    monkeypatch.setattr(workers, "_PROBE", "import sys; sys.exit('no xgboost here')")
    usable, reason = probe_cuda()
    assert not usable and "no xgboost here" in reason


def test_announcement_reaches_the_worker_conf_that_inspect_returns(monkeypatch):
    monkeypatch.setattr(workers, "probe_cuda", lambda: (True, None))
    app = Celery("test-announce", broker="memory://", set_as_current=False)
    handler = announce_cuda("gpu")
    try:
        signals.celeryd_init.send(sender="worker-gpu@b", instance=None, conf=app.conf, options={})
    finally:
        signals.celeryd_init.disconnect(handler)
    reply = {"worker-gpu@b": control.conf(types.SimpleNamespace(app=app))}
    assert reply["worker-gpu@b"][CUDA_KEY] is True
    live = LiveWorkers.from_replies({"worker-gpu@b": _queues("gpu")}, {}, reply)
    assert live.gpu_usable
