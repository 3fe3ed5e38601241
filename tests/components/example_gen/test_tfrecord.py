"""tfrecord.py: TFRecord files that TensorFlow reads, and TensorFlow's that we read."""

import gzip
import io

import google_crc32c
import numpy as np
import pyarrow as pa
import pytest

from components.example_gen import tfrecord

RECORDS = [b"", b"a", b"x" * 300, bytes(range(256)) * 40]


def write(path, records, gzipped=True):
    array = pa.array(records, pa.large_binary())
    if gzipped:
        with tfrecord.GzipRecordWriter(open(path, "wb")) as writer:
            writer.write(array)
    else:
        framed = tfrecord.frame_records(array, tfrecord.record_crcs(array))
        path.write_bytes(framed.to_pybytes())


def read(path):
    with open(path, "rb") as f:
        return [
            r
            for batch in tfrecord.read_records(f, str(path))
            for r in batch.to_pylist()
        ]


def test_length_checksums_match_crc32c_of_each_length():
    lengths = np.array([0, 1, 255, 256, 2**40 + 7], np.uint64)
    expected = [google_crc32c.value(int(n).to_bytes(8, "little")) for n in lengths]
    assert tfrecord._crc32c_of_lengths(lengths).tolist() == expected


@pytest.mark.parametrize("gzipped", [True, False])
def test_written_records_read_back_in_order(tmp_path, gzipped):
    path = tmp_path / "data.tfrecord"
    write(path, RECORDS, gzipped)
    assert read(path) == RECORDS


def test_batches_are_cut_at_the_batch_size(tmp_path):
    path = tmp_path / "data.tfrecord.gz"
    write(path, [b"r%d" % i for i in range(10)])
    with open(path, "rb") as f:
        sizes = [len(b) for b in tfrecord.read_records(f, "x", batch_size=4)]
    assert sizes == [4, 4, 2]


def test_concatenated_gzip_members_are_all_read(tmp_path):
    one, two = tmp_path / "1.gz", tmp_path / "2.gz"
    write(one, [b"first"])
    write(two, [b"second"])
    both = tmp_path / "both.gz"
    both.write_bytes(one.read_bytes() + two.read_bytes())
    assert read(both) == [b"first", b"second"]


def test_tensorflow_reads_what_we_write(tmp_path):
    tf = pytest.importorskip("tensorflow")
    path = tmp_path / "data.tfrecord.gz"
    write(path, RECORDS)
    dataset = tf.data.TFRecordDataset(str(path), compression_type="GZIP")
    assert [r.numpy() for r in dataset] == RECORDS


def test_we_read_what_tensorflow_writes(tmp_path):
    tf = pytest.importorskip("tensorflow")
    for options, name in ((None, "plain.tfrecord"), ("GZIP", "zipped.tfrecord.gz")):
        with tf.io.TFRecordWriter(str(tmp_path / name), options=options) as writer:
            for record in RECORDS:
                writer.write(record)
        assert read(tmp_path / name) == RECORDS


def test_a_truncated_file_is_named_with_its_offset(tmp_path):
    path = tmp_path / "cut.tfrecord"
    write(path, RECORDS, gzipped=False)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(tfrecord.CorruptRecordError, match="ends inside a record"):
        read(path)


def test_a_flipped_byte_fails_the_data_checksum(tmp_path):
    path = tmp_path / "bad.tfrecord"
    write(path, [b"hello", b"world"], gzipped=False)
    data = bytearray(path.read_bytes())
    data[len(data) - 6] ^= 0xFF  # inside the second record's data
    path.write_bytes(bytes(data))
    with pytest.raises(tfrecord.CorruptRecordError, match="record at byte 21 fails"):
        read(path)


def test_a_file_that_is_not_tfrecord_fails_the_length_checksum(tmp_path):
    path = tmp_path / "text.csv"
    path.write_text("a,b,c\n1,2,3\n4,5,6\n")
    with pytest.raises(tfrecord.CorruptRecordError, match="bad length checksum"):
        read(path)


def test_output_is_standard_gzip():
    sink = io.BytesIO()
    sink.close = lambda: None
    with tfrecord.GzipRecordWriter(sink) as writer:
        writer.write(pa.array([b"x"], pa.large_binary()))
    assert gzip.decompress(sink.getvalue())[12:13] == b"x"
