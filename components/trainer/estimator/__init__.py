"""An Estimator for TensorFlow 2.21 and Keras 3 whose names follow tf.estimator.

A tf.estimator program moves by changing its import::

    from components.trainer import estimator as tf_estimator

    estimator = tf_estimator.Estimator(model_fn, model_dir, config=tf_estimator.RunConfig())
    tf_estimator.train_and_evaluate(estimator, train_spec, eval_spec)

What changes inside a model_fn, and why, is in ``docs/estimator.md``.
"""

from components.trainer.estimator import export
from components.trainer.estimator.distribution import start_server
from components.trainer.estimator.errors import (
    CheckpointMismatchError,
    EstimatorError,
    EstimatorSpecError,
    NanLossDuringTrainingError,
    NoCheckpointError,
)
from components.trainer.estimator.estimator import Estimator
from components.trainer.estimator.exporters import (
    BestExporter,
    Exporter,
    FinalExporter,
    LatestExporter,
)
from components.trainer.estimator.hooks import (
    CheckpointSaverListener,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
    StopAtStepHook,
)
from components.trainer.estimator.model_fn import EstimatorSpec, ModeKeys
from components.trainer.estimator.run_config import RunConfig
from components.trainer.estimator.training import (
    EvalSpec,
    TrainSpec,
    train_and_evaluate,
)
from components.trainer.estimator.warm_starting import WarmStartSettings

__all__ = [
    "BestExporter",
    "CheckpointMismatchError",
    "CheckpointSaverListener",
    "Estimator",
    "EstimatorError",
    "EstimatorSpec",
    "EstimatorSpecError",
    "EvalSpec",
    "Exporter",
    "FinalExporter",
    "LatestExporter",
    "ModeKeys",
    "NanLossDuringTrainingError",
    "NoCheckpointError",
    "RunConfig",
    "SessionRunContext",
    "SessionRunHook",
    "SessionRunValues",
    "StopAtStepHook",
    "TrainSpec",
    "WarmStartSettings",
    "export",
    "start_server",
    "train_and_evaluate",
]
