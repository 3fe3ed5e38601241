"""model_to_estimator: an Estimator that trains, evaluates and serves a Keras 3 model.

``tf.keras.estimator.model_to_estimator``'s API on this package's Estimator. The
model_fn rebuilds the Keras model from its config on every call, so the Estimator
creates, checkpoints and distributes its variables like any model_fn's:

* the variables start from the Keras model's weights *at conversion*: the rebuilt
  model's variables get them as initial values, so the first ``train``,
  ``evaluate`` or ``predict`` in an empty model_dir starts from them (and a
  model_dir with checkpoints starts from its newest one, as always);
* training minimizes the compiled loss (``loss``, ``loss_weights``) plus the
  model's regularization losses with a fresh optimizer of the compiled one's class
  and config (its slots and ``iterations`` start anew);
* ``evaluate`` reports the compiled metrics under the names ``model.evaluate``
  gives them (``accuracy``, ``<output>_accuracy``, ``<output>_loss``);
* predictions are a dict keyed by the model's output names; the exported
  ``serving_default`` signature returns them (``PredictOutput``).

Features are a dict keyed by the model's input names (a single-input model also
takes a tensor, or a dict with one entry); labels are a tensor for a single-output
model, else a dict keyed by output names.

Example:
    >>> import keras
    >>> import numpy as np
    >>> model = keras.Sequential(
    ...     [keras.Input((2,), name="x"), keras.layers.Dense(1, name="y")]
    ... )
    >>> model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    >>> x = np.array([[1.0, 2.0], [3.0, 1.0], [0.0, 1.0], [2.0, 2.0]], np.float32)
    >>> def input_fn():
    ...     y = x.sum(1, keepdims=True)
    ...     return tf.data.Dataset.from_tensor_slices(({"x": x}, y)).batch(4)
    >>> estimator = model_to_estimator(model)
    >>> first = next(estimator.predict(input_fn, yield_single_examples=False))["y"]
    >>> bool(np.allclose(first, model(x), atol=1e-6))
    True
    >>> estimator = estimator.train(lambda: input_fn().repeat(), steps=50)
    >>> sorted(estimator.evaluate(input_fn))
    ['global_step', 'loss', 'mae']
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import logging
import os
from collections.abc import Callable, Mapping

import numpy as np
import tensorflow as tf

from components.trainer.estimator.errors import EstimatorSpecError
from components.trainer.estimator.model_fn import EstimatorSpec, ModeKeys
from components.trainer.estimator.variables import (
    _fresh_keras_uids,
    _restore_keras_uids,
    unwrap,
)

logger = logging.getLogger(__name__)

_SINGLE, _LIST, _DICT, _AS_GIVEN = "single", "list", "dict", "as given"
_RESERVED_RESULT_KEYS = ("loss", "global_step")


def model_to_estimator(
    keras_model=None,
    keras_model_path: str | os.PathLike | None = None,
    custom_objects: dict | None = None,
    model_dir: str | os.PathLike | None = None,
    config=None,
    checkpoint_format: str = "checkpoint",
    metric_names_map: dict[str, str] | None = None,
    export_outputs: dict[str, Callable] | None = None,
):
    """Makes an Estimator that trains, evaluates and serves a compiled Keras model.

    Args:
        keras_model: A compiled Keras 3 model (Sequential, functional, or a
            subclassed model with ``get_config``); exclusive with
            ``keras_model_path``.
        keras_model_path: A ``.keras`` file of a compiled model
            (``keras.saving.load_model``).
        custom_objects: Custom layers, losses and metrics by name, for loading and
            rebuilding the model.
        model_dir: Where checkpoints and summaries go (as ``Estimator``).
        config: A ``RunConfig``.
        checkpoint_format: ``"checkpoint"`` (object-based checkpoints, the only
            format this Estimator writes).
        metric_names_map: Renames evaluation metrics: Keras name (as
            ``model.evaluate`` reports it, e.g. ``"out_1_accuracy"``) to the name
            ``evaluate`` should report.
        export_outputs: Maps an output name to an ``export.ExportOutput`` class
            (``RegressionOutput``, ``ClassificationOutput``, ``PredictOutput``)
            applied to that output; each entry becomes a serving signature. A key
            that is not an output name gets the whole predictions dict. Default:
            ``serving_default`` returns every output (``PredictOutput``).

    Returns:
        An ``Estimator`` whose variables start from the model's current weights.

    Raises:
        EstimatorSpecError: Both or neither of keras_model and keras_model_path,
            an uncompiled model, a model that cannot be rebuilt, or a wrong
            argument.
    """
    from components.trainer.estimator.estimator import Estimator

    return estimator_from_keras(
        Estimator,
        keras_model=keras_model,
        keras_model_path=keras_model_path,
        custom_objects=custom_objects,
        model_dir=model_dir,
        config=config,
        checkpoint_format=checkpoint_format,
        metric_names_map=metric_names_map,
        export_outputs=export_outputs,
    )


def estimator_from_keras(estimator_class, *, model_dir=None, config=None, **kwargs):
    """``model_to_estimator`` making an instance of ``estimator_class``.

    ``Estimator.from_keras_model`` calls it so that a subclass of Estimator gets
    an instance of itself.

    Args:
        estimator_class: ``Estimator`` or a subclass of it.
        model_dir: As for ``model_to_estimator``.
        config: As for ``model_to_estimator``.
        **kwargs: ``model_to_estimator``'s other arguments.

    Returns:
        ``estimator_class(model_fn, model_dir=model_dir, config=config)``.
    """
    return estimator_class(_KerasModelFn(**kwargs), model_dir=model_dir, config=config)


class _KerasModelFn:
    """The model_fn of a converted Keras model (see the module docstring).

    Everything it needs from the Keras model is read once, here: the weights, the
    compile arguments, the optimizer's config and the input and output names.
    Later changes to the Keras model (more training, a new ``compile``) do not
    reach the Estimator: each call rebuilds the model from the config read here.
    """

    def __init__(
        self,
        keras_model=None,
        keras_model_path=None,
        custom_objects=None,
        checkpoint_format="checkpoint",
        metric_names_map=None,
        export_outputs=None,
    ):
        model = _load(keras_model, keras_model_path, custom_objects)
        if checkpoint_format != "checkpoint":
            raise EstimatorSpecError(
                f"model_to_estimator(checkpoint_format={checkpoint_format!r}): this "
                "Estimator writes object-based checkpoints only; pass "
                "checkpoint_format='checkpoint' (the default)."
            )
        self._name = model.name
        self._custom_objects = {
            type(model).__name__: type(model),
            **(custom_objects or {}),
        }
        self._architecture = _architecture(model, self._custom_scope)
        self._metric_names_map = _checked_names_map(metric_names_map)
        self._export_outputs = _checked_export_outputs(export_outputs)
        self._input_kind, self._input_names = _input_structure(model)
        self._output_kind, self._output_names = _output_structure(model)
        compiled = dict(model._compile_config.config)
        names = self._output_names
        self._losses = _per_output(compiled.get("loss"), names, "loss")
        self._loss_weights = _per_output(
            compiled.get("loss_weights"), names, "loss_weights"
        )
        self._metrics = _metric_templates(compiled.get("metrics"))
        self._weighted_metrics = _metric_templates(compiled.get("weighted_metrics"))
        self._needs_labels = [
            loss is not None or has_metrics
            for loss, has_metrics in zip(
                self._losses, _outputs_with_metrics(compiled, names)
            )
        ]
        optimizer = model.optimizer
        if optimizer is None:
            raise _uncompiled(model)
        # Without its name (an auto name such as "adam_3" counts the optimizers the
        # process made before), the fresh optimizer is named after its class, and
        # so are its variables in every process.
        optimizer_config = optimizer.get_config()
        optimizer_config.pop("name", None)
        self._optimizer = (type(optimizer), optimizer_config)
        self._keras_output_names = getattr(model, "output_names", None)
        self._initial = None
        if model.built and model.weights:
            self._initial = _InitialValues(self._rebuild, model)
        else:
            self._rebuild()  # fails here, not in the first model_fn call
            logger.info(
                "Keras model %s has no weights yet (it is not built): the "
                "Estimator's variables start from the layers' initializers.",
                model.name,
            )

    def __repr__(self) -> str:
        return f"_KerasModelFn({self._name!r})"

    # ----------------------------------------------------------------- model_fn

    # Plain Python run at trace time: no data-dependent control flow to convert,
    # and AutoGraph's conversion of the creator scope broke variable creation.
    @tf.autograph.experimental.do_not_convert
    def __call__(self, features, labels, mode):
        training = mode == ModeKeys.TRAIN
        inputs = self._inputs(features)
        initial = self._initial.giving() if self._initial else _nothing()
        with initial as check:
            model = self._rebuild()
            outputs = model(inputs, training=training)
            check(model)
        y_pred = self._flat_outputs(outputs)
        predictions = dict(zip(self._output_names, y_pred))
        if mode == ModeKeys.PREDICT:
            return EstimatorSpec(
                mode,
                predictions=predictions,
                export_outputs=self._signatures(predictions),
            )
        y_true = self._labels(labels, y_pred)
        loss, per_output = self._loss(y_true, y_pred, model)
        if mode == ModeKeys.TRAIN:
            optimizer_class, optimizer_config = self._optimizer
            with self._custom_scope():
                optimizer = optimizer_class.from_config(dict(optimizer_config))
            return EstimatorSpec(
                mode,
                predictions=predictions,
                loss=loss,
                train_op=(optimizer, model.trainable_variables),
            )
        metrics = self._eval_metrics(y_true, y_pred, per_output)
        return EstimatorSpec(
            mode, predictions=predictions, loss=loss, eval_metric_ops=metrics
        )

    def _custom_scope(self):
        import keras

        return keras.saving.custom_object_scope(self._custom_objects)

    def _rebuild(self):
        """A new, uncompiled copy of the model (new variables, built if it was)."""
        import keras

        with self._custom_scope():
            try:
                return keras.saving.deserialize_keras_object(
                    copy.deepcopy(self._architecture), safe_mode=False
                )
            except Exception as exc:
                raise EstimatorSpecError(
                    f"model_to_estimator could not rebuild Keras model {self._name!r} "
                    f"from its config: {exc}\nA subclassed model needs get_config() "
                    "returning its constructor arguments (and from_config() if they "
                    "are not plain values); pass custom layers, losses and metrics "
                    "in custom_objects."
                ) from exc

    # ----------------------------------------------------------------- inputs

    def _inputs(self, features):
        kind, names = self._input_kind, self._input_names
        if kind == _AS_GIVEN:
            return features
        if kind == _SINGLE:
            if not isinstance(features, Mapping):
                return features
            if names and names[0] in features:
                return features[names[0]]
            if len(features) == 1:
                return next(iter(features.values()))
            if not names:
                raise EstimatorSpecError(
                    f"Keras model {self._name!r} takes one input; the input_fn's "
                    f"features have several ({sorted(features)}). Yield the input "
                    "tensor alone, or a dict with one entry."
                )
            raise self._missing_features(features, names[:1])
        if not isinstance(features, Mapping):
            raise EstimatorSpecError(
                f"Keras model {self._name!r} takes inputs {names}; the "
                "input_fn's features must be a dict keyed by these names, got "
                f"{type(features).__name__}."
            )
        missing = [name for name in names if name not in features]
        if missing:
            raise self._missing_features(features, missing)
        if kind == _DICT:
            return {name: features[name] for name in names}
        return [features[name] for name in names]

    def _missing_features(self, features, missing):
        hints = []
        for name in missing:
            close = difflib.get_close_matches(name, list(features), n=1)
            if close:
                hints.append(f"{close[0]!r} for {name!r}")
        hint = f" Did you mean {', '.join(hints)}?" if hints else ""
        return EstimatorSpecError(
            f"Keras model {self._name!r} takes inputs {self._input_names}, "
            f"but the input_fn's features have no {missing} (their keys: "
            f"{sorted(features)}).{hint} Key the features by the model's input "
            "names, or name the inputs after the features with "
            "keras.Input(..., name=...)."
        )

    # ----------------------------------------------------------------- outputs

    def _flat_outputs(self, outputs) -> list:
        if self._output_kind == _DICT:
            return [outputs[name] for name in self._output_names]
        if self._output_kind == _LIST:
            return list(outputs)
        return [outputs]

    def _structured(self, flat: list):
        """Values per output in the structure the model returns (for Keras)."""
        if self._output_kind == _DICT:
            return dict(zip(self._output_names, flat))
        if self._output_kind == _LIST:
            return list(flat)
        return flat[0]

    def _signatures(self, predictions: dict):
        if not self._export_outputs:
            return None
        return {
            key: make(predictions.get(key, predictions))
            for key, make in self._export_outputs.items()
        }

    def _labels(self, labels, y_pred: list) -> list:
        names = self._output_names
        if labels is None:
            raise EstimatorSpecError(
                f"Keras model {self._name!r} needs labels to train and "
                "evaluate: the input_fn's dataset must yield (features, labels)."
            )
        if isinstance(labels, Mapping):
            if len(names) == 1 and names[0] not in labels and len(labels) == 1:
                return [next(iter(labels.values()))]
            missing = [
                name
                for name, needed in zip(names, self._needs_labels)
                if needed and name not in labels
            ]
            if missing:
                raise EstimatorSpecError(
                    f"Keras model {self._name!r} has outputs {names}; the "
                    f"labels have no {missing} (their keys: {sorted(labels)}). Key "
                    "the labels by output name (each output with a loss or metric "
                    "needs one)."
                )
            values = [labels.get(name) for name in names]
        elif isinstance(labels, (list, tuple)):
            if len(labels) != len(names):
                raise EstimatorSpecError(
                    f"Keras model {self._name!r} has outputs {names}; got "
                    f"{len(labels)} labels. Yield a dict keyed by output name."
                )
            values = list(labels)
        elif len(names) == 1:
            values = [labels]
        else:
            raise EstimatorSpecError(
                f"Keras model {self._name!r} has outputs {names}; the labels "
                "must be a dict keyed by these names, got a single tensor."
            )
        # An output without labels has no loss or metric; its own prediction
        # stands in so that Keras sees every output.
        return [p if t is None else t for t, p in zip(values, y_pred)]

    # ----------------------------------------------------------------- loss

    def _loss(self, y_true: list, y_pred: list, model):
        """The compiled loss plus the model's losses; and each output's loss."""
        import keras

        # What model.compile resolves losses with ("crossentropy" by label shape,
        # functions, Loss objects); Keras does not export it.
        from keras.src.trainers.compile_utils import get_loss

        floatx = keras.backend.floatx()
        terms = []
        with self._custom_scope():
            for name, identifier, weight, t, p in zip(
                self._output_names, self._losses, self._loss_weights, y_true, y_pred
            ):
                if identifier is not None:
                    value = tf.cast(get_loss(identifier, t, p)(t, p), floatx)
                    terms.append((name, value, weight))
        added = [tf.reduce_sum(tf.cast(value, floatx)) for value in model.losses]
        if not terms and not added:
            raise EstimatorSpecError(
                f"Keras model {self._name!r} was compiled without a loss and "
                "adds none; compile it with loss=..."
            )
        weighted = [v if w is None else v * w for _, v, w in terms]
        total = tf.add_n(weighted + added)
        # Keras tracks each output's (unweighted) loss when there are several.
        per_output = [(name, value) for name, value, _ in terms]
        return total, per_output if len(terms) > 1 else []

    # ----------------------------------------------------------------- metrics

    def _eval_metrics(self, y_true: list, y_pred: list, per_output) -> dict:
        """The compiled metrics, updated, by the names model.evaluate gives them."""
        import keras
        from keras.src.trainers.compile_utils import CompileMetrics

        metrics = {}
        batch = tf.cast(tf.shape(y_pred[0])[0], keras.backend.floatx())
        for name, value in per_output:
            tracker = keras.metrics.Mean(name=f"{name}_loss")
            tracker.update_state(value, sample_weight=batch)
            metrics[tracker.name] = tracker
        if self._metrics or self._weighted_metrics:
            with self._custom_scope():
                compiled = CompileMetrics(
                    _materialized(self._metrics),
                    _materialized(self._weighted_metrics),
                    output_names=self._keras_output_names,
                )
                compiled.update_state(
                    self._structured(y_true), self._structured(y_pred)
                )
            # result() names the metrics as model.evaluate does, in the order of
            # compiled.metrics; it is only traced here, never run.
            names, objects = list(compiled.result()), compiled.metrics
            if len(names) != len(objects):
                raise EstimatorSpecError(
                    f"Keras reports metrics {names} for model {self._name!r} "
                    f"but built {len(objects)} metric objects; cannot match them."
                )
            metrics.update(zip(names, objects))
        return self._renamed(metrics)

    def _renamed(self, metrics: dict) -> dict:
        renames = self._metric_names_map or {}
        unknown = sorted(set(renames) - set(metrics))
        if unknown:
            hints = [
                f"{name!r} -> {close[0]!r}"
                for name in unknown
                for close in [difflib.get_close_matches(name, list(metrics), n=1)]
                if close
            ]
            hint = f" Did you mean {', '.join(hints)}?" if hints else ""
            raise EstimatorSpecError(
                f"model_to_estimator(metric_names_map=...) renames {unknown}, which "
                f"are not metrics of Keras model {self._name!r}; its metrics "
                f"are {sorted(metrics)}.{hint}"
            )
        renamed = {}
        for name, metric in metrics.items():
            new = renames.get(name, name)
            if new in renamed or new in _RESERVED_RESULT_KEYS:
                raise EstimatorSpecError(
                    f"model_to_estimator: two evaluation results would be called "
                    f"{new!r} (metric {name!r}); pick another name in "
                    "metric_names_map."
                )
            renamed[new] = metric
        return renamed


# --------------------------------------------------------------------- initial values


class _InitialValues:
    """The Keras model's weights, as initial values of the rebuilt model's variables.

    A probe rebuild at conversion records the order in which the rebuilt model
    creates its variables and which Keras weight each one is. Inside the model_fn
    the same rebuild runs under a variable creator that gives each such creation
    the weight as ``initial_value``, and the weight's Keras path (``w.path``) as its
    name, which the Estimator's store keeps. The store uses the initial value when
    it creates the variable (the first call that asks for it) and ignores it after.

    Args:
        rebuild: Makes a new copy of the model.
        model: The Keras model whose weights to carry.

    Raises:
        EstimatorSpecError: A rebuilt model does not create its weights when it is
            rebuilt.
    """

    def __init__(self, rebuild: Callable, model):
        self._values = [np.asarray(w.numpy()) for w in model.weights]
        self._paths = [w.path for w in model.weights]
        uids = _fresh_keras_uids()
        try:
            with _creating() as created:
                probe = rebuild()
        finally:
            _restore_keras_uids(uids)
        position = {id(variable): k for k, variable in enumerate(created)}
        self._plan: list[int | None] = [None] * len(created)
        for index, weight in enumerate(probe.weights):
            k = position.get(id(unwrap(weight)))
            if k is None or index >= len(self._values):
                raise EstimatorSpecError(
                    f"Keras model {model.name!r} does not create weight "
                    f"{weight.path!r} when it is rebuilt from its config (a layer "
                    "creates it in call()?); model_to_estimator cannot carry its "
                    "weights over. Create weights in build()."
                )
            self._plan[k] = index
        if len(probe.weights) != len(self._values):
            raise EstimatorSpecError(
                f"Keras model {model.name!r} has {len(self._values)} weights but "
                f"its rebuilt copy {len(probe.weights)}; model_to_estimator cannot "
                "carry them over."
            )

    @contextlib.contextmanager
    def giving(self):
        """Gives a rebuild the weights; yields a check to run on the rebuilt model."""
        with _creating(self._initialize) as created:
            yield lambda model: self._check(model, created)

    def _initialize(self, k: int, kwargs: dict) -> None:
        index = self._plan[k] if k < len(self._plan) else None
        if index is not None:
            value = self._values[index]
            kwargs["initial_value"] = lambda: value
            kwargs["name"] = self._paths[index]

    def _check(self, model, created: list) -> None:
        position = {id(variable): k for k, variable in enumerate(created)}
        for index, weight in enumerate(model.weights):
            k = position.get(id(unwrap(weight)))
            if k is None or k >= len(self._plan) or self._plan[k] != index:
                raise EstimatorSpecError(
                    f"Keras model {model.name!r} created its variables in another "
                    "order inside the model_fn than when it was converted, so its "
                    f"weights could not be carried over (weight {weight.path!r})."
                )


@contextlib.contextmanager
def _creating(before: Callable[[int, dict], None] | None = None):
    """Records the variables created inside, in order; ``before`` may edit each."""
    created: list = []
    busy = [False]

    def creator(next_creator, **kwargs):
        # A creator below this one may create the variable with tf.Variable, which
        # comes back through here: that is the same variable, not a new one.
        if busy[0]:
            return next_creator(**kwargs)
        if before is not None:
            before(len(created), kwargs)
        busy[0] = True
        try:
            variable = next_creator(**kwargs)
        finally:
            busy[0] = False
        created.append(variable)
        return variable

    with tf.variable_creator_scope(creator):
        yield created


@contextlib.contextmanager
def _nothing():
    yield lambda model: None


# --------------------------------------------------------------------- conversion


def _load(keras_model, keras_model_path, custom_objects):
    import keras

    if (keras_model is None) == (keras_model_path is None):
        given = "both" if keras_model is not None else "neither"
        raise EstimatorSpecError(
            f"model_to_estimator got {given} of keras_model and keras_model_path; "
            "pass exactly one: model_to_estimator(keras_model=model) or "
            "model_to_estimator(keras_model_path='model.keras')."
        )
    if keras_model_path is not None:
        path = os.fspath(keras_model_path)
        try:
            keras_model = keras.saving.load_model(path, custom_objects=custom_objects)
        except Exception as exc:
            raise EstimatorSpecError(
                f"model_to_estimator could not load keras_model_path {path!r}: "
                f"{exc}\nSave the model with model.save('model.keras') and pass "
                "its custom objects in custom_objects."
            ) from exc
    if not isinstance(keras_model, keras.Model):
        raise EstimatorSpecError(
            "model_to_estimator(keras_model=...) must be a Keras 3 keras.Model; got "
            f"{type(keras_model).__module__}.{type(keras_model).__name__}."
        )
    if not getattr(keras_model, "compiled", False) or not hasattr(
        keras_model, "_compile_config"
    ):
        raise _uncompiled(keras_model)
    return keras_model


def _architecture(model, custom_scope) -> dict:
    """The model's serialized config, without its compile config."""
    import keras

    with custom_scope():
        try:
            config = keras.saving.serialize_keras_object(model)
        except Exception as exc:
            raise EstimatorSpecError(
                f"model_to_estimator could not serialize Keras model {model.name!r} "
                f"({type(model).__name__}): {exc}\nA subclassed model needs "
                "get_config() returning its constructor arguments."
            ) from exc
    config.pop("compile_config", None)
    return config


def _uncompiled(model) -> EstimatorSpecError:
    return EstimatorSpecError(
        f"Keras model {model.name!r} is not compiled; model_to_estimator trains "
        "with its compiled loss, metrics and optimizer. Call "
        "model.compile(optimizer=..., loss=..., metrics=[...]) first."
    )


def _input_structure(model) -> tuple[str, list[str]]:
    import keras

    if isinstance(model, keras.Sequential):
        return _SINGLE, [t.name for t in model.inputs] if model.built else []
    if _is_functional(model):
        struct = model.input
        if isinstance(struct, Mapping):
            return _DICT, list(struct)
        if isinstance(struct, (list, tuple)) and len(struct) != 1:
            _check_flat(struct, "inputs", model)
            return _LIST, [t.name for t in struct]
        return _SINGLE, [t.name for t in model.inputs]
    shape = (model.get_build_config() or {}).get("input_shape") if model.built else None
    if isinstance(shape, Mapping):
        return _DICT, list(shape)
    if isinstance(shape, (list, tuple)) and all(
        d is None or isinstance(d, int) for d in shape
    ):
        return _SINGLE, []
    return _AS_GIVEN, []


def _output_structure(model) -> tuple[str, list[str]]:
    import keras

    if isinstance(model, keras.Sequential):
        return _SINGLE, [model.layers[-1].name] if model.layers else ["output_1"]
    if _is_functional(model):
        struct = model.output
        names = list(model.output_names)
    else:
        struct = _symbolic_outputs(model)
        names = [f"output_{i + 1}" for i in range(len(tf.nest.flatten(struct)))]
    if isinstance(struct, Mapping):
        _check_flat(struct.values(), "outputs", model)
        return _DICT, list(struct)
    if isinstance(struct, (list, tuple)) and len(struct) != 1:
        _check_flat(struct, "outputs", model)
        return _LIST, names
    return _SINGLE, names


def _symbolic_outputs(model):
    """The output structure of a subclassed model, from a symbolic call."""
    import keras

    shape = (model.get_build_config() or {}).get("input_shape") if model.built else None
    if shape is None:
        raise EstimatorSpecError(
            f"Subclassed Keras model {model.name!r} is not built (or takes several "
            "call arguments); model_to_estimator needs its input shape: call it on "
            "a batch of features once before converting it."
        )
    inputs = keras.tree.map_shape_structure(lambda s: keras.KerasTensor(s), shape)
    return model.compute_output_spec(inputs)


def _is_functional(model) -> bool:
    from keras.src.models.functional import Functional

    return isinstance(model, Functional)


def _check_flat(struct, what: str, model) -> None:
    if any(isinstance(item, (list, tuple, Mapping)) for item in struct):
        raise EstimatorSpecError(
            f"Keras model {model.name!r} has nested {what}; model_to_estimator "
            f"supports a single tensor, a flat list or a dict of {what}."
        )


def _per_output(value, names: list[str], what: str) -> list:
    if value is None:
        return [None] * len(names)
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise EstimatorSpecError(
                f"The Keras model was compiled with {what} for outputs {unknown}, "
                f"which it does not have; its outputs are {names}."
            )
        return [value.get(name) for name in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise EstimatorSpecError(
                f"The Keras model was compiled with {len(value)} {what} for "
                f"{len(names)} outputs {names}; give one per output (None for "
                "none) or a dict keyed by output name."
            )
        return list(value)
    return [value] * len(names)


def _outputs_with_metrics(compiled: dict, names: list[str]) -> list[bool]:
    result = [False] * len(names)
    for key in ("metrics", "weighted_metrics"):
        value = compiled.get(key)
        if not value:
            continue
        if len(names) == 1:
            result = [True]
        elif isinstance(value, Mapping):
            result = [r or bool(value.get(n)) for r, n in zip(result, names)]
        elif isinstance(value, (list, tuple)) and len(value) == len(names):
            result = [r or bool(v) for r, v in zip(result, value)]
        else:
            result = [True] * len(names)
    return result


class _MetricTemplate:
    """A compiled metric object, remade fresh (new variables) in each model_fn call."""

    def __init__(self, metric):
        self.cls = type(metric)
        self.config = metric.get_config()

    def make(self):
        return self.cls.from_config(dict(self.config))


def _metric_templates(value):
    import keras

    if isinstance(value, keras.metrics.Metric):
        return _MetricTemplate(value)
    if isinstance(value, Mapping):
        return {k: _metric_templates(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_metric_templates(v) for v in value)
    return value


def _materialized(value):
    if isinstance(value, _MetricTemplate):
        return value.make()
    if isinstance(value, Mapping):
        return {k: _materialized(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_materialized(v) for v in value)
    return value


def _checked_names_map(metric_names_map) -> dict[str, str] | None:
    if metric_names_map is None:
        return None
    if not isinstance(metric_names_map, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metric_names_map.items()
    ):
        raise EstimatorSpecError(
            "model_to_estimator(metric_names_map=...) must map Keras metric names "
            "to new names (str to str), e.g. {'out_1_accuracy': 'accuracy_1'}."
        )
    return dict(metric_names_map)


def _checked_export_outputs(export_outputs) -> dict[str, Callable] | None:
    if export_outputs is None:
        return None
    if not isinstance(export_outputs, Mapping) or not all(
        isinstance(k, str) and callable(v) for k, v in export_outputs.items()
    ):
        raise EstimatorSpecError(
            "model_to_estimator(export_outputs=...) must map output names to "
            "export output classes, e.g. {'y': tf_estimator.export.RegressionOutput}."
        )
    return dict(export_outputs)
