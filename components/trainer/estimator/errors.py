"""The errors the Estimator raises; each is an ``MlpipeError`` and a builtin error.

The builtin base keeps ``except ValueError`` in tf.estimator programs working::

    EstimatorError (MlpipeError)
    ├── EstimatorSpecError (ValueError)        a model_fn, input_fn or argument is wrong
    ├── CheckpointMismatchError (ValueError)   the model does not fit model_dir's checkpoints
    ├── NoCheckpointError (ValueError)         model_dir holds no checkpoint yet
    └── NanLossDuringTrainingError (RuntimeError)   the training loss became NaN

Example:
    >>> from components.trainer.estimator.errors import CheckpointMismatchError
    >>> issubclass(CheckpointMismatchError, ValueError)
    True
"""

from __future__ import annotations

from pipeline.errors import MlpipeError


class EstimatorError(MlpipeError):
    """The base of every error the Estimator raises on purpose."""

    # AutoGraph re-raises an error from traced code as its own type only when the
    # type is built like Exception; otherwise the user sees a StagingError.
    __init__ = Exception.__init__


class EstimatorSpecError(EstimatorError, ValueError):
    """A model_fn, an input_fn, an EstimatorSpec or an argument is not usable."""


class CheckpointMismatchError(EstimatorError, ValueError):
    """The model built by model_fn does not fit the checkpoint it must start from."""


class NoCheckpointError(EstimatorError, ValueError):
    """A method that reads a checkpoint found none in model_dir."""


class NanLossDuringTrainingError(EstimatorError, RuntimeError):
    """The training loss became NaN (tf.estimator's NanTensorHook, built in)."""
