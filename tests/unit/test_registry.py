"""The model registry on a real (embedded) Postgres: promotion, retries, bad input,
atomicity, concurrent sweeps and the import of the old JSON index."""

import math
import random
import threading

import pytest
import sqlalchemy as sa

from airsweep import registry as registry_module
from airsweep.registry import LEGACY_INDEX, ModelRegistry, RegistryError
from airsweep.registry_schema import IMPORTS


def card(run_key, test_score, metric="accuracy", direction="maximize", fingerprint="fp1"):
    return {
        "run_key": run_key,
        "study_name": f"hpo__{run_key}",
        "model": "xgboost",
        "params": {"max_depth": 3},
        "metric": metric,
        "direction": direction,
        "cv_score": test_score - 0.01,
        "test_score": test_score,
        "dataset": {
            "fingerprint": fingerprint,
            "name": "iris",
            "task_type": "classification",
            "target": "target",
        },
        "model_uri": f"file:///m/{run_key}/model.joblib",
        "native_model_uri": None,
        "card_uri": f"file:///m/{run_key}/card.json",
    }


@pytest.fixture
def registry(postgres_url, store):
    return ModelRegistry(postgres_url, store)


def test_champion_is_replaced_only_by_a_strictly_better_test_score(registry):
    assert registry.champion("fp1", "accuracy") is None
    assert registry.register(card("a", 0.90)) is True
    assert registry.register(card("b", 0.85)) is False
    assert registry.register(card("c", 0.90)) is False  # a tie keeps the incumbent
    assert registry.champion("fp1", "accuracy")["run_key"] == "a"
    assert registry.register(card("d", 0.95)) is True
    assert registry.champion("fp1", "accuracy")["run_key"] == "d"
    assert [m["run_key"] for m in registry.list_models()] == ["a", "b", "c", "d"]
    entry = registry.get("b")
    assert entry["test_score"] == 0.85 and entry["params"] == {"max_depth": 3}
    assert (entry["fingerprint"], entry["task_type"], entry["target"]) == (
        "fp1",
        "classification",
        "target",
    )
    assert entry["registered_at"].endswith("+00:00")


def test_minimized_metrics_promote_lower_scores(registry):
    registry.register(card("a", 3.0, metric="rmse", direction="minimize"))
    assert registry.register(card("b", 4.0, metric="rmse", direction="minimize")) is False
    assert registry.register(card("c", 2.5, metric="rmse", direction="minimize")) is True
    assert registry.champion("fp1", "rmse")["run_key"] == "c"


def test_champions_are_per_fingerprint_and_metric(registry):
    registry.register(card("a", 0.9))
    assert registry.register(card("c", 0.1, metric="f1_macro")) is True
    assert registry.register(card("b", 0.1, fingerprint="fp2")) is True
    assert registry.champion("fp1", "accuracy")["run_key"] == "a"
    assert registry.champion("fp2", "accuracy")["run_key"] == "b"
    champions = registry.champions()
    assert [(c["metric"], c["fingerprint"], c["run_key"]) for c in champions] == [
        ("accuracy", "fp1", "a"),
        ("accuracy", "fp2", "b"),
        ("f1_macro", "fp1", "c"),
    ]
    assert all(c["since"].endswith("+00:00") for c in champions)


def test_registering_a_run_again_replaces_its_entry_and_keeps_it_champion(registry):
    registry.register(card("a", 0.9))
    registry.register(card("b", 0.8))
    retried = {**card("a", 0.9), "card_uri": "file:///m/a/card-2.json"}
    assert registry.register(retried) is True
    assert [m["run_key"] for m in registry.list_models()] == ["b", "a"]
    assert registry.champion("fp1", "accuracy")["card_uri"] == "file:///m/a/card-2.json"
    assert registry.register(card("b", 0.8)) is False
    with pytest.raises(KeyError, match="no registered model for run 'zzz'"):
        registry.get("zzz")


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("test_score", math.nan, r"^test_score: expected a finite number, got nan$"),
        ("test_score", "0.9", r"^test_score: expected a finite number, got '0.9'$"),
        ("cv_score", None, r"^cv_score: missing$"),
        ("direction", "up", r"^direction: expected 'maximize' or 'minimize', got 'up'$"),
        ("dataset.fingerprint", "", r"^dataset.fingerprint: expected a non-empty string"),
        ("dataset", None, r"^dataset.fingerprint: missing$"),
        ("params", [1], r"^params: expected an object, got \[1\]$"),
    ],
)
def test_a_bad_card_is_refused_naming_the_field_and_writes_nothing(registry, path, value, message):
    bad = card("a", 0.9)
    *parents, leaf = path.split(".")
    target = bad
    for part in parents:
        target[part] = dict(target[part])
        target = target[part]
    target[leaf] = value
    with pytest.raises(RegistryError, match=message):
        registry.register(bad)
    assert registry.list_models() == []


def test_a_run_key_cannot_move_to_another_task(registry):
    registry.register(card("a", 0.9))
    with pytest.raises(RegistryError, match=r"^run_key: 'a' is registered for fingerprint fp1"):
        registry.register(card("a", 0.95, fingerprint="fp2"))
    assert registry.get("a")["fingerprint"] == "fp1"
    assert registry.champion("fp2", "accuracy") is None


def test_a_failure_while_promoting_leaves_neither_entry_nor_champion(registry, monkeypatch):
    registry.register(card("a", 0.9))

    def crash(*args, **kwargs):
        raise OSError("connection lost")

    monkeypatch.setattr(registry_module, "_set_champion", crash)
    with pytest.raises(OSError, match="connection lost"):
        registry.register(card("b", 0.99))
    monkeypatch.undo()
    assert [m["run_key"] for m in registry.list_models()] == ["a"]
    assert registry.champion("fp1", "accuracy")["run_key"] == "a"


def test_the_registry_needs_a_postgres_url(store, tmp_path):
    with pytest.raises(RegistryError, match=r"^registry url: .* got 'sqlite'$"):
        ModelRegistry(f"sqlite:///{tmp_path}/registry.db", store)
    with pytest.raises(RegistryError, match=r"^registry url: .* got ''$"):
        ModelRegistry("", store)


def test_concurrent_sweeps_lose_no_entry_and_promote_only_the_best(postgres_url, store):
    """Registrants of one task start together on a fresh database (schema included)."""
    rounds, per_round = 4, 8
    scores = [i / 10 for i in range(per_round)]
    opened = threading.Barrier(per_round)
    go = threading.Barrier(per_round)
    promoted: dict[str, bool] = {}
    errors: list[BaseException] = []

    def sweep(worker: int, orders: list[list[float]]) -> None:
        try:
            registry = ModelRegistry(postgres_url, store)
            opened.wait()
            for round_, order in enumerate(orders):
                go.wait()
                run_key = f"fp{round_}-r{order[worker]}"
                promoted[run_key] = registry.register(
                    card(run_key, order[worker], fingerprint=f"fp{round_}")
                )
        except BaseException as exc:
            errors.append(exc)
            opened.abort()
            go.abort()

    orders = [random.Random(round_).sample(scores, per_round) for round_ in range(rounds)]
    threads = [threading.Thread(target=sweep, args=(w, orders)) for w in range(per_round)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    registry = ModelRegistry(postgres_url, store)
    assert len(registry.list_models()) == rounds * per_round
    for round_ in range(rounds):
        best = f"fp{round_}-r{max(scores)}"
        assert registry.champion(f"fp{round_}", "accuracy")["run_key"] == best
        assert promoted[best] is True


def old_index():
    """An index as airsweep kept it in the artifact store before the registry moved."""
    entries = {}
    for run_key, score, when in (("a", 0.9, "2026-10-01T10:00:00+00:00"), ("b", 0.8, None)):
        entry = {key: value for key, value in card(run_key, score).items() if key != "dataset"}
        del entry["params"], entry["native_model_uri"]
        entries[run_key] = {
            **entry,
            "fingerprint": "fp1",
            "dataset_name": "iris",
            "registered_at": when or "2026-10-02T10:00:00.123456+00:00",
        }
    return {"version": 1, "models": entries, "champions": {"fp1/accuracy": "a"}}


def test_the_old_json_index_is_imported_once(postgres_url, store):
    store.write_json(store.uri(*LEGACY_INDEX), old_index())
    registry = ModelRegistry(postgres_url, store)
    assert [m["run_key"] for m in registry.list_models()] == ["a", "b"]
    imported = registry.get("a")
    assert imported["registered_at"] == "2026-10-01T10:00:00+00:00"
    assert (imported["task_type"], imported["params"]) == (None, None)
    assert registry.champion("fp1", "accuracy")["run_key"] == "a"
    assert registry.register(card("c", 0.85)) is False  # the imported champion competes
    assert registry.register(card("d", 0.95)) is True

    ModelRegistry(postgres_url, store)  # opened again: nothing imported twice
    assert [m["run_key"] for m in registry.list_models()] == ["a", "b", "c", "d"]
    assert registry.champion("fp1", "accuracy")["run_key"] == "d"
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(IMPORTS.c.source, IMPORTS.c.models)).all()
    engine.dispose()
    assert rows == [(store.uri(*LEGACY_INDEX), 2)]


def test_an_imported_champion_does_not_replace_one_already_registered(
    postgres_url, store, tmp_path
):
    registry = ModelRegistry(postgres_url, store)
    registry.register(card("x", 0.5))
    other = type(store)((tmp_path / "other-artifacts").as_uri())
    other.write_json(other.uri(*LEGACY_INDEX), old_index())
    ModelRegistry(postgres_url, other)
    assert len(registry.list_models()) == 3
    assert registry.champion("fp1", "accuracy")["run_key"] == "x"


def test_a_bad_old_index_is_refused_naming_the_field_and_imports_nothing(postgres_url, store):
    index = old_index()
    index["models"]["b"]["test_score"] = None
    store.write_json(store.uri(*LEGACY_INDEX), index)
    with pytest.raises(RegistryError, match=r"index\.json: models\.b\.test_score: missing$"):
        ModelRegistry(postgres_url, store)
    index["champions"] = {"fp1/accuracy": "zzz"}
    index["models"]["b"]["test_score"] = 0.8
    store.write_json(store.uri(*LEGACY_INDEX), index)
    with pytest.raises(RegistryError, match=r"champions\.fp1/accuracy: 'zzz' is not a model"):
        ModelRegistry(postgres_url, store)
    store.write_bytes(store.uri(*LEGACY_INDEX), b'{"models": {')
    with pytest.raises(RegistryError, match=r"index\.json: not a JSON registry index \("):
        ModelRegistry(postgres_url, store)
    store.write_json(store.uri(*LEGACY_INDEX), old_index())  # fixed: now it imports
    assert len(ModelRegistry(postgres_url, store).list_models()) == 2
