"""What every ``airsweep`` command shares: exit codes, one-line errors, JSON, durations.

A command either returns its exit code or raises :class:`CLIError`;
:func:`error_exit` turns any error a command may meet (the API refusing a
request, a server that does not answer) into one line on stderr and a
documented exit code, never a traceback. docs/cli.md lists the codes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from enum import IntEnum
from typing import Any, TextIO


class ExitCode(IntEnum):
    """The exit codes of the ``airsweep`` command (docs/cli.md)."""

    OK = 0
    #: The sweep failed, the cluster is unhealthy, or the operation did not succeed.
    FAILED = 1
    #: Bad arguments, or the API refused the sweep's params.
    USAGE = 2
    #: The api-server, the study database or the broker cannot be reached or logged in to.
    UNREACHABLE = 3
    #: No such sweep (run id) or model.
    NOT_FOUND = 4
    #: The sweep was still running when ``--timeout`` ended the wait.
    TIMEOUT = 5
    #: Ctrl-C (128 + SIGINT): stopped watching; the sweep goes on.
    INTERRUPTED = 130


class CLIError(Exception):
    """An error a command reports as one line and an exit code.

    Args:
        message: What went wrong, and where possible what to do about it.
        code: The exit code.
    """

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.code = code


def classify(exc: BaseException) -> tuple[ExitCode, str] | None:
    """The exit code and one-line message of an error a command may meet.

    Args:
        exc: The error.

    Returns:
        ``(code, message)``, or ``None`` for an error that is a bug (it keeps its traceback).
    """
    import httpx

    from airsweep.client import AirflowAPIError
    from airsweep.cluster.config import ClusterConfigError

    if isinstance(exc, CLIError):
        return exc.code, str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED, "interrupted"
    if isinstance(exc, ClusterConfigError):
        return ExitCode.USAGE, str(exc)
    if isinstance(exc, AirflowAPIError):
        detail = first_line(exc.message)
        if exc.status in (401, 403):
            return ExitCode.UNREACHABLE, f"the api-server refused the login (HTTP {exc.status})"
        if exc.status == 404:
            return ExitCode.NOT_FOUND, f"not found: {detail}"
        return ExitCode.FAILED, f"the api-server answered HTTP {exc.status}: {detail}"
    if isinstance(exc, httpx.TransportError):
        return ExitCode.UNREACHABLE, (
            f"cannot reach the api-server ({type(exc).__name__}: {first_line(str(exc))}); "
            "is the cluster up?"
        )
    if _is_unreachable_database(exc):
        return ExitCode.UNREACHABLE, (
            f"cannot reach the study database ({type(exc).__name__}: {first_line(str(exc))})"
        )
    if _is_unreachable_broker(exc):
        return ExitCode.UNREACHABLE, (
            f"cannot reach the broker ({type(exc).__name__}: {first_line(str(exc))})"
        )
    return None


def _is_unreachable_database(exc: BaseException) -> bool:
    import sqlalchemy.exc

    return isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError)


def _is_unreachable_broker(exc: BaseException) -> bool:
    import redis

    return isinstance(exc, redis.ConnectionError | redis.AuthenticationError | redis.TimeoutError)


def error_exit(exc: BaseException, stderr: TextIO | None = None) -> int:
    """Print ``airsweep: <message>`` for a known error and return its exit code.

    Raises:
        BaseException: ``exc`` again when it is not a known kind of error (a bug).
    """
    known = classify(exc)
    if known is None:
        raise exc
    code, message = known
    print(f"airsweep: {message}", file=stderr or sys.stderr)
    return int(code)


def first_line(text: str) -> str:
    """The first non-empty line of ``text`` (an API error's detail can span many)."""
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")


def print_json(document: Any, out: Callable[[str], None] = print) -> None:
    """Print one JSON document (sorted keys; non-JSON values such as datetimes as strings)."""
    out(json.dumps(document, sort_keys=True, default=str))


def duration(seconds: float | None) -> str:
    """A duration for people: ``42s``, ``3m05s``, ``2h07m``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    total = max(0, round(seconds))
    if total < 60:
        return f"{total}s"
    if total < 3600:
        return f"{total // 60}m{total % 60:02d}s"
    return f"{total // 3600}h{total % 3600 // 60:02d}m"
