"""Where input comes from: the shards of a split, and the feature spec to parse them.

Artifacts or plain paths are accepted everywhere, so that a user's own trainer code
can pass what it has: an ``Examples`` artifact or its URI; a ``Schema`` artifact, a
``schema.pbtxt`` path (or its folder) or a ``Schema`` proto; a ``TransformGraph``
artifact, its URI or a ``tft.TFTransformOutput``.

The raw feature spec comes from tfx_bsl (the same rules tensorflow-transform uses: a
feature with a fixed ``shape`` is a ``FixedLenFeature``, any other a
``VarLenFeature``), so reading raw data never imports tensorflow-transform. The transformed feature
spec comes from ``TFTransformOutput.transformed_feature_spec()`` (tensorflow-transform
is imported so that ``tf.keras`` stays Keras 3).

Example:
    >>> from pipeline import Examples
    >>> examples = Examples(uri="/no/such/place", properties={"split_names": ["train"]})
    >>> split_files(examples, "trian")
    Traceback (most recent call last):
    ...
    pipeline.errors.DefinitionError: Examples at /no/such/place have no split 'trian'; they have ['train']. Did you mean 'train'?
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline import DefinitionError, Examples, did_you_mean, fs

SHARD_PATTERN = "data-*.tfrecord.gz"


def split_files(examples: Examples | str, split: str) -> list[str]:
    """The shard files of one split, sorted.

    Args:
        examples: An ``Examples`` artifact or its URI.
        split: The split's name, e.g. ``"train"``.

    Raises:
        DefinitionError: The artifact has no such split.
        FileNotFoundError: The split has no shards.
    """
    from components.stats.artifacts import artifact_splits

    if isinstance(examples, str):
        examples = Examples(uri=examples)
    available = artifact_splits(examples)
    if split not in available:
        raise DefinitionError(
            f"Examples at {examples.uri} have no split {split!r}; they have "
            f"{available}.{did_you_mean(split, available)}"
        )
    pattern = fs.join(examples.split_uri(split), SHARD_PATTERN)
    files = fs.glob(pattern)
    if not files:
        raise FileNotFoundError(
            f"Split {split!r} of the Examples at {examples.uri} has no shards: "
            f"nothing matches {pattern}."
        )
    return files


def read_schema(schema: Any) -> Any:
    """A tensorflow_metadata ``Schema`` proto from an artifact, a path or a proto.

    Args:
        schema: A ``Schema`` artifact, a path to a text ``schema.pbtxt`` (or to the
            folder holding one), or a ``Schema`` proto (returned as it is).

    Raises:
        DefinitionError: The file is missing or is not a text-format Schema.
    """
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    if isinstance(schema, schema_pb2.Schema):
        return schema
    path = getattr(schema, "schema_path", None) or str(schema)
    if fs.isdir(path):
        path = fs.join(path, "schema.pbtxt")
    if not fs.exists(path):
        raise DefinitionError(
            f"No schema at {path}: pass a Schema artifact (SchemaGen's output), the "
            f"path of a text-format schema.pbtxt, or a Schema proto."
        )
    try:
        return text_format.Parse(fs.read_text(path), schema_pb2.Schema())
    except text_format.ParseError as exc:
        raise DefinitionError(
            f"{path} is not a text-format tensorflow_metadata Schema: {exc}"
        ) from None


def raw_feature_spec(schema: Any) -> dict[str, Any]:
    """The ``tf.io.parse_example`` feature spec of a raw schema.

    Args:
        schema: Anything ``read_schema`` takes.

    Returns:
        Feature name -> ``tf.io.FixedLenFeature`` / ``VarLenFeature`` /
        ``SparseFeature`` / ``RaggedFeature``.

    Example:
        >>> from tensorflow_metadata.proto.v0 import schema_pb2
        >>> schema = schema_pb2.Schema()
        >>> fare = schema.feature.add(name="fare", type=schema_pb2.FLOAT)
        >>> _ = fare.shape.dim.add(size=1)  # always one value: a dense feature
        >>> fare.presence.min_fraction = 1.0
        >>> _ = schema.feature.add(name="company", type=schema_pb2.BYTES)
        >>> spec = raw_feature_spec(schema)
        >>> spec["fare"], spec["company"]
        (FixedLenFeature(shape=[1], dtype=tf.float32, default_value=None), VarLenFeature(dtype=tf.string))
    """
    from tfx_bsl.tfxio import tensor_representation_util as representations

    proto = read_schema(schema)
    types = {f.name: f.type for f in proto.feature}
    spec = {}
    for (
        name,
        representation,
    ) in representations.InferTensorRepresentationsFromMixedSchema(proto).items():
        columns = representations.GetSourceColumnsFromTensorRepresentation(
            representation
        )
        value_column = (
            columns[0]
            if len(columns) == 1
            else representations.GetSourceValueColumnFromTensorRepresentation(
                representation
            )
        )
        spec[name] = representations.CreateTfExampleParserConfig(
            representation, types[value_column.initial_step()]
        )
    return spec


def transform_output(transform_graph: Any) -> Any:
    """A ``tft.TFTransformOutput`` from a TransformGraph artifact, a URI or itself.

    Imports tensorflow-transform, keeping ``tf.keras`` Keras 3 (see
    ``components.transform.legacy_keras``).

    Raises:
        DefinitionError: The folder holds no tensorflow-transform output.
    """
    if hasattr(transform_graph, "transformed_feature_spec"):
        return transform_graph
    uri = getattr(transform_graph, "uri", None) or str(transform_graph)
    if not fs.exists(fs.join(uri, "transform_fn")):
        raise DefinitionError(
            f"No transform graph at {uri}: it has no transform_fn folder. Pass "
            f"Transform's transform_graph output (or its URI)."
        )
    from components.transform.legacy_keras import import_tensorflow_transform

    return import_tensorflow_transform().TFTransformOutput(uri)


def feature_spec(
    *,
    schema: Any = None,
    transform_graph: Any = None,
    feature_spec: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The feature spec for data described by exactly one of the three arguments.

    Args:
        schema: The raw schema, for raw Examples.
        transform_graph: Transform's output, for transformed Examples (its
            ``transformed_feature_spec()``).
        feature_spec: A ready feature spec, used as it is.

    Raises:
        DefinitionError: None or more than one of them is given.

    Example:
        >>> feature_spec(schema="s.pbtxt", feature_spec={"x": None})
        Traceback (most recent call last):
        ...
        pipeline.errors.DefinitionError: Say how to parse the examples with exactly one of schema= (raw Examples), transform_graph= (Transform's transformed_examples) or feature_spec=; got ['schema', 'feature_spec'].
    """
    given = [
        name
        for name, value in (
            ("schema", schema),
            ("transform_graph", transform_graph),
            ("feature_spec", feature_spec),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise DefinitionError(
            f"Say how to parse the examples with exactly one of schema= (raw "
            f"Examples), transform_graph= (Transform's transformed_examples) or "
            f"feature_spec=; got {given or 'none'}."
        )
    if feature_spec is not None:
        return dict(feature_spec)
    if schema is not None:
        return raw_feature_spec(schema)
    return dict(transform_output(transform_graph).transformed_feature_spec())


def check_keys(what: str, keys: list[str], spec: Mapping[str, Any]) -> None:
    """Raises DefinitionError naming each of ``keys`` missing from ``spec``."""
    for key in keys:
        if key not in spec:
            raise DefinitionError(
                f"{what} {key!r} is not a feature of these examples."
                f"{did_you_mean(key, spec)} Their features: {sorted(spec)}."
            )
