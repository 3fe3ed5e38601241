"""Serving receivers: parsing and raw-tensor, with and without the transform graph,
called the TF2 way, the graph way, and exported then loaded in a fresh process."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from components.input_fn import (
    build_parsing_serving_input_receiver_fn,
    build_raw_serving_input_receiver_fn,
    export_serving_model,
    raw_feature_spec,
    raw_tensor_specs,
)
from pipeline import DefinitionError
from tests.components.conftest import (
    decode_example,
    raw_records,
    read_examples,
    write_schema_artifact,
)

KINDS = {"id": "int", "x": "float", "s": "string"}
ROWS = [{"id": "1", "x": "0.5", "s": "a"}, {"id": "2", "x": "1.5", "s": ""}]


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    return write_schema_artifact(tmp_path_factory.mktemp("schema"), ROWS, KINDS)


def serialized(rows):
    import tensorflow as tf

    out = []
    for row in rows:
        example = tf.train.Example()
        for name, value in row.items():
            if value == "":
                continue
            feature = example.features.feature[name]
            if KINDS.get(name) == "int":
                feature.int64_list.value.append(int(value))
            elif KINDS.get(name) == "float":
                feature.float_list.value.append(float(value))
            else:
                feature.bytes_list.value.append(value.encode())
        out.append(example.SerializeToString())
    return out


class TestParsingReceiver:
    def test_serialized_examples_in_features_out(self, schema):
        import tensorflow as tf

        receiver_fn = build_parsing_serving_input_receiver_fn(
            schema=schema, label_keys=["x"]
        )
        assert receiver_fn.receiver_tensors_spec == {
            "examples": tf.TensorSpec([None], tf.string, name="examples")
        }
        serve = receiver_fn.signature(lambda f: {"id": f["id"], "s": f["s"].values})
        out = serve({"examples": tf.constant(serialized(ROWS))})
        assert out["id"].numpy().ravel().tolist() == [1, 2]
        assert out["s"].numpy().tolist() == [b"a"]

    def test_it_is_shaped_like_an_estimator_receiver(self, schema):
        import tensorflow as tf

        receiver_fn = build_parsing_serving_input_receiver_fn(
            raw_feature_spec(schema), default_batch_size=2
        )
        examples = tf.constant(serialized(ROWS))
        receiver = receiver_fn({"examples": examples})
        assert receiver.receiver_tensors == {"examples": examples}
        assert sorted(receiver.features) == ["id", "s", "x"]
        assert receiver.receiver_tensors_alternatives is None
        assert receiver_fn.receiver_tensors_spec["examples"].shape == (2,)

    def test_called_without_tensors_in_a_graph_it_makes_placeholders(self, schema):
        import tensorflow as tf

        receiver_fn = build_parsing_serving_input_receiver_fn(schema=schema)
        made = {}

        def graph():
            receiver = receiver_fn()
            made["receiver"] = receiver
            return receiver.features["id"]

        wrapped = tf.compat.v1.wrap_function(graph, [])
        placeholder = made["receiver"].receiver_tensors["examples"]
        assert placeholder.op.type == "Placeholder" and placeholder.dtype == tf.string
        run = wrapped.prune(placeholder, wrapped.outputs[0])
        assert run(tf.constant(serialized(ROWS))).numpy().ravel().tolist() == [1, 2]

    def test_called_eagerly_without_tensors_it_says_how_to_call_it(self, schema):
        receiver_fn = build_parsing_serving_input_receiver_fn(schema=schema)
        with pytest.raises(DefinitionError, match=re.escape("needs graph mode")):
            receiver_fn()

    def test_wrong_input_names_are_refused(self, schema):
        import tensorflow as tf

        receiver_fn = build_parsing_serving_input_receiver_fn(schema=schema)
        with pytest.raises(
            DefinitionError,
            match=re.escape("This receiver takes the inputs ['examples'], got ['ex']."),
        ):
            receiver_fn({"ex": tf.constant([b""])})

    def test_an_unknown_label_key_is_named(self, schema):
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                "label_keys names 'xx', which is not a raw feature. Did you mean 'x'? "
                "Raw features: ['id', 's', 'x']."
            ),
        ):
            build_parsing_serving_input_receiver_fn(schema=schema, label_keys=["xx"])

    def test_the_raw_features_must_be_known(self):
        with pytest.raises(DefinitionError, match="needs the raw features"):
            build_parsing_serving_input_receiver_fn()


class TestRawReceiver:
    def test_tensors_in_features_out(self):
        import tensorflow as tf

        receiver_fn = build_raw_serving_input_receiver_fn(
            {"x": tf.TensorSpec([None, 2], tf.float32)}
        )
        assert receiver_fn.receiver_tensors_spec == {
            "x": tf.TensorSpec([None, 2], tf.float32, name="x")
        }
        x = tf.constant([[1.0, 2.0]])
        assert receiver_fn({"x": x}).features["x"] is x

    def test_from_a_schema_variable_length_features_become_sparse(self, schema):
        import tensorflow as tf

        receiver_fn = build_raw_serving_input_receiver_fn(
            schema=schema, label_keys=["x"]
        )
        specs = receiver_fn.receiver_tensors_spec
        assert specs["id"].shape.as_list() == [None, 1]
        assert specs["s"].shape.as_list() == [None, None]
        features = receiver_fn(
            {"id": tf.constant([[1], [2]], tf.int64), "s": tf.constant([["a"], ["b"]])}
        ).features
        assert isinstance(features["s"], tf.SparseTensor)
        assert features["s"].values.numpy().tolist() == [b"a", b"b"]

    def test_raw_tensor_specs_follow_the_parsing_spec(self, schema):
        import tensorflow as tf

        specs = raw_tensor_specs(raw_feature_spec(schema), exclude=["x"], batch_size=3)
        assert specs == {
            "id": tf.TensorSpec([3, 1], tf.int64, name="id"),
            "s": tf.TensorSpec([3, None], tf.string, name="s"),
        }

    def test_without_features_or_schema_it_is_refused(self):
        with pytest.raises(DefinitionError, match="needs features="):
            build_raw_serving_input_receiver_fn()


LOAD_AND_SERVE = """
import json, sys
import numpy as np
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
serve = loaded.signatures["serving_default"]
records = [bytes.fromhex(h) for h in json.load(open(sys.argv[2]))]
out = serve(examples=tf.constant(records))
print(json.dumps({
    "outputs": {k: np.asarray(v).tolist() for k, v in out.items()},
    "tft_imported": "tensorflow_transform" in sys.modules,
}))
"""


def serve_in_fresh_process(tmp_path, export_dir, records):
    """Loads the SavedModel in a new Python and serves the records through it."""
    requests = tmp_path / "requests.json"
    requests.write_text(json.dumps([r.hex() for r in records]))
    result = subprocess.run(
        [sys.executable, "-c", LOAD_AND_SERVE, str(export_dir), str(requests)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def expected(taxi_transform):
    """Transform's output for the eval split, by row id."""
    return {
        row["row_id"][0]: row
        for row in read_examples(taxi_transform.transformed_examples, "eval")
    }


@pytest.mark.slow
class TestWithTheTransformGraph:
    """The taxi transform applied at serving time equals Transform's own output."""

    def test_an_exported_parsing_receiver_transforms_like_transform(
        self, tmp_path, taxi_examples, taxi_transform, expected
    ):
        receiver_fn = build_parsing_serving_input_receiver_fn(
            transform_graph=taxi_transform.transform_graph, label_keys=["tips"]
        )
        export_dir = export_serving_model(str(tmp_path / "serving"), receiver_fn)
        records = raw_records(taxi_examples, "eval")
        served = serve_in_fresh_process(tmp_path, export_dir, records)
        assert not served["tft_imported"]
        outputs = served["outputs"]
        # The label is computed from the tips, which a request does not carry.
        assert "big_tipper" not in outputs
        assert sorted(outputs) == sorted(
            set(next(iter(expected.values()))) - {"big_tipper"}
        )
        assert len(outputs["row_id"]) == len(records) == len(expected)
        for i, row_id in enumerate(outputs["row_id"]):
            want = expected[row_id]
            for name, values in outputs.items():
                assert values[i] == pytest.approx(want[name][0], rel=1e-6), name

    def test_a_receiver_built_in_a_graph_transforms_too(
        self, taxi_examples, taxi_transform, expected
    ):
        import tensorflow as tf

        receiver_fn = build_parsing_serving_input_receiver_fn(
            transform_graph=taxi_transform.transform_graph.uri, label_keys=["tips"]
        )
        made = {}

        def graph():
            made["receiver"] = receiver = receiver_fn()
            return receiver.features["fare_xf"], receiver.features["row_id"]

        wrapped = tf.compat.v1.wrap_function(graph, [])
        run = wrapped.prune(
            made["receiver"].receiver_tensors["examples"], wrapped.outputs
        )
        fares, ids = run(tf.constant(raw_records(taxi_examples, "eval")[:50]))
        for fare, row_id in zip(fares.numpy(), ids.numpy()):
            assert fare == pytest.approx(expected[row_id]["fare_xf"][0], rel=1e-6)

    def test_a_raw_tensor_receiver_transforms_complete_rows(
        self, taxi_examples, taxi_transform, expected
    ):
        import tensorflow as tf

        # The features the taxi module reads; pickup_census_tract and others are
        # nearly always missing, which a dense raw tensor cannot say.
        used = ["fare", "trip_miles", "trip_seconds", "payment_type", "company"]
        used += ["pickup_latitude", "dropoff_longitude", "trip_start_hour"]
        used += ["trip_start_day", "row_id"]
        all_specs = raw_tensor_specs(
            raw_feature_spec(taxi_transform.transform_graph.uri + "/metadata")
        )
        receiver_fn = build_raw_serving_input_receiver_fn(
            {name: all_specs[name] for name in used},
            transform_graph=taxi_transform.transform_graph,
            label_keys=["tips"],
        )
        rows = [decode_example(r) for r in raw_records(taxi_examples, "eval")]
        complete = [r for r in rows if all(r.get(n) for n in used)][:20]
        assert len(complete) == 20
        specs = receiver_fn.receiver_tensors_spec
        tensors = {
            n: tf.constant([r[n] for r in complete], dtype=specs[n].dtype) for n in used
        }
        features = receiver_fn.signature()(tensors)
        assert "big_tipper" not in features
        for i, row in enumerate(complete):
            want = expected[row["row_id"][0]]
            for name in (
                "fare_xf",
                "trip_seconds_xf",
                "company_xf",
                "pickup_latitude_xf",
            ):
                assert features[name].numpy()[i] == pytest.approx(
                    want[name][0], rel=1e-6
                )

    def test_a_keras_3_model_serves_from_raw_examples(
        self, tmp_path, taxi_examples, taxi_transform
    ):
        import keras
        import tensorflow as tf

        assert keras.__version__.startswith("3.")
        inputs = ["fare_xf", "trip_miles_xf", "trip_seconds_xf"]
        model = keras.Sequential(
            [
                keras.Input((3,)),
                keras.layers.Dense(
                    1, kernel_initializer=keras.initializers.GlorotUniform(seed=1)
                ),
            ]
        )

        def predict(features):
            stacked = tf.stack([features[n] for n in inputs], axis=1)
            return {"score": model(stacked)[:, 0]}

        receiver_fn = build_parsing_serving_input_receiver_fn(
            transform_graph=taxi_transform.transform_graph, label_keys=["tips"]
        )
        export_dir = export_serving_model(
            str(tmp_path / "keras"), receiver_fn, predict, trackables={"model": model}
        )
        records = raw_records(taxi_examples, "eval")[:64]
        served = serve_in_fresh_process(tmp_path, export_dir, records)
        assert not served["tft_imported"]
        here = receiver_fn.signature(predict)({"examples": tf.constant(records)})
        np.testing.assert_allclose(
            served["outputs"]["score"], here["score"].numpy(), rtol=1e-5
        )
