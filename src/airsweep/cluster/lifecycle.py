"""``up``, ``down``, ``status`` and ``clean`` of the native cluster."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from airsweep.client import AirflowClient
from airsweep.cluster import postgres, redis_server
from airsweep.cluster.bootstrap import pool_sizes
from airsweep.cluster.components import component, core_component_names
from airsweep.cluster.config import SCALE_FILE, ClusterConfig
from airsweep.cluster.environment import (
    native_environment,
)
from airsweep.cluster.health import (
    api_health_problems,
    celery_queues,
    live_workers_line,
    missing_queues,
)
from airsweep.cluster.secrets import load_or_create_secrets
from airsweep.cluster.supervisor import Program, Supervisor, config_path, render_config
from airsweep.console import Printer
from airsweep.envfile import read_env_file, write_env_file
from airsweep.monitoring.prometheus_config import render_native_config
from airsweep.queues import WORKER_QUEUES

#: Order in which phases start (and stop in reverse).
PHASES = ("infra", "airflow", "monitoring")


class ClusterError(RuntimeError):
    """The cluster could not be brought up; the message names the component and its log."""


def env_file(cfg: ClusterConfig) -> Path:
    """The rendered environment of every component (mode 0600)."""
    return cfg.path("cluster.env")


def secrets_file(cfg: ClusterConfig) -> Path:
    """The generated secrets of this cluster (mode 0600)."""
    return cfg.path("secrets.env")


def _component_argv(cfg: ClusterConfig, name: str) -> tuple[str, ...]:
    """The supervised command of component ``name``: ``airsweep component NAME``."""
    return (sys.executable, "-m", "airsweep", "component", name, "--env-file", str(env_file(cfg)))


def _component_program(cfg: ClusterConfig, name: str, env: dict[str, str]) -> Program:
    comp = component(name, env)
    argv = _component_argv(cfg, name)
    extra: dict[str, str] = {}
    stop_wait = 30
    if comp.worker_kind:
        extra = {
            "AIRSWEEP_WORKER_NAME": name,
            "AIRSWEEP_WORKER_QUEUES": ",".join(WORKER_QUEUES[comp.worker_kind]),
        }
        # Celery warm shutdown: running runners and control tasks get time to finish.
        stop_wait = 300
    return Program(name, argv, "airflow", environment=extra, stop_wait_s=stop_wait)


def programs(cfg: ClusterConfig, env: dict[str, str]) -> list[Program]:
    """Every supervised program of the cluster, in start order."""
    result: list[Program] = []
    if cfg.embedded_postgres:
        result.append(
            Program(
                "postgres",
                tuple(postgres.server_argv(cfg)),
                "infra",
                user=postgres.run_as_user(),
                stop_signal="INT",
                stop_wait_s=60,
            )
        )
    if cfg.embedded_redis:
        conf = redis_server.config_file(cfg)
        result.append(Program("redis", (str(redis_server.server_binary()), str(conf)), "infra"))
    names = core_component_names(cfg.cpu_workers)
    result += [_component_program(cfg, name, env) for name in names]
    return result + monitoring_programs(cfg)


def monitoring_programs(cfg: ClusterConfig) -> list[Program]:
    """The StatsD bridge, queue exporter, trials dashboard and (if installed) Prometheus.

    The official statsd_exporter and Grafana do not install without Docker, so
    the native mode runs airsweep's bridge on the same mapping file, and
    Debian's ``prometheus`` binary on the compose config with local targets.
    """
    ports = cfg.ports
    bridge = (
        sys.executable,
        "-m",
        "airsweep.monitoring.statsd_bridge",
        "--mapping",
        str(cfg.root / "monitoring" / "statsd" / "mapping.yml"),
        "--statsd-listen",
        f"127.0.0.1:{ports['statsd']}",
        "--web-listen",
        f"127.0.0.1:{ports['statsd_exporter']}",
    )
    result = [
        Program("statsd-exporter", bridge, "monitoring"),
        Program("queue-exporter", _component_argv(cfg, "queue-exporter"), "monitoring"),
        Program("dashboard", _component_argv(cfg, "dashboard"), "monitoring"),
    ]
    binary = shutil.which("prometheus")
    if binary:
        argv = (
            binary,
            f"--config.file={cfg.path('prometheus', 'prometheus.yml')}",
            f"--storage.tsdb.path={cfg.path('prometheus', 'data')}",
            f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
            "--storage.tsdb.retention.time=7d",
        )
        result.append(Program("prometheus", argv, "monitoring"))
    return result


def _render_prometheus(cfg: ClusterConfig, secrets: dict[str, str]) -> None:
    """Write the native Prometheus config and Flower's password file (mode 0600)."""
    password_file = cfg.path("prometheus", "flower_password")
    password_file.parent.mkdir(exist_ok=True)
    password_file.touch(mode=0o600, exist_ok=True)
    password_file.write_text(secrets["AIRSWEEP_FLOWER_PASSWORD"])
    ports = cfg.ports
    targets = {
        "prometheus": f"127.0.0.1:{ports['prometheus']}",
        "statsd-exporter": f"127.0.0.1:{ports['statsd_exporter']}",
        "flower": f"127.0.0.1:{ports['flower']}",
        "queue-exporter": f"127.0.0.1:{ports['queue_exporter']}",
    }
    render_native_config(
        cfg.root / "monitoring" / "prometheus" / "prometheus.yml",
        targets,
        cfg.path("prometheus", "prometheus.yml"),
        password_file,
    )


def _prepare_state(cfg: ClusterConfig) -> dict[str, str]:
    """Create the state dir, secrets and rendered config; return the environment."""
    cfg.home.mkdir(parents=True, exist_ok=True)
    cfg.home.chmod(0o711)  # others may traverse (the Postgres user) but not list
    for sub in ("logs", "run", "airflow", "artifacts"):
        cfg.path(sub).mkdir(exist_ok=True)
    secrets = load_or_create_secrets(secrets_file(cfg))
    env = native_environment(cfg, secrets)
    write_env_file(env_file(cfg), env, header="Rendered by `airsweep up`; do not edit.")
    if cfg.embedded_postgres:
        postgres.ensure_initialized(cfg, secrets["AIRSWEEP_POSTGRES_PASSWORD"])
    if cfg.embedded_redis:
        redis_server.write_config(cfg, secrets["AIRSWEEP_REDIS_PASSWORD"])
    _render_prometheus(cfg, secrets)
    config_path(cfg).write_text(render_config(cfg, programs(cfg, env)))
    return env


def _fail(cfg: ClusterConfig, name: str, reason: str) -> ClusterError:
    log = cfg.log_dir / f"{name}.log"
    tail = ""
    if log.exists():
        lines = log.read_text(errors="replace").splitlines()[-15:]
        tail = "\n    " + "\n    ".join(lines)
    return ClusterError(f"{name} failed: {reason}; log: {log}{tail}")


def _check_processes(cfg: ClusterConfig, sup: Supervisor, names: list[str]) -> None:
    states = sup.states()
    for name in names:
        info = states.get(name)
        if info and info["statename"] in ("FATAL", "BACKOFF", "EXITED"):
            raise _fail(cfg, name, f"process is {info['statename']} ({info['description']})")


def _bootstrap(cfg: ClusterConfig, env: dict[str, str], out: Printer) -> None:
    """Run ``airsweep bootstrap`` (the same step as compose's airflow-init) with the cluster env.

    Creates the databases, migrates the schema, writes the admin password
    file and sizes the pools; its output goes to ``logs/bootstrap.log``.
    """
    started = time.monotonic()
    out("bootstrapping: databases, schema migration, pools ...")
    log = cfg.log_dir / "bootstrap.log"
    with log.open("w") as handle:
        result = subprocess.run(
            [sys.executable, "-m", "airsweep", "bootstrap"],
            env={**os.environ, **env, "AIRSWEEP_ROOT": str(cfg.root)},
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    if result.returncode != 0:
        raise _fail(cfg, "bootstrap", f"exit code {result.returncode}")
    out(f"  ready ({time.monotonic() - started:.0f}s)")


def _wait_healthy(
    cfg: ClusterConfig, sup: Supervisor, env: dict[str, str], timeout_s: float, out: Printer
) -> None:
    names = [p.name for p in programs(cfg, env)]
    out("waiting for every component to report healthy ...")
    deadline = time.monotonic() + timeout_s
    problems: list[str] = []
    missing: list[str] = []
    while time.monotonic() < deadline:
        _check_processes(cfg, sup, names)
        states = sup.states()
        problems = [
            f"{n}: {states[n]['statename']}" for n in names if states[n]["statename"] != "RUNNING"
        ]
        problems = problems or api_health_problems(cfg.api_url)
        missing = []
        if not problems:
            wanted = tuple(q for queues in WORKER_QUEUES.values() for q in queues)
            missing = missing_queues(celery_queues(env["AIRFLOW__CELERY__BROKER_URL"]), wanted)
            problems = [f"no Celery worker consumes queue {q!r}" for q in missing]
            if not problems:
                return
        time.sleep(2)
    component_of = {"metadatabase": "postgres", "dag_processor": "dag-processor"}
    first = problems[0].split(":")[0] if problems else "cluster"
    name = component_of.get(first, first)
    if missing:  # name the worker that should consume the first missing queue
        name = next(f"worker-{k}" for k, queues in WORKER_QUEUES.items() if missing[0] in queues)
    raise _fail(cfg, name, f"not healthy after {timeout_s:.0f}s: {'; '.join(problems)}")


def admin_client(cfg: ClusterConfig) -> AirflowClient:
    """An API client logged in as ``admin`` with the generated password."""
    secrets = load_or_create_secrets(secrets_file(cfg))
    return AirflowClient(cfg.api_url, "admin", secrets["AIRSWEEP_ADMIN_PASSWORD"])


def up(
    cfg: ClusterConfig, out: Printer = print, timeout_s: float = 300, bootstrap: bool = True
) -> None:
    """Start the cluster and return once it is healthy.

    Idempotent: components already running are left alone.

    Args:
        cfg: The cluster.
        out: Receives progress lines.
        timeout_s: How long to wait for health.
        bootstrap: Run ``airsweep bootstrap`` (databases, schema, admin
            password, initial pools) before the Airflow components. ``scale``
            skips it on a running cluster: nothing it does changes, and its
            schema check costs a busy machine about 12 s of CPU.

    Raises:
        ClusterError: A component failed or did not become healthy; names its log.
    """
    started = time.monotonic()
    env = _prepare_state(cfg)
    sup = Supervisor(cfg)
    all_programs = programs(cfg, env)
    if sup.running():
        changed = sup.reload()
        states = sup.states()
        running = all(states.get(p.name, {}).get("statename") == "RUNNING" for p in all_programs)
        if not changed and running and not api_health_problems(cfg.api_url):
            out("cluster is already up")
            out(summary(cfg, env))
            return
    else:
        sup.start_daemon()
    for program in all_programs:
        if program.phase == "infra":
            sup.start(program)
    if cfg.embedded_postgres or cfg.embedded_redis:
        out("starting Postgres and Redis ...")
    _check_processes(cfg, sup, [p.name for p in all_programs if p.phase == "infra"])
    if bootstrap:
        _bootstrap(cfg, env, out)
    out("starting Airflow and Celery components ...")
    for program in all_programs:
        if program.phase != "infra":
            sup.start(program)
    _wait_healthy(cfg, sup, env, timeout_s, out)
    out(f"cluster healthy in {time.monotonic() - started:.0f}s")
    out(summary(cfg, env))


def summary(cfg: ClusterConfig, env: dict[str, str]) -> str:
    """The URLs, credentials location, initial pool sizes and log directory a user needs."""
    pools = pool_sizes(cfg.root, env)
    pool_text = ", ".join(f"{name}={slots}" for name, (slots, _) in pools.items())
    return "\n".join(
        [
            f"  Airflow UI/API : {cfg.api_url}  (user admin)",
            f"  Flower         : http://127.0.0.1:{cfg.ports['flower']}  (user admin)",
            f"  Prometheus     : http://127.0.0.1:{cfg.ports['prometheus']}"
            + (
                ""
                if shutil.which("prometheus")
                else "  (not installed: apt-get install prometheus)"
            ),
            f"  metrics        : http://127.0.0.1:{cfg.ports['statsd_exporter']}/metrics"
            f" (StatsD in on udp {cfg.ports['statsd']})",
            f"  trials         : {dashboard_url(cfg)}  (optuna-dashboard, user admin, read-only)",
            f"  passwords      : {secrets_file(cfg)}  (AIRSWEEP_ADMIN_PASSWORD, ...)",
            f"  pools          : {pool_text} (pool-sync follows the live worker slots)",
            f"  logs           : {cfg.log_dir}",
            "  stop with `make down`",
        ]
    )


def dashboard_url(cfg: ClusterConfig) -> str:
    """URL of the live trials dashboard (optuna-dashboard, the ``dashboard`` component)."""
    return f"http://127.0.0.1:{cfg.ports['dashboard']}"


def scale(
    cfg: ClusterConfig, cpu_workers: int, out: Printer = print, timeout_s: float = 300
) -> None:
    """Run ``cpu_workers`` Celery workers on the ``cpu`` queue.

    The count is kept in ``<home>/scale.env`` for later ``up`` runs. Only the
    added or removed workers start or stop (removed ones warm-shutdown,
    finishing their running trials); everything else keeps running, and a
    running cluster is not bootstrapped again. The ``cpu_trials`` pool follows
    the live slots through the ``pool-sync`` component, within a few seconds
    of the workers answering.
    """
    if cpu_workers < 1:
        raise ClusterError(f"cpu workers: expected at least 1, got {cpu_workers}")
    cfg.home.mkdir(parents=True, exist_ok=True)
    write_env_file(cfg.path(SCALE_FILE), {"AIRSWEEP_CPU_WORKERS": str(cpu_workers)})
    out(f"scaling to {cpu_workers} cpu worker(s) ...")
    running = Supervisor(cfg).running()
    up(dataclasses.replace(cfg, cpu_workers=cpu_workers), out, timeout_s, bootstrap=not running)


def down(cfg: ClusterConfig, out: Printer = print) -> None:
    """Stop every component and supervisord; keep all data.

    Workers shut down warm: their runners finish the trial they run, hand the
    rest of the budget back and are rescheduled (:mod:`airsweep.shutdown`), so
    a sweep interrupted by ``down`` goes on after ``up``. The api-server stops
    after the other Airflow components, since those runners report through it.
    """
    sup = Supervisor(cfg)
    if not sup.running():
        out("cluster is not running")
        return
    known = programs(cfg, read_env_file(env_file(cfg)))
    running = set(sup.states())
    for phase in reversed(PHASES):
        names = [p.name for p in known if p.phase == phase and p.name in running]
        # The api-server goes last: stopping workers' runners report through it.
        for group in (
            [n for n in names if n != "api-server"],
            [n for n in names if n == "api-server"],
        ):
            if group:
                out(f"stopping {phase}: {', '.join(group)} ...")
                sup.stop(group)
    sup.shutdown()
    out("cluster stopped; data kept in " + str(cfg.home))


def status(cfg: ClusterConfig) -> tuple[bool, str]:
    """Return (all running, a table of every component's state, pid, uptime and log).

    The table ends with the api-server's health and the live Celery workers
    (slots, announced CUDA), which do not count towards "all running".
    """
    sup = Supervisor(cfg)
    if not sup.running():
        return False, f"cluster is not running (state dir {cfg.home})"
    rows = [f"{'component':<16}{'state':<10}{'pid':>8}  {'uptime':>9}  log"]
    healthy = True
    for name, info in sup.states().items():
        uptime = info["now"] - info["start"] if info["statename"] == "RUNNING" else 0
        healthy &= info["statename"] == "RUNNING"
        log = cfg.log_dir / f"{name}.log"
        rows.append(f"{name:<16}{info['statename']:<10}{info['pid']:>8}  {uptime:>8}s  {log}")
    problems = api_health_problems(cfg.api_url)
    rows.append("api health: " + ("ok" if not problems else "; ".join(problems)))
    rows.append(f"trials dashboard: {dashboard_url(cfg)} (user admin, read-only)")
    broker_url = read_env_file(env_file(cfg)).get("AIRFLOW__CELERY__BROKER_URL")
    if broker_url:
        rows.append(live_workers_line(broker_url))
    return healthy and not problems, "\n".join(rows)


def clean(cfg: ClusterConfig, out: Printer = print) -> None:
    """Stop the cluster if running and delete its state directory."""
    down(cfg, out)
    if cfg.home.exists():
        shutil.rmtree(cfg.home)
        out(f"removed {cfg.home}")
