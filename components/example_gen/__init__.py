"""ExampleGen components: raw files to split tf.Examples, on Apache Beam.

Each writes ``<examples.uri>/Split-<name>/data-*.tfrecord.gz`` (gzip TFRecords of
``tf.train.Example``) and records ``split_names``, ``row_counts`` and, for input in
spans, ``span`` and ``version`` on its Examples artifact. See docs/example_gen.md.

Importing this package is cheap: TensorFlow, Beam and pyarrow load only when a
component runs.

Example:
    >>> gen = CsvExampleGen(input_base="data/iris", input_splits={"train": "train.csv",
    ...                                                          "eval": "test.csv"})
    >>> gen.id
    'CsvExampleGen'
"""

from components.example_gen.bad_rows import InputDataError
from components.example_gen.csv_gen import CsvExampleGen
from components.example_gen.import_gen import ImportExampleGen
from components.example_gen.parquet_gen import ParquetExampleGen
from components.example_gen.tfds_gen import TfdsExampleGen

__all__ = [
    "CsvExampleGen",
    "ImportExampleGen",
    "InputDataError",
    "ParquetExampleGen",
    "TfdsExampleGen",
]
