"""The forked child that fits a runner's trials: jobs, deadlines, deaths and kills."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import psutil
import pytest

from airsweep.forked import DeadlinePassed, ForkedError, ForkedProcess, call_in_fork


def gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs (a killed orphan may stay a zombie until init reaps it)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pid: int, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while not gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def counting(n, ask):
    """Ask with ``(i, pid)`` for each ``i`` until the parent answers no; return how many."""
    for i in range(n):
        if not ask((i, os.getpid())):
            return i + 1
    return n


def hanging_with_a_grandchild(path, ask):
    """Start a grandchild, write both pids down, then hang in C code (a sleep)."""
    grandchild = subprocess.Popen(["sleep", "300"])
    with open(path, "w") as out:
        out.write(f"{os.getpid()} {grandchild.pid}")
    time.sleep(300)


@pytest.fixture
def process():
    proc = ForkedProcess(counting, name="test process")
    yield proc
    proc.kill()


def test_values_come_back_one_at_a_time_and_the_child_serves_job_after_job(process):
    got = []
    assert process.run(3, 10, lambda value: got.append(value) or True) == 3
    assert [i for i, _ in got] == [0, 1, 2]
    child = {pid for _, pid in got}
    assert child == {process.pid} and process.pid != os.getpid()
    got.clear()
    assert process.run(5, 10, lambda value: got.append(value) or False) == 1  # the job stops
    assert [i for i, _ in got] == [0]
    assert {pid for _, pid in got} == child  # the same child, still serving


def test_the_parent_answers_each_ask_with_any_value(process):
    def job(payload, ask):
        return [ask(payload), ask(payload + 1)]

    answering = ForkedProcess(job)
    try:
        assert answering.run(1, 10, lambda value: {"twice": 2 * value}) == [
            {"twice": 2},
            {"twice": 4},
        ]
    finally:
        answering.kill()


def test_a_job_that_raises_is_reported_and_the_child_stays(process):
    def job(payload, ask):
        ask(1)
        raise ValueError(f"bad {payload}")

    failing = ForkedProcess(job)
    try:
        with pytest.raises(ForkedError, match=r"^ValueError: bad 7$"):
            failing.run(7, 10, lambda value: True)
        pid = failing.pid
        with pytest.raises(ForkedError):
            failing.run(8, 10, lambda value: True)
        assert failing.pid == pid
    finally:
        failing.kill()


def test_a_job_past_its_deadline_is_killed_with_its_process_group(tmp_path):
    pids = tmp_path / "pids"
    proc = ForkedProcess(hanging_with_a_grandchild)
    started = time.monotonic()
    with pytest.raises(DeadlinePassed):
        proc.run(str(pids), 1.0, lambda value: True)
    assert time.monotonic() - started < 1.0 + 1.0
    child, grandchild = (int(pid) for pid in pids.read_text().split())
    assert proc.pid is None
    assert gone(child)  # reaped before run returned
    assert wait_gone(grandchild)  # the SIGKILL went to the whole group
    assert call_in_fork(os.getpid, 10) != child  # and the next job gets a new child


def test_a_child_that_dies_is_reported_and_replaced():
    def job(code, ask):
        if code is None:
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(code)

    proc = ForkedProcess(job, name="trial process")
    try:
        with pytest.raises(ForkedError, match=r"^trial process died: killed by SIGKILL$"):
            proc.run(None, 10, lambda value: True)
        assert proc.pid is None
        with pytest.raises(ForkedError, match=r"^trial process died: exit code 3$"):
            proc.run(3, 10, lambda value: True)
    finally:
        proc.kill()


def test_a_failure_in_the_parent_kills_the_child_and_propagates(process):
    def broken(value):
        raise RuntimeError("storage down")

    process.start()
    child = process.pid
    with pytest.raises(RuntimeError, match="storage down"):
        process.run(3, 10, broken)
    assert process.pid is None and gone(child)


def test_a_signal_caught_by_another_thread_still_interrupts_the_wait(tmp_path):
    class TaskTimeout(BaseException):  # as Airflow's AirflowTaskTimeout
        pass

    def alarm(signum, frame):
        raise TaskTimeout()

    proc = ForkedProcess(hanging_with_a_grandchild)
    other = threading.Thread(target=time.sleep, args=(30,), daemon=True)
    other.start()
    threading.Timer(0.5, signal.pthread_kill, (other.ident, signal.SIGALRM)).start()
    previous = signal.signal(signal.SIGALRM, alarm)
    started = time.monotonic()
    try:
        with pytest.raises(TaskTimeout):
            proc.run(str(tmp_path / "pids"), 60, lambda value: True)
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 0.5 + 1.0
    assert proc.pid is None


def test_the_child_dies_with_its_parent(tmp_path):
    """``PR_SET_PDEATHSIG`` (:func:`airsweep.forked.die_with_parent`): no orphaned fit."""
    pids = tmp_path / "pids"
    script = textwrap.dedent(
        f"""
        import os, time
        from airsweep.forked import ForkedProcess

        def job(path, ask):
            with open(path, "w") as out:
                out.write(str(os.getpid()))
            time.sleep(300)

        ForkedProcess(job).run({str(pids)!r}, 300, lambda value: True)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 30
    while not pids.exists() or not pids.read_text():
        assert time.monotonic() < deadline, "the child did not start"
        time.sleep(0.05)
    child = int(pids.read_text())
    parent.kill()  # SIGKILL: no Python cleanup in the parent
    parent.wait()
    assert wait_gone(child)


def test_call_in_fork_returns_what_the_child_computed():
    assert call_in_fork(os.getpid, 10) != os.getpid()
    with pytest.raises(ForkedError, match="^ZeroDivisionError"):
        call_in_fork(lambda: 1 / 0, 10)
    with pytest.raises(DeadlinePassed):
        call_in_fork(lambda: time.sleep(30), 0.5)
