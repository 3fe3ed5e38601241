"""SchemaGen: a tensorflow_metadata Schema inferred from statistics, or the user's own.

The schema is written as text to ``<schema.uri>/schema.pbtxt``. Inferred from the
statistics of the train split (by default), each feature gets:

- its type: ``INT``, ``FLOAT`` or ``BYTES`` (strings);
- its presence: ``min_fraction: 1.0`` when it is never missing (a required feature),
  no fraction otherwise; ``min_count: 1`` always;
- its value count: ``shape { dim { size: k } }`` when every example has exactly k
  values (with ``infer_feature_shape``), else ``value_count { min: 1 max: 1 }`` for
  a single value or ``value_count { min: 1 }`` for lists;
- a string domain (every value seen) when a string feature has at most
  ``max_string_domain_size`` distinct values, as TFDV does: a top-level
  ``string_domain`` named after the feature, which the feature names in ``domain``.

Example:
    >>> import pyarrow as pa
    >>> from components.stats.combiner import statistics_from_batches
    >>> batch = pa.RecordBatch.from_pydict({
    ...     "fare": pa.array([[1.5], [2.0], [4.0]], pa.large_list(pa.float32())),
    ...     "kind": pa.array([[b"cash"], None, [b"card"]], pa.large_list(pa.large_binary())),
    ... })
    >>> schema = infer_schema([statistics_from_batches([batch], "train")])
    >>> [(f.name, f.presence.min_fraction, f.domain) for f in schema.feature]
    [('fare', 1.0, ''), ('kind', 0.0, 'kind')]
    >>> list(schema.string_domain[0].value)
    ['card', 'cash']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from pipeline import (
    DefinitionError,
    ExampleStatistics,
    ExecutionContext,
    Input,
    InputPath,
    Output,
    Parameter,
    Schema,
    component,
    fs,
    source_version,
)

_TYPE_RANK = {"INT": 0, "FLOAT": 1, "BYTES": 2}


@component(
    name="SchemaGen",
    version=source_version("components.schema_gen", "components.stats"),
)
def SchemaGen(
    *,
    statistics: Input[ExampleStatistics] = None,
    schema: Output[Schema],
    context: ExecutionContext,
    splits: list[str] | None = None,
    infer_feature_shape: bool = True,
    max_string_domain_size: int = 100,
    schema_file: Parameter[InputPath] = "",
) -> dict[str, Any]:
    """Writes a Schema inferred from ``statistics``, or a copy of ``schema_file``.

    Args:
        statistics: StatisticsGen's output; not needed with ``schema_file``.
        schema: Where ``schema.pbtxt`` is written.
        context: The run's context.
        splits: The splits whose statistics the schema describes together; default
            ``["train"]``.
        infer_feature_shape: Give features with a fixed number of values in every
            example a ``shape`` (what tensorflow-transform reads as a fixed-length
            feature) instead of a ``value_count``.
        max_string_domain_size: The most distinct values a string feature may have
            to get a string domain (a categorical feature); 0 infers no domains.
        schema_file: A text-format Schema of your own, copied as it is (after it is
            checked to parse) instead of inferring one.

    Returns:
        ``{"features": n, "source": ...}``, recorded on the execution.

    Raises:
        DefinitionError: Neither statistics nor ``schema_file`` is given; the schema
            file is missing or does not parse; a split is not in the statistics.
    """
    from components.stats import artifacts

    owner = f"SchemaGen {context.component_id!r}"
    if schema_file:
        user_schema = artifacts.parse_schema(owner, schema_file)
        fs.write_bytes(schema.schema_path, fs.read_bytes(schema_file))
        context.log.info("Copied the schema %s to %s", schema_file, schema.schema_path)
        if statistics is not None:
            context.log.info("The statistics are not used: schema_file is given")
        return {"features": len(user_schema.feature), "source": schema_file}
    if statistics is None:
        raise DefinitionError(
            f"{owner}: nothing to make a schema from. Wire "
            f"statistics=statistics_gen.outputs['statistics'] to infer one, or pass "
            f"schema_file='path/to/schema.pbtxt' to use your own."
        )
    if max_string_domain_size < 0:
        raise DefinitionError(
            f"{owner}: max_string_domain_size must be 0 or more, got "
            f"{max_string_domain_size}."
        )
    available = artifacts.artifact_splits(statistics)
    wanted = splits if splits is not None else ["train"]
    if splits is None and "train" not in available:
        raise DefinitionError(
            f"{owner}: the statistics have no 'train' split to infer the schema from "
            f"(they have {available}). Name the splits to use, e.g. "
            f"splits={available[:1]}."
        )
    chosen = artifacts.choose_splits(owner, available, include=wanted)
    split_stats = [artifacts.read_statistics(owner, statistics, s) for s in chosen]
    sum_examples = sum(s.num_examples for s in split_stats)
    inferred = infer_schema(
        split_stats,
        infer_feature_shape=infer_feature_shape,
        max_string_domain_size=max_string_domain_size,
        log=context.log,
    )
    if not inferred.feature:
        raise ValueError(
            f"{owner}: no feature has a value in splits {chosen} "
            f"({sum_examples} examples); there is nothing to infer a schema from. "
            f"Check the input data, or pass schema_file."
        )
    artifacts.write_schema(schema.schema_path, inferred)
    context.log.info(
        "Inferred a schema of %d features (%d string domains) from splits %s",
        len(inferred.feature),
        len(inferred.string_domain),
        chosen,
    )
    return {
        "features": len(inferred.feature),
        "string_domains": len(inferred.string_domain),
        "source": f"statistics of splits {chosen}",
    }


@dataclasses.dataclass
class _FeatureView:
    """One feature's statistics, added up over the splits a schema is inferred from."""

    types: set[str] = dataclasses.field(default_factory=set)
    num_non_missing: int = 0
    min_num_values: int | None = None
    max_num_values: int = 0
    values: set[str] | None = dataclasses.field(default_factory=set)


def infer_schema(
    statistics: Sequence[Any],
    *,
    infer_feature_shape: bool = True,
    max_string_domain_size: int = 100,
    log: Any = None,
) -> Any:
    """Infers a tensorflow_metadata ``Schema`` from the statistics of some splits.

    Args:
        statistics: ``DatasetFeatureStatistics`` protos, one per split; the schema
            describes all of them together.
        infer_feature_shape: Give fixed-length features a ``shape``.
        max_string_domain_size: The most distinct values for a string domain.
        log: A logger for notes on type conflicts and features without values.

    Returns:
        The ``Schema`` proto, features sorted by name.
    """
    from tensorflow_metadata.proto.v0 import schema_pb2

    from components.stats.combiner import (
        INVALID_UTF8_PLACEHOLDER,
        LARGE_BYTES_PLACEHOLDER,
    )

    placeholders = {
        INVALID_UTF8_PLACEHOLDER.decode(),
        LARGE_BYTES_PLACEHOLDER.decode(),
    }
    num_examples = sum(s.num_examples for s in statistics)
    views: dict[str, _FeatureView] = {}
    for split in statistics:
        for feature in split.features:
            view = views.setdefault(_name(feature), _FeatureView())
            _add_to_view(view, feature, placeholders)
    schema = schema_pb2.Schema()
    for name in sorted(views):
        view = views[name]
        if not view.num_non_missing:
            if log:
                log.warning(
                    "Feature %r has no values; it is left out of the schema", name
                )
            continue
        feature_type = max(view.types, key=_TYPE_RANK.__getitem__)
        if len(view.types) > 1 and log:
            log.warning(
                "Feature %r has types %s in different splits; the schema says %s",
                name,
                sorted(view.types),
                feature_type,
            )
        feature = schema.feature.add(
            name=name, type=schema_pb2.FeatureType.Value(feature_type)
        )
        always_present = view.num_non_missing == num_examples
        feature.presence.min_count = 1
        if always_present:
            feature.presence.min_fraction = 1.0
        fixed = view.min_num_values == view.max_num_values
        if infer_feature_shape and always_present and fixed:
            feature.shape.dim.add(size=view.max_num_values)
        else:
            feature.value_count.min = 1
            if view.max_num_values == 1:
                feature.value_count.max = 1
        if (
            feature_type == "BYTES"
            and view.values is not None
            and 0 < len(view.values) <= max_string_domain_size
        ):
            schema.string_domain.add(name=name, value=sorted(view.values))
            feature.domain = name
    return schema


def _add_to_view(view: _FeatureView, feature: Any, placeholders: set[str]) -> None:
    kind = type(feature).Type.Name(feature.type)
    view.types.add("BYTES" if kind in ("STRING", "BYTES") else kind)
    stats = feature.string_stats if feature.HasField("string_stats") else None
    common = (stats or feature.num_stats).common_stats
    if not common.num_non_missing:
        return
    view.num_non_missing += common.num_non_missing
    if view.min_num_values is None or common.min_num_values < view.min_num_values:
        view.min_num_values = common.min_num_values
    view.max_num_values = max(view.max_num_values, common.max_num_values)
    if stats is None or view.values is None:
        return
    labels = {bucket.label for bucket in stats.rank_histogram.buckets}
    if len(labels) < stats.unique or labels & placeholders:
        view.values = None  # not every value is known: no domain
    else:
        view.values |= labels


def _name(feature: Any) -> str:
    return ".".join(feature.path.step) or feature.name
