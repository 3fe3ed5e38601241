"""TFRecord files of tf.Example, copied record by record (ImportExampleGen, TFDS)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from components.example_gen import tfrecord
from components.example_gen.write import Batch, DataProblem, Task


def _open(path: str):
    from apache_beam.io.filesystems import CompressionTypes, FileSystems

    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


@dataclasses.dataclass(frozen=True)
class RecordSource:
    """Reads whole TFRecord files, gzip or not (told apart by their first bytes).

    A file is one block: its records can only be found by walking it from the start.
    Checksums are verified; a corrupt or truncated file fails the component.
    """

    needs_survey = False

    def plan(self, task: Task) -> Iterator[Task]:
        """One block per file."""
        yield task

    def survey(self, task: Task) -> None:
        """Not used: records need no first pass."""

    def merge_surveys(self, surveys) -> None:
        """Not used."""

    def read(self, task: Task, survey: None) -> Iterator[Batch]:
        """The file's records, in batches."""
        with _open(task.path) as source:
            try:
                for records in tfrecord.read_records(source, task.path):
                    yield Batch(records=records)
            except tfrecord.CorruptRecordError as exc:
                raise DataProblem(str(exc)) from exc

    def describe(self, survey: None) -> dict:
        """No facts beyond the counts."""
        return {}
