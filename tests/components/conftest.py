"""Fixtures shared by the component tests: the taxi data as Examples, its schema, and
Transform's output over it.

The rows come from the helpers of test_statistics_gen.py (the real taxi CSV, split
2:1), with one extra integer feature, ``row_id``, so that a transformed row can be
matched with the raw row it came from. Session-scoped: each is made once per test
process.
"""

import collections
import pathlib

import pytest

from pipeline import Examples, Schema, TransformGraph
from tests.components.test_statistics_gen import (
    column_kinds,
    make_context,
    split_statistics,
    taxi_rows,
    taxi_split,
    write_examples,
)

TAXI_MODULE = pathlib.Path(__file__).resolve().parent / "transform" / "taxi_module.py"
EVAL_ID_START = 100_000

TransformOutputs = collections.namedtuple(
    "TransformOutputs", "transform_graph transformed_examples result"
)


def taxi_kinds() -> dict[str, str]:
    """'int', 'float' or 'string' per taxi column, and 'int' for row_id."""
    return {**column_kinds(taxi_rows()), "row_id": "int"}


def taxi_rows_with_ids(split: str) -> list[dict[str, str]]:
    """The taxi rows of a split, each with a unique row_id (eval ids from 100,000)."""
    start = EVAL_ID_START if split == "eval" else 0
    return [dict(row, row_id=str(start + i)) for i, row in enumerate(taxi_split(split))]


def write_schema_artifact(uri, rows, kinds) -> Schema:
    """A Schema artifact inferred (as SchemaGen does) from the statistics of rows."""
    from components.schema_gen import infer_schema
    from components.stats import artifacts

    schema = Schema(uri=str(uri))
    artifacts.write_schema(
        schema.schema_path, infer_schema([split_statistics(rows, "train", kinds)])
    )
    return schema


@pytest.fixture(scope="session")
def taxi_examples(tmp_path_factory) -> Examples:
    """The taxi train and eval splits with row ids, two gzip shards each."""
    root = tmp_path_factory.mktemp("taxi_examples")
    return write_examples(
        root / "examples",
        {split: taxi_rows_with_ids(split) for split in ("train", "eval")},
        taxi_kinds(),
    )


@pytest.fixture(scope="session")
def taxi_schema(tmp_path_factory) -> Schema:
    """The schema SchemaGen would infer from the train split (row_id included)."""
    root = tmp_path_factory.mktemp("taxi_schema")
    return write_schema_artifact(root, taxi_rows_with_ids("train"), taxi_kinds())


@pytest.fixture(scope="session")
def taxi_transform(tmp_path_factory, taxi_examples, taxi_schema) -> TransformOutputs:
    """Transform's function run with the taxi module over the taxi Examples."""
    from components.transform import Transform

    root = tmp_path_factory.mktemp("taxi_transform")
    graph = TransformGraph(uri=str(root / "transform_graph"))
    transformed = Examples(uri=str(root / "transformed_examples"))
    for artifact in (graph, transformed):
        pathlib.Path(artifact.uri).mkdir()
    result = Transform.fn(
        examples=taxi_examples,
        schema=taxi_schema,
        module_file=str(TAXI_MODULE),
        transform_graph=graph,
        transformed_examples=transformed,
        context=make_context("transform", root),
    )
    return TransformOutputs(graph, transformed, result)


def read_examples(examples: Examples, split: str) -> list[dict[str, list]]:
    """Every tf.Example of a split as {feature: [values]}, in shard order."""
    import tensorflow as tf

    rows = []
    for shard in sorted(pathlib.Path(examples.split_uri(split)).glob("data-*.gz")):
        for record in tf.data.TFRecordDataset(str(shard), compression_type="GZIP"):
            rows.append(decode_example(record.numpy()))
    return rows


def decode_example(serialized: bytes) -> dict[str, list]:
    """A serialized tf.Example as {feature: [values]} (bytes stay bytes)."""
    import tensorflow as tf

    example = tf.train.Example.FromString(serialized)
    decoded = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        decoded[name] = list(getattr(feature, kind).value) if kind else []
    return decoded


def raw_records(examples: Examples, split: str) -> list[bytes]:
    """Every serialized tf.Example of a split, in shard order."""
    import tensorflow as tf

    shards = sorted(pathlib.Path(examples.split_uri(split)).glob("data-*.gz"))
    return [
        record.numpy()
        for shard in shards
        for record in tf.data.TFRecordDataset(str(shard), compression_type="GZIP")
    ]
