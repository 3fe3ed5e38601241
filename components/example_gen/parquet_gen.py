"""ParquetExampleGen: Parquet files to split tf.Examples."""

from __future__ import annotations

from typing import Any

from components.example_gen.bad_rows import InputDataError
from components.example_gen.spans import resolve_inputs
from components.example_gen.splits import plan_splits
from pipeline import (
    DefinitionError,
    Examples,
    ExecutionContext,
    InputPath,
    Output,
    Parameter,
    component,
    did_you_mean,
    source_version,
)

NAME = "ParquetExampleGen"


@component(name=NAME, version=source_version("components.example_gen"))
def ParquetExampleGen(
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
    skip_columns: list[str] | None = None,
) -> dict[str, Any]:
    """Reads Parquet files into split tf.Examples, on Beam, by blocks of row groups.

    Integer and boolean columns become int64 features, floating-point and decimal ones
    float features, strings and binary bytes features, dates and timestamps ISO 8601
    text; list columns become multi-valued features. A null is a missing value, left
    out of that row's Example.

    Args:
        examples: The output: ``Split-<name>/data-*.tfrecord.gz`` per split.
        input_base: A Parquet file, a folder of them (names starting with '.' or '_'
            are skipped) or a glob; with ``pattern`` or ``input_splits``, the folder
            they are relative to.
        context: The run's context (given by the runner).
        pattern: One file pattern under ``input_base``, with ``{SPAN}``, ``{VERSION}``
            or ``{YYYY}{MM}{DD}`` for data in spans.
        input_splits: The input's own splits: ``{split name: pattern}``.
        output_splits: Hash buckets and their weights (default ``{"train": 2,
            "eval": 1}``).
        split_column: Hash this column's value instead of the whole row.
        span: The span to read; default: the newest.
        span_range: ``[first, last]``: read every span in the range.
        version: The version of the span to read; default: the newest.
        skip_columns: Columns to leave out (needed for columns of types with no
            tf.Example form, such as structs).

    Returns:
        ``row_counts`` per split, ``bad_rows`` (always 0), ``files`` read,
        ``column_types``, and ``span``/``spans``/``version`` when the input has spans.

    Raises:
        DefinitionError: A bad option, an unknown or unsupported column, or no files.
        InputDataError: Files with different columns, or no rows.

    Example:
        >>> gen = ParquetExampleGen(input_base="data/trips.parquet", skip_columns=["raw"])
        >>> sorted(gen.outputs)
        ['examples']
    """
    from components.example_gen import parquet_source, write
    from components.example_gen.bad_rows import Tolerance

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
    tasks = write.make_tasks(selection, splits)
    schemas = {task.path: parquet_source.read_schema(task.path) for task in tasks}
    first = tasks[0].path
    names = schemas[first].names
    for option, column in [("skip_columns", c) for c in skip_columns or []] + (
        [("split_column", split_column)] if split_column else []
    ):
        if column not in names:
            raise DefinitionError(
                f"{NAME}: {option} names the column {column!r}, which {first} does not "
                f"have.{did_you_mean(column, names)} Its columns: {names}."
            )
    read = [name for name in names if name not in (skip_columns or [])]
    kinds = {}
    for name in read:
        arrow_type = schemas[first].field(name).type
        if parquet_source.target_type(arrow_type) is None:
            raise DefinitionError(
                f"{NAME}: column {name!r} of {first} has the type {arrow_type}, which "
                f"has no tf.Example form (supported: integers, floats, decimals, "
                f"strings, binary, dates and times, and flat lists of these). Leave it "
                f"out with skip_columns=[{name!r}]."
            )
        kinds[name] = parquet_source.describe_type(arrow_type)
    for path, schema in schemas.items():
        missing = [name for name in read if name not in schema.names]
        changed = [
            name
            for name in read
            if name in schema.names
            and parquet_source.describe_type(schema.field(name).type) != kinds[name]
        ]
        if missing or changed:
            raise InputDataError(
                f"{NAME}: {path} does not match {first}: "
                + (f"it lacks the column(s) {missing}" if missing else "")
                + ("; " if missing and changed else "")
                + (f"the column(s) {changed} have other types" if changed else "")
                + ". Every input file needs the same columns and types."
            )
    facts = write.generate(
        owner=NAME,
        source=parquet_source.ParquetSource(tuple(read)),
        tasks=tasks,
        selection=selection,
        splits=splits,
        tolerance=Tolerance(),
        examples=examples,
        context=context,
    )
    return {**facts, "column_types": kinds}
