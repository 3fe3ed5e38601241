"""ModeKeys, EstimatorSpec and the rules for calling a model_fn.

A model_fn is ``model_fn(features, labels, mode, params, config)``; only ``features``
is required, the others are passed when the signature names them (as tf.estimator
did). It is traced inside ``tf.function``s, so it must build TensorFlow ops, not run
them; see ``docs/estimator.md`` ("The model_fn contract in TF2").

Example:
    >>> spec = EstimatorSpec(ModeKeys.PREDICT, predictions={"y": tf.constant([1.0])})
    >>> spec.mode, sorted(spec.predictions)
    ('infer', ['y'])
"""

from __future__ import annotations

import collections
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import tensorflow as tf

from components.trainer.estimator.errors import EstimatorSpecError

_VALID_MODEL_FN_ARGS = {"features", "labels", "mode", "params", "config"}


class ModeKeys:
    """The three modes a model_fn is called in; the values are tf.estimator's."""

    TRAIN = "train"
    EVAL = "eval"
    PREDICT = "infer"


_SPEC_FIELDS = [
    "mode",
    "predictions",
    "loss",
    "train_op",
    "eval_metric_ops",
    "export_outputs",
    "training_chief_hooks",
    "training_hooks",
    "scaffold",
    "evaluation_hooks",
    "prediction_hooks",
]


class EstimatorSpec(collections.namedtuple("EstimatorSpec", _SPEC_FIELDS)):
    """What a model_fn returns: predictions, loss, the training step, metrics, exports.

    The fields and their order are tf.estimator's. What TF2 changes:

    * ``train_op`` (required in TRAIN) is either a Keras optimizer, a pair
      ``(optimizer, var_list)``, or a list of such pairs (one optimizer per part of
      the model, as wide & deep uses) — the Estimator then differentiates ``loss``
      and applies the gradients, scaling the loss for multi-replica strategies — or the
      value of the model_fn's own ``optimizer.apply_gradients(...)`` (the TF guide's
      GradientTape style; any tensor, op or variable; the model_fn then owns the
      gradients and their scaling).
    * ``eval_metric_ops`` maps names to metric objects (``keras.metrics.*``, or any
      object with ``update_state``/``result``) that the model_fn has updated; the
      Estimator resets them before an evaluation and reads ``result()`` after it.
      ``tf.compat.v1.metrics`` pairs cannot run in TF2 and are refused.
    * ``scaffold`` must be None: variables are initialized by their initializers and
      restored by the Estimator; use ``WarmStartSettings`` for ``init_fn`` uses.
    * hooks are ``components.trainer.estimator.hooks.SessionRunHook`` objects.

    Args:
        mode: A ``ModeKeys`` value.
        predictions: A tensor or a dict of tensors; required in PREDICT.
        loss: A scalar tensor; required in TRAIN and EVAL.
        train_op: See above; required in TRAIN.
        eval_metric_ops: Dict of name to metric object (EVAL).
        export_outputs: Dict of signature name to ``export.ExportOutput`` (PREDICT).
        training_chief_hooks: Hooks run during training by the chief only.
        training_hooks: Hooks run during training.
        scaffold: Must be None.
        evaluation_hooks: Hooks run during evaluation.
        prediction_hooks: Hooks run during prediction.

    Raises:
        EstimatorSpecError: A required field is missing or a field has a wrong type.
    """

    def __new__(
        cls,
        mode,
        predictions=None,
        loss=None,
        train_op=None,
        eval_metric_ops=None,
        export_outputs=None,
        training_chief_hooks=None,
        training_hooks=None,
        scaffold=None,
        evaluation_hooks=None,
        prediction_hooks=None,
    ):
        if mode not in (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT):
            raise EstimatorSpecError(
                f"EstimatorSpec(mode={mode!r}): mode must be ModeKeys.TRAIN, "
                "ModeKeys.EVAL or ModeKeys.PREDICT; pass the `mode` the model_fn got."
            )
        if mode == ModeKeys.PREDICT and predictions is None:
            raise EstimatorSpecError(
                "EstimatorSpec in PREDICT mode needs predictions= (a tensor or a dict "
                "of tensors)."
            )
        if mode in (ModeKeys.TRAIN, ModeKeys.EVAL):
            if loss is None:
                raise EstimatorSpecError(
                    f"EstimatorSpec in {mode.upper()} mode needs loss= (a scalar "
                    "tensor)."
                )
            loss = _scalar_loss(loss)
        if mode == ModeKeys.TRAIN and train_op is None:
            raise EstimatorSpecError(
                "EstimatorSpec in TRAIN mode needs train_op=: pass the Keras optimizer "
                "(train_op=optimizer) to let the Estimator compute and apply the "
                "gradients of loss, or the result of the model_fn's own "
                "optimizer.apply_gradients(...)."
            )
        if scaffold is not None:
            raise EstimatorSpecError(
                "EstimatorSpec(scaffold=...) has no TF2 meaning: variables are "
                "initialized by their initializers and restored from model_dir by the "
                "Estimator. For a Scaffold init_fn that loaded pre-trained weights use "
                "Estimator(warm_start_from=WarmStartSettings(...)); drop the scaffold."
            )
        if predictions is not None and not isinstance(predictions, Mapping):
            if not tf.is_tensor(predictions):
                raise EstimatorSpecError(
                    "EstimatorSpec(predictions=...) must be a tensor or a dict of "
                    f"tensors; got {type(predictions).__name__}."
                )
        eval_metric_ops = dict(eval_metric_ops or {})
        for name, metric in eval_metric_ops.items():
            _check_metric(name, metric)
        export_outputs = dict(export_outputs) if export_outputs else None
        hooks = [
            list(h or [])
            for h in (
                training_chief_hooks,
                training_hooks,
                evaluation_hooks,
                prediction_hooks,
            )
        ]
        return super().__new__(
            cls,
            mode,
            predictions,
            loss,
            train_op,
            eval_metric_ops,
            export_outputs,
            hooks[0],
            hooks[1],
            None,
            hooks[2],
            hooks[3],
        )


def _scalar_loss(loss):
    loss = tf.convert_to_tensor(loss)
    if loss.shape.rank not in (None, 0):
        if loss.shape.num_elements() == 1:
            return tf.reshape(loss, [])
        raise EstimatorSpecError(
            f"EstimatorSpec(loss=...) must be a scalar; got shape {loss.shape}. "
            "Reduce it, e.g. tf.reduce_mean(per_example_loss)."
        )
    return loss


def _check_metric(name, metric):
    if isinstance(metric, tuple):
        raise EstimatorSpecError(
            f"eval_metric_ops[{name!r}] is a (value, update_op) pair, the form of "
            "tf.compat.v1.metrics, which cannot run in TF2. Use a Keras metric "
            "updated in the model_fn: `m = keras.metrics.Mean(); "
            f"m.update_state(values); eval_metric_ops={{{name!r}: m}}`."
        )
    if not (hasattr(metric, "update_state") and hasattr(metric, "result")):
        raise EstimatorSpecError(
            f"eval_metric_ops[{name!r}] must be a metric object with update_state() "
            f"and result() (e.g. keras.metrics.Accuracy()); got "
            f"{type(metric).__name__}."
        )


def model_fn_args(model_fn: Callable, params: Any) -> frozenset[str]:
    """Checks a model_fn's signature once and returns the argument names it takes.

    Args:
        model_fn: The user's model function.
        params: The ``params`` given to the Estimator.

    Returns:
        The subset of features, labels, mode, params, config that model_fn takes.

    Raises:
        EstimatorSpecError: model_fn lacks ``features``, takes unknown arguments, or
            does not take ``params`` although params were given.
    """
    if not callable(model_fn):
        raise EstimatorSpecError(
            f"Estimator(model_fn=...) must be callable; got {type(model_fn).__name__}."
        )
    signature = inspect.signature(model_fn)
    names = {
        p.name
        for p in signature.parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    bound_partial = getattr(model_fn, "keywords", None) or {}
    names -= set(bound_partial)
    where = getattr(model_fn, "__qualname__", None) or repr(model_fn)
    if "features" not in names:
        raise EstimatorSpecError(
            f"model_fn {where}{signature} must take a `features` argument: "
            "def model_fn(features, labels, mode, params, config)."
        )
    # An extra argument with a default value is never passed, so it is harmless.
    defaulted = {
        p.name
        for p in signature.parameters.values()
        if p.default is not inspect.Parameter.empty
    }
    unexpected = sorted(names - _VALID_MODEL_FN_ARGS - defaulted)
    if unexpected:
        raise EstimatorSpecError(
            f"model_fn {where}{signature} takes unexpected arguments {unexpected}; "
            f"a model_fn may take only {sorted(_VALID_MODEL_FN_ARGS)}. Bind others "
            "with functools.partial or pass them in params."
        )
    if params and "params" not in names:
        raise EstimatorSpecError(
            f"Estimator(params=...) was given but model_fn {where}{signature} takes "
            "no `params` argument; add one or drop params."
        )
    return frozenset(names)


def call_model_fn(
    model_fn: Callable,
    args: frozenset[str],
    features,
    labels,
    mode: str,
    params: dict,
    config,
) -> EstimatorSpec:
    """Calls model_fn with the arguments its signature takes and checks the result."""
    kwargs: dict[str, Any] = {}
    if "labels" in args:
        kwargs["labels"] = labels
    elif labels is not None:
        raise EstimatorSpecError(
            "the input_fn's dataset yields (features, labels) but model_fn takes no "
            "`labels` argument; add one or yield features only."
        )
    if "mode" in args:
        kwargs["mode"] = mode
    if "params" in args:
        kwargs["params"] = params
    if "config" in args:
        kwargs["config"] = config
    spec = model_fn(features=features, **kwargs)
    if not isinstance(spec, EstimatorSpec):
        raise EstimatorSpecError(
            f"model_fn must return an EstimatorSpec; in {mode} mode it returned "
            f"{type(spec).__name__}."
        )
    if spec.mode != mode:
        raise EstimatorSpecError(
            f"model_fn was called in mode {mode!r} but returned "
            f"EstimatorSpec(mode={spec.mode!r}); pass the `mode` argument through."
        )
    return spec
