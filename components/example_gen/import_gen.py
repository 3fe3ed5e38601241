"""ImportExampleGen: existing TFRecord files of tf.Example, split and re-written."""

from __future__ import annotations

from typing import Any

from components.example_gen.spans import resolve_inputs
from components.example_gen.splits import plan_splits
from pipeline import (
    Examples,
    ExecutionContext,
    InputPath,
    Output,
    Parameter,
    component,
    source_version,
)

NAME = "ImportExampleGen"


@component(name=NAME, version=source_version("components.example_gen"))
def ImportExampleGen(
    examples: Output[Examples],
    input_base: Parameter[InputPath],
    context: ExecutionContext = None,
    pattern: str | None = None,
    input_splits: dict[str, str] | None = None,
    output_splits: dict[str, float] | None = None,
    split_column: str | None = None,
    span: int | str | None = None,
    span_range: list | None = None,
    version: int | None = None,
) -> dict[str, Any]:
    """Imports TFRecord files of serialized tf.Examples (gzip or not), on Beam.

    Records are copied as they are into gzip shards per split; each file's compression
    is told by its first bytes, and every record's checksums are verified.

    Args:
        examples: The output: ``Split-<name>/data-*.tfrecord.gz`` per split.
        input_base: A TFRecord file, a folder of them or a glob; with ``pattern`` or
            ``input_splits``, the folder they are relative to.
        context: The run's context (given by the runner).
        pattern: One file pattern under ``input_base``, with ``{SPAN}``, ``{VERSION}``
            or ``{YYYY}{MM}{DD}`` for data in spans.
        input_splits: The input's own splits: ``{split name: pattern}``, kept as they
            are.
        output_splits: Hash buckets and their weights (default ``{"train": 2,
            "eval": 1}``).
        split_column: Hash this feature's value instead of the whole record.
        span: The span to read; default: the newest.
        span_range: ``[first, last]``: read every span in the range.
        version: The version of the span to read; default: the newest.

    Returns:
        ``row_counts`` per split, ``bad_rows`` (always 0), ``files`` read, and
        ``span``/``spans``/``version`` when the input has spans.

    Raises:
        DefinitionError: A bad option or no input files.
        InputDataError: A corrupt or truncated file, or no records.

    Example:
        >>> gen = ImportExampleGen(input_base="exported/", input_splits={"train": "t*"})
        >>> sorted(gen.outputs)
        ['examples']
    """
    from components.example_gen import write
    from components.example_gen.bad_rows import Tolerance
    from components.example_gen.record_source import RecordSource

    splits = plan_splits(
        NAME, list(input_splits) if input_splits else None, output_splits, split_column
    )
    selection = resolve_inputs(
        NAME,
        input_base,
        pattern=pattern,
        input_splits=input_splits,
        span=span,
        span_range=span_range,
        version=version,
    )
    return write.generate(
        owner=NAME,
        source=RecordSource(),
        tasks=write.make_tasks(selection, splits),
        selection=selection,
        splits=splits,
        tolerance=Tolerance(),
        examples=examples,
        context=context,
    )
