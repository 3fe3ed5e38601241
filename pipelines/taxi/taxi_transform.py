"""The taxi pipeline's Transform module: TFX's Chicago taxi preprocessing.

Numbers are scaled to z-scores, strings mapped through vocabularies learned on the
train split, coordinates cut into quantile buckets, and the label ``big_tipper`` says
whether the tip was more than 20% of the fare. A missing value (an absent feature,
which the schema makes a SparseTensor) is filled in first: 0 for numbers, '' for
strings.

The trainer module (``taxi_trainer.py``) builds its feature columns from the same
names; the two files are separate so that a change to the model does not run the
Transform again.
"""

import tensorflow as tf
import tensorflow_transform as tft

DENSE_FLOAT_FEATURE_KEYS = ["trip_miles", "fare", "trip_seconds"]
VOCAB_FEATURE_KEYS = ["payment_type", "company"]
BUCKET_FEATURE_KEYS = [
    "pickup_latitude",
    "pickup_longitude",
    "dropoff_latitude",
    "dropoff_longitude",
]
CATEGORICAL_FEATURE_KEYS = [
    "trip_start_hour",
    "trip_start_day",
    "trip_start_month",
    "pickup_community_area",
    "dropoff_community_area",
]
FEATURE_BUCKET_COUNT = 10
VOCAB_SIZE = 1000
OOV_SIZE = 10
LABEL_KEY = "big_tipper"


def transformed_name(key):
    """The name of a raw feature's transformed version: ``fare`` -> ``fare_xf``."""
    return key + "_xf"


def fill_in_missing(x):
    """A [batch] dense tensor from a [batch, 1] dense or sparse one; missing: 0 or ''."""
    if isinstance(x, tf.sparse.SparseTensor):
        default = "" if x.dtype == tf.string else 0
        x = tf.sparse.to_dense(
            tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default
        )
    return tf.squeeze(x, axis=1)


def preprocessing_fn(inputs):
    """Maps raw taxi features to the model's features and the ``big_tipper`` label."""
    outputs = {}
    for key in DENSE_FLOAT_FEATURE_KEYS:
        outputs[transformed_name(key)] = tft.scale_to_z_score(
            tf.cast(fill_in_missing(inputs[key]), tf.float32)
        )
    for key in VOCAB_FEATURE_KEYS:
        outputs[transformed_name(key)] = tft.compute_and_apply_vocabulary(
            fill_in_missing(inputs[key]),
            top_k=VOCAB_SIZE,
            num_oov_buckets=OOV_SIZE,
            vocab_filename=key,
        )
    for key in BUCKET_FEATURE_KEYS:
        outputs[transformed_name(key)] = tft.bucketize(
            tf.cast(fill_in_missing(inputs[key]), tf.float32), FEATURE_BUCKET_COUNT
        )
    for key in CATEGORICAL_FEATURE_KEYS:
        outputs[transformed_name(key)] = tf.cast(fill_in_missing(inputs[key]), tf.int64)
    fare = tf.cast(fill_in_missing(inputs["fare"]), tf.float32)
    tips = tf.cast(fill_in_missing(inputs["tips"]), tf.float32)
    outputs[LABEL_KEY] = tf.cast(tf.greater(tips, fare * 0.2), tf.int64)
    return outputs
