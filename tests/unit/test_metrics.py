import pytest

from airsweep.metrics import Metrics, segment, sweep_id


def test_every_metric_name_matches_the_public_contract(metrics, stats):
    metrics.trial_started("xgboost", "gpu", "cpu")
    metrics.trial_finished("complete", "xgboost", "gpu", "cpu")
    metrics.trial_finished("fail", "random_forest", "cpu", "cpu")
    metrics.trial_finished("pruned", "random_forest", "cpu", "cpu")
    metrics.trial_timed_out("random_forest", "cpu", "cpu")
    metrics.trial_duration("xgboost", "gpu", "gpu", 1234.5)
    metrics.trial_score("hpo_sweep__manual__2026-01-01T00:00:00+00:00", "xgboost", 0.97)
    metrics.best_score("hpo_sweep__manual__2026-01-01T00:00:00+00:00", -0.5)
    metrics.trial_lost("cpu")
    metrics.runner_started("cpu", "worker-cpu-2")
    metrics.runner_finished("cpu", "worker-cpu-2", idle=True, ms=20.0)
    metrics.budget_left("hpo_sweep__manual__2026-01-01T00:00:00+00:00", 7)
    metrics.pool_slots("cpu_trials", 4)
    metrics.live_slots("cpu", 4)
    metrics.prepare_duration("breast_cancer", 30.0)
    metrics.sweep_duration("housing", 40.0)
    metrics.time_to_first_trial("housing", 50.0)
    metrics.sweep_finished("success")
    metrics.sweep_finished("failed")
    sweep = "hpo_sweep__manual__2026-01-01T00_00_00_00_00"
    assert stats.calls == [
        ("incr", "airsweep.trial.started.xgboost.gpu.cpu", 1),
        ("incr", "airsweep.trial.finished.complete.xgboost.gpu.cpu", 1),
        ("incr", "airsweep.trial.finished.fail.random_forest.cpu.cpu", 1),
        ("incr", "airsweep.trial.finished.pruned.random_forest.cpu.cpu", 1),
        ("incr", "airsweep.trial.timed_out.random_forest.cpu.cpu", 1),
        ("timing", "airsweep.trial.duration.xgboost.gpu.gpu", 1234.5),
        ("gauge", f"airsweep.trial.score.{sweep}.xgboost", 0.97),
        ("gauge", f"airsweep.sweep.best_score.{sweep}", -0.5),
        ("incr", "airsweep.trial.lost.cpu", 1),
        ("incr", "airsweep.runner.started.cpu.worker-cpu-2", 1),
        ("incr", "airsweep.trial.lost.cpu", 0),
        ("incr", "airsweep.runner.finished.cpu.worker-cpu-2.idle", 0),
        ("incr", "airsweep.runner.finished.cpu.worker-cpu-2.idle", 1),
        ("timing", "airsweep.runner.duration.cpu", 20.0),
        ("gauge", f"airsweep.sweep.budget_left.{sweep}", 7),
        ("gauge", "airsweep.pool.slots.cpu_trials", 4),
        ("gauge", "airsweep.workers.live_slots.cpu", 4),
        ("timing", "airsweep.data.prepare_duration.breast_cancer", 30.0),
        ("timing", "airsweep.sweep.duration.housing", 40.0),
        ("timing", "airsweep.sweep.time_to_first_trial.housing", 50.0),
        ("incr", "airsweep.sweep.finished.success", 1),
        ("incr", "airsweep.sweep.finished.failed", 1),
    ]


def test_segments_are_sanitized(metrics, stats):
    metrics.trial_started("my.model/v2", "q:1", "gpu 0")
    assert stats.names() == ["airsweep.trial.started.my_model_v2.q_1.gpu_0"]
    assert segment("ok-Name_9") == "ok-Name_9"
    assert segment("") == "_"


def test_long_sweep_ids_are_shortened_but_stay_unique():
    a = sweep_id("hpo_sweep__" + "x" * 100 + "a")
    b = sweep_id("hpo_sweep__" + "x" * 100 + "b")
    assert len(a) == len(b) == 64
    assert a != b
    assert sweep_id("short") == "short"


def test_unknown_states_are_refused(metrics):
    with pytest.raises(ValueError, match="state must be one of"):
        metrics.trial_finished("done", "xgboost", "cpu", "cpu")
    with pytest.raises(ValueError, match="state must be one of"):
        metrics.sweep_finished("ok")


def test_client_errors_never_raise():
    class Broken:
        def incr(self, name, value):
            raise OSError("network unreachable")

    Metrics(client=Broken()).sweep_finished("success")  # must not raise


def test_default_client_is_created_lazily_from_the_settings(monkeypatch):
    monkeypatch.setenv("AIRSWEEP_STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRSWEEP_STATSD_PORT", "9")
    metrics = Metrics(prefix="custom")
    assert metrics._client is None
    metrics.sweep_finished("success")
    assert metrics._client._addr == ("127.0.0.1", 9)
