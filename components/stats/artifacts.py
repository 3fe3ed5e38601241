"""How statistics, schemas and anomalies lie in their artifacts, and reading them back.

``ExampleStatistics``: ``<uri>/Split-<name>/FeatureStats.pb`` (a serialized
``DatasetFeatureStatisticsList`` with one dataset) and ``summary.txt`` beside it.
``Schema``: ``<uri>/schema.pbtxt`` (text-format ``Schema``). ``ExampleAnomalies``:
``<uri>/Split-<name>/SchemaDiff.pb`` (a serialized ``Anomalies``) and ``anomalies.txt``.

Example:
    >>> from pipeline import ExampleStatistics
    >>> statistics_path(ExampleStatistics(uri="/r/stats/4"), "train")
    '/r/stats/4/Split-train/FeatureStats.pb'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline import Artifact, DefinitionError, ExampleStatistics, did_you_mean, fs

STATISTICS_FILE = "FeatureStats.pb"
STATISTICS_SUMMARY_FILE = "summary.txt"
ANOMALIES_FILE = "SchemaDiff.pb"
ANOMALIES_SUMMARY_FILE = "anomalies.txt"


def statistics_path(statistics: ExampleStatistics, split: str) -> str:
    """The ``FeatureStats.pb`` file of ``split``."""
    return fs.join(statistics.split_uri(split), STATISTICS_FILE)


def artifact_splits(artifact: Artifact) -> list[str]:
    """The splits of an artifact: its ``split_names``, else its ``Split-*`` folders."""
    names = artifact.properties.get("split_names")
    if names:
        return list(names)
    if not fs.isdir(artifact.uri):
        return []
    return [
        n[len("Split-") :] for n in fs.listdir(artifact.uri) if n.startswith("Split-")
    ]


def choose_splits(
    owner: str,
    available: Sequence[str],
    *,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    include_param: str = "splits",
    exclude_param: str = "exclude_splits",
) -> list[str]:
    """The splits to work on: ``include`` (all when None) minus ``exclude``.

    Raises:
        DefinitionError: A named split does not exist, or none is left.
    """
    for param, names in ((include_param, include), (exclude_param, exclude)):
        for name in names or ():
            if name not in available:
                raise DefinitionError(
                    f"{owner}: {param} names split {name!r}, but the input has only "
                    f"{list(available)}.{did_you_mean(name, available)}"
                )
    chosen = [s for s in (include or available) if s not in set(exclude or ())]
    if not chosen:
        raise DefinitionError(
            f"{owner}: no split left to work on: the input has {list(available)}, "
            f"{exclude_param}={list(exclude or [])}. Exclude fewer splits."
        )
    return chosen


def write_statistics(stats_list: bytes, split_dir: str) -> None:
    """Writes a split's serialized ``DatasetFeatureStatisticsList`` and its summary."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    from components.stats.summary import format_statistics

    parsed = statistics_pb2.DatasetFeatureStatisticsList.FromString(stats_list)
    fs.write_bytes(fs.join(split_dir, STATISTICS_FILE), stats_list)
    fs.write_text(
        fs.join(split_dir, STATISTICS_SUMMARY_FILE),
        "\n\n".join(format_statistics(d) for d in parsed.datasets) + "\n",
    )


def read_statistics(owner: str, statistics: ExampleStatistics, split: str) -> Any:
    """Reads one split's statistics as a ``DatasetFeatureStatistics``.

    Raises:
        FileNotFoundError: The artifact holds no statistics for ``split``.
    """
    from tensorflow_metadata.proto.v0 import statistics_pb2

    path = statistics_path(statistics, split)
    if not fs.exists(path):
        raise FileNotFoundError(
            f"{owner}: the statistics of split {split!r} are missing: no {path}. "
            f"The ExampleStatistics artifact has splits {artifact_splits(statistics)}; "
            f"it must come from StatisticsGen."
        )
    stats_list = statistics_pb2.DatasetFeatureStatisticsList.FromString(
        fs.read_bytes(path)
    )
    if len(stats_list.datasets) != 1:
        raise ValueError(
            f"{owner}: {path} holds {len(stats_list.datasets)} datasets; expected "
            f"exactly one (the split {split!r}), as StatisticsGen writes it."
        )
    return stats_list.datasets[0]


def parse_schema(owner: str, path: str, param: str = "schema_file") -> Any:
    """Reads a text-format tensorflow_metadata ``Schema`` file, checking it.

    Raises:
        DefinitionError: The file is missing, does not parse, or has no features.
    """
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    example = 'feature { name: "fare" type: FLOAT presence { min_fraction: 1.0 } }'
    if not fs.exists(path) or fs.isdir(path):
        raise DefinitionError(
            f"{owner}: {param} {path!r} is not a file. Pass the path of a text-format "
            f"tensorflow_metadata Schema (such as a schema.pbtxt written by SchemaGen)."
        )
    try:
        schema = text_format.Parse(fs.read_text(path), schema_pb2.Schema())
    except (text_format.ParseError, UnicodeDecodeError) as exc:
        raise DefinitionError(
            f"{owner}: {param} {path!r} is not a text-format tensorflow_metadata "
            f"Schema: {str(exc).rstrip('.')}. Fix that line; features look like: "
            f"{example}"
        ) from None
    if not schema.feature:
        raise DefinitionError(
            f"{owner}: {param} {path!r} parses as a Schema but declares no features; "
            f"expected entries such as: {example}"
        )
    unnamed = [i for i, f in enumerate(schema.feature) if not f.name]
    if unnamed:
        raise DefinitionError(
            f"{owner}: {param} {path!r}: feature entries {unnamed} (counted from 0) "
            f"have no name; every feature needs one, e.g. {example}"
        )
    return schema


def write_schema(path: str, schema: Any) -> None:
    """Writes a ``Schema`` proto as text."""
    from google.protobuf import text_format

    fs.write_text(path, text_format.MessageToString(schema))
