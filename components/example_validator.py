"""ExampleValidator: what each split's statistics break of a schema.

For every split it writes ``<anomalies.uri>/Split-<name>/SchemaDiff.pb`` (a
tensorflow_metadata ``Anomalies`` proto, keyed by feature, as TFDV writes it) and a
readable ``anomalies.txt``. Anomalies never fail the component: they are reported,
counted on the artifact (``anomaly_count``) and returned per split, so a pipeline or
a later component decides what to do about them.

The kinds it finds (``AnomalyInfo.Type``):

- ``SCHEMA_MISSING_COLUMN``: a feature the schema expects (``presence``) has no
  values in the split.
- ``SCHEMA_NEW_COLUMN``: the split has a feature the schema does not know.
- ``UNEXPECTED_DATA_TYPE``: the feature's values have another type than the schema's.
- ``FEATURE_TYPE_LOW_FRACTION_PRESENT`` / ``FEATURE_TYPE_LOW_NUMBER_PRESENT``:
  unexpected missing values (presence below ``min_fraction`` / ``min_count``).
- ``FEATURE_TYPE_LOW_NUMBER_VALUES`` / ``FEATURE_TYPE_HIGH_NUMBER_VALUES``: fewer or
  more values per example than ``shape`` or ``value_count`` allow.
- ``ENUM_TYPE_UNEXPECTED_STRING_VALUES``: string values outside the feature's
  domain (beyond ``distribution_constraints.min_domain_mass``, default all).
- ``INT_TYPE_SMALL_INT`` / ``INT_TYPE_BIG_INT`` / ``FLOAT_TYPE_SMALL_FLOAT`` /
  ``FLOAT_TYPE_BIG_FLOAT``: numbers outside ``int_domain`` / ``float_domain``.
- ``DATASET_LOW_NUM_EXAMPLES``: the split has no examples.

Features that are ``deprecated`` or in a lifecycle stage that is not validated
(PLANNED, ALPHA, DEBUG_ONLY, DEPRECATED, DISABLED) are skipped.

Example:
    >>> import pyarrow as pa
    >>> from components.schema_gen import infer_schema
    >>> from components.stats.combiner import statistics_from_batches
    >>> def stats(kinds):
    ...     column = pa.array([[k] for k in kinds], pa.large_list(pa.large_binary()))
    ...     return statistics_from_batches([pa.RecordBatch.from_pydict({"kind": column})])
    >>> schema = infer_schema([stats([b"cash", b"card"])])
    >>> found = validate_statistics(stats([b"cash", b"bitcoin"]), schema)
    >>> print(found.anomaly_info["kind"].reason[0].description)
    Unexpected string values: 50% of the values are not in the domain 'kind' of 2 values: 'bitcoin' (1).
"""

from __future__ import annotations

from typing import Any

from pipeline import (
    ExampleAnomalies,
    ExampleStatistics,
    ExecutionContext,
    Input,
    Output,
    Schema,
    component,
    fs,
    source_version,
)

_SKIPPED_STAGES = ("PLANNED", "ALPHA", "DEBUG_ONLY", "DEPRECATED", "DISABLED")
_MAX_LISTED_VALUES = 10


@component(
    name="ExampleValidator",
    version=source_version("components.example_validator", "components.stats"),
)
def ExampleValidator(
    statistics: Input[ExampleStatistics],
    schema: Input[Schema],
    anomalies: Output[ExampleAnomalies],
    context: ExecutionContext,
    exclude_splits: list[str] | None = None,
) -> dict[str, Any]:
    """Compares each split's statistics with ``schema`` and writes the anomalies.

    Args:
        statistics: StatisticsGen's output.
        schema: SchemaGen's output (or any Schema artifact).
        anomalies: Where the anomalies are written, one folder per split.
        context: The run's context.
        exclude_splits: Splits not to validate.

    Returns:
        ``{"anomaly_count": total, "anomaly_counts": {split: count}}``, recorded on
        the execution; the total is also the artifact's ``anomaly_count``.

    Raises:
        DefinitionError: The schema does not parse, or ``exclude_splits`` names a
            split the statistics do not have.
    """
    from components.stats import artifacts

    owner = f"ExampleValidator {context.component_id!r}"
    baseline = artifacts.parse_schema(owner, schema.schema_path, param="schema")
    available = artifacts.artifact_splits(statistics)
    splits = artifacts.choose_splits(owner, available, exclude=exclude_splits)
    counts = {}
    for split in splits:
        stats = artifacts.read_statistics(owner, statistics, split)
        found = validate_statistics(stats, baseline)
        counts[split] = count_anomalies(found)
        split_dir = anomalies.split_uri(split)
        fs.write_bytes(
            fs.join(split_dir, artifacts.ANOMALIES_FILE), found.SerializeToString()
        )
        fs.write_text(
            fs.join(split_dir, artifacts.ANOMALIES_SUMMARY_FILE),
            format_anomalies(found, split),
        )
        if counts[split]:
            context.log.warning(
                "Split %r: %d anomalies (see %s)",
                split,
                counts[split],
                fs.join(split_dir, artifacts.ANOMALIES_SUMMARY_FILE),
            )
    anomalies.split_names = splits
    anomalies.anomaly_count = sum(counts.values())
    return {"anomaly_count": anomalies.anomaly_count, "anomaly_counts": counts}


def validate_statistics(statistics: Any, schema: Any) -> Any:
    """Finds what one split's statistics break of a schema.

    Args:
        statistics: A ``DatasetFeatureStatistics`` (one split).
        schema: A tensorflow_metadata ``Schema``.

    Returns:
        An ``Anomalies`` proto: ``baseline`` is the schema, ``anomaly_info`` maps each
        anomalous feature to its reasons, ``dataset_anomaly_info`` holds
        split-level ones.
    """
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    result = anomalies_pb2.Anomalies()
    result.baseline.CopyFrom(schema)
    result.anomaly_name_format = anomalies_pb2.Anomalies.SERIALIZED_PATH
    if statistics.num_examples == 0:
        _add_reasons(
            result.dataset_anomaly_info,
            [
                (
                    "DATASET_LOW_NUM_EXAMPLES",
                    "No examples",
                    "The split has no examples; nothing else was checked.",
                )
            ],
        )
        return result
    by_name = {_name(f): f for f in statistics.features}
    domains = {d.name: d for d in schema.string_domain}
    known = set()
    for feature in schema.feature:
        known.add(feature.name)
        if _skipped(feature):
            continue
        reasons = _check_feature(
            feature, by_name.get(feature.name), statistics.num_examples, domains
        )
        if reasons:
            _add_reasons(result.anomaly_info[feature.name], reasons, feature.name)
    for name, stats in by_name.items():
        common = _common(stats)
        if name not in known and common.num_non_missing:
            reason = (
                "SCHEMA_NEW_COLUMN",
                "New column",
                f"New column: the feature ({_type_name(stats)}, present in "
                f"{common.num_non_missing:,} of {statistics.num_examples:,} examples) "
                f"is not in the schema.",
            )
            _add_reasons(result.anomaly_info[name], [reason], name)
    return result


def count_anomalies(anomalies: Any) -> int:
    """The number of anomalies: every reason of every feature, and the split's own."""
    return sum(len(info.reason) for info in anomalies.anomaly_info.values()) + len(
        anomalies.dataset_anomaly_info.reason
    )


def format_anomalies(anomalies: Any, split: str) -> str:
    """Renders an ``Anomalies`` proto as a plain-text table (``anomalies.txt``)."""
    count = count_anomalies(anomalies)
    features = len(anomalies.baseline.feature)
    if not count:
        return (
            f"Split {split!r}: no anomalies against the schema ({features} features).\n"
        )
    rows = [("feature", "anomaly", "description")]
    for reason in anomalies.dataset_anomaly_info.reason:
        rows.append(("(split)", reason.short_description, reason.description))
    for name in sorted(anomalies.anomaly_info):
        for reason in anomalies.anomaly_info[name].reason:
            rows.append((name, reason.short_description, reason.description))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [
        f"{row[0].ljust(widths[0])}  {row[1].ljust(widths[1])}  {row[2]}"
        for row in rows
    ]
    return (
        f"Split {split!r}: {count} anomalies against the schema ({features} features)\n"
        + "\n".join(lines)
        + "\n"
    )


def _check_feature(
    feature: Any, stats: Any, num_examples: int, domains: dict[str, Any]
) -> list[tuple[str, str, str]]:
    common = _common(stats) if stats is not None else None
    if common is None or not common.num_non_missing:
        if feature.presence.min_count > 0 or feature.presence.min_fraction > 0:
            return [
                (
                    "SCHEMA_MISSING_COLUMN",
                    "Column dropped",
                    f"Column dropped: the schema expects the feature (presence "
                    f"min_count {feature.presence.min_count}, min_fraction "
                    f"{feature.presence.min_fraction:g}), but none of the "
                    f"{num_examples:,} examples has a value for it.",
                )
            ]
        return []
    expected, got = _schema_type_name(feature), _schema_type_of(stats)
    if expected not in ("TYPE_UNKNOWN", got):
        return [
            (
                "UNEXPECTED_DATA_TYPE",
                "Unexpected data type",
                f"Unexpected data type: the schema says {expected}, the examples hold "
                f"{got} values ({_type_name(stats)} in the statistics).",
            )
        ]
    reasons = _check_presence(feature, common, num_examples)
    reasons += _check_value_counts(feature, common)
    if got == "BYTES":
        reasons += _check_string_domain(feature, stats.string_stats, domains)
    else:
        reasons += _check_number_range(feature, stats.num_stats, got)
    return reasons


def _check_presence(
    feature: Any, common: Any, num_examples: int
) -> list[tuple[str, str, str]]:
    reasons = []
    present = common.num_non_missing
    fraction = present / num_examples
    required = feature.presence.min_fraction
    if fraction < required - 1e-9:
        missing = num_examples - present
        reasons.append(
            (
                "FEATURE_TYPE_LOW_FRACTION_PRESENT",
                "Unexpected missing values",
                f"Unexpected missing values: {missing:,} of {num_examples:,} examples "
                f"({100 * missing / num_examples:.1f}%) lack the feature; the schema "
                f"expects it in at least {100 * required:g}% (presence.min_fraction "
                f"{required:g}).",
            )
        )
    if present < feature.presence.min_count:
        reasons.append(
            (
                "FEATURE_TYPE_LOW_NUMBER_PRESENT",
                "Too few examples with the feature",
                f"Only {present:,} examples have the feature; the schema expects at "
                f"least {feature.presence.min_count:,} (presence.min_count).",
            )
        )
    return reasons


def _check_value_counts(feature: Any, common: Any) -> list[tuple[str, str, str]]:
    if feature.HasField("shape"):
        size = 1
        for dim in feature.shape.dim:
            size *= dim.size
        low, high, rule = size, size, f"shape {[d.size for d in feature.shape.dim]}"
    elif feature.HasField("value_count"):
        low, high = feature.value_count.min, feature.value_count.max
        rule = f"value_count min {low}" + (f" max {high}" if high else "")
    else:
        return []
    reasons = []
    if common.min_num_values < low:
        reasons.append(
            (
                "FEATURE_TYPE_LOW_NUMBER_VALUES",
                "Too few values",
                f"Too few values: some examples have {common.min_num_values} values; "
                f"the schema expects at least {low} ({rule}).",
            )
        )
    if high and common.max_num_values > high:
        reasons.append(
            (
                "FEATURE_TYPE_HIGH_NUMBER_VALUES",
                "Too many values",
                f"Too many values: some examples have {common.max_num_values} values; "
                f"the schema allows at most {high} ({rule}).",
            )
        )
    return reasons


def _check_string_domain(
    feature: Any, stats: Any, domains: dict[str, Any]
) -> list[tuple[str, str, str]]:
    if feature.HasField("string_domain"):
        domain, domain_name = feature.string_domain, feature.string_domain.name
    elif feature.domain:
        domain, domain_name = domains.get(feature.domain), feature.domain
        if domain is None:
            return [
                (
                    "INVALID_DOMAIN_SPECIFICATION",
                    "Missing domain",
                    f"The feature names the string domain {feature.domain!r}, which "
                    f"the schema does not define; add a string_domain of that name.",
                )
            ]
    else:
        return []
    allowed = set(domain.value)
    counted = stats.rank_histogram.buckets or [
        type(stats.rank_histogram).Bucket(label=v.value, sample_count=v.frequency)
        for v in stats.top_values
    ]
    unexpected = [(b.label, b.sample_count) for b in counted if b.label not in allowed]
    if not unexpected:
        return []
    total = stats.common_stats.tot_num_values or 1
    share = sum(count for _, count in unexpected) / total
    min_mass = (
        feature.distribution_constraints.min_domain_mass
        if feature.HasField("distribution_constraints")
        else 1.0
    )
    if 1.0 - share >= min_mass - 1e-9:
        return []
    listed = ", ".join(
        f"{label!r} ({count:,.0f})" for label, count in unexpected[:_MAX_LISTED_VALUES]
    )
    more = len(unexpected) - _MAX_LISTED_VALUES
    if more > 0:
        listed += f" and {more} more"
    if len(counted) < stats.unique:
        listed += " (rare values were not tracked: there may be more)"
    return [
        (
            "ENUM_TYPE_UNEXPECTED_STRING_VALUES",
            "Unexpected string values",
            f"Unexpected string values: {100 * share:.2g}% of the values are not in "
            f"the domain {domain_name!r} of {len(allowed)} values: {listed}.",
        )
    ]


def _check_number_range(
    feature: Any, stats: Any, kind: str
) -> list[tuple[str, str, str]]:
    field = "int_domain" if kind == "INT" else "float_domain"
    if not feature.HasField(field) or not stats.common_stats.num_non_missing:
        return []
    domain = getattr(feature, field)
    small, big = (
        ("INT_TYPE_SMALL_INT", "INT_TYPE_BIG_INT")
        if kind == "INT"
        else ("FLOAT_TYPE_SMALL_FLOAT", "FLOAT_TYPE_BIG_FLOAT")
    )
    reasons = []
    if domain.HasField("min") and stats.min < domain.min:
        reasons.append(
            (
                small,
                "Out-of-range values",
                f"Out-of-range values: the minimum is {stats.min:g}; {field}.min is "
                f"{domain.min:g}.",
            )
        )
    if domain.HasField("max") and stats.max > domain.max:
        reasons.append(
            (
                big,
                "Out-of-range values",
                f"Out-of-range values: the maximum is {stats.max:g}; {field}.max is "
                f"{domain.max:g}.",
            )
        )
    return reasons


def _add_reasons(
    info: Any, reasons: list[tuple[str, str, str]], name: str | None = None
) -> None:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    if name is not None and not info.path.step:
        info.path.step.append(name)
    info.severity = anomalies_pb2.AnomalyInfo.ERROR
    for kind, short, description in reasons:
        info.reason.add(
            type=anomalies_pb2.AnomalyInfo.Type.Value(kind),
            short_description=short,
            description=description,
        )
    if len(info.reason) == 1:
        info.short_description = info.reason[0].short_description
        info.description = info.reason[0].description
    else:
        info.short_description = "Multiple errors"
        info.description = " ".join(r.description for r in info.reason)


def _skipped(feature: Any) -> bool:
    from tensorflow_metadata.proto.v0 import schema_pb2

    stage = schema_pb2.LifecycleStage.Name(feature.lifecycle_stage)
    return feature.deprecated or stage in _SKIPPED_STAGES


def _common(stats: Any) -> Any:
    if stats.HasField("string_stats"):
        return stats.string_stats.common_stats
    return stats.num_stats.common_stats


def _name(feature: Any) -> str:
    return ".".join(feature.path.step) or feature.name


def _type_name(stats: Any) -> str:
    return type(stats).Type.Name(stats.type)


def _schema_type_of(stats: Any) -> str:
    kind = _type_name(stats)
    return "BYTES" if kind in ("STRING", "BYTES") else kind


def _schema_type_name(feature: Any) -> str:
    from tensorflow_metadata.proto.v0 import schema_pb2

    return schema_pb2.FeatureType.Name(feature.type)
