"""A worker's shutdown reaches its runners through the stop file."""

import pytest
from celery import signals

from airsweep import shutdown


@pytest.fixture
def stop_file(monkeypatch, tmp_path):
    monkeypatch.setattr(shutdown.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.delenv(shutdown.STOP_FILE_ENV, raising=False)
    path = shutdown.prepare_stop_file()
    yield path
    monkeypatch.delenv(shutdown.STOP_FILE_ENV, raising=False)


def test_the_stop_file_appears_when_celery_begins_to_shut_down_and_goes_after(stop_file):
    assert not shutdown.worker_stopping()
    signals.worker_shutting_down.send(sender="worker-cpu@host", sig="SIGTERM", how="Warm")
    assert stop_file.exists() and shutdown.worker_stopping()
    signals.worker_shutdown.send(sender=None)
    assert not stop_file.exists() and not shutdown.worker_stopping()


def test_a_process_outside_a_worker_is_never_stopping(monkeypatch):
    monkeypatch.delenv(shutdown.STOP_FILE_ENV, raising=False)
    assert not shutdown.worker_stopping()
