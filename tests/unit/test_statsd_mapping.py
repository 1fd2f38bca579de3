"""StatsD mapping: statsd_exporter semantics and the repo's monitoring/statsd/mapping.yml."""

from __future__ import annotations

from pathlib import Path

import pytest

from airsweep.monitoring.mapping import (
    DEFAULT_BUCKETS,
    DEFAULT_QUANTILES,
    Action,
    MappingError,
    MetricMapper,
    MetricType,
    ObserverType,
    escape_metric_name,
    load_mapping,
)

REPO = Path(__file__).resolve().parents[2]
MAPPING_FILE = REPO / "monitoring" / "statsd" / "mapping.yml"
SHARED_REFERENCE = Path("/work/shared/reference/airflow-3.3.2-statsd-names.txt")

C, G, T = MetricType.COUNTER, MetricType.GAUGE, MetricType.OBSERVER
TYPES = {"c": C, "g": G, "ms": T}
DROP = "<dropped>"

# Every name Airflow 3.3.2 sent in the recorded run (dag 'sweep', tasks plan/trial/pick)
# -> (Prometheus name, labels), or DROP for the bare duplicates of tagged metrics.
AIRFLOW_REFERENCE: dict[str, tuple[str, dict[str, str]] | str] = {
    "airflow.asset.orphaned|g": ("airflow_asset_orphaned", {}),
    "airflow.connection_test.active|g": ("airflow_connection_tests", {"state": "active"}),
    "airflow.connection_test.pending|g": ("airflow_connection_tests", {"state": "pending"}),
    "airflow.dag.sweep.pick.duration|ms": (
        "airflow_task_duration_seconds",
        {"dag_id": "sweep", "task_id": "pick"},
    ),
    "airflow.dag.sweep.pick.scheduled_duration|ms": (
        "airflow_task_scheduled_duration_seconds",
        {"dag_id": "sweep", "task_id": "pick"},
    ),
    "airflow.dag.sweep.plan.duration|ms": (
        "airflow_task_duration_seconds",
        {"dag_id": "sweep", "task_id": "plan"},
    ),
    "airflow.dag.sweep.plan.scheduled_duration|ms": (
        "airflow_task_scheduled_duration_seconds",
        {"dag_id": "sweep", "task_id": "plan"},
    ),
    "airflow.dag.sweep.trial.duration|ms": (
        "airflow_task_duration_seconds",
        {"dag_id": "sweep", "task_id": "trial"},
    ),
    "airflow.dag.sweep.trial.scheduled_duration|ms": (
        "airflow_task_scheduled_duration_seconds",
        {"dag_id": "sweep", "task_id": "trial"},
    ),
    "airflow.dag_processing.file_path_queue_size|g": (
        "airflow_dag_processing_file_path_queue_size",
        {},
    ),
    "airflow.dag_processing.file_path_queue_update_count|c": (
        "airflow_dag_processing_file_path_queue_update_total",
        {},
    ),
    "airflow.dag_processing.import_errors|g": ("airflow_dag_processing_import_errors", {}),
    "airflow.dag_processing.last_duration.dags-folder.sweep|ms": (
        "airflow_dag_processing_last_duration_seconds",
        {"bundle": "dags-folder", "file": "sweep"},
    ),
    "airflow.dag_processing.last_duration|ms": DROP,
    "airflow.dag_processing.last_run.seconds_ago.sweep|g": (
        "airflow_dag_processing_last_run_seconds_ago",
        {"file": "sweep"},
    ),
    "airflow.dag_processing.last_run.seconds_ago|g": DROP,
    "airflow.dag_processing.processes|c": ("airflow_dag_processing_processes_total", {}),
    "airflow.dag_processing.total_parse_time|g": (
        "airflow_dag_processing_total_parse_time_seconds",
        {},
    ),
    "airflow.dag_processor_heartbeat|c": ("airflow_dag_processor_heartbeat_total", {}),
    "airflow.dagbag_size|g": ("airflow_dagbag_size", {}),
    "airflow.dagrun.dependency-check.sweep|ms": (
        "airflow_dagrun_dependency_check_seconds",
        {"dag_id": "sweep"},
    ),
    "airflow.dagrun.dependency-check|ms": DROP,
    "airflow.dagrun.duration.success.sweep|ms": (
        "airflow_dagrun_duration_seconds",
        {"state": "success", "dag_id": "sweep"},
    ),
    "airflow.dagrun.duration.success|ms": DROP,
    "airflow.executor.open_slots.CeleryExecutor|g": (
        "airflow_executor_open_slots",
        {"executor": "CeleryExecutor"},
    ),
    "airflow.executor.open_slots|g": DROP,
    "airflow.executor.queued_tasks.CeleryExecutor|g": (
        "airflow_executor_queued_tasks",
        {"executor": "CeleryExecutor"},
    ),
    "airflow.executor.queued_tasks|g": DROP,
    "airflow.executor.running_tasks.CeleryExecutor|g": (
        "airflow_executor_running_tasks",
        {"executor": "CeleryExecutor"},
    ),
    "airflow.executor.running_tasks|g": DROP,
    "airflow.job_start|c": ("airflow_job_start_total", {}),
    "airflow.operator_successes__PythonDecoratedOperator|c": (
        "airflow_operator_successes_total",
        {"operator": "_PythonDecoratedOperator"},
    ),
    "airflow.operator_successes|c": DROP,
    "airflow.pool.deferred_slots.default_pool|g": (
        "airflow_pool_deferred_slots",
        {"pool": "default_pool"},
    ),
    "airflow.pool.deferred_slots|g": DROP,
    "airflow.pool.open_slots.default_pool|g": ("airflow_pool_open_slots", {"pool": "default_pool"}),
    "airflow.pool.open_slots|g": DROP,
    "airflow.pool.queued_slots.default_pool|g": (
        "airflow_pool_queued_slots",
        {"pool": "default_pool"},
    ),
    "airflow.pool.queued_slots|g": DROP,
    "airflow.pool.running_slots.default_pool|g": (
        "airflow_pool_running_slots",
        {"pool": "default_pool"},
    ),
    "airflow.pool.running_slots|g": DROP,
    "airflow.pool.scheduled_slots.default_pool|g": (
        "airflow_pool_scheduled_slots",
        {"pool": "default_pool"},
    ),
    "airflow.pool.scheduled_slots|g": DROP,
    "airflow.pool.starving_tasks.default_pool|g": (
        "airflow_pool_starving_tasks",
        {"pool": "default_pool"},
    ),
    "airflow.pool.starving_tasks|g": DROP,
    "airflow.scheduler.critical_section_duration|ms": (
        "airflow_scheduler_critical_section_duration_seconds",
        {},
    ),
    "airflow.scheduler.critical_section_query_duration|ms": (
        "airflow_scheduler_critical_section_query_duration_seconds",
        {},
    ),
    "airflow.scheduler.dag_bag.cache_hit|c": (
        "airflow_dag_bag_cache_events_total",
        {"component": "scheduler", "event": "cache_hit"},
    ),
    "airflow.scheduler.dag_bag.cache_miss|c": (
        "airflow_dag_bag_cache_events_total",
        {"component": "scheduler", "event": "cache_miss"},
    ),
    "airflow.scheduler.dagruns.running|g": ("airflow_scheduler_dagruns_running", {}),
    "airflow.scheduler.executor_heartbeat_duration|ms": (
        "airflow_scheduler_executor_heartbeat_duration_seconds",
        {},
    ),
    "airflow.scheduler.orphaned_tasks.adopted|c": (
        "airflow_scheduler_orphaned_tasks_total",
        {"action": "adopted"},
    ),
    "airflow.scheduler.orphaned_tasks.cleared|c": (
        "airflow_scheduler_orphaned_tasks_total",
        {"action": "cleared"},
    ),
    "airflow.scheduler.scheduler_loop_duration|ms": ("airflow_scheduler_loop_duration_seconds", {}),
    "airflow.scheduler.tasks.executable|g": ("airflow_scheduler_tasks_executable", {}),
    "airflow.scheduler.tasks.starving|g": ("airflow_scheduler_tasks_starving", {}),
    "airflow.scheduler_heartbeat|c": ("airflow_scheduler_heartbeat_total", {}),
    "airflow.serde.load_serializers|ms": ("airflow_serde_load_serializers_seconds", {}),
    "airflow.task.duration|ms": DROP,
    "airflow.task.scheduled_duration|ms": DROP,
    "airflow.ti.finish.sweep.pick.success|c": (
        "airflow_ti_finish_total",
        {"dag_id": "sweep", "task_id": "pick", "state": "success"},
    ),
    "airflow.ti.finish.sweep.plan.success|c": (
        "airflow_ti_finish_total",
        {"dag_id": "sweep", "task_id": "plan", "state": "success"},
    ),
    "airflow.ti.finish.sweep.trial.success|c": (
        "airflow_ti_finish_total",
        {"dag_id": "sweep", "task_id": "trial", "state": "success"},
    ),
    "airflow.ti.finish|c": DROP,
    "airflow.ti.start.sweep.pick|c": (
        "airflow_ti_start_total",
        {"dag_id": "sweep", "task_id": "pick"},
    ),
    "airflow.ti.start.sweep.plan|c": (
        "airflow_ti_start_total",
        {"dag_id": "sweep", "task_id": "plan"},
    ),
    "airflow.ti.start.sweep.trial|c": (
        "airflow_ti_start_total",
        {"dag_id": "sweep", "task_id": "trial"},
    ),
    "airflow.ti.start|c": DROP,
    "airflow.ti_successes|c": ("airflow_ti_successes_total", {}),
}

# Names Airflow 3.3.2 sends in situations the recorded run did not hit (failures, task
# groups, per-queue gauges), from its metrics registry, for our DAG and pools.
AIRFLOW_MORE: dict[str, tuple[str, dict[str, str]]] = {
    "airflow.ti.finish.hpo_sweep.run_trials.failed|c": (
        "airflow_ti_finish_total",
        {"dag_id": "hpo_sweep", "task_id": "run_trials", "state": "failed"},
    ),
    "airflow.ti.start.hpo_sweep.report__summary|c": (
        "airflow_ti_start_total",
        {"dag_id": "hpo_sweep", "task_id": "report__summary"},
    ),
    "airflow.dagrun.duration.failed.hpo_sweep|ms": (
        "airflow_dagrun_duration_seconds",
        {"state": "failed", "dag_id": "hpo_sweep"},
    ),
    "airflow.ti.queued.gpu.hpo_sweep.run_trials|g": (
        "airflow_task_instances",
        {"state": "queued", "queue": "gpu", "dag_id": "hpo_sweep", "task_id": "run_trials"},
    ),
    "airflow.ti.running.cpu.hpo_sweep.run_trials|g": (
        "airflow_task_instances",
        {"state": "running", "queue": "cpu", "dag_id": "hpo_sweep", "task_id": "run_trials"},
    ),
    "airflow.pool.starving_tasks.gpu_trials|g": (
        "airflow_pool_starving_tasks",
        {"pool": "gpu_trials"},
    ),
    "airflow.pool.open_slots.cpu_trials|g": ("airflow_pool_open_slots", {"pool": "cpu_trials"}),
    "airflow.dag.hpo_sweep.run_trials.queued_duration|ms": (
        "airflow_task_queued_duration_seconds",
        {"dag_id": "hpo_sweep", "task_id": "run_trials"},
    ),
    "airflow.operator_failures__PythonDecoratedOperator|c": (
        "airflow_operator_failures_total",
        {"operator": "_PythonDecoratedOperator"},
    ),
    "airflow.ti_failures|c": ("airflow_ti_failures_total", {}),
    "airflow.dagrun.hpo_sweep.first_task_scheduling_delay|ms": (
        "airflow_dagrun_first_task_scheduling_delay_seconds",
        {"dag_id": "hpo_sweep"},
    ),
    "airflow.celery.task_timeout_error|c": ("airflow_celery_task_timeout_error_total", {}),
}

# airsweep's public StatsD contract (src/airsweep/metrics.py) -> Prometheus.
AIRSWEEP: dict[str, tuple[str, dict[str, str]]] = {
    "airsweep.trial.started.random_forest.cpu.cpu|c": (
        "airsweep_trials_started_total",
        {"model": "random_forest", "queue": "cpu", "device": "cpu"},
    ),
    "airsweep.trial.finished.complete.xgboost.gpu.cuda|c": (
        "airsweep_trials_finished_total",
        {"state": "complete", "model": "xgboost", "queue": "gpu", "device": "cuda"},
    ),
    "airsweep.trial.finished.fail.random_forest.cpu.cpu|c": (
        "airsweep_trials_finished_total",
        {"state": "fail", "model": "random_forest", "queue": "cpu", "device": "cpu"},
    ),
    "airsweep.trial.finished.pruned.xgboost.gpu.cpu|c": (
        "airsweep_trials_finished_total",
        {"state": "pruned", "model": "xgboost", "queue": "gpu", "device": "cpu"},
    ),
    "airsweep.trial.timed_out.random_forest.cpu.cpu|c": (
        "airsweep_trials_timed_out_total",
        {"model": "random_forest", "queue": "cpu", "device": "cpu"},
    ),
    "airsweep.trial.duration.xgboost.gpu.cuda|ms": (
        "airsweep_trial_duration_seconds",
        {"model": "xgboost", "queue": "gpu", "device": "cuda"},
    ),
    "airsweep.trial.score.manual__2026-11-25T10_00_00-iris.random_forest|g": (
        "airsweep_trial_score",
        {"sweep": "manual__2026-11-25T10_00_00-iris", "model": "random_forest"},
    ),
    "airsweep.sweep.best_score.s-1|g": ("airsweep_sweep_best_score", {"sweep": "s-1"}),
    "airsweep.runner.duration.gpu|ms": ("airsweep_runner_duration_seconds", {"queue": "gpu"}),
    "airsweep.runner.started.cpu.worker-cpu-2|c": (
        "airsweep_runners_started_total",
        {"queue": "cpu", "worker": "worker-cpu-2"},
    ),
    "airsweep.runner.finished.cpu.worker-cpu.idle|c": (
        "airsweep_runners_finished_total",
        {"queue": "cpu", "worker": "worker-cpu", "outcome": "idle"},
    ),
    "airsweep.trial.lost.cpu|c": ("airsweep_trials_lost_total", {"queue": "cpu"}),
    "airsweep.sweep.budget_left.s1|g": ("airsweep_sweep_budget_left", {"sweep": "s1"}),
    "airsweep.pool.slots.cpu_trials|g": ("airsweep_pool_slots", {"pool": "cpu_trials"}),
    "airsweep.workers.live_slots.gpu|g": ("airsweep_workers_live_slots", {"kind": "gpu"}),
    "airsweep.data.prepare_duration.iris|ms": (
        "airsweep_data_prepare_duration_seconds",
        {"dataset": "iris"},
    ),
    "airsweep.sweep.duration.iris|ms": ("airsweep_sweep_duration_seconds", {"dataset": "iris"}),
    "airsweep.sweep.time_to_first_trial.iris|ms": (
        "airsweep_sweep_time_to_first_trial_seconds",
        {"dataset": "iris"},
    ),
    "airsweep.sweep.finished.failed|c": ("airsweep_sweeps_finished_total", {"state": "failed"}),
    "airsweep.sweep.finished.success|c": ("airsweep_sweeps_finished_total", {"state": "success"}),
}


@pytest.fixture(scope="module")
def repo_mapper() -> MetricMapper:
    return load_mapping(MAPPING_FILE)


def mapper_from(text: str) -> MetricMapper:
    return MetricMapper.from_yaml(text, "test")


def resolve(mapper: MetricMapper, key: str) -> tuple[str, dict[str, str]] | str | None:
    name, _, kind = key.partition("|")
    result = mapper.get_mapping(name, TYPES[kind])
    if result is None:
        return None
    if result.mapping.action is Action.DROP:
        return DROP
    return result.name, result.labels


@pytest.mark.parametrize("key", sorted(AIRFLOW_REFERENCE))
def test_every_reference_airflow_name_maps(repo_mapper: MetricMapper, key: str) -> None:
    assert resolve(repo_mapper, key) == AIRFLOW_REFERENCE[key]


@pytest.mark.parametrize("key", sorted(AIRFLOW_MORE))
def test_other_airflow_names_map(repo_mapper: MetricMapper, key: str) -> None:
    assert resolve(repo_mapper, key) == AIRFLOW_MORE[key]


@pytest.mark.parametrize("key", sorted(AIRSWEEP))
def test_every_airsweep_name_maps(repo_mapper: MetricMapper, key: str) -> None:
    assert resolve(repo_mapper, key) == AIRSWEEP[key]


def test_reference_table_matches_shared_reference_file() -> None:
    if not SHARED_REFERENCE.exists():
        pytest.skip(f"{SHARED_REFERENCE} not present on this machine")
    names = {
        line.strip()
        for line in SHARED_REFERENCE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert names == set(AIRFLOW_REFERENCE)


@pytest.mark.parametrize(
    "key",
    [
        "airsweep.trial.started.rf.cpu.cpu|ms",  # wrong type
        "airsweep.trial.duration.rf.cpu|ms",  # wrong shape
        "airsweep.sweep.best_score.s1|c",
        "airsweep.unknown|g",
    ],
)
def test_off_contract_airsweep_names_are_dropped(repo_mapper: MetricMapper, key: str) -> None:
    assert resolve(repo_mapper, key) == DROP


def test_repo_mapping_conventions(repo_mapper: MetricMapper) -> None:
    mapped = [m for m in repo_mapper.mappings if m.action is Action.MAP]
    assert len(mapped) > 60
    for mapping in mapped:
        assert "$" not in mapping.name, mapping.match  # static names: dashboards can rely on them
        assert mapping.help, mapping.match
        assert mapping.match_metric_type is not None, mapping.match
        if mapping.match_metric_type is C:
            assert mapping.name.endswith("_total"), mapping.name
        else:
            assert not mapping.name.endswith("_total"), mapping.name
        if mapping.match_metric_type is T:
            assert mapping.name.endswith("_seconds"), mapping.name
            assert mapping.observer_type is ObserverType.HISTOGRAM, mapping.name
    assert repo_mapper.fallback.observer_type is ObserverType.HISTOGRAM


def test_repo_trial_buckets_span_subsecond_to_tens_of_minutes(repo_mapper: MetricMapper) -> None:
    result = repo_mapper.get_mapping("airsweep.trial.duration.rf.cpu.cpu", T)
    assert result is not None
    buckets = result.mapping.buckets
    assert buckets == tuple(sorted(buckets))
    assert buckets[0] <= 0.1
    assert buckets[-1] >= 1800
    assert sum(1 for b in buckets if 60 <= b <= 3600) >= 4  # resolution where trials live
    sweep = repo_mapper.get_mapping("airsweep.sweep.duration.iris", T)
    assert sweep is not None and sweep.mapping.buckets[-1] >= 4 * 3600
    loop = repo_mapper.get_mapping("airflow.scheduler.scheduler_loop_duration", T)
    assert loop is not None and loop.mapping.buckets[0] <= 0.005


def test_repo_scales_dag_processing_last_duration(repo_mapper: MetricMapper) -> None:
    # Airflow sends this timer in seconds with type ms; scale restores seconds.
    result = repo_mapper.get_mapping("airflow.dag_processing.last_duration.b.f", T)
    assert result is not None and result.mapping.scale == 1000


# --- statsd_exporter semantics -------------------------------------------------------------


def test_glob_star_matches_exactly_one_segment() -> None:
    mapper = mapper_from(
        """
mappings:
  - match: "a.*.c"
    name: "abc"
    labels: {mid: "$1"}
"""
    )
    result = mapper.get_mapping("a.b-b.c", C)
    assert result is not None and (result.name, result.labels) == ("abc", {"mid": "b-b"})
    assert mapper.get_mapping("a.b.b.c", C) is None
    assert mapper.get_mapping("a.c", C) is None
    assert mapper.get_mapping("a.b.d", C) is None


def test_dollar_templates_in_name_and_labels() -> None:
    mapper = mapper_from(
        """
mappings:
  - match: "app.*.*.*"
    name: "app_${2}_total"
    labels: {first: "$1", both: "$1-${3}", bad: "$1_x", out_of_range: "$4"}
"""
    )
    result = mapper.get_mapping("app.web.requests.get", C)
    assert result is not None
    assert result.name == "app_requests_total"
    # "$1_x" reads as a reference named "1_x" and "$4" has no capture: both expand to "".
    assert result.labels == {"first": "web", "both": "web-get", "bad": "", "out_of_range": ""}


def test_first_matching_glob_wins() -> None:
    mapper = mapper_from(
        """
mappings:
  - match: "a.*.c"
    name: "first"
  - match: "a.b.*"
    name: "second"
  - match: "a.b.c"
    name: "third"
"""
    )
    assert mapper.get_mapping("a.b.c", C).name == "first"
    assert mapper.get_mapping("a.b.d", C).name == "second"


def test_globs_are_tried_before_regexes_whatever_the_order() -> None:
    mapper = mapper_from(
        r"""
mappings:
  - match: '^a\.(\w+)$'
    match_type: regex
    name: "regex"
    labels: {rest: "$1"}
  - match: "a.*"
    name: "glob"
"""
    )
    assert mapper.get_mapping("a.b", C).name == "glob"
    regex = mapper.get_mapping("xa.bc", G)
    assert regex is None  # anchored regex does not match


def test_regex_search_groups_and_go_expansion() -> None:
    mapper = mapper_from(
        r"""
mappings:
  - match: 'op_(?P<kind>[a-z]+)__(\w+)'
    match_type: regex
    name: "ops_${1}_total"
    labels: {op: "$2", kind: "${kind}", whole: "$0", cash: "$$1", missing: "${nope}"}
"""
    )
    result = mapper.get_mapping("x.op_ok__Python.y", C)  # unanchored, like Go
    assert result is not None
    assert result.name == "ops_ok_total"
    assert result.labels == {
        "op": "Python",
        "kind": "ok",
        "whole": "op_ok__Python",
        "cash": "$1",
        "missing": "",
    }


def test_match_metric_type_restricts_a_mapping() -> None:
    mapper = mapper_from(
        """
mappings:
  - match: "m.*"
    match_metric_type: gauge
    name: "m_gauge"
  - match: "m.*"
    match_metric_type: observer
    name: "m_seconds"
"""
    )
    assert mapper.get_mapping("m.x", G).name == "m_gauge"
    assert mapper.get_mapping("m.x", T).name == "m_seconds"
    assert mapper.get_mapping("m.x", C) is None


def test_drop_action() -> None:
    mapper = mapper_from(
        """
mappings:
  - {match: "noise.*", action: drop, name: "dropped"}
"""
    )
    result = mapper.get_mapping("noise.x", C)
    assert result is not None and result.mapping.action is Action.DROP


def test_defaults_apply_and_mappings_override() -> None:
    mapper = mapper_from(
        """
defaults:
  observer_type: histogram
  histogram_options: {buckets: [1, 10, 100]}
mappings:
  - match: "default.*"
    name: "d_seconds"
  - match: "own.*"
    name: "o_seconds"
    histogram_options: {buckets: [0.5, 5]}
  - match: "sum.*"
    name: "s_seconds"
    observer_type: summary
    summary_options: {max_age: 1m30s, quantiles: [{quantile: 0.5, error: 0.05}]}
"""
    )
    default = mapper.get_mapping("default.x", T).mapping
    assert (default.observer_type, default.buckets) == (ObserverType.HISTOGRAM, (1, 10, 100))
    assert mapper.get_mapping("own.x", T).mapping.buckets == (0.5, 5)
    summary = mapper.get_mapping("sum.x", T).mapping
    assert summary.observer_type is ObserverType.SUMMARY
    assert summary.quantiles == ((0.5, 0.05),)
    assert summary.summary_max_age == 90
    assert mapper.fallback.buckets == (1, 10, 100)


def test_statsd_exporter_defaults_without_a_defaults_section() -> None:
    mapper = mapper_from('mappings: [{match: "a.*", name: "a"}]')
    mapping = mapper.get_mapping("a.b", T).mapping
    assert mapping.observer_type is ObserverType.SUMMARY
    assert mapping.buckets == DEFAULT_BUCKETS
    assert mapping.quantiles == DEFAULT_QUANTILES
    assert mapper.fallback.observer_type is ObserverType.SUMMARY


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ("airflow.dag_processing.last_duration", "airflow_dag_processing_last_duration"),
        ("dags-folder", "dags_folder"),
        ("foo--bar", "foo_bar"),
        ("a---b", "a_b"),
        ("1abc", "_1abc"),
        ("a b:c", "a_b_c"),
        ("ünï", "_n_"),
        ("already_fine", "already_fine"),
    ],
)
def test_unmatched_names_are_escaped_like_statsd_exporter(name: str, escaped: str) -> None:
    assert escape_metric_name(name) == escaped


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mappings: [{match: 'a.*', name: 'a', bogus: 1}]", "unknown field"),
        ("surprise: 1", "unknown field"),
        ("mappings: [{match: 'a.b*', name: 'a'}]", "invalid match"),
        ("mappings: [{match: 'a.*'}]", "didn't set a metric name"),
        ("mappings: [{match: 'a.*', name: 'a.b'}]", "not a valid name"),
        ("mappings: [{match: 'a.*', name: 'a', labels: {x: '$1'}}]", "invalid label key"),
        ("mappings: [{match: 'a(', match_type: regex, name: 'a'}]", "invalid regex"),
        ("mappings: [{match: 'a.*', name: 'a', action: keep}]", "invalid value"),
        ("mappings: [{match: 'a.*', name: 'a', ttl: 1m}]", "ttl not supported"),
        ("defaults: {glob_disable_ordering: true}", "glob_disable_ordering"),
        ("defaults: {summary_options: {max_age: 60}}", "expected a duration"),
        ("defaults: {summary_options: {max_age: 10 minutes}}", "invalid duration"),
        (
            "mappings: [{match: 'a.*', name: 'a', observer_type: histogram,"
            " summary_options: {max_age: 1m}}]",
            "cannot use histogram observer",
        ),
        (
            "mappings: [{match: 'a.*', name: 'a', observer_type: histogram,"
            " histogram_options: {buckets: [2, 1]}}]",
            "strictly increasing",
        ),
        (
            "mappings: [{match: 'a.*.c', name: 'long'}, {match: 'a.*', name: 'short'}]",
            "can never match",
        ),
        ("mappings: [{match: 'a.*', name: 'x'}, {match: 'a.*', name: 'y'}]", "can never match"),
    ],
)
def test_invalid_or_unsupported_mappings_are_rejected(text: str, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        mapper_from(text)


def test_shorter_match_before_longer_one_is_accepted() -> None:
    mapper = mapper_from(
        "mappings: [{match: 'a.b', name: 'short'}, {match: 'a.b.*', name: 'long'}]"
    )
    assert mapper.get_mapping("a.b", C).name == "short"
    assert mapper.get_mapping("a.b.c", C).name == "long"


def test_same_match_for_different_metric_types_is_accepted() -> None:
    mapper = mapper_from(
        """
mappings:
  - {match: "x.*", match_metric_type: counter, name: "x_total"}
  - {match: "x.*", match_metric_type: gauge, name: "x"}
"""
    )
    assert mapper.get_mapping("x.a", C).name == "x_total"
    assert mapper.get_mapping("x.a", G).name == "x"
