"""StatisticsGen and the statistics it computes, checked against the real taxi data.

The helpers at the top build test inputs without ExampleGen: record batches straight
from the CSV (fast, no TensorFlow) and gzip TFRecords of tf.Example (for Beam runs).
test_schema_gen.py and test_example_validator.py use them too.
"""

import collections
import csv
import functools
import math
import pathlib
import pickle
import re
import statistics as pystats
import subprocess
import sys

import pytest

from components.statistics_gen import StatisticsGen
from components.stats import artifacts, combiner
from pipeline import (
    DefinitionError,
    Examples,
    ExampleStatistics,
    ExecutionContext,
)

SHARED_DATA = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data"
TAXI_CSV = SHARED_DATA / "chicago_taxi" / "data.csv"


@functools.lru_cache(maxsize=1)
def taxi_rows() -> tuple[dict[str, str], ...]:
    """Every row of the taxi CSV as strings; '' is a missing value."""
    with open(TAXI_CSV, newline="", encoding="utf-8") as f:
        return tuple(csv.DictReader(f))


def taxi_split(split: str) -> list[dict[str, str]]:
    """A fixed 2:1 train/eval split of the taxi rows (every third row is eval)."""
    rows = taxi_rows()
    if split == "eval":
        return [r for i, r in enumerate(rows) if i % 3 == 2]
    return [r for i, r in enumerate(rows) if i % 3 != 2]


def column_kinds(rows) -> dict[str, str]:
    """'int', 'float' or 'string' per column, judged over every non-empty value."""
    kinds = {}
    for column in rows[0]:
        values = [r[column] for r in rows if r[column] != ""]
        kinds[column] = "int"
        for kind, parse in (("int", int), ("float", float)):
            try:
                for value in values:
                    parse(value)
            except ValueError:
                kinds[column] = "float" if kind == "int" else "string"
                continue
            kinds[column] = kind
            break
    return kinds


def record_batch(rows, kinds=None):
    """The rows as a RecordBatch shaped like decoded tf.Examples (no TensorFlow)."""
    import pyarrow as pa

    kinds = kinds or column_kinds(taxi_rows())
    types = {
        "int": pa.int64(),
        "float": pa.float32(),
        "string": pa.large_binary(),
    }
    parse = {"int": int, "float": float, "string": str.encode}
    columns = {}
    for column, kind in kinds.items():
        values = [
            None if r.get(column, "") == "" else [parse[kind](r[column])] for r in rows
        ]
        columns[column] = pa.array(values, pa.large_list(types[kind]))
    return pa.RecordBatch.from_pydict(columns)


def split_statistics(rows, name, kinds=None):
    """A DatasetFeatureStatistics of the rows, computed in process."""
    return combiner.statistics_from_batches([record_batch(rows, kinds)], name)


def write_statistics_artifact(uri, by_split) -> ExampleStatistics:
    """An ExampleStatistics artifact holding the given DatasetFeatureStatistics."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    statistics = ExampleStatistics(uri=str(uri))
    for split, stats in by_split.items():
        stats_list = statistics_pb2.DatasetFeatureStatisticsList(datasets=[stats])
        artifacts.write_statistics(
            stats_list.SerializeToString(), statistics.split_uri(split)
        )
    statistics.split_names = list(by_split)
    return statistics


def write_examples(uri, by_split, kinds=None, shards=2) -> Examples:
    """Writes rows as gzip TFRecord shards of tf.Example; '' leaves the feature out."""
    import tensorflow as tf

    kinds = kinds or column_kinds(taxi_rows())
    examples = Examples(uri=str(uri))
    for split, rows in by_split.items():
        folder = pathlib.Path(examples.split_uri(split))
        folder.mkdir(parents=True, exist_ok=True)
        writers = [
            tf.io.TFRecordWriter(
                str(folder / f"data-{i:05d}-of-{shards:05d}.tfrecord.gz"),
                options="GZIP",
            )
            for i in range(shards)
        ]
        for index, row in enumerate(rows):
            example = tf.train.Example()
            for column, value in row.items():
                if value == "":
                    continue
                feature = example.features.feature[column]
                if kinds[column] == "int":
                    feature.int64_list.value.append(int(value))
                elif kinds[column] == "float":
                    feature.float_list.value.append(float(value))
                else:
                    feature.bytes_list.value.append(value.encode())
            writers[index % shards].write(example.SerializeToString())
        for writer in writers:
            writer.close()
    examples.split_names = list(by_split)
    examples.row_counts = {split: len(rows) for split, rows in by_split.items()}
    return examples


def make_context(component_id="component", root="/tmp") -> ExecutionContext:
    """A context for calling a component's raw function."""
    return ExecutionContext(
        pipeline_name="test",
        pipeline_root=str(root),
        run_id="run",
        component_id=component_id,
        execution_id=1,
    )


def feature(stats, name):
    """The FeatureNameStatistics of ``name``."""
    found = [f for f in stats.features if list(f.path.step) == [name]]
    assert found, f"no statistics for {name!r}"
    return found[0]


def present_floats(rows, column):
    return [float(r[column]) for r in rows if r[column] != ""]


def test_importing_the_components_leaves_tensorflow_and_beam_out():
    code = (
        "import sys\n"
        "import components.statistics_gen, components.schema_gen\n"
        "import components.example_validator\n"
        "import components.stats.combiner, components.stats.artifacts\n"
        "import components.stats.summary\n"
        "heavy = ['tensorflow', 'apache_beam', 'tfx_bsl', 'tensorflow_metadata']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


class TestCombiner:
    """The statistics of record batches, without Beam."""

    def test_empty_value_lists_count_as_missing_and_lists_as_values(self):
        import pyarrow as pa

        column = pa.array([[1, 2], [], None, [3]], pa.large_list(pa.int64()))
        stats = combiner.statistics_from_batches(
            [pa.RecordBatch.from_pydict({"ids": column})]
        )
        common = feature(stats, "ids").num_stats.common_stats
        assert (common.num_non_missing, common.num_missing) == (2, 2)
        assert (common.min_num_values, common.max_num_values) == (1, 2)
        assert (common.tot_num_values, common.avg_num_values) == (3, 1.5)
        assert feature(stats, "ids").num_stats.mean == 2.0

    def test_nan_and_infinity_are_kept_out_of_the_mean(self):
        import pyarrow as pa

        column = pa.array(
            [[math.nan], [1.0], [3.0], [math.inf]], pa.large_list(pa.float32())
        )
        stats = combiner.statistics_from_batches(
            [pa.RecordBatch.from_pydict({"x": column})]
        )
        num = feature(stats, "x").num_stats
        assert (num.mean, num.std_dev, num.min, num.max) == (2.0, 1.0, 1.0, math.inf)
        assert [h.num_nan for h in num.histograms] == [1, 1]
        standard, quantiles = num.histograms
        assert not standard.buckets
        assert sum(b.sample_count for b in quantiles.buckets) == pytest.approx(3)

    def test_merged_accumulators_match_one_pass(self):
        rows = taxi_split("train")
        one = combiner.DatasetAccumulator("train")
        one.add_batch(record_batch(rows))
        parts = [combiner.DatasetAccumulator("train") for _ in range(3)]
        for i, part in enumerate(parts):
            part.add_batch(record_batch(rows[i::3]))
        # Beam ships accumulators between workers: they must survive pickling.
        parts = [pickle.loads(pickle.dumps(p)) for p in parts]
        parts[0].merge(parts[1])
        parts[0].merge(parts[2])
        merged, single = parts[0].to_proto(), one.to_proto()
        for name in ("fare", "trip_seconds", "company"):
            a, b = feature(merged, name), feature(single, name)
            if a.HasField("num_stats"):
                assert a.num_stats.mean == pytest.approx(b.num_stats.mean, rel=1e-9)
                assert a.num_stats.std_dev == pytest.approx(
                    b.num_stats.std_dev, rel=1e-9
                )
                assert a.num_stats.common_stats == b.num_stats.common_stats
            else:
                assert a.string_stats.top_values == b.string_stats.top_values
                assert a.string_stats.unique == b.string_stats.unique

    def test_a_feature_whose_type_changes_between_batches_is_an_error(self):
        import pyarrow as pa

        accumulator = combiner.DatasetAccumulator("eval")
        ints = pa.array([[1]], pa.large_list(pa.int64()))
        floats = pa.array([[1.5]], pa.large_list(pa.float32()))
        accumulator.add_batch(pa.RecordBatch.from_pydict({"fare": ints}))
        with pytest.raises(
            TypeError,
            match=re.escape(
                "Feature 'fare' of split 'eval' holds integers in some examples and "
                "floats in others"
            ),
        ):
            accumulator.add_batch(pa.RecordBatch.from_pydict({"fare": floats}))

    def test_distinct_counts_are_exact_below_the_sketch_size(self):
        rows = taxi_rows()
        stats = split_statistics(rows, "all")
        companies = {r["company"] for r in rows if r["company"]}
        assert feature(stats, "company").string_stats.unique == len(companies)


class TestErrors:
    def test_an_unknown_split_to_exclude_is_named_with_a_suggestion(self, tmp_path):
        examples = Examples(uri=str(tmp_path), properties={"split_names": ["train"]})
        with pytest.raises(
            DefinitionError,
            match=re.escape(
                "StatisticsGen 'stats': exclude_splits names split 'trian', but the "
                "input has only ['train']. Did you mean 'train'?"
            ),
        ):
            StatisticsGen.fn(
                examples=examples,
                statistics=ExampleStatistics(uri=str(tmp_path / "s")),
                context=make_context("stats"),
                exclude_splits=["trian"],
            )

    def test_a_split_without_shards_is_named(self, tmp_path):
        examples = Examples(uri=str(tmp_path), properties={"split_names": ["train"]})
        with pytest.raises(
            FileNotFoundError, match="split 'train' has no example files"
        ):
            StatisticsGen.fn(
                examples=examples,
                statistics=ExampleStatistics(uri=str(tmp_path / "s")),
                context=make_context("stats"),
            )


@pytest.fixture(scope="module")
def taxi_statistics(tmp_path_factory):
    """StatisticsGen run on Beam over the taxi data written as Examples."""
    root = tmp_path_factory.mktemp("taxi_stats")
    examples = write_examples(
        root / "examples", {"train": taxi_split("train"), "eval": taxi_split("eval")}
    )
    statistics = ExampleStatistics(uri=str(root / "statistics"))
    result = StatisticsGen.fn(
        examples=examples, statistics=statistics, context=make_context("stats", root)
    )
    return statistics, result


@pytest.mark.slow
class TestTaxiStatistics:
    """Spot checks of StatisticsGen's output against numbers computed from the CSV."""

    def read(self, statistics, split):
        return artifacts.read_statistics("test", statistics, split)

    def test_every_split_is_counted_and_written(self, taxi_statistics):
        statistics, result = taxi_statistics
        counts = {"train": len(taxi_split("train")), "eval": len(taxi_split("eval"))}
        assert result == {"num_examples": counts}
        assert statistics.split_names == ["train", "eval"]
        for split in counts:
            folder = pathlib.Path(statistics.split_uri(split))
            assert sorted(p.name for p in folder.iterdir()) == [
                "FeatureStats.pb",
                "summary.txt",
            ]
            assert self.read(statistics, split).num_examples == counts[split]

    def test_counts_and_missing_counts_of_a_sparse_column(self, taxi_statistics):
        statistics, _ = taxi_statistics
        rows = taxi_split("train")
        missing = sum(1 for r in rows if r["dropoff_census_tract"] == "")
        common = feature(
            self.read(statistics, "train"), "dropoff_census_tract"
        ).num_stats.common_stats
        assert (common.num_missing, common.num_non_missing) == (
            missing,
            len(rows) - missing,
        )
        assert missing > 1000
        assert (common.min_num_values, common.max_num_values) == (1, 1)

    def test_numbers_of_fare(self, taxi_statistics):
        statistics, _ = taxi_statistics
        fares = present_floats(taxi_split("train"), "fare")
        num = feature(self.read(statistics, "train"), "fare").num_stats
        # Examples store floats as float32, hence the tolerance.
        assert num.mean == pytest.approx(pystats.fmean(fares), rel=1e-6)
        assert num.std_dev == pytest.approx(pystats.pstdev(fares), rel=1e-5)
        assert num.min == pytest.approx(min(fares), rel=1e-6)
        assert num.max == pytest.approx(max(fares), rel=1e-6)
        assert num.num_zeros == fares.count(0.0)
        below = sum(1 for f in fares if f <= num.median + 1e-4) / len(fares)
        assert below == pytest.approx(0.5, abs=0.02)

    def test_histograms_are_quantiles_and_equal_width(self, taxi_statistics):
        statistics, _ = taxi_statistics
        fares = sorted(present_floats(taxi_split("train"), "fare"))
        histograms = feature(
            self.read(statistics, "train"), "fare"
        ).num_stats.histograms
        by_type = {type(h).HistogramType.Name(h.type): h for h in histograms}
        quantiles, standard = by_type["QUANTILES"], by_type["STANDARD"]
        assert len(quantiles.buckets) == 10
        assert sum(b.sample_count for b in quantiles.buckets) == pytest.approx(
            len(fares)
        )
        decile = quantiles.buckets[0].high_value
        below = sum(1 for f in fares if f <= decile + 1e-4) / len(fares)
        assert below == pytest.approx(0.1, abs=0.02)
        assert len(standard.buckets) == 10
        assert sum(b.sample_count for b in standard.buckets) == pytest.approx(
            len(fares)
        )

    def test_top_values_and_distinct_count_of_strings(self, taxi_statistics):
        statistics, _ = taxi_statistics
        rows = taxi_split("train")
        stats = self.read(statistics, "train")
        payments = collections.Counter(r["payment_type"] for r in rows)
        top = feature(stats, "payment_type").string_stats.top_values[0]
        assert (top.value, top.frequency) == payments.most_common(1)[0]
        company = feature(stats, "company").string_stats
        assert company.unique == len({r["company"] for r in rows if r["company"]})
        assert company.common_stats.num_missing == sum(
            1 for r in rows if not r["company"]
        )
        assert company.avg_length == pytest.approx(
            pystats.fmean(len(r["company"].encode()) for r in rows if r["company"])
        )

    def test_a_feature_absent_from_a_split_is_left_out_of_it(self, taxi_statistics):
        statistics, _ = taxi_statistics
        # pickup_census_tract has one value in the whole file.
        holder = next(
            split
            for split in ("train", "eval")
            if any(r["pickup_census_tract"] for r in taxi_split(split))
        )
        other = "eval" if holder == "train" else "train"
        names = {f.path.step[0] for f in self.read(statistics, other).features}
        assert "pickup_census_tract" not in names
        tract = feature(self.read(statistics, holder), "pickup_census_tract")
        assert tract.num_stats.common_stats.num_non_missing == 1
        assert tract.num_stats.common_stats.num_missing == len(taxi_split(holder)) - 1

    def test_summary_is_a_readable_table(self, taxi_statistics):
        statistics, _ = taxi_statistics
        text = (pathlib.Path(statistics.split_uri("train")) / "summary.txt").read_text()
        count = len(taxi_split("train"))
        assert text.startswith(f"Split 'train': {count:,} examples, 18 features")
        fare_line = next(line for line in text.splitlines() if line.startswith("fare "))
        assert fare_line.split()[1:4] == ["FLOAT", f"{count:,}", "0"]
        assert "Cash (" in text

    def test_excluded_splits_are_not_computed(self, taxi_statistics, tmp_path):
        statistics, _ = taxi_statistics
        examples_uri = pathlib.Path(statistics.uri).parent / "examples"
        examples = Examples(
            uri=str(examples_uri), properties={"split_names": ["train", "eval"]}
        )
        out = ExampleStatistics(uri=str(tmp_path / "statistics"))
        result = StatisticsGen.fn(
            examples=examples,
            statistics=out,
            context=make_context("stats", tmp_path),
            exclude_splits=["train"],
        )
        assert result == {"num_examples": {"eval": len(taxi_split("eval"))}}
        assert out.split_names == ["eval"]
        assert not (tmp_path / "statistics" / "Split-train").exists()

    def test_the_combine_fn_pickles_by_reference(self):
        fn = combiner.FeatureStatsCombineFn("train")
        assert type(pickle.loads(pickle.dumps(fn))) is type(fn)
        assert b"components.stats.combiner" in pickle.dumps(fn)


@pytest.mark.slow
def test_a_feature_with_two_types_fails_naming_it(tmp_path):
    rows = [{"fare": "1"}, {"fare": "2.5"}]
    examples = write_examples(
        tmp_path / "examples", {"train": rows[:1]}, {"fare": "int"}
    )
    extra = write_examples(tmp_path / "more", {"train": rows[1:]}, {"fare": "float"})
    shard = pathlib.Path(extra.split_uri("train")) / "data-00000-of-00002.tfrecord.gz"
    shard.rename(pathlib.Path(examples.split_uri("train")) / "data-00009.tfrecord.gz")
    with pytest.raises(
        TypeError,
        match=re.escape(
            "Feature 'fare' of split 'train' holds integers in some examples and "
            "floats in others; a feature must have one type in every example."
        ),
    ):
        StatisticsGen.fn(
            examples=examples,
            statistics=ExampleStatistics(uri=str(tmp_path / "statistics")),
            context=make_context("stats", tmp_path),
        )


def test_two_types_in_one_batch_fail_naming_the_split():
    import pyarrow as pa
    from tfx_bsl.coders import example_coder

    from components.statistics_gen import _decode_batch

    encoder = example_coder.RecordBatchToExamplesEncoder()
    records = [
        encoder.encode(pa.RecordBatch.from_pydict({"fare": pa.array([[v]], kind)}))[0]
        for v, kind in (
            (1, pa.large_list(pa.int64())),
            (2.5, pa.large_list(pa.float32())),
        )
    ]
    decoder = example_coder.ExamplesToRecordBatchDecoder()
    with pytest.raises(TypeError) as caught:
        _decode_batch(records, decoder, "train")
    message = str(caught.value)
    assert message.startswith("Split 'train' holds examples that cannot be decoded")
    assert 'for feature "fare"' in message
