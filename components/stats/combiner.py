"""Feature statistics of tf.Example record batches, in the shape TFDV writes them.

The work is done batch by batch on Arrow columns (numpy and tfx_bsl sketches, never a
Python loop over rows) and kept in a small accumulator that merges with others, so
the same code runs inside a Beam ``CombineFn`` and, for tests and notebooks, directly:

Example:
    >>> import pyarrow as pa
    >>> batch = pa.RecordBatch.from_pydict({
    ...     "fare": pa.array([[1.0], [3.0], None], pa.large_list(pa.float32())),
    ...     "kind": pa.array([[b"a"], [b"a"], [b"b"]], pa.large_list(pa.large_binary())),
    ... })
    >>> stats = statistics_from_batches([batch], name="train")
    >>> stats.num_examples, [f.path.step[0] for f in stats.features]
    (3, ['fare', 'kind'])
    >>> stats.features[0].num_stats.mean, stats.features[0].num_stats.common_stats.num_missing
    (2.0, 1)
    >>> stats.features[1].string_stats.top_values[0].value
    'a'

What is exact and what is estimated:
    Counts, missing counts, values per example, min, max, mean, standard deviation
    (population) and zeros are exact. Quantiles and the median come from tfx_bsl's
    ``QuantilesSketch`` (rank error at most ``quantiles_epsilon``); the STANDARD
    histogram is interpolated from 100 such quantiles. Distinct counts come from a
    ``KmvSketch``: exact below ``num_kmv_buckets`` distinct values, about 2% off
    above. Top values and the rank histogram come from a ``MisraGriesSketch``: exact
    frequencies while a feature has at most ``num_rank_histogram_buckets`` distinct
    values, lower bounds beyond.

A missing value is a feature absent from an example or present with no values. NaN
floats are counted (``num_nan`` of each histogram) and left out of every other
number; infinities count in min, max and quantiles but not in the mean and standard
deviation (and leave the STANDARD histogram empty).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any

INT, FLOAT, STRING = "INT", "FLOAT", "STRING"

INVALID_UTF8_PLACEHOLDER = b"__BYTES_VALUE__"
LARGE_BYTES_PLACEHOLDER = b"__LARGE_BYTES__"
_LARGE_BYTES_THRESHOLD = 1024
_STANDARD_HISTOGRAM_RESOLUTION = 100


@dataclasses.dataclass(frozen=True)
class StatsOptions:
    """How detailed the statistics are.

    Attributes:
        num_top_values: Most frequent values kept per string feature.
        num_rank_histogram_buckets: Values kept with their frequencies per string
            feature (SchemaGen builds string domains from them).
        num_quantiles_buckets: Buckets of the QUANTILES histogram of numbers.
        num_histogram_buckets: Buckets of the equal-width STANDARD histogram.
        num_values_histogram_buckets: Buckets of the values-per-example histogram.
        num_kmv_buckets: Size of the distinct-count sketch (exact below it).
        quantiles_epsilon: Rank error bound of the quantiles sketch.
    """

    num_top_values: int = 20
    num_rank_histogram_buckets: int = 1000
    num_quantiles_buckets: int = 10
    num_histogram_buckets: int = 10
    num_values_histogram_buckets: int = 10
    num_kmv_buckets: int = 4096
    quantiles_epsilon: float = 0.001


def _quantiles_sketch(options: StatsOptions) -> Any:
    from tfx_bsl import sketches

    return sketches.QuantilesSketch(options.quantiles_epsilon, 1 << 32, 1)


class _FeatureAccumulator:
    """What one feature's statistics are made of, for the batches seen so far."""

    __slots__ = (
        "kind",
        "num_non_missing",
        "min_num_values",
        "max_num_values",
        "tot_num_values",
        "num_values",
        "count",
        "num_finite",
        "mean",
        "m2",
        "min",
        "max",
        "num_zeros",
        "num_nan",
        "quantiles",
        "total_length",
        "top_values",
        "distinct",
    )

    def __init__(self) -> None:
        self.kind: str | None = None
        self.num_non_missing = 0
        self.min_num_values = math.inf
        self.max_num_values = 0
        self.tot_num_values = 0
        self.num_values: Any = None
        self.count = 0
        self.num_finite = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.num_zeros = 0
        self.num_nan = 0
        self.quantiles: Any = None
        self.total_length = 0
        self.top_values: Any = None
        self.distinct: Any = None


class DatasetAccumulator:
    """The mergeable state of one dataset's statistics.

    Args:
        name: The dataset's name in the statistics (the split).
        options: The ``StatsOptions`` to compute with.
    """

    def __init__(self, name: str = "", options: StatsOptions | None = None):
        self.name = name
        self.options = options or StatsOptions()
        self.num_examples = 0
        self.features: dict[str, _FeatureAccumulator] = {}

    def add_batch(self, batch: Any) -> None:
        """Adds a ``pyarrow.RecordBatch`` of decoded tf.Examples (list columns).

        Raises:
            TypeError: A feature holds values of another type than in earlier batches.
        """
        self.num_examples += batch.num_rows
        for name, column in zip(batch.schema.names, batch.columns):
            feature = self.features.get(name)
            if feature is None:
                feature = self.features[name] = _FeatureAccumulator()
            kind = _value_kind(name, column.type)
            if kind is None:
                continue
            self._check_kind(name, feature, kind)
            self._add_column(feature, column)

    def merge(self, other: DatasetAccumulator) -> None:
        """Adds ``other``'s examples to this accumulator (``other`` is consumed)."""
        self.num_examples += other.num_examples
        for name, theirs in other.features.items():
            ours = self.features.get(name)
            if ours is None:
                self.features[name] = theirs
                continue
            if theirs.kind is not None:
                self._check_kind(name, ours, theirs.kind)
            _merge_feature(ours, theirs)

    def compact(self) -> None:
        """Shrinks the quantile sketches before the accumulator is sent elsewhere."""
        for feature in self.features.values():
            for sketch in (feature.quantiles, feature.num_values):
                if sketch is not None:
                    sketch.Compact()

    def to_proto(self) -> Any:
        """The statistics as a tensorflow_metadata ``DatasetFeatureStatistics``."""
        from tensorflow_metadata.proto.v0 import statistics_pb2

        stats = statistics_pb2.DatasetFeatureStatistics(
            name=self.name, num_examples=self.num_examples
        )
        # A feature that never had a typed value list has no type to report: it is
        # left out, as TFDV leaves out features it never saw.
        for name in sorted(n for n, f in self.features.items() if f.kind is not None):
            _fill_feature(
                stats.features.add(),
                name,
                self.features[name],
                self.num_examples,
                self.options,
            )
        return stats

    def _check_kind(self, name: str, feature: _FeatureAccumulator, kind: str) -> None:
        if feature.kind is None:
            feature.kind = kind
        elif feature.kind != kind:
            where = f" of split {self.name!r}" if self.name else ""
            raise TypeError(
                f"Feature {name!r}{where} holds {_KIND_WORDS[feature.kind]} in some "
                f"examples and {_KIND_WORDS[kind]} in others; a feature must have one "
                f"type in every example. Fix the examples (for CSV input, give "
                f"ExampleGen the column's type explicitly)."
            )

    def _add_column(self, feature: _FeatureAccumulator, column: Any) -> None:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        options = self.options
        lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy()
        present = lengths[lengths > 0]
        if present.size == 0:
            return
        feature.num_non_missing += int(present.size)
        feature.min_num_values = min(feature.min_num_values, int(present.min()))
        feature.max_num_values = max(feature.max_num_values, int(present.max()))
        feature.tot_num_values += int(present.sum())
        if feature.num_values is None:
            feature.num_values = _quantiles_sketch(options)
        feature.num_values.AddValues(pa.array(present.astype(np.float64)))
        values = column.flatten()
        if feature.kind == STRING:
            if feature.top_values is None:
                from tfx_bsl import sketches

                feature.top_values = sketches.MisraGriesSketch(
                    options.num_rank_histogram_buckets,
                    invalid_utf8_placeholder=INVALID_UTF8_PLACEHOLDER,
                    large_string_threshold=_LARGE_BYTES_THRESHOLD,
                    large_string_placeholder=LARGE_BYTES_PLACEHOLDER,
                )
                feature.distinct = sketches.KmvSketch(options.num_kmv_buckets)
            feature.top_values.AddValues(values)
            feature.distinct.AddValues(values)
            feature.total_length += int(pc.sum(pc.binary_length(values)).as_py() or 0)
            return
        numbers = values.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        nan = np.isnan(numbers)
        if nan.any():
            feature.num_nan += int(nan.sum())
            numbers = numbers[~nan]
        if numbers.size == 0:
            return
        feature.count += numbers.size
        finite = np.isfinite(numbers)
        finite_numbers = numbers if finite.all() else numbers[finite]
        if finite_numbers.size:
            mean = float(finite_numbers.mean())
            m2 = float(np.square(finite_numbers - mean).sum())
            _merge_moments(feature, finite_numbers.size, mean, m2)
        feature.min = min(feature.min, float(numbers.min()))
        feature.max = max(feature.max, float(numbers.max()))
        feature.num_zeros += int(np.count_nonzero(numbers == 0))
        if feature.quantiles is None:
            feature.quantiles = _quantiles_sketch(options)
        feature.quantiles.AddValues(pa.array(numbers))


_KIND_WORDS = {INT: "integers", FLOAT: "floats", STRING: "bytes/strings"}


def _value_kind(name: str, arrow_type: Any) -> str | None:
    import pyarrow as pa

    if pa.types.is_null(arrow_type):
        return None
    value_type = getattr(arrow_type, "value_type", None)
    if value_type is None or pa.types.is_null(value_type):
        return None
    if pa.types.is_integer(value_type):
        return INT
    if pa.types.is_floating(value_type):
        return FLOAT
    if pa.types.is_binary(value_type) or pa.types.is_large_binary(value_type):
        return STRING
    if pa.types.is_string(value_type) or pa.types.is_large_string(value_type):
        return STRING
    raise TypeError(
        f"Feature {name!r} has Arrow type {arrow_type}; statistics support lists of "
        f"integers, floats and bytes, as decoded from tf.Example."
    )


def _merge_moments(
    feature: _FeatureAccumulator, count: int, mean: float, m2: float
) -> None:
    # Chan et al.'s pairwise update keeps the variance accurate across many merges.
    total = feature.num_finite + count
    delta = mean - feature.mean
    feature.mean += delta * count / total
    feature.m2 += m2 + delta * delta * feature.num_finite * count / total
    feature.num_finite = total


def _merge_feature(ours: _FeatureAccumulator, theirs: _FeatureAccumulator) -> None:
    ours.num_non_missing += theirs.num_non_missing
    ours.min_num_values = min(ours.min_num_values, theirs.min_num_values)
    ours.max_num_values = max(ours.max_num_values, theirs.max_num_values)
    ours.tot_num_values += theirs.tot_num_values
    ours.count += theirs.count
    if theirs.num_finite:
        _merge_moments(ours, theirs.num_finite, theirs.mean, theirs.m2)
    ours.min = min(ours.min, theirs.min)
    ours.max = max(ours.max, theirs.max)
    ours.num_zeros += theirs.num_zeros
    ours.num_nan += theirs.num_nan
    ours.total_length += theirs.total_length
    for slot in ("num_values", "quantiles", "top_values", "distinct"):
        mine, other = getattr(ours, slot), getattr(theirs, slot)
        if mine is None:
            setattr(ours, slot, other)
        elif other is not None:
            mine.Merge(other)


def _fill_feature(
    proto: Any,
    name: str,
    feature: _FeatureAccumulator,
    num_examples: int,
    options: StatsOptions,
) -> None:
    from tensorflow_metadata.proto.v0 import statistics_pb2

    proto.path.step.append(name)
    proto.type = getattr(statistics_pb2.FeatureNameStatistics, feature.kind)
    stats = proto.string_stats if feature.kind == STRING else proto.num_stats
    common = stats.common_stats
    common.num_non_missing = feature.num_non_missing
    common.num_missing = num_examples - feature.num_non_missing
    common.tot_num_values = feature.tot_num_values
    if feature.num_non_missing:
        common.min_num_values = int(feature.min_num_values)
        common.max_num_values = feature.max_num_values
        common.avg_num_values = feature.tot_num_values / feature.num_non_missing
        _fill_quantiles(
            common.num_values_histogram,
            feature.num_values,
            feature.num_non_missing,
            options.num_values_histogram_buckets,
        )
    if feature.kind == STRING:
        _fill_string_stats(stats, feature, options)
    else:
        _fill_numeric_stats(stats, feature, options)


def _fill_numeric_stats(
    stats: Any, feature: _FeatureAccumulator, options: StatsOptions
) -> None:
    from tensorflow_metadata.proto.v0 import statistics_pb2

    standard = stats.histograms.add(type=statistics_pb2.Histogram.STANDARD)
    quantiles = stats.histograms.add(type=statistics_pb2.Histogram.QUANTILES)
    standard.num_nan = quantiles.num_nan = feature.num_nan
    if not feature.count:
        return
    if feature.num_finite:
        stats.mean = feature.mean
        stats.std_dev = math.sqrt(max(feature.m2, 0.0) / feature.num_finite)
    stats.min = feature.min
    stats.max = feature.max
    stats.num_zeros = feature.num_zeros
    stats.median = feature.quantiles.GetQuantiles(2).to_pylist()[0][1]
    _fill_quantiles(
        quantiles, feature.quantiles, feature.count, options.num_quantiles_buckets
    )
    if math.isfinite(feature.min) and math.isfinite(feature.max):
        _fill_standard(standard, feature, options.num_histogram_buckets)


def _fill_quantiles(histogram: Any, sketch: Any, count: int, num_buckets: int) -> None:
    from tensorflow_metadata.proto.v0 import statistics_pb2

    histogram.type = statistics_pb2.Histogram.QUANTILES
    bounds = sketch.GetQuantiles(num_buckets).to_pylist()[0]
    for low, high in zip(bounds[:-1], bounds[1:]):
        histogram.buckets.add(
            low_value=low, high_value=high, sample_count=count / num_buckets
        )


def _fill_standard(histogram: Any, feature: _FeatureAccumulator, buckets: int) -> None:
    import numpy as np

    # Equal-width buckets whose counts come from the sketch's cumulative weights,
    # linearly interpolated between 100 quantiles (as TFDV derives them).
    points, weights = feature.quantiles.GetQuantilesAndCumulativeWeights(
        _STANDARD_HISTOGRAM_RESOLUTION
    )
    points = np.asarray(points.to_pylist()[0], dtype=np.float64)
    weights = np.asarray(weights.to_pylist()[0], dtype=np.float64)
    points, last = np.unique(points[::-1], return_index=True)
    weights = weights[::-1][last]
    if feature.min == feature.max:
        histogram.buckets.add(
            low_value=feature.min, high_value=feature.max, sample_count=feature.count
        )
        return
    edges = np.linspace(feature.min, feature.max, buckets + 1)
    cumulative = np.interp(edges, points, weights)
    cumulative[0], cumulative[-1] = 0.0, float(feature.count)
    for i in range(buckets):
        histogram.buckets.add(
            low_value=float(edges[i]),
            high_value=float(edges[i + 1]),
            sample_count=float(max(cumulative[i + 1] - cumulative[i], 0.0)),
        )


def _fill_string_stats(
    stats: Any, feature: _FeatureAccumulator, options: StatsOptions
) -> None:
    if not feature.tot_num_values:
        return
    stats.unique = int(round(feature.distinct.Estimate()))
    stats.avg_length = feature.total_length / feature.tot_num_values
    estimate = feature.top_values.Estimate().to_pylist()
    for rank, item in enumerate(estimate):
        label = item["values"].decode("utf-8", errors="replace")
        if rank < options.num_top_values:
            stats.top_values.add(value=label, frequency=item["counts"])
        stats.rank_histogram.buckets.add(
            low_rank=rank, high_rank=rank, label=label, sample_count=item["counts"]
        )


def statistics_from_batches(
    batches: Iterable[Any], name: str = "", options: StatsOptions | None = None
) -> Any:
    """Computes statistics of record batches in this process, without Beam.

    Args:
        batches: ``pyarrow.RecordBatch``es of decoded tf.Examples.
        name: The dataset's name in the result.
        options: The ``StatsOptions``; the defaults otherwise.

    Returns:
        A tensorflow_metadata ``DatasetFeatureStatistics``.
    """
    accumulator = DatasetAccumulator(name, options)
    for batch in batches:
        accumulator.add_batch(batch)
    return accumulator.to_proto()


def _make_combine_fn_class() -> type:
    import apache_beam as beam

    class FeatureStatsCombineFn(beam.CombineFn):
        """Combines record batches of one split into its statistics (serialized
        ``DatasetFeatureStatisticsList``)."""

        def __init__(self, name: str, options: StatsOptions | None = None):
            self._name = name
            self._options = options or StatsOptions()

        def create_accumulator(self) -> DatasetAccumulator:
            return DatasetAccumulator(self._name, self._options)

        def add_input(self, accumulator: DatasetAccumulator, batch: Any) -> Any:
            accumulator.add_batch(batch)
            return accumulator

        def merge_accumulators(self, accumulators: Iterable[Any]) -> Any:
            merged = None
            for accumulator in accumulators:
                if merged is None:
                    merged = accumulator
                else:
                    merged.merge(accumulator)
            return merged if merged is not None else self.create_accumulator()

        def compact(self, accumulator: DatasetAccumulator) -> Any:
            accumulator.compact()
            return accumulator

        def extract_output(self, accumulator: DatasetAccumulator) -> bytes:
            from tensorflow_metadata.proto.v0 import statistics_pb2

            stats_list = statistics_pb2.DatasetFeatureStatisticsList()
            stats_list.datasets.append(accumulator.to_proto())
            return stats_list.SerializeToString()

    FeatureStatsCombineFn.__module__ = __name__
    FeatureStatsCombineFn.__qualname__ = "FeatureStatsCombineFn"
    return FeatureStatsCombineFn


def __getattr__(name: str) -> Any:
    # The CombineFn subclasses beam.CombineFn; building it on first use keeps Beam
    # out of `import components...`. Workers unpickle it by name through this hook.
    if name == "FeatureStatsCombineFn":
        cls = _make_combine_fn_class()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
