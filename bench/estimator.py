"""Benchmark: training examples/s of a DNN through the Estimator vs Keras model.fit.

Both train the same Keras 3 model (a DNN regressor on taxi-like numeric features,
generated here) on the same ``tf.data`` input; the Estimator runs with
``steps_per_loop`` 1 and K, ``model.fit`` with ``steps_per_execution`` 1 and K.
A second, tiny model (one Dense unit, batch 8) measures the fixed cost of a step.
Each measurement trains ``--warmup`` steps first (tracing, first checkpoint), then
times ``--steps`` steps; the best of ``--repeats`` runs is kept.

Run: ``python bench/estimator.py`` (about two minutes on 2 cores), or with
``--rows 1000000`` for the full-size data. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from components.trainer import estimator as tf_estimator  # noqa: E402

FEATURES = [
    "trip_miles",
    "trip_seconds",
    "fare",
    "pickup_latitude",
    "pickup_longitude",
    "dropoff_latitude",
    "dropoff_longitude",
    "trip_start_hour",
    "trip_start_day",
    "passenger_count",
]


def make_taxi_like(rows: int, seed: int = 0) -> tuple[dict, np.ndarray]:
    """Numeric taxi-like features (already scaled) and a tip amount to regress."""
    rng = np.random.default_rng(seed)
    miles = rng.gamma(2.0, 1.5, rows)
    seconds = miles * rng.normal(180, 30, rows) + rng.normal(300, 60, rows)
    fare = 3.25 + 2.25 * miles + 0.004 * seconds + rng.normal(0, 1, rows)
    columns = {
        "trip_miles": miles,
        "trip_seconds": seconds,
        "fare": fare,
        "pickup_latitude": rng.normal(41.88, 0.05, rows),
        "pickup_longitude": rng.normal(-87.63, 0.05, rows),
        "dropoff_latitude": rng.normal(41.88, 0.05, rows),
        "dropoff_longitude": rng.normal(-87.63, 0.05, rows),
        "trip_start_hour": rng.integers(0, 24, rows).astype(float),
        "trip_start_day": rng.integers(1, 8, rows).astype(float),
        "passenger_count": rng.integers(1, 5, rows).astype(float),
    }
    tips = 0.15 * fare * (columns["trip_start_hour"] > 6) + rng.normal(0, 0.5, rows)
    features = {
        name: ((v - v.mean()) / (v.std() + 1e-9)).astype(np.float32)[:, None]
        for name, v in columns.items()
    }
    return features, tips.astype(np.float32)[:, None]


def build_model(hidden: list[int], names: list[str]) -> keras.Model:
    inputs = {name: keras.Input((1,), name=name) for name in names}
    x = keras.layers.Concatenate()([inputs[n] for n in names])
    for units in hidden:
        x = keras.layers.Dense(units, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(1)(x))


def make_dataset(features, labels, batch: int) -> tf.data.Dataset:
    dataset = tf.data.Dataset.from_tensor_slices((features, labels))
    return dataset.batch(batch, drop_remainder=True).repeat().prefetch(tf.data.AUTOTUNE)


def time_fit(features, labels, hidden, batch, steps, warmup, per_execution) -> float:
    model = build_model(hidden, list(features))
    model.compile(
        keras.optimizers.Adam(0.001), "mse", steps_per_execution=per_execution
    )
    dataset = make_dataset(features, labels, batch)
    model.fit(dataset, steps_per_epoch=warmup, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    return time.perf_counter() - start


def time_estimator(features, labels, hidden, batch, steps, warmup, per_loop) -> float:
    names = list(features)

    def model_fn(features, labels, mode):
        model = build_model(hidden, names)
        predictions = model(features, training=mode == tf_estimator.ModeKeys.TRAIN)
        loss = keras.losses.MeanSquaredError()(labels, predictions)
        return tf_estimator.EstimatorSpec(
            mode, loss=loss, train_op=keras.optimizers.Adam(0.001)
        )

    estimator = tf_estimator.Estimator(
        model_fn,
        tempfile.mkdtemp(prefix="bench-estimator-"),
        tf_estimator.RunConfig(steps_per_loop=per_loop),
    )

    def input_fn():
        return make_dataset(features, labels, batch)

    estimator.train(input_fn, steps=warmup)
    start = time.perf_counter()
    estimator.train(input_fn, steps=steps)
    return time.perf_counter() - start


def measure(runs: list[tuple], repeats: int) -> list[float]:
    """Times each (timer, args) run ``repeats`` times, interleaved; keeps the best."""
    best = [float("inf")] * len(runs)
    for _ in range(repeats):
        for i, (timer, args) in enumerate(runs):
            best[i] = min(best[i], timer(*args))
    return best


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--hidden", default="100,70,50,25")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--loop", type=int, default=20, help="K: steps per loop")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    hidden = [int(h) for h in args.hidden.split(",")]
    features, labels = make_taxi_like(args.rows)
    tiny_features = {"fare": features["fare"]}
    rows = []
    for model_name, feats, hid, batch in (
        (f"DNN {hidden}, batch {args.batch}", features, hidden, args.batch),
        ("tiny (1 unit), batch 8", tiny_features, [], 8),
    ):
        configs = [
            (kind, k)
            for kind in ("Keras model.fit", "Estimator")
            for k in (1, args.loop)
        ]
        runs = [
            (
                time_fit if kind == "Keras model.fit" else time_estimator,
                (feats, labels, hid, batch, args.steps, args.warmup, k),
            )
            for kind, k in configs
        ]
        for (kind, k), seconds in zip(configs, measure(runs, args.repeats)):
            knob = (
                "steps_per_execution" if kind == "Keras model.fit" else "steps_per_loop"
            )
            rows.append(
                {
                    "model": model_name,
                    "runner": kind,
                    "knob": f"{knob}={k}",
                    "seconds": seconds,
                    "examples_per_sec": args.steps * batch / seconds,
                    "us_per_step": 1e6 * seconds / args.steps,
                }
            )
    print()
    print("| model | runner | setting | examples/s | µs/step | vs fit (same setting) |")
    print("|---|---|---|---:|---:|---:|")
    for row in rows:
        base = next(
            r
            for r in rows
            if r["model"] == row["model"]
            and r["runner"] == "Keras model.fit"
            and r["knob"].split("=")[1] == row["knob"].split("=")[1]
        )
        ratio = row["examples_per_sec"] / base["examples_per_sec"]
        print(
            f"| {row['model']} | {row['runner']} | {row['knob']} | "
            f"{row['examples_per_sec']:,.0f} | {row['us_per_step']:,.0f} | {ratio:.0%} |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=2)
    return {"rows": rows}


if __name__ == "__main__":
    main()
