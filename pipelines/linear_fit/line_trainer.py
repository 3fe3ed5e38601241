"""The linear_fit pipeline's trainer module: a model_fn that fits y = a·x + b.

Two variables, ``line/slope`` and ``line/intercept``, start at 0 and follow the
gradient of the mean squared error, batch by batch (plain SGD). On the 8 points of
the default run each batch is the whole data set, so this is gradient descent to
their least-squares line; on 8 million points it is stochastic gradient descent over
a stream that is read, never held in memory.

The evaluation reports the fitted ``slope`` and ``intercept`` beside ``rmse`` and
``mae``, so the Trainer's result shows them. ``args.hyperparameters`` may set
``learning_rate`` (default 0.1).
"""

import keras
import tensorflow as tf

from components.trainer import estimator as tf_estimator


def model_fn(features, labels, mode, params):
    """The line: predictions ``slope * x + intercept``; loss: mean squared error."""
    with tf.name_scope("line"):
        slope = tf.Variable(lambda: tf.zeros([]), name="slope")
        intercept = tf.Variable(lambda: tf.zeros([]), name="intercept")
    predictions = slope * features["x"] + intercept
    if mode == tf_estimator.ModeKeys.PREDICT:
        return tf_estimator.EstimatorSpec(
            mode, predictions={"predictions": predictions}
        )
    loss = tf.reduce_mean(tf.square(predictions - labels))
    metrics = {
        "rmse": keras.metrics.RootMeanSquaredError(),
        "mae": keras.metrics.MeanAbsoluteError(),
    }
    for metric in metrics.values():
        metric.update_state(labels, predictions)
    # The mean of a constant is the constant: the variables' values as metrics.
    for name, variable in (("slope", slope), ("intercept", intercept)):
        metrics[name] = keras.metrics.Mean()
        metrics[name].update_state(variable)
    return tf_estimator.EstimatorSpec(
        mode,
        predictions={"predictions": predictions},
        loss=loss,
        train_op=keras.optimizers.SGD(params["learning_rate"]),
        eval_metric_ops=metrics,
    )


def trainer_fn(args):
    """Builds the Estimator around ``model_fn``."""
    return tf_estimator.Estimator(
        model_fn,
        config=args.run_config.replace(log_step_count_steps=1000),
        params={"learning_rate": args.hyperparameters.get("learning_rate", 0.1)},
        warm_start_from=args.warm_start_from,
    )
