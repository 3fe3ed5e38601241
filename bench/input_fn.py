"""Examples per second of the built input_fn against hand-written tf.data pipelines.

Writes a taxi-like Examples set once (rows drawn from the real Chicago taxi sample,
``../shared/data/chicago_taxi/data.csv``, with noise on the continuous columns and the
sampled row's missing values kept as absent features), then iterates, without a model,
for one epoch each:

- ``built``: ``components.input_fn.make_dataset`` (no shuffle, as the others);
- ``built, shuffled``: the same in its training configuration (files and a
  10,000-record buffer shuffled), for scale;
- ``hand-written``: interleave (parallel) -> batch -> parse_example -> prefetch;
- ``naive``: one TFRecordDataset over all files -> parse_single_example per record
  -> batch.

Each figure is the median of ``--repeats`` passes, the variants taking turns; one
warm-up pass first reads every file so the page cache is equally warm for all.

Usage:
    python bench/input_fn.py [--rows 1000000] [--shards 8] [--batch-size 1024]
                             [--repeats 3] [--data /tmp/mlpipe-bench-input-fn]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TAXI = REPO.parent / "shared" / "data" / "chicago_taxi" / "data.csv"
NOISY = ("fare", "tips", "trip_miles", "trip_seconds")
ENCODE_CHUNK = 50_000


def write_taxi_examples(
    folder: pathlib.Path, rows: int, shards: int, seed: int
) -> dict:
    """Writes ``rows`` taxi-like tf.Examples as ``shards`` gzip shards, and a schema.

    Rows with the same set of present columns are encoded together by tfx_bsl's
    C++ encoder (it writes a null as an empty feature, so each group holds only its
    present columns); the shards then get the rows in a random order.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pv
    import tensorflow as tf
    from tfx_bsl.coders import example_coder

    from components.schema_gen import infer_schema
    from components.stats import artifacts, combiner

    started = time.perf_counter()
    real = pv.read_csv(TAXI)
    rng = np.random.default_rng(seed)
    take = rng.integers(0, real.num_rows, rows)
    columns = {}
    for name in real.column_names:
        column = real[name].combine_chunks().take(pa.array(take))
        if name in NOISY:
            values = column.to_numpy(zero_copy_only=False).astype(np.float64)
            spread = np.nanstd(values)
            noisy = np.abs(values + rng.normal(0.0, 0.05 * spread, rows))
            if pa.types.is_integer(column.type):
                noisy = np.round(noisy)
            column = pa.array(noisy, column.type, mask=column.is_null().to_numpy(False))
        columns[name] = column
    kinds = {
        name: pa.large_binary()
        if pa.types.is_string(c.type)
        else (pa.int64() if pa.types.is_integer(c.type) else pa.float32())
        for name, c in columns.items()
    }
    present = np.stack(
        [columns[n].is_valid().to_numpy(False) for n in real.column_names], axis=1
    )
    patterns, group = np.unique(present, axis=0, return_inverse=True)
    encoder = example_coder.RecordBatchToExamplesEncoder()
    records = np.empty(rows, dtype=object)
    for g, pattern in enumerate(patterns):
        where = np.flatnonzero(group.ravel() == g)
        names = [n for n, p in zip(real.column_names, pattern) if p]
        for start in range(0, len(where), ENCODE_CHUNK):
            chunk = pa.array(where[start : start + ENCODE_CHUNK])
            batch = pa.RecordBatch.from_pydict(
                {
                    n: _as_lists(columns[n].take(chunk).cast(kinds[n]), kinds[n])
                    for n in names
                }
            )
            records[where[start : start + ENCODE_CHUNK]] = encoder.encode(batch)
    order = rng.permutation(rows)
    split = folder / "examples" / "Split-train"
    split.mkdir(parents=True, exist_ok=True)
    for shard in range(shards):
        path = split / f"data-{shard:05d}-of-{shards:05d}.tfrecord.gz"
        with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
            for index in order[shard::shards]:
                writer.write(records[index])
    # The schema is inferred from the real sample: the same columns, types and
    # presence (a column never missing there is never missing here).
    sample = pa.RecordBatch.from_pydict(
        {
            n: pa.array(
                [
                    None if v is None else [v]
                    for v in real[n].cast(kinds[n]).to_pylist()
                ],
                pa.large_list(kinds[n]),
            )
            for n in real.column_names
        }
    )
    schema = infer_schema([combiner.statistics_from_batches([sample], "train")])
    artifacts.write_schema(str(folder / "schema" / "schema.pbtxt"), schema)
    meta = {
        "rows": rows,
        "shards": shards,
        "seed": seed,
        "bytes": sum(p.stat().st_size for p in split.iterdir()),
        "seconds_to_write": round(time.perf_counter() - started, 1),
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    return meta


def _as_lists(column, kind):
    import pyarrow as pa

    offsets = pa.array(range(len(column) + 1), pa.int64())
    return pa.LargeListArray.from_arrays(offsets, column.fill_null(_zero(kind)))


def _zero(kind):
    import pyarrow as pa

    return b"" if kind == pa.large_binary() else 0


def variants(examples, schema_path: str, batch_size: int) -> dict:
    """The datasets to time, each a zero-argument function making a fresh one."""
    import tensorflow as tf

    from components.input_fn import make_dataset, raw_feature_spec

    spec = raw_feature_spec(schema_path)
    files = sorted(str(p) for p in pathlib.Path(examples.split_uri("train")).iterdir())

    def built():
        return make_dataset(
            examples,
            schema=schema_path,
            batch_size=batch_size,
            shuffle=False,
            num_epochs=1,
            deterministic=False,
        )

    def built_shuffled():
        return make_dataset(
            examples,
            schema=schema_path,
            batch_size=batch_size,
            shuffle=True,
            num_epochs=1,
            shuffle_seed=1,
        )

    def hand_written():
        dataset = tf.data.Dataset.from_tensor_slices(files).interleave(
            lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
            cycle_length=len(files),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=False,
        )
        return (
            dataset.batch(batch_size)
            .map(
                lambda s: tf.io.parse_example(s, spec),
                num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=False,
            )
            .prefetch(tf.data.AUTOTUNE)
        )

    def naive():
        return (
            tf.data.TFRecordDataset(files, compression_type="GZIP")
            .map(lambda s: tf.io.parse_single_example(s, spec))
            .batch(batch_size)
        )

    return {
        "built": built,
        "built, shuffled": built_shuffled,
        "hand-written": hand_written,
        "naive": naive,
    }


def count(dataset) -> int:
    """Iterates one epoch; returns the examples seen."""
    seen = 0
    for batch in dataset:
        seen += int(batch["fare"].shape[0])
    return seen


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", action="append", help="time only these variants")
    parser.add_argument("--data", default=os.path.join("/tmp", "mlpipe-bench-input-fn"))
    args = parser.parse_args(argv)

    from pipeline import Examples

    folder = pathlib.Path(args.data)
    meta_path = folder / "meta.json"
    wanted = {"rows": args.rows, "shards": args.shards, "seed": args.seed}
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    if {k: meta.get(k) for k in wanted} != wanted:
        if folder.exists():
            import shutil

            shutil.rmtree(folder)
        print(f"writing {args.rows:,} rows in {args.shards} shards to {folder} ...")
        meta = write_taxi_examples(folder, args.rows, args.shards, args.seed)
    print(
        f"data: {meta['rows']:,} rows, {meta['shards']} gzip shards, "
        f"{meta['bytes'] / 2**20:.0f} MiB (written in {meta['seconds_to_write']} s)"
    )
    examples = Examples(
        uri=str(folder / "examples"), properties={"split_names": ["train"]}
    )
    schema_path = str(folder / "schema" / "schema.pbtxt")
    for path in pathlib.Path(examples.split_uri("train")).iterdir():
        path.read_bytes()
    makers = variants(examples, schema_path, args.batch_size)
    if args.only:
        makers = {k: v for k, v in makers.items() if k in args.only}
    times: dict[str, list[float]] = {name: [] for name in makers}
    for repeat in range(args.repeats):
        for name, make in makers.items():
            started = time.perf_counter()
            seen = count(make())
            elapsed = time.perf_counter() - started
            assert seen == meta["rows"], (name, seen)
            times[name].append(elapsed)
            print(f"  pass {repeat + 1} {name}: {elapsed:.2f} s", flush=True)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(
        f"\n{stamp}; {meta['rows']:,} rows, batch {args.batch_size}, median of "
        f"{args.repeats}; Python {platform.python_version()}, {platform.platform()}, "
        f"{os.cpu_count()} cores"
    )
    reference = statistics.median(times.get("hand-written", [float("nan")]))
    best_reference = min(times.get("hand-written", [float("nan")]))
    print(
        "| pipeline | median time | examples/s | vs hand-written | best time | "
        "best vs hand-written's best |"
    )
    print("|---|---|---|---|---|---|")
    for name, values in times.items():
        median, best = statistics.median(values), min(values)
        print(
            f"| {name} | {median:.2f} s | {meta['rows'] / median:,.0f} | "
            f"{reference / median:.0%} | {best:.2f} s | {best_reference / best:.0%} |"
        )
    print("all passes:", {k: [round(v, 2) for v in t] for k, t in times.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
