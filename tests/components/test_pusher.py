"""Pusher: real SavedModels pushed to TF Serving's layout, gated by blessings and a
smoke test, checked in fresh processes; versions, races, failures and a pipeline run."""

import json
import logging
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from components.pusher import (
    Pusher,
    SmokeTestError,
    next_version,
    push_saved_model,
    smoke_test,
)
from pipeline import (
    ArtifactStorageError,
    Examples,
    Model,
    ModelBlessing,
    Output,
    Parameter,
    Pipeline,
    PipelineRunError,
    PushedModel,
    component,
)
from tests.components.test_statistics_gen import make_context

REPO = pathlib.Path(__file__).resolve().parents[2]
COLORS = ["red", "green", "blue"]


def serialized(x: float, color: str = "red", z: float | None = None) -> bytes:
    """A serialized tf.Example with the features the test models parse."""
    import tensorflow as tf

    example = tf.train.Example()
    example.features.feature["x"].float_list.value.append(x)
    example.features.feature["color"].bytes_list.value.append(color.encode())
    if z is not None:
        example.features.feature["z"].float_list.value.append(z)
    return example.SerializeToString()


def write_records(path, records, compression=None) -> None:
    import tensorflow as tf

    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path), options=compression) as writer:
        for record in records:
            writer.write(record)


def save_model(path: pathlib.Path, kind: str) -> None:
    """Saves a SavedModel that parses serialized tf.Examples: y = 2x + 1 and the id of
    ``color`` in a vocabulary asset; ``kind`` breaks it in one way."""
    import tensorflow as tf

    vocab = path.parent / f"{kind}-colors.txt"
    vocab.write_text("\n".join(COLORS) + "\n")
    spec = tf.TensorSpec([None], tf.string, name="examples")
    features = {
        "x": tf.io.FixedLenFeature([1], tf.float32),
        "color": tf.io.FixedLenFeature([], tf.string),
    }
    if kind == "raises":
        features["z"] = tf.io.FixedLenFeature([1], tf.float32)

    class Served(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(2.0)
            self.vocab = tf.saved_model.Asset(str(vocab))
            self.table = tf.lookup.StaticHashTable(
                tf.lookup.TextFileInitializer(
                    self.vocab,
                    tf.string,
                    tf.lookup.TextFileIndex.WHOLE_LINE,
                    tf.int64,
                    tf.lookup.TextFileIndex.LINE_NUMBER,
                ),
                default_value=-1,
            )

        @tf.function(input_signature=[spec])
        def serve(self, examples):
            parsed = tf.io.parse_example(examples, features)
            y = self.w * parsed["x"] + 1.0
            if kind == "nan":
                y = y + float("nan")
            if kind == "wrong_batch":
                y = tf.reduce_sum(y, keepdims=True)[0]
            return {"y": y, "color_id": self.table.lookup(parsed["color"])}

        @tf.function(
            input_signature=[spec, tf.TensorSpec([None], tf.float32, name="w")]
        )
        def serve_two(self, examples, w):
            return {"y": tf.strings.length(examples) + tf.cast(w, tf.int32)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def serve_floats(self, x):
            return {"y": 2.0 * x + 1.0}

    module = Served()
    name = "predict" if kind == "no_serving_default" else "serving_default"
    serve = {"two_inputs": module.serve_two, "float_input": module.serve_floats}.get(
        kind, module.serve
    )
    tf.saved_model.save(module, str(path), signatures={name: serve})


KINDS = [
    "good",
    "nan",
    "raises",
    "wrong_batch",
    "no_serving_default",
    "two_inputs",
    "float_input",
]


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """Every kind of test SavedModel, saved once: {kind: folder}."""
    root = tmp_path_factory.mktemp("saved_models")
    made = {}
    for kind in KINDS:
        save_model(root / kind, kind)
        made[kind] = root / kind
    return made


def make_model(root, saved_models, kind="good", samples=None) -> Model:
    """A Model artifact as a Trainer writes it: Format-Serving/ and optional samples."""
    model = Model(uri=str(root / "model"))
    shutil.copytree(saved_models[kind], model.serving_model_dir)
    if samples is not None:
        write_records(model.sample_examples_path, samples)
    return model


def make_examples(root, by_split) -> Examples:
    """An Examples artifact: each split's records in two gzip shards."""
    examples = Examples(uri=str(root / "examples"))
    for split, records in by_split.items():
        folder = pathlib.Path(examples.split_uri(split))
        for shard in range(2):
            write_records(
                folder / f"data-{shard:05d}-of-00002.tfrecord.gz",
                records[shard::2],
                "GZIP",
            )
    examples.split_names = list(by_split)
    return examples


def push(root, model, destination, **kwargs):
    """Calls Pusher's function; returns (result, pushed_model)."""
    pushed = PushedModel(uri=str(root / "pushed"))
    result = Pusher.fn(
        model=model,
        pushed_model=pushed,
        context=make_context("Pusher", root),
        push_destination=str(destination),
        **kwargs,
    )
    json.dumps(result)  # what the store records must be JSON
    return result, pushed


def answers_in_fresh_process(model_dir, records) -> dict:
    """Loads a SavedModel in a new Python process, as a server would, and calls its
    serving_default on records; returns its outputs as lists."""
    code = textwrap.dedent(
        """
        import json, sys
        import tensorflow as tf
        model_dir, records = sys.argv[1], json.loads(sys.argv[2])
        signature = tf.saved_model.load(model_dir).signatures["serving_default"]
        out = signature(examples=tf.constant([r.encode("latin-1") for r in records]))
        print(json.dumps({k: v.numpy().tolist() for k, v in out.items()}))
        """
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(model_dir),
            json.dumps([r.decode("latin-1") for r in records]),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def entries(folder) -> list[str]:
    """Everything in a folder, hidden names included ([] when it does not exist)."""
    path = pathlib.Path(folder)
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


class TestPush:
    def test_blessed_model_is_pushed_to_version_1_and_answers_in_a_fresh_process(
        self, tmp_path, saved_models
    ):
        model = make_model(tmp_path, saved_models)
        blessing = ModelBlessing(
            uri=str(tmp_path / "blessing"), properties={"blessed": True, "reasons": []}
        )
        dest = tmp_path / "serving" / "taxi"
        result, pushed = push(tmp_path, model, dest, model_blessing=blessing)

        assert entries(dest) == ["1"]
        assert result["pushed"] is True and result["version"] == 1
        assert result["destination"] == str(dest)
        assert result["pushed_uri"] == str(dest / "1")
        assert "blessed by the ModelBlessing at" in result["reason"]
        assert pushed.pushed and pushed.version == 1
        assert pushed.pushed_uri == str(dest / "1")
        assert pushed.destination == str(dest)
        assert {"saved_model.pb", "variables", "assets"} <= set(entries(dest / "1"))
        answers = answers_in_fresh_process(
            dest / "1", [serialized(3.0, "blue"), serialized(-1.0, "red")]
        )
        assert answers == {"y": [[7.0], [-1.0]], "color_id": [2, 0]}

    @pytest.mark.slow
    def test_a_second_push_is_version_2_and_keeps_version_1(
        self, tmp_path, saved_models
    ):
        model = make_model(tmp_path, saved_models)
        dest = tmp_path / "serving"
        first, _ = push(tmp_path, model, dest, smoke_test_examples=0)
        second, pushed = push(tmp_path, model, dest, smoke_test_examples=0)
        assert (first["version"], second["version"]) == (1, 2)
        assert entries(dest) == ["1", "2"]
        assert pushed.pushed_uri == str(dest / "2")
        assert entries(dest / "1") == entries(saved_models["good"])

    def test_without_a_blessing_the_model_is_pushed_and_the_log_says_so(
        self, tmp_path, saved_models, caplog
    ):
        model = make_model(tmp_path, saved_models)
        with caplog.at_level(logging.INFO, logger="mlpipe"):
            result, _ = push(tmp_path, model, tmp_path / "dest", smoke_test_examples=0)
        assert result["pushed"] and result["version"] == 1
        assert "no model_blessing is wired" in result["reason"]
        assert "nothing gates the push" in caplog.text

    def test_unblessed_model_is_skipped_with_the_blessings_reasons(
        self, tmp_path, saved_models, caplog
    ):
        model = make_model(tmp_path, saved_models)
        blessing = ModelBlessing(
            uri=str(tmp_path / "blessing"),
            properties={"blessed": False, "reasons": ["accuracy 0.61 < 0.7"]},
        )
        dest = tmp_path / "dest"
        with caplog.at_level(logging.WARNING, logger="mlpipe"):
            result, pushed = push(tmp_path, model, dest, model_blessing=blessing)
        assert result["pushed"] is False and result["version"] is None
        assert pushed.pushed is False and pushed.version is None
        assert "not blessed" in pushed.reason
        assert "accuracy 0.61 < 0.7" in pushed.reason
        assert result["reason"] == pushed.reason
        assert "did not push the model" in caplog.text
        assert not dest.exists()

    def test_relative_and_empty_destinations_are_resolved(
        self, tmp_path, saved_models, monkeypatch
    ):
        model = make_model(tmp_path, saved_models)
        monkeypatch.chdir(tmp_path)
        blessing = ModelBlessing(uri="b", properties={"blessed": False})
        relative, _ = push(tmp_path, model, "serving/taxi", model_blessing=blessing)
        assert relative["destination"] == str(tmp_path / "serving" / "taxi")
        empty, _ = push(tmp_path, model, "", model_blessing=blessing)
        assert empty["destination"] == str(tmp_path / "serving")


class TestVersions:
    def test_versions_continue_above_the_highest_number_and_ignore_other_names(
        self, tmp_path, saved_models
    ):
        dest = tmp_path / "dest"
        for name in ["3", "7", "latest", ".tmp-old", "12abc"]:
            (dest / name).mkdir(parents=True)
        (dest / "README").write_text("models")
        assert next_version(str(dest)) == 8
        version, uri = push_saved_model(str(saved_models["good"]), str(dest))
        assert (version, uri) == (8, str(dest / "8"))
        assert entries(dest / "8") == entries(saved_models["good"])
        assert push_saved_model(str(saved_models["good"]), str(dest))[0] == 9

    def test_first_version_is_1_in_a_missing_destination(self, tmp_path):
        model_dir = tmp_path / "model"
        model_dir.mkdir()
        (model_dir / "saved_model.pb").write_bytes(b"pb")
        assert next_version(str(tmp_path / "nowhere")) == 1
        assert push_saved_model(str(model_dir), str(tmp_path / "a" / "b"))[0] == 1
        assert entries(tmp_path / "a" / "b") == ["1"]

    def test_racing_pushes_never_share_or_overwrite_a_version(self, tmp_path):
        model_dir = tmp_path / "model"
        (model_dir / "variables").mkdir(parents=True)
        (model_dir / "variables" / "data").write_bytes(os.urandom(64 * 1024))
        (model_dir / "saved_model.pb").write_bytes(b"pb")
        dest = tmp_path / "dest"
        code = textwrap.dedent(
            """
            import sys, time
            from components.pusher import push_saved_model
            model_dir, dest, start, writer = sys.argv[1:]
            while time.time() < float(start):
                pass
            for i in range(15):
                version, _ = push_saved_model(model_dir, dest)
                print(version)
            """
        )
        import time

        start = str(time.time() + 2.0)
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(model_dir), str(dest), start, str(i)],
                cwd=REPO,
                stdout=subprocess.PIPE,
                text=True,
            )
            for i in range(4)
        ]
        reported = []
        for process in processes:
            out, _ = process.communicate(timeout=120)
            assert process.returncode == 0
            reported += [int(v) for v in out.split()]
        assert sorted(reported) == list(range(1, 61))
        assert entries(dest) == sorted(str(v) for v in range(1, 61))
        for version in range(1, 61):
            assert entries(dest / str(version)) == ["saved_model.pb", "variables"]
            assert (dest / str(version) / "variables" / "data").stat().st_size == 65536

    def test_a_failure_mid_copy_leaves_no_version_and_no_temporary_folder(
        self, tmp_path, saved_models
    ):
        model_dir = tmp_path / "model"
        shutil.copytree(saved_models["good"], model_dir)
        # A link to nothing: the copy reads it after some files were copied, and fails.
        (model_dir / "zz-extra").mkdir()
        (model_dir / "zz-extra" / "gone.txt").symlink_to(tmp_path / "no-such-file")
        dest = tmp_path / "dest"
        (dest / "4").mkdir(parents=True)
        with pytest.raises(shutil.Error, match="gone.txt"):
            push_saved_model(str(model_dir), str(dest))
        assert entries(dest) == ["4"]

    def test_a_url_destination_goes_through_tf_io_gfile(self, saved_models):
        import tensorflow as tf

        dest = "ram://mlpipe-pusher-test/serving"
        assert push_saved_model(str(saved_models["good"]), dest) == (1, dest + "/1")
        assert push_saved_model(str(saved_models["good"]), dest)[0] == 2
        assert sorted(n.rstrip("/") for n in tf.io.gfile.listdir(dest)) == ["1", "2"]
        pushed = sorted(
            os.path.relpath(os.path.join(folder, name), dest + "/2")
            for folder, _, names in tf.io.gfile.walk(dest + "/2")
            for name in names
        )
        local = sorted(
            os.path.relpath(os.path.join(folder, name), saved_models["good"])
            for folder, _, names in os.walk(saved_models["good"])
            for name in names
        )
        assert pushed == local


class TestSmokeTest:
    @pytest.mark.parametrize(
        "kind, expected",
        [
            ("nan", "(outputs, signature 'serving_default'): output 'y' has 2 NaN"),
            (
                "raises",
                "(run, signature 'serving_default'): calling it on 2 examples raised "
                "InvalidArgumentError: Feature: z (data type: float) is required",
            ),
            (
                "no_serving_default",
                "(signature, signature 'serving_default'): the SavedModel has no such "
                "signature; it has ['predict'].",
            ),
        ],
    )
    def test_a_broken_model_fails_and_leaves_the_destination_untouched(
        self, tmp_path, saved_models, kind, expected
    ):
        model = make_model(
            tmp_path, saved_models, kind, samples=[serialized(1.0), serialized(2.0)]
        )
        dest = tmp_path / "dest"
        (dest / "1").mkdir(parents=True)
        with pytest.raises(SmokeTestError) as caught:
            push(tmp_path, model, dest)
        message = str(caught.value)
        assert message.startswith(
            f"Pusher 'Pusher': the Model at {model.uri} was not pushed to {dest}."
        )
        assert expected in message
        assert entries(dest) == ["1"]
        assert entries(dest / "1") == []

    @pytest.mark.parametrize("kind", ["good", "nan"])
    def test_the_smoke_test_can_run_in_a_fresh_process(
        self, tmp_path, saved_models, kind
    ):
        model = make_model(
            tmp_path, saved_models, kind, samples=[serialized(1.0), serialized(2.0)]
        )
        dest = tmp_path / "dest"
        if kind == "good":
            result, _ = push(tmp_path, model, dest, smoke_test_in_subprocess=True)
            assert result["pushed"] and entries(dest) == ["1"]
            return
        with pytest.raises(SmokeTestError, match="NaN or infinity|not finite|NaN"):
            push(tmp_path, model, dest, smoke_test_in_subprocess=True)
        assert not dest.exists() or entries(dest) == []

    @pytest.mark.parametrize(
        "kind, stage, error",
        [
            ("good", None, None),
            (
                "nan",
                "outputs",
                "output 'y' has 3 NaN or infinite values among 3 (for 3 examples).",
            ),
            (
                "wrong_batch",
                "outputs",
                "output 'y' has shape [1] for 3 examples; its first dimension must "
                "be 3.",
            ),
            (
                "two_inputs",
                "signature",
                "it takes 2 inputs {'examples': 'string[None]', 'w': 'float32[None]'}.",
            ),
            (
                "float_input",
                "signature",
                "its input 'x' is float32[None], not a tf.string of shape [None].",
            ),
            (
                "raises",
                "run",
                "calling it on 3 examples raised InvalidArgumentError: Feature: z "
                "(data type: float) is required but could not be found.",
            ),
        ],
    )
    def test_each_check_in_this_process(
        self, tmp_path, saved_models, kind, stage, error
    ):
        # The checks themselves, without the cost of a fresh process per model.
        from components.pusher.smoke import run_checks

        records = tmp_path / "r.tfrecord"
        write_records(records, [serialized(float(i)) for i in range(3)])
        found = run_checks(str(saved_models[kind]), [str(records)], "", 8)
        assert found["ok"] is (stage is None)
        assert found.get("stage") == stage
        assert found.get("error") == error

    def test_a_model_that_does_not_load_fails_naming_the_tf_error(
        self, tmp_path, saved_models
    ):
        model = make_model(tmp_path, saved_models)
        pathlib.Path(model.serving_model_dir, "saved_model.pb").write_bytes(b"junk")
        dest = tmp_path / "dest"
        with pytest.raises(SmokeTestError) as caught:
            push(tmp_path, model, dest)
        assert caught.value.stage == "load"
        assert (
            f"The SavedModel {model.serving_model_dir} failed its smoke test "
            in str(caught.value)
        )
        assert "(load, signature 'serving_default'): " in str(caught.value)
        assert not dest.exists()

    def test_a_model_without_format_serving_says_it_must_come_from_a_trainer(
        self, tmp_path
    ):
        model = Model(uri=str(tmp_path / "model"))
        (tmp_path / "model").mkdir()
        with pytest.raises(FileNotFoundError) as caught:
            push(tmp_path, model, tmp_path / "dest")
        assert str(caught.value) == (
            f"Pusher 'Pusher': the Model at {model.uri} has no serving SavedModel: "
            f"{model.serving_model_dir} does not exist. The Model must come from a "
            f"Trainer, which writes it there; a Model of your own must save one with "
            f"tf.saved_model.save(obj, model.serving_model_dir, signatures=...)."
        )
        assert not (tmp_path / "dest").exists()

    def test_examples_are_taken_from_the_eval_split(self, tmp_path, saved_models):
        model = make_model(tmp_path, saved_models, samples=[serialized(1.0)] * 5)
        examples = make_examples(
            tmp_path,
            {
                "train": [serialized(float(i)) for i in range(20)],
                "eval": [serialized(float(i), "green") for i in range(3)],
            },
        )
        result, _ = push(tmp_path, model, tmp_path / "dest", examples=examples)
        checked = result["smoke_test"]
        assert checked["examples"] == 3
        assert checked["source"] == f"split 'eval' of the Examples at {examples.uri}"
        assert checked["outputs"] == {
            "color_id": {"dtype": "int64", "shape": [3]},
            "y": {"dtype": "float32", "shape": [3, 1]},
        }
        assert result["version"] == 1

    @pytest.mark.slow
    def test_wired_examples_come_before_the_models_samples(
        self, tmp_path, saved_models
    ):
        # The samples have z, the wired examples do not: only the samples would pass.
        model = make_model(
            tmp_path, saved_models, "raises", samples=[serialized(1.0, z=1.0)] * 3
        )
        examples = make_examples(
            tmp_path, {"test": [serialized(float(i)) for i in range(10)]}
        )
        with pytest.raises(SmokeTestError, match="on 8 examples raised"):
            push(tmp_path, model, tmp_path / "dest", examples=examples)
        assert not (tmp_path / "dest").exists()
        result, _ = push(tmp_path, model, tmp_path / "dest")
        assert result["smoke_test"]["source"] == model.sample_examples_path
        assert result["smoke_test"]["examples"] == 3

    def test_without_any_examples_only_the_load_and_signature_are_checked(
        self, tmp_path, saved_models, caplog
    ):
        model = make_model(tmp_path, saved_models, "nan")
        with caplog.at_level(logging.WARNING, logger="mlpipe"):
            result, _ = push(tmp_path, model, tmp_path / "dest")
        assert "no examples to smoke-test with" in caplog.text
        assert result["pushed"] and result["smoke_test"]["examples"] == 0
        assert result["smoke_test"]["input"] == "examples"

    def test_smoke_test_alone_reports_what_it_checked(self, saved_models, tmp_path):
        records = tmp_path / "r.tfrecord"
        write_records(records, [serialized(float(i)) for i in range(12)])
        checked = smoke_test(str(saved_models["good"]), [str(records)], count=4)
        assert checked == {
            "signature": "serving_default",
            "input": "examples",
            "examples": 4,
            "outputs": {
                "color_id": {"dtype": "int64", "shape": [4]},
                "y": {"dtype": "float32", "shape": [4, 1]},
            },
        }


class TestDestination:
    def test_a_destination_that_is_a_file_fails_before_anything_is_copied(
        self, tmp_path, saved_models
    ):
        model = make_model(tmp_path, saved_models)
        dest = tmp_path / "dest"
        dest.write_text("not a folder")
        with pytest.raises(ArtifactStorageError, match=re.escape(f"{dest} is a file")):
            push(tmp_path, model, dest)
        assert dest.read_text() == "not a folder"

    def test_a_destination_that_cannot_be_written_fails_before_anything_is_copied(
        self, tmp_path, saved_models
    ):
        model = make_model(tmp_path, saved_models)
        (tmp_path / "blocker").write_text("")
        dest = tmp_path / "blocker" / "serving"
        with pytest.raises(ArtifactStorageError, match="cannot be written"):
            push(tmp_path, model, dest)


@component
def train_test_model(
    model: Output[Model],
    blessing: Output[ModelBlessing],
    source: Parameter[str],
    samples: Parameter[str],
    blessed: Parameter[bool] = True,
):
    """Copies a prebuilt SavedModel and samples as a Trainer's Model; blesses it or not."""
    shutil.copytree(source, model.serving_model_dir)
    os.makedirs(os.path.dirname(model.sample_examples_path))
    shutil.copyfile(samples, model.sample_examples_path)
    blessing.blessed = blessed
    blessing.reasons = [] if blessed else ["loss 9.0 > 1.0"]


@pytest.mark.slow
class TestInAPipeline:
    def run(self, tmp_path, source, dest, blessed=True):
        samples = tmp_path / "samples.tfrecord"
        if not samples.exists():
            write_records(samples, [serialized(1.0), serialized(2.0, "blue")])
        trainer = train_test_model(
            source=str(source), samples=str(samples), blessed=blessed
        )
        pusher = Pusher(
            model=trainer.outputs["model"],
            model_blessing=trainer.outputs["blessing"],
            push_destination=str(dest),
        )
        return Pipeline(
            "push",
            [trainer, pusher],
            root=tmp_path / "root",
            store=f"sqlite:///{tmp_path / 'metadata.sqlite'}",
        ).run()

    def test_blessed_then_unblessed_then_broken(self, tmp_path, saved_models):
        dest = tmp_path / "serving"
        first = self.run(tmp_path, saved_models["good"], dest)
        pushed = first.artifact("Pusher", "pushed_model")
        assert (pushed.pushed, pushed.version) == (True, 1)
        assert pushed.pushed_uri == str(dest / "1")
        assert first.executions["Pusher"].result["version"] == 1
        assert entries(dest) == ["1"]

        second = self.run(tmp_path, saved_models["good"], dest, blessed=False)
        assert second.state == "COMPLETE"
        skipped = second.artifact("Pusher", "pushed_model")
        assert skipped.pushed is False
        assert "loss 9.0 > 1.0" in skipped.reason
        assert second.executions["Pusher"].result["pushed"] is False
        assert entries(dest) == ["1"]

        with pytest.raises(PipelineRunError) as caught:
            self.run(tmp_path, saved_models["nan"], dest)
        assert "SmokeTestError" in str(caught.value)
        assert "NaN" in str(caught.value)
        assert entries(dest) == ["1"]
