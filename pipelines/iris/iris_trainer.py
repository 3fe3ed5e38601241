"""The iris pipeline's trainer module: a DNNClassifier with its own checkpoint schedule.

The four measurements are numeric columns; ``Type`` (0, 1 or 2) is the label. The
run config the Trainer hands over (model_dir = the ModelRun artifact, a checkpoint
every 60 s) is changed to a checkpoint every ``save_checkpoints_steps`` steps,
keeping the newest ``keep_checkpoint_max``; with ``throttle_secs=0`` the model is
evaluated after every checkpoint, as tf.estimator's ``train_and_evaluate`` did.

``args.custom_config`` may set ``save_checkpoints_steps`` (default 100) and
``keep_checkpoint_max`` (default 3); ``args.hyperparameters`` may set
``hidden_units`` (default [10, 10]).
"""

from components.trainer import estimator as tf_estimator

FEATURE_KEYS = ["Sepal Length", "Sepal Width", "Petal Length", "Petal Width"]


def trainer_fn(args):
    """Builds the classifier, and the specs that evaluate it after each checkpoint."""
    config = args.run_config.replace(
        save_checkpoints_secs=None,
        save_checkpoints_steps=args.custom_config.get("save_checkpoints_steps", 100),
        keep_checkpoint_max=args.custom_config.get("keep_checkpoint_max", 3),
    )
    estimator = tf_estimator.DNNClassifier(
        hidden_units=args.hyperparameters.get("hidden_units", [10, 10]),
        feature_columns=[
            tf_estimator.feature_column.numeric_column(key) for key in FEATURE_KEYS
        ],
        n_classes=3,
        optimizer="Adam",
        learning_rate=0.01,
        config=config,
        warm_start_from=args.warm_start_from,
    )
    return {
        "estimator": estimator,
        "train_spec": tf_estimator.TrainSpec(
            args.train_input_fn, max_steps=args.train_steps
        ),
        "eval_spec": tf_estimator.EvalSpec(
            args.eval_input_fn, steps=None, throttle_secs=0
        ),
    }
