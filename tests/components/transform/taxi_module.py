"""The Chicago taxi preprocessing of the TFX example, as a Transform module file.

Floats are scaled to z-scores, strings mapped through vocabularies, coordinates
bucketized by quantiles, and the label says whether the tip was over 20% of the fare.
Missing values (absent features, which the schema makes SparseTensors) are filled in
first: 0 for numbers, '' for strings.
"""

import tensorflow as tf
import tensorflow_transform as tft

DENSE_FLOAT_FEATURE_KEYS = ["trip_miles", "fare", "trip_seconds"]
VOCAB_FEATURE_KEYS = ["payment_type", "company"]
BUCKET_FEATURE_KEYS = ["pickup_latitude", "dropoff_longitude"]
CATEGORICAL_FEATURE_KEYS = ["trip_start_hour", "trip_start_day"]
FEATURE_BUCKET_COUNT = 10
VOCAB_SIZE = 1000
OOV_SIZE = 10
LABEL_KEY = "tips"
FARE_KEY = "fare"


def transformed_name(key):
    return key + "_xf"


def fill_in_missing(x):
    """A [batch] dense tensor from a [batch, 1] dense or sparse one; missing -> 0 or ''."""
    if isinstance(x, tf.sparse.SparseTensor):
        default = "" if x.dtype == tf.string else 0
        x = tf.sparse.to_dense(
            tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default
        )
    return tf.squeeze(x, axis=1)


def preprocessing_fn(inputs):
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
            fill_in_missing(inputs[key]), FEATURE_BUCKET_COUNT
        )
    for key in CATEGORICAL_FEATURE_KEYS:
        outputs[transformed_name(key)] = fill_in_missing(inputs[key])
    fare = fill_in_missing(inputs[FARE_KEY])
    tips = fill_in_missing(inputs[LABEL_KEY])
    outputs["big_tipper"] = tf.cast(tf.greater(tips, fare * 0.2), tf.int64)
    if "row_id" in inputs:
        outputs["row_id"] = fill_in_missing(inputs["row_id"])
    return outputs
