"""mlpipe's standard components.

Each is a component class made by ``@component``; importing this package is cheap (no
TensorFlow, Beam or tfx_bsl until a component executes).

Example:
    >>> from components import StatisticsGen
    >>> sorted(StatisticsGen.spec.outputs)
    ['statistics']
"""

from components.evaluator import Evaluator
from components.example_gen import (
    CsvExampleGen,
    ImportExampleGen,
    ParquetExampleGen,
    TfdsExampleGen,
)
from components.example_validator import ExampleValidator
from components.pusher import Pusher
from components.schema_gen import SchemaGen
from components.statistics_gen import StatisticsGen
from components.trainer.component import Trainer
from components.transform import Transform

__all__ = [
    "CsvExampleGen",
    "Evaluator",
    "ExampleValidator",
    "ImportExampleGen",
    "ParquetExampleGen",
    "Pusher",
    "SchemaGen",
    "StatisticsGen",
    "TfdsExampleGen",
    "Trainer",
    "Transform",
]
