"""The taxi pipeline's trainer module: a wide & deep model on Transform's features.

``trainer_fn(args)`` returns a ``DNNLinearCombinedClassifier``: the scaled numbers
feed a small network (the deep part), the vocabulary ids, coordinate buckets and
hours, days and months feed a linear model (the wide part). The Trainer trains it on
``big_tipper`` with its own input functions, evaluates it and exports it with the
transform graph inside, so the served model takes raw taxi trips.

``args.hyperparameters`` may set ``hidden_units`` (default [64, 32, 16]).
"""

from components.trainer import estimator as tf_estimator

fc = tf_estimator.feature_column

DENSE_FLOAT_FEATURE_KEYS = ["trip_miles", "fare", "trip_seconds"]
VOCAB_FEATURE_KEYS = ["payment_type", "company"]
BUCKET_FEATURE_KEYS = [
    "pickup_latitude",
    "pickup_longitude",
    "dropoff_latitude",
    "dropoff_longitude",
]
# Each categorical feature with the number of values it can take (ids beyond become 0).
CATEGORICAL_FEATURES = {
    "trip_start_hour": 24,
    "trip_start_day": 8,
    "trip_start_month": 13,
    "pickup_community_area": 78,
    "dropoff_community_area": 78,
}
FEATURE_BUCKET_COUNT = 10
# Ids past the vocabulary: Transform maps unknown strings to one of OOV_SIZE buckets.
OOV_SIZE = 10


def transformed_name(key):
    """The name of a raw feature's transformed version: ``fare`` -> ``fare_xf``."""
    return key + "_xf"


def trainer_fn(args):
    """Builds the wide & deep classifier of ``big_tipper``."""
    tft_output = args.transform_output
    deep = [
        fc.numeric_column(transformed_name(key)) for key in DENSE_FLOAT_FEATURE_KEYS
    ]
    wide = [
        fc.categorical_column_with_identity(
            transformed_name(key),
            num_buckets=tft_output.vocabulary_size_by_name(key) + OOV_SIZE,
            default_value=0,
        )
        for key in VOCAB_FEATURE_KEYS
    ]
    wide += [
        fc.categorical_column_with_identity(
            transformed_name(key), num_buckets=FEATURE_BUCKET_COUNT, default_value=0
        )
        for key in BUCKET_FEATURE_KEYS
    ]
    wide += [
        fc.categorical_column_with_identity(
            transformed_name(key), num_buckets=size, default_value=0
        )
        for key, size in CATEGORICAL_FEATURES.items()
    ]
    return tf_estimator.DNNLinearCombinedClassifier(
        linear_feature_columns=wide,
        dnn_feature_columns=deep,
        dnn_hidden_units=args.hyperparameters.get("hidden_units", [64, 32, 16]),
        config=args.run_config,
        warm_start_from=args.warm_start_from,
    )
