"""The Beam job of Transform: read, analyze, write the graph, transform, write examples.

One Beam pipeline does all of it. The splits to analyze are read as Arrow record
batches (tfx_bsl's ``TFExampleRecord`` over the raw schema) and handed to
``tft_beam.AnalyzeDataset``; the resulting transform function is written with
``tft_beam.WriteTransformFn`` and applied by ``tft_beam.TransformDataset`` to every
split to transform, whose record batches are encoded back to ``tf.Example`` and
written as gzip TFRecord shards, ``<split folder>/data-*.tfrecord.gz``.

This module imports Beam; ``components.transform`` imports it only when Transform
runs. ``tensorflow_transform`` is imported inside ``build``, through
``legacy_keras.import_tensorflow_transform`` so that ``tf.keras`` stays Keras 3.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import apache_beam as beam

from pipeline import fs

TELEMETRY = ["mlpipe", "Transform"]
COUNTER_NAMESPACE = "mlpipe.Transform"
SHARD_PREFIX = "data"
SHARD_SUFFIX = ".tfrecord.gz"


@dataclasses.dataclass
class TransformJob:
    """What one run of Transform's Beam pipeline reads and writes.

    Attributes:
        schema: The raw ``Schema`` proto of the examples.
        patterns: The shard pattern of every split that is read, by split name.
        analyze_splits: The splits whose data the analyzers see.
        transform_splits: The splits to transform and write (empty: write none).
        preprocessing_fn: The function tensorflow-transform traces.
        transform_graph_dir: Where ``WriteTransformFn`` writes.
        output_dirs: The folder of each transformed split, by split name.
        temp_dir: Scratch space for tensorflow-transform.
    """

    schema: Any
    patterns: Mapping[str, str]
    analyze_splits: Sequence[str]
    transform_splits: Sequence[str]
    preprocessing_fn: Callable
    transform_graph_dir: str
    output_dirs: Mapping[str, str]
    temp_dir: str


def build(pipeline: Any, job: TransformJob) -> None:
    """Adds the job's transforms to a Beam pipeline; nothing runs yet.

    tensorflow-transform traces ``preprocessing_fn`` here, so errors in the user's
    code surface from this call, before any data is read.
    """
    from components.transform.legacy_keras import import_tensorflow_transform

    import_tensorflow_transform()
    import tensorflow_transform.beam as tft_beam

    with tft_beam.Context(temp_dir=job.temp_dir):
        _build(pipeline, job)


def _build(pipeline: Any, job: TransformJob) -> None:
    import tensorflow_transform.beam as tft_beam
    from tfx_bsl.tfxio import tf_example_record

    sources = {
        split: tf_example_record.TFExampleRecord(
            job.patterns[split],
            validate=False,
            schema=job.schema,
            telemetry_descriptors=TELEMETRY,
        )
        for split in dict.fromkeys([*job.analyze_splits, *job.transform_splits])
    }
    # Each split is read once, even when it is both analyzed and transformed.
    batches = {
        split: pipeline | f"Read[{split}]" >> source.BeamSource()
        for split, source in sources.items()
    }
    adapter_config = next(iter(sources.values())).TensorAdapterConfig()
    analyzed = [batches[s] for s in job.analyze_splits]
    to_analyze = (
        analyzed[0]
        if len(analyzed) == 1
        else tuple(analyzed) | "FlattenAnalyzed" >> beam.Flatten()
    )
    transform_fn = (to_analyze, adapter_config) | "Analyze" >> tft_beam.AnalyzeDataset(
        job.preprocessing_fn
    )
    _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(
        job.transform_graph_dir
    )
    for split in job.transform_splits:
        transformed, metadata = (
            (batches[split], adapter_config),
            transform_fn,
        ) | f"Transform[{split}]" >> tft_beam.TransformDataset(
            output_record_batches=True
        )
        schema = beam.pvalue.AsSingleton(
            metadata.deferred_metadata
            | f"Schema[{split}]" >> beam.Map(lambda m: m.schema)
        )
        _ = (
            transformed
            | f"Encode[{split}]" >> beam.ParDo(EncodeExamples(split), schema)
            | f"Write[{split}]"
            >> beam.io.WriteToTFRecord(
                fs.join(job.output_dirs[split], SHARD_PREFIX),
                file_name_suffix=SHARD_SUFFIX,
                compression_type=beam.io.filesystem.CompressionTypes.GZIP,
            )
        )


class EncodeExamples(beam.DoFn):
    """Transformed record batches to serialized tf.Examples, counting them per split.

    Args:
        split: The split's name, for the counter ``examples[<split>]``.
    """

    def __init__(self, split: str):
        self._split = split
        self._encoder = None
        self._schema_bytes = None
        self._counter = beam.metrics.Metrics.counter(
            COUNTER_NAMESPACE, f"examples[{split}]"
        )

    def process(self, element: Any, schema: Any):
        from tfx_bsl.coders import example_coder

        record_batch, _ = element
        schema_bytes = schema.SerializeToString()
        if self._encoder is None or schema_bytes != self._schema_bytes:
            self._encoder = example_coder.RecordBatchToExamplesEncoder(schema)
            self._schema_bytes = schema_bytes
        self._counter.inc(record_batch.num_rows)
        yield from self._encoder.encode(record_batch)


def example_counts(result: Any, splits: Sequence[str]) -> dict[str, int] | None:
    """The number of examples written per split, from the finished job's counters.

    Returns None when the runner reports no counters.
    """
    from apache_beam.metrics.metric import MetricsFilter

    try:
        counters = (
            result.metrics()
            .query(MetricsFilter().with_namespace(COUNTER_NAMESPACE))
            .get("counters", [])
        )
    except (AttributeError, NotImplementedError, ValueError):
        return None
    counts = dict.fromkeys(splits, 0)
    for counter in counters:
        name = counter.key.metric.name
        split = name[len("examples[") : -1]
        if split in counts:
            value = counter.committed
            counts[split] += value if value is not None else counter.attempted
    return counts


def write_raw_schema(transform_graph_dir: str, schema: Any) -> str:
    """Writes the raw schema where ``TFTransformOutput.raw_metadata`` reads it.

    ``tft_beam.WriteTransformFn`` writes only the transformed metadata; serving code
    needs the raw feature spec too, so it goes to ``<dir>/metadata/schema.pbtxt``.

    Returns:
        The path written.
    """
    from google.protobuf import text_format

    path = fs.join(transform_graph_dir, "metadata", "schema.pbtxt")
    fs.write_text(path, text_format.MessageToString(schema))
    return path
