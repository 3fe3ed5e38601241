"""CSV files read in blocks with pyarrow: headers, block boundaries, types and bad rows.

A large file is cut into blocks of about ``BLOCK_SIZE`` bytes at record boundaries, so
its blocks are read in parallel. A newline ends a record only outside quotes; with
RFC 4180 quoting (a quote inside a quoted field is doubled) that is where the count of
quote characters before it is even, which one pass of ``bytes.count`` finds. A file
whose quotes do not pair up is read as one block.

Each block is parsed by pyarrow with every column as raw bytes. The first pass infers
each column's type (int, float or string) per block, and the merged types of all blocks
are the types of the whole input; the second pass checks UTF-8, converts each column to
its type and hands the rows on. Rows with the wrong number of fields, invalid UTF-8 or
a value that does not fit an explicit column type are bad rows, located by file and
line.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

from components.example_gen.bad_rows import BadRow, InputDataError, make_bad_row
from components.example_gen.write import BATCH_ROWS, Batch, DataProblem, Task

log = logging.getLogger("mlpipe.example_gen")

BLOCK_SIZE = 16 << 20
BOM = b"\xef\xbb\xbf"
QUOTE = b'"'
TYPES = {"int": pa.int64(), "float": pa.float64(), "string": pa.string()}
_RANK = {None: 0, "int": 1, "float": 2, "string": 3}
_HEADER_LIMIT = 1 << 20


def _open(path: str):
    from apache_beam.io.filesystems import CompressionTypes, FileSystems

    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _size(path: str) -> int:
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.match([path])[0].metadata_list[0].size_in_bytes


@dataclasses.dataclass(frozen=True)
class Header:
    """A CSV file's header.

    Attributes:
        columns: The column names, in file order.
        data_start: The byte offset of the first row below the header.
        data_line: The line number of that row.
    """

    columns: tuple[str, ...]
    data_start: int
    data_line: int


def read_header(path: str, delimiter: str) -> Header:
    """Reads the header record of a CSV file (a BOM before it is skipped).

    Raises:
        InputDataError: The file is empty, its header is not UTF-8, or a column name
            is empty or repeated.
    """
    with _open(path) as source:
        data = source.read(1 << 16)
        start = len(BOM) if data.startswith(BOM) else 0
        in_quotes, end, scanned = False, None, start
        while end is None:
            for i in range(scanned, len(data)):
                byte = data[i]
                if byte == 34:
                    in_quotes = not in_quotes
                elif byte == 10 and not in_quotes:
                    end = i + 1
                    break
            scanned = len(data)
            if end is None:
                more = source.read(1 << 16)
                if not more:
                    end = len(data)
                elif len(data) > _HEADER_LIMIT:
                    raise InputDataError(
                        f"{path}: no end of the header line in the first 1 MB; is this "
                        f"a CSV file with a header?"
                    )
                data += more
    raw = data[start:end]
    if not raw.strip():
        raise InputDataError(
            f"{path}: the file is empty; a CSV input needs a header line naming its "
            f"columns, then the rows."
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputDataError(
            f"{path} line 1: the header is not valid UTF-8 ({exc.reason} at byte "
            f"{exc.start}); save the file as UTF-8."
        ) from None
    columns = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    for position, name in enumerate(columns, start=1):
        if not name:
            raise InputDataError(
                f"{path} line 1: column {position} of the header has no name; every "
                f"column needs one (header: {text.strip()!r})."
            )
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise InputDataError(
            f"{path} line 1: the header names {repeated} more than once; column names "
            f"must be unique."
        )
    return Header(tuple(columns), end, 1 + text.count("\n"))


def _failing_rows(array: pa.Array, to_type: pa.DataType) -> list[int]:
    """Indices of the values that cannot be cast, found by halving the array."""
    try:
        pc.cast(array, to_type)
        return []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if len(array) == 1:
            return [0]
    half = len(array) // 2
    return _failing_rows(array[:half], to_type) + [
        half + i for i in _failing_rows(array[half:], to_type)
    ]


def _cast(array: pa.Array, to_type: pa.DataType) -> tuple[pa.Array, list[int]]:
    """``array`` cast to ``to_type``, with the values that do not fit as nulls."""
    try:
        return pc.cast(array, to_type), []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        failing = _failing_rows(array, to_type)
    mask = np.zeros(len(array), bool)
    mask[failing] = True
    cleared = pc.if_else(pa.array(mask), pa.scalar(None, array.type), array)
    return pc.cast(cleared, to_type), failing


def _fits(array: pa.Array, kind: str) -> bool:
    try:
        pc.cast(array, TYPES[kind])
        return True
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False


def _infer(array: pa.Array) -> str | None:
    """The narrowest type that holds every value: int, float, string (None if empty)."""
    if array.null_count == len(array):
        return None
    # A failed cast is slow (it reads every value); a value that does not fit is
    # usually among the first, so try a sample before the whole column.
    sample = array[:1024]
    for kind in ("int", "float"):
        if _fits(sample, kind) and _fits(array, kind):
            return kind
    return "string"


def _records(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, end) of each non-empty record in ``data``, and the newline positions."""
    raw = np.frombuffer(data, np.uint8)
    newlines = np.flatnonzero(raw == 10)
    quoted = np.bitwise_xor.accumulate((raw == 34).astype(np.uint8))
    ends = newlines[quoted[newlines] == 0] + 1
    if len(raw) and (not len(ends) or ends[-1] != len(raw)):
        ends = np.append(ends, len(raw))
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
    filled = [bool(data[s:e].strip(b"\r\n")) for s, e in zip(starts, ends)]
    return starts[filled], ends[filled], newlines


@dataclasses.dataclass(frozen=True)
class CsvSource:
    """How CsvExampleGen reads its files (see the module docstring).

    Attributes:
        columns: The header's column names.
        read_columns: The columns to keep (not skipped).
        types: Explicit column types ("int", "float" or "string").
        delimiter: The field delimiter.
        block_size: Bytes per block of a large file.
    """

    columns: tuple[str, ...]
    read_columns: tuple[str, ...]
    types: dict[str, str]
    delimiter: str = ","
    block_size: int = BLOCK_SIZE

    @property
    def needs_survey(self) -> bool:
        """True when some column's type must be inferred from the data."""
        return any(name not in self.types for name in self.read_columns)

    def plan(self, task: Task) -> Iterator[Task]:
        """Cuts a file into blocks that start and end at record boundaries."""
        size = _size(task.path)
        if size - task.start <= self.block_size:
            if size > task.start:
                yield dataclasses.replace(task, end=size)
            return
        cuts = []
        quotes = newlines = 0
        position = task.start
        with _open(task.path) as source:
            source.seek(task.start)
            while chunk := source.read(self.block_size):
                at_end = quotes + chunk.count(QUOTE)
                parity, right = at_end, len(chunk)
                while (i := chunk.rfind(b"\n", 0, right)) >= 0:
                    parity -= chunk.count(QUOTE, i, right)
                    if parity % 2 == 0:
                        line = task.first_line + newlines + chunk.count(b"\n", 0, i + 1)
                        if position + i + 1 < size:
                            cuts.append((position + i + 1, line))
                        break
                    right = i
                quotes = at_end
                newlines += chunk.count(b"\n")
                position += len(chunk)
        if quotes % 2:
            log.warning(
                "%s: its quote characters do not pair up, so it is read as one block",
                task.path,
            )
            cuts = []
        bounds = [(task.start, task.first_line), *cuts, (size, 0)]
        for block, ((start, line), (end, _)) in enumerate(zip(bounds, bounds[1:])):
            yield dataclasses.replace(
                task, start=start, end=end, first_line=line, block=block
            )

    def _bytes(self, task: Task) -> bytes:
        with _open(task.path) as source:
            source.seek(task.start)
            return source.read(task.end - task.start)

    def _parse(self, data: bytes) -> tuple[pa.Table, list[tuple[int, int, str]]]:
        invalid: list[tuple[int, int, str]] = []

        def skip(row) -> str:
            invalid.append((row.number, row.actual_columns, row.text))
            return "skip"

        if not data.strip():
            empty = {name: pa.array([], pa.binary()) for name in self.read_columns}
            return pa.table(empty), invalid
        table = pv.read_csv(
            pa.py_buffer(data),
            # One parsing block for the whole of ours: a value may be any size.
            read_options=pv.ReadOptions(
                column_names=list(self.columns),
                use_threads=False,
                block_size=max(len(data) + 1, 1 << 20),
            ),
            parse_options=pv.ParseOptions(
                delimiter=self.delimiter,
                newlines_in_values=True,
                invalid_row_handler=skip,
            ),
            convert_options=pv.ConvertOptions(
                include_columns=list(self.read_columns),
                column_types={name: pa.binary() for name in self.read_columns},
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
        return table, invalid

    def _read_table(self, task: Task) -> tuple[bytes, pa.Table, list]:
        data = self._bytes(task)
        try:
            return (data, *self._parse(data))
        except pa.ArrowInvalid as exc:
            raise DataProblem(
                f"{task.path}: the block from line {task.first_line} cannot be read "
                f"as CSV: {exc}"
            ) from exc

    def survey(self, task: Task) -> dict[str, str | None]:
        """Each inferred column's type in one block (bad rows left out)."""
        try:
            _, table, _ = self._read_table(task)
        except DataProblem:
            return {}  # the second pass meets it again and reports it
        texts = {}
        unreadable = np.zeros(table.num_rows, bool)
        for name in self.read_columns:
            texts[name], failing = _cast(table[name].combine_chunks(), pa.string())
            unreadable[failing] = True
        readable = pa.array(~unreadable) if unreadable.any() else None
        return {
            name: _infer(
                texts[name] if readable is None else texts[name].filter(readable)
            )
            for name in self.read_columns
            if name not in self.types
        }

    def merge_surveys(self, surveys) -> dict[str, str | None]:
        """The widest type each column has in any block (int < float < string)."""
        merged: dict[str, str | None] = {}
        for survey in surveys:
            for name, kind in survey.items():
                if _RANK[kind] >= _RANK[merged.get(name)]:
                    merged[name] = kind
        return merged

    def column_types(self, survey: dict | None) -> dict[str, str | None]:
        """Every read column's type: explicit, else inferred (None: never a value)."""
        merged = {**(survey or {}), **self.types}
        return {name: merged.get(name) for name in self.read_columns}

    def describe(self, survey: dict | None) -> dict:
        """The column types, for the component's result."""
        return {"column_types": self.column_types(survey)}

    def read(self, task: Task, survey: dict | None) -> Iterator[Batch]:
        """The block's rows, typed, in batches; the bad rows come with the first."""
        data, table, invalid = self._read_table(task)
        failed: dict[int, str] = {}
        columns = {}
        for name, kind in self.column_types(survey).items():
            raw = table[name].combine_chunks()
            text, failing = _cast(raw, pa.string())
            for row in failing:
                failed.setdefault(
                    row, f"column {name!r} is not valid UTF-8 (save the file as UTF-8)"
                )
            if kind is None:
                continue
            if kind == "string":
                columns[name] = text
                continue
            typed, failing = _cast(text, TYPES[kind])
            for row in failing:
                value = raw[row].as_py().decode("utf-8", errors="replace")
                article = "an" if kind == "int" else "a"
                failed.setdefault(
                    row, f"column {name!r}: {value!r} is not {article} {kind}"
                )
            columns[name] = typed
        bad_rows = self._locate(task, data, table.num_rows, invalid, failed)
        if failed:
            keep = np.ones(table.num_rows, bool)
            keep[list(failed)] = False
            columns = {name: c.filter(pa.array(keep)) for name, c in columns.items()}
            rows = int(keep.sum())
        else:
            rows = table.num_rows
        if not columns:
            # Every value of every column is missing: each row is an empty Example.
            yield Batch(
                records=pa.array([b"\n\x00"] * rows, pa.large_binary()),
                bad_rows=bad_rows,
            )
            return
        typed_table = pa.table(columns)
        for offset in range(0, max(rows, 1), BATCH_ROWS):
            yield Batch(
                table=typed_table.slice(offset, BATCH_ROWS),
                bad_rows=bad_rows if offset == 0 else [],
            )

    def _locate(
        self,
        task: Task,
        data: bytes,
        parsed: int,
        invalid: list[tuple[int, int, str]],
        failed: dict[int, str],
    ) -> list[BadRow]:
        """The bad rows of a block with their lines and text."""
        if not invalid and not failed:
            return []
        starts, ends, newlines = _records(data)
        known = len(starts) == parsed + len(invalid)
        found = []

        def bad_row(record: int, reason: str, fallback: str) -> BadRow:
            if not known:
                return make_bad_row(task.path, None, reason, fallback)
            line = task.first_line + int(np.searchsorted(newlines, starts[record]))
            return make_bad_row(
                task.path, line, reason, data[starts[record] : ends[record]]
            )

        expected = len(self.columns)
        for number, actual, text in invalid:
            reason = f"expected {expected} fields, got {actual}"
            found.append(bad_row(number - 1, reason, text))
        if failed:
            kept = np.delete(np.arange(len(starts)), [n - 1 for n, _, _ in invalid])
            for row, reason in sorted(failed.items()):
                record = int(kept[row]) if known else 0
                found.append(bad_row(record, reason, ""))
        return sorted(found, key=lambda r: r.line or 0)
