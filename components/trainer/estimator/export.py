"""Serving input receivers, export outputs, and writing the serving SavedModel.

The names are ``tf.estimator.export``'s. A serving_input_receiver_fn may create
``tf.compat.v1.placeholder``s as it did in TF1: it is run inside
``tf.compat.v1.wrap_function`` and pruned to a function from its receiver tensors
to its features, which the exported signatures call before the model_fn.

Example:
    >>> feature_spec = {"x": tf.io.FixedLenFeature([2], tf.float32)}
    >>> receiver = build_parsing_serving_input_receiver_fn(feature_spec)
    >>> inputs = receiver_signature(receiver)
    >>> sorted(inputs.receiver_specs), sorted(inputs.features_spec)
    (['examples'], ['x'])
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from components.trainer.estimator.errors import EstimatorSpecError
from components.trainer.estimator.model_fn import ModeKeys

logger = logging.getLogger(__name__)

DEFAULT_SERVING_SIGNATURE_DEF_KEY = "serving_default"
PREDICT_SIGNATURE_KEY = "predict"


# ---------------------------------------------------------------- receivers


class ServingInputReceiver:
    """The serving inputs (receiver tensors) and the features made from them.

    Args:
        features: A tensor or dict of tensors given to the model_fn; a single tensor
            is wrapped as ``{"feature": tensor}`` (use TensorServingInputReceiver to
            pass it as is).
        receiver_tensors: The signature's inputs: a tensor or dict of tensors; a
            single tensor is named ``input``.
        receiver_tensors_alternatives: Not supported; must be None.
    """

    _wrap_features = True

    def __init__(self, features, receiver_tensors, receiver_tensors_alternatives=None):
        if receiver_tensors_alternatives:
            raise EstimatorSpecError(
                "ServingInputReceiver(receiver_tensors_alternatives=...) is not "
                "supported; export one receiver per export_saved_model call."
            )
        if features is None:
            raise EstimatorSpecError("ServingInputReceiver: features must be given.")
        if self._wrap_features and not isinstance(features, dict):
            features = {"feature": features}
        if not isinstance(receiver_tensors, dict):
            receiver_tensors = {"input": receiver_tensors}
        self.features = features
        self.receiver_tensors = receiver_tensors
        self.receiver_tensors_alternatives = None


class TensorServingInputReceiver(ServingInputReceiver):
    """A ServingInputReceiver whose single-tensor features reach model_fn as is."""

    _wrap_features = False


def build_parsing_serving_input_receiver_fn(
    feature_spec: dict, default_batch_size: int | None = None
) -> Callable[[], ServingInputReceiver]:
    """A receiver fn taking serialized ``tf.Example``s and parsing them.

    Args:
        feature_spec: Maps feature names to ``tf.io.FixedLenFeature`` /
            ``VarLenFeature`` / ... as for ``tf.io.parse_example``.
        default_batch_size: The batch size of the input (None: any).

    Returns:
        A serving_input_receiver_fn whose signature input is ``examples``.
    """

    def serving_input_receiver_fn():
        serialized = tf.compat.v1.placeholder(
            tf.string, [default_batch_size], name="input_example_tensor"
        )
        features = tf.io.parse_example(serialized, feature_spec)
        return ServingInputReceiver(features, {"examples": serialized})

    return serving_input_receiver_fn


def build_raw_serving_input_receiver_fn(
    features: dict, default_batch_size: int | None = None
) -> Callable[[], ServingInputReceiver]:
    """A receiver fn taking the features themselves as the signature's inputs.

    Args:
        features: Maps names to example tensors (or ``tf.TensorSpec``s) whose dtype
            and shape, after the batch dimension, the inputs take.
        default_batch_size: The batch size of the input (None: any).

    Returns:
        A serving_input_receiver_fn with one input per feature.
    """

    def serving_input_receiver_fn():
        receivers = {}
        for name, value in features.items():
            shape = tf.TensorShape(value.shape)
            receivers[name] = tf.compat.v1.placeholder(
                value.dtype, [default_batch_size] + shape[1:].as_list(), name=name
            )
        return ServingInputReceiver(dict(receivers), receivers)

    return serving_input_receiver_fn


@dataclasses.dataclass
class ReceiverSignature:
    """A receiver fn made TF2: input specs and a function from inputs to features."""

    receiver_specs: dict[str, tf.TensorSpec]
    features_fn: Any
    features_spec: Any
    feed_order: list[str]
    module: Any = None  # what the features_fn uses (e.g. transform tables); saved along

    def features(self, inputs: dict):
        """The features for a dict of receiver tensors."""
        return self.features_fn(*[inputs[name] for name in self.feed_order])


def receiver_signature(serving_input_receiver_fn: Callable) -> ReceiverSignature:
    """Makes a receiver fn TF2: input specs and a function from inputs to features.

    A TF2-native receiver fn (one with ``receiver_tensors_spec``, as
    ``components.input_fn`` builds) is called on the signature's tensors directly;
    any other runs once in a v1 graph and is pruned to inputs -> features.
    """
    if hasattr(serving_input_receiver_fn, "receiver_tensors_spec"):
        return _native_receiver_signature(serving_input_receiver_fn)
    captured = {}

    def build():
        receiver = serving_input_receiver_fn()
        if not (
            hasattr(receiver, "features") and hasattr(receiver, "receiver_tensors")
        ):
            raise EstimatorSpecError(
                "serving_input_receiver_fn must return export.ServingInputReceiver; "
                f"got {type(receiver).__name__}."
            )
        captured["receiver"] = receiver

    wrapped = tf.compat.v1.wrap_function(build, signature=[])
    receiver = captured["receiver"]
    feed_order = sorted(receiver.receiver_tensors)
    feeds = [receiver.receiver_tensors[name] for name in feed_order]
    features_fn = wrapped.prune(feeds=feeds, fetches=receiver.features)
    specs = {
        name: tf.TensorSpec(tensor.shape, tensor.dtype, name=name)
        for name, tensor in receiver.receiver_tensors.items()
    }
    features_spec = tf.nest.map_structure(
        lambda t: tf.type_spec_from_value(t), receiver.features
    )
    return ReceiverSignature(specs, features_fn, features_spec, feed_order)


def _native_receiver_signature(receiver_fn: Callable) -> ReceiverSignature:
    specs = dict(receiver_fn.receiver_tensors_spec)
    feed_order = sorted(specs)

    def features_fn(*tensors):
        return receiver_fn(dict(zip(feed_order, tensors))).features

    traced = tf.function(features_fn).get_concrete_function(
        *[specs[name] for name in feed_order]
    )
    features_spec = tf.nest.map_structure(
        tf.type_spec_from_value, traced.structured_outputs
    )
    return ReceiverSignature(
        specs,
        features_fn,
        features_spec,
        feed_order,
        getattr(receiver_fn, "module", None),
    )


# ---------------------------------------------------------------- export outputs


class ExportOutput:
    """The outputs of one serving signature, made from model_fn tensors."""

    def outputs(self) -> dict[str, tf.Tensor]:
        """The signature's outputs by name."""
        raise NotImplementedError

    single_string_input = False


class PredictOutput(ExportOutput):
    """Any tensors, by name (a single tensor is named ``output``).

    Args:
        outputs: A tensor or dict of tensors.
    """

    def __init__(self, outputs):
        if not isinstance(outputs, dict):
            outputs = {"output": outputs}
        for key, value in outputs.items():
            if not tf.is_tensor(value):
                raise EstimatorSpecError(
                    f"PredictOutput: output {key!r} must be a tensor; got "
                    f"{type(value).__name__}."
                )
        self._outputs = dict(outputs)

    def outputs(self):
        return dict(self._outputs)


class ClassificationOutput(ExportOutput):
    """Class scores and/or class names, as TF Serving's Classify API expects.

    Args:
        scores: A float tensor [batch, num_classes].
        classes: A string tensor [batch, num_classes].
    """

    single_string_input = True

    def __init__(self, scores=None, classes=None):
        if scores is None and classes is None:
            raise EstimatorSpecError(
                "ClassificationOutput needs scores, classes, or both."
            )
        if classes is not None and classes.dtype != tf.string:
            raise EstimatorSpecError(
                "ClassificationOutput(classes=...) must be a string tensor; got "
                f"{classes.dtype.name} (map ids to names, e.g. tf.strings.as_string)."
            )
        self.scores, self.classes = scores, classes

    def outputs(self):
        out = {}
        if self.scores is not None:
            out["scores"] = self.scores
        if self.classes is not None:
            out["classes"] = self.classes
        return out


class RegressionOutput(ExportOutput):
    """One float value per example, as TF Serving's Regress API expects.

    Args:
        value: A float tensor [batch] or [batch, 1].
    """

    single_string_input = True

    def __init__(self, value):
        if not tf.is_tensor(value) or not value.dtype.is_floating:
            raise EstimatorSpecError(
                "RegressionOutput(value=...) must be a float tensor."
            )
        self.value = value

    def outputs(self):
        return {"outputs": self.value}


def signature_outputs(spec) -> dict[str, ExportOutput]:
    """The signatures of an export, by key: the spec's plus defaults.

    ``serving_default`` is the single export output when there is one, or
    ``PredictOutput(predictions)`` when there is none; ``predict`` (all
    predictions) is added unless the model_fn named one so.

    Raises:
        EstimatorSpecError: Several export outputs and none is ``serving_default``.
    """
    outputs = dict(spec.export_outputs or {})
    for key, value in outputs.items():
        if not isinstance(value, ExportOutput):
            raise EstimatorSpecError(
                f"export_outputs[{key!r}] must be an export.PredictOutput, "
                f"ClassificationOutput or RegressionOutput; got {type(value).__name__}."
            )
    if not outputs:
        outputs[DEFAULT_SERVING_SIGNATURE_DEF_KEY] = PredictOutput(spec.predictions)
    elif DEFAULT_SERVING_SIGNATURE_DEF_KEY not in outputs:
        if len(outputs) > 1:
            raise EstimatorSpecError(
                f"export_outputs has several entries {sorted(outputs)} but none is "
                f"{DEFAULT_SERVING_SIGNATURE_DEF_KEY!r}; name the default one so."
            )
        outputs[DEFAULT_SERVING_SIGNATURE_DEF_KEY] = next(iter(outputs.values()))
    if PREDICT_SIGNATURE_KEY not in outputs:
        outputs[PREDICT_SIGNATURE_KEY] = PredictOutput(spec.predictions)
    return outputs


# ---------------------------------------------------------------- writing


def export_saved_model(
    estimator,
    export_dir_base: str,
    serving_input_receiver_fn: Callable,
    checkpoint_path: str,
    assets_extra: dict | None = None,
) -> bytes:
    """Writes ``<export_dir_base>/<timestamp>`` with a SavedModel of a checkpoint.

    A fresh model (default strategy) is built for PREDICT from the receiver's
    features and restored from ``checkpoint_path``; each signature is a
    ``tf.function`` that parses the receiver inputs and calls the model_fn.
    """
    from components.trainer.estimator.runtime import Runtime

    receiver = receiver_signature(serving_input_receiver_fn)
    runtime = Runtime(
        estimator.model_fn,
        estimator.params,
        estimator.config,
        tf.distribute.get_strategy(),
    )
    runtime.prepare(ModeKeys.PREDICT, receiver.features_spec, checkpoint_path)
    keys = signature_outputs(runtime.built[ModeKeys.PREDICT].spec)

    def make_signature(key: str, single_input: str | None):
        def serve(**inputs):
            if single_input is not None:
                inputs = {single_input: inputs["inputs"]}
            features = receiver.features(inputs)
            spec = runtime.call_model_fn(features, None, ModeKeys.PREDICT)
            return signature_outputs(spec)[key].outputs()

        specs = dict(receiver.receiver_specs)
        if single_input is not None:
            specs = {"inputs": tf.TensorSpec(specs[single_input].shape, tf.string)}
        return tf.function(serve).get_concrete_function(**specs)

    single = None
    strings = [n for n, s in receiver.receiver_specs.items() if s.dtype == tf.string]
    if len(receiver.receiver_specs) == 1 and strings:
        single = strings[0]
    signatures = {}
    for key, output in keys.items():
        uses_inputs = output.single_string_input and single is not None
        signatures[key] = make_signature(key, single if uses_inputs else None)

    root = tf.Module()
    root.model_variables = runtime.store.saved_variables()
    if receiver.module is not None:
        root.receiver = receiver.module
    export_dir = _timestamped_dir(export_dir_base)
    temp_dir = os.path.join(
        os.path.dirname(export_dir), "temp-" + os.path.basename(export_dir)
    )
    tf.saved_model.save(root, temp_dir, signatures=signatures)
    for destination, source in (assets_extra or {}).items():
        target = os.path.join(temp_dir, "assets.extra", destination)
        tf.io.gfile.makedirs(os.path.dirname(target))
        tf.io.gfile.copy(source, target, overwrite=True)
    tf.io.gfile.rename(temp_dir, export_dir)
    logger.info("SavedModel of %s written to %s", checkpoint_path, export_dir)
    return export_dir.encode()


def _timestamped_dir(export_dir_base: str) -> str:
    export_dir_base = os.fspath(export_dir_base)
    tf.io.gfile.makedirs(export_dir_base)
    stamp = int(time.time())
    while tf.io.gfile.exists(os.path.join(export_dir_base, str(stamp))) or (
        tf.io.gfile.exists(os.path.join(export_dir_base, f"temp-{stamp}"))
    ):
        stamp += 1
    return os.path.join(export_dir_base, str(stamp))


def remove_export(path: str) -> None:
    """Deletes an export directory (used by exporters to keep the newest N)."""
    shutil.rmtree(path, ignore_errors=True)
