from __future__ import annotations

from airsweep.settings import Settings


def test_gpu_workers_take_their_own_thread_count():
    env = {"AIRSWEEP_THREADS_PER_SLOT": "2", "AIRSWEEP_GPU_THREADS_PER_SLOT": "8"}
    gpu = Settings.from_env({**env, "AIRSWEEP_WORKER_QUEUES": "gpu"})
    cpu = Settings.from_env({**env, "AIRSWEEP_WORKER_QUEUES": "cpu"})
    assert (gpu.threads_per_slot, cpu.threads_per_slot) == (8, 2)
    assert gpu.worker_queues == ("gpu",)


def test_artifacts_default_under_the_state_dir(tmp_path):
    settings = Settings.from_env({"AIRSWEEP_HOME": str(tmp_path)})
    assert settings.artifact_uri == (tmp_path / "artifacts").as_uri()
