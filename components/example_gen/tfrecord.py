"""TFRecord files, read and written in bulk without TensorFlow.

A TFRecord file is a sequence of records, each framed as::

    uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)

(little-endian), optionally inside one gzip stream. Writing frames a whole batch of
records with numpy and Arrow and compresses it with zlib in one call; reading walks the
frames and checks both checksums, as TensorFlow does.

Example:
    >>> import os, tempfile, pyarrow as pa
    >>> path = os.path.join(tempfile.mkdtemp(), "data.tfrecord.gz")
    >>> records = pa.array([b"first", b"second"], pa.large_binary())
    >>> with GzipRecordWriter(open(path, "wb")) as writer:
    ...     writer.write(records)
    >>> [batch.to_pylist() for batch in read_records(open(path, "rb"), path)]
    [[b'first', b'second']]
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

import google_crc32c
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.example_gen.encoding import binary_lengths

GZIP_MAGIC = b"\x1f\x8b"
_MASK_DELTA = 0xA282EAD8
_READ_CHUNK = 8 << 20
_TABLE: np.ndarray | None = None


def _crc_table() -> np.ndarray:
    global _TABLE
    if _TABLE is None:
        table = []
        for byte in range(256):
            crc = byte
            for _ in range(8):
                crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
            table.append(crc)
        _TABLE = np.array(table, np.uint32)
    return _TABLE


def mask(crc: np.ndarray) -> np.ndarray:
    """TFRecord's masking of CRC32C values (rotate right by 15, add a constant)."""
    crc = crc.astype(np.uint32)
    return ((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(_MASK_DELTA)


def _crc32c_of_lengths(lengths: np.ndarray) -> np.ndarray:
    """CRC32C of each length's 8 little-endian bytes, table-driven over all at once."""
    table = _crc_table()
    lengths = lengths.astype(np.uint64)
    crc = np.full(len(lengths), 0xFFFFFFFF, np.uint32)
    for k in range(8):
        byte = ((lengths >> np.uint64(8 * k)) & np.uint64(0xFF)).astype(np.uint32)
        crc = table[(crc ^ byte) & np.uint32(0xFF)] ^ (crc >> np.uint32(8))
    return crc ^ np.uint32(0xFFFFFFFF)


def record_crcs(records: pa.Array) -> np.ndarray:
    """The CRC32C of each record (unmasked), as uint32."""
    return np.fromiter(
        (google_crc32c.value(r) for r in records.to_pylist()),
        np.uint32,
        count=len(records),
    )


def _fixed_width(data: np.ndarray, width: int) -> pa.Array:
    n = len(data) // width
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def frame_records(records: pa.Array, crcs: np.ndarray) -> pa.Buffer:
    """The TFRecord framing of ``records`` (with their CRC32Cs), end to end.

    Example:
        >>> import pyarrow as pa
        >>> records = pa.array([b"x"], pa.large_binary())
        >>> frame_records(records, record_crcs(records)).to_pybytes()[:8]
        b'\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00'
    """
    records = pc.cast(records, pa.large_binary())
    lengths = binary_lengths(records)
    header = np.empty((len(records), 12), np.uint8)
    header[:, :8] = lengths.astype("<u8").view(np.uint8).reshape(-1, 8)
    header[:, 8:] = (
        mask(_crc32c_of_lengths(lengths)).astype("<u4").view(np.uint8).reshape(-1, 4)
    )
    footer = mask(crcs).astype("<u4").view(np.uint8)
    framed = pc.binary_join_element_wise(
        _fixed_width(header.reshape(-1), 12),
        records,
        _fixed_width(footer, 4),
        pa.scalar(b"", pa.large_binary()),
    )
    offsets = np.frombuffer(framed.buffers()[1], np.int64, count=len(framed) + 1)
    return framed.buffers()[2][int(offsets[0]) : int(offsets[-1])]


class GzipRecordWriter:
    """Writes framed records into one gzip stream on an open binary file.

    Args:
        sink: A writable binary file; closed by ``close()``.
        level: The zlib compression level (TensorFlow's default by default).
        background: Compress and write in a thread, so the caller can prepare the
            next batch meanwhile (zlib releases the GIL); one batch waits at most.
    """

    def __init__(
        self,
        sink: BinaryIO,
        level: int = zlib.Z_DEFAULT_COMPRESSION,
        background: bool = False,
    ):
        self._sink = sink
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        self._pool = ThreadPoolExecutor(1) if background else None
        self._pending: Future | None = None

    def write(self, records: pa.Array, crcs: np.ndarray | None = None) -> None:
        """Appends ``records``; ``crcs`` are their CRC32Cs if already computed."""
        if crcs is None:
            crcs = record_crcs(records)
        framed = frame_records(records, crcs)
        if self._pool is None:
            self._put(framed)
            return
        if self._pending is not None:
            self._pending.result()
        self._pending = self._pool.submit(self._put, framed)

    def _put(self, framed: pa.Buffer) -> None:
        self._sink.write(self._compressor.compress(framed))

    def close(self) -> None:
        """Ends the gzip stream and closes the file."""
        try:
            if self._pending is not None:
                self._pending.result()
        finally:
            if self._pool is not None:
                self._pool.shutdown()
        self._sink.write(self._compressor.flush())
        self._sink.close()

    def __enter__(self) -> GzipRecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CorruptRecordError(ValueError):
    """A TFRecord file is truncated or fails its checksums."""


def _chunks(source: BinaryIO) -> Iterator[bytes]:
    head = source.read(2)
    if head != GZIP_MAGIC:
        if head:
            yield head
        while chunk := source.read(_READ_CHUNK):
            yield chunk
        return
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    pending = head
    while True:
        chunk = pending or source.read(_READ_CHUNK)
        pending = b""
        if not chunk:
            break
        yield inflater.decompress(chunk)
        while inflater.eof and inflater.unused_data:
            # Concatenated gzip members: start again after the one that ended.
            rest = inflater.unused_data
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            yield inflater.decompress(rest)
    yield inflater.flush()


def read_records(
    source: BinaryIO, name: str, batch_size: int = 65536
) -> Iterator[pa.LargeBinaryArray]:
    """Yields the records of a TFRecord file (gzip or not, detected) in batches.

    Args:
        source: The open file, positioned at its start.
        name: The file's name, for error messages.
        batch_size: Records per yielded batch.

    Raises:
        CorruptRecordError: The file is truncated or a checksum does not match,
            naming the byte offset (in the uncompressed stream) of the bad record.
    """
    buffer = b""
    offset = 0  # of buffer[0] in the uncompressed stream
    batch: list[bytes] = []
    unpack = struct.unpack_from
    crc = google_crc32c.value
    for chunk in _chunks(source):
        buffer = buffer + chunk if buffer else chunk
        pos = 0
        end = len(buffer)
        while end - pos >= 12:
            (length, length_crc) = unpack("<QI", buffer, pos)
            if _masked(crc(buffer[pos : pos + 8])) != length_crc:
                raise CorruptRecordError(
                    f"{name}: the record at byte {offset + pos} has a bad length "
                    f"checksum; the file is not a TFRecord file or is corrupt."
                )
            if end - pos < 16 + length:
                break
            data = buffer[pos + 12 : pos + 12 + length]
            (data_crc,) = unpack("<I", buffer, pos + 12 + length)
            if _masked(crc(data)) != data_crc:
                raise CorruptRecordError(
                    f"{name}: the record at byte {offset + pos} fails its data "
                    f"checksum; the file is corrupt."
                )
            batch.append(data)
            pos += 16 + length
            if len(batch) >= batch_size:
                yield pa.array(batch, pa.large_binary())
                batch = []
        buffer = buffer[pos:]
        offset += pos
    if buffer:
        raise CorruptRecordError(
            f"{name}: the file ends inside a record (at byte {offset}, "
            f"{len(buffer)} bytes left over); it was truncated."
        )
    if batch:
        yield pa.array(batch, pa.large_binary())


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF
