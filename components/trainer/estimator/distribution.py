"""Training on a cluster: what the workers agree on, per-worker input, task servers.

Two multi-process strategies come from ``TF_CONFIG``, each with its own shape of
training loop:

* ``tf.distribute.MultiWorkerMirroredStrategy`` (*multi-worker*): every worker runs
  the same program and the same loop in lockstep; each step all-reduces gradients.
  Whatever makes a worker leave the loop or take another branch (a time-based
  checkpoint, a hook's stop request, the checkpoint to start from) must therefore be
  decided once and shared: ``WorkerSync`` all-reduces small integers over the
  workers. Every worker takes part in a save (a save may read variables through
  collectives); only the chief writes into ``model_dir``, the others write to a
  temporary directory and delete it (``checkpoints.write_and_discard``), then all
  wait for the chief (a barrier) so that no worker ever looks for a checkpoint the
  chief has not finished.
* ``tf.distribute.ParameterServerStrategy`` (*parameter server*): only the chief
  runs the Estimator; workers and parameter servers run a ``tf.distribute.Server``
  (``start_server``). The chief's ``ClusterCoordinator`` schedules training steps on
  whichever worker is free; ``PerWorkerInput`` gives each worker its own dataset
  from the input_fn, called with that worker's ``InputContext``.

Example:
    >>> cluster_kind(tf.distribute.get_strategy())
    'local'
    >>> threads_for_task({"cluster": {"worker": ["a:1", "b:2"], "ps": ["c:3"]}})
    3
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterator

import tensorflow as tf

from components.trainer.estimator.errors import EstimatorSpecError

logger = logging.getLogger(__name__)

LOCAL = "local"
MULTI_WORKER = "multi_worker"
PARAMETER_SERVER = "parameter_server"


def cluster_kind(strategy: tf.distribute.Strategy) -> str:
    """``"parameter_server"``, ``"multi_worker"`` (MWMS over >1 worker) or ``"local"``."""
    # The mark ClusterCoordinator itself checks for (the TF2 strategy, not v1's).
    if hasattr(strategy, "_is_parameter_server_strategy_v2"):
        return PARAMETER_SERVER
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        resolver = strategy.cluster_resolver
        spec = resolver.cluster_spec().as_dict() if resolver is not None else {}
        if len(spec.get("chief", [])) + len(spec.get("worker", [])) > 1:
            return MULTI_WORKER
    return LOCAL


class WorkerSync:
    """Sums small integer vectors over the workers of a MultiWorkerMirroredStrategy.

    Every worker must make the same calls in the same order (they are collective
    operations); each call is also a barrier.

    Args:
        strategy: A ``MultiWorkerMirroredStrategy``.
    """

    def __init__(self, strategy: tf.distribute.Strategy):
        self._strategy = strategy
        local_replicas = len(strategy.extended.worker_devices)

        def total(values):
            def replica_values():
                context = tf.distribute.get_replica_context()
                first = tf.equal(context.replica_id_in_sync_group % local_replicas, 0)
                return tf.where(first, values, tf.zeros_like(values))

            per_replica = strategy.run(replica_values)
            return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

        self._total = tf.function(total)

    def total(self, values: list[int]) -> list[int]:
        """The element-wise sum of ``values`` over all workers."""
        summed = self._total(tf.constant(values, tf.int64))
        return [int(v) for v in summed.numpy()]

    def barrier(self) -> None:
        """Returns once every worker has called it."""
        self.total([0])

    def agree(self, chief_value: int, is_chief: bool, any_flag: bool = False):
        """(the chief's value, whether any worker raised the flag), on every worker."""
        value, flags = self.total([chief_value if is_chief else 0, int(any_flag)])
        return value, flags > 0


@contextlib.contextmanager
def running_on_chief(strategy: tf.distribute.Strategy) -> Iterator[None]:
    """Lets ParameterServerStrategy's ``run`` be traced outside ``schedule``, quietly.

    The Estimator traces the model_fn on the chief to build the model (the trace
    never runs) and evaluates and predicts on the chief; without this each trace
    logs that ``run`` was called outside ``ClusterCoordinator.schedule``.
    """
    extended = strategy.extended
    if not hasattr(extended, "_allow_run_without_coordinator"):
        yield
        return
    before = extended._allow_run_without_coordinator
    extended._allow_run_without_coordinator = True
    try:
        yield
    finally:
        extended._allow_run_without_coordinator = before


class PerWorkerInput:
    """The training input under a ParameterServerStrategy: a dataset on each worker.

    The input_fn is traced on the chief once per worker, with
    ``InputContext(num_workers, worker_index, num_replicas_in_sync)``, and each
    worker builds its own dataset from its trace. ``iter()`` gives the iterators
    ``ClusterCoordinator.schedule`` hands to the worker that runs a step; a worker
    that fails and comes back rebuilds its dataset from the start.

    ``ClusterCoordinator.create_per_worker_dataset`` traces one dataset function for
    all workers, so every worker would see the same ``InputContext`` and read the
    same data; that is why this class builds each worker's resource itself
    (``Worker.create_resource``, TensorFlow's own per-worker mechanism).

    Args:
        coordinator: The chief's ``ClusterCoordinator``.
        make_dataset: ``make_dataset(input_context)`` returns the worker's dataset.
    """

    def __init__(self, coordinator, make_dataset: Callable):
        self._coordinator = coordinator
        strategy = coordinator.strategy
        workers = coordinator._cluster.workers
        self._functions = []
        specs = []
        for worker in workers:
            context = tf.distribute.InputContext(
                num_input_pipelines=len(workers),
                input_pipeline_id=worker.worker_index,
                num_replicas_in_sync=strategy.num_replicas_in_sync,
            )

            def create_iterator(context=context):
                dataset = make_dataset(context)
                specs.append(dataset.element_spec)
                return iter(dataset)

            with tf.variable_creator_scope(_refuse_variables):
                function = tf.function(create_iterator).get_concrete_function()
            self._functions.append(function)
        if any(spec != specs[0] for spec in specs):
            raise EstimatorSpecError(
                "input_fn must return datasets with the same element structure on "
                f"every worker; got {specs}."
            )
        self.element_spec = specs[0]

    def __iter__(self):
        from tensorflow.python.distribute.coordinator import values as values_lib

        remote = []
        for worker, function in zip(
            self._coordinator._cluster.workers, self._functions
        ):
            value = worker.create_resource(function)
            value._type_spec = function.structured_outputs._type_spec
            remote.append(value)
        return values_lib.PerWorkerDistributedIterator(tuple(remote))


def _refuse_variables(next_creator, **kwargs):
    raise EstimatorSpecError(
        "input_fn created a variable; under ParameterServerStrategy an input_fn "
        "runs on every worker and must not create variables."
    )


def threads_for_task(tf_config: dict) -> int:
    """``inter_op_parallelism_threads`` for a worker or ps server: workers + 1.

    With fewer, a ParameterServerStrategy cluster can hang: on a 2-core machine,
    2 workers whose servers had 1 inter-op thread never finished a step, with
    3 they trained at once.
    """
    cluster = tf_config.get("cluster") or {}
    return len(cluster.get("worker", [])) + 1


def start_server(
    tf_config: dict | None = None,
    inter_op_parallelism_threads: int | None = None,
) -> tf.distribute.Server:
    """Starts this task's ``tf.distribute.Server`` (a ps or worker under PS training).

    Under ParameterServerStrategy the workers and parameter servers run no
    Estimator: each starts a server and waits, while the chief trains. Call
    ``start_server().join()`` in those tasks.

    Args:
        tf_config: The cluster and task (default: the ``TF_CONFIG`` variable).
        inter_op_parallelism_threads: Default: the number of workers + 1, the least
            that does not deadlock on a 2-core machine.

    Returns:
        The started server.

    Raises:
        EstimatorSpecError: There is no cluster or task to start a server for.

    Example (in a worker or ps task; ``tests/components/trainer/ps_run.py`` runs
    it)::

        if RunConfig().task_type in ("worker", "ps"):
            start_server().join()  # never returns
    """
    if tf_config is None:
        tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    cluster, task = tf_config.get("cluster"), tf_config.get("task") or {}
    if not cluster or "type" not in task:
        raise EstimatorSpecError(
            "start_server() needs a cluster and a task, e.g. TF_CONFIG="
            '\'{"cluster": {"worker": [...], "ps": [...], "chief": [...]}, '
            '"task": {"type": "worker", "index": 0}}\'; got '
            f"{json.dumps(tf_config)}."
        )
    threads = inter_op_parallelism_threads or threads_for_task(tf_config)
    server = tf.distribute.Server(
        tf.train.ClusterSpec(cluster),
        job_name=task["type"],
        task_index=int(task.get("index", 0)),
        protocol=tf_config.get("rpc_layer", "grpc"),
        config=tf.compat.v1.ConfigProto(inter_op_parallelism_threads=threads),
        start=True,
    )
    logger.info(
        "Started the %s %s server at %s (inter_op_parallelism_threads=%d)",
        task["type"],
        task.get("index", 0),
        server.target,
        threads,
    )
    return server
