import gzip

import numpy as np
import pandas as pd
import pytest

from airsweep.config import SweepConfig
from airsweep.data import DatasetError, infer_task_type, load_split, prepare_dataset
from airsweep.models.pipeline import build_pipeline


def prepare(store, **params):
    return prepare_dataset(SweepConfig.from_params(params), store, "run-1")


@pytest.fixture
def messy_csv(tmp_path):
    """A small real-looking CSV: missing numbers, strings with gaps, a string target."""
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype(float),
            "income": rng.normal(50_000, 10_000, n),
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "member": rng.choice([True, False], n),
            "churn": np.where(rng.random(n) > 0.5, "yes", "no"),
        }
    )
    frame.loc[[1, 5, 9], "age"] = np.nan
    frame.loc[[2, 7], "city"] = np.nan
    path = tmp_path / "customers.csv"
    frame.to_csv(path, index=False)
    return path


def test_builtin_classification_dataset(store):
    manifest = prepare(store, dataset="iris", models=["random_forest"], cv_folds=3)
    assert manifest["task_type"] == "classification"
    assert (manifest["metric"], manifest["direction"]) == ("accuracy", "maximize")
    assert (manifest["n_rows"], manifest["n_train"], manifest["n_test"]) == (150, 120, 30)
    assert manifest["classes"] == [0, 1, 2]
    assert manifest["categorical"] == []
    assert len(manifest["features"]) == 4
    assert store.read_json(manifest["manifest_uri"]) == manifest
    X, y = load_split(manifest, "test")
    assert list(X.columns) == manifest["features"]
    assert y.value_counts().to_dict() == {0: 10, 1: 10, 2: 10}  # stratified


def test_builtin_regression_dataset(store):
    manifest = prepare(store, dataset="diabetes", models=["ridge"])
    assert manifest["task_type"] == "regression"
    assert (manifest["metric"], manifest["direction"]) == ("rmse", "minimize")
    assert manifest["classes"] is None
    assert manifest["n_train"] + manifest["n_test"] == 442


@pytest.mark.parametrize(
    ("synthetic", "task_type", "classes"),
    [
        ({"rows": 200, "features": 6, "classes": 3}, "classification", [0, 1, 2]),
        ({"rows": 120, "features": 4, "classes": 0, "noise": 0.5}, "regression", None),
    ],
)
def test_synthetic_dataset(store, synthetic, task_type, classes):
    manifest = prepare(store, dataset="synthetic", synthetic=synthetic, test_size=0.25)
    assert manifest["task_type"] == task_type
    assert manifest["classes"] == classes
    assert manifest["n_rows"] == synthetic["rows"]
    assert manifest["features"] == [f"x{i}" for i in range(synthetic["features"])]
    X, _ = load_split(manifest, "train")
    assert X.shape == (synthetic["rows"] * 3 // 4, synthetic["features"])


def test_csv_with_missing_values_and_strings_trains_end_to_end(store, messy_csv):
    manifest = prepare(store, dataset=str(messy_csv), target="churn", models=["random_forest"])
    assert manifest["dataset_name"] == "customers"
    assert manifest["task_type"] == "classification"
    assert manifest["classes"] == ["no", "yes"]
    assert manifest["categorical"] == ["city", "member"]
    X_train, y_train = load_split(manifest, "train")
    X_test, y_test = load_split(manifest, "test")
    assert X_train["age"].isna().any() or X_test["age"].isna().any()
    X_test = X_test.copy()
    X_test.loc[X_test.index[0], "city"] = "marseille"  # unseen category
    for model in ("random_forest", "xgboost", "logistic_regression"):
        pipeline = build_pipeline(manifest, model, {}, n_jobs=1, device="cpu")
        pipeline.fit(X_train, y_train)
        assert set(pipeline.predict(X_test)) <= {"no", "yes"}


def test_gzipped_csv_and_parquet_files(store, tmp_path):
    frame = pd.DataFrame(
        {"a": np.arange(40.0), "b": np.arange(40.0) ** 0.5, "y": np.arange(40) * 1.5}
    )
    with gzip.open(tmp_path / "d.csv.gz", "wt") as handle:
        frame.to_csv(handle, index=False)
    frame.to_parquet(tmp_path / "d.parquet")
    from_csv = prepare(store, dataset=str(tmp_path / "d.csv.gz"), target="y")
    from_parquet = prepare(store, dataset=(tmp_path / "d.parquet").as_uri(), target="y")
    assert from_csv["task_type"] == from_parquet["task_type"] == "regression"
    assert from_csv["fingerprint"] == from_parquet["fingerprint"]


@pytest.mark.parametrize(
    ("values", "task_type"),
    [
        (["a", "b", "a"], "classification"),
        ([True, False, True], "classification"),
        ([0, 1, 2, 1, 0], "classification"),
        ([1.0, 2.0, 1.0], "classification"),
        (list(range(100)), "regression"),
        ([0.5, 1.25, 3.0], "regression"),
    ],
)
def test_task_type_inference(values, task_type):
    assert infer_task_type(pd.Series(values)) == task_type


def test_an_explicit_metric_decides_an_ambiguous_target(store, tmp_path):
    frame = pd.DataFrame({"x": np.arange(50.0), "y": np.arange(50) % 5})
    frame.to_csv(tmp_path / "t.csv", index=False)
    auto = prepare(store, dataset=str(tmp_path / "t.csv"), target="y")
    forced = prepare(store, dataset=str(tmp_path / "t.csv"), target="y", metric="mae")
    assert auto["task_type"] == "classification"
    assert (forced["task_type"], forced["metric"]) == ("regression", "mae")


def test_fingerprint_is_stable_and_content_sensitive(store, tmp_path):
    frame = pd.DataFrame({"x": np.arange(30.0), "y": np.arange(30) % 2})
    frame.to_csv(tmp_path / "a.csv", index=False)
    changed = frame.copy()
    changed.loc[3, "x"] = 99.0
    changed.to_csv(tmp_path / "b.csv", index=False)
    first = prepare(store, dataset=str(tmp_path / "a.csv"), target="y")["fingerprint"]
    again = prepare(store, dataset=str(tmp_path / "a.csv"), target="y")["fingerprint"]
    edited = prepare(store, dataset=str(tmp_path / "b.csv"), target="y")["fingerprint"]
    reseeded = prepare(store, dataset=str(tmp_path / "a.csv"), target="y", seed=7)["fingerprint"]
    assert first == again
    assert len({first, edited, reseeded}) == 3
    assert len(first) == 64


def test_fingerprint_names_the_target_and_task_type(store, tmp_path):
    frame = pd.DataFrame({"price": np.arange(40.0), "area": np.arange(40.0)[::-1] * 3})
    frame.to_csv(tmp_path / "houses.csv", index=False)
    dataset = str(tmp_path / "houses.csv")
    price = prepare(store, dataset=dataset, target="price", task_type="regression")
    area = prepare(store, dataset=dataset, target="area", task_type="regression")
    assert price["fingerprint"] != area["fingerprint"]


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    return str(path)


@pytest.mark.parametrize(
    ("name", "content", "params", "message"),
    [
        ("m.csv", "a,b\n1,2\n3,4\n", {"target": "y"}, "target: column 'y' not found in"),
        ("e.csv", "", {"target": "y"}, "dataset: '{path}' is empty"),
        ("h.csv", "a,y\n", {"target": "y"}, "dataset: '{path}' has no rows"),
        ("s.csv", "a,y\n" + "1,k\n" * 10, {"target": "y"}, "target: 'y' has a single class ('k')"),
        (
            "f.csv",
            "a,y\n" + "1,p\n" * 10 + "2,q\n" * 3,
            {"target": "y", "cv_folds": 3},
            "dataset: too few rows for cv_folds=3: class 'q' has 3 row(s), needs at least 4",
        ),
        (
            "r.csv",
            "a,y\n" + "".join(f"{i},{i * 0.5}\n" for i in range(6)),
            {"target": "y", "cv_folds": 3},
            "dataset: too few rows for cv_folds=3: 6 row(s), needs at least 7",
        ),
        (
            "n.csv",
            "a,y\n1,\n2,\n3,\n",
            {"target": "y"},
            "target: column 'y' has no value in any of the 3 rows",
        ),
        (
            "m.csv",
            "a,y\n1,p\n2,\n3,q\n",
            {"target": "y"},
            "dataset: too few rows for cv_folds=3",
        ),
        ("o.csv", "y\np\nq\n", {"target": "y"}, "dataset: '{path}' has no feature columns"),
        ("g.parquet", b"\x00garbage\xff" * 10, {"target": "y"}, "dataset: cannot read '{path}'"),
        (
            "t.csv",
            "a,y\n" + "1,p\n2,q\n" * 10,
            {"target": "y", "task_type": "regression", "models": ["ridge"]},
            "target: regression needs a numeric target",
        ),
    ],
)
def test_unusable_data_raises_a_one_line_reason(store, tmp_path, name, content, params, message):
    path = write(tmp_path, name, content)
    with pytest.raises(DatasetError) as info:
        prepare(store, dataset=path, **params)
    text = str(info.value)
    assert text.startswith(message.format(path=path)), text
    assert "\n" not in text


def test_missing_file_is_reported(store, tmp_path):
    path = str(tmp_path / "absent.csv")
    with pytest.raises(DatasetError, match=r"^dataset: '.*absent\.csv' does not exist$"):
        prepare(store, dataset=path, target="y")


def test_rows_without_a_target_are_dropped_and_counted(store, tmp_path, caplog):
    rows = [f"{i},{i % 7}.5,{['Adelie', 'Gentoo', ''][i % 3]}" for i in range(60)]
    path = write(tmp_path, "penguins.csv", "bill,flipper,species\n" + "\n".join(rows) + "\n")
    with caplog.at_level("WARNING", logger="airsweep.cleaning"):
        manifest = prepare(store, dataset=path, target="species")
    assert manifest["dropped_rows"] == {"missing_target": 20}
    assert manifest["n_rows"] == 40 and manifest["n_train"] + manifest["n_test"] == 40
    assert manifest["classes"] == ["Adelie", "Gentoo"]
    assert "dropped 20 of 60 rows whose target 'species' is missing" in caplog.text


def test_infinite_regression_targets_count_as_missing(store, tmp_path):
    rows = [f"{i},{i * 0.5}" for i in range(30)] + ["31,inf", "32,-inf"]
    path = write(tmp_path, "r.csv", "a,y\n" + "\n".join(rows) + "\n")
    manifest = prepare(store, dataset=path, target="y")
    assert manifest["dropped_rows"] == {"missing_target": 2}
    assert manifest["n_rows"] == 30


def penguins_frame(n=60):
    """Penguins-like rows: numbers, an island string, a species every third row missing."""
    rng = np.random.default_rng(1)
    species = np.array(["Adelie", "Gentoo", None], dtype=object)[np.arange(n) % 3]
    return pd.DataFrame(
        {
            "bill_length": rng.normal(44.0, 5.0, n).round(1),
            "flipper_length": rng.normal(200.0, 14.0, n).round(1),
            "island": rng.choice(["Biscoe", "Dream", "Torgersen"], n),
            "species": species,
        }
    )


def test_a_messy_csv_is_cleaned_and_every_change_counted(store, tmp_path, caplog):
    frame = penguins_frame()
    frame["bill_length"] = frame["bill_length"].astype(object)
    frame.loc[[0, 4], "bill_length"] = "inf"
    frame.loc[[2, 5, 7], "bill_length"] = "-inf"  # rows 2 and 5 have no species: not counted
    frame["comments"] = None
    text = frame.to_csv(index=False)
    header, body = text.split("\n", 1)
    text = f"{header},island\n" + body.replace("\n", ",ignored\n")
    path = write(tmp_path, "penguins.csv", text)
    with caplog.at_level("WARNING", logger="airsweep.cleaning"):
        manifest = prepare(store, dataset=path, target="species")
    assert manifest["dropped_rows"] == {"missing_target": 20}
    assert manifest["dropped_columns"] == {"duplicate": ["island"], "all_missing": ["comments"]}
    assert manifest["infinite_values"] == {"bill_length": 3}
    assert manifest["features"] == ["bill_length", "flipper_length", "island"]
    assert manifest["categorical"] == ["island"]
    X, _ = load_split(manifest, "train")
    assert set(X["island"]) <= {"Biscoe", "Dream", "Torgersen"}  # the first island kept
    assert not np.isinf(X["bill_length"]).any()
    for logged in (
        "dropped 1 column(s) whose name repeats an earlier one (the first is kept): island",
        "dropped 20 of 60 rows whose target 'species' is missing",
        "3 infinite value(s) treated as missing (bill_length: 3)",
        "dropped 1 column(s) without any value: comments",
    ):
        assert logged in caplog.text


def test_a_clean_dataset_reports_nothing_dropped(store):
    manifest = prepare(store, dataset="iris", models=["random_forest"])
    assert manifest["dropped_rows"] == {"missing_target": 0}
    assert manifest["dropped_columns"] == {"duplicate": [], "all_missing": []}
    assert manifest["infinite_values"] == {}


def test_a_column_empty_once_rows_without_target_are_dropped_is_dropped(store, tmp_path):
    rows = [f"{i},{'' if i % 3 else i},{'' if i % 3 == 0 else 'ab'[i % 2]}" for i in range(60)]
    path = write(tmp_path, "late.csv", "a,b,y\n" + "\n".join(rows) + "\n")
    manifest = prepare(store, dataset=path, target="y")
    assert manifest["dropped_rows"] == {"missing_target": 20}
    assert manifest["dropped_columns"]["all_missing"] == ["b"]
    assert manifest["features"] == ["a"]


def test_cleaning_gives_the_fingerprint_of_the_clean_frame(store, tmp_path):
    clean = penguins_frame().dropna()
    clean.to_csv(tmp_path / "clean.csv", index=False)
    messy = clean.copy()
    messy.insert(1, "empty", np.nan)
    messy["bill_length"] = messy["bill_length"].astype(object)
    messy.loc[messy.index[3], "bill_length"] = "inf"
    nan_instead = clean.copy()
    nan_instead.loc[nan_instead.index[3], "bill_length"] = np.nan
    messy.to_csv(tmp_path / "messy.csv", index=False)
    nan_instead.to_csv(tmp_path / "nan.csv", index=False)

    def fingerprint_of(name):
        return prepare(store, dataset=str(tmp_path / name), target="species")["fingerprint"]

    messy_fingerprint = fingerprint_of("messy.csv")
    assert messy_fingerprint == fingerprint_of("messy.csv")  # stable
    assert messy_fingerprint == fingerprint_of("nan.csv")  # inf is missing, an empty column gone
    assert messy_fingerprint != fingerprint_of("clean.csv")  # a value changed


def test_a_semicolon_latin1_csv_with_decimal_commas_reads_like_a_plain_csv(store, tmp_path):
    frame = penguins_frame().dropna()
    frame["island"] = frame["island"].str.replace("Dream", "Rêve")
    frame.to_csv(tmp_path / "plain.csv", index=False)
    european = frame.to_csv(index=False, sep=";", decimal=",")
    european = european.replace("Torgersen", "n/d")
    (tmp_path / "european.csv").write_bytes(european.encode("latin-1"))
    plain_frame = frame.copy()
    plain_frame["island"] = plain_frame["island"].replace("Torgersen", None)
    plain_frame.to_csv(tmp_path / "plain.csv", index=False)
    options = {"sep": ";", "decimal": ",", "encoding": "latin-1", "na_values": ["n/d"]}
    european_manifest = prepare(
        store, dataset=str(tmp_path / "european.csv"), target="species", csv_options=options
    )
    plain = prepare(store, dataset=str(tmp_path / "plain.csv"), target="species")
    assert european_manifest["categorical"] == ["island"]
    X, _ = load_split(european_manifest, "train")
    assert set(X["island"].dropna()) == {"Biscoe", "Rêve"}
    assert X["flipper_length"].dtype == "float64"
    assert european_manifest["fingerprint"] == plain["fingerprint"]


def test_thousands_marks_are_read_as_numbers(store, tmp_path):
    rows = [f'"{i},{i % 10}00.5",{i % 2}' for i in range(1, 41)]
    path = write(tmp_path, "big.csv", "amount,y\n" + "\n".join(rows) + "\n")
    manifest = prepare(store, dataset=path, target="y", csv_options={"thousands": ","})
    X, _ = load_split(manifest, "train")
    assert manifest["categorical"] == []
    assert X["amount"].min() >= 1000.5


def test_a_wrong_encoding_suggests_csv_options_encoding(store, tmp_path):
    path = write(tmp_path, "latin.csv", b"ville,y\n" + "Besançon,1\n".encode("latin-1"))
    with pytest.raises(DatasetError) as info:
        prepare(store, dataset=path, target="y")
    assert str(info.value) == (
        f"csv_options.encoding: {path!r} is not utf-8 text (byte 0xe7: invalid continuation "
        "byte); set csv_options.encoding to the file's encoding, e.g. latin-1 or cp1252"
    )


def test_a_semicolon_csv_read_with_commas_suggests_csv_options_sep(store, tmp_path):
    path = write(tmp_path, "semi.csv", "a;y\n1;p\n2;q\n")
    with pytest.raises(DatasetError) as info:
        prepare(store, dataset=path, target="y")
    assert str(info.value).endswith("the header looks ';'-separated: set csv_options.sep")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "twice.csv",
            "a,y,y\n1,p,q\n",
            "target: 2 columns of '{path}' are named 'y'; rename all but one",
        ),
        (
            "empty.csv",
            "a,b,y\n" + "".join(f",,{'pq'[i % 2]}\n" for i in range(20)),
            "dataset: '{path}' has no feature column with a value (a, b)",
        ),
        (
            "inf.csv",
            "a,y\n" + "".join(f"inf,{'pq'[i % 2]}\n" for i in range(20)),
            "dataset: '{path}' has no feature column with a value (a)",
        ),
    ],
)
def test_cleaning_refuses_an_ambiguous_target_or_no_feature_left(
    store, tmp_path, name, content, message
):
    path = write(tmp_path, name, content)
    with pytest.raises(DatasetError) as info:
        prepare(store, dataset=path, target="y")
    assert str(info.value) == message.format(path=path)
