"""The example pipelines in pipelines/ run end to end, cache, re-train and serve.

Each pipeline runs once per module (module-scoped fixtures) with small step counts;
the tests then read what the runs left in the store and under the roots. The taxi
pipeline runs three times: fresh, again unchanged (as a script, every step CACHED),
and with an edited trainer module (a new model, evaluated against the first, blessed
one). A pushed model is loaded in a fresh Python process and answers a request.
"""

from __future__ import annotations

import glob
import json
import math
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from pipeline import ArtifactState, DefinitionError, MetadataStore, load_pipeline

pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parents[2]
PIPELINES = REPO / "pipelines"
TAXI_STEPS = {"train_steps": 300, "eval_steps": 20}
SMALL_STEPS = {"train_steps": 300}

# Loads a pushed model in a fresh interpreter and calls serving_default on raw
# examples of a split, without the features that serving requests do not carry.
SERVE = """
import json, sys
import tensorflow as tf
model_dir, pattern, drop = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
model = tf.saved_model.load(model_dir)
serve = model.signatures["serving_default"]
(name,) = serve.structured_input_signature[1]
requests = []
for record in tf.data.TFRecordDataset(tf.io.gfile.glob(pattern), "GZIP").take(6):
    example = tf.train.Example.FromString(record.numpy())
    for key in drop:
        if key in example.features.feature:
            del example.features.feature[key]
    requests.append(example.SerializeToString())
outputs = serve(**{name: tf.constant(requests)})
print(json.dumps({k: v.numpy().tolist() for k, v in outputs.items() if k == "scores"}))
"""


def _store(root: pathlib.Path) -> MetadataStore:
    return MetadataStore(f"sqlite:///{root / 'metadata.sqlite'}")


def _states(result) -> dict[str, str]:
    return {cid: record.state.value for cid, record in result.executions.items()}


def _metrics(evaluation) -> dict:
    with open(evaluation.metrics_path) as f:
        return json.load(f)


def _serve(model_dir: str, examples, drop: list[str]) -> list[list[float]]:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            SERVE,
            model_dir,
            os.path.join(examples.split_uri("eval"), "data-*.tfrecord.gz"),
            ",".join(drop),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])["scores"]


# ------------------------------------------------------------------------- taxi


@pytest.fixture(scope="module")
def taxi(tmp_path_factory):
    """Three runs of the taxi pipeline: fresh, unchanged, with an edited trainer module."""
    from pipelines.taxi.pipeline import create_pipeline

    root = tmp_path_factory.mktemp("taxi") / "root"
    module = root.parent / "taxi_trainer.py"
    shutil.copy(PIPELINES / "taxi" / "taxi_trainer.py", module)
    knobs = {**TAXI_STEPS, "trainer_module": str(module)}
    first = create_pipeline(root=str(root), **knobs).run()
    again = subprocess.run(
        [sys.executable, str(PIPELINES / "taxi" / "pipeline.py"), "--root", str(root)]
        + [
            "--train-steps",
            "300",
            "--eval-steps",
            "20",
            "--trainer-module",
            str(module),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    text = module.read_text()
    assert '"hidden_units", [64, 32, 16]' in text
    module.write_text(text.replace("[64, 32, 16]", "[32, 16]"))
    changed = create_pipeline(root=str(root), **knobs).run()
    with _store(root) as store:
        runs = store.list_runs(pipeline_name="taxi")
    return {
        "root": root,
        "first": first,
        "second_run_id": next(
            r.run_id for r in runs if r.run_id not in (first.run_id, changed.run_id)
        ),
        "changed": changed,
        "script_output": again.stdout,
    }


def test_taxi_first_run_writes_every_artifact_with_lineage(taxi):
    first = taxi["first"]
    assert set(_states(first).values()) == {"COMPLETE"}
    assert list(_states(first)) == [
        "CsvExampleGen",
        "StatisticsGen",
        "SchemaGen",
        "ExampleValidator",
        "Transform",
        "Trainer",
        "Evaluator",
        "Pusher",
    ]
    examples = first.artifact("CsvExampleGen", "examples")
    assert sum(examples.row_counts.values()) == 15002
    model = first.artifact("Trainer", "model")
    with _store(taxi["root"]) as store:
        assert model.id in [a.id for a in store.get_artifacts(type_name="Model")]
        trainer = store.producer_of(model.id)
        assert trainer.component_id == "Trainer"
        assert trainer.run_id == first.run_id
        read = store.inputs_of(trainer.id)
        transform = first.executions["Transform"]
        assert (
            read["examples"].id
            == store.outputs_of(transform.id)["transformed_examples"].id
        )
        assert read["transform_graph"].state is ArtifactState.LIVE
        pushed = first.artifact("Pusher", "pushed_model")
        upstream = store.upstream(pushed.id).render()
        for component_id in ("Pusher", "Evaluator", "Trainer", "Transform"):
            assert component_id in upstream
        assert "CsvExampleGen" in upstream


def test_taxi_model_beats_the_majority_baseline(taxi):
    first = taxi["first"]
    trained = first.executions["Trainer"].result
    assert trained["global_step"] == TAXI_STEPS["train_steps"]
    assert trained["eval"]["auc"] > 0.8
    assert trained["eval"]["accuracy"] > trained["eval"]["accuracy_baseline"]
    evaluation = _metrics(first.artifact("Evaluator", "evaluation"))
    overall = evaluation["overall"]["metrics"]
    assert overall["auc"] > 0.8
    assert (
        overall["example_count"]
        == first.artifact("CsvExampleGen", "examples").row_counts["eval"]
    )
    hours = {entry["slice"]["trip_start_hour"] for entry in evaluation["slices"]}
    assert hours == set(range(24))
    assert evaluation["baseline"] is None
    blessing = first.artifact("Evaluator", "blessing")
    assert blessing.blessed is True
    assert first.executions["Evaluator"].result["blessed"] is True


def test_taxi_second_run_is_served_from_the_cache(taxi):
    with _store(taxi["root"]) as store:
        executions = store.executions_of_run(taxi["second_run_id"])
    assert len(executions) == 8
    states = {e.component_id: e.state.value for e in executions}
    assert set(states.values()) == {"CACHED"}, states
    first_ids = {r.id for r in taxi["first"].executions.values()}
    assert {e.cached_from for e in executions} == first_ids
    assert "CACHED" in taxi["script_output"]


def test_taxi_changed_trainer_module_retrains_against_the_blessed_model(taxi):
    first, changed = taxi["first"], taxi["changed"]
    states = _states(changed)
    assert states["Trainer"] == "COMPLETE", states
    for cached in ("CsvExampleGen", "StatisticsGen", "SchemaGen", "Transform"):
        assert states[cached] == "CACHED"
    assert states["Trainer"] == states["Evaluator"] == "COMPLETE"
    new_model = changed.artifact("Trainer", "model")
    old_model = first.artifact("Trainer", "model")
    assert new_model.id != old_model.id
    blessed = changed.artifact("Evaluator", "blessing").blessed
    with _store(taxi["root"]) as store:
        read = store.inputs_of(changed.executions["Evaluator"].id)
        latest = store.latest_blessed_model("taxi")
    assert read["model"].id == new_model.id
    assert read["baseline_model"].id == old_model.id
    assert latest.id == (new_model.id if blessed else old_model.id)
    evaluation = _metrics(changed.artifact("Evaluator", "evaluation"))
    assert evaluation["baseline"]["uri"] == old_model.uri
    assert evaluation["baseline_metrics"]["overall"]["metrics"]["auc"] > 0.8
    pushed = changed.artifact("Pusher", "pushed_model")
    assert pushed.pushed is blessed
    if blessed:
        assert pushed.version >= 2
        assert os.path.isfile(os.path.join(pushed.pushed_uri, "saved_model.pb"))


def test_taxi_pushed_model_answers_in_a_fresh_process(taxi):
    pushed = taxi["first"].artifact("Pusher", "pushed_model")
    assert pushed.pushed is True and pushed.version == 1
    destination = taxi["root"] / "serving" / "taxi"
    assert pushed.pushed_uri == str(destination / "1")
    assert (destination / "1" / "saved_model.pb").is_file()
    scores = _serve(
        str(destination / "1"),
        taxi["first"].artifact("CsvExampleGen", "examples"),
        drop=["tips"],
    )
    assert len(scores) == 6
    for row in scores:
        assert len(row) == 2 and math.isclose(sum(row), 1.0, rel_tol=1e-4)


def test_taxi_filtered_drops_fares_out_of_range(taxi, tmp_path):
    from pipeline import Examples, ExecutionContext
    from pipelines.taxi_filtered.pipeline import create_pipeline, drop_fare_outliers

    examples = taxi["first"].artifact("CsvExampleGen", "examples")
    kept = Examples(uri=str(tmp_path / "kept"))
    os.makedirs(kept.uri)
    context = ExecutionContext(
        pipeline_name="p",
        pipeline_root=str(tmp_path),
        run_id="r",
        component_id="drop_fare_outliers",
        execution_id=1,
    )
    counts = drop_fare_outliers.fn(
        examples=examples, kept=kept, context=context, min_fare=3.25, max_fare=100.0
    )
    # 40 trips below the flag-drop fare and 4 above 100 in the 15,002 trips.
    assert sum(counts["dropped"].values()) == 44
    assert kept.row_counts == counts["kept"]
    assert sum(kept.row_counts.values()) == 15002 - 44
    assert {os.path.basename(p) for p in glob.glob(kept.split_uri("train") + "/*")} == {
        os.path.basename(p) for p in glob.glob(examples.split_uri("train") + "/*")
    }
    pipeline = create_pipeline(root=str(tmp_path / "root"))
    assert pipeline.graph()["StatisticsGen"] == ["drop_fare_outliers"]
    assert pipeline.graph()["drop_fare_outliers"] == ["CsvExampleGen"]


# ------------------------------------------------------------ the other examples


@pytest.fixture(scope="module")
def penguins(tmp_path_factory):
    from pipelines.penguins.pipeline import create_pipeline

    root = tmp_path_factory.mktemp("penguins") / "root"
    return root, create_pipeline(root=str(root), **SMALL_STEPS).run()


@pytest.fixture(scope="module")
def titanic(tmp_path_factory):
    from pipelines.titanic.pipeline import create_pipeline

    root = tmp_path_factory.mktemp("titanic") / "root"
    return root, create_pipeline(root=str(root), **SMALL_STEPS).run()


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    from pipelines.iris.pipeline import create_pipeline

    root = tmp_path_factory.mktemp("iris") / "root"
    return root, create_pipeline(
        root=str(root), train_steps=300, checkpoint_steps=100, keep_checkpoints=2
    ).run()


def test_penguins_classifies_three_species_and_pushes(penguins):
    root, result = penguins
    assert set(_states(result).values()) == {"COMPLETE"}
    assert result.executions["Trainer"].result["eval"]["accuracy"] > 0.85
    evaluation = _metrics(result.artifact("Evaluator", "evaluation"))
    assert evaluation["model"]["classes"] == 3
    assert evaluation["overall"]["metrics"]["accuracy"] > 0.85
    assert {e["slice"]["species"] for e in evaluation["slices"]} == {0, 1, 2}
    assert result.artifact("Evaluator", "blessing").blessed is True
    assert (root / "serving" / "penguins" / "1" / "saved_model.pb").is_file()
    scores = _serve(
        str(root / "serving" / "penguins" / "1"),
        result.artifact("CsvExampleGen", "examples"),
        drop=["species"],
    )
    assert [len(row) for row in scores] == [3] * 6


def test_titanic_linear_model_on_raw_columns(titanic):
    root, result = titanic
    assert set(_states(result).values()) == {"COMPLETE"}
    examples = result.artifact("CsvExampleGen", "examples")
    assert sum(examples.row_counts.values()) == 891
    trained = result.executions["Trainer"].result
    assert trained["model_type"] == "classification"
    assert trained["eval"]["auc"] > 0.78
    assert trained["eval"]["accuracy"] > trained["eval"]["accuracy_baseline"]
    evaluation = _metrics(result.artifact("Evaluator", "evaluation"))
    assert {e["slice"].get("Sex") for e in evaluation["slices"]} >= {"male", "female"}
    assert result.artifact("Pusher", "pushed_model").pushed is True
    assert (root / "serving" / "titanic" / "1" / "saved_model.pb").is_file()


def test_iris_keeps_its_own_checkpoint_schedule(iris):
    root, result = iris
    assert set(_states(result).values()) == {"COMPLETE"}
    examples = result.artifact("CsvExampleGen", "examples")
    assert examples.row_counts == {"train": 120, "eval": 30}
    model_dir = result.artifact("Trainer", "model_run").uri
    kept = sorted(
        int(name.split("-")[1].split(".")[0])
        for name in os.listdir(model_dir)
        if name.startswith("model.ckpt-") and name.endswith(".index")
    )
    assert kept == [200, 300]
    assert result.executions["Evaluator"].result["accuracy"] > 0.85
    assert (root / "serving" / "iris" / "1" / "saved_model.pb").is_file()


# ------------------------------------------------------------------- linear_fit


def test_linear_fit_recovers_the_line_and_runs_cached_from_mlpipe(tmp_path):
    root = tmp_path / "root"
    command = [sys.executable, "-m", "pipeline.cli", "run"]
    command += [str(PIPELINES / "linear_fit" / "pipeline.py"), "--root", str(root)]
    command += ["--store", f"sqlite:///{tmp_path / 'metadata.sqlite'}"]
    for attempt in ("fresh", "cached"):
        done = subprocess.run(
            command, cwd=tmp_path, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, (attempt, done.stderr[-3000:])
    with MetadataStore(f"sqlite:///{tmp_path / 'metadata.sqlite'}") as store:
        first, second = sorted(
            store.list_runs(pipeline_name="linear_fit"), key=lambda r: r.start_time
        )
        fresh = {e.component_id: e for e in store.executions_of_run(first.run_id)}
        cached = store.executions_of_run(second.run_id)
    assert {e.state.value for e in cached} == {"CACHED"}
    exact = fresh["generate_line_points"].result["least_squares"]
    fitted = fresh["Trainer"].result["eval"]
    # Eight points, gradient descent: their least-squares line, near y = 3x - 1.
    assert fitted["slope"] == pytest.approx(exact["slope"], abs=1e-3)
    assert fitted["intercept"] == pytest.approx(exact["intercept"], abs=1e-3)
    assert fitted["slope"] == pytest.approx(3.0, abs=0.2)
    assert fitted["intercept"] == pytest.approx(-1.0, abs=0.2)
    assert fresh["Trainer"].result["model_type"] == "regression"
    assert fresh["Evaluator"].result["rmse"] < 0.2


def test_linear_fit_generator_streams_in_chunks(tmp_path, monkeypatch):
    import tensorflow as tf

    from pipeline import Examples, ExecutionContext
    from pipelines.linear_fit import pipeline as linear_fit

    monkeypatch.setattr(linear_fit, "CHUNK", 1000)
    examples = Examples(uri=str(tmp_path / "examples"))
    os.makedirs(examples.uri)
    context = ExecutionContext(
        pipeline_name="p",
        pipeline_root=str(tmp_path),
        run_id="r",
        component_id="generate_line_points",
        execution_id=1,
    )
    result = linear_fit.generate_line_points.fn(
        examples=examples,
        context=context,
        points=4500,
        eval_points=10,
        slope=2.0,
        intercept=0.5,
        noise=0.0,
        shards=2,
    )
    assert result["row_counts"] == {"train": 4500, "eval": 10}
    assert result["least_squares"]["slope"] == pytest.approx(2.0, abs=1e-5)
    assert result["least_squares"]["intercept"] == pytest.approx(0.5, abs=1e-5)
    shards = sorted(glob.glob(examples.split_uri("train") + "/data-*.tfrecord.gz"))
    assert [os.path.basename(p) for p in shards] == [
        "data-00000-of-00002.tfrecord.gz",
        "data-00001-of-00002.tfrecord.gz",
    ]
    spec = {
        "x": tf.io.FixedLenFeature([], tf.float32),
        "y": tf.io.FixedLenFeature([], tf.float32),
    }
    parsed = [
        tf.io.parse_example(batch, spec)
        for batch in tf.data.TFRecordDataset(shards, "GZIP").batch(10_000)
    ]
    (points,) = parsed
    assert points["x"].shape == (4500,)
    assert tf.reduce_max(tf.abs(points["y"] - (2.0 * points["x"] + 0.5))) < 1e-5


# --------------------------------------------------------------------- loading


@pytest.mark.parametrize(
    "name", ["taxi", "taxi_filtered", "penguins", "titanic", "iris", "linear_fit"]
)
def test_mlpipe_run_finds_each_pipeline(name):
    pipeline = load_pipeline(str(PIPELINES / name / "pipeline.py"))
    assert pipeline.name == name
    assert pipeline.root == str(REPO / "runs" / name)
    assert pipeline.store == f"sqlite:///{REPO / 'runs' / name / 'metadata.sqlite'}"


def test_examples_module_doctests_pass():
    import doctest

    from pipelines import examples

    assert doctest.testmod(examples).failed == 0


def test_missing_data_is_explained(monkeypatch):
    from pipelines import examples

    monkeypatch.setattr(examples, "SHARED_DATA", "/nowhere/data")
    with pytest.raises(DefinitionError, match="MLPIPE_SHARED_DATA"):
        examples.shared_data("chicago_taxi", "data.csv")
