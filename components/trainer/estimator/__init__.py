"""An Estimator for TensorFlow 2.21 and Keras 3 whose names follow tf.estimator.

A tf.estimator program moves by changing its import::

    from components.trainer import estimator as tf_estimator

    estimator = tf_estimator.Estimator(model_fn, model_dir, config=tf_estimator.RunConfig())
    tf_estimator.train_and_evaluate(estimator, train_spec, eval_spec)

The premade estimators (``LinearClassifier``, ``DNNClassifier``,
``DNNLinearCombinedClassifier`` and their regressor / any-head forms), the heads, the
feature columns (``tf_estimator.feature_column``, which also accepts
``tf.feature_column`` objects) and ``model_to_estimator`` for Keras 3 models are here
too; see ``docs/premade_estimators.md`` and ``docs/feature_columns.md``.

What changes inside a model_fn, and why, is in ``docs/estimator.md``.
"""

from components.trainer.estimator import export, feature_column
from components.trainer.estimator.canned.estimators import (
    DNNClassifier,
    DNNEstimator,
    DNNLinearCombinedClassifier,
    DNNLinearCombinedEstimator,
    DNNLinearCombinedRegressor,
    DNNRegressor,
    LinearClassifier,
    LinearEstimator,
    LinearRegressor,
)
from components.trainer.estimator.canned.heads import (
    BinaryClassHead,
    MultiClassHead,
    RegressionHead,
)
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
from components.trainer.estimator.keras import model_to_estimator
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
    "BinaryClassHead",
    "DNNClassifier",
    "DNNEstimator",
    "DNNLinearCombinedClassifier",
    "DNNLinearCombinedEstimator",
    "DNNLinearCombinedRegressor",
    "DNNRegressor",
    "LinearClassifier",
    "LinearEstimator",
    "LinearRegressor",
    "MultiClassHead",
    "RegressionHead",
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
    "feature_column",
    "model_to_estimator",
    "start_server",
    "train_and_evaluate",
]
