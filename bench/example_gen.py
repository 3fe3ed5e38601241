"""CsvExampleGen throughput on a taxi-like CSV, against a single-process baseline.

Three measurements, each in a fresh process, on the same CSV (made by
``make_taxi_data.py`` if it is not there yet):

- baseline: the practical limit in one process: pyarrow reads the CSV, tfx_bsl's
  ``RecordBatchToExamplesEncoder`` encodes tf.Examples, ``tf.io.TFRecordWriter`` writes
  one gzip TFRecord file;
- CsvExampleGen end to end (``CsvExampleGen.fn``: type inference, parsing, encoding,
  hash split, gzip shards) on Beam's FnApiRunner in memory;
- the same with ``--direct_running_mode=multi_processing --direct_num_workers=2``.

Library imports are done before the clock starts in every process; Beam's start-up
(worker processes included) is inside the measured time. The report is a Markdown
table: seconds (the median of ``--repeats`` rounds, each round running every mode once),
rows per second, and time relative to the baseline (1.0 = as fast).

Usage:
    python bench/example_gen.py [--rows 1000000] [--csv PATH] [--repeats 1]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
MODES = {
    "baseline": [],
    "in_memory": ["--direct_running_mode=in_memory"],
    "multi_processing": [
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=2",
    ],
}


def _baseline(csv_path: str, out: str) -> tuple[float, int]:
    import pyarrow as pa
    import pyarrow.csv as pv
    import tensorflow as tf
    from tfx_bsl.coders.example_coder import RecordBatchToExamplesEncoder

    def as_list(column: pa.Array) -> pa.Array:
        if pa.types.is_string(column.type):
            column = column.cast(pa.binary())
        elif pa.types.is_floating(column.type):
            column = column.cast(pa.float32())
        offsets = pa.array(range(len(column) + 1), pa.int32())
        return pa.ListArray.from_arrays(offsets, column, mask=column.is_null())

    started = time.perf_counter()
    table = pv.read_csv(
        csv_path, parse_options=pv.ParseOptions(newlines_in_values=True)
    )
    encoder = RecordBatchToExamplesEncoder()
    rows = 0
    with tf.io.TFRecordWriter(
        os.path.join(out, "data.tfrecord.gz"), options="GZIP"
    ) as writer:
        for batch in table.to_batches(max_chunksize=65536):
            lists = pa.RecordBatch.from_arrays(
                [as_list(c) for c in batch.columns], batch.schema.names
            )
            for record in encoder.encode(lists):
                writer.write(record)
            rows += batch.num_rows
    return time.perf_counter() - started, rows


def _component(csv_path: str, out: str, beam_args: list[str]) -> tuple[float, int]:
    import apache_beam  # noqa: F401 - imported before the clock, like TF for the baseline
    import pyarrow  # noqa: F401

    from components.example_gen import CsvExampleGen
    from pipeline import Examples, ExecutionContext

    context = ExecutionContext("bench", out, "bench", "CsvExampleGen", 1, beam_args)
    started = time.perf_counter()
    result = CsvExampleGen.fn(
        examples=Examples(uri=out), input_base=csv_path, context=context
    )
    return time.perf_counter() - started, sum(result["row_counts"].values())


def _child(mode: str, csv_path: str) -> None:
    out = tempfile.mkdtemp(prefix=f"mlpipe-bench-{mode}-")
    try:
        if mode == "baseline":
            seconds, rows = _baseline(csv_path, out)
        else:
            seconds, rows = _component(csv_path, out, MODES[mode])
        size = sum(
            p.stat().st_size for p in pathlib.Path(out).rglob("*") if p.is_file()
        )
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(json.dumps({"seconds": seconds, "rows": rows, "bytes": size}))


def _measure(mode: str, csv_path: str) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--csv", csv_path],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        sys.exit(f"{mode} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _machine() -> str:
    model = ""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages / 2**30:.0f} GiB RAM"
    except (ValueError, OSError):
        pass
    return (
        f"{os.cpu_count()} CPUs ({model or platform.processor()}){memory}, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--csv", help="the CSV to read (made if missing)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--child", choices=sorted(MODES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(REPO))
        _child(args.child, args.csv)
        return
    csv_path = args.csv or os.path.join(
        tempfile.gettempdir(), f"mlpipe-taxi-{args.rows}.csv"
    )
    if not os.path.exists(csv_path):
        subprocess.run(
            [
                sys.executable,
                str(HERE / "make_taxi_data.py"),
                csv_path,
                "--rows",
                str(args.rows),
            ],
            check=True,
        )
    size = os.path.getsize(csv_path)
    print(f"{datetime.date.today()}, {_machine()}")
    print(f"input: {csv_path} ({size / 1e6:.0f} MB)\n")
    print(f"load average before: {_load()}")
    runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
    # Rounds of every mode, so a busy spell on a shared machine hits all of them.
    for _ in range(args.repeats):
        for mode in MODES:
            runs[mode].append(_measure(mode, csv_path))
            print(f"  {mode}: {runs[mode][-1]['seconds']:.1f}s", file=sys.stderr)
    print(f"load average after: {_load()}\n")
    results = {
        mode: {
            "seconds": statistics.median(r["seconds"] for r in done),
            "rows": done[0]["rows"],
            "bytes": done[0]["bytes"],
        }
        for mode, done in runs.items()
    }
    base = results["baseline"]["seconds"]
    print("| run | rows | seconds | rows/s | time / baseline | output MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for mode, r in results.items():
        print(
            f"| {mode} | {r['rows']:,} | {r['seconds']:.1f} | "
            f"{r['rows'] / r['seconds']:,.0f} | {r['seconds'] / base:.2f} | "
            f"{r['bytes'] / 1e6:.0f} |"
        )


if __name__ == "__main__":
    main()
