"""StatisticsGen: per-split, per-feature statistics of Examples, computed on Beam.

For every split it writes ``<statistics.uri>/Split-<name>/FeatureStats.pb``, a
tensorflow_metadata ``DatasetFeatureStatisticsList`` laid out as TFDV writes it (so
TFDV, Facets and SchemaGen read it), and ``summary.txt`` beside it, a table per
feature kind. What is computed, and what is exact, is in ``components.stats.combiner``
and ``docs/statistics_and_schema.md``.

Example:
    >>> from pipeline import Examples, Output, component
    >>> @component
    ... def make_examples(examples: Output[Examples]): ...
    >>> gen = make_examples()
    >>> stats = StatisticsGen(examples=gen.outputs["examples"], exclude_splits=["test"])
    >>> sorted(stats.outputs)
    ['statistics']
"""

from __future__ import annotations

from typing import Any

from pipeline import (
    DefinitionError,
    Examples,
    ExampleStatistics,
    ExecutionContext,
    Input,
    Output,
    component,
    fs,
    source_version,
)

EXAMPLES_PATTERN = "data-*.tfrecord.gz"
_BATCH_SIZE = 1000


@component(
    name="StatisticsGen",
    version=source_version("components.statistics_gen", "components.stats"),
)
def StatisticsGen(
    examples: Input[Examples],
    statistics: Output[ExampleStatistics],
    context: ExecutionContext,
    exclude_splits: list[str] | None = None,
    num_top_values: int = 20,
    num_quantiles_buckets: int = 10,
) -> dict[str, Any]:
    """Computes statistics of every split of ``examples`` in one Beam pipeline.

    Each split's gzip TFRecord shards are read as Arrow record batches and folded
    into per-feature accumulators by a ``CombineFn``: counts, missing counts, values
    per example; min, max, mean, standard deviation, zeros, median, quantiles and an
    equal-width histogram of numbers; distinct counts, top values, a rank histogram
    and average length of strings.

    Args:
        examples: Examples with ``<uri>/Split-<name>/data-*.tfrecord.gz`` shards.
        statistics: Where the statistics are written, one folder per split.
        context: The run's context (its Beam pipeline options are used).
        exclude_splits: Splits to leave out, e.g. ``["test"]``.
        num_top_values: Most frequent values kept per string feature.
        num_quantiles_buckets: Buckets of equal count of the quantiles histogram.

    Returns:
        ``{"num_examples": {split: count}}``, recorded on the execution.

    Raises:
        DefinitionError: ``exclude_splits`` names a split the examples do not have,
            or leaves none.
        FileNotFoundError: A split has no shards.
        TypeError: A feature has different value types in different examples.
    """
    from components.stats import artifacts, combiner

    owner = f"StatisticsGen {context.component_id!r}"
    for name, value in (
        ("num_top_values", num_top_values),
        ("num_quantiles_buckets", num_quantiles_buckets),
    ):
        if value < 1:
            raise DefinitionError(f"{owner}: {name} must be at least 1, got {value}.")
    available = artifacts.artifact_splits(examples)
    if not available:
        raise FileNotFoundError(
            f"{owner}: the Examples artifact at {examples.uri} has no splits (no "
            f"split_names property and no Split-* folders). It must come from an "
            f"ExampleGen."
        )
    splits = artifacts.choose_splits(owner, available, exclude=exclude_splits)
    patterns = {}
    for split in splits:
        pattern = fs.join(examples.split_uri(split), EXAMPLES_PATTERN)
        if not fs.glob(pattern):
            raise FileNotFoundError(
                f"{owner}: split {split!r} has no example files: nothing matches "
                f"{pattern}. Examples hold gzip TFRecord shards named "
                f"data-*.tfrecord.gz in each Split-<name> folder; leave an empty "
                f"split out with exclude_splits=[{split!r}]."
            )
        patterns[split] = pattern
    options = combiner.StatsOptions(
        num_top_values=num_top_values, num_quantiles_buckets=num_quantiles_buckets
    )
    context.log.info("Computing statistics of splits %s of %s", splits, examples.uri)

    import apache_beam as beam
    from tfx_bsl.coders import example_coder

    from components.beam_pipeline import job_label, make_beam_pipeline

    decoder = example_coder.ExamplesToRecordBatchDecoder()
    # validate=False below: the files were just listed; Beam would list them again
    # while building the pipeline, which stalls on some remote file systems.
    with make_beam_pipeline(
        context.beam_pipeline_args, job_label=job_label(context)
    ) as pipeline:
        for split, pattern in patterns.items():
            _ = (
                pipeline
                | f"Read[{split}]"
                >> beam.io.ReadFromTFRecord(
                    pattern, coder=beam.coders.BytesCoder(), validate=False
                )
                | f"Batch[{split}]" >> beam.BatchElements(max_batch_size=_BATCH_SIZE)
                | f"Decode[{split}]" >> beam.Map(_decode_batch, decoder, split)
                | f"Combine[{split}]"
                >> beam.CombineGlobally(combiner.FeatureStatsCombineFn(split, options))
                | f"Write[{split}]"
                >> beam.Map(artifacts.write_statistics, statistics.split_uri(split))
            )
    statistics.split_names = splits
    counts = {
        split: artifacts.read_statistics(owner, statistics, split).num_examples
        for split in splits
    }
    context.log.info("Statistics written to %s: %s", statistics.uri, counts)
    return {"num_examples": counts}


def _decode_batch(records: list[bytes], decoder: Any, split: str) -> Any:
    try:
        return decoder.DecodeBatch(records)
    except RuntimeError as exc:
        raise TypeError(
            f"Split {split!r} holds examples that cannot be decoded together: {exc}. "
            f"A feature must have one type (int64_list, float_list or bytes_list) in "
            f"every example; fix the examples or the ExampleGen that wrote them."
        ) from exc
