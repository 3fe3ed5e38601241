"""One live model under one strategy: its variables, traced step loops and state.

A ``Runtime`` is what a TF1 Estimator rebuilt as a graph and a session on every
call. Here it lives as long as the Estimator and is reused across train, evaluate
and predict calls, so that ``train_and_evaluate`` evaluates the model it trains,
in place:

* ``prepare(mode, ...)`` *builds* a mode the first time it is used: it traces the
  model_fn once in a throwaway ``tf.function`` (under ``strategy.run``, so once per
  replica) while the ``VariableStore`` creates its variables, then restores the new
  variables from the checkpoint the call must start from.
* the train, eval and predict loops are ``tf.function``s whose traces call the
  model_fn again; every variable request is answered from the store.
* ``synced_with`` is the checkpoint the variables currently equal; a call that must
  start from another checkpoint restores it first (and never restores otherwise).
* on a cluster (``distribution.py``): under MultiWorkerMirroredStrategy ``sync``
  lets the workers agree; under ParameterServerStrategy ``train`` schedules the
  steps on the workers through the chief's ``ClusterCoordinator``.

Example:
    >>> def model_fn(features, labels, mode):
    ...     w = tf.Variable(lambda: tf.zeros([1, 1]), name="w")
    ...     return EstimatorSpec(mode, predictions=features @ w)
    >>> runtime = Runtime(model_fn, {}, RunConfig(), tf.distribute.get_strategy())
    >>> spec = tf.TensorSpec([None, 1])
    >>> runtime.prepare(ModeKeys.PREDICT, spec, None)
    >>> runtime.store.names()
    ['global_step', 'w']
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from components.trainer.estimator import checkpoints, distribution
from components.trainer.estimator.errors import EstimatorSpecError
from components.trainer.estimator.inputs import batch_size, split_element
from components.trainer.estimator.model_fn import (
    EstimatorSpec,
    ModeKeys,
    call_model_fn,
    model_fn_args,
)
from components.trainer.estimator.run_config import RunConfig
from components.trainer.estimator.summaries import write_scalar
from components.trainer.estimator.variables import (
    VariableStore,
    local_replica_id,
    unwrap,
)

logger = logging.getLogger(__name__)

INITIAL = "<initial values>"
DIRTY = "<changed since the last checkpoint>"

_SCHEDULED_PER_WORKER = 4
_ASSIGN_OPS = {"AssignAddVariableOp", "AssignVariableOp", "AssignSubVariableOp"}


@dataclasses.dataclass
class _Built:
    """What the build trace of one mode learned about the model_fn."""

    spec: EstimatorSpec
    model_fn_counts_steps: bool = False


@contextlib.contextmanager
def _summary_step(step):
    """Makes ``step`` the default summary step inside the block (no flush on exit,
    unlike ``writer.as_default(step=...)``)."""
    previous = tf.summary.experimental.get_step()
    tf.summary.experimental.set_step(step)
    try:
        yield
    finally:
        tf.summary.experimental.set_step(previous)


class Runtime:
    """The live variables and traced loops of one Estimator under one strategy.

    Args:
        model_fn: The user's model_fn.
        params: The Estimator's params (passed to model_fn).
        config: The RunConfig (passed to model_fn).
        strategy: The ``tf.distribute.Strategy`` everything runs under.
        summary_dir: Where training summaries go (None: nowhere).
    """

    def __init__(
        self,
        model_fn: Callable,
        params: dict,
        config: RunConfig,
        strategy: tf.distribute.Strategy,
        summary_dir: str | None = None,
    ):
        self.model_fn = model_fn
        self.model_fn_args = model_fn_args(model_fn, params)
        self.params = params
        self.config = config
        self.strategy = strategy
        self.store = VariableStore(strategy)
        self.cluster = distribution.cluster_kind(strategy)
        self.sync = None
        self.coordinator = None
        if self.cluster == distribution.MULTI_WORKER:
            self.sync = distribution.WorkerSync(strategy)
        elif self.cluster == distribution.PARAMETER_SERVER:
            self.coordinator = tf.distribute.coordinator.ClusterCoordinator(strategy)
        _keep_keras_losses_local()
        with strategy.scope():
            self.global_step = tf.Variable(
                0,
                dtype=tf.int64,
                trainable=False,
                name=checkpoints.GLOBAL_STEP,
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            )
        self.store.add(checkpoints.GLOBAL_STEP, self.global_step)
        self.built: dict[str, _Built] = {}
        self.synced_with = INITIAL
        self._summary_dir = summary_dir
        self._writer = None
        self._eval_metrics: dict[str, Any] = {}
        self._train_loop = tf.function(self._train_loop_fn)
        self._scheduled_loop = tf.function(self._scheduled_loop_fn)
        self._eval_loop = tf.function(self._eval_loop_fn)
        self._predict_step = tf.function(self._predict_step_fn)
        self._loop_for_iterator: tuple | None = None

    @property
    def steps_per_run(self) -> int:
        """The most training steps one ``train`` call runs (one hook *run*).

        ``steps_per_loop``; under ParameterServerStrategy, enough scheduled
        functions to keep every worker busy between the chief's joins
        (``_SCHEDULED_PER_WORKER`` functions of ``steps_per_loop`` steps each).
        """
        steps = self.config.steps_per_loop
        if self.coordinator is not None:
            steps *= len(self.coordinator._cluster.workers) * _SCHEDULED_PER_WORKER
        return steps

    # ----------------------------------------------------------------- building

    def prepare(self, mode: str, element_spec, checkpoint_path: str | None) -> None:
        """Builds ``mode`` if needed and makes the variables equal the checkpoint.

        Args:
            mode: The mode about to run.
            element_spec: One replica's dataset element spec.
            checkpoint_path: The checkpoint to start from; None when model_dir has
                none (the variables then keep their values).

        Raises:
            CheckpointMismatchError: The model does not fit the checkpoint.
        """
        new_names = [] if mode in self.built else self._build(mode, element_spec)
        strict = mode == ModeKeys.TRAIN
        if checkpoint_path is None:
            return
        if checkpoint_path != self.synced_with:
            self.synced_with = DIRTY
            checkpoints.restore(self.store, checkpoint_path, strict_extras=strict)
            self.synced_with = checkpoint_path
            logger.info("Restored the model from %s", checkpoint_path)
        elif new_names:
            self.synced_with = DIRTY
            checkpoints.restore(
                self.store, checkpoint_path, names=new_names, strict_extras=strict
            )
            self.synced_with = checkpoint_path

    def _build(self, mode: str, element_spec) -> list[str]:
        if not self.built and self.config.tf_random_seed is not None:
            import keras

            keras.utils.set_random_seed(self.config.tf_random_seed)
        before = set(self.store.names())
        replica_fn = {
            ModeKeys.TRAIN: self._train_replica,
            ModeKeys.EVAL: self._eval_replica,
            ModeKeys.PREDICT: self._predict_replica,
        }[mode]
        specs: list[EstimatorSpec] = []

        def build(element):
            return self.strategy.run(lambda e: replica_fn(e, specs), args=(element,))

        with (
            self.store.building(mode),
            self.strategy.scope(),
            distribution.running_on_chief(self.strategy),
        ):
            concrete = tf.function(build).get_concrete_function(element_spec)
        self._refuse_outside_variables(concrete, mode)
        built = _Built(spec=specs[0])
        if mode == ModeKeys.TRAIN:
            built.model_fn_counts_steps = self._assigns_global_step(concrete.graph)
        for metric in built.spec.eval_metric_ops.values():
            self.store.mark_local(metric)
        self.built[mode] = built
        return [name for name in self.store.names() if name not in before]

    def _refuse_outside_variables(self, concrete, mode: str) -> None:
        outside = []
        for variable in concrete.variables:
            container = getattr(variable, "_distributed_container", None)
            owner = container() if container is not None else variable
            if self.store.name_of(owner) is None:
                outside.append(variable.name)
        if outside:
            raise EstimatorSpecError(
                f"model_fn in {mode} mode uses variables created outside it: "
                f"{sorted(set(outside))}. The Estimator creates, checkpoints and "
                "restores only what model_fn creates: build the Keras model, the "
                "optimizer and the metrics inside model_fn (pass settings in params)."
            )

    def _assigns_global_step(self, graph) -> bool:
        handles = {
            id(component.handle)
            for component in self.strategy.experimental_local_results(self.global_step)
        }
        captured = {
            id(internal)
            for external, internal in graph.captures
            if id(external) in handles
        }
        return any(
            op.type in _ASSIGN_OPS and id(op.inputs[0]) in captured
            for op in graph.get_operations()
        )

    def call_model_fn(self, features, labels, mode: str) -> EstimatorSpec:
        """Calls the model_fn with its variables from the store (inside a trace)."""
        return self.store.call(self._model_fn_call, features, labels, mode)

    def _model_fn_call(self, features, labels, mode: str) -> EstimatorSpec:
        graph = tf.compat.v1.get_default_graph()
        graph.get_collection_ref(tf.compat.v1.GraphKeys.GLOBAL_STEP)[:] = [
            self.global_step
        ]
        _LOCAL_LOSSES.active = True
        try:
            # As in tf.estimator, the model_fn builds a graph as plain Python: not
            # converted by AutoGraph, whose conversion of every function it calls
            # (heads, feature columns, Keras) took 20 s of a 1000-step taxi run.
            return _CALL_MODEL_FN_UNCONVERTED(
                self.model_fn,
                self.model_fn_args,
                features,
                labels,
                mode,
                self.params,
                self.config,
            )
        finally:
            _LOCAL_LOSSES.active = False

    # ----------------------------------------------------------------- replica steps

    def _train_replica(self, element, specs: list | None = None):
        features, labels = split_element(element)
        spec = self.store.call(self._train_model_fn, features, labels)
        if specs is not None and not specs:
            specs.append(spec)
        loss = tf.cast(spec.loss, tf.float32)
        count = batch_size(features, labels)
        return tf.where(count > 0, loss * count, 0.0), count

    def _train_model_fn(self, features, labels) -> EstimatorSpec:
        # One store call: the optimizer's slots are created in the same scope.
        with tf.GradientTape() as tape:
            spec = self._model_fn_call(features, labels, ModeKeys.TRAIN)
        pairs = optimizers_and_vars(spec.train_op)
        if pairs is None:
            if self.strategy.num_replicas_in_sync > 1 and local_replica_id() == 0:
                logger.warning(
                    "The model_fn applies its own gradients under %d replicas: it "
                    "must divide the loss by num_replicas_in_sync before taking "
                    "gradients (optimizers sum them over replicas), or return "
                    "train_op=optimizer to let the Estimator do it.",
                    self.strategy.num_replicas_in_sync,
                )
            return spec
        if len(pairs) == 1 and pairs[0][1] is None:
            pairs = [(pairs[0][0], self._trainable_read(tape))]
        replicas = self.strategy.num_replicas_in_sync
        # One gradient computation for every optimizer. Optimizers sum gradients
        # over replicas; scaling the mean loss by 1/replicas makes N replicas match
        # one replica on the global batch.
        everything = [v for _, var_list in pairs for v in var_list]
        grads = tape.gradient(
            spec.loss,
            everything,
            output_gradients=tf.constant(1.0 / replicas, spec.loss.dtype),
        )
        applied = 0
        for optimizer, var_list in pairs:
            own, grads = grads[: len(var_list)], grads[len(var_list) :]
            updates = [(g, v) for g, v in zip(own, var_list) if g is not None]
            if updates:
                optimizer.apply_gradients(updates)
                applied += 1
        if not applied:
            raise EstimatorSpecError(
                "train_op is an optimizer but loss depends on no trainable variable; "
                "check that the model's outputs feed the loss."
            )
        return spec

    def _trainable_read(self, tape) -> list:
        watched, outside = set(), []
        for variable in tape.watched_variables():
            name = self.store.name_of(variable)
            container = getattr(variable, "_distributed_container", None)
            if name is None and container is not None:
                name = self.store.name_of(container())
            if name is not None:
                watched.add(name)
            elif container is None:
                outside.append(unwrap(variable))
        ordered = [v for name, v in self.store.items() if name in watched]
        return [v for v in ordered if v.trainable] + outside

    def _eval_replica(self, element, specs: list | None = None):
        features, labels = split_element(element)
        spec = self.call_model_fn(features, labels, ModeKeys.EVAL)
        if specs is not None and not specs:
            specs.append(spec)
        if local_replica_id() == 0:
            self._eval_metrics = dict(spec.eval_metric_ops)
        loss = tf.cast(spec.loss, tf.float32)
        count = batch_size(features, labels)
        return tf.where(count > 0, loss * count, 0.0), count

    def _predict_replica(self, element, specs: list | None = None):
        features, labels = split_element(element)
        spec = self.call_model_fn(features, None, ModeKeys.PREDICT)
        if specs is not None and not specs:
            specs.append(spec)
        return spec.predictions

    # ----------------------------------------------------------------- loops

    def writer(self):
        """The training summary writer (created on first use)."""
        if self._writer is None and self._summary_dir:
            self._writer = tf.summary.create_file_writer(self._summary_dir)
        return self._writer

    def _train_loop_fn(self, iterator, steps):
        writer = self.writer()
        every = self.config.save_summary_steps or 0
        if writer is None or not every:
            return self._train_steps(iterator, steps, every=0)
        # One writer context per loop, not per step: leaving the context flushes
        # the writer, which cost as much as a small model's whole step.
        with writer.as_default():
            return self._train_steps(iterator, steps, every)

    def _train_steps(self, iterator, steps, every: int):
        counts_steps = self.built[ModeKeys.TRAIN].model_fn_counts_steps
        loss = tf.constant(float("nan"))
        done = tf.constant(0)
        optional = iterator.get_next_as_optional()
        while done < steps and optional.has_value():
            element = optional.get_value()
            # Ask for the next element before this step runs: nothing orders the
            # two, so reading the input overlaps the step (as Keras' fit does).
            if done + 1 < steps:
                following = iterator.get_next_as_optional()
            else:
                following = optional
            if every:
                step = self.global_step + 1
                with (
                    _summary_step(step),
                    tf.summary.record_if(tf.equal(step % every, 0)),
                ):
                    loss = self._train_step(element, counts_steps)
                    write_scalar("loss", loss)
            else:
                loss = self._train_step(element, counts_steps)
            optional = following
            done += 1
        return loss, done, self.global_step.read_value()

    def _train_step(self, element, counts_steps: bool):
        loss_sum, count = self.strategy.run(self._train_replica, args=(element,))
        loss_sum = self.strategy.reduce(tf.distribute.ReduceOp.SUM, loss_sum, None)
        count = self.strategy.reduce(tf.distribute.ReduceOp.SUM, count, None)
        if not counts_steps:
            self.global_step.assign_add(1)
        return loss_sum / tf.maximum(count, 1.0)

    def train(self, iterator, steps: int):
        """Runs up to ``steps`` training steps; returns (last loss, steps run, step).

        One device-to-host transfer per call: Python waits for the loop once.
        Under ParameterServerStrategy the steps run on the workers, in scheduled
        functions of up to ``steps_per_loop`` steps each.
        """
        if self.coordinator is not None:
            return self._train_scheduled(iterator, steps)
        loss, done, step = self._call_train_loop(iterator, tf.constant(steps))
        loss, done, step = (t.numpy() for t in (loss, done, step))
        return float(loss), int(done), int(step)

    def _call_train_loop(self, iterator, steps: tf.Tensor):
        # A train() call runs the loop once per chunk on one iterator. Matching
        # the iterator's structure to a trace on every call cost 0.2 ms, about
        # 10 ms per 1000 steps: the first chunk finds the trace, the others call it.
        cached = self._loop_for_iterator
        if cached is None or cached[0] is not iterator:
            concrete = self._train_loop.get_concrete_function(iterator, steps)
            flat = tf.nest.flatten(iterator, expand_composites=True)
            call_flat = getattr(concrete, "_call_flat", None)
            self._loop_for_iterator = cached = (iterator, concrete, flat, call_flat)
        _, concrete, flat, call_flat = cached
        if call_flat is None:
            return concrete(iterator, steps)
        return call_flat(flat + [steps], concrete.captured_inputs)

    def forget_iterator(self) -> None:
        """Drops the reference ``train`` keeps to the iterator it last ran on."""
        self._loop_for_iterator = None

    def _scheduled_loop_fn(self, iterator, steps):
        counts_steps = self.built[ModeKeys.TRAIN].model_fn_counts_steps
        loss_sum = tf.constant(0.0)
        done = tf.constant(0)
        while done < steps:
            optional = iterator.get_next_as_optional()
            if not optional.has_value():
                break
            loss_sum += self._train_step(optional.get_value(), counts_steps)
            done += 1
        return loss_sum, done

    def _train_scheduled(self, iterator, steps: int):
        # Each step adds 1 to the global step on the parameter servers (an atomic
        # AssignAdd); a function re-run after a worker failure counts its steps
        # again, so the step read afterwards is the truth, not the steps asked for.
        per_call = self.config.steps_per_loop
        results = []
        while steps > 0:
            n = min(per_call, steps)
            results.append(
                self.coordinator.schedule(
                    self._scheduled_loop, args=(iterator, tf.constant(n))
                )
            )
            steps -= n
        self.coordinator.join()
        fetched = [tuple(r.fetch()) for r in results]
        done = sum(int(d) for _, d in fetched)
        loss = sum(float(s) for s, _ in fetched) / done if done else float("nan")
        step = int(self.global_step.numpy())
        # The steps ran on the workers: the chief writes the run's mean loss when
        # the run crossed a summary step.
        writer, every = self.writer(), self.config.save_summary_steps or 0
        if (
            writer is not None
            and every
            and done
            and step // every > (step - done) // every
        ):
            with writer.as_default(step=step):
                write_scalar("loss", loss)
        return loss, done, step

    def _eval_loop_fn(self, iterator, max_steps):
        total = tf.constant(0.0, tf.float64)
        count = tf.constant(0.0, tf.float64)
        done = tf.constant(0, tf.int64)
        while tf.logical_or(max_steps < 0, done < max_steps):
            optional = iterator.get_next_as_optional()
            if not optional.has_value():
                break
            loss_sum, n = self.strategy.run(
                self._eval_replica, args=(optional.get_value(),)
            )
            reduce = self.strategy.reduce
            total += tf.cast(
                reduce(tf.distribute.ReduceOp.SUM, loss_sum, None), tf.float64
            )
            count += tf.cast(reduce(tf.distribute.ReduceOp.SUM, n, None), tf.float64)
            done += 1
        results = {name: metric.result() for name, metric in self._eval_metrics.items()}
        return total / tf.maximum(count, 1.0), results, done

    def evaluate(self, iterator, steps: int | None) -> tuple[dict, int]:
        """One evaluation: resets the metrics, runs, returns (results, batches)."""
        for metric in self.built[ModeKeys.EVAL].spec.eval_metric_ops.values():
            _reset(metric)
        with distribution.running_on_chief(self.strategy):
            loss, results, done = self._eval_loop(
                iterator, tf.constant(-1 if steps is None else steps, tf.int64)
            )
        out = {"loss": loss.numpy().astype("float32")}
        for name, value in results.items():
            out[name] = tf.nest.map_structure(lambda t: t.numpy(), value)
        return out, int(done)

    def _predict_step_fn(self, element):
        predictions = self.strategy.run(self._predict_replica, args=(element,))
        local = self.strategy.experimental_local_results(predictions)
        if len(local) == 1:
            return local[0]
        return tf.nest.map_structure(lambda *parts: tf.concat(parts, 0), *local)

    def predict_batch(self, element):
        """Predictions for one (distributed) batch, as numpy."""
        with distribution.running_on_chief(self.strategy):
            predictions = self._predict_step(element)
        return tf.nest.map_structure(lambda t: t.numpy(), predictions)


_LOCAL_LOSSES = threading.local()
_LOSS_GUARD_INSTALLED = False


def _keep_keras_losses_local() -> None:
    """Makes Keras 3 losses return the replica's plain mean inside model_fn calls.

    Keras 3 divides a loss by num_replicas_in_sync when a strategy is active (its
    trainer then sums gradients over replicas). A model_fn's loss means the mean
    over the replica's batch under every strategy, as in tf.estimator; the
    Estimator does the scaling. Outside model_fn calls Keras behaves as before.
    """
    global _LOSS_GUARD_INSTALLED
    if _LOSS_GUARD_INSTALLED:
        return
    from keras.src.losses import loss as loss_module

    scale = loss_module.scale_loss_for_distribution

    # Plain Python run at trace time. Under ParameterServerStrategy AutoGraph once
    # converted it, and its converted copy failed with NameError on `scale`.
    @tf.autograph.experimental.do_not_convert
    def scale_unless_in_model_fn(value):
        if getattr(_LOCAL_LOSSES, "active", False):
            return value
        return scale(value)

    loss_module.scale_loss_for_distribution = scale_unless_in_model_fn
    _LOSS_GUARD_INSTALLED = True


_CALL_MODEL_FN_UNCONVERTED = tf.autograph.experimental.do_not_convert(call_model_fn)


def optimizers_and_vars(train_op) -> list[tuple[Any, list | None]] | None:
    """The (optimizer, var_list) pairs a train_op asks the Estimator to apply.

    ``optimizer`` gives one pair with ``var_list`` None (every trainable variable
    the loss read); ``(optimizer, var_list)`` one pair; a list of such pairs
    (wide & deep: one optimizer per part) several. None: the model_fn applied
    its own gradients.

    Raises:
        EstimatorSpecError: A list mixes pairs with something else, or a variable
            is in two pairs.
    """
    if _is_pair(train_op):
        return [(train_op[0], list(train_op[1]))]
    if _is_optimizer(train_op):
        return [(train_op, None)]
    if isinstance(train_op, list) and train_op and any(map(_is_pair, train_op)):
        if not all(map(_is_pair, train_op)):
            raise EstimatorSpecError(
                "train_op is a list, so each entry must be an (optimizer, var_list) "
                f"pair; got {[type(entry).__name__ for entry in train_op]}."
            )
        pairs = [(optimizer, list(var_list)) for optimizer, var_list in train_op]
        seen: set[int] = set()
        for _, var_list in pairs:
            for variable in var_list:
                if id(unwrap(variable)) in seen:
                    name = getattr(variable, "path", None) or variable.name
                    raise EstimatorSpecError(
                        f"variable {name!r} is in the var_list of two "
                        "train_op pairs; give each variable to one optimizer."
                    )
                seen.add(id(unwrap(variable)))
        return pairs
    return None


def _is_pair(value) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and _is_optimizer(value[0])
        and not _is_optimizer(value[1])
    )


def _is_optimizer(value) -> bool:
    return (
        hasattr(value, "apply_gradients")
        and not tf.is_tensor(value)
        and not isinstance(value, (tf.Operation, tf.Variable))
    )


def _reset(metric) -> None:
    reset = getattr(metric, "reset_state", None) or getattr(
        metric, "reset_states", None
    )
    if reset is None:
        raise EstimatorSpecError(
            f"metric {metric!r} has no reset_state(); eval_metric_ops must hold "
            "metric objects the Estimator can reset before each evaluation."
        )
    reset()
