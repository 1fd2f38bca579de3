from __future__ import annotations

import stat
from pathlib import Path

import pytest

from airsweep.cluster.components import (
    UnknownComponentError,
    component,
    core_component_names,
    trial_slots,
    worker_concurrency,
)
from airsweep.cluster.config import DEFAULT_PORT_BASE, ClusterConfig, ClusterConfigError
from airsweep.cluster.environment import native_environment
from airsweep.cluster.lifecycle import env_file, programs
from airsweep.cluster.pool_sync import api_url
from airsweep.cluster.secrets import SECRET_NAMES, generate_secrets, load_or_create_secrets
from airsweep.cluster.supervisor import Program, render_config
from airsweep.envfile import EnvFileError, read_env_file, write_env_file

ROOT = Path(__file__).resolve().parents[2]


def test_default_ports_avoid_standard_service_ports():
    cfg = ClusterConfig.from_env(ROOT, {})
    assert cfg.ports["api"] == DEFAULT_PORT_BASE + 80
    assert not {5432, 6379, 8080, 5555, 9090, 9125} & set(cfg.ports.values())
    assert len(set(cfg.ports.values())) == len(cfg.ports), "ports must not collide"


def test_port_base_and_single_port_override():
    cfg = ClusterConfig.from_env(
        ROOT, {"AIRSWEEP_PORT_BASE": "40000", "AIRSWEEP_REDIS_PORT": "41111"}
    )
    assert cfg.ports["api"] == 40080
    assert cfg.ports["redis"] == 41111


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AIRSWEEP_PORT_BASE": "abc"}, "AIRSWEEP_PORT_BASE: expected an integer"),
        ({"AIRSWEEP_PORT_BASE": "80"}, "AIRSWEEP_PORT_BASE: must be >= 1024"),
        ({"AIRSWEEP_API_PORT": "70000"}, "AIRSWEEP_API_PORT: port 70000 is above 65535"),
        ({"AIRSWEEP_CPU_WORKERS": "0"}, "AIRSWEEP_CPU_WORKERS: must be >= 1"),
    ],
)
def test_bad_settings_name_the_variable(env, message):
    with pytest.raises(ClusterConfigError, match=message):
        ClusterConfig.from_env(ROOT, env)


def test_external_services_disable_embedded_ones():
    cfg = ClusterConfig.from_env(
        ROOT,
        {
            "AIRSWEEP_DATABASE_URL": "postgresql+psycopg2://u:p@db:5432/airflow",
            "AIRSWEEP_REDIS_URL": "redis://:p@cache:6379/0",
        },
    )
    assert not cfg.embedded_postgres and not cfg.embedded_redis
    env = native_environment(cfg, generate_secrets())
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://u:p@db:5432/airflow"
    assert env["AIRSWEEP_OPTUNA_STORAGE"] == "postgresql+psycopg2://u:p@db:5432/optuna"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://:p@cache:6379/0"


def test_native_environment_wires_every_component_to_loopback(tmp_path):
    cfg = ClusterConfig.from_env(ROOT, {"AIRSWEEP_HOME": str(tmp_path)})
    secrets = generate_secrets()
    env = native_environment(cfg, secrets)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"  # from airflow/airflow.env
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CELERY__FLOWER_HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"{cfg.api_url}/execution/"
    assert secrets["AIRSWEEP_REDIS_PASSWORD"] in env["AIRFLOW__CELERY__BROKER_URL"]
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "False"
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == secrets["AIRFLOW__API_AUTH__JWT_SECRET"]


def test_shared_env_file_holds_no_secret():
    shared = read_env_file(ROOT / "airflow" / "airflow.env")
    assert not set(SECRET_NAMES) & set(shared)
    assert not any("PASSWORD" in key or "SECRET" in key for key in shared)


def test_secrets_are_generated_once_private_and_distinct(tmp_path):
    path = tmp_path / "secrets.env"
    first = load_or_create_secrets(path)
    assert set(first) == set(SECRET_NAMES)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secrets(path) == first
    assert generate_secrets() != generate_secrets()
    assert len(set(first.values())) == len(first)


def test_missing_secret_is_added_without_changing_others(tmp_path):
    path = tmp_path / "secrets.env"
    first = load_or_create_secrets(path)
    kept = {k: v for k, v in first.items() if k != "AIRSWEEP_REDIS_PASSWORD"}
    write_env_file(path, kept)
    second = load_or_create_secrets(path)
    assert {k: second[k] for k in kept} == kept
    assert second["AIRSWEEP_REDIS_PASSWORD"] not in ("", first["AIRSWEEP_REDIS_PASSWORD"])


def test_env_file_rejects_malformed_lines(tmp_path):
    path = tmp_path / "bad.env"
    path.write_text("# comment\nGOOD=1\nnot a pair\n")
    with pytest.raises(EnvFileError, match="bad.env:3"):
        read_env_file(path)


def _flag(argv: tuple[str, ...], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_worker_components_consume_their_queues():
    env = {
        "AIRSWEEP_CPU_WORKER_CONCURRENCY": "3",
        "AIRSWEEP_GPU_WORKER_CONCURRENCY": "1",
        "AIRSWEEP_CONTROL_WORKER_CONCURRENCY": "5",
    }
    cpu = component("worker-cpu-2", env)
    assert cpu.worker_kind == "cpu"
    assert cpu.argv[:3] == ("airflow", "celery", "worker")
    assert _flag(cpu.argv, "--queues") == "cpu"
    assert "worker-cpu-2@%h" in cpu.argv
    gpu = component("worker-gpu", env)
    assert _flag(gpu.argv, "--queues") == "gpu"
    assert _flag(gpu.argv, "--concurrency") == "1"
    control = component("worker-control", env)
    assert control.worker_kind == "control"
    assert _flag(control.argv, "--queues") == "default"
    assert _flag(control.argv, "--concurrency") == "5"
    assert "worker-control@%h" in control.argv


@pytest.mark.parametrize("workers", ["1", "3"])
def test_trial_workers_run_one_celery_process_per_trial_slot(workers):
    """Celery cannot keep a process for one queue: a trial worker runs nothing but trials."""
    env = {
        "AIRSWEEP_CPU_WORKER_CONCURRENCY": "3",
        "AIRSWEEP_CPU_WORKERS": workers,
        "AIRSWEEP_GPU_WORKER_CONCURRENCY": "2",
    }
    slots = trial_slots(env)
    assert set(slots) == {"cpu", "gpu"}, "the control worker has no trial slots"
    for kind, count in {"cpu": int(workers), "gpu": 1}.items():
        argv = component(f"worker-{kind}", env).argv
        assert _flag(argv, "--queues") == kind, "only the control worker consumes default"
        assert int(_flag(argv, "--concurrency")) * count == slots[kind]
    # The control tasks' queue has exactly one consumer, which runs no trial.
    consumers = {
        name: _flag(component(name, env).argv, "--queues").split(",")
        for name in core_component_names(int(workers))
        if name.startswith("worker-")
    }
    assert [n for n, queues in consumers.items() if "default" in queues] == ["worker-control"]
    assert consumers["worker-control"] == ["default"]
    assert _flag(component("worker-control", {}).argv, "--concurrency") == "3"


def test_native_workers_get_their_queues_and_a_warm_shutdown(tmp_path):
    cfg = ClusterConfig.from_env(
        ROOT, {"AIRSWEEP_HOME": str(tmp_path), "AIRSWEEP_CPU_WORKERS": "2"}
    )
    env = native_environment(cfg, generate_secrets())
    workers = {p.name: p for p in programs(cfg, env) if p.name.startswith("worker-")}
    assert sorted(workers) == ["worker-control", "worker-cpu", "worker-cpu-2", "worker-gpu"]
    queues = {"worker-control": "default", "worker-cpu": "cpu", "worker-cpu-2": "cpu"}
    for name, program in workers.items():
        assert program.environment == {
            "AIRSWEEP_WORKER_NAME": name,
            "AIRSWEEP_WORKER_QUEUES": queues.get(name, "gpu"),
        }
        assert program.stop_wait_s == 300
        assert program.phase == "airflow"
    # airflow/airflow.env (in cluster.env) sets each kind's concurrency.
    assert env["AIRSWEEP_CONTROL_WORKER_CONCURRENCY"] == "3"


def test_log_servers_are_skipped_only_when_asked():
    assert "--skip-serve-logs" in component("worker-cpu", {"AIRSWEEP_SERVE_LOGS": "false"}).argv
    assert "--skip-serve-logs" in component("triggerer", {"AIRSWEEP_SERVE_LOGS": "false"}).argv
    assert "--skip-serve-logs" not in component("worker-cpu", {}).argv
    assert component("scheduler", {}).argv == ("airflow", "scheduler")


@pytest.mark.parametrize("name", ["worker", "worker-cpu-x", "webserver", "worker-tpu"])
def test_unknown_components_are_rejected(name):
    with pytest.raises(UnknownComponentError):
        component(name, {})


def test_bad_concurrency_names_the_variable():
    with pytest.raises(ValueError, match="AIRSWEEP_GPU_WORKER_CONCURRENCY"):
        worker_concurrency("gpu", {"AIRSWEEP_GPU_WORKER_CONCURRENCY": "0"})


def test_core_components_scale_cpu_workers():
    names = core_component_names(3)
    assert names.count("worker-gpu") == 1
    assert names.count("worker-control") == 1
    assert [n for n in names if n.startswith("worker-cpu")] == [
        "worker-cpu",
        "worker-cpu-2",
        "worker-cpu-3",
    ]


def test_scale_file_sets_cpu_workers_unless_the_variable_does(tmp_path):
    assert ClusterConfig.from_env(ROOT, {"AIRSWEEP_HOME": str(tmp_path)}).cpu_workers == 1
    write_env_file(tmp_path / "scale.env", {"AIRSWEEP_CPU_WORKERS": "3"})
    assert ClusterConfig.from_env(ROOT, {"AIRSWEEP_HOME": str(tmp_path)}).cpu_workers == 3
    env = {"AIRSWEEP_HOME": str(tmp_path), "AIRSWEEP_CPU_WORKERS": "2"}
    assert ClusterConfig.from_env(ROOT, env).cpu_workers == 2


def test_pool_sync_is_a_core_component_of_the_native_cluster(tmp_path):
    assert component("pool-sync", {}).argv == ("python", "-m", "airsweep.cluster.pool_sync")
    assert component("pool-sync", {}).worker_kind == ""
    assert "pool-sync" in core_component_names(1)
    cfg = ClusterConfig.from_env(
        ROOT,
        {
            "AIRSWEEP_HOME": str(tmp_path),
            "AIRSWEEP_DATABASE_URL": "postgresql+psycopg2://u:p@db:5432/airflow",
            "AIRSWEEP_REDIS_URL": "redis://:p@cache:6379/0",
        },
    )
    env = native_environment(cfg, generate_secrets())
    program = next(p for p in programs(cfg, env) if p.name == "pool-sync")
    assert program.phase == "airflow"
    assert program.argv[-4:] == ("component", "pool-sync", "--env-file", str(env_file(cfg)))
    # It finds airflow/pools.json, the api-server and the admin password in cluster.env.
    assert env["AIRSWEEP_ROOT"] == str(ROOT)
    assert api_url(env) == cfg.api_url
    assert api_url({k: v for k, v in env.items() if k != "AIRSWEEP_API_URL"}) == cfg.api_url
    assert env["AIRSWEEP_ADMIN_PASSWORD"]


def test_trial_slots_follow_workers_and_concurrency():
    env = {"AIRSWEEP_CPU_WORKER_CONCURRENCY": "3", "AIRSWEEP_CPU_WORKERS": "2"}
    assert trial_slots(env) == {"cpu": 6, "gpu": 1}
    with pytest.raises(ValueError, match="AIRSWEEP_GPU_WORKERS"):
        trial_slots({"AIRSWEEP_GPU_WORKERS": "none"})


def test_supervisor_config_isolates_programs_and_keeps_secrets_out(tmp_path):
    cfg = ClusterConfig.from_env(ROOT, {"AIRSWEEP_HOME": str(tmp_path)})
    text = render_config(
        cfg,
        [
            Program("redis", ("redis-server", "/x/redis.conf"), "infra"),
            Program(
                "worker-cpu",
                ("airsweep", "component", "worker-cpu", "-H", "w@%h"),
                "airflow",
                environment={"AIRSWEEP_WORKER_NAME": "worker-cpu"},
                stop_wait_s=300,
            ),
        ],
    )
    # No [group:] sections: each program is its own group, so adding a worker
    # (scaling) does not restart the others.
    assert "[group:" not in text
    assert "[program:redis]" in text and "[program:worker-cpu]" in text
    assert "command=airsweep component worker-cpu -H w@%%h" in text  # % escaped for supervisor
    assert 'environment=AIRSWEEP_WORKER_NAME="worker-cpu"' in text
    assert "stopwaitsecs=300" in text
    assert "chmod=0700" in text
    assert "PASSWORD" not in text


@pytest.mark.parametrize(
    ("consumed", "blamed"),
    [
        ({"worker-cpu@h": ["cpu"], "worker-gpu@h": ["gpu"]}, "worker-control"),
        ({"worker-control@h": ["default"], "worker-gpu@h": ["gpu"]}, "worker-cpu"),
        ({"worker-control@h": ["default"], "worker-cpu@h": ["cpu"]}, "worker-gpu"),
    ],
)
def test_up_waits_for_a_consumer_of_every_queue_and_names_the_missing_worker(
    tmp_path, monkeypatch, consumed, blamed
):
    from airsweep.cluster import lifecycle

    cfg = ClusterConfig.from_env(ROOT, {"AIRSWEEP_HOME": str(tmp_path)})
    env = native_environment(cfg, generate_secrets())
    names = [p.name for p in programs(cfg, env)]

    class AllRunning:
        def states(self):
            return {n: {"statename": "RUNNING", "description": ""} for n in names}

    monkeypatch.setattr(lifecycle, "api_health_problems", lambda url: [])
    monkeypatch.setattr(lifecycle, "celery_queues", lambda url: consumed)
    monkeypatch.setattr(lifecycle.time, "sleep", lambda s: None)
    with pytest.raises(lifecycle.ClusterError, match=f"^{blamed} failed: .*no Celery worker"):
        lifecycle._wait_healthy(cfg, AllRunning(), env, 0.05, lambda line: None)
    every = {**consumed, "worker-x@h": ["default", "cpu", "gpu"]}
    monkeypatch.setattr(lifecycle, "celery_queues", lambda url: every)
    lifecycle._wait_healthy(cfg, AllRunning(), env, 5, lambda line: None)  # healthy: returns
