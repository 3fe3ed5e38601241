"""The penguins pipeline's trainer module: a DNNClassifier of the three species.

The four measurements (already scaled to [0, 1] in penguins_processed.csv) are
numeric columns; ``species`` is the label, 0, 1 or 2. The Trainer parses the raw
examples with the schema, trains, evaluates and exports the model.

``args.hyperparameters`` may set ``hidden_units`` (default [8, 8]) and
``learning_rate`` (default 0.01, for Adam).
"""

from components.trainer import estimator as tf_estimator

FEATURE_KEYS = [
    "culmen_length_mm",
    "culmen_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
]


def trainer_fn(args):
    """Builds the species classifier."""
    columns = [tf_estimator.feature_column.numeric_column(key) for key in FEATURE_KEYS]
    return tf_estimator.DNNClassifier(
        hidden_units=args.hyperparameters.get("hidden_units", [8, 8]),
        feature_columns=columns,
        n_classes=3,
        optimizer="Adam",
        learning_rate=args.hyperparameters.get("learning_rate", 0.01),
        config=args.run_config,
        warm_start_from=args.warm_start_from,
    )
