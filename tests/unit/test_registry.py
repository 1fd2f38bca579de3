import os
import threading

import pytest

from airsweep.registry import ModelRegistry


def card(run_key, test_score, metric="accuracy", direction="maximize", fingerprint="fp1"):
    return {
        "run_key": run_key,
        "study_name": f"hpo__{run_key}",
        "model": "xgboost",
        "metric": metric,
        "direction": direction,
        "cv_score": test_score - 0.01,
        "test_score": test_score,
        "dataset": {"fingerprint": fingerprint, "name": "iris"},
        "model_uri": f"file:///m/{run_key}/model.joblib",
        "card_uri": f"file:///m/{run_key}/card.json",
    }


@pytest.fixture
def registry(store):
    return ModelRegistry(store)


def test_champion_is_replaced_only_by_a_strictly_better_test_score(registry):
    assert registry.champion("fp1", "accuracy") is None
    assert registry.register(card("a", 0.90)) is True
    assert registry.register(card("b", 0.85)) is False
    assert registry.register(card("c", 0.90)) is False  # a tie keeps the incumbent
    assert registry.champion("fp1", "accuracy")["run_key"] == "a"
    assert registry.register(card("d", 0.95)) is True
    assert registry.champion("fp1", "accuracy")["run_key"] == "d"
    assert [m["run_key"] for m in registry.list_models()] == ["a", "b", "c", "d"]
    assert registry.get("b")["test_score"] == 0.85


def test_minimized_metrics_promote_lower_scores(registry):
    registry.register(card("a", 3.0, metric="rmse", direction="minimize"))
    assert registry.register(card("b", 4.0, metric="rmse", direction="minimize")) is False
    assert registry.register(card("c", 2.5, metric="rmse", direction="minimize")) is True
    assert registry.champion("fp1", "rmse")["run_key"] == "c"


def test_champions_are_per_fingerprint_and_metric(registry):
    registry.register(card("a", 0.9))
    assert registry.register(card("b", 0.1, fingerprint="fp2")) is True
    assert registry.register(card("c", 0.1, metric="f1_macro")) is True
    assert registry.champion("fp1", "accuracy")["run_key"] == "a"
    assert registry.champion("fp2", "accuracy")["run_key"] == "b"


def test_registering_a_run_again_replaces_its_entry(registry):
    registry.register(card("a", 0.9))
    assert registry.register(card("a", 0.9)) is True
    assert len(registry.list_models()) == 1
    with pytest.raises(KeyError, match="no registered model for run 'zzz'"):
        registry.get("zzz")


def test_a_crash_while_writing_leaves_the_index_unchanged(registry, store, monkeypatch):
    registry.register(card("a", 0.9))
    path = store.local_path(registry.index_uri)
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        registry.register(card("b", 0.99))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == ["index.json", "index.lock"]
    assert registry.champion("fp1", "accuracy")["run_key"] == "a"


def test_concurrent_writers_do_not_lose_entries(registry, store):
    threads = [
        threading.Thread(target=ModelRegistry(store).register, args=(card(f"r{i}", i / 10),))
        for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(m["run_key"] for m in registry.list_models()) == [f"r{i}" for i in range(8)]
    assert registry.champion("fp1", "accuracy")["run_key"] == "r7"
