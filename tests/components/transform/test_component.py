"""Transform on the real taxi data: values checked against numbers computed here, the
layout of its outputs, and every way its input can be wrong."""

import collections
import csv
import math
import pathlib
import re
import statistics
import subprocess
import sys

import numpy as np
import pytest

from components.transform import Transform
from pipeline import DefinitionError, Examples, Schema, TransformGraph
from tests.components.conftest import (
    EVAL_ID_START,
    TAXI_MODULE,
    read_examples,
    taxi_rows_with_ids,
)
from tests.components.test_statistics_gen import make_context

OWNER = "Transform 'transform'"
TAXI = TAXI_MODULE.read_text()


def run_transform(tmp_path, examples, schema, module_file, **params):
    """Calls Transform's function into fresh output folders: (result, graph, examples)."""
    graph = TransformGraph(uri=str(tmp_path / "transform_graph"))
    transformed = Examples(uri=str(tmp_path / "transformed_examples"))
    for artifact in (graph, transformed):
        pathlib.Path(artifact.uri).mkdir(parents=True)
    result = Transform.fn(
        examples=examples,
        schema=schema,
        module_file=str(module_file),
        transform_graph=graph,
        transformed_examples=transformed,
        context=make_context("transform", tmp_path),
        **params,
    )
    return result, graph, transformed


def module(tmp_path, body, name="prep.py"):
    path = tmp_path / name
    path.write_text(
        "import tensorflow as tf\nimport tensorflow_transform as tft\n\n" + body
    )
    return path


def filled(rows, column, parse=float, default=0.0):
    return [parse(r[column]) if r[column] != "" else default for r in rows]


def by_id(rows):
    return {r["row_id"][0]: r for r in rows}


def test_importing_transform_and_input_fn_leaves_tensorflow_out():
    code = (
        "import sys\n"
        "import components.transform, components.input_fn\n"
        "heavy = ['tensorflow', 'apache_beam', 'tensorflow_transform', 'tfx_bsl']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_transform_is_registered_under_its_name():
    from pipeline import registry

    assert registry.component("Transform") is Transform
    assert Transform.spec.parameters["module_file"].module_file


class TestSplitsAndFiles:
    def test_an_unknown_split_to_analyze_is_named(self, tmp_path):
        examples = Examples(uri=str(tmp_path), properties={"split_names": ["train"]})
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                f"{OWNER}: analyze_splits names split 'trian', but the input has only "
                f"['train']. Did you mean 'train'?"
            ),
        ):
            run_transform(
                tmp_path, examples, Schema(uri="x"), "m.py", analyze_splits=["trian"]
            )

    def test_without_a_train_split_the_splits_to_analyze_must_be_named(self, tmp_path):
        examples = Examples(uri=str(tmp_path), properties={"split_names": ["a", "b"]})
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                f"{OWNER}: the examples have no 'train' split to analyze (they have "
                f"['a', 'b']); name the splits the analyzers should see, e.g. "
                f"analyze_splits=['a']."
            ),
        ):
            run_transform(tmp_path, examples, Schema(uri="x"), "m.py")

    def test_a_split_without_shards_is_named(self, tmp_path):
        examples = Examples(uri=str(tmp_path), properties={"split_names": ["train"]})
        with pytest.raises(
            FileNotFoundError, match="split 'train' has no example files"
        ):
            run_transform(tmp_path, examples, Schema(uri="x"), "m.py")

    def test_a_missing_module_file_is_named(self, tmp_path, taxi_examples, taxi_schema):
        missing = tmp_path / "taxi_preprocessing.py"
        with pytest.raises(
            DefinitionError,
            match=re.escape(f"{OWNER}: module_file '{missing}' is not a file"),
        ):
            run_transform(tmp_path, taxi_examples, taxi_schema, missing)


class TestPreprocessingFnErrors:
    """Found while tensorflow-transform traces preprocessing_fn: before any data runs."""

    def test_a_feature_the_schema_lacks_is_named_with_a_suggestion(
        self, tmp_path, taxi_examples, taxi_schema
    ):
        path = module(
            tmp_path,
            "def preprocessing_fn(inputs):\n"
            "    return {'tip_z': tft.scale_to_z_score(inputs['tip'])}\n",
        )
        with pytest.raises(DefinitionError) as caught:
            run_transform(tmp_path, taxi_examples, taxi_schema, path)
        message = str(caught.value)
        assert message.startswith(
            f"{OWNER}: preprocessing_fn in {path} at line 5 (`return {{'tip_z': "
            f"tft.scale_to_z_score(inputs['tip'])}}`) reads the feature 'tip', which "
            f"the schema {taxi_schema.schema_path} does not have. Did you mean 'tips'? "
            f"The schema's features: company, dropoff_census_tract,"
        )
        assert message.endswith(
            "Check the name, or test for optional features with `if 'tip' in inputs`."
        )
        assert not list(pathlib.Path(tmp_path / "transformed_examples").iterdir())

    def test_a_string_op_on_an_int_feature_names_the_feature(
        self, tmp_path, taxi_examples, taxi_schema
    ):
        path = module(
            tmp_path,
            "def preprocessing_fn(inputs):\n"
            "    hour = tf.squeeze(inputs['trip_start_hour'], axis=1)\n"
            "    return {'hour': tf.strings.lower(hour)}\n",
        )
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                f"{OWNER}: preprocessing_fn in {path} failed at line 6 (`return "
                f"{{'hour': tf.strings.lower(hour)}}`): TypeError: Input 'input' of "
                f"'StringLower' Op has type int64 that does not match expected type of "
                f"string. The feature 'trip_start_hour' is INT in the schema and "
                f"reaches preprocessing_fn as an int64 Tensor of shape [None, 1]. "
                f"Convert it to the type the operation expects (tf.cast, "
                f"tf.strings.as_string, tf.strings.to_number), or fix the schema."
            ),
        ) as caught:
            run_transform(tmp_path, taxi_examples, taxi_schema, path)
        assert isinstance(caught.value.__cause__, TypeError)

    def test_an_analyzer_given_strings_names_the_feature_read_in_a_loop(
        self, tmp_path, taxi_examples, taxi_schema
    ):
        path = module(
            tmp_path,
            "KEYS = ['fare', 'company']\n\n"
            "def preprocessing_fn(inputs):\n"
            "    outputs = {}\n"
            "    for key in KEYS:\n"
            "        outputs[key] = tft.scale_to_z_score(inputs[key])\n"
            "    return outputs\n",
        )
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                "failed at line 9 (`outputs[key] = tft.scale_to_z_score(inputs[key])`)"
                ": TypeError: Tensor type tf.string is not supported. The feature "
                "'company' is BYTES in the schema and reaches preprocessing_fn as a "
                "string SparseTensor of shape [None, None]."
            ),
        ):
            run_transform(tmp_path, taxi_examples, taxi_schema, path)

    def test_a_result_that_is_not_a_dict_is_refused(
        self, tmp_path, taxi_examples, taxi_schema
    ):
        path = module(
            tmp_path, "def preprocessing_fn(inputs):\n    return [inputs['fare']]\n"
        )
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                f"{OWNER}: preprocessing_fn in {path} must return a non-empty dict of "
                f"feature name -> tensor; it returned list"
            ),
        ):
            run_transform(tmp_path, taxi_examples, taxi_schema, path)


@pytest.fixture(scope="module")
def transformed(taxi_transform):
    """The transformed taxi rows of each split, by row id."""
    return {
        split: by_id(read_examples(taxi_transform.transformed_examples, split))
        for split in ("train", "eval")
    }


@pytest.fixture(scope="module")
def output(taxi_transform):
    import tensorflow_transform as tft

    return tft.TFTransformOutput(taxi_transform.transform_graph.uri)


@pytest.mark.slow
class TestTaxi:
    """The taxi module's outputs against numbers computed from the CSV rows."""

    def test_the_result_and_the_layout(self, taxi_transform):
        graph, examples, result = taxi_transform
        counts = {s: len(taxi_rows_with_ids(s)) for s in ("train", "eval")}
        assert result["analyzed_splits"] == ["train"]
        assert result["transformed_examples"] == counts
        assert examples.split_names == ["train", "eval"]
        assert examples.row_counts == counts
        assert "big_tipper" in result["features"] and "fare_xf" in result["features"]
        root = pathlib.Path(graph.uri)
        assert sorted(p.name for p in root.iterdir()) == [
            "metadata",
            "transform_fn",
            "transformed_metadata",
        ]
        assert (root / "metadata" / "schema.pbtxt").is_file()
        for split in counts:
            shards = list(pathlib.Path(examples.split_uri(split)).iterdir())
            assert shards and all(
                re.fullmatch(r"data-\d{5}-of-\d{5}\.tfrecord\.gz", p.name)
                for p in shards
            )

    def test_every_row_of_every_split_is_transformed_once(self, transformed):
        for split in ("train", "eval"):
            ids = sorted(transformed[split])
            start = EVAL_ID_START if split == "eval" else 0
            assert ids == list(range(start, start + len(taxi_rows_with_ids(split))))

    def test_transform_output_reads_both_feature_specs(self, output):
        import tensorflow as tf

        spec = output.transformed_feature_spec()
        assert spec["fare_xf"] == tf.io.FixedLenFeature([], tf.float32)
        assert spec["payment_type_xf"] == tf.io.FixedLenFeature([], tf.int64)
        raw = output.raw_feature_spec()
        assert raw["fare"] == tf.io.FixedLenFeature([1], tf.float32)
        assert raw["company"] == tf.io.VarLenFeature(tf.string)

    @pytest.mark.parametrize("column", ["fare", "trip_miles", "trip_seconds"])
    def test_z_scores_use_the_train_mean_and_deviation(self, transformed, column):
        train = taxi_rows_with_ids("train")
        values = filled(train, column)
        mean, std = statistics.fmean(values), statistics.pstdev(values)
        if column == "trip_seconds":
            assert any(r[column] == "" for r in train)  # missing values count as 0
        for split in ("train", "eval"):
            for row in taxi_rows_with_ids(split):
                raw = float(row[column]) if row[column] != "" else 0.0
                got = transformed[split][int(row["row_id"])][f"{column}_xf"][0]
                assert got == pytest.approx((raw - mean) / std, rel=1e-4, abs=1e-4)

    @pytest.mark.parametrize("column", ["payment_type", "company"])
    def test_vocabularies_are_ordered_by_train_frequency(
        self, transformed, output, column
    ):
        train = taxi_rows_with_ids("train")
        # Empty strings (here: missing values) never enter a vocabulary.
        counts = collections.Counter(r[column] for r in train if r[column])
        vocabulary = [v.decode() for v in output.vocabulary_by_name(column)]
        assert set(vocabulary) == set(counts)
        frequencies = [counts[v] for v in vocabulary]
        assert frequencies == sorted(frequencies, reverse=True)
        index = {value: i for i, value in enumerate(vocabulary)}
        unseen = 0
        for row in taxi_rows_with_ids("eval"):
            got = transformed["eval"][int(row["row_id"])][f"{column}_xf"][0]
            if row[column] in index:
                assert got == index[row[column]]
            else:
                unseen += 1
                assert len(vocabulary) <= got < len(vocabulary) + 10  # OOV buckets
        if column == "company":
            assert unseen > 0

    def test_bucketize_splits_at_the_train_deciles(self, transformed):
        train = taxi_rows_with_ids("train")
        values = np.array(filled(train, "pickup_latitude"), dtype=np.float32)
        deciles = np.quantile(values, np.arange(1, 10) / 10)
        agree = 0
        buckets = []
        for row, value in zip(train, values):
            got = transformed["train"][int(row["row_id"])]["pickup_latitude_xf"][0]
            buckets.append(got)
            agree += got == np.searchsorted(deciles, value, side="right")
        assert set(buckets) <= set(range(10))
        order = np.argsort(values, kind="stable")
        assert np.all(np.diff(np.array(buckets)[order]) >= 0)  # monotone in the value
        assert agree / len(train) > 0.97  # the quantiles are approximate

    def test_the_label_compares_the_tip_with_a_fifth_of_the_fare(self, transformed):
        positives = 0
        for split in ("train", "eval"):
            for row in taxi_rows_with_ids(split):
                fare, tips = np.float32(row["fare"]), np.float32(row["tips"])
                expected = int(tips > fare * np.float32(0.2))
                got = transformed[split][int(row["row_id"])]["big_tipper"][0]
                assert got == expected
                positives += expected
        assert 0 < positives < len(taxi_rows_with_ids("train"))

    def test_categorical_features_pass_through(self, transformed):
        for row in taxi_rows_with_ids("eval"):
            got = transformed["eval"][int(row["row_id"])]
            assert got["trip_start_hour_xf"] == [int(row["trip_start_hour"])]
            assert got["trip_start_day_xf"] == [int(row["trip_start_day"])]


@pytest.mark.slow
def test_analyzing_two_splits_and_transforming_one(
    tmp_path, taxi_examples, taxi_schema
):
    path = module(
        tmp_path,
        "def preprocessing_fn(inputs):\n"
        "    return {'fare_xf': tft.scale_to_z_score(tf.squeeze(inputs['fare'], 1)),\n"
        "            'row_id': tf.squeeze(inputs['row_id'], 1)}\n",
    )
    result, graph, transformed = run_transform(
        tmp_path,
        taxi_examples,
        taxi_schema,
        path,
        analyze_splits=["train", "eval"],
        transform_splits=["eval"],
    )
    assert result["analyzed_splits"] == ["train", "eval"]
    assert result["transformed_examples"] == {"eval": 5000}
    assert sorted(p.name for p in pathlib.Path(transformed.uri).iterdir()) == [
        "Split-eval"
    ]
    rows = taxi_rows_with_ids("train") + taxi_rows_with_ids("eval")
    fares = [float(r["fare"]) for r in rows]
    mean, std = statistics.fmean(fares), statistics.pstdev(fares)
    got = by_id(read_examples(transformed, "eval"))
    for row in taxi_rows_with_ids("eval"):
        assert got[int(row["row_id"])]["fare_xf"][0] == pytest.approx(
            (float(row["fare"]) - mean) / std, rel=1e-4, abs=1e-4
        )


@pytest.mark.slow
def test_without_materializing_only_the_graph_is_written(
    tmp_path, taxi_examples, taxi_schema
):
    result, graph, transformed = run_transform(
        tmp_path, taxi_examples, taxi_schema, TAXI_MODULE, materialize=False
    )
    assert result["transformed_examples"] == {}
    assert transformed.split_names == []
    assert not list(pathlib.Path(transformed.uri).iterdir())
    assert (pathlib.Path(graph.uri) / "transform_fn" / "saved_model.pb").is_file()


@pytest.mark.slow
def test_example_gen_schema_gen_transform_in_a_pipeline(tmp_path, store_url):
    """CsvExampleGen -> StatisticsGen -> SchemaGen -> Transform, run and run again."""
    from components.example_gen import CsvExampleGen
    from components.schema_gen import SchemaGen
    from components.statistics_gen import StatisticsGen
    from pipeline import Pipeline
    from tests.components.test_statistics_gen import TAXI_CSV

    data = tmp_path / "data"
    data.mkdir()
    with open(TAXI_CSV, newline="") as source, open(data / "taxi.csv", "w") as sink:
        reader = csv.reader(source)
        writer = csv.writer(sink)
        writer.writerow([*next(reader), "row_id"])
        for i, row in enumerate(reader):
            writer.writerow([*row, i])
    module_file = tmp_path / "taxi_module.py"
    module_file.write_text(TAXI)

    def build():
        gen = CsvExampleGen(input_base=str(data))
        stats = StatisticsGen(examples=gen.outputs["examples"])
        schema = SchemaGen(statistics=stats.outputs["statistics"])
        transform = Transform(
            examples=gen.outputs["examples"],
            schema=schema.outputs["schema"],
            module_file=str(module_file),
        )
        return Pipeline(
            "taxi",
            [gen, stats, schema, transform],
            root=tmp_path / "runs",
            store=store_url,
        )

    result = build().run()
    graph = result.artifact("Transform", "transform_graph")
    transformed = result.artifact("Transform", "transformed_examples")
    raw = result.artifact("CsvExampleGen", "examples")
    assert transformed.split_names == raw.split_names == ["train", "eval"]
    assert transformed.row_counts == raw.row_counts

    import tensorflow_transform as tft

    output = tft.TFTransformOutput(graph.uri)
    assert "big_tipper" in output.transformed_feature_spec()
    train = read_examples(raw, "train")
    fares = [r["fare"][0] for r in train]
    mean, std = statistics.fmean(fares), statistics.pstdev(fares)
    payments = collections.Counter(r["payment_type"][0] for r in train)
    assert output.vocabulary_by_name("payment_type")[0] == payments.most_common(1)[0][0]
    rows = by_id(read_examples(transformed, "eval"))
    for row in read_examples(raw, "eval"):
        got = rows[row["row_id"][0]]
        assert got["fare_xf"][0] == pytest.approx(
            (row["fare"][0] - mean) / std, rel=1e-4, abs=1e-4
        )
        assert got["big_tipper"][0] == int(
            np.float32(row["tips"][0]) > np.float32(row["fare"][0]) * np.float32(0.2)
        )
        assert not math.isnan(got["trip_seconds_xf"][0])

    again = build().run()
    assert again.executions["Transform"].state.value == "CACHED"
    assert again.artifact("Transform", "transform_graph").uri == graph.uri
