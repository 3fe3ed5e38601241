"""Serving receivers: what a model's serving signature takes, turned into features.

Two builders, named and shaped after tf.estimator's for migrating code:

- ``build_parsing_serving_input_receiver_fn``: serialized ``tf.Example`` strings in
  (the receiver tensor ``"examples"``), parsed with the raw feature spec; with a
  transform graph, the transform is applied to them, so the model is served the
  features it was trained on from raw requests.
- ``build_raw_serving_input_receiver_fn``: one dense tensor per raw feature in;
  with a schema or a transform graph, variable-length features become
  ``SparseTensor`` s as parsing would make them, and the transform is applied.

Both return a ``ServingInputReceiverFn``, usable three ways:

1. ``receiver_fn(receiver_tensors)`` inside a ``tf.function``: the TF2 way. The
   function's input signature is ``[receiver_fn.receiver_tensors_spec]``;
   ``receiver_fn.signature(predict_fn)`` builds exactly that function.
2. ``receiver_fn()`` in graph mode (a ``tf.compat.v1.wrap_function`` or
   ``tf.Graph().as_default()``): placeholders are made, as tf.estimator's
   receivers did.
3. ``export_serving_model(export_dir, receiver_fn, predict_fn, trackables=...)``:
   a SavedModel with a ``serving_default`` signature, for plain Keras models.

Whatever saves the model must track ``receiver_fn.module`` (it holds the transform
graph's tables and assets): attach it to the object saved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from pipeline import DefinitionError, did_you_mean

RECEIVER_KEY = "examples"


class ServingInputReceiver(NamedTuple):
    """Features for the model and the tensors a request feeds.

    The fields of ``tf.estimator.export.ServingInputReceiver``, so code written for
    it reads this unchanged.

    Attributes:
        features: Feature name -> ``Tensor`` / ``SparseTensor`` (what the model
            function receives in PREDICT mode).
        receiver_tensors: Input name -> ``Tensor``: the serving signature's inputs.
        receiver_tensors_alternatives: Other named input sets (unused here).

    Example:
        >>> receiver = ServingInputReceiver({"x": 1.0}, {"x": 1.0})
        >>> receiver.receiver_tensors_alternatives is None
        True
    """

    features: Any
    receiver_tensors: dict[str, Any]
    receiver_tensors_alternatives: dict[str, Any] | None = None


class ServingInputReceiverFn:
    """A serving input receiver function: receiver tensors in, features out.

    Made by the ``build_*_serving_input_receiver_fn`` builders.

    Args:
        receiver_tensors_spec: Input name -> ``tf.TensorSpec`` (named like the key).
        features_fn: Receiver tensors -> features.
        module: A ``tf.Module`` holding what ``features_fn`` uses (the transform
            layer); the object that is saved must track it.
        description: What it does, for ``repr``.

    Example:
        >>> import tensorflow as tf
        >>> receiver_fn = build_raw_serving_input_receiver_fn(
        ...     {"x": tf.TensorSpec([None], tf.float32)})
        >>> sorted(receiver_fn(receiver_tensors={"x": tf.ones([2])}).features)
        ['x']
    """

    def __init__(
        self,
        receiver_tensors_spec: Mapping[str, Any],
        features_fn: Callable[[dict[str, Any]], Any],
        module: Any,
        description: str,
    ):
        self._spec = dict(receiver_tensors_spec)
        self._features_fn = features_fn
        self.module = module
        self.description = description

    @property
    def receiver_tensors_spec(self) -> dict[str, Any]:
        """Input name -> ``tf.TensorSpec``: the serving signature's inputs."""
        return dict(self._spec)

    def __call__(self, receiver_tensors: Mapping[str, Any] | None = None) -> Any:
        """The features for ``receiver_tensors``, or for new placeholders.

        Args:
            receiver_tensors: Input name -> tensor, as ``receiver_tensors_spec``
                says; None (graph mode only) makes placeholders.

        Returns:
            A ``ServingInputReceiver``.

        Raises:
            DefinitionError: Called eagerly without tensors, or with the wrong names.
        """
        import tensorflow as tf

        if receiver_tensors is None:
            if tf.executing_eagerly():
                raise DefinitionError(
                    "A serving input receiver fn called with no tensors makes "
                    "placeholders, which needs graph mode (tf.compat.v1.wrap_function "
                    "or tf.Graph().as_default()). In TF2 code call it inside a "
                    "tf.function with receiver_fn(receiver_tensors), or use "
                    "receiver_fn.signature(predict_fn)."
                )
            receiver_tensors = {
                name: tf.compat.v1.placeholder(spec.dtype, spec.shape, name=name)
                for name, spec in self._spec.items()
            }
        receiver_tensors = dict(receiver_tensors)
        if set(receiver_tensors) != set(self._spec):
            raise DefinitionError(
                f"This receiver takes the inputs {sorted(self._spec)}, got "
                f"{sorted(receiver_tensors)}."
            )
        return ServingInputReceiver(
            self._features_fn(receiver_tensors), receiver_tensors
        )

    def signature(self, predict_fn: Callable[[Any], Any] | None = None) -> Any:
        """A ``tf.function`` for a serving signature: receiver tensors -> outputs.

        Args:
            predict_fn: Features -> outputs (a tensor or a dict of tensors), e.g.
                ``lambda features: {"score": model(features)}``. None returns
                the features themselves (they must then all be dense).

        Returns:
            A ``tf.function`` with ``input_signature=[receiver_tensors_spec]``; its
            concrete function's inputs are named after the receiver tensors.
        """
        import tensorflow as tf

        def serve(receiver_tensors: dict[str, Any]) -> Any:
            features = self(receiver_tensors).features
            return predict_fn(features) if predict_fn is not None else features

        return tf.function(serve, input_signature=[self.receiver_tensors_spec])

    def __repr__(self) -> str:
        inputs = ", ".join(
            f"{name}: {spec.dtype.name}{spec.shape}"
            for name, spec in self._spec.items()
        )
        return f"<ServingInputReceiverFn {self.description}; inputs {{{inputs}}}>"


def build_parsing_serving_input_receiver_fn(
    feature_spec: Mapping[str, Any] | None = None,
    default_batch_size: int | None = None,
    *,
    schema: Any = None,
    transform_graph: Any = None,
    label_keys: Sequence[str] = (),
    receiver_key: str = RECEIVER_KEY,
) -> ServingInputReceiverFn:
    """A receiver of serialized tf.Examples, parsed and, with a transform, transformed.

    The raw feature spec is ``feature_spec``, else the ``schema``'s, else the raw
    schema Transform wrote beside the ``transform_graph``. Label features are left
    out of it: requests do not carry them, and transformed features computed from
    them are left out of the result.

    Args:
        feature_spec: The raw ``tf.io.parse_example`` spec (tf.estimator's argument).
        default_batch_size: A fixed batch size for the input; None for any.
        schema: The raw schema, when there is no ``feature_spec``.
        transform_graph: Transform's output (artifact, URI or
            ``tft.TFTransformOutput``), applied after parsing.
        label_keys: Raw features absent at serving time (the labels).
        receiver_key: The name of the serialized-examples input.

    Returns:
        A ``ServingInputReceiverFn`` taking ``{receiver_key: string [batch]}``.

    Raises:
        DefinitionError: No way to know the raw features, or an unknown label key.

    Example:
        >>> import tensorflow as tf
        >>> receiver_fn = build_parsing_serving_input_receiver_fn(
        ...     {"fare": tf.io.FixedLenFeature([], tf.float32)})
        >>> receiver_fn.receiver_tensors_spec
        {'examples': TensorSpec(shape=(None,), dtype=tf.string, name='examples')}
        >>> example = tf.train.Example()
        >>> example.features.feature["fare"].float_list.value.append(7.5)
        >>> serve = receiver_fn.signature()
        >>> serve({"examples": tf.constant([example.SerializeToString()])})["fare"].numpy()
        array([7.5], dtype=float32)
    """
    import tensorflow as tf

    raw_spec, tft_output = _raw_spec(feature_spec, schema, transform_graph)
    raw_spec = _without_labels(raw_spec, label_keys)
    module = _receiver_module(tft_output)

    def features_fn(receiver_tensors: dict[str, Any]) -> Any:
        parsed = tf.io.parse_example(receiver_tensors[receiver_key], raw_spec)
        if module.transform_layer is None:
            return parsed
        return dict(module.transform_layer(parsed))

    spec = {
        receiver_key: tf.TensorSpec([default_batch_size], tf.string, name=receiver_key)
    }
    what = "parses serialized tf.Examples"
    if tft_output is not None:
        what += " and applies the transform graph"
    return ServingInputReceiverFn(spec, features_fn, module, what)


def build_raw_serving_input_receiver_fn(
    features: Mapping[str, Any] | None = None,
    default_batch_size: int | None = None,
    *,
    schema: Any = None,
    transform_graph: Any = None,
    label_keys: Sequence[str] = (),
) -> ServingInputReceiverFn:
    """A receiver of raw feature tensors, one dense tensor per feature.

    Args:
        features: Feature name -> ``tf.TensorSpec`` or tensor (its dtype and shape
            are used), as tf.estimator's ``features``. None: made from the raw
            feature spec by ``raw_tensor_specs``.
        default_batch_size: A fixed batch size; None for any.
        schema: The raw schema (when ``features`` is None, or to turn
            variable-length features into ``SparseTensor``s).
        transform_graph: Transform's output, applied to the raw features (its raw
            schema is used when ``schema`` is None).
        label_keys: Raw features absent at serving time.

    Returns:
        A ``ServingInputReceiverFn`` taking one tensor per feature. A
        variable-length feature is given as a dense ``[batch, n]`` tensor whose
        values are all present (send missing values through the parsing receiver).

    Raises:
        DefinitionError: No way to know the features, or an unknown label key.

    Example:
        >>> import tensorflow as tf
        >>> receiver_fn = build_raw_serving_input_receiver_fn(
        ...     {"x": tf.TensorSpec([None, 2], tf.float32)})
        >>> receiver_fn
        <ServingInputReceiverFn takes raw feature tensors; inputs {x: float32(None, 2)}>
        >>> receiver_fn.signature()({"x": tf.ones([3, 2])})["x"].shape
        TensorShape([3, 2])
    """
    import tensorflow as tf

    raw_spec: dict[str, Any] | None = None
    tft_output = None
    if schema is not None or transform_graph is not None:
        raw_spec, tft_output = _raw_spec(None, schema, transform_graph)
        raw_spec = _without_labels(raw_spec, label_keys)
    if features is None:
        if raw_spec is None:
            raise DefinitionError(
                "build_raw_serving_input_receiver_fn needs features= (name -> "
                "tf.TensorSpec), schema= or transform_graph= to know the inputs."
            )
        specs = raw_tensor_specs(raw_spec, batch_size=default_batch_size)
    else:
        specs = {
            name: tf.TensorSpec(
                [default_batch_size, *value.shape[1:]], value.dtype, name=name
            )
            for name, value in features.items()
        }
    sparse = {
        name
        for name, parse_spec in (raw_spec or {}).items()
        if isinstance(parse_spec, tf.io.VarLenFeature) and name in specs
    }
    module = _receiver_module(tft_output)

    def features_fn(receiver_tensors: dict[str, Any]) -> Any:
        made = {
            name: tf.RaggedTensor.from_tensor(value).to_sparse()
            if name in sparse
            else value
            for name, value in receiver_tensors.items()
        }
        if module.transform_layer is None:
            return made
        return dict(module.transform_layer(made))

    what = "takes raw feature tensors"
    if tft_output is not None:
        what += " and applies the transform graph"
    return ServingInputReceiverFn(specs, features_fn, module, what)


def raw_tensor_specs(
    feature_spec: Mapping[str, Any],
    *,
    exclude: Sequence[str] = (),
    batch_size: int | None = None,
) -> dict[str, Any]:
    """One dense ``tf.TensorSpec`` per feature of a parsing spec, for raw receivers.

    A ``FixedLenFeature`` of shape ``s`` becomes ``[batch, *s]``; a
    ``VarLenFeature`` becomes ``[batch, None]``.

    Args:
        feature_spec: A ``tf.io.parse_example`` spec (e.g. ``raw_feature_spec``).
        exclude: Features to leave out (the labels).
        batch_size: A fixed batch size; None for any.

    Raises:
        DefinitionError: A feature kind that has no dense form (SparseFeature,
            RaggedFeature).

    Example:
        >>> import tensorflow as tf
        >>> raw_tensor_specs({"fare": tf.io.FixedLenFeature([1], tf.float32),
        ...                   "tips": tf.io.FixedLenFeature([1], tf.float32),
        ...                   "company": tf.io.VarLenFeature(tf.string)}, exclude=["tips"])
        {'fare': TensorSpec(shape=(None, 1), dtype=tf.float32, name='fare'), 'company': TensorSpec(shape=(None, None), dtype=tf.string, name='company')}
    """
    import tensorflow as tf

    specs = {}
    for name, parse_spec in feature_spec.items():
        if name in exclude:
            continue
        if isinstance(parse_spec, tf.io.FixedLenFeature):
            shape = [batch_size, *parse_spec.shape]
        elif isinstance(parse_spec, tf.io.VarLenFeature):
            shape = [batch_size, None]
        else:
            raise DefinitionError(
                f"Feature {name!r} is a {type(parse_spec).__name__}, which a raw "
                f"tensor receiver cannot take; use the parsing receiver."
            )
        specs[name] = tf.TensorSpec(shape, parse_spec.dtype, name=name)
    return specs


def export_serving_model(
    export_dir: str,
    receiver_fn: ServingInputReceiverFn,
    predict_fn: Callable[[Any], Any] | None = None,
    *,
    trackables: Mapping[str, Any] | None = None,
    signature_name: str = "serving_default",
) -> str:
    """Saves a SavedModel whose serving signature is receiver -> ``predict_fn``.

    Args:
        export_dir: Where to write the SavedModel.
        receiver_fn: A ``ServingInputReceiverFn``.
        predict_fn: Features -> outputs; None serves the features themselves.
        trackables: Objects whose variables ``predict_fn`` uses, by attribute name,
            e.g. ``{"model": keras_model}``; they are saved with the model.
        signature_name: The signature's key.

    Returns:
        ``export_dir``.

    Example:
        >>> import tempfile
        >>> import tensorflow as tf
        >>> receiver_fn = build_raw_serving_input_receiver_fn(
        ...     {"x": tf.TensorSpec([None], tf.float32)})
        >>> path = export_serving_model(
        ...     tempfile.mkdtemp() + "/1", receiver_fn, lambda f: {"y": 2 * f["x"]})
        >>> serve = tf.saved_model.load(path).signatures["serving_default"]
        >>> serve(x=tf.constant([1.5]))["y"].numpy()
        array([3.], dtype=float32)
    """
    import tensorflow as tf

    root = tf.Module()
    root.receiver = receiver_fn.module
    for name, value in (trackables or {}).items():
        setattr(root, name, value)
    root.serve = receiver_fn.signature(predict_fn)
    tf.saved_model.save(
        root,
        export_dir,
        signatures={signature_name: root.serve.get_concrete_function()},
    )
    return export_dir


def _raw_spec(
    feature_spec: Mapping[str, Any] | None, schema: Any, transform_graph: Any
) -> tuple[dict[str, Any], Any]:
    from components.input_fn import sources

    tft_output = (
        sources.transform_output(transform_graph)
        if transform_graph is not None
        else None
    )
    if feature_spec is not None:
        return dict(feature_spec), tft_output
    if schema is not None:
        return sources.raw_feature_spec(schema), tft_output
    if tft_output is None:
        raise DefinitionError(
            "A serving receiver needs the raw features: pass feature_spec=, schema= "
            "or transform_graph=."
        )
    try:
        return dict(tft_output.raw_feature_spec()), tft_output
    except (OSError, ValueError) as exc:
        raise DefinitionError(
            f"The transform graph has no raw schema beside it ({exc}); pass the raw "
            f"schema= (SchemaGen's output) as well."
        ) from exc


def _without_labels(spec: dict[str, Any], label_keys: Sequence[str]) -> dict[str, Any]:
    if isinstance(label_keys, str):
        label_keys = [label_keys]
    for key in label_keys:
        if key not in spec:
            raise DefinitionError(
                f"label_keys names {key!r}, which is not a raw feature."
                f"{did_you_mean(key, spec)} Raw features: {sorted(spec)}."
            )
    return {name: value for name, value in spec.items() if name not in label_keys}


def _receiver_module(tft_output: Any) -> Any:
    import tensorflow as tf

    module = tf.Module(name="serving_input_receiver")
    module.transform_layer = (
        tft_output.transform_features_layer() if tft_output is not None else None
    )
    return module
