"""Readable tables of a split's statistics: the ``summary.txt`` beside ``FeatureStats.pb``.

Example:
    >>> import pyarrow as pa
    >>> from components.stats.combiner import statistics_from_batches
    >>> batch = pa.RecordBatch.from_pydict(
    ...     {"fare": pa.array([[1.0], [3.0], None], pa.large_list(pa.float32()))})
    >>> print(format_statistics(statistics_from_batches([batch], "train")))
    ... # doctest: +NORMALIZE_WHITESPACE
    Split 'train': 3 examples, 1 features (1 numeric, 0 string)
    <BLANKLINE>
    Numeric features
    feature  type   present  missing    values/example  min  mean  std  median  max  zeros
    fare     FLOAT  2        1 (33.3%)  1               1    2     1    3       3    0
    <BLANKLINE>
    Quantiles of numeric features (10 buckets of equal count; approximate)
    feature  boundaries
    fare     1 1 1 1 1 3 3 3 3 3 3
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def format_statistics(stats: Any) -> str:
    """Renders a ``DatasetFeatureStatistics`` as plain-text tables.

    Args:
        stats: One split's statistics.

    Returns:
        A header line, a table of numeric features, a table of string features and
        the quantile boundaries of each numeric feature.
    """
    numeric = [f for f in stats.features if f.HasField("num_stats")]
    strings = [f for f in stats.features if f.HasField("string_stats")]
    total = stats.num_examples
    parts = [
        f"Split {stats.name!r}: {total:,} examples, {len(stats.features)} features "
        f"({len(numeric)} numeric, {len(strings)} string)"
    ]
    if numeric:
        rows = []
        for feature in numeric:
            num = feature.num_stats
            has_values = num.common_stats.num_non_missing > 0
            rows.append(
                [
                    _name(feature),
                    _type_name(feature),
                    *_presence(num.common_stats, total),
                    *(
                        [_g(v) for v in (num.min, num.mean, num.std_dev, num.median)]
                        + [_g(num.max), f"{num.num_zeros:,}"]
                        if has_values
                        else [""] * 6
                    ),
                ]
            )
        parts.append(
            "Numeric features\n"
            + _table(
                [
                    "feature",
                    "type",
                    "present",
                    "missing",
                    "values/example",
                    "min",
                    "mean",
                    "std",
                    "median",
                    "max",
                    "zeros",
                ],
                rows,
            )
        )
    if strings:
        rows = []
        for feature in strings:
            text = feature.string_stats
            top = ", ".join(
                f"{_clip(v.value)} ({v.frequency:,.0f})" for v in text.top_values[:3]
            )
            rows.append(
                [
                    _name(feature),
                    *_presence(text.common_stats, total),
                    f"{text.unique:,}",
                    _g(text.avg_length),
                    top,
                ]
            )
        parts.append(
            "String features\n"
            + _table(
                [
                    "feature",
                    "present",
                    "missing",
                    "values/example",
                    "unique",
                    "avg length",
                    "top values (count)",
                ],
                rows,
            )
        )
    with_quantiles = [
        (feature, histogram)
        for feature in numeric
        for histogram in feature.num_stats.histograms
        if histogram.type == histogram.QUANTILES and histogram.buckets
    ]
    if with_quantiles:
        buckets = len(with_quantiles[0][1].buckets)
        rows = [
            [
                _name(feature),
                " ".join(
                    _g(b)
                    for b in [histogram.buckets[0].low_value]
                    + [bucket.high_value for bucket in histogram.buckets]
                ),
            ]
            for feature, histogram in with_quantiles
        ]
        parts.append(
            f"Quantiles of numeric features ({buckets} buckets of equal count; "
            f"approximate)\n" + _table(["feature", "boundaries"], rows)
        )
    return "\n\n".join(parts)


def _name(feature: Any) -> str:
    return ".".join(feature.path.step) or feature.name


def _type_name(feature: Any) -> str:
    return type(feature).Type.Name(feature.type)


def _presence(common: Any, total: int) -> list[str]:
    share = f" ({100 * common.num_missing / total:.1f}%)" if total else ""
    if common.min_num_values == common.max_num_values:
        values = f"{common.min_num_values}"
    else:
        values = f"{common.min_num_values}-{common.max_num_values}"
    return [f"{common.num_non_missing:,}", f"{common.num_missing:,}{share}", values]


def _g(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))  # ids and timestamps keep every digit
    return f"{value:.6g}"


def _clip(text: str, width: int = 30) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [
        max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))
    ]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)
