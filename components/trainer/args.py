"""What the Trainer hands the user's ``trainer_fn``: ``TrainerArgs``."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass
class TrainerArgs:
    """Everything a ``trainer_fn(args)`` needs to build an Estimator and its specs.

    Attributes:
        examples_uri: The Examples artifact trained on (raw or transformed).
        train_split / eval_split: The splits trained and evaluated on.
        train_files / eval_files: Their shards.
        schema_path: The raw schema (``schema.pbtxt``), if a Schema was given.
        transform_graph_uri: Transform's output folder, if a TransformGraph was given.
        label_key: The label the built input functions split off (None: no label).
        train_steps / train_epochs / eval_steps: How long to train and evaluate.
        hyperparameters / custom_config: The Trainer's free-form parameters.
        model_dir: Where checkpoints and event files go (the ModelRun artifact);
            an Estimator must use it (``config=args.run_config`` does).
        serving_model_dir: Where the Trainer exports the serving SavedModel.
        warm_start_from: The base model's checkpoint folder, for ``warm_start_from=``
            (None without a base model).
        run_config: A ``RunConfig`` with ``model_dir``, the strategy and a
            checkpoint every 60 s; change it with ``args.run_config.replace(...)``.
        strategy: The ``tf.distribute.Strategy`` (None for the default one).
        train_input_fn / eval_input_fn: Input functions over the train and eval
            splits, batches of ``batch_size`` per replica (None without a label_key).
        serving_receiver_fn: Takes serialized raw tf.Examples, applies the transform
            graph when there is one.
        replicas: Replicas in sync under the strategy.
    """

    examples_uri: str
    train_split: str
    eval_split: str
    train_files: list[str]
    eval_files: list[str]
    schema_path: str | None
    transform_graph_uri: str | None
    label_key: str | None
    train_steps: int | None
    train_epochs: int | None
    eval_steps: int | None
    batch_size: int
    hyperparameters: dict[str, Any]
    custom_config: dict[str, Any]
    model_dir: str
    serving_model_dir: str
    warm_start_from: str | None
    run_config: Any
    strategy: Any
    train_input_fn: Callable[..., Any] | None
    eval_input_fn: Callable[..., Any] | None
    serving_receiver_fn: Any
    replicas: int = 1

    @functools.cached_property
    def transform_output(self) -> Any:
        """The ``tft.TFTransformOutput`` of the transform graph (None without one)."""
        if self.transform_graph_uri is None:
            return None
        from components.input_fn import transform_output

        return transform_output(self.transform_graph_uri)

    @functools.cached_property
    def schema(self) -> Any:
        """The raw schema proto (None without a Schema)."""
        if self.schema_path is None:
            return None
        from components.input_fn import read_schema

        return read_schema(self.schema_path)

    def input_fn(self, split: str, **kwargs: Any) -> Callable[..., Any]:
        """Another input_fn over ``split`` of the examples (``make_input_fn``'s
        arguments; parsing follows the transform graph or the schema)."""
        from components.input_fn import make_input_fn

        return make_input_fn(
            self.examples_uri, split=split, **self._parsing(), **kwargs
        )

    def _parsing(self) -> dict[str, Any]:
        if self.transform_graph_uri is not None:
            return {"transform_graph": self.transform_output}
        return {"schema": self.schema_path}
