"""Work done in a forked child process, which the parent kills when it passes its deadline.

A runner fits its trials in such a child (:class:`airsweep.trials.TrialExecutor`):
a fit is C code (scikit-learn, XGBoost, OpenMP threads) that no exception
raised in Python can interrupt, but a process can always be killed. The child
is forked, not spawned: it shares the runner's loaded data and imported
libraries copy-on-write and starts in milliseconds, without re-importing
anything. It is forked once and serves one job after another until a job
passes its deadline or it dies; the next job then forks a new one.

The protocol: the parent sends a job's payload; the child runs the job (a
function of the payload and of ``ask``). Each ``ask(value)`` sends a value to
the parent and returns the parent's answer, any value that pickles: go on or
stop for a trial's fold scores, a sampled param for a custom objective's
``suggest_float`` (:mod:`airsweep.custom.trial`). When the job returns, the
child sends its return value; if it raises, the child sends the error as
``"<Type>: <message>"``. Either way it then waits for the next job. The child
touches nothing the parent owns (database connections, sockets): it only
computes and asks through its pipe, so all study storage stays in the
parent.

Killing: the child leads its own process group, and the parent kills the
whole group with SIGKILL at the deadline, so processes the child started die
with it (threads always do). The child is also killed by the kernel when the
thread that forked it dies (Linux ``PR_SET_PDEATHSIG``), so a killed runner
never leaves a fit running.

Neither a CUDA context nor GNU OpenMP's thread pool survives ``fork``: a
child of a parent that opened one hangs or fails in its first GPU fit or
OpenMP parallel region (XGBoost, scikit-learn's HistGradientBoosting). So the
parent must never fit anything itself: a runner fits only in its child, and
:func:`call_in_fork` runs the CUDA probe in a child of its own
(:func:`airsweep.models.device.resolve_device`).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import time
import traceback
from collections.abc import Callable
from contextlib import suppress
from multiprocessing.connection import Connection
from typing import Any, TypeVar

T = TypeVar("T")
#: What a job calls to send a value to the parent; it returns the parent's answer.
Ask = Callable[[Any], Any]
#: A job, run in the child: a function of the payload and of :data:`Ask`; its return
#: value (it must pickle) is what :meth:`ForkedProcess.run` returns.
Job = Callable[[Any, Ask], Any]

#: Longest wait for the child in one call: a signal that another thread of the parent
#: receives (Airflow's SIGALRM at a task's ``execution_timeout``) runs its Python handler
#: only when the main thread runs Python again.
_POLL_S = 0.25
#: ``prctl`` option: the signal this process gets when its parent thread dies (linux/prctl.h).
_PR_SET_PDEATHSIG = 1


class ForkedError(Exception):
    """A job raised in the child, or the child died; the message says which and why."""


class DeadlinePassed(Exception):
    """A job passed its deadline; its child (and the child's process group) was killed."""


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when the thread that forked it dies.

    Wraps Linux's ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (through libc, as Python
    has no binding). ``tests/unit/test_forked.py`` kills a parent and checks
    that its child dies with it.

    Args:
        parent_pid: The parent's pid, read before the fork: if the parent is
            already gone, this process exits at once.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    if os.getppid() != parent_pid:  # the parent died before prctl
        os._exit(1)


def describe_exit(status: int) -> str:
    """How a process ended, from its ``waitpid`` status: ``exit code 1``, ``killed by SIGKILL``."""
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        return f"exit code {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


class ForkedProcess:
    """A forked child that runs jobs one after another; killed when a job passes its deadline.

    Args:
        job: What the child runs for each payload (see :data:`Job`).
        name: What the child is, in errors (``"<name> died: ..."``).
    """

    def __init__(self, job: Job, name: str = "forked process") -> None:
        self._job = job
        self._name = name
        self._pid: int | None = None
        self._conn: Connection | None = None

    @property
    def pid(self) -> int | None:
        """The live child's pid, ``None`` before the first job or after a kill."""
        return self._pid

    def start(self) -> None:
        """Fork the child unless a live one is waiting for jobs (reaping a dead one)."""
        if self._pid is not None and self._reap(os.WNOHANG) is None:
            return
        parent_pid = os.getpid()
        parent_end, child_end = multiprocessing.Pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the caller's code
            code = 1
            try:
                parent_end.close()
                self._serve(child_end, parent_pid)
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        with suppress(OSError):  # also done in the child: whichever runs first
            os.setpgid(pid, pid)
        child_end.close()
        self._pid, self._conn = pid, parent_end

    def _serve(self, conn: Connection, parent_pid: int) -> None:
        """The child's loop: run each job sent, until the pipe closes."""
        os.setpgid(0, 0)
        die_with_parent(parent_pid)
        for signum in (signal.SIGTERM, signal.SIGINT):  # the parent's handlers are not ours
            signal.signal(signum, signal.SIG_DFL)
        while True:
            try:
                payload = conn.recv()
            except EOFError:
                return

            def ask(value: Any) -> Any:
                conn.send(("value", value))
                return conn.recv()

            try:
                result = self._job(payload, ask)
            except Exception as exc:
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
            else:
                conn.send(("end", result))

    def run(self, payload: Any, timeout_s: float, on_value: Callable[[Any], Any]) -> Any:
        """Run one job in the child; answer each value it asks with ``on_value``.

        Args:
            payload: The job's argument (pickled to the child).
            timeout_s: Seconds the job may take, from now.
            on_value: Called in this process with each value the job asks
                with; its return value is the answer the job's ``ask`` returns.

        Returns:
            What the job returned.

        Raises:
            DeadlinePassed: ``timeout_s`` passed; the child was killed.
            ForkedError: The job raised in the child (the child stays), or the
                child died (a new one is forked for the next job).
        """
        deadline = time.monotonic() + timeout_s
        self.start()
        assert self._conn is not None
        try:
            self._conn.send(payload)
            while True:
                kind, body = self._receive(deadline)
                if kind == "end":
                    return body
                if kind == "error":
                    break
                self._conn.send(on_value(body))
        except ForkedError:
            raise
        except BaseException:  # deadline, on_value failed, interrupted: the child goes
            self.kill()
            raise
        raise ForkedError(body)

    def _receive(self, deadline: float) -> tuple[str, Any]:
        """The child's next message; kill it at ``deadline``.

        Raises:
            DeadlinePassed: Nothing came before ``deadline``.
            ForkedError: The child died (it is reaped).
        """
        assert self._conn is not None and self._pid is not None
        while not self._conn.poll(min(max(deadline - time.monotonic(), 0), _POLL_S)):
            if time.monotonic() >= deadline:
                raise DeadlinePassed(f"{self._name} passed its deadline")
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            raise ForkedError(f"{self._name} died: {self._reap(0)}") from None

    def kill(self) -> None:
        """SIGKILL the child and its process group, and reap it (nothing if none is live)."""
        if self._pid is None:
            return
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self._pid, signal.SIGKILL)
        with suppress(ProcessLookupError):
            os.kill(self._pid, signal.SIGKILL)
        self._reap(0)

    def _reap(self, options: int) -> str | None:
        """Reap the child if it ended (``waitpid`` with ``options``); say how, or ``None``.

        After a reap the child is forgotten: the next job forks a new one.
        """
        assert self._pid is not None and self._conn is not None
        try:
            pid, status = os.waitpid(self._pid, options)
        except ChildProcessError:  # reaped by someone else
            how = "exit status unknown"
        else:
            if pid == 0:
                return None
            how = describe_exit(status)
        self._conn.close()
        self._pid = self._conn = None
        return how


def call_in_fork(fn: Callable[[], T], timeout_s: float, name: str = "forked process") -> T:
    """Return ``fn()`` computed in a forked child, which is killed after ``timeout_s``.

    Args:
        fn: What to call; its result must pickle.
        timeout_s: Seconds it may take.
        name: What the child is, in errors.

    Raises:
        DeadlinePassed: ``fn`` did not return in time.
        ForkedError: ``fn`` raised, or the child died.
    """
    process = ForkedProcess(lambda _, ask: fn(), name=name)
    try:
        return process.run(None, timeout_s, lambda value: None)
    finally:
        process.kill()
