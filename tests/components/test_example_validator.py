"""ExampleValidator: each kind of anomaly on crafted taxi data, none on clean data,
and the three statistics components in a real pipeline run."""

import pathlib
import re

import pytest

from components.example_validator import (
    ExampleValidator,
    count_anomalies,
    validate_statistics,
)
from components.schema_gen import SchemaGen, infer_schema
from components.statistics_gen import StatisticsGen
from pipeline import (
    DefinitionError,
    ExampleAnomalies,
    Examples,
    Output,
    Pipeline,
    Schema,
    component,
)
from tests.components.test_statistics_gen import (
    column_kinds,
    make_context,
    split_statistics,
    taxi_rows,
    taxi_split,
    write_examples,
    write_statistics_artifact,
)

KINDS = column_kinds(list(taxi_rows()))


@pytest.fixture(scope="module")
def train_stats():
    return split_statistics(taxi_split("train"), "train")


@pytest.fixture(scope="module")
def schema(train_stats):
    """The schema inferred from the train split, with domains for every string."""
    return infer_schema([train_stats], max_string_domain_size=1000)


def crafted(change, kinds=None):
    """Statistics of the train rows (the schema's own) after ``change`` edits a copy."""
    rows = [dict(r) for r in taxi_split("train")]
    change(rows)
    return split_statistics(rows, "crafted", kinds or KINDS)


def kinds_found(anomalies):
    """{feature: [AnomalyInfo.Type names]} of an Anomalies proto."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    return {
        name: [anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason]
        for name, info in anomalies.anomaly_info.items()
    }


def description(anomalies, name):
    return anomalies.anomaly_info[name].reason[0].description


def write_schema(path, schema) -> Schema:
    from google.protobuf import text_format

    artifact = Schema(uri=str(path))
    pathlib.Path(artifact.schema_path).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(artifact.schema_path).write_text(text_format.MessageToString(schema))
    return artifact


class TestAnomalyKinds:
    def test_no_anomalies_on_the_data_the_schema_came_from(self, train_stats, schema):
        assert kinds_found(validate_statistics(train_stats, schema)) == {}

    def test_the_real_eval_split_has_values_train_never_saw(self, schema):
        train, eval_ = taxi_split("train"), taxi_split("eval")
        unseen = {r["payment_type"] for r in eval_} - {r["payment_type"] for r in train}
        assert unseen, "the taxi file changed: eval no longer has new payment types"
        found = validate_statistics(split_statistics(eval_, "eval"), schema)
        assert (
            "ENUM_TYPE_UNEXPECTED_STRING_VALUES" in kinds_found(found)["payment_type"]
        )
        text = description(found, "payment_type")
        for value in unseen:
            count = sum(1 for r in eval_ if r["payment_type"] == value)
            assert f"{value!r} ({count})" in text

    def test_missing_column(self, schema):
        def drop_fare(rows):
            for r in rows:
                r["fare"] = ""

        found = validate_statistics(crafted(drop_fare), schema)
        assert kinds_found(found) == {"fare": ["SCHEMA_MISSING_COLUMN"]}
        assert description(found, "fare").startswith(
            "Column dropped: the schema expects the feature (presence min_count 1, "
            f"min_fraction 1), but none of the {len(taxi_split('train')):,} examples"
        )

    def test_new_column(self, schema):
        def add_surge(rows):
            for r in rows[:7]:
                r["surge"] = "1.5"

        found = validate_statistics(
            crafted(add_surge, {**KINDS, "surge": "float"}), schema
        )
        assert kinds_found(found) == {"surge": ["SCHEMA_NEW_COLUMN"]}
        assert "present in 7 of" in description(found, "surge")

    def test_new_string_values_outside_the_domain(self, schema):
        def pay_in_bitcoin(rows):
            for r in rows[:3]:
                r["payment_type"] = "Bitcoin"

        found = validate_statistics(crafted(pay_in_bitcoin), schema)
        assert kinds_found(found) == {
            "payment_type": ["ENUM_TYPE_UNEXPECTED_STRING_VALUES"]
        }
        known = len({r["payment_type"] for r in taxi_split("train")})
        assert description(found, "payment_type") == (
            f"Unexpected string values: 0.03% of the values are not in the domain "
            f"'payment_type' of {known} values: 'Bitcoin' (3)."
        )

    def test_type_change(self, schema):
        def hours_as_text(rows):
            for r in rows:
                r["trip_start_hour"] = f"{r['trip_start_hour']}h"

        found = validate_statistics(
            crafted(hours_as_text, {**KINDS, "trip_start_hour": "string"}), schema
        )
        assert kinds_found(found) == {"trip_start_hour": ["UNEXPECTED_DATA_TYPE"]}
        assert description(found, "trip_start_hour") == (
            "Unexpected data type: the schema says INT, the examples hold BYTES "
            "values (STRING in the statistics)."
        )

    def test_unexpected_missing_values(self, schema):
        def blank_some_fares(rows):
            for r in rows[:50]:
                r["fare"] = ""

        found = validate_statistics(crafted(blank_some_fares), schema)
        assert kinds_found(found) == {"fare": ["FEATURE_TYPE_LOW_FRACTION_PRESENT"]}
        assert description(found, "fare").startswith(
            f"Unexpected missing values: 50 of {len(taxi_split('train')):,} examples"
        )

    def test_too_many_values_and_out_of_range_numbers(self):
        import pyarrow as pa
        from google.protobuf import text_format
        from tensorflow_metadata.proto.v0 import schema_pb2

        from components.stats.combiner import statistics_from_batches

        user_schema = text_format.Parse(
            'feature { name: "hour" type: INT shape { dim { size: 1 } }'
            "  int_domain { min: 0 max: 23 } }",
            schema_pb2.Schema(),
        )
        hours = pa.array([[3], [25, 1]], pa.large_list(pa.int64()))
        stats = statistics_from_batches([pa.RecordBatch.from_pydict({"hour": hours})])
        found = validate_statistics(stats, user_schema)
        assert kinds_found(found) == {
            "hour": ["FEATURE_TYPE_HIGH_NUMBER_VALUES", "INT_TYPE_BIG_INT"]
        }
        assert found.anomaly_info["hour"].short_description == "Multiple errors"

    def test_deprecated_features_are_not_checked(self, schema):
        def drop_fare(rows):
            for r in rows:
                r["fare"] = ""

        relaxed = type(schema)()
        relaxed.CopyFrom(schema)
        next(f for f in relaxed.feature if f.name == "fare").deprecated = True
        assert "fare" not in kinds_found(
            validate_statistics(crafted(drop_fare), relaxed)
        )

    def test_a_split_without_examples(self, schema):
        from tensorflow_metadata.proto.v0 import statistics_pb2

        empty = statistics_pb2.DatasetFeatureStatistics(name="eval", num_examples=0)
        found = validate_statistics(empty, schema)
        assert count_anomalies(found) == 1
        assert found.dataset_anomaly_info.reason[0].short_description == "No examples"


class TestComponent:
    def test_counts_per_split_and_files(self, tmp_path, train_stats, schema):
        def pay_in_bitcoin_without_fares(rows):
            for r in rows[:3]:
                r["payment_type"] = "Bitcoin"
                r["fare"] = ""

        statistics = write_statistics_artifact(
            tmp_path / "statistics",
            {"train": train_stats, "eval": crafted(pay_in_bitcoin_without_fares)},
        )
        anomalies = ExampleAnomalies(uri=str(tmp_path / "anomalies"))
        result = ExampleValidator.fn(
            statistics=statistics,
            schema=write_schema(tmp_path / "schema", schema),
            anomalies=anomalies,
            context=make_context("validator", tmp_path),
        )
        assert result == {"anomaly_count": 2, "anomaly_counts": {"train": 0, "eval": 2}}
        assert anomalies.anomaly_count == 2
        assert anomalies.split_names == ["train", "eval"]

        from tensorflow_metadata.proto.v0 import anomalies_pb2

        eval_dir = pathlib.Path(anomalies.split_uri("eval"))
        stored = anomalies_pb2.Anomalies.FromString(
            (eval_dir / "SchemaDiff.pb").read_bytes()
        )
        assert sorted(stored.anomaly_info) == ["fare", "payment_type"]
        assert len(stored.baseline.feature) == len(schema.feature)
        lines = (eval_dir / "anomalies.txt").read_text().splitlines()
        assert lines[0] == (
            f"Split 'eval': 2 anomalies against the schema ({len(schema.feature)} features)"
        )
        assert lines[1].split() == ["feature", "anomaly", "description"]
        assert lines[2].startswith("fare          Unexpected missing values")
        train_text = (
            pathlib.Path(anomalies.split_uri("train")) / "anomalies.txt"
        ).read_text()
        assert train_text.startswith("Split 'train': no anomalies against the schema")

    def test_excluded_splits_are_not_validated(self, tmp_path, train_stats, schema):
        statistics = write_statistics_artifact(
            tmp_path / "statistics", {"train": train_stats, "eval": train_stats}
        )
        anomalies = ExampleAnomalies(uri=str(tmp_path / "anomalies"))
        result = ExampleValidator.fn(
            statistics=statistics,
            schema=write_schema(tmp_path / "schema", schema),
            anomalies=anomalies,
            context=make_context("validator", tmp_path),
            exclude_splits=["eval"],
        )
        assert result == {"anomaly_count": 0, "anomaly_counts": {"train": 0}}
        assert not pathlib.Path(anomalies.split_uri("eval")).exists()

    def test_a_broken_schema_artifact_is_named(self, tmp_path, train_stats):
        statistics = write_statistics_artifact(tmp_path / "s", {"train": train_stats})
        schema = Schema(uri=str(tmp_path / "schema"))
        pathlib.Path(schema.uri).mkdir()
        pathlib.Path(schema.schema_path).write_text("feature {")
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                f"ExampleValidator 'validator': schema '{schema.schema_path}' is not a "
                f"text-format tensorflow_metadata Schema"
            ),
        ):
            ExampleValidator.fn(
                statistics=statistics,
                schema=schema,
                anomalies=ExampleAnomalies(uri=str(tmp_path / "a")),
                context=make_context("validator", tmp_path),
            )


@component
def write_taxi_examples(examples: Output[Examples]):
    """Writes the taxi CSV as train and eval Examples (a stand-in for ExampleGen)."""
    written = write_examples(
        examples.uri, {"train": taxi_split("train"), "eval": taxi_split("eval")}
    )
    examples.split_names = written.split_names
    examples.row_counts = written.row_counts


@pytest.mark.slow
def test_statistics_schema_and_validation_in_a_pipeline(tmp_path, store_url):
    from pipeline import MetadataStore

    gen = write_taxi_examples()
    stats = StatisticsGen(examples=gen.outputs["examples"])
    schema = SchemaGen(statistics=stats.outputs["statistics"])
    validator = ExampleValidator(
        statistics=stats.outputs["statistics"], schema=schema.outputs["schema"]
    )
    result = Pipeline(
        "taxi_stats",
        [gen, stats, schema, validator],
        root=tmp_path / "root",
        store=store_url,
    ).run()
    assert result.state == "COMPLETE"

    with MetadataStore(store_url) as store:
        stored = {
            a.TYPE_NAME: a for a in store.get_artifacts(pipeline_name="taxi_stats")
        }
        executions = {e.component_id: e for e in store.executions_of_run(result.run_id)}
    assert stored["ExampleStatistics"].split_names == ["train", "eval"]
    assert pathlib.Path(stored["Schema"].uri, "schema.pbtxt").is_file()
    anomalies = stored["ExampleAnomalies"]
    counts = executions["ExampleValidator"].result["anomaly_counts"]
    assert counts["train"] == 0
    assert anomalies.anomaly_count == sum(counts.values())
    assert executions["StatisticsGen"].result == {
        "num_examples": {
            "train": len(taxi_split("train")),
            "eval": len(taxi_split("eval")),
        }
    }
    assert executions["SchemaGen"].result["source"] == "statistics of splits ['train']"
    for split in ("train", "eval"):
        assert pathlib.Path(anomalies.split_uri(split), "SchemaDiff.pb").is_file()
