"""The native cluster as a user drives it: `airsweep` command and the REST API."""

from __future__ import annotations

import stat
import time

import httpx
import psutil
import pytest
import redis

from airsweep.envfile import read_env_file

pytestmark = pytest.mark.integration

SMOKE = "smoke_fanout"


def test_smoke_dag_fans_out_across_both_queues(cluster):
    client = cluster.client
    client.wait_for_dag(SMOKE)
    run = client.trigger(SMOKE)
    finished = client.wait_for_run(SMOKE, run["dag_run_id"], timeout_s=300)
    assert finished["state"] == "success"

    tis = client.task_instances(SMOKE, run["dag_run_id"])
    expected = {("on_cpu", "cpu", "cpu_trials"), ("on_gpu", "gpu", "gpu_trials")}
    assert {(ti["task_id"], ti["queue"], ti["pool"]) for ti in tis} == expected
    assert len(tis) == 8
    for ti in tis:
        assert ti["state"] == "success", ti
        placed = client.xcom(SMOKE, run["dag_run_id"], ti["task_id"], ti["map_index"])
        assert placed["queue"] == ti["queue"]
        assert ti["queue"] in placed["worker_queues"], placed
        assert placed["worker"] == f"worker-{ti['queue']}"


def test_api_rejects_unauthenticated_requests(cluster):
    response = httpx.get(f"{cluster.cfg.api_url}/api/v2/dags", timeout=10)
    assert response.status_code == 401
    bad = httpx.post(
        f"{cluster.cfg.api_url}/auth/token",
        json={"username": "admin", "password": "admin"},
        timeout=10,
    )
    assert bad.status_code == 401


def test_redis_requires_the_generated_password(cluster):
    port = cluster.cfg.ports["redis"]
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port).ping()
    password = cluster.secrets["AIRSWEEP_REDIS_PASSWORD"]
    authed = redis.Redis(host="127.0.0.1", port=port, password=password)
    assert authed.ping()


def test_secrets_are_private_and_generated(cluster):
    for name in ("secrets.env", "cluster.env"):
        mode = stat.S_IMODE(cluster.cfg.path(name).stat().st_mode)
        assert mode == 0o600, f"{name} has mode {oct(mode)}"
    secrets = cluster.secrets
    assert len(set(secrets.values())) == len(secrets), "every secret is distinct"
    assert all(len(value) >= 32 for value in secrets.values())


def test_components_listen_on_loopback_only(cluster):
    listening = []
    for proc in cluster.cluster_processes():
        try:
            conns = proc.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        listening += [(proc.name(), c.laddr) for c in conns if c.status == psutil.CONN_LISTEN]
    assert listening, "found no listening sockets at all"
    exposed = [(name, addr) for name, addr in listening if not addr.ip.startswith("127.")]
    assert not exposed, f"listening beyond loopback: {exposed}"


def test_status_reports_every_component_running(cluster):
    result = cluster.airsweep("status")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in (
        "api-server",
        "scheduler",
        "dag-processor",
        "triggerer",
        "worker-control",
        "worker-cpu",
        "worker-gpu",
        "flower",
        "postgres",
        "redis",
    ):
        line = next(row for row in result.stdout.splitlines() if row.startswith(name + " "))
        assert "RUNNING" in line
    assert "api health: ok" in result.stdout


def test_second_up_changes_nothing(cluster):
    before = {p["name"]: p["pid"] for p in _process_info(cluster)}
    result = cluster.airsweep("up", "--timeout", "300")
    assert result.returncode == 0, result.stdout + result.stderr
    after = {p["name"]: p["pid"] for p in _process_info(cluster)}
    assert after == before, "a second `up` must not restart running components"


def test_pools_follow_worker_slots(cluster):
    pools = {p["name"]: p["slots"] for p in cluster.client.request("GET", "/pools")["pools"]}
    assert pools["cpu_trials"] == 2
    assert pools["gpu_trials"] == 1


def test_live_workers_report_their_trial_slots_and_cuda(cluster):
    from airsweep.workers import current_workers, inspect_workers

    broker = read_env_file(cluster.cfg.path("cluster.env"))["AIRFLOW__CELERY__BROKER_URL"]
    live = inspect_workers(broker, timeout_s=5)
    # Every Celery process of a trial worker is a trial slot; worker-control has none.
    assert live.slots == {"cpu": 2, "gpu": 1}
    [control] = live.of_kind("control")
    assert control.name.startswith("worker-control@") and control.slots == 3
    # The gpu worker announced that it has no usable CUDA here: device auto -> cpu queue.
    [gpu] = live.of_kind("gpu")
    assert gpu.cuda is False and gpu.cuda_reason
    assert live.gpu_usable is False
    # pool-sync publishes the same view for the sweep's setup (read in about 1 ms).
    assert current_workers(broker).slots == live.slots


def _process_info(cluster):
    from airsweep.cluster.supervisor import Supervisor

    return list(Supervisor(cluster.cfg).states().values())


def test_scaling_cpu_workers_adds_a_worker_and_resizes_the_pool(cluster):
    before = {p["name"]: p["pid"] for p in _process_info(cluster)}
    result = cluster.airsweep("scale", "--cpu-workers", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    after = {p["name"]: p for p in _process_info(cluster)}
    assert after["worker-cpu-2"]["statename"] == "RUNNING"
    assert after["scheduler"]["pid"] == before["scheduler"], "scaling must not restart others"
    _wait_for_pool(cluster, "cpu_trials", 4)  # pool-sync follows the live slots

    result = cluster.airsweep("scale", "--cpu-workers", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    names = {p["name"] for p in _process_info(cluster)}
    assert "worker-cpu-2" not in names
    _wait_for_pool(cluster, "cpu_trials", 2)


def _wait_for_pool(cluster, pool, slots, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while True:
        pools = {p["name"]: p["slots"] for p in cluster.client.request("GET", "/pools")["pools"]}
        if pools[pool] == slots or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert pools[pool] == slots, f"{pool} has {pools[pool]} slots, not {slots}"


def test_flower_requires_basic_auth(cluster):
    url = f"http://127.0.0.1:{cluster.cfg.ports['flower']}/api/workers"
    assert httpx.get(url, timeout=10).status_code == 401
    auth = ("admin", cluster.secrets["AIRSWEEP_FLOWER_PASSWORD"])
    response = httpx.get(url, params={"refresh": "1"}, auth=auth, timeout=30)
    assert response.status_code == 200
    assert any(name.startswith("worker-gpu@") for name in response.json())


def test_variables_are_fernet_encrypted_at_rest(cluster):
    import psycopg2

    from airsweep.envfile import read_env_file

    secret = "s3cr3t-value-for-the-test"
    cluster.client.request("POST", "/variables", json={"key": "airsweep_test", "value": secret})
    url = read_env_file(cluster.cfg.path("cluster.env"))["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT val, is_encrypted FROM variable WHERE key = 'airsweep_test'")
            stored, encrypted = cur.fetchone()
    finally:
        conn.close()
    assert encrypted is True
    assert secret not in stored
    fetched = cluster.client.request("GET", "/variables/airsweep_test")
    assert fetched["value"] == secret
