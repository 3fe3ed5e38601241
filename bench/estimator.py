"""Benchmark: training examples/s of a DNN through the Estimator vs Keras model.fit.

Both train the same Keras 3 model (a DNN regressor on taxi-like numeric features,
generated here) on the same ``tf.data`` input; the Estimator runs with
``steps_per_loop`` 1 and K, ``model.fit`` with ``steps_per_execution`` 1 and K.
A second, tiny model (one Dense unit, batch 8) measures the fixed cost of a step.
Each side is built once per setting and trains ``--warmup`` steps (tracing, first
checkpoint); then the two take turns, ``--repeats`` timed calls of ``--steps`` steps
each, every call building its ``tf.data`` pipeline inside the timer (the Estimator
calls its input_fn in ``train``). Reported: median examples/s, and the median and
quartiles of the paired ratios (fit time / Estimator time of neighbouring calls).

Run: ``python bench/estimator.py`` (about two minutes on 2 cores), or with
``--rows 1000000`` for the full-size data. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
    dataset = dataset.batch(batch, drop_remainder=True).repeat()
    # tf.data's autotuner made runs bimodal on 2 cores (about 200k or 320k
    # examples/s for the same model); a fixed prefetch keeps the input steady.
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(2).with_options(options)


def fit_trainer(features, labels, hidden, batch, warmup, per_execution):
    """A warmed-up Keras model; the returned function fits ``steps`` more steps."""
    model = build_model(hidden, list(features))
    model.compile(
        keras.optimizers.Adam(0.001), "mse", steps_per_execution=per_execution
    )
    model.fit(make_dataset(features, labels, batch), steps_per_epoch=warmup, verbose=0)

    def train(steps: int) -> float:
        start = time.perf_counter()
        # Built inside the timer, as the Estimator's input_fn is called in train().
        dataset = make_dataset(features, labels, batch)
        model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
        return time.perf_counter() - start

    return train


def estimator_trainer(features, labels, hidden, batch, warmup, per_loop):
    """A warmed-up Estimator; the returned function trains ``steps`` more steps."""
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

    def train(steps: int) -> float:
        start = time.perf_counter()
        estimator.train(input_fn, steps=steps)
        return time.perf_counter() - start

    return train


def alternate(trainers: list, steps: int, repeats: int) -> list[list[float]]:
    """Times each trainer ``repeats`` times, taking turns; each one's times."""
    times: list[list[float]] = [[] for _ in trainers]
    for _ in range(repeats):
        for own, train in zip(times, trainers):
            own.append(train(steps))
    return times


def paired_ratios(base: list[float], other: list[float]) -> dict[str, float]:
    """The median and quartiles of base/other over neighbouring runs (>1: other
    is faster), and best against best. Pairing neighbours cancels the drift of a
    shared machine's speed."""
    ratios = sorted(b / o for b, o in zip(base, other))
    return {
        "ratio": statistics.median(ratios),
        "ratio_q1": ratios[len(ratios) // 4],
        "ratio_q3": ratios[(3 * len(ratios)) // 4],
        "ratio_best": min(base) / min(other),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--hidden", default="100,70,50,25")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--loop", type=int, default=20, help="K: steps per loop")
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    hidden = [int(h) for h in args.hidden.split(",")]
    features, labels = make_taxi_like(args.rows)
    features = {name: tf.constant(values) for name, values in features.items()}
    labels = tf.constant(labels)
    tiny_features = {"fare": features["fare"]}
    rows = []
    for model_name, feats, hid, batch in (
        (f"DNN {hidden}, batch {args.batch}", features, hidden, args.batch),
        ("tiny (1 unit), batch 8", tiny_features, [], 8),
    ):
        for k in (1, args.loop):
            fit = fit_trainer(feats, labels, hid, batch, args.warmup, k)
            estimator = estimator_trainer(feats, labels, hid, batch, args.warmup, k)
            fit_times, estimator_times = alternate(
                [fit, estimator], args.steps, args.repeats
            )
            for runner, knob, times in (
                ("Keras model.fit", "steps_per_execution", fit_times),
                ("Estimator", "steps_per_loop", estimator_times),
            ):
                seconds = statistics.median(times)
                rows.append(
                    {
                        "model": model_name,
                        "runner": runner,
                        "knob": f"{knob}={k}",
                        "seconds": seconds,
                        "examples_per_sec": args.steps * batch / seconds,
                        "us_per_step": 1e6 * seconds / args.steps,
                        **paired_ratios(fit_times, times),
                    }
                )
            print(rows[-1], flush=True)
    print()
    print(
        f"| model | runner | setting | examples/s | µs/step | vs fit, same setting "
        f"(median of {args.repeats} pairs) | quartiles |"
    )
    print("|---|---|---|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['model']} | {row['runner']} | {row['knob']} | "
            f"{row['examples_per_sec']:,.0f} | {row['us_per_step']:,.0f} | "
            f"{row['ratio']:.0%} | {row['ratio_q1']:.0%}–{row['ratio_q3']:.0%} |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=2)
    return {"rows": rows}


if __name__ == "__main__":
    main()
