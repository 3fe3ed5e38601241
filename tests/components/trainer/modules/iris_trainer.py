"""A trainer module for the iris data: a DNNClassifier on the four measurements."""

from components.trainer import estimator as tf_estimator

FEATURES = ["Sepal Length", "Sepal Width", "Petal Length", "Petal Width"]


def trainer_fn(args):
    columns = [tf_estimator.feature_column.numeric_column(name) for name in FEATURES]
    return tf_estimator.DNNClassifier(
        hidden_units=args.hyperparameters.get("hidden_units", [16, 8]),
        feature_columns=columns,
        n_classes=3,
        config=args.run_config,
        warm_start_from=args.warm_start_from,
    )
