"""Input functions: where Examples artifacts become tf.data, and serving receivers.

The one place where training, evaluation and serving read data, usable from the
Trainer and from a user's own trainer code alike:

- ``make_dataset`` / ``make_input_fn``: batches of parsed features (and labels) from
  one split of an Examples artifact, raw (with its ``schema``) or transformed (with
  Transform's ``transform_graph``); shuffling, epochs, per-replica batches and
  per-worker sharding from a ``tf.distribute.InputContext``.
- ``make_eval_input_fn``: one exact pass over an eval split of unknown size.
- ``build_parsing_serving_input_receiver_fn`` / ``build_raw_serving_input_receiver_fn``:
  what a model's serving signature takes (serialized tf.Examples, or raw tensors)
  and turns into features, applying the transform graph when given so that training
  and serving compute features the same way.

Importing this package is cheap; TensorFlow loads when a builder is called. Raw data
never imports tensorflow-transform; the transformed path does, keeping ``tf.keras``
Keras 3 (``components.transform.legacy_keras``). See docs/input_fn.md.

Example:
    >>> from components.input_fn import make_eval_input_fn
    >>> make_eval_input_fn("/tmp/examples", schema="schema.pbtxt", shuffle=True)
    Traceback (most recent call last):
    ...
    pipeline.errors.DefinitionError: make_eval_input_fn: ['shuffle'] cannot be set; an exact evaluation reads every example once, in order. Use make_input_fn for anything else.
"""

from components.input_fn.dataset import make_dataset, make_eval_input_fn, make_input_fn
from components.input_fn.serving import (
    ServingInputReceiver,
    ServingInputReceiverFn,
    build_parsing_serving_input_receiver_fn,
    build_raw_serving_input_receiver_fn,
    export_serving_model,
    raw_tensor_specs,
)
from components.input_fn.sources import (
    feature_spec,
    raw_feature_spec,
    read_schema,
    split_files,
    transform_output,
)

__all__ = [
    "ServingInputReceiver",
    "ServingInputReceiverFn",
    "build_parsing_serving_input_receiver_fn",
    "build_raw_serving_input_receiver_fn",
    "export_serving_model",
    "feature_spec",
    "make_dataset",
    "make_eval_input_fn",
    "make_input_fn",
    "raw_feature_spec",
    "raw_tensor_specs",
    "read_schema",
    "split_files",
    "transform_output",
]
