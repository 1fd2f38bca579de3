"""Watching a sweep: poll its status until it ends, shown as a live bar, plain lines or JSON.

On a terminal the view is a few lines redrawn in place (a progress bar with
ETA, trials by state, best so far and its params, runners by queue and
worker); piped, it prints a plain line whenever the sweep moves (what
``airsweep sweep`` always printed), so logs and ``grep`` stay readable; with
``--json``, one JSON document per change. Ctrl-C stops watching, never the sweep.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any, Protocol, TextIO

import httpx

from airsweep.cli.output import CLIError, ExitCode, duration, print_json
from airsweep.client import AirflowAPIError, AirflowClient
from airsweep.follow import format_failures, format_summary, progress_line
from airsweep.study import Storage
from airsweep.sweep_status import FINISHED_STATES, sweep_status

#: Cells of the progress bar.
BAR_WIDTH = 30


class View(Protocol):
    """Shows a watched sweep."""

    def update(self, status: dict[str, Any]) -> None:
        """Show the sweep's latest status (:func:`airsweep.sweep_status.sweep_status`)."""

    def close(self) -> None:
        """End the live part of the view (before the final report or an interruption)."""


def bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """A text progress bar: ``[#########.........]``."""
    filled = min(width, round(width * done / total)) if total else width
    return "[" + "#" * filled + "." * (width - filled) + "]"


def params_text(params: dict[str, Any] | None) -> str:
    """A trial's params in one short line: ``max_depth=3, learning_rate=0.0812``."""
    if not params:
        return ""
    return ", ".join(
        f"{name.rpartition('.')[2]}={value:.4g}"
        if isinstance(value, float)
        else f"{name.rpartition('.')[2]}={value}"
        for name, value in sorted(params.items())
    )


def live_lines(status: dict[str, Any]) -> list[str]:
    """The lines of the terminal view of one status."""
    head = f"{status['run_id']}  {status['state']}  elapsed {duration(status['duration_s'])}"
    prog = status["progress"]
    if prog is None:
        return [head, "preparing (validate, data, study)"]
    states = ", ".join(f"{k} {v}" for k, v in prog["by_state"].items()) or "none yet"
    runners = ", ".join(f"{k} {v}" for k, v in prog["running_by_worker"].items()) or "-"
    best = "-"
    if prog["best_value"] is not None:
        best = (
            f"{prog['best_value']:.4f} ({prog['best_model']}, trial {prog['best_trial']})  "
            + params_text(status["best_params"])
        )
    eta = duration(status["eta_s"]) if status["eta_s"] is not None else "-"
    return [
        head,
        f"{bar(prog['done'], prog['total'])} {prog['done']}/{prog['total']} "
        f"({prog['percent']:.0f}%)  eta {eta}",
        f"trials  : {states}; left {prog['budget_left']}",
        f"best    : {best}",
        f"runners : {runners}",
    ]


class TerminalView:
    """Redraws :func:`live_lines` in place (ANSI cursor moves), cut to the terminal's width."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._drawn = 0

    def update(self, status: dict[str, Any]) -> None:
        """Redraw the lines."""
        width = shutil.get_terminal_size().columns - 1
        lines = [line[:width] for line in live_lines(status)]
        up = f"\x1b[{self._drawn}F" if self._drawn else ""
        self._out.write(up + "\x1b[J" + "\n".join(lines) + "\n")
        self._out.flush()
        self._drawn = len(lines)

    def close(self) -> None:
        """Leave the last drawing on the screen."""
        self._drawn = 0


class PlainView:
    """Prints a :func:`airsweep.follow.progress_line` when the sweep moves, and each new best."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._last = ""
        self._best: int | None = None

    def update(self, status: dict[str, Any]) -> None:
        """Print what changed since the last status."""
        prog = status["progress"]
        eta = duration(status["eta_s"]) if status["eta_s"] is not None else None
        line = progress_line(status["duration_s"] or 0.0, status["state"], prog, eta)
        moved = line.split("] ", 1)[1].rsplit("  eta ", 1)[0]
        if moved != self._last:
            print(line, file=self._out, flush=True)
            self._last = moved
        if prog is not None and prog["best_trial"] is not None and prog["best_trial"] != self._best:
            self._best = prog["best_trial"]
            print(
                f"         best trial {prog['best_trial']} ({prog['best_model']}): "
                + params_text(status["best_params"]),
                file=self._out,
                flush=True,
            )

    def close(self) -> None:
        """Nothing to end: every line is final."""


class JsonView:
    """Prints one JSON document per change: ``{"event": "progress", ...status}``."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._last: Any = None

    def update(self, status: dict[str, Any]) -> None:
        """Print the status when the sweep moved."""
        moved = (status["state"], status["progress"])
        if moved != self._last:
            print_json({"event": "progress", **status}, lambda s: print(s, file=self._out))
            self._last = moved

    def close(self) -> None:
        """Nothing to end."""


def make_view(json_output: bool, out: TextIO | None = None) -> View:
    """The view for this output: JSON, a live terminal, or plain lines when piped."""
    out = out or sys.stdout
    if json_output:
        return JsonView(out)
    return TerminalView(out) if out.isatty() else PlainView(out)


def watch_sweep(
    client: AirflowClient,
    storage: Storage,
    run_id: str,
    view: View,
    poll_s: float = 2.0,
    timeout_s: float = 3600,
) -> dict[str, Any]:
    """Show the sweep's status until it ends; return its last status.

    A busy or restarting api-server (connection errors, HTTP 5xx) is asked
    again at the next poll.

    Raises:
        CLIError: The sweep is still running after ``timeout_s`` (exit code 5),
            or Ctrl-C (exit code 130; the sweep goes on).
    """
    started = time.monotonic()
    try:
        while True:
            try:
                status = sweep_status(client, storage, run_id)
            except httpx.TransportError:
                status = None
            except AirflowAPIError as exc:
                if exc.status < 500:
                    raise
                status = None
            if status is not None:
                view.update(status)
                if status["state"] in FINISHED_STATES:
                    return status
            if time.monotonic() - started > timeout_s:
                state = status["state"] if status else "unknown"
                raise CLIError(
                    f"sweep {run_id} still {state} after {timeout_s:.0f}s; it goes on "
                    f"(airsweep sweep watch {run_id})",
                    ExitCode.TIMEOUT,
                )
            time.sleep(poll_s)
    except KeyboardInterrupt:
        raise CLIError(
            f"stopped watching; the sweep goes on (airsweep sweep watch {run_id}, "
            f"or airsweep sweep cancel {run_id})",
            ExitCode.INTERRUPTED,
        ) from None
    finally:
        view.close()


def report_end(status: dict[str, Any], json_output: bool) -> int:
    """Print how the sweep ended and return the exit code of its state (0 success, 1 failed)."""
    if json_output:
        print_json({"event": "finished", **status})
    elif status["state"] == "success" and status["summary"]:
        print(format_summary(status["summary"]))
    elif status["cancelled"]:
        print(f"sweep {status['run_id']} was cancelled: {status['note']}", file=sys.stderr)
    else:
        failures = format_failures(status["failed_tasks"])
        print(f"sweep {status['run_id']} failed:\n{failures}", file=sys.stderr)
    return ExitCode.OK if status["state"] == "success" else ExitCode.FAILED
