"""Estimator: tf.estimator's train / evaluate / predict / export on TF2 and Keras 3.

Example:
    >>> import keras
    >>> def model_fn(features, labels, mode):
    ...     model = keras.Sequential([keras.layers.Dense(1)])
    ...     predictions = model(features["x"])
    ...     if mode == ModeKeys.PREDICT:
    ...         return EstimatorSpec(mode, predictions={"y": predictions})
    ...     loss = keras.losses.MeanSquaredError()(labels, predictions)
    ...     return EstimatorSpec(mode, loss=loss, train_op=keras.optimizers.SGD(0.1))
    >>> def input_fn():
    ...     x = tf.constant([[1.0], [2.0], [3.0], [4.0]])
    ...     return tf.data.Dataset.from_tensor_slices(({"x": x}, 2 * x)).batch(2)
    >>> estimator = Estimator(model_fn, config=RunConfig(tf_random_seed=1))
    >>> estimator = estimator.train(lambda: input_fn().repeat(), steps=40)
    >>> bool(estimator.evaluate(input_fn)["loss"] < 0.1)
    True
    >>> "sequential/dense/kernel" in estimator.get_variable_names()
    True
"""

from __future__ import annotations

import copy
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import tensorflow as tf

from components.trainer.estimator import checkpoints, distribution, warm_starting
from components.trainer.estimator.errors import (
    EstimatorSpecError,
    NanLossDuringTrainingError,
    NoCheckpointError,
)
from components.trainer.estimator.hooks import SessionRunContext, SessionRunValues
from components.trainer.estimator.inputs import make_input
from components.trainer.estimator.model_fn import (  # noqa: F401 (doctest names)
    EstimatorSpec,
    ModeKeys,
    model_fn_args,
)
from components.trainer.estimator.run_config import RunConfig
from components.trainer.estimator.runtime import DIRTY, INITIAL, Runtime
from components.trainer.estimator.summaries import write_scalar

logger = logging.getLogger(__name__)


class Estimator:
    """Trains, evaluates, predicts with and exports the model a model_fn builds.

    Every call starts from the newest checkpoint in ``model_dir`` (or from the
    variables' initializers when there is none). The model's variables live as long
    as the Estimator, so consecutive calls in one process do not rebuild or reload
    anything they need not.

    Args:
        model_fn: ``model_fn(features, labels, mode, params, config)`` returning an
            ``EstimatorSpec``; only ``features`` is required (see ``docs/estimator.md``
            for the TF2 contract).
        model_dir: Where checkpoints and summaries go; a new temporary directory
            when neither this nor ``config.model_dir`` is given.
        config: A ``RunConfig``.
        params: A dict passed to model_fn (and to input_fns that take ``params``).
        warm_start_from: A model_dir, checkpoint or ``WarmStartSettings`` to
            initialize from when ``model_dir`` has no checkpoint yet.

    Raises:
        EstimatorSpecError: model_fn's signature, config or model_dir is wrong.
    """

    def __init__(
        self,
        model_fn: Callable,
        model_dir: str | os.PathLike | None = None,
        config: RunConfig | None = None,
        params: dict | None = None,
        warm_start_from: Any = None,
    ):
        if config is None:
            config = RunConfig()
        elif not isinstance(config, RunConfig):
            raise EstimatorSpecError(
                "Estimator(config=...) must be a RunConfig from "
                f"components.trainer.estimator; got {type(config).__name__}."
            )
        model_dir = os.fspath(model_dir) if model_dir else None
        if model_dir and config.model_dir and model_dir != config.model_dir:
            raise EstimatorSpecError(
                f"model_dir is given both to Estimator ({model_dir}) and to RunConfig "
                f"({config.model_dir}) with different values; give it once."
            )
        model_dir = model_dir or config.model_dir
        if not model_dir:
            model_dir = tempfile.mkdtemp(prefix="estimator-")
            logger.warning("Using temporary folder as model directory: %s", model_dir)
        self._config = config.replace(model_dir=model_dir)
        model_fn_args(model_fn, params)
        self._model_fn = model_fn
        self._params = copy.deepcopy(params) if params else {}
        self._warm_start = warm_starting.settings_from(warm_start_from)
        self._runtimes: dict[int, Runtime] = {}

    @classmethod
    def from_keras_model(
        cls,
        keras_model,
        model_dir: str | os.PathLike | None = None,
        config: RunConfig | None = None,
        **kwargs,
    ) -> Estimator:
        """An Estimator of this class for a compiled Keras model (model_to_estimator).

        Args:
            keras_model: A compiled Keras 3 model, or the path of a ``.keras`` file.
            model_dir: Where checkpoints and summaries go.
            config: A ``RunConfig``.
            **kwargs: ``model_to_estimator``'s other arguments (``custom_objects``,
                ``metric_names_map``, ``export_outputs``, ...).

        Returns:
            An Estimator whose variables start from the model's current weights.

        Example:
            >>> import keras
            >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
            >>> model.compile(optimizer="sgd", loss="mse")
            >>> estimator = Estimator.from_keras_model(model)
            >>> type(estimator).__name__
            'Estimator'
        """
        from components.trainer.estimator.keras import estimator_from_keras

        if isinstance(keras_model, str | os.PathLike):
            kwargs["keras_model_path"] = keras_model
            keras_model = None
        return estimator_from_keras(
            cls, keras_model=keras_model, model_dir=model_dir, config=config, **kwargs
        )

    model_dir = property(lambda self: self._config.model_dir, doc="Where it all goes.")
    config = property(lambda self: self._config, doc="The RunConfig.")
    model_fn = property(lambda self: self._model_fn, doc="The model_fn.")

    @property
    def params(self) -> dict:
        """A copy of the params."""
        return copy.deepcopy(self._params)

    # ------------------------------------------------------------ checkpoints

    def latest_checkpoint(self) -> str | None:
        """The newest checkpoint in model_dir, or None."""
        return checkpoints.latest_checkpoint(self.model_dir)

    def _require_checkpoint(self) -> str:
        latest = self.latest_checkpoint()
        if latest is None:
            raise NoCheckpointError(
                f"model_dir {self.model_dir} holds no checkpoint yet; train first."
            )
        return latest

    def get_variable_names(self) -> list[str]:
        """The names of the variables in the newest checkpoint, sorted.

        Raises:
            NoCheckpointError: There is no checkpoint yet.
        """
        return sorted(checkpoints.variable_shapes(self._require_checkpoint()))

    def get_variable_value(self, name: str) -> np.ndarray:
        """The value of variable ``name`` in the newest checkpoint.

        Raises:
            NoCheckpointError: There is no checkpoint yet.
            KeyError: The checkpoint has no such variable.
        """
        return checkpoints.read_value(self._require_checkpoint(), name)

    # ------------------------------------------------------------ runtimes

    def _strategy(self, mode: str) -> tf.distribute.Strategy:
        config = self._config
        if mode == ModeKeys.TRAIN:
            chosen = config.train_distribute
        else:
            chosen = config.eval_distribute or config.train_distribute
        return chosen or tf.distribute.get_strategy()

    def _runtime(self, mode: str) -> Runtime:
        strategy = self._strategy(mode)
        runtime = self._runtimes.get(id(strategy))
        if runtime is None:
            local = distribution.cluster_kind(strategy) == distribution.LOCAL
            runtime = Runtime(
                self._model_fn,
                self._params,
                self._config,
                strategy,
                summary_dir=self.model_dir if local or self._config.is_chief else None,
            )
            runtime.saver = checkpoints.CheckpointSaver(
                runtime.store,
                self.model_dir,
                self._config.keep_checkpoint_max,
                self._config.keep_checkpoint_every_n_hours,
            )
            self._runtimes[id(strategy)] = runtime
        return runtime

    def _writes_outputs(self, runtime: Runtime) -> bool:
        # On a cluster only the chief writes summaries and exports.
        return runtime.cluster == distribution.LOCAL or self._config.is_chief

    def _prepared(self, mode: str, input_fn: Callable, checkpoint_path: str | None):
        """The runtime restored for ``mode`` (from the newest checkpoint unless one is
        named) and the input for it."""
        checkpoint = checkpoint_path or self._latest_for(mode)
        if checkpoint is None:
            logger.info(
                "Could not find trained model in model_dir: %s, running "
                "initialization to %s.",
                self.model_dir,
                "evaluate" if mode == ModeKeys.EVAL else "predict",
            )
        runtime = self._runtime(mode)
        data = make_input(
            input_fn,
            mode,
            runtime.strategy,
            self._params,
            self._config,
            runtime.coordinator,
        )
        runtime.prepare(mode, data.element_spec, checkpoint)
        return runtime, data

    def _latest_for(self, mode: str) -> str | None:
        """The checkpoint a call starts from: on a multi-worker cluster, the chief's.

        Every worker must start from the same checkpoint, and a worker may not see
        the chief's newest one yet (it may still be writing it, or storage may lag):
        the chief shares its newest step and the others wait until it is readable.
        """
        strategy = self._strategy(mode)
        if distribution.cluster_kind(strategy) != distribution.MULTI_WORKER:
            return self.latest_checkpoint()
        runtime = self._runtime(mode)
        latest = self.latest_checkpoint()
        step = checkpoints.checkpoint_step(latest) + 1 if latest else 0
        chief_step, _ = runtime.sync.agree(step, self._config.is_chief)
        if chief_step == 0:
            return None
        if self._config.is_chief:
            return latest
        return checkpoints.wait_for_checkpoint(
            self.model_dir,
            chief_step - 1,
            self._config.session_creation_timeout_secs,
        )

    def _agree_with_chief(self, value: int) -> int:
        # The chief's value on every worker of a multi-worker cluster.
        runtime = self._runtime(ModeKeys.TRAIN)
        if runtime.sync is None:
            return value
        return runtime.sync.agree(value, self._config.is_chief)[0]

    # ------------------------------------------------------------ train

    def train(
        self,
        input_fn: Callable,
        hooks: list | None = None,
        steps: int | None = None,
        max_steps: int | None = None,
        saving_listeners: list | None = None,
    ) -> Estimator:
        """Trains from the newest checkpoint for ``steps`` more steps or to ``max_steps``.

        With neither, trains until the input_fn's dataset ends. Checkpoints are
        saved when training starts, on the RunConfig schedule, and when it ends.

        Args:
            input_fn: Returns a ``tf.data.Dataset`` of ``(features, labels)``.
            hooks: ``SessionRunHook``s.
            steps: Steps to train on top of the checkpoint's global step.
            max_steps: The global step to stop at (nothing happens if reached).
            saving_listeners: ``CheckpointSaverListener``s.

        Returns:
            self, for chaining.

        Raises:
            EstimatorSpecError: Both or non-positive steps/max_steps.
            CheckpointMismatchError: The model does not fit model_dir's checkpoints.
            NanLossDuringTrainingError: The loss became NaN.
        """
        if steps is not None and max_steps is not None:
            raise EstimatorSpecError(
                "train(): give steps or max_steps, not both "
                f"(got steps={steps}, max_steps={max_steps})."
            )
        for name, value in (("steps", steps), ("max_steps", max_steps)):
            if value is not None and value <= 0:
                raise EstimatorSpecError(f"train({name}={value}): must be > 0.")
        latest = self._latest_for(ModeKeys.TRAIN)
        if max_steps is not None and latest is not None:
            if checkpoints.checkpoint_step(latest) >= max_steps:
                logger.info(
                    "Skipping training: the checkpoint is at max_steps=%s already.",
                    max_steps,
                )
                return self
        self._train(input_fn, hooks, steps, max_steps, saving_listeners, latest)
        return self

    def _train(
        self, input_fn, hooks, steps, max_steps, listeners, latest, on_save=None
    ):
        runtime = self._runtime(ModeKeys.TRAIN)
        data = make_input(
            input_fn,
            ModeKeys.TRAIN,
            runtime.strategy,
            self._params,
            self._config,
            runtime.coordinator,
        )
        runtime.prepare(ModeKeys.TRAIN, data.element_spec, latest)
        if latest is None and runtime.synced_with == INITIAL and self._warm_start:
            warm_starting.warm_start(runtime.store, self._warm_start)
        spec = runtime.built[ModeKeys.TRAIN].spec
        hooks = list(hooks or []) + list(spec.training_hooks)
        if self._config.is_chief:
            hooks += list(spec.training_chief_hooks)
        listeners = list(listeners or [])
        loop = _TrainingLoop(self, runtime, hooks, listeners, on_save)
        loop.run(data.dataset, steps, max_steps, latest)

    # ------------------------------------------------------------ evaluate

    def evaluate(
        self,
        input_fn: Callable,
        steps: int | None = None,
        hooks: list | None = None,
        checkpoint_path: str | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Evaluates the model of a checkpoint (default: the newest) on input_fn.

        Args:
            input_fn: Returns a ``tf.data.Dataset`` of ``(features, labels)``.
            steps: Batches to evaluate; None evaluates the whole dataset once (its
                last partial batch included).
            hooks: ``SessionRunHook``s.
            checkpoint_path: A checkpoint to evaluate instead of the newest.
            name: Names the evaluation; summaries go to ``eval_<name>``.

        Returns:
            ``loss`` (the example-weighted mean of the batch losses), each
            ``eval_metric_ops`` result, and ``global_step``.
        """
        if steps is not None and steps <= 0:
            raise EstimatorSpecError(f"evaluate(steps={steps}): must be > 0 or None.")
        runtime, data = self._prepared(ModeKeys.EVAL, input_fn, checkpoint_path)
        hooks = list(hooks or []) + list(
            runtime.built[ModeKeys.EVAL].spec.evaluation_hooks
        )
        for hook in hooks:
            hook.begin()
            hook.after_create_session(None, None)
        started = time.monotonic()
        results, batches = runtime.evaluate(iter(data.dataset), steps)
        step = int(runtime.global_step.numpy())
        results["global_step"] = step
        context = SessionRunContext()
        for hook in hooks:
            hook.after_run(context, SessionRunValues({**results, "steps": batches}))
            hook.end(None)
        logger.info(
            "Evaluation [%s batches] in %.2fs: %s",
            batches,
            time.monotonic() - started,
            ", ".join(f"{k} = {v}" for k, v in sorted(results.items())),
        )
        if self._writes_outputs(runtime):
            self._write_eval_summaries(results, step, name)
        return results

    def _eval_dir(self, name: str | None) -> str:
        return os.path.join(self.model_dir, "eval" if not name else f"eval_{name}")

    def _write_eval_summaries(self, results: dict, step: int, name: str | None):
        writer = tf.summary.create_file_writer(self._eval_dir(name))
        with writer.as_default(step=step):
            for key, value in results.items():
                value = np.asarray(value)
                if (
                    key != "global_step"
                    and value.size == 1
                    and value.dtype.kind in "fiub"
                ):
                    write_scalar(key, float(value))
        writer.flush()
        writer.close()

    # ------------------------------------------------------------ predict

    def predict(
        self,
        input_fn: Callable,
        predict_keys: list[str] | str | None = None,
        hooks: list | None = None,
        checkpoint_path: str | None = None,
        yield_single_examples: bool = True,
    ) -> Iterator[Any]:
        """Yields predictions of a checkpoint's model (default: the newest).

        Args:
            input_fn: Returns a ``tf.data.Dataset`` of features (or of
                ``(features, labels)``; labels are ignored).
            predict_keys: Keep only these keys of a predictions dict.
            hooks: ``SessionRunHook``s.
            checkpoint_path: A checkpoint to use instead of the newest.
            yield_single_examples: Yield one example at a time (default) or batches.

        Yields:
            A dict (or array) per example, or per batch.
        """
        runtime, data = self._prepared(ModeKeys.PREDICT, input_fn, checkpoint_path)
        keys = [predict_keys] if isinstance(predict_keys, str) else predict_keys
        hooks = list(hooks or []) + list(
            runtime.built[ModeKeys.PREDICT].spec.prediction_hooks
        )
        for hook in hooks:
            hook.begin()
            hook.after_create_session(None, None)
        try:
            for element in data.dataset:
                predictions = runtime.predict_batch(element)
                if keys is not None:
                    predictions = _select(predictions, keys)
                if not yield_single_examples:
                    yield predictions
                    continue
                yield from _unbatch(predictions)
        finally:
            for hook in hooks:
                hook.end(None)

    # ------------------------------------------------------------ export

    def export_saved_model(
        self,
        export_dir_base: str,
        serving_input_receiver_fn: Callable,
        assets_extra: dict | None = None,
        as_text: bool = False,
        checkpoint_path: str | None = None,
        experimental_mode: str = ModeKeys.PREDICT,
    ) -> bytes:
        """Exports a checkpoint's model (default: the newest) as a SavedModel.

        The SavedModel lands in ``<export_dir_base>/<timestamp>`` and holds
        ``serving_default`` plus one signature per ``export_outputs`` entry (and
        ``predict``, all predictions); it needs nothing but TensorFlow to load.

        Args:
            export_dir_base: The parent of the timestamped export directory.
            serving_input_receiver_fn: Returns an ``export.ServingInputReceiver``.
            assets_extra: Maps a destination path under ``assets.extra`` to a
                source file to copy there.
            as_text: Ignored (TF2 writes binary SavedModels).
            checkpoint_path: A checkpoint to export instead of the newest.
            experimental_mode: Only ``ModeKeys.PREDICT`` is supported.

        Returns:
            The export directory, as bytes (tf.estimator's type).

        Raises:
            NoCheckpointError: There is no checkpoint to export.
        """
        from components.trainer.estimator import export

        if experimental_mode != ModeKeys.PREDICT:
            raise EstimatorSpecError(
                "export_saved_model(experimental_mode=...) supports only "
                "ModeKeys.PREDICT."
            )
        checkpoint = checkpoint_path or self._require_checkpoint()
        return export.export_saved_model(
            self, export_dir_base, serving_input_receiver_fn, checkpoint, assets_extra
        )

    export_savedmodel = export_saved_model


class _TrainingLoop:
    """One ``train`` call: steps in chunks, hooks, logs, the NaN check, saves."""

    def __init__(self, estimator, runtime, hooks, listeners, on_save):
        self.estimator = estimator
        self.runtime = runtime
        self.config = estimator.config
        self.hooks = hooks
        self.listeners = listeners
        self.on_save = on_save
        self.schedule = checkpoints.SaveSchedule(
            self.config.save_checkpoints_secs, self.config.save_checkpoints_steps
        )
        self.stop = False

    def save(self, step: int) -> None:
        sync, chief = self.runtime.sync, self.config.is_chief
        if sync is None and not chief:
            return
        stop = False
        if chief:
            for listener in self.listeners:
                listener.before_save(None, step)
            path = self.runtime.saver.save(step)
        else:
            checkpoints.write_and_discard(self.runtime.store, step)
            path = checkpoints.path_for_step(self.config.model_dir, step)
        if sync is not None:
            sync.barrier()
        self.runtime.synced_with = path
        self.schedule.saved(step)
        if chief:
            for listener in self.listeners:
                if listener.after_save(None, step):
                    stop = True
        if self.on_save is not None and self.on_save(path, step):
            stop = True
        if sync is not None:
            stop = sync.agree(0, chief, stop)[1]
        self.stop = self.stop or stop

    def run(self, dataset, steps, max_steps, latest) -> None:
        runtime, config = self.runtime, self.config
        step = int(runtime.global_step.numpy())
        last = max_steps if max_steps is not None else (step + steps if steps else None)
        for hook in self.hooks:
            hook.begin()
            hook.after_create_session(None, None)
        for listener in self.listeners:
            listener.begin()
        if latest is None or checkpoints.checkpoint_step(latest) != step:
            self.save(step)
        else:
            self.schedule.saved(step)
        iterator = iter(dataset)
        log_every = config.log_step_count_steps or 0
        log_time, log_step = time.monotonic(), step
        context = SessionRunContext()
        try:
            while (last is None or step < last) and not self.stop:
                chunk = self._chunk(step, last, log_every)
                for hook in self.hooks:
                    hook.before_run(context)
                runtime.synced_with = DIRTY
                loss, done, step = runtime.train(iterator, chunk)
                if done and math.isnan(loss):
                    raise NanLossDuringTrainingError(
                        f"NaN loss during training at global step {step} "
                        f"(model_dir {self.config.model_dir})."
                    )
                values = SessionRunValues(
                    {"loss": loss, "global_step": step, "steps": done}
                )
                for hook in self.hooks:
                    hook.after_run(context, values)
                if log_every and done and step - log_step >= log_every:
                    log_time, log_step = self._log(loss, step, log_time, log_step)
                save_due, stop = self.schedule.due(step), context.stop_requested
                if self.runtime.sync is not None:
                    # The chief's clock decides time-based saves; any worker's
                    # hooks may stop. Workers that part ways would hang.
                    save_due, stop = self.runtime.sync.agree(
                        int(save_due), self.config.is_chief, stop
                    )
                if save_due:
                    self.save(step)
                if done < chunk or stop:
                    break
        except BaseException:
            self._close()
            raise
        if self.runtime.synced_with == DIRTY:
            self.save(step)
        for hook in self.hooks:
            hook.end(None)
        for listener in self.listeners:
            listener.end(None, step)
        self._close()

    def _chunk(self, step: int, last: int | None, log_every: int) -> int:
        chunk = self.runtime.steps_per_run
        if last is not None:
            chunk = min(chunk, last - step)
        until_save = self.schedule.steps_until_due(step)
        if until_save is not None:
            chunk = min(chunk, until_save)
        if log_every:
            chunk = min(chunk, log_every - step % log_every)
        return max(chunk, 1)

    def _log(self, loss, step, log_time, log_step):
        now = time.monotonic()
        rate = (step - log_step) / max(now - log_time, 1e-9)
        logger.info("loss = %s, step = %s (%.3f sec)", loss, step, now - log_time)
        logger.info("global_step/sec: %.4g", rate)
        writer = self.runtime.writer()
        if writer is not None:
            with writer.as_default(step=step):
                write_scalar("global_step/sec", rate)
        return now, step

    def _close(self):
        self.runtime.forget_iterator()
        writer = self.runtime.writer()
        if writer is not None:
            writer.flush()


def _select(predictions, keys: list[str]):
    if not isinstance(predictions, dict):
        raise EstimatorSpecError(
            "predict(predict_keys=...) needs the model_fn's predictions to be a dict."
        )
    unknown = sorted(set(keys) - set(predictions))
    if unknown:
        raise EstimatorSpecError(
            f"predict_keys {unknown} are not among the predictions "
            f"{sorted(predictions)}."
        )
    return {key: predictions[key] for key in keys}


def _unbatch(predictions) -> Iterator[Any]:
    if isinstance(predictions, dict):
        sizes = {np.shape(v)[0] if np.ndim(v) else None for v in predictions.values()}
        if None in sizes or len(sizes) != 1:
            raise EstimatorSpecError(
                "predict(yield_single_examples=True) needs every prediction to have "
                "the same batch dimension; got shapes "
                f"{ {k: np.shape(v) for k, v in predictions.items()} }. Pass "
                "yield_single_examples=False to get whole batches."
            )
        for i in range(sizes.pop()):
            yield {key: value[i] for key, value in predictions.items()}
    else:
        if not np.ndim(predictions):
            raise EstimatorSpecError(
                "predict(yield_single_examples=True) needs predictions with a batch "
                "dimension; pass yield_single_examples=False."
            )
        yield from predictions
