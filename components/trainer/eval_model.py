"""The evaluation-ready SavedModel: raw serialized examples in, predictions and label out.

The Evaluator needs, per example, what the model predicts and what the label is. The
label may exist only after the transform (the taxi pipeline's ``big_tipper`` comes
from ``tips`` and ``fare``), so the Trainer writes a second SavedModel beside the
serving one whose ``evaluate`` signature takes serialized raw tf.Examples and returns
the serving model's ``predict`` outputs plus ``label``: parsed from the raw example,
or computed by the transform graph. String labels become class ids by the model's own
``all_classes``.
"""

from __future__ import annotations

from typing import Any

from pipeline import DefinitionError, did_you_mean

EVALUATE_SIGNATURE = "evaluate"


def label_source(
    owner: str, label_key: str, raw_spec: dict[str, Any], tft_output: Any
) -> str:
    """``"raw"`` or ``"transformed"``: where ``label_key`` is found.

    Raises:
        DefinitionError: ``label_key`` is neither a raw nor a transformed feature.
    """
    if tft_output is not None:
        transformed = tft_output.transformed_feature_spec()
        if label_key in transformed:
            return "transformed"
        known = sorted(transformed)
    else:
        known = sorted(raw_spec)
    if label_key in raw_spec and tft_output is None:
        return "raw"
    raise DefinitionError(
        f"{owner}: label_key {label_key!r} is not a feature of the training examples."
        f"{did_you_mean(label_key, known)} They have: {known}."
    )


def predict_signature(serving: Any) -> Any:
    """The loaded model's ``predict`` signature (all predictions), else its default."""
    signatures = serving.signatures
    return (
        signatures["predict"]
        if "predict" in signatures
        else signatures["serving_default"]
    )


def export_eval_model(
    serving: Any,
    eval_dir: str,
    *,
    label_key: str,
    raw_spec: dict[str, Any],
    tft_output: Any = None,
) -> list[str]:
    """Writes the evaluation-ready SavedModel; returns its output names.

    Args:
        serving: The exported serving SavedModel (serialized tf.Example in), loaded.
        eval_dir: Where the evaluation model goes.
        label_key: The label: a raw feature, or a transformed one with
            ``tft_output``.
        raw_spec: The raw examples' feature spec (labels included).
        tft_output: The ``tft.TFTransformOutput`` when the label is transformed.
    """
    import tensorflow as tf

    predict = predict_signature(serving)
    (input_name,) = predict.structured_input_signature[1]
    module = tf.Module(name="evaluation_model")
    module.serving = serving
    module.transform_layer = (
        tft_output.transform_features_layer() if tft_output is not None else None
    )
    label_spec = (
        raw_spec if tft_output is not None else {label_key: raw_spec[label_key]}
    )

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def evaluate(examples):
        outputs = dict(predict(**{input_name: examples}))
        parsed = tf.io.parse_example(examples, label_spec)
        if module.transform_layer is not None:
            label = module.transform_layer(parsed)[label_key]
        else:
            label = parsed[label_key]
        if isinstance(label, tf.SparseTensor):
            default = "" if label.dtype == tf.string else 0
            label = tf.sparse.to_dense(label, default_value=default)
        if label.dtype == tf.string and "all_classes" in outputs:
            classes = outputs["all_classes"][:1]  # the same row for every example
            matches = tf.equal(tf.reshape(label, [-1, 1]), classes)
            ids = tf.argmax(tf.cast(matches, tf.int32), axis=-1, output_type=tf.int64)
            # A label the model does not know is class -1, never silently class 0.
            label = tf.where(tf.reduce_any(matches, axis=-1), ids, -1)
        outputs["label"] = label
        return outputs

    tf.saved_model.save(module, eval_dir, signatures={EVALUATE_SIGNATURE: evaluate})
    return sorted(evaluate.get_concrete_function().structured_outputs)
