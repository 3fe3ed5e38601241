"""The one writing path every ExampleGen shares, as a Beam job.

An ExampleGen describes its input as a ``Source``: how to cut a file into blocks, how to
read a block into batches of rows (Arrow tables) or of serialized records, and, for
sources that need it, a first pass over every block whose merged result the second pass
receives (the CSV reader infers column types this way). Everything after reading is
here, written once:

    files -> blocks -> [survey -> merge] -> read -> encode -> hash -> split -> write

Beam elements are whole blocks, never rows: a block is read, encoded, split and written
inside one call, so per-row Python never runs and no row crosses a process boundary.
Each block writes its own gzip TFRecord shard per split,
``Split-<name>/data-<file>-<block>.tfrecord.gz``, first aside, then renamed into place,
so a retried block rewrites the same files. The blocks' counts and bad rows are
combined into one summary the component reads back when the job is done.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.beam_pipeline import job_label, make_beam_pipeline
from components.example_gen import tfrecord
from components.example_gen.bad_rows import (
    BAD_ROWS_FILE,
    BAD_ROWS_FOLDER,
    SHOWN,
    BadRow,
    InputDataError,
    Tolerance,
    too_many_error,
)
from components.example_gen.encoding import encode_examples
from components.example_gen.splits import SplitPlan
from pipeline import Examples, fs

log = logging.getLogger("mlpipe.example_gen")

BATCH_ROWS = 65536
_TMP = ".tmp"


@dataclasses.dataclass(frozen=True)
class Task:
    """One unit of reading work: a file, or a block of one.

    Attributes:
        path: The input file.
        split: The input split it belongs to; None when rows are split by hash.
        file_index: The file's place among all input files (names its shards).
        start: The first byte of the block.
        end: The end of the block (exclusive); None for the end of the file.
        first_line: The line number at ``start``.
        block: The block's place within its file.
    """

    path: str
    split: str | None
    file_index: int
    start: int = 0
    end: int | None = None
    first_line: int = 1
    block: int = 0

    @property
    def shard(self) -> str:
        """The block's name in its shard files."""
        return f"{self.file_index:05d}-{self.block:05d}"


@dataclasses.dataclass
class Batch:
    """Rows read from a block: an Arrow table to encode, or serialized records.

    Attributes:
        table: Rows as Arrow columns (int, float, string or binary, or lists).
        records: Rows as serialized tf.Examples.
        bad_rows: Rows of the block that could not be read.
    """

    table: pa.Table | None = None
    records: pa.Array | None = None
    bad_rows: list[BadRow] = dataclasses.field(default_factory=list)


class DataProblem(Exception):
    """Raised by a source for input it cannot read at all (a corrupt file); the job
    reports it as an ``InputDataError`` after the run instead of failing inside Beam."""


class Source(Protocol):
    """What an ExampleGen tells the writing path about its input (picklable)."""

    needs_survey: bool

    def plan(self, task: Task) -> Iterable[Task]:
        """Cuts a file into blocks (or returns it whole)."""

    def survey(self, task: Task) -> Any:
        """The first pass over a block (only when ``needs_survey``)."""

    def merge_surveys(self, surveys: Iterable[Any]) -> Any:
        """Merges surveys of blocks and merged surveys (associative)."""

    def read(self, task: Task, survey: Any) -> Iterator[Batch]:
        """Reads a block, given the merged survey (None without one)."""

    def describe(self, survey: Any) -> dict[str, Any]:
        """JSON facts about the input for the component's result (e.g. column types)."""


@dataclasses.dataclass(frozen=True)
class JobResult:
    """What a writing job produced.

    Attributes:
        row_counts: Rows written per split, in split order.
        bad_rows: Rows skipped as bad.
        facts: The source's description of its input.
    """

    row_counts: dict[str, int]
    bad_rows: int
    facts: dict[str, Any]


def _open_write(path: str):
    from apache_beam.io.filesystems import CompressionTypes, FileSystems

    return FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _rename(source: str, target: str) -> None:
    from apache_beam.io.filesystems import FileSystems

    if FileSystems.exists(target):
        FileSystems.delete([target])
    FileSystems.rename([source], [target])


def _as_binary(values: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_boolean(values.type):
        values = pc.cast(values, pa.int8())
    if not (pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type)):
        values = pc.cast(values, pa.large_string())
    return pc.cast(values, pa.large_binary())


def key_bytes(column: pa.Array) -> pa.Array:
    """The canonical bytes of each value of the split column, for hashing.

    Strings and bytes as they are; numbers as decimal text; a list's values joined by
    0x1f; a missing value as b"".

    Example:
        >>> key_bytes(pa.array([7, None])).to_pylist()
        [b'7', b'']
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    listed = getattr(column.type, "value_type", None) is not None and not (
        pa.types.is_dictionary(column.type)
    )
    if listed:
        values = _as_binary(pc.list_flatten(column))
        offsets = pc.fill_null(pc.list_value_length(column), 0).to_numpy()
        lists = pa.LargeListArray.from_arrays(
            pa.array(np.concatenate([[0], np.cumsum(offsets)]), pa.int64()),
            values,
            mask=column.is_null(),
        )
        column = pc.binary_join(lists, pa.scalar(b"\x1f", pa.large_binary()))
    else:
        column = _as_binary(column)
    return pc.fill_null(column, pa.scalar(b"", pa.large_binary()))


class _WriteBlock:
    """Reads one block and writes its shards; returns the block's summary."""

    def __init__(
        self, source: Source, splits: SplitPlan, uri: str, bad_row_limit: int | None
    ):
        self.source = source
        self.splits = splits
        self.uri = uri
        self.bad_row_limit = bad_row_limit

    def __call__(self, task: Task, survey: Any) -> dict[str, Any]:
        summary = _empty_summary()
        summary["facts"] = self.source.describe(survey)
        writers: dict[str, tuple[Any, str, str]] = {}
        bad_sink = None
        try:
            for batch in self.source.read(task, survey):
                if batch.bad_rows:
                    summary["bad_rows"] += len(batch.bad_rows)
                    room = SHOWN - len(summary["shown"])
                    summary["shown"] += [
                        dataclasses.asdict(r) for r in batch.bad_rows[:room]
                    ]
                    if bad_sink is None:
                        bad_sink = self._bad_rows_sink(task)
                    bad_sink.write(
                        "".join(r.to_json() + "\n" for r in batch.bad_rows).encode()
                    )
                    if (
                        self.bad_row_limit is not None
                        and summary["bad_rows"] > self.bad_row_limit
                    ):
                        summary["stopped"] = True
                        break
                self._write_batch(task, batch, writers, summary)
        except DataProblem as problem:
            summary["problems"].append(str(problem))
        finally:
            if bad_sink is not None:
                bad_sink.close()
            for writer, _, _ in writers.values():
                writer.close()
        if summary["problems"]:
            return summary
        for _, aside, final in writers.values():
            _rename(aside, final)
        return summary

    def _bad_rows_sink(self, task: Task):
        return _open_write(f"{self.uri}/{_TMP}/{BAD_ROWS_FOLDER}/{task.shard}.jsonl")

    def _write_batch(self, task, batch, writers, summary) -> None:
        column = self.splits.column
        keys = None
        if batch.table is not None:
            if not batch.table.num_rows:
                return
            records = encode_examples(batch.table)
            if column and self.splits.by_hash:
                if column in batch.table.column_names:
                    keys = key_bytes(batch.table[column])
                    summary["key_missing"] += batch.table[column].null_count
                else:
                    keys = pa.array([b""] * batch.table.num_rows, pa.large_binary())
                    summary["key_missing"] += batch.table.num_rows
        else:
            records = batch.records
            if not len(records):
                return
            if column and self.splits.by_hash:
                keys, missing = _keys_of_records(records, column)
                summary["key_missing"] += missing
        crcs = tfrecord.record_crcs(records)
        if not self.splits.by_hash:
            self._writer(task, task.split, writers).write(records, crcs)
            summary["rows"][task.split] = summary["rows"].get(task.split, 0) + len(
                records
            )
            return
        buckets = self.splits.assign(
            crcs if keys is None else tfrecord.record_crcs(keys)
        )
        for index, name in enumerate(self.splits.names):
            chosen = np.flatnonzero(buckets == index)
            if not len(chosen):
                continue
            self._writer(task, name, writers).write(
                records.take(pa.array(chosen)), crcs[chosen]
            )
            summary["rows"][name] = summary["rows"].get(name, 0) + len(chosen)

    def _writer(self, task: Task, split: str, writers):
        if split not in writers:
            name = f"data-{task.shard}.tfrecord.gz"
            aside = f"{self.uri}/{_TMP}/{split}-{name}-{uuid.uuid4().hex[:8]}"
            final = f"{Examples(uri=self.uri).split_uri(split)}/{name}"
            writers[split] = (
                tfrecord.GzipRecordWriter(_open_write(aside), background=True),
                aside,
                final,
            )
        return writers[split][0]


def _keys_of_records(records: pa.Array, column: str) -> tuple[pa.Array, int]:
    from tfx_bsl.coders.example_coder import ExamplesToRecordBatchDecoder

    decoded = ExamplesToRecordBatchDecoder().DecodeBatch(records.to_pylist())
    if column not in decoded.schema.names:
        return pa.array([b""] * len(records), pa.large_binary()), len(records)
    values = decoded.column(decoded.schema.names.index(column))
    if pa.types.is_null(values.type):
        return pa.array([b""] * len(records), pa.large_binary()), len(records)
    return key_bytes(values), values.null_count


def _empty_summary() -> dict[str, Any]:
    return {
        "rows": {},
        "bad_rows": 0,
        "shown": [],
        "stopped": False,
        "problems": [],
        "key_missing": 0,
        "facts": {},
    }


def _merge_summaries(summaries: Iterable[dict[str, Any]]) -> dict[str, Any]:
    total = _empty_summary()
    for summary in summaries:
        for split, count in summary["rows"].items():
            total["rows"][split] = total["rows"].get(split, 0) + count
        for key in ("bad_rows", "key_missing"):
            total[key] += summary[key]
        total["shown"] += summary["shown"]
        total["problems"] += summary["problems"]
        total["stopped"] = total["stopped"] or summary["stopped"]
        total["facts"] = total["facts"] or summary["facts"]
    total["shown"] = sorted(total["shown"], key=lambda r: (r["file"], r["line"] or 0))[
        :SHOWN
    ]
    return total


def _save(summary: dict[str, Any], path: str) -> None:
    sink = _open_write(path)
    sink.write(json.dumps(summary).encode())
    sink.close()


def _plain(fn):
    # Beam reads a callable's annotations as type hints; these are postponed (strings)
    # and would only be logged and dropped, once per step.
    return lambda *args: fn(*args)


def run_job(
    *,
    owner: str,
    source: Source,
    tasks: list[Task],
    examples: Examples,
    splits: SplitPlan,
    tolerance: Tolerance,
    beam_pipeline_args: list[str],
    label: str | None = None,
    input_bytes: int | None = None,
) -> JobResult:
    """Reads every task through ``source`` and writes the split examples.

    Args:
        owner: The component's name, for messages.
        source: How to read the input.
        tasks: One task per input file.
        examples: The output artifact; its split folders are filled.
        splits: How rows are split.
        tolerance: How many bad rows may be skipped.
        beam_pipeline_args: Options for the Beam pipeline.
        label: Names the Beam job (``job_label(context)``).
        input_bytes: The input's size, when the local running mode should follow
            it (``components.beam_pipeline.choose_local_mode``).

    Returns:
        The row counts per split, the number of bad rows skipped and the source's
        facts about the input.

    Raises:
        InputDataError: Bad rows beyond the tolerance, no rows, an input split with
            no rows, a corrupt file, or a split column found in no row.
    """
    import apache_beam as beam

    temp = fs.join(examples.uri, _TMP)
    fs.makedirs(fs.join(temp, BAD_ROWS_FOLDER))
    for name in splits.names:
        fs.makedirs(examples.split_uri(name))
    summary_path = f"{examples.uri}/{_TMP}/summary.json"
    writer = _WriteBlock(source, splits, examples.uri, tolerance.count)
    with make_beam_pipeline(
        beam_pipeline_args, job_label=label, input_bytes=input_bytes
    ) as p:
        blocks = (
            p
            | "Files" >> beam.Create(tasks)
            | "SpreadFiles" >> beam.Reshuffle()
            | "Blocks" >> beam.FlatMap(_plain(source.plan))
            | "SpreadBlocks" >> beam.Reshuffle()
        )
        if source.needs_survey:
            survey = beam.pvalue.AsSingleton(
                blocks
                | "Survey" >> beam.Map(_plain(source.survey))
                | "MergeSurveys" >> beam.CombineGlobally(_plain(source.merge_surveys))
            )
            written = blocks | "Write" >> beam.Map(_plain(writer), survey)
        else:
            written = blocks | "Write" >> beam.Map(_plain(writer), None)
        _ = (
            written
            | "Total" >> beam.CombineGlobally(_plain(_merge_summaries))
            | "Save" >> beam.Map(_plain(_save), summary_path)
        )
    summary = json.loads(fs.read_text(summary_path))
    return _finish(owner, summary, examples, splits, tolerance, temp)


def _finish(owner, summary, examples, splits, tolerance, temp) -> JobResult:
    if summary["problems"]:
        raise InputDataError(f"{owner}: " + "\n".join(sorted(summary["problems"])))
    rows = {name: summary["rows"].get(name, 0) for name in splits.names}
    good, bad = sum(rows.values()), summary["bad_rows"]
    shown = [BadRow(**row) for row in summary["shown"]]
    if bad and (summary["stopped"] or not tolerance.allows(bad, good + bad)):
        raise too_many_error(owner, bad, shown, tolerance)
    if not good:
        detail = f" ({bad} bad rows were skipped)" if bad else ""
        raise InputDataError(
            f"{owner}: the input holds no rows{detail}, so there are no examples to "
            f"write. Check that the input files have data below their header."
        )
    if not splits.by_hash:
        empty = [name for name, count in rows.items() if not count]
        if empty:
            raise InputDataError(
                f"{owner}: input split(s) {empty} hold no rows; every input split needs "
                f"data. Row counts: {rows}."
            )
    if splits.column and summary["key_missing"] == good:
        raise InputDataError(
            f"{owner}: split_column {splits.column!r} has no value in any row, so it "
            f"cannot split them. Check the column name."
        )
    if splits.column and summary["key_missing"]:
        log.warning(
            "%s: %d rows have no %r value; they all hash alike and land in one split",
            owner,
            summary["key_missing"],
            splits.column,
        )
    for name, count in rows.items():
        if not count:
            log.warning("%s: split %r received no rows", owner, name)
    if bad:
        _gather_bad_rows(examples, temp)
    fs.remove_tree(temp)
    return JobResult(rows, bad, summary["facts"])


def _gather_bad_rows(examples: Examples, temp: str) -> None:
    folder = fs.join(temp, BAD_ROWS_FOLDER)
    parts = [fs.read_text(fs.join(folder, name)) for name in fs.listdir(folder)]
    fs.write_text(fs.join(examples.uri, BAD_ROWS_FOLDER, BAD_ROWS_FILE), "".join(parts))


def publish(examples: Examples, result: JobResult, span=None, version=None) -> None:
    """Records the splits, row counts and span/version on the artifact."""
    examples.split_names = list(result.row_counts)
    examples.row_counts = dict(result.row_counts)
    if span is not None:
        examples.span = span
    if version is not None:
        examples.version = version


def make_tasks(selection: Any, splits: SplitPlan) -> list[Task]:
    """One task per input file, numbered in split and file order."""
    tasks = []
    for split, paths in selection.files.items():
        for path in paths:
            tasks.append(
                Task(path, None if splits.by_hash else split, file_index=len(tasks))
            )
    return tasks


def generate(
    *,
    owner: str,
    source: Source,
    tasks: list[Task],
    selection: Any,
    splits: SplitPlan,
    tolerance: Tolerance,
    examples: Examples,
    context: Any,
    input_bytes: int | None = None,
) -> dict[str, Any]:
    """Runs the job, records the outcome on ``examples`` and returns the result dict.

    ``input_bytes``, when given, lets the input's size choose the local running
    mode (``components.beam_pipeline.choose_local_mode``).

    Returns:
        JSON facts for the execution: ``row_counts``, ``bad_rows``, ``files``, the
        source's facts (e.g. ``column_types``) and ``span``/``spans``/``version`` when
        the input has spans.
    """
    result = run_job(
        owner=owner,
        source=source,
        tasks=tasks,
        examples=examples,
        splits=splits,
        tolerance=tolerance,
        beam_pipeline_args=list(context.beam_pipeline_args) if context else [],
        label=job_label(context) if context else None,
        input_bytes=input_bytes,
    )
    publish(examples, result, selection.span, selection.version)
    facts: dict[str, Any] = {
        "row_counts": result.row_counts,
        "bad_rows": result.bad_rows,
        "files": len(tasks),
        **result.facts,
    }
    if selection.span is not None:
        facts["span"] = selection.span
        facts["spans"] = list(selection.spans)
    if selection.version is not None:
        facts["version"] = selection.version
    (context.log if context else log).info(
        "%s: wrote %s rows per split from %d file(s)%s",
        owner,
        result.row_counts,
        len(tasks),
        f"; skipped {result.bad_rows} bad rows" if result.bad_rows else "",
    )
    return facts
