"""ImportExampleGen: TFRecord files of tf.Example, gzip or not."""

import pathlib

import pyarrow as pa
import pytest

from components.example_gen import CsvExampleGen, ImportExampleGen, InputDataError
from components.example_gen.encoding import encode_examples
from components.example_gen.tfrecord import GzipRecordWriter, frame_records, record_crcs

from .conftest import IRIS, TITANIC, records, rows


def write_records(
    path: pathlib.Path, batch: pa.RecordBatch, gzipped: bool
) -> list[bytes]:
    encoded = encode_examples(batch)
    if gzipped:
        with GzipRecordWriter(open(path, "wb")) as writer:
            writer.write(encoded)
    else:
        path.write_bytes(frame_records(encoded, record_crcs(encoded)).to_pybytes())
    return encoded.to_pylist()


def test_csv_examples_import_as_they_are(run_gen):
    source, _ = run_gen(
        CsvExampleGen,
        input_base=str(IRIS),
        input_splits={"train": "iris_training.csv", "eval": "iris_test.csv"},
    )
    imported, result = run_gen(
        ImportExampleGen,
        input_base=source.uri,
        input_splits={"train": "Split-train/*.gz", "eval": "Split-eval/*.gz"},
    )
    assert result["row_counts"] == {"train": 120, "eval": 30}
    for split in ("train", "eval"):
        assert records(imported, split) == records(source, split)


def test_gzip_and_plain_files_are_told_apart(run_gen, tmp_path):
    batch = pa.record_batch(
        {"id": list(range(100)), "word": [f"w{i}" for i in range(100)]}
    )
    (tmp_path / "in").mkdir()
    written = write_records(tmp_path / "in" / "a.tfrecord.gz", batch.slice(0, 60), True)
    written += write_records(tmp_path / "in" / "b.tfrecord", batch.slice(60), False)
    examples, result = run_gen(ImportExampleGen, input_base=str(tmp_path / "in"))
    assert sum(result["row_counts"].values()) == 100 and result["files"] == 2
    assert sorted(records(examples, "train") + records(examples, "eval")) == sorted(
        written
    )


def test_the_hash_split_matches_csv_for_the_same_rows(run_gen):
    from_csv, _ = run_gen(CsvExampleGen, input_base=str(TITANIC))
    merged = pathlib.Path(from_csv.uri)
    imported, _ = run_gen(ImportExampleGen, input_base=str(merged / "Split-*" / "*.gz"))
    for split in ("train", "eval"):
        assert sorted(records(imported, split)) == sorted(records(from_csv, split))


def test_a_split_column_of_imported_records(run_gen, tmp_path):
    batch = pa.record_batch(
        {"user": [i % 10 for i in range(200)], "x": list(range(200))}
    )
    write_records(tmp_path / "data.tfrecord.gz", batch, True)
    examples, _ = run_gen(
        ImportExampleGen,
        input_base=str(tmp_path / "data.tfrecord.gz"),
        split_column="user",
    )
    users = {
        split: {r["user"][0] for r in rows(examples, split)}
        for split in ("train", "eval")
    }
    assert users["train"] and users["eval"] and not users["train"] & users["eval"]


def test_a_corrupt_file_is_named(run_gen, tmp_path):
    path = tmp_path / "data.tfrecord"
    write_records(path, pa.record_batch({"x": [1, 2, 3]}), False)
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(
        InputDataError, match="data.tfrecord: the file ends inside a record"
    ):
        run_gen(ImportExampleGen, input_base=str(path))


def test_a_split_column_in_no_record_is_an_error(run_gen, tmp_path):
    write_records(tmp_path / "d.tfrecord.gz", pa.record_batch({"x": [1, 2]}), True)
    with pytest.raises(
        InputDataError, match="split_column 'usr' has no value in any row"
    ):
        run_gen(
            ImportExampleGen,
            input_base=str(tmp_path / "d.tfrecord.gz"),
            split_column="usr",
        )
