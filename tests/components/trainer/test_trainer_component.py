"""The Trainer component: real data, real training, the three exports, resume, errors."""

import csv
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from components import CsvExampleGen, SchemaGen, StatisticsGen, Trainer
from pipeline import (
    DefinitionError,
    MetadataStore,
    Model,
    ModelRun,
    Pipeline,
)
from pipeline.metadata import ExecutionState
from tests.components.conftest import decode_example
from tests.components.test_statistics_gen import make_context

REPO = pathlib.Path(__file__).resolve().parents[3]
DATA = REPO.parent / "shared" / "data"
MODULES = pathlib.Path(__file__).resolve().parent / "modules"
IRIS_MODULE = MODULES / "iris_trainer.py"
FEATURES = ["Sepal Length", "Sepal Width", "Petal Length", "Petal Width"]


def iris_data_pipeline(root, store, make_trainer=None):
    """ExampleGen → StatisticsGen → SchemaGen over iris, then ``make_trainer(gen,
    schema)`` when given."""
    gen = CsvExampleGen(
        input_base=str(DATA / "iris"),
        input_splits={"train": "iris_training.csv", "eval": "iris_test.csv"},
    )
    stats = StatisticsGen(examples=gen.outputs["examples"])
    schema = SchemaGen(statistics=stats.outputs["statistics"])
    more = [make_trainer(gen, schema)] if make_trainer else []
    pipe = Pipeline("iris", [gen, stats, schema, *more], root=root, store=store)
    return gen, schema, pipe


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    """Iris Examples and Schema (ExampleGen → StatisticsGen → SchemaGen), made once."""
    root = tmp_path_factory.mktemp("iris")
    *_, pipe = iris_data_pipeline(str(root / "root"), f"sqlite:///{root}/m.sqlite")
    result = pipe.run()
    return result.artifact("CsvExampleGen", "examples"), result.artifact(
        "SchemaGen", "schema"
    )


def train(tmp_path, examples, schema, name="trainer", **params):
    """Runs Trainer's function directly into fresh output folders."""
    model = Model(uri=str(tmp_path / name / "model"))
    run = ModelRun(uri=str(tmp_path / name / "model_run"))
    for artifact in (model, run):
        os.makedirs(artifact.uri)
    params = {
        "module_file": str(IRIS_MODULE),
        "label_key": "Type",
        "train_steps": 40,
        "batch_size": 32,
        **params,
    }
    result = Trainer.fn(
        examples=examples,
        schema=schema,
        model=model,
        model_run=run,
        context=make_context(name, tmp_path),
        **params,
    )
    return model, run, result


def load_signature(path, name):
    import tensorflow as tf

    return tf.saved_model.load(path).signatures[name]


def serialized(examples, split):
    import tensorflow as tf

    files = sorted(pathlib.Path(examples.split_uri(split)).glob("data-*.gz"))
    return [
        r.numpy()
        for r in tf.data.TFRecordDataset(
            [str(f) for f in files], compression_type="GZIP"
        )
    ]


class TestInAPipeline:
    def test_iris_trains_exports_and_records(self, tmp_path):
        root, store = str(tmp_path / "root"), f"sqlite:///{tmp_path}/m.sqlite"
        gen = CsvExampleGen(
            input_base=str(DATA / "iris"),
            input_splits={"train": "iris_training.csv", "eval": "iris_test.csv"},
        )
        stats = StatisticsGen(examples=gen.outputs["examples"])
        schema = SchemaGen(statistics=stats.outputs["statistics"])
        trainer = Trainer(
            examples=gen.outputs["examples"],
            schema=schema.outputs["schema"],
            module_file=str(IRIS_MODULE),
            label_key="Type",
            train_steps=300,
            batch_size=32,
            hyperparameters={"hidden_units": [16, 8]},
        )
        result = Pipeline(
            "iris", [gen, stats, schema, trainer], root=root, store=store
        ).run()
        execution = result.executions["Trainer"]
        assert execution.result["global_step"] == 300
        assert execution.result["resumed_from_step"] == 0
        assert execution.result["model_type"] == "classification"
        assert execution.result["eval"]["accuracy"] > 0.5  # 3 classes: chance is 1/3
        model = result.artifact("Trainer", "model")
        assert model.label_key == "Type"
        assert set(model.signatures) >= {"serving_default", "predict", "classification"}
        run = result.artifact("Trainer", "model_run")
        assert list(pathlib.Path(run.uri).glob("model.ckpt-300.index"))
        assert list(pathlib.Path(run.uri).rglob("events.out.tfevents.*"))  # TensorBoard
        with MetadataStore(store) as meta:
            inputs = meta.inputs_of(execution.id)
        assert set(inputs) == {"examples", "schema"}

        again = Pipeline(
            "iris", [gen, stats, schema, trainer], root=root, store=store
        ).run()
        assert again.executions["Trainer"].state == ExecutionState.CACHED


class TestExports:
    def test_eval_model_gives_the_serving_predictions_and_the_labels(
        self, tmp_path, iris
    ):
        examples, schema = iris
        model, _, _ = train(tmp_path, examples, schema)
        records = serialized(examples, "eval")
        evaluate = load_signature(model.eval_model_dir, "evaluate")
        predict = load_signature(model.serving_model_dir, "predict")
        import tensorflow as tf

        out = evaluate(examples=tf.constant(records))
        expected = predict(examples=tf.constant(records))
        labels = [decode_example(r)["Type"][0] for r in records]
        assert out["label"].numpy().ravel().tolist() == labels
        np.testing.assert_allclose(
            out["probabilities"].numpy(), expected["probabilities"].numpy(), rtol=1e-6
        )
        assert out["probabilities"].shape == (len(records), 3)

    def test_serving_model_answers_without_the_label_in_a_fresh_process(
        self, tmp_path, iris
    ):
        examples, schema = iris
        model, _, _ = train(tmp_path, examples, schema)
        import tensorflow as tf

        rows = list(csv.DictReader(open(DATA / "iris" / "iris_test.csv")))[:3]
        requests = []
        for row in rows:
            example = tf.train.Example()
            for name in FEATURES:
                example.features.feature[name].float_list.value.append(float(row[name]))
            requests.append(example.SerializeToString().hex())
        script = textwrap.dedent(
            f"""
            import json, tensorflow as tf
            model = tf.saved_model.load({model.serving_model_dir!r})
            records = [bytes.fromhex(h) for h in {requests!r}]
            out = model.signatures["serving_default"](inputs=tf.constant(records))
            print(json.dumps(out["scores"].numpy().tolist()))
            """
        )
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-3000:]
        scores = np.array(json.loads(done.stdout.strip().splitlines()[-1]))
        assert scores.shape == (3, 3)
        np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)

    def test_samples_are_eval_examples_and_the_checkpoint_is_copied(
        self, tmp_path, iris
    ):
        examples, schema = iris
        model, run, result = train(tmp_path, examples, schema)
        import tensorflow as tf

        samples = [
            r.numpy() for r in tf.data.TFRecordDataset(model.sample_examples_path)
        ]
        assert samples == serialized(examples, "eval")[:16]
        copied = tf.train.latest_checkpoint(
            os.path.join(model.uri, "Format-Checkpoint")
        )
        assert copied is not None and copied.endswith("model.ckpt-40")
        reader = tf.train.load_checkpoint(copied)
        original = tf.train.load_checkpoint(tf.train.latest_checkpoint(run.uri))
        for name in reader.get_variable_to_shape_map():
            np.testing.assert_array_equal(
                reader.get_tensor(name), original.get_tensor(name)
            )

    def test_base_model_warm_starts_the_next_model(self, tmp_path, iris):
        examples, schema = iris
        base, _, _ = train(tmp_path, examples, schema, name="base")
        frozen_module = tmp_path / "frozen.py"
        frozen_module.write_text(
            "import keras\n"
            + IRIS_MODULE.read_text().replace(
                "warm_start_from=args.warm_start_from,",
                "warm_start_from=args.warm_start_from,\n"
                "        optimizer=keras.optimizers.SGD(0.0),",
            )
        )
        warm, run, _ = train(
            tmp_path,
            examples,
            schema,
            name="warm",
            module_file=str(frozen_module),
            base_model=base,
        )
        import tensorflow as tf

        from components.trainer.estimator.checkpoints import read_value

        base_checkpoint = tf.train.latest_checkpoint(
            os.path.join(base.uri, "Format-Checkpoint")
        )
        warm_checkpoint = tf.train.latest_checkpoint(run.uri)
        for name in ("dnn/hiddenlayer_0/kernel", "dnn/logits/bias"):
            np.testing.assert_array_equal(
                read_value(warm_checkpoint, name), read_value(base_checkpoint, name)
            )
        assert warm_checkpoint.endswith("model.ckpt-40")


class TestTransformedExamples:
    @pytest.mark.slow
    def test_taxi_label_comes_from_the_transform(
        self, tmp_path, taxi_transform, taxi_examples
    ):
        module = tmp_path / "taxi_trainer.py"
        module.write_text(
            textwrap.dedent(
                """
                from components.trainer import estimator as tf_estimator

                def trainer_fn(args):
                    spec = args.transform_output.transformed_feature_spec()
                    numeric = [
                        tf_estimator.feature_column.numeric_column(name)
                        for name, feature in sorted(spec.items())
                        if name.endswith("_xf") and feature.dtype.name == "float32"
                    ]
                    return tf_estimator.LinearClassifier(numeric, config=args.run_config)
                """
            )
        )
        model = Model(uri=str(tmp_path / "model"))
        run = ModelRun(uri=str(tmp_path / "run"))
        for artifact in (model, run):
            os.makedirs(artifact.uri)
        result = Trainer.fn(
            examples=taxi_transform.transformed_examples,
            transform_graph=taxi_transform.transform_graph,
            module_file=str(module),
            label_key="big_tipper",
            raw_label_keys=["tips"],
            train_steps=30,
            model=model,
            model_run=run,
            context=make_context("trainer", tmp_path),
        )
        assert result["global_step"] == 30
        assert not os.path.exists(model.sample_examples_path)  # no raw examples here
        import tensorflow as tf

        records = serialized(taxi_examples, "eval")[:200]
        rows = [decode_example(r) for r in records]
        out = load_signature(model.eval_model_dir, "evaluate")(
            examples=tf.constant(records)
        )

        def value(row, name):  # the module fills a missing value with 0
            return np.float32(row[name][0] if row.get(name) else 0.0)

        expected = [
            int(value(row, "tips") > value(row, "fare") * np.float32(0.2))
            for row in rows
        ]
        assert out["label"].numpy().ravel().tolist() == expected
        without_tips = []
        for record in records[:5]:
            example = tf.train.Example.FromString(record)
            del example.features.feature["tips"]
            without_tips.append(example.SerializeToString())
        serve = load_signature(model.serving_model_dir, "serving_default")
        assert serve(inputs=tf.constant(without_tips))["scores"].shape == (5, 2)


class TestResume:
    @pytest.mark.slow
    def test_a_killed_trainer_resumes_from_its_newest_checkpoint(self, tmp_path):
        module = tmp_path / "slow_iris.py"
        module.write_text(
            IRIS_MODULE.read_text()
            + textwrap.dedent(
                """

                import os, time
                _build = trainer_fn

                class _Slow(tf_estimator.SessionRunHook):
                    def after_run(self, run_context, run_values):
                        time.sleep(0.05)

                def trainer_fn(args):
                    estimator = _build(args)
                    if not os.environ.get("IRIS_SLOW"):
                        return estimator
                    return {"estimator": estimator, "train_spec": tf_estimator.TrainSpec(
                        args.train_input_fn, max_steps=args.train_steps,
                        hooks=[_Slow()])}
                """
            )
        )
        module.write_text(
            module.read_text().replace(
                "config=args.run_config,",
                "config=args.run_config.replace(save_checkpoints_steps=20, "
                "save_checkpoints_secs=None, steps_per_loop=1),",
            )
        )
        pipeline_file = tmp_path / "pipe.py"
        pipeline_file.write_text(
            textwrap.dedent(
                f"""
                import sys
                sys.path.insert(0, {str(REPO)!r})
                from tests.components.trainer.test_trainer_component import (
                    iris_data_pipeline)
                from components import Trainer

                def make(gen, schema):
                    return Trainer(examples=gen.outputs["examples"],
                                   schema=schema.outputs["schema"],
                                   module_file={str(module)!r}, label_key="Type",
                                   train_steps=200, batch_size=16)

                *_, iris = iris_data_pipeline(
                    {str(tmp_path / "root")!r}, "sqlite:///{tmp_path}/m.sqlite", make)
                """
            )
        )
        command = [sys.executable, "-m", "pipeline.cli", "run", str(pipeline_file)]
        child = subprocess.Popen(
            command,
            cwd=REPO,
            env={**os.environ, "IRIS_SLOW": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        runs = tmp_path / "root" / "Trainer" / "model_run"
        try:
            deadline = time.monotonic() + 240
            while not list(runs.glob("*/model.ckpt-40.index")):
                assert child.poll() is None, "the pipeline ended before a checkpoint"
                assert time.monotonic() < deadline, "no checkpoint at step 40"
                time.sleep(0.2)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()

        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        with MetadataStore(f"sqlite:///{tmp_path}/m.sqlite") as store:
            trainers = [
                e
                for run in store.list_runs(pipeline_name="iris")
                for e in store.executions_of_run(run.run_id)
                if e.component_id == "Trainer"
            ]
        states = sorted(e.state for e in trainers)
        assert states == sorted([ExecutionState.FAILED, ExecutionState.COMPLETE])
        completed = next(e for e in trainers if e.state == ExecutionState.COMPLETE)
        assert completed.result["resumed_from_step"] >= 40
        assert completed.result["global_step"] == 200


class TestBadInput:
    @pytest.mark.parametrize(
        ("params", "message"),
        [
            ({"train_steps": None}, "give exactly one of train_steps"),
            ({"train_epochs": 2}, "give exactly one of train_steps"),
            ({"batch_size": 0}, "batch_size must be a whole number of at least 1"),
            ({"distribution": "mirorred"}, "Did you mean 'mirrored'?"),
            ({"trainer_fn": "trainer_fun"}, "Did you mean 'trainer_fn'?"),
            ({"raw_label_keys": ["Tpye"]}, "raw_label_keys ['Tpye'] are not raw"),
            ({"label_key": None}, "without label_key the Trainer cannot build"),
        ],
    )
    def test_bad_parameters(self, tmp_path, iris, params, message):
        examples, schema = iris
        with pytest.raises(DefinitionError, match=re.escape(message)):
            train(tmp_path, examples, schema, **params)
        assert not list((tmp_path / "trainer" / "model_run").iterdir())

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ("return 3", "must return an Estimator or a dict with an 'estimator'"),
            (
                "return {'estimator': make(args), 'eval_specs': None}",
                "unknown key(s) ['eval_specs']. Did you mean 'eval_spec'?",
            ),
            (
                "return tf_estimator.DNNClassifier([4], COLUMNS, n_classes=3)",
                "Build it with config=args.run_config",
            ),
        ],
    )
    def test_bad_results(self, tmp_path, iris, body, message):
        module = tmp_path / "bad.py"
        module.write_text(
            IRIS_MODULE.read_text().replace("def trainer_fn(args):", "def make(args):")
            + textwrap.dedent(
                f"""

                COLUMNS = [tf_estimator.feature_column.numeric_column(n) for n in FEATURES]

                def trainer_fn(args):
                    {body}
                """
            )
        )
        examples, schema = iris
        with pytest.raises(DefinitionError, match=re.escape(message)):
            train(tmp_path, examples, schema, module_file=str(module))

    def test_examples_need_a_schema_or_a_transform_graph(self, tmp_path, iris):
        examples, _ = iris
        with pytest.raises(DefinitionError, match="give schema= .raw examples."):
            train(tmp_path, examples, None)

    def test_unknown_label_key(self, tmp_path, iris):
        examples, schema = iris
        with pytest.raises(DefinitionError, match="label_key 'Typ' is not a feature"):
            train(tmp_path, examples, schema, label_key="Typ")

    def test_split_that_does_not_exist(self, tmp_path, iris):
        examples, schema = iris
        with pytest.raises(Exception, match="valid"):
            train(tmp_path, examples, schema, eval_split="valid")
