"""Monitoring on the real cluster: after a sweep, every dashboard panel and alert query
runs against the live Prometheus, and the StatsD bridge keeps its promises."""

from __future__ import annotations

import os
import shutil
import socket
import time

import httpx
import pytest

from airsweep.monitoring.queries import iter_alert_queries, iter_dashboard_queries

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prometheus(cluster, finished_sweep) -> str:
    if not shutil.which("prometheus"):
        message = "the prometheus binary is not installed (apt-get install prometheus)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return f"http://127.0.0.1:{cluster.cfg.ports['prometheus']}"


def _query(prometheus: str, expr: str) -> dict:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=30)
    body = response.json()
    assert body["status"] == "success", f"{expr}: {body.get('error')}"
    return body["data"]


def _metrics(cluster) -> str:
    port = cluster.cfg.ports["statsd_exporter"]
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text


def test_every_dashboard_panel_returns_data(prometheus):
    queries = list(iter_dashboard_queries())
    assert len(queries) > 20
    deadline = time.monotonic() + 180  # rate() windows need a few scrapes after the sweep
    while True:
        empty = [q for q in queries if not _query(prometheus, q.expr)["result"]]
        if not empty or time.monotonic() > deadline:
            break
        time.sleep(15)
    assert not empty, "panels without data:\n" + "\n".join(
        f"  {q.source} / {q.context} [{q.ref}]: {q.expr}" for q in empty
    )


def test_every_alert_rule_evaluates(prometheus):
    queries = list(iter_alert_queries())
    assert queries
    for query in queries:
        _query(prometheus, query.expr)
    rules = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    health = {r["name"]: r["health"] for g in rules for r in g["rules"]}
    assert health and set(health.values()) == {"ok"}, health


def test_bridge_exports_sweep_metrics_with_labels(cluster, finished_sweep):
    text = _metrics(cluster)
    fail_line = next(
        line
        for line in text.splitlines()
        if line.startswith("airsweep_trials_finished_total{")
        and 'state="fail"' in line
        and 'model="logistic_regression"' in line
    )
    assert 'queue="cpu"' in fail_line and 'device="cpu"' in fail_line
    assert float(fail_line.rsplit(" ", 1)[1]) >= 1
    assert "airsweep_trial_duration_seconds_bucket{" in text
    assert 'airflow_ti_finish_total{dag_id="hpo_sweep"' in text
    assert 'airflow_pool_open_slots{pool="cpu_trials"}' in text


def test_malformed_statsd_packets_are_counted_not_exported(cluster):
    before = _metrics(cluster)
    names_before = {
        line.split("{")[0].split(" ")[0]
        for line in before.splitlines()
        if line and not line.startswith("#")
    }
    garbage = [b"no_value_here", b"x:1|zz", b":::|c", b"\xff\xfe\x00", b"airsweep.trial.started:1"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for packet in garbage:
            sock.sendto(packet, ("127.0.0.1", cluster.cfg.ports["statsd"]))
    time.sleep(1)
    after = _metrics(cluster)
    names_after = {
        line.split("{")[0].split(" ")[0]
        for line in after.splitlines()
        if line and not line.startswith("#")
    }

    def bad_lines(text):
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("statsd_bridge_bad_lines_total")
        )

    assert bad_lines(after) >= bad_lines(before) + len(garbage) - 1
    new_names = {n for n in names_after - names_before if not n.startswith("statsd_bridge_")}
    assert not new_names, f"malformed packets created metrics: {new_names}"
