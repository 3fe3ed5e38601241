"""Parquet files read by row groups, their Arrow types mapped to tf.Example kinds."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from components.example_gen.encoding import is_list, kind_of
from components.example_gen.write import BATCH_ROWS, Batch, DataProblem, Task

BLOCK_BYTES = 64 << 20  # uncompressed bytes of row groups read as one block


def _open(path: str):
    from apache_beam.io.filesystems import CompressionTypes, FileSystems

    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _scalar_target(arrow_type: pa.DataType) -> pa.DataType | None:
    """The type a scalar column is written as, or None if it has no tf.Example form."""
    if pa.types.is_dictionary(arrow_type):
        return _scalar_target(arrow_type.value_type)
    if pa.types.is_null(arrow_type):
        return arrow_type
    if pa.types.is_uint64(arrow_type) or pa.types.is_duration(arrow_type):
        return pa.int64()
    if pa.types.is_decimal(arrow_type):
        return pa.float64()
    if pa.types.is_temporal(arrow_type):
        return pa.string()  # ISO 8601 text
    if kind_of(arrow_type) is not None:
        return arrow_type
    return None


def target_type(arrow_type: pa.DataType) -> pa.DataType | None:
    """The Arrow type a Parquet column is converted to before encoding, or None.

    Example:
        >>> target_type(pa.timestamp("s")), target_type(pa.list_(pa.int8()))
        (DataType(string), LargeListType(large_list<item: int8>))
    """
    if is_list(arrow_type):
        inner = arrow_type.value_type
        if is_list(inner) or pa.types.is_null(inner):
            return None
        target = _scalar_target(inner)
        return None if target is None else pa.large_list(target)
    return _scalar_target(arrow_type)


def describe_type(arrow_type: pa.DataType) -> str:
    """The feature kind of a column: int, float, string, or list<...> of one."""
    if is_list(arrow_type):
        return f"list<{describe_type(arrow_type.value_type)}>"
    target = _scalar_target(arrow_type)
    if target is None or pa.types.is_null(target):
        return "none"
    kind = kind_of(target)
    return "string" if kind == "bytes" else kind


def read_schema(path: str) -> pa.Schema:
    """The Arrow schema of a Parquet file."""
    with _open(path) as source:
        return pq.read_schema(source)


@dataclasses.dataclass(frozen=True)
class ParquetSource:
    """Reads Parquet files in blocks of whole row groups.

    Attributes:
        columns: The columns to read.
    """

    columns: tuple[str, ...]
    needs_survey = False

    def plan(self, task: Task) -> Iterator[Task]:
        """Groups the file's row groups into blocks of about ``BLOCK_BYTES``."""
        with _open(task.path) as source:
            metadata = pq.ParquetFile(source).metadata
        start, size, block = 0, 0, 0
        for group in range(metadata.num_row_groups):
            size += metadata.row_group(group).total_byte_size
            if size >= BLOCK_BYTES or group == metadata.num_row_groups - 1:
                yield dataclasses.replace(task, start=start, end=group + 1, block=block)
                start, size, block = group + 1, 0, block + 1

    def survey(self, task: Task) -> None:
        """Not used: Parquet columns are typed."""

    def merge_surveys(self, surveys) -> None:
        """Not used."""

    def read(self, task: Task, survey: None) -> Iterator[Batch]:
        """The block's rows, converted to types tf.Example can hold."""
        with _open(task.path) as source:
            table = pq.ParquetFile(source).read_row_groups(
                list(range(task.start, task.end)), columns=list(self.columns)
            )
        columns = {}
        for name in table.column_names:
            column = table[name].combine_chunks()
            if pa.types.is_dictionary(column.type):
                column = column.dictionary_decode()
            target = target_type(table.schema.field(name).type)
            if target is not None and target != column.type:
                try:
                    column = pc.cast(column, target)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise DataProblem(
                        f"{task.path}: column {name!r} ({column.type}) cannot be "
                        f"converted to {target}: {exc}"
                    ) from exc
            columns[name] = column
        converted = pa.table(columns)
        for offset in range(0, converted.num_rows, BATCH_ROWS):
            yield Batch(table=converted.slice(offset, BATCH_ROWS))

    def describe(self, survey: None) -> dict:
        """No facts beyond the counts (the component reports the column types)."""
        return {}
