"""Run the cluster's processes under supervisord and talk to it over its socket."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from supervisor.xmlrpc import SupervisorTransport

from airsweep.cluster.config import ClusterConfig


@dataclass(frozen=True)
class Program:
    """One supervised process.

    Attributes:
        name: Program name (also its log file name).
        argv: Command line.
        phase: Start-up phase: ``infra`` first, then ``airflow``, then ``monitoring``
            (stopped in reverse). Each program is its own supervisor group, so
            adding or removing one (scaling workers) leaves the others running.
        environment: Extra, non-secret environment variables.
        user: System user to run as (``None``: supervisord's user).
        stop_signal: Signal for a clean stop.
        stop_wait_s: Seconds to wait after the stop signal before killing.
    """

    name: str
    argv: tuple[str, ...]
    phase: str
    environment: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    stop_signal: str = "TERM"
    stop_wait_s: int = 30


def socket_path(cfg: ClusterConfig) -> Path:
    """The supervisord control socket (mode 0700: only the owner may control the cluster)."""
    return cfg.path("run", "supervisor.sock")


def config_path(cfg: ClusterConfig) -> Path:
    """Where the rendered supervisord.conf lives."""
    return cfg.path("run", "supervisord.conf")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%") + '"'


def render_config(cfg: ClusterConfig, programs: Iterable[Program]) -> str:
    """Render supervisord.conf for ``programs``; none is started automatically."""
    programs = list(programs)
    lines = [
        "[unix_http_server]",
        f"file={socket_path(cfg)}",
        "chmod=0700",
        "",
        "[supervisord]",
        f"logfile={cfg.log_dir / 'supervisord.log'}",
        f"pidfile={cfg.path('run', 'supervisord.pid')}",
        f"childlogdir={cfg.log_dir}",
        "identifier=airsweep",
        "logfile_maxbytes=10MB",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{socket_path(cfg)}",
        "",
    ]
    for program in programs:
        command = " ".join(arg.replace("%", "%%") for arg in program.argv)
        env = ",".join(f"{key}={_quote(value)}" for key, value in program.environment.items())
        lines += [
            f"[program:{program.name}]",
            f"command={command}",
            "autostart=false",
            "autorestart=true",
            "startsecs=5",
            "startretries=5",
            f"stopsignal={program.stop_signal}",
            f"stopwaitsecs={program.stop_wait_s}",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={cfg.log_dir / (program.name + '.log')}",
            "stdout_logfile_maxbytes=20MB",
            "stdout_logfile_backups=2",
            f"directory={cfg.home}",
        ]
        if env:
            lines.append(f"environment={env}")
        if program.user:
            lines.append(f"user={program.user}")
        lines.append("")
    return "\n".join(lines)


class Supervisor:
    """Client of the cluster's supervisord."""

    def __init__(self, cfg: ClusterConfig) -> None:
        self.cfg = cfg
        transport = SupervisorTransport(None, None, f"unix://{socket_path(cfg)}")
        self._proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    @property
    def rpc(self) -> xmlrpc.client.ServerProxy:
        """The ``supervisor`` XML-RPC namespace."""
        return self._proxy.supervisor

    def running(self) -> bool:
        """Whether supervisord answers on its socket."""
        if not socket_path(self.cfg).exists():
            return False
        try:
            return self.rpc.getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Fault):
            return False

    def start_daemon(self, timeout_s: float = 20.0) -> None:
        """Start supervisord (daemonized) and wait until it answers."""
        result = subprocess.run(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(config_path(self.cfg))],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"supervisord failed to start: {result.stderr.strip()}")
        deadline = time.monotonic() + timeout_s
        while not self.running():
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"supervisord did not answer; see {self.cfg.log_dir / 'supervisord.log'}"
                )
            time.sleep(0.2)

    def reload(self) -> bool:
        """Apply a changed supervisord.conf; return whether any program changed.

        Changed or removed programs are stopped; changed and new ones are added
        (the caller starts them); unchanged programs keep running.
        """
        added, changed, removed = self.rpc.reloadConfig()[0]
        for name in removed + changed:
            with contextlib.suppress(xmlrpc.client.Fault):
                self.rpc.stopProcessGroup(name)
            self.rpc.removeProcessGroup(name)
        for name in changed + added:
            self.rpc.addProcessGroup(name)
        return bool(added or changed or removed)

    def start(self, program: Program) -> None:
        """Start ``program`` unless it is already running (no wait)."""
        try:
            self.rpc.startProcess(program.name, False)
        except xmlrpc.client.Fault as fault:
            if "ALREADY_STARTED" not in fault.faultString:
                raise

    def states(self) -> dict[str, dict]:
        """Process info of every program, by name."""
        return {info["name"]: info for info in self.rpc.getAllProcessInfo()}

    def stop(self, names: list[str], timeout_s: float = 600) -> None:
        """Stop the programs ``names`` together and wait until none is running."""
        for name in names:
            try:
                self.rpc.stopProcess(name, False)
            except xmlrpc.client.Fault as fault:
                if "NOT_RUNNING" not in fault.faultString and "BAD_NAME" not in fault.faultString:
                    raise
        deadline = time.monotonic() + timeout_s
        live = ("RUNNING", "STARTING", "STOPPING", "BACKOFF")
        while time.monotonic() < deadline:
            states = self.states()
            if not any(states.get(name, {}).get("statename") in live for name in names):
                return
            time.sleep(0.5)

    def shutdown(self, timeout_s: float = 60.0) -> None:
        """Stop supervisord itself and wait until its pid is gone."""
        pidfile = self.cfg.path("run", "supervisord.pid")
        pid = int(pidfile.read_text()) if pidfile.exists() else None
        try:
            self.rpc.shutdown()
        except (OSError, xmlrpc.client.Fault):
            return
        deadline = time.monotonic() + timeout_s
        while pid is not None and _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
