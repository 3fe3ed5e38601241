"""The evaluation-ready SavedModel: checking its ``evaluate`` signature, calling it.

``read_signature`` checks a Model artifact against the contract before any example
is read, from the SavedModel's ``saved_model.pb`` alone (nothing is loaded): the
``Format-Eval`` folder exists, it has a signature ``evaluate`` that takes one string
tensor of serialized examples and returns ``label`` and either ``probabilities``
(classification) or ``predictions`` (regression), optionally ``weight`` and
``class_ids``; other outputs are ignored. ``EvalModel`` loads the model on a worker
and turns its outputs for a batch into a ``metrics.Batch``, checking each one.

Example:
    >>> from pipeline import Model
    >>> try:
    ...     read_signature("Evaluator", "model", Model(uri="/nowhere/model/3"))
    ... except FileNotFoundError as err:
    ...     print(str(err).split(":")[1].strip())
    model has no evaluation model
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from components.evaluator.metrics import CLASSIFICATION, REGRESSION, Batch
from pipeline import DefinitionError, Model, fs

SIGNATURE = "evaluate"
_FIX = (
    "The Trainer writes it; a model of your own needs a SavedModel saved with "
    "tf.saved_model.save(module, '<uri>/Format-Eval', signatures={'evaluate': fn}), "
    "fn taking serialized tf.Examples (tf.string, shape [None]) and returning a dict "
    "with 'label' and 'probabilities' (classification) or 'predictions' "
    "(regression); see docs/evaluator.md."
)
# tensorflow/core/framework/types.proto
_STRING, _FLOATS, _INTS = 7, {1, 2, 19, 14}, {3, 4, 5, 6, 9, 10, 17, 22, 23}


@dataclasses.dataclass(frozen=True)
class EvalSignature:
    """What a model's ``evaluate`` signature takes and returns.

    Attributes:
        uri: The Model artifact's URI.
        path: Its evaluation SavedModel (``<uri>/Format-Eval``).
        input_name: The name of the signature's one input (``examples``).
        model_type: ``"classification"`` or ``"regression"``.
        classes: The number of classes (columns of ``probabilities``), when the
            signature fixes it; None for regression or an unknown width.
        outputs: The outputs the Evaluator uses, of ``label``, ``probabilities``,
            ``predictions``, ``class_ids`` and ``weight``.
    """

    uri: str
    path: str
    input_name: str
    model_type: str
    classes: int | None
    outputs: tuple[str, ...]

    def describe(self) -> dict[str, Any]:
        """The model's facts for metrics.json."""
        return {
            "uri": self.uri,
            "model_type": self.model_type,
            "classes": self.classes,
        }


def read_signature(owner: str, param: str, model: Model) -> EvalSignature:
    """Checks ``model``'s evaluation SavedModel against the contract; loads nothing.

    Args:
        owner: Who is asking, for messages (``"Evaluator 'evaluator'"``).
        param: The input the model came in (``"model"``, ``"baseline_model"``).
        model: The Model artifact.

    Raises:
        FileNotFoundError: There is no ``Format-Eval/saved_model.pb``.
        DefinitionError: No ``evaluate`` signature, or one that breaks the contract;
            the message names the model, what is wrong and how to fix it.
    """
    where = f"{owner}: {param} ({model.uri})"
    path = model.eval_model_dir
    proto_path = fs.join(path, "saved_model.pb")
    if not fs.exists(proto_path):
        found = "the folder is missing" if not fs.isdir(path) else "no saved_model.pb"
        raise FileNotFoundError(
            f"{owner}: {param} has no evaluation model: {path} is not a SavedModel "
            f"({found}). The Evaluator needs the model's evaluation-ready SavedModel "
            f"in <uri>/Format-Eval. {_FIX}"
        )
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString(fs.read_bytes(proto_path))
    signatures = {
        name: sig
        for graph in saved.meta_graphs
        for name, sig in graph.signature_def.items()
    }
    if SIGNATURE not in signatures:
        listed = ", ".join(sorted(n for n in signatures if not n.startswith("__")))
        raise DefinitionError(
            f"{where}: the SavedModel {path} has no signature {SIGNATURE!r} (it has: "
            f"{listed or 'none'}). {_FIX}"
        )
    signature = signatures[SIGNATURE]
    inputs = dict(signature.inputs)
    if len(inputs) != 1 or next(iter(inputs.values())).dtype != _STRING:
        got = ", ".join(f"{n} ({_dtype_name(t.dtype)})" for n, t in inputs.items())
        raise DefinitionError(
            f"{where}: the {SIGNATURE!r} signature of {path} must take one input, "
            f"the serialized examples as tf.string; it takes {got or 'nothing'}. {_FIX}"
        )
    outputs = dict(signature.outputs)
    if "label" not in outputs:
        raise DefinitionError(
            f"{where}: the {SIGNATURE!r} signature of {path} returns no 'label' (it "
            f"returns: {', '.join(sorted(outputs))}). Return the label of each example "
            f"under the key 'label': class ids for classification, values for "
            f"regression."
        )
    model_type = _model_type(where, path, model, outputs)
    checks = {
        "label": _FLOATS | _INTS,
        "probabilities": _FLOATS,
        "predictions": _FLOATS | _INTS,
        "class_ids": _INTS,
        "weight": _FLOATS | _INTS,
    }
    for name, allowed in checks.items():
        if name in outputs and outputs[name].dtype not in allowed:
            raise DefinitionError(
                f"{where}: the {SIGNATURE!r} signature of {path} returns {name!r} as "
                f"{_dtype_name(outputs[name].dtype)}; it must be "
                f"{'a float' if allowed == _FLOATS else 'an integer or float'} "
                f"tensor. {'String labels must become class ids. ' if name == 'label' else ''}"
                f"{_FIX}"
            )
    classes = None
    if model_type == CLASSIFICATION:
        shape = outputs["probabilities"].tensor_shape
        dims = [d.size for d in shape.dim]
        if not shape.unknown_rank and len(dims) != 2:
            raise DefinitionError(
                f"{where}: 'probabilities' of the {SIGNATURE!r} signature of {path} "
                f"has shape {dims}; it must be [batch, classes], one column per class."
            )
        if len(dims) == 2 and dims[1] == 1:
            raise DefinitionError(
                f"{where}: 'probabilities' of the {SIGNATURE!r} signature of {path} "
                f"has one column; give each class's probability, for a binary model "
                f"both: tf.concat([1 - p, p], axis=1)."
            )
        classes = dims[1] if len(dims) == 2 and dims[1] > 0 else None
    used = ("label", "probabilities", "predictions", "class_ids", "weight")
    return EvalSignature(
        uri=model.uri,
        path=path,
        input_name=next(iter(inputs)),
        model_type=model_type,
        classes=classes,
        outputs=tuple(n for n in used if n in outputs),
    )


def _model_type(where: str, path: str, model: Model, outputs: dict[str, Any]) -> str:
    needs = {CLASSIFICATION: "probabilities", REGRESSION: "predictions"}
    declared = model.properties.get("model_type")
    if declared is not None:
        if declared not in needs:
            raise DefinitionError(
                f"{where}: the Model's model_type property is {declared!r}; the "
                f"Evaluator knows 'classification' and 'regression'."
            )
        if needs[declared] not in outputs:
            raise DefinitionError(
                f"{where}: the Model's model_type is {declared!r}, but the "
                f"{SIGNATURE!r} signature of {path} returns no {needs[declared]!r} "
                f"(it returns: {', '.join(sorted(outputs))}). Return "
                f"{needs[declared]!r} from it."
            )
        return declared
    for model_type, output in needs.items():
        if output in outputs:
            return model_type
    raise DefinitionError(
        f"{where}: the {SIGNATURE!r} signature of {path} returns neither "
        f"'probabilities' (classification) nor 'predictions' (regression); it "
        f"returns: {', '.join(sorted(outputs))}. Return one of them."
    )


def _dtype_name(dtype: int) -> str:
    from tensorflow.core.framework import types_pb2

    return types_pb2.DataType.Name(dtype).removeprefix("DT_").lower()


class EvalModel:
    """A loaded evaluation model: serialized examples in, a checked ``Batch`` out.

    Args:
        signature: The model's checked signature (``read_signature``).
    """

    def __init__(self, signature: EvalSignature):
        import tensorflow as tf

        self.signature = signature
        # The loaded object owns the variables: keep it alive with the function.
        self._loaded = tf.saved_model.load(signature.path)
        self._evaluate = self._loaded.signatures[SIGNATURE]
        self._tf = tf

    def predict(self, records: list[bytes]) -> Batch:
        """The model's outputs for serialized examples, as numpy arrays.

        Raises:
            ValueError: An output has the wrong number of rows, a label is not a
                class id of the model, or a probability or weight is not finite.
        """
        sig = self.signature
        outputs = self._evaluate(**{sig.input_name: self._tf.constant(records)})
        n = len(records)
        arrays = {
            name: _rows(sig, name, outputs[name].numpy(), n) for name in sig.outputs
        }
        labels = arrays["label"]
        _check_finite(sig, "label", labels)
        if sig.model_type == CLASSIFICATION:
            predictions = arrays["probabilities"].astype(np.float64)
            _check_finite(sig, "probabilities", predictions)
            labels = _class_ids(sig, labels, predictions.shape[1])
        else:
            predictions = arrays["predictions"].astype(np.float64)
            _check_finite(sig, "predictions", predictions)
        weights = arrays.get("weight")
        if weights is not None:
            weights = weights.astype(np.float64)
            _check_finite(sig, "weight", weights)
            if (weights < 0).any():
                raise ValueError(
                    f"Model {sig.uri}: the {SIGNATURE!r} signature returned a "
                    f"negative 'weight' ({weights.min()}); example weights must be "
                    f"0 or more."
                )
        class_ids = arrays.get("class_ids")
        if class_ids is not None:
            classes = predictions.shape[1]
            if ((class_ids < 0) | (class_ids >= classes)).any():
                raise ValueError(
                    f"Model {sig.uri}: the {SIGNATURE!r} signature returned "
                    f"'class_ids' outside 0..{classes - 1} ('probabilities' has "
                    f"{classes} columns); return the predicted class ids or leave "
                    f"'class_ids' out (the argmax of the probabilities is used)."
                )
        return Batch(labels, predictions, weights, class_ids)


def _rows(sig: EvalSignature, name: str, array: np.ndarray, n: int) -> np.ndarray:
    """The output as one value (one row of probabilities) per example."""
    two_d = name == "probabilities"
    if not two_d and array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.shape[:1] != (n,) or array.ndim != (2 if two_d else 1):
        expected = "[batch, classes]" if two_d else "[batch] or [batch, 1]"
        raise ValueError(
            f"Model {sig.uri}: the {SIGNATURE!r} signature returned {name!r} of "
            f"shape {list(array.shape)} for {n} examples; it must be {expected}, "
            f"one row per example."
        )
    return array


def _check_finite(sig: EvalSignature, name: str, array: np.ndarray) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueError(
            f"Model {sig.uri}: the {SIGNATURE!r} signature returned {int(bad.sum())} "
            f"NaN or infinite values in {name!r}; check the model and the features "
            f"it reads."
        )


def _class_ids(sig: EvalSignature, labels: np.ndarray, classes: int) -> np.ndarray:
    ids = labels.astype(np.int64)
    bad = (ids != labels) | (ids < 0) | (ids >= classes)
    if bad.any():
        values = sorted({float(v) if v != int(v) else int(v) for v in labels[bad]})
        unknown = (
            " -1 is what the Trainer's evaluate signature gives a label the model "
            "does not know."
            if -1 in values
            else ""
        )
        raise ValueError(
            f"Model {sig.uri}: {int(bad.sum())} examples have a label that is not "
            f"one of the model's class ids 0..{classes - 1} ('probabilities' has "
            f"{classes} columns): {values[:10]}.{unknown} Fix the labels of the "
            f"examples, or evaluate a model trained with these classes."
        )
    return ids
