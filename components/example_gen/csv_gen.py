"""CsvExampleGen: CSV files with a header to split, typed tf.Examples."""

from __future__ import annotations

from typing import Any

from components.example_gen.bad_rows import InputDataError, parse_tolerance
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
    fs,
    source_version,
)

NAME = "CsvExampleGen"
COLUMN_TYPES = ("int", "float", "string")


def _check_options(delimiter: Any, column_types: dict[str, str] | None) -> None:
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n':
        raise DefinitionError(
            f"{NAME}: delimiter must be one character other than a quote or a line "
            f"break, got {delimiter!r}; e.g. delimiter=',' or delimiter='\\t'."
        )
    for column, kind in (column_types or {}).items():
        if kind not in COLUMN_TYPES:
            hint = did_you_mean(str(kind), COLUMN_TYPES)
            raise DefinitionError(
                f"{NAME}: column_types[{column!r}] is {kind!r}; a column type is one "
                f"of {', '.join(COLUMN_TYPES)}.{hint}"
            )


def _check_columns(
    header: tuple[str, ...],
    path: str,
    column_types: dict[str, str] | None,
    skip_columns: list[str] | None,
    split_column: str | None,
) -> None:
    named = [("column_types", c) for c in column_types or {}]
    named += [("skip_columns", c) for c in skip_columns or []]
    if split_column:
        named.append(("split_column", split_column))
    for option, column in named:
        if column not in header:
            raise DefinitionError(
                f"{NAME}: {option} names the column {column!r}, which the header of "
                f"{path} does not have.{did_you_mean(column, header)} Its columns: "
                f"{list(header)}."
            )
    if split_column and split_column in (skip_columns or []):
        raise DefinitionError(
            f"{NAME}: split_column {split_column!r} is also in skip_columns; a skipped "
            f"column cannot decide the split."
        )
    if set(skip_columns or []) >= set(header):
        raise DefinitionError(
            f"{NAME}: skip_columns leaves no column to read; the header has {list(header)}."
        )


@component(name=NAME, version=source_version("components.example_gen"))
def CsvExampleGen(
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
    delimiter: str = ",",
    column_types: dict[str, str] | None = None,
    skip_columns: list[str] | None = None,
    max_bad_rows: int | float = 0,
) -> dict[str, Any]:
    """Reads CSV files with a header into split, typed tf.Examples, on Beam.

    Column types are inferred over the whole input (int, then float, else string) unless
    given; an empty field is a missing value, left out of that row's Example. Quoted
    fields may hold delimiters, doubled quotes and line breaks; files are UTF-8, with or
    without a byte-order mark. Large files are read in parallel blocks.

    Args:
        examples: The output: ``Split-<name>/data-*.tfrecord.gz`` per split.
        input_base: A CSV file, a folder of them (names starting with '.' or '_' are
            skipped) or a glob; with ``pattern`` or ``input_splits``, the folder they
            are relative to. Changed input files invalidate the cache.
        context: The run's context (given by the runner).
        pattern: One file pattern under ``input_base``, with ``{SPAN}``, ``{VERSION}``
            or ``{YYYY}{MM}{DD}`` for data that arrives in spans.
        input_splits: The input's own splits: ``{split name: pattern}``, kept as they
            are, e.g. ``{"train": "train.csv", "eval": "eval.csv"}``.
        output_splits: Hash buckets and their weights (default ``{"train": 2,
            "eval": 1}``); rows go to buckets by a stable hash.
        split_column: Hash this column's value instead of the whole row, so rows with
            equal values land in the same split.
        span: The span to read (a number, or "YYYY-MM-DD" for date patterns); default:
            the newest.
        span_range: ``[first, last]``: read every span in the range.
        version: The version of the span to read; default: the newest.
        delimiter: The field delimiter, one character.
        column_types: Types for some columns: ``{"zip": "string"}``; values that do
            not fit are bad rows. Others are inferred.
        skip_columns: Columns to leave out.
        max_bad_rows: How many bad rows (wrong number of fields, invalid UTF-8, a value
            that does not fit its column type) may be skipped: a count, or a fraction
            of the input rows as a float (0.01). Default 0: the first fails the run.
            Skipped rows are written to ``<examples>/bad_rows/bad_rows.jsonl``.

    Returns:
        ``row_counts`` per split, ``bad_rows`` skipped, ``files`` read,
        ``column_types``, and ``span``/``spans``/``version`` when the input has spans.

    Raises:
        DefinitionError: A bad option, an unknown column, or no input files.
        InputDataError: Bad rows beyond ``max_bad_rows``, no rows, or files whose
            headers differ.

    Example:
        >>> gen = CsvExampleGen(input_base="data/taxi.csv", max_bad_rows=0.001)
        >>> sorted(gen.outputs), gen.parameters["output_splits"]
        (['examples'], None)
    """
    from components.example_gen import csv_source, write

    _check_options(delimiter, column_types)
    splits = plan_splits(
        NAME, list(input_splits) if input_splits else None, output_splits, split_column
    )
    tolerance = parse_tolerance(NAME, max_bad_rows)
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
    headers = {
        task.path: csv_source.read_header(task.path, delimiter) for task in tasks
    }
    first = tasks[0].path
    columns = headers[first].columns
    for path, header in headers.items():
        if header.columns != columns:
            raise InputDataError(
                f"{NAME}: {path} has the header {list(header.columns)}, but {first} has "
                f"{list(columns)}; every input file needs the same columns in the same "
                f"order."
            )
    _check_columns(columns, first, column_types, skip_columns, split_column)
    tasks = [
        write.Task(
            t.path,
            t.split,
            t.file_index,
            start=headers[t.path].data_start,
            first_line=headers[t.path].data_line,
        )
        for t in tasks
    ]
    source = csv_source.CsvSource(
        columns=columns,
        read_columns=tuple(c for c in columns if c not in (skip_columns or [])),
        types=dict(column_types or {}),
        delimiter=delimiter,
        block_size=csv_source.BLOCK_SIZE,
    )
    return write.generate(
        owner=NAME,
        source=source,
        tasks=tasks,
        selection=selection,
        splits=splits,
        tolerance=tolerance,
        examples=examples,
        context=context,
        # Large CSV input is converted faster by worker processes (see
        # components.beam_pipeline.choose_local_mode).
        input_bytes=sum(size for t in tasks for _, size, _ in fs.file_stats(t.path)),
    )
