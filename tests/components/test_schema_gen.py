"""SchemaGen: schemas inferred from the taxi statistics, and users' own schema files."""

import pathlib
import re

import pytest

from components.schema_gen import SchemaGen, infer_schema
from pipeline import DefinitionError, ExampleStatistics, Schema
from tests.components.test_statistics_gen import (
    make_context,
    split_statistics,
    taxi_split,
    write_statistics_artifact,
)


@pytest.fixture(scope="module")
def taxi_stats():
    """Statistics of the taxi train and eval splits, computed in process."""
    return {
        split: split_statistics(taxi_split(split), split) for split in ("train", "eval")
    }


@pytest.fixture
def statistics(tmp_path, taxi_stats):
    return write_statistics_artifact(tmp_path / "statistics", taxi_stats)


def run_schema_gen(tmp_path, **kwargs):
    """Calls SchemaGen's function; returns (result, parsed schema, schema artifact)."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    schema = Schema(uri=str(tmp_path / "schema"))
    result = SchemaGen.fn(
        schema=schema, context=make_context("schema_gen", tmp_path), **kwargs
    )
    text = pathlib.Path(schema.schema_path).read_text()
    return result, text_format.Parse(text, schema_pb2.Schema()), schema


def by_name(schema):
    return {f.name: f for f in schema.feature}


def type_name(feature):
    from tensorflow_metadata.proto.v0 import schema_pb2

    return schema_pb2.FeatureType.Name(feature.type)


def domain_values(schema, feature):
    domains = {d.name: list(d.value) for d in schema.string_domain}
    return domains.get(feature.domain)


class TestInferredFromTaxi:
    def test_types_follow_the_values(self, tmp_path, statistics):
        _, schema, _ = run_schema_gen(tmp_path, statistics=statistics)
        features = by_name(schema)
        types = {
            name: type_name(features[name])
            for name in ("fare", "trip_start_hour", "payment_type", "company")
        }
        assert types == {
            "fare": "FLOAT",
            "trip_start_hour": "INT",
            "payment_type": "BYTES",
            "company": "BYTES",
        }

    def test_presence_and_shape(self, tmp_path, statistics):
        rows = taxi_split("train")
        assert all(r["fare"] for r in rows)
        assert any(not r["company"] for r in rows)
        result, schema, _ = run_schema_gen(tmp_path, statistics=statistics)
        features = by_name(schema)
        fare, company = features["fare"], features["company"]
        assert (fare.presence.min_fraction, fare.presence.min_count) == (1.0, 1)
        assert [d.size for d in fare.shape.dim] == [1]
        assert not fare.HasField("value_count")
        assert (company.presence.min_fraction, company.presence.min_count) == (0.0, 1)
        assert (company.value_count.min, company.value_count.max) == (1, 1)
        assert not company.HasField("shape")
        names = sorted({c for r in rows for c, v in r.items() if v})
        assert sorted(features) == names
        assert result["features"] == len(names)
        assert result["source"] == "statistics of splits ['train']"

    def test_string_domains_for_low_cardinality_strings(self, tmp_path, statistics):
        rows = taxi_split("train")
        payments = sorted({r["payment_type"] for r in rows})
        companies = {r["company"] for r in rows if r["company"]}
        assert len(payments) < 10 < len(companies)
        _, schema, _ = run_schema_gen(
            tmp_path, statistics=statistics, max_string_domain_size=10
        )
        features = by_name(schema)
        assert domain_values(schema, features["payment_type"]) == payments
        assert features["company"].domain == ""
        assert [d.name for d in schema.string_domain] == ["payment_type"]

    def test_the_domain_threshold_takes_in_every_company(self, tmp_path, statistics):
        rows = taxi_split("train")
        companies = sorted({r["company"] for r in rows if r["company"]})
        _, schema, _ = run_schema_gen(
            tmp_path, statistics=statistics, max_string_domain_size=len(companies)
        )
        assert domain_values(schema, by_name(schema)["company"]) == companies

    def test_several_splits_are_described_together(self, tmp_path, statistics):
        result, schema, _ = run_schema_gen(
            tmp_path, statistics=statistics, splits=["train", "eval"]
        )
        rows = taxi_split("train") + taxi_split("eval")
        features = by_name(schema)
        assert domain_values(schema, features["payment_type"]) == sorted(
            {r["payment_type"] for r in rows}
        )
        # The single census tract value is in one split only: optional, not dropped.
        tract = features["pickup_census_tract"]
        assert (tract.presence.min_fraction, tract.presence.min_count) == (0.0, 1)
        assert result["source"] == "statistics of splits ['train', 'eval']"

    def test_without_shapes_single_values_get_a_value_count(self, tmp_path, statistics):
        _, schema, _ = run_schema_gen(
            tmp_path, statistics=statistics, infer_feature_shape=False
        )
        fare = by_name(schema)["fare"]
        assert not fare.HasField("shape")
        assert (fare.value_count.min, fare.value_count.max) == (1, 1)


class TestInference:
    def batch(self, **columns):
        import pyarrow as pa

        kinds = {int: pa.int64(), float: pa.float32(), bytes: pa.large_binary()}
        arrays = {}
        for name, values in columns.items():
            first = next(v[0] for v in values if v)
            arrays[name] = pa.array(values, pa.large_list(kinds[type(first)]))
        return pa.RecordBatch.from_pydict(arrays)

    def stats(self, name="train", **columns):
        from components.stats.combiner import statistics_from_batches

        return statistics_from_batches([self.batch(**columns)], name)

    def test_lists_of_fixed_and_varying_length(self):
        schema = infer_schema(
            [self.stats(pair=[[1, 2], [3, 4]], tags=[[b"a"], [b"b", b"c"]])]
        )
        pair, tags = by_name(schema)["pair"], by_name(schema)["tags"]
        assert [d.size for d in pair.shape.dim] == [2]
        assert (tags.value_count.min, tags.value_count.max) == (1, 0)

    def test_ints_in_one_split_and_floats_in_another_become_floats(self):
        schema = infer_schema(
            [self.stats("a", x=[[1], [2]]), self.stats("b", x=[[1.5], [2.5]])]
        )
        assert type_name(by_name(schema)["x"]) == "FLOAT"

    def test_zero_max_domain_size_infers_no_domain(self):
        schema = infer_schema(
            [self.stats(kind=[[b"a"], [b"b"]])], max_string_domain_size=0
        )
        assert not schema.string_domain


class TestUserSchemaFile:
    def test_a_good_file_is_copied_as_it_is(self, tmp_path):
        path = tmp_path / "my_schema.pbtxt"
        text = (
            "# the fare, always\n"
            'feature { name: "fare" type: FLOAT presence { min_fraction: 1.0 } }\n'
            'feature { name: "payment_type" type: BYTES }\n'
        )
        path.write_text(text)
        result, schema, artifact = run_schema_gen(tmp_path, schema_file=str(path))
        assert pathlib.Path(artifact.schema_path).read_text() == text
        assert [f.name for f in schema.feature] == ["fare", "payment_type"]
        assert result == {"features": 2, "source": str(path)}

    def test_a_file_that_does_not_parse_names_the_file_and_the_line(self, tmp_path):
        path = tmp_path / "broken.pbtxt"
        path.write_text('feature { name: "fare" type: FLOAT }\nfeature { nme: "x" }\n')
        with pytest.raises(DefinitionError) as caught:
            run_schema_gen(tmp_path, schema_file=str(path))
        message = str(caught.value)
        assert message.startswith(
            f"SchemaGen 'schema_gen': schema_file '{path}' is not a text-format "
            f"tensorflow_metadata Schema: 2:"
        )
        assert '"nme"' in message
        assert "features look like:" in message

    def test_a_missing_file_is_named(self, tmp_path):
        path = tmp_path / "nowhere.pbtxt"
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                f"SchemaGen 'schema_gen': schema_file '{path}' is not a file."
            ),
        ):
            run_schema_gen(tmp_path, schema_file=str(path))

    def test_a_schema_without_features_is_refused(self, tmp_path):
        path = tmp_path / "empty.pbtxt"
        path.write_text("# nothing\n")
        with pytest.raises(DefinitionError, match="parses as a Schema but declares no"):
            run_schema_gen(tmp_path, schema_file=str(path))


class TestErrors:
    def test_neither_statistics_nor_a_schema_file(self, tmp_path):
        with pytest.raises(
            DefinitionError,
            match=re.escape("SchemaGen 'schema_gen': nothing to make a schema from."),
        ):
            run_schema_gen(tmp_path)

    def test_without_a_train_split_the_splits_must_be_named(self, tmp_path, taxi_stats):
        statistics = write_statistics_artifact(
            tmp_path / "s", {"big": taxi_stats["train"], "small": taxi_stats["eval"]}
        )
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                "the statistics have no 'train' split to infer the schema from (they "
                "have ['big', 'small']). Name the splits to use, e.g. splits=['big']."
            ),
        ):
            run_schema_gen(tmp_path, statistics=statistics)
        _, schema, _ = run_schema_gen(tmp_path, statistics=statistics, splits=["big"])
        assert by_name(schema)["fare"].presence.min_fraction == 1.0

    def test_statistics_without_values_are_an_error(self, tmp_path):
        from tensorflow_metadata.proto.v0 import statistics_pb2

        empty = statistics_pb2.DatasetFeatureStatistics(name="train", num_examples=0)
        statistics = write_statistics_artifact(tmp_path / "s", {"train": empty})
        with pytest.raises(
            ValueError,
            match=re.escape(
                "SchemaGen 'schema_gen': no feature has a value in splits ['train'] "
                "(0 examples)"
            ),
        ):
            run_schema_gen(tmp_path, statistics=statistics)

    def test_an_unknown_split_is_named_with_a_suggestion(self, tmp_path, statistics):
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                "SchemaGen 'schema_gen': splits names split 'evl', but the input has "
                "only ['train', 'eval']. Did you mean 'eval'?"
            ),
        ):
            run_schema_gen(tmp_path, statistics=statistics, splits=["evl"])

    def test_statistics_artifact_type_is_checked_when_wired(self):
        from pipeline import Examples, Output, component

        @component
        def make_examples(examples: Output[Examples]): ...

        with pytest.raises(DefinitionError, match="expects ExampleStatistics"):
            SchemaGen(statistics=make_examples().outputs["examples"])

    def test_statistics_are_optional_when_wired(self):
        from pipeline import Output, component

        @component
        def make_statistics(statistics: Output[ExampleStatistics]): ...

        node = SchemaGen(statistics=make_statistics().outputs["statistics"])
        assert sorted(node.outputs) == ["schema"]
        assert SchemaGen(schema_file="schema.pbtxt").parameters["schema_file"] == (
            "schema.pbtxt"
        )
