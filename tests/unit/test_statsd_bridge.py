"""Native StatsD bridge: line protocol, mapping semantics, real UDP + HTTP, CLI."""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import statsd
from prometheus_client.parser import text_string_to_metric_families
from test_statsd_mapping import AIRFLOW_REFERENCE, AIRSWEEP, DROP  # same folder (rootdir import)

from airsweep.monitoring.mapping import MetricMapper, MetricType, load_mapping
from airsweep.monitoring.statsd_bridge import (
    Sample,
    StatsdBridge,
    format_go_float,
    main,
    parse_line,
    parse_packet,
)

REPO = Path(__file__).resolve().parents[2]
MAPPING_FILE = REPO / "monitoring" / "statsd" / "mapping.yml"
C, G, T = MetricType.COUNTER, MetricType.GAUGE, MetricType.OBSERVER
KIND = {"c": "counter", "g": "gauge", "ms": "histogram"}


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(address: tuple[str, int]) -> dict[str, object]:
    """Families by name from the bridge's HTTP endpoint."""
    with urllib.request.urlopen(f"http://{address[0]}:{address[1]}/metrics", timeout=5) as resp:
        body = resp.read().decode()
    return {family.name: family for family in text_string_to_metric_families(body)}


def values(family: object, sample_name: str | None = None) -> dict[frozenset, float]:
    return {
        frozenset(s.labels.items()): s.value
        for s in family.samples  # type: ignore[attr-defined]
        if sample_name is None or s.name == sample_name
    }


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def mapper() -> MetricMapper:
    return load_mapping(MAPPING_FILE)


@pytest.fixture
def bridge(mapper: MetricMapper) -> Iterator[StatsdBridge]:
    with StatsdBridge(mapper, ("127.0.0.1", 0), ("127.0.0.1", 0)) as running:
        yield running


def offline(yaml_text: str) -> StatsdBridge:
    """A bridge that is fed with handle_packet (no sockets)."""
    return StatsdBridge(MetricMapper.from_yaml(yaml_text, "test"))


def families(bridge: StatsdBridge) -> dict[str, object]:
    return {metric.name: metric for metric in bridge.snapshot()}


def bad_lines(bridge: StatsdBridge) -> dict[str, float]:
    return {
        s.labels["reason"]: s.value
        for metric in bridge.registry.collect()
        if metric.name == "statsd_bridge_bad_lines"
        for s in metric.samples
        if s.name.endswith("_total")
    }


# --- line protocol ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("a.b:1|c", [Sample("a.b", C, 1.0)]),
        ("a:1|c|@0.1", [Sample("a", C, 10.0)]),
        ("a:3|g", [Sample("a", G, 3.0)]),
        ("a:3|g|@0.5", [Sample("a", G, 3.0)]),
        ("a:+3|g", [Sample("a", G, 3.0, relative=True)]),
        ("a:-3.5|g", [Sample("a", G, -3.5, relative=True)]),
        ("a:250|ms", [Sample("a", T, 0.25)]),
        ("a:250|ms|@0.25", [Sample("a", T, 0.25, weight=4)]),
        ("a:2|h", [Sample("a", T, 2.0)]),
        ("a:2|d", [Sample("a", T, 2.0)]),
        ("a:1e3|c", [Sample("a", C, 1000.0)]),
        ("a:1|c:2|g", [Sample("a", C, 1.0), Sample("a", G, 2.0)]),
        ("a:1:2|ms", [Sample("a", T, 0.001), Sample("a", T, 0.002)]),
        ("a:1|c|T1656581400", [Sample("a", C, 1.0)]),
    ],
)
def test_parse_line_accepts_statsd_samples(line: str, expected: list[Sample]) -> None:
    result = parse_line(line)
    assert result.errors == []
    assert result.samples == expected


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("garbage", "malformed_line"),
        (":1|c", "malformed_line"),
        ("a:1", "not_enough_parts_after_colon"),
        ("a:x|c", "malformed_value"),
        ("a:|c", "malformed_value"),
        ("a:nan|c", "malformed_value"),
        ("a:inf|g", "malformed_value"),
        ("a:1_0|c", "malformed_value"),
        ("a:1|s", "illegal_event"),
        ("a:1|zz", "illegal_event"),
        ("a:1|c|@2", "invalid_sample_factor"),
        ("a:1|c|@0", "invalid_sample_factor"),
        ("a:1|c|@x", "invalid_sample_factor"),
        ("a:1|c|x", "invalid_sample_factor"),
        ("a:1|c||", "malformed_component"),
        ("a:1|c|@1|@1|@1|@1|@1", "malformed_component"),
        ("a:1|c|#env:prod", "unsupported_tags"),
        ("a:1:2|c", "invalid_extended_aggregate_type"),
    ],
)
def test_parse_line_rejects_malformed_input(line: str, reason: str) -> None:
    result = parse_line(line)
    assert result.samples == []
    assert result.errors == [reason]


def test_parse_packet_splits_lines_and_rejects_non_utf8() -> None:
    result = parse_packet(b"a:1|c\n\nb:2|g\n\xff\xfe:1|c\nc:oops|c")
    assert [s.name for s in result.samples] == ["a", "b"]
    assert result.errors == ["malformed_line", "malformed_value"]


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.0, "1"), (0.05, "0.05"), (3600.0, "3600"), (28800.0, "28800"), (1e6, "1e+06"),
     (0.0001, "0.0001"), (1e-05, "1e-05"), (0.99, "0.99"), (math.inf, "+Inf")],
)  # fmt: skip
def test_bucket_labels_are_formatted_like_client_golang(value: float, text: str) -> None:
    assert format_go_float(value) == text


# --- mapping semantics applied by the bridge (no sockets) ---------------------------------


def test_counters_gauges_and_gauge_deltas() -> None:
    bridge = offline(
        """
mappings:
  - {match: "hits.*", match_metric_type: counter, name: "hits_total", labels: {page: "$1"}}
  - {match: "level.*", match_metric_type: gauge, name: "level", labels: {tank: "$1"}}
"""
    )
    bridge.handle_packet(b"hits.home:1|c\nhits.home:2|c|@0.5\nhits.about:1|c")
    bridge.handle_packet(b"level.t1:10|g\nlevel.t1:+5|g\nlevel.t1:-2|g\nlevel.t2:-4|g")
    # statsd.StatsClient sends a negative absolute gauge as "0|g" then "-x|g".
    bridge.handle_packet(b"level.t3:7|g\nlevel.t3:0|g\nlevel.t3:-1.5|g")
    found = families(bridge)
    assert values(found["hits"]) == {
        frozenset({("page", "home")}): 5.0,
        frozenset({("page", "about")}): 1.0,
    }
    assert {s.name for s in found["hits"].samples} == {"hits_total"}
    assert values(found["level"]) == {
        frozenset({("tank", "t1")}): 13.0,
        frozenset({("tank", "t2")}): -4.0,
        frozenset({("tank", "t3")}): -1.5,
    }
    assert bad_lines(bridge) == {}


def test_timers_become_second_histograms_with_mapping_buckets() -> None:
    bridge = offline(
        """
defaults:
  observer_type: histogram
  histogram_options: {buckets: [0.1, 1, 10]}
mappings:
  - {match: "job.*", name: "job_seconds", labels: {job: "$1"}}
"""
    )
    bridge.handle_packet(b"job.fit:50|ms\njob.fit:500|ms\njob.fit:5000|ms|@0.5\njob.fit:20000|ms")
    histogram = families(bridge)["job_seconds"]
    assert histogram.type == "histogram"
    buckets = {s.labels["le"]: s.value for s in histogram.samples if s.name.endswith("_bucket")}
    assert buckets == {"0.1": 1, "1": 2, "10": 4, "+Inf": 5}
    count = values(histogram, "job_seconds_count")
    total = values(histogram, "job_seconds_sum")
    assert count == {frozenset({("job", "fit")}): 5}
    assert total[frozenset({("job", "fit")})] == pytest.approx(0.05 + 0.5 + 2 * 5 + 20)


def test_summary_observer_reports_quantiles() -> None:
    bridge = offline(
        """
mappings:
  - match: "lat.*"
    name: "lat_seconds"
    observer_type: summary
    summary_options: {quantiles: [{quantile: 0.5, error: 0.05}, {quantile: 0.9, error: 0.01}]}
"""
    )
    bridge.handle_packet("\n".join(f"lat.a:{ms}|ms" for ms in range(100, 1100, 100)).encode())
    summary = families(bridge)["lat_seconds"]
    assert summary.type == "summary"
    quantiles = {s.labels["quantile"]: s.value for s in summary.samples if "quantile" in s.labels}
    assert quantiles == {"0.5": pytest.approx(0.5), "0.9": pytest.approx(0.9)}
    assert values(summary, "lat_seconds_count") == {frozenset(): 10}


def test_unmatched_metrics_keep_escaped_names_and_default_observer() -> None:
    bridge = offline(
        """
defaults: {observer_type: histogram, histogram_options: {buckets: [1, 2]}}
mappings: []
"""
    )
    bridge.handle_packet(b"some.gauge-x:3|g\nsome.timer:1500|ms\nsome.count:2|c")
    found = families(bridge)
    assert values(found["some_gauge_x"]) == {frozenset(): 3.0}
    assert found["some_timer"].type == "histogram"
    assert {s.labels.get("le") for s in found["some_timer"].samples} >= {"1", "2", "+Inf"}
    assert {s.name for s in found["some_count"].samples} == {"some_count_total"}


def test_scale_drop_conflicts_and_negative_counters_are_handled() -> None:
    bridge = offline(
        """
defaults: {observer_type: histogram}
mappings:
  - {match: "secs.*", name: "secs_seconds", scale: 1000}
  - {match: "skip.*", action: drop, name: "dropped"}
  - {match: "thing.*", name: "thing"}
"""
    )
    bridge.handle_packet(b"secs.a:2.5|ms\nskip.a:1|c\nthing.a:1|c\nthing.b:5|g\nthing.c:-1|c")
    found = families(bridge)
    assert values(found["secs_seconds"], "secs_seconds_sum") == {frozenset(): pytest.approx(2.5)}
    assert "dropped" not in found and "skip_a" not in found
    # "thing" is a counter first; the gauge with the same name is a conflict.
    assert found["thing"].type == "counter"
    assert values(found["thing"]) == {frozenset(): 1.0}
    assert bad_lines(bridge) == {"metric_conflict": 1.0, "illegal_negative_counter": 1.0}


def test_histogram_suffix_collisions_are_conflicts() -> None:
    bridge = offline("defaults: {observer_type: histogram}\nmappings: []")
    bridge.handle_packet(b"req:100|ms\nreq_count:5|g\nreq_bucket:1|c")
    assert set(families(bridge)) == {"req"}
    assert bad_lines(bridge) == {"metric_conflict": 2.0}


# --- real sockets -----------------------------------------------------------------------


def reference_packet(keys: list[str]) -> bytes:
    return "\n".join(f"{key.split('|')[0]}:1500|{key.split('|')[1]}" for key in keys).encode()


def test_bridge_over_udp_exports_every_reference_and_airsweep_name(bridge: StatsdBridge) -> None:
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    keys = sorted(AIRFLOW_REFERENCE) + sorted(AIRSWEEP)
    for start in range(0, len(keys), 10):  # several multi-line datagrams
        sender.sendto(reference_packet(keys[start : start + 10]), bridge.statsd_address)
    sender.close()
    wait_for(
        lambda: (bridge.registry.get_sample_value("statsd_bridge_samples_total") or 0) >= len(keys)
    )
    found = scrape(bridge.web_address)
    expected: dict[str, set[frozenset]] = {}
    for key, target in {**AIRFLOW_REFERENCE, **AIRSWEEP}.items():
        if target == DROP:
            continue
        name, labels = target
        family_name = name.removesuffix("_total")
        assert found[family_name].type == KIND[key.split("|")[1]], key
        expected.setdefault(family_name, set()).add(frozenset(labels.items()))
    for family_name, label_sets in expected.items():
        family = found[family_name]
        series = {
            frozenset((k, v) for k, v in s.labels.items() if k not in ("le", "quantile"))
            for s in family.samples
        }
        assert series == label_sets, family_name
    histogram = found["airsweep_trial_duration_seconds"]
    le_values = [s.labels["le"] for s in histogram.samples if s.name.endswith("_bucket")]
    assert le_values[:5] == ["0.05", "0.1", "0.25", "0.5", "1"]
    assert values(histogram, "airsweep_trial_duration_seconds_sum") == {
        frozenset({"model": "xgboost", "queue": "gpu", "device": "cuda"}.items()): 1.5
    }
    mapped = {
        name.removesuffix("_total")
        for name, _ in (v for v in {**AIRFLOW_REFERENCE, **AIRSWEEP}.values() if v != DROP)
    }
    own = {name for name in found if name.startswith("statsd_bridge_")}
    assert set(found) == mapped | own  # drops and nothing else created
    drops = sum(1 for key in keys if AIRFLOW_REFERENCE.get(key) == DROP)
    assert drops > 10
    assert values(found["statsd_bridge_events_actions"], "statsd_bridge_events_actions_total") == {
        frozenset({("action", "map")}): len(keys) - drops,
        frozenset({("action", "drop")}): drops,
    }


def test_malformed_packets_are_counted_and_create_no_metric(bridge: StatsdBridge) -> None:
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    garbage = [b"\x00\xff\xfe", b"no colon here", b"x.y:abc|c", b"x.y:1|q", b"x.y:1|c|@7", b"::::"]
    for packet in garbage:
        sender.sendto(packet, bridge.statsd_address)
    wait_for(lambda: sum(bad_lines(bridge).values()) >= len(garbage))
    found = scrape(bridge.web_address)
    assert {name for name in found if not name.startswith("statsd_bridge_")} == set()
    reasons = values(found["statsd_bridge_bad_lines"], "statsd_bridge_bad_lines_total")
    assert reasons == {
        frozenset({("reason", "malformed_line")}): 3,
        frozenset({("reason", "malformed_value")}): 1,
        frozenset({("reason", "illegal_event")}): 1,
        frozenset({("reason", "invalid_sample_factor")}): 1,
    }
    # Still serving: a real statsd client's metrics arrive after the garbage.
    client = statsd.StatsClient(*bridge.statsd_address, prefix="airsweep")
    client.incr("sweep.finished.success")
    client.gauge("sweep.best_score.s1", -0.25)  # negative: sent as 0 then a delta
    client.timing("runner.duration.cpu", 1250)
    wait_for(lambda: "airsweep_sweep_best_score" in scrape(bridge.web_address))
    wait_for(lambda: "airsweep_runner_duration_seconds" in scrape(bridge.web_address))
    found = scrape(bridge.web_address)
    assert values(found["airsweep_sweeps_finished"]) == {frozenset({("state", "success")}): 1}
    assert values(found["airsweep_sweep_best_score"]) == {frozenset({("sweep", "s1")}): -0.25}
    sender.close()


def test_cli_check_validates_the_mapping(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--mapping", str(MAPPING_FILE), "--check"]) == 0
    assert "mappings OK" in capsys.readouterr().out
    bad = tmp_path / "bad.yml"
    bad.write_text("mappings: [{match: 'a.*', name: 'a', ttl: 5m}]")
    assert main(["--mapping", str(bad), "--check"]) == 2
    assert "ttl not supported" in capsys.readouterr().err
    assert main(["--mapping", str(MAPPING_FILE), "--statsd-listen", "nonsense"]) == 2


def test_cli_serves_until_sigterm() -> None:
    udp_port, web_port = free_port(socket.SOCK_DGRAM), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airsweep.monitoring.statsd_bridge",
            "--mapping",
            str(MAPPING_FILE),
            "--statsd-listen",
            f"127.0.0.1:{udp_port}",
            "--web-listen",
            f"127.0.0.1:{web_port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

        def heartbeat_seen() -> bool:
            sender.sendto(b"airflow.scheduler_heartbeat:1|c", ("127.0.0.1", udp_port))
            try:
                return "airflow_scheduler_heartbeat" in scrape(("127.0.0.1", web_port))
            except OSError:
                return False

        wait_for(heartbeat_seen, timeout=20)
        sender.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
