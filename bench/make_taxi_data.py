"""Writes a taxi-like CSV of N rows for the ExampleGen benchmark.

Rows are drawn at random from the real Chicago taxi sample
(``../shared/data/chicago_taxi/data.csv``) and perturbed: the continuous columns
(fares, tips, times, coordinates, distances, durations) get noise scaled to the column's
spread and stay within its range; the rest (months, hours, areas, payment types,
companies) keep their sampled values. Each row keeps the empty fields of the row it was
drawn from, so the share of missing values per column matches the real file. Strings
are written quoted (empty ones as empty fields), and one company name in a hundred gets a
comma inside its quotes.

Usage:
    python bench/make_taxi_data.py OUT.csv [--rows 1000000] [--seed 0]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

REPO = pathlib.Path(__file__).resolve().parents[1]
TAXI = REPO.parent / "shared" / "data" / "chicago_taxi" / "data.csv"
CHUNK_ROWS = 500_000
CONTINUOUS = (
    "fare",
    "tips",
    "trip_miles",
    "trip_seconds",
    "trip_start_timestamp",
    "pickup_latitude",
    "pickup_longitude",
    "dropoff_latitude",
    "dropoff_longitude",
)


def _decimals(column: pa.ChunkedArray) -> int:
    """The most decimal places any value of a float column was written with."""
    text = pc.cast(column.drop_null(), pa.string()).to_pylist()
    return max((len(t.split(".")[1]) for t in text if "." in t), default=0)


def _perturb(column: pa.ChunkedArray, take: np.ndarray, rng, decimals: int):
    sampled = column.take(pa.array(take))
    values = sampled.to_numpy(zero_copy_only=False).astype(np.float64)
    present = ~np.isnan(values)
    lo, hi = np.nanmin(values[present]), np.nanmax(values[present])
    spread = np.nanstd(column.to_numpy(zero_copy_only=False).astype(np.float64))
    noisy = np.clip(values + rng.normal(0.0, 0.05 * spread, len(values)), lo, hi)
    mask = ~present
    if pa.types.is_integer(column.type):
        return pa.array(
            np.round(np.where(present, noisy, 0)).astype(np.int64), mask=mask
        )
    return pa.array(np.round(noisy, decimals), mask=mask)


def make_taxi_data(out: str, rows: int, seed: int = 0) -> None:
    """Writes ``rows`` taxi-like rows with a header to ``out``."""
    real = pv.read_csv(TAXI)
    rng = np.random.default_rng(seed)
    perturbed = {
        name: _decimals(real[name]) if pa.types.is_floating(real[name].type) else 0
        for name in CONTINUOUS
    }
    with open(out, "wb") as sink:
        sink.write((",".join(real.column_names) + "\n").encode())
    options = pv.WriteOptions(include_header=False, quoting_style="needed")
    with (
        open(out, "ab") as sink,
        pv.CSVWriter(sink, real.schema, write_options=options) as writer,
    ):
        for start in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - start)
            take = rng.integers(0, real.num_rows, n)
            columns = []
            for name in real.column_names:
                if name in perturbed:
                    columns.append(_perturb(real[name], take, rng, perturbed[name]))
                    continue
                column = real[name].take(pa.array(take)).combine_chunks()
                if pa.types.is_string(column.type):
                    empty = pc.equal(column, "")
                    column = pc.if_else(empty, pa.scalar(None, pa.string()), column)
                if name == "company":
                    with_comma = pc.binary_join_element_wise(
                        column, ", Inc.", pa.scalar("")
                    )
                    column = pc.if_else(
                        pa.array(rng.random(n) < 0.01), with_comma, column
                    )
                columns.append(column)
            writer.write_table(pa.table(columns, schema=real.schema))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    make_taxi_data(args.out, args.rows, args.seed)
    size = pathlib.Path(args.out).stat().st_size
    print(
        f"wrote {args.rows:,} rows ({size / 1e6:.1f} MB) to {args.out} "
        f"in {time.perf_counter() - started:.1f}s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
