"""Benchmark: premade estimators vs the same model hand-written in Keras 3 (model.fit).

Three models on generated taxi-like data (ten scaled numeric features, a 1,000-value
string ``company`` and a 24-value int ``hour``), label "big tipper":

* ``DNNClassifier`` [100, 70, 50, 25] on the numeric columns, Adagrad 0.05, vs a
  Keras Concatenate → Dense stack with the same widths and optimizer;
* ``LinearClassifier`` on the numeric columns, ``company`` hashed into 1,000 buckets
  and ``hour`` as an identity column, Ftrl, vs Keras ``Hashing`` + one-wide
  ``Embedding`` layers (a linear model's sparse weights) and a Dense unit;
* ``DNNLinearCombinedClassifier`` (the two above, with an 8-wide embedding of
  ``company`` in the deep part), vs the Keras sum of both parts. Keras' ``fit``
  takes one optimizer, so the Keras model uses Adagrad for both parts.

Both sides read the same ``tf.data`` pipeline (batch 512) over the same in-memory
tensors (converted from numpy once, before any timing) and run the same number of
steps per call (``steps_per_loop`` = ``steps_per_execution`` = K). Each timed call
builds its pipeline inside the timer: the premade's input_fn is called inside
``train``, and the Keras side builds its dataset just before ``fit``.
Each side is built once and trained ``--warmup`` steps (tracing); then the two
alternate ``--repeats`` timed calls of ``--steps`` steps each. The table gives the
median of the paired ratios (fit time / premade time of neighbouring calls: the
machines are shared and their speed drifts), their quartiles, and best vs best.

With 2 cores the default run is bound by the input pipeline (slicing and batching
the rows); ``--one-batch`` repeats one cached batch instead, so that the timings are
those of the training steps alone.

Run: ``python bench/premade.py`` (about three minutes on 2 cores). Prints a Markdown
table; ``--json`` also writes the numbers.
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

from bench.estimator import (  # noqa: E402
    FEATURES,
    alternate,
    make_taxi_like,
    paired_ratios,
)
from components.trainer import estimator as tf_estimator  # noqa: E402
from components.trainer.estimator import feature_column as fc  # noqa: E402

COMPANIES = 1000
HOURS = 24


def make_data(rows: int, seed: int = 0) -> tuple[dict, np.ndarray]:
    """Numeric features plus ``company`` (string) and ``hour`` (int); 0/1 labels."""
    features, tips = make_taxi_like(rows, seed)
    rng = np.random.default_rng(seed + 1)
    company = rng.integers(0, COMPANIES, rows)
    features["company"] = np.array([f"company {c}" for c in company])[:, None]
    features["hour"] = rng.integers(0, HOURS, rows)[:, None]
    score = tips[:, 0] + 0.5 * (company % 7 == 0)
    return features, (score > np.median(score)).astype(np.int64)[:, None]


def make_dataset(features, labels, batch: int, one_batch: bool = False):
    dataset = tf.data.Dataset.from_tensor_slices((features, labels))
    dataset = dataset.batch(batch, drop_remainder=True)
    if one_batch:
        dataset = dataset.take(1).cache()
    # tf.data's autotuner made either side's runs bimodal on 2 cores (about 200k
    # or 320k examples/s for the same model, 340k with it off): a fixed prefetch
    # keeps the input the same speed in every run.
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.repeat().prefetch(2).with_options(options)


# ---------------------------------------------------------------- premade


def premade(kind: str, hidden: list[int], per_loop: int):
    numeric = [fc.numeric_column(name) for name in FEATURES]
    company = fc.categorical_column_with_hash_bucket("company", COMPANIES)
    hour = fc.categorical_column_with_identity("hour", HOURS)
    linear = numeric + [company, hour]
    dnn = numeric + [fc.embedding_column(company, 8)]
    config = tf_estimator.RunConfig(
        steps_per_loop=per_loop, save_checkpoints_steps=10**9, tf_random_seed=1
    )
    model_dir = tempfile.mkdtemp(prefix="bench-premade-")
    if kind == "dnn":
        return tf_estimator.DNNClassifier(hidden, numeric, model_dir, config=config)
    if kind == "linear":
        return tf_estimator.LinearClassifier(linear, model_dir, config=config)
    return tf_estimator.DNNLinearCombinedClassifier(
        model_dir,
        linear_feature_columns=linear,
        dnn_feature_columns=dnn,
        dnn_hidden_units=hidden,
        config=config,
    )


def premade_trainer(kind, dataset_fn, hidden, warmup, per_loop):
    """A warmed-up premade; the returned function trains ``steps`` more steps."""
    estimator = premade(kind, hidden, per_loop)
    estimator.train(dataset_fn, steps=warmup)

    def train(steps: int) -> float:
        start = time.perf_counter()
        estimator.train(dataset_fn, steps=steps)
        return time.perf_counter() - start

    return train


# ---------------------------------------------------------------- Keras


def keras_model(kind: str, hidden: list[int]) -> keras.Model:
    inputs = {name: keras.Input((1,), name=name) for name in FEATURES}
    inputs["company"] = keras.Input((1,), name="company", dtype="string")
    inputs["hour"] = keras.Input((1,), name="hour", dtype="int64")
    numeric = keras.layers.Concatenate()([inputs[name] for name in FEATURES])
    company_ids = keras.layers.Hashing(COMPANIES)(inputs["company"])
    parts = []
    if kind in ("linear", "wide_deep"):
        sparse = [
            keras.layers.Flatten()(keras.layers.Embedding(COMPANIES, 1)(company_ids)),
            keras.layers.Flatten()(keras.layers.Embedding(HOURS, 1)(inputs["hour"])),
            keras.layers.Dense(1)(numeric),
        ]
        parts.append(keras.layers.Add()(sparse))
    if kind in ("dnn", "wide_deep"):
        x = numeric
        if kind == "wide_deep":
            embedded = keras.layers.Embedding(COMPANIES, 8)(company_ids)
            x = keras.layers.Concatenate()([x, keras.layers.Flatten()(embedded)])
        for units in hidden:
            x = keras.layers.Dense(units, activation="relu")(x)
        parts.append(keras.layers.Dense(1)(x))
    logits = parts[0] if len(parts) == 1 else keras.layers.Add()(parts)
    return keras.Model(inputs, logits)


def fit_trainer(kind, dataset_fn, hidden, warmup, per_execution):
    """A warmed-up Keras model; the returned function fits ``steps`` more steps."""
    model = keras_model(kind, hidden)
    optimizer = (
        keras.optimizers.Ftrl(linear_rate())
        if kind == "linear"
        else keras.optimizers.Adagrad(0.05)
    )
    model.compile(
        optimizer,
        keras.losses.BinaryCrossentropy(from_logits=True),
        steps_per_execution=per_execution,
    )
    model.fit(dataset_fn(), steps_per_epoch=warmup, epochs=1, verbose=0)

    def train(steps: int) -> float:
        start = time.perf_counter()
        # Built inside the timer, as the premade's input_fn is called in train().
        model.fit(dataset_fn(), steps_per_epoch=steps, epochs=1, verbose=0)
        return time.perf_counter() - start

    return train


def linear_rate() -> float:
    from components.trainer.estimator.canned.optimizers import linear_learning_rate

    return linear_learning_rate(len(FEATURES) + 2)


# ---------------------------------------------------------------- main


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--hidden", default="100,70,50,25")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--loop", type=int, default=20, help="K: steps per call")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--models", default="dnn,linear,wide_deep")
    parser.add_argument(
        "--one-batch",
        action="store_true",
        help="repeat one cached batch: time the training steps, not the input",
    )
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    hidden = [int(h) for h in args.hidden.split(",")]
    features, labels = make_data(args.rows)
    features = {name: tf.constant(values) for name, values in features.items()}
    labels = tf.constant(labels)

    def dataset_fn():
        return make_dataset(features, labels, args.batch, args.one_batch)

    names = {
        "dnn": "DNNClassifier",
        "linear": "LinearClassifier",
        "wide_deep": "DNNLinearCombinedClassifier",
    }
    rows = []
    for kind in args.models.split(","):
        fit = fit_trainer(kind, dataset_fn, hidden, args.warmup, args.loop)
        estimator = premade_trainer(kind, dataset_fn, hidden, args.warmup, args.loop)
        fit_times, premade_times = alternate([fit, estimator], args.steps, args.repeats)
        examples = args.steps * args.batch
        rows.append(
            {
                "model": names[kind],
                "fit_examples_per_sec": examples / statistics.median(fit_times),
                "premade_examples_per_sec": examples / statistics.median(premade_times),
                **paired_ratios(fit_times, premade_times),
            }
        )
        print(rows[-1], flush=True)
    print()
    input_words = "one cached batch" if args.one_batch else "tf.data input"
    print(
        f"| model | Keras model.fit ex/s | premade ex/s | premade vs fit "
        f"(median of {args.repeats} pairs) | quartiles | best vs best |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['model']} | {row['fit_examples_per_sec']:,.0f} | "
            f"{row['premade_examples_per_sec']:,.0f} | {row['ratio']:.0%} | "
            f"{row['ratio_q1']:.0%}–{row['ratio_q3']:.0%} | {row['ratio_best']:.0%} |"
        )
    print(
        f"(K={args.loop}, {input_words}, {args.steps} steps of {args.batch} per call)"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=2)
    return {"rows": rows}


if __name__ == "__main__":
    main()
