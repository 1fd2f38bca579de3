import os

import pandas as pd
import pytest

from airsweep.artifacts import ArtifactStore, safe_key


def test_uri_joins_parts_under_the_root(tmp_path):
    store = ArtifactStore(tmp_path.as_uri() + "/")
    assert store.uri("runs", "/k/", "model.joblib") == f"{tmp_path.as_uri()}/runs/k/model.joblib"
    assert store.local_path(store.uri("a")) == tmp_path / "a"
    assert ArtifactStore("memory://bucket").local_path("memory://bucket/a") is None


def test_round_trips_bytes_json_and_dataframes(store):
    frame = pd.DataFrame({"x": [1.5, None], "s": ["a", None]})
    assert not store.exists(store.uri("d.json"))
    store.write_bytes(store.uri("deep", "b.bin"), b"\x00\x01")
    store.write_json(store.uri("d.json"), {"a": [1, 2], "b": None})
    store.write_dataframe(store.uri("f.parquet"), frame)
    assert store.read_bytes(store.uri("deep", "b.bin")) == b"\x00\x01"
    assert store.read_json(store.uri("d.json")) == {"a": [1, 2], "b": None}
    pd.testing.assert_frame_equal(store.read_dataframe(store.uri("f.parquet")), frame)
    assert store.exists(store.uri("d.json"))


def test_object_store_uris_work_without_local_paths():
    store = ArtifactStore("memory://airsweep-test")
    store.write_json(store.uri("x.json"), {"k": 1})
    assert store.read_json(store.uri("x.json")) == {"k": 1}


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(store, monkeypatch):
    uri = store.uri("card.json")
    store.write_json(uri, {"version": 1})

    def crash(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        store.write_json(uri, {"version": 2})
    monkeypatch.undo()
    assert store.read_json(uri) == {"version": 1}
    assert os.listdir(store.local_path(uri).parent) == ["card.json"]


def test_nan_is_refused_instead_of_writing_invalid_json(store):
    with pytest.raises(ValueError):
        store.write_json(store.uri("bad.json"), {"score": float("nan")})
    assert not store.exists(store.uri("bad.json"))


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("manual__2026-11-25T11:58:29+00:00", "manual__2026-11-25T11_58_29_00_00"),
        ("../../etc", "etc"),
        ("", "_"),
    ],
)
def test_safe_key(raw, key):
    assert safe_key(raw) == key
