"""The Estimator's variable store: one set of variables for every call of a model_fn.

A tf.estimator model_fn builds its model on every call: a Keras model, an optimizer
and metrics are created inside it. In TF2 the model_fn is traced once per mode (and
once per replica under a strategy), so each trace asks for "new" variables. The
store intercepts those requests with ``tf.variable_creator_scope``:

* the first trace of a mode (the *build*, see ``runtime.py``) creates each variable
  once, outside any function (``tf.init_scope``) and under the strategy's scope, from
  a cross-replica ``merge_call`` so that a ``MirroredStrategy`` gets mirrored
  variables;
* every later trace — another mode, a retrace, another replica — gets the variable
  that already exists.

Requests are matched by name: the Keras 3 path (``sequential/dense/kernel``, with
Keras' layer-name counters reset for each call so that names repeat), else the
TensorFlow name scope relative to the model_fn call; a repeated name in one call
gets ``_1``, ``_2`` as Keras does. Replicas after the first are matched by creation
order against the first replica's call. The names are the checkpoint's names and
``Estimator.get_variable_names()``.

Example:
    >>> store = VariableStore(tf.distribute.get_strategy())
    >>> def model_fn():
    ...     return tf.Variable(tf.zeros([2]), name="w") + tf.Variable(1.0, name="w")
    >>> with store.building("train"):
    ...     _ = tf.function(lambda: store.call(model_fn)).get_concrete_function()
    >>> store.names()
    ['w', 'w_1']
"""

from __future__ import annotations

import collections
import contextlib
import re
import threading
from collections.abc import Callable, Iterator

import tensorflow as tf

from components.trainer.estimator.errors import EstimatorSpecError

_REPLICA_SCOPE = re.compile(r"^replica_\d+(/|$)")


def unwrap(variable):
    """The ``tf.Variable`` behind a Keras 3 variable (or the variable itself)."""
    if isinstance(variable, tf.Variable):
        return variable
    inner = getattr(variable, "_value", None)
    return inner if isinstance(inner, tf.Variable) else variable


_SLICES_ATTRIBUTE = "_mlpipe_checkpoint_slices"


def declare_checkpoint_slices(variable, slices) -> None:
    """Declares that checkpoints hold ``variable`` as row slices of their own names.

    Args:
        variable: A Keras or TensorFlow variable.
        slices: ``(name, start, end)`` tuples: rows ``[start, end)`` are saved (and
            restored, warm-started, read by ``get_variable_value``) as ``name``,
            relative to the variable's own scope.
    """
    setattr(unwrap(variable), _SLICES_ATTRIBUTE, tuple(slices))


class SliceView(tf.__internal__.tracking.Trackable):
    """Rows ``[start, end)`` of a variable, checkpointed as a variable of its own.

    ``tf.train.Checkpoint`` writes it under the key a variable of that name would
    have, so a checkpoint reads the same whether the rows live in one variable or
    in many (as tf.estimator's linear models kept them: a variable per column).

    Example:
        >>> whole = tf.Variable([[1.0], [2.0], [3.0]])
        >>> view = SliceView("b", whole, 1, 3)
        >>> view.assign([[5.0], [6.0]])
        >>> whole.numpy().ravel().tolist(), view.shape.as_list()
        ([1.0, 5.0, 6.0], [2, 1])
    """

    def __init__(self, name: str, variable, start: int, end: int):
        self.name = name
        self.variable = variable
        self.start, self.end = start, end

    @property
    def shape(self) -> tf.TensorShape:
        return tf.TensorShape([self.end - self.start]).concatenate(
            self.variable.shape[1:]
        )

    @property
    def dtype(self) -> tf.DType:
        return self.variable.dtype

    @property
    def trainable(self) -> bool:
        return self.variable.trainable

    def read_value(self) -> tf.Tensor:
        return self.variable.read_value()[self.start : self.end]

    def numpy(self):
        return self.read_value().numpy()

    def assign(self, value) -> None:
        value = tf.reshape(tf.cast(value, self.dtype), self.shape)
        whole = self.variable.read_value()
        self.variable.assign(
            tf.concat([whole[: self.start], value, whole[self.end :]], axis=0)
        )

    def _serialize_to_tensors(self):
        return {"VARIABLE_VALUE": self.read_value()}

    def _restore_from_tensors(self, restored_tensors):
        self.assign(restored_tensors["VARIABLE_VALUE"])


class _Call:
    def __init__(self, replica_id: int, base_scope: str):
        self.replica_id = replica_id
        self.base_scope = base_scope
        self.index = 0
        self.seen: collections.Counter = collections.Counter()


class VariableStore:
    """Creates a model's variables once and hands them out to every model_fn call.

    Args:
        strategy: The ``tf.distribute.Strategy`` the variables are created under.
    """

    def __init__(self, strategy: tf.distribute.Strategy):
        self.strategy = strategy
        self._variables: dict[str, tf.Variable] = {}
        self._by_id: dict[int, str] = {}
        self.created_in: dict[str, str] = {}
        self.local_names: set[str] = set()
        self._pending: dict[str, dict] = {}
        self._sequence0: list[str] = []
        self._creating = False
        self._mode: str | None = None
        self._local = threading.local()

    def names(self) -> list[str]:
        """The names of all variables, in creation order."""
        return list(self._variables)

    def items(self) -> list[tuple[str, tf.Variable]]:
        """(name, variable) pairs in creation order."""
        return list(self._variables.items())

    def get(self, name: str):
        """The variable called ``name`` (or the checkpoint slice of that name)."""
        if name in self._variables:
            return self._variables[name]
        return self.checkpointed()[name]

    def name_of(self, variable) -> str | None:
        """The store's name for a variable (Keras or TensorFlow), or None."""
        if isinstance(variable, SliceView):
            return variable.name
        return self._by_id.get(id(unwrap(variable)))

    def add(self, name: str, variable: tf.Variable, mode: str = "") -> None:
        """Adds a variable the Estimator created itself (the global step)."""
        self._variables[name] = variable
        self._by_id[id(variable)] = name
        # ParameterServerStrategy wraps the variable on the ps (CachingVariable,
        # AggregatingVariable); traced functions capture the one inside.
        inner = getattr(variable, "_v", None)
        while isinstance(inner, tf.Variable):
            self._by_id[id(inner)] = name
            inner = getattr(inner, "_v", None)
        self.created_in[name] = mode

    def checkpointed(self, names=None) -> dict:
        """What checkpoints hold, by name: every variable but the metrics' (local)
        ones, a variable with declared slices as one ``SliceView`` per slice.

        Args:
            names: Only these store names (a sliced variable's gives its slices).
        """
        out = {}
        for name, variable in self.saved_variables().items():
            if names is not None and name not in names:
                continue
            views = self._slice_views(name, variable)
            if views:
                out.update((view.name, view) for view in views)
            else:
                out[name] = variable
        return out

    def saved_variables(self) -> dict[str, tf.Variable]:
        """The variables themselves (sliced ones whole), all but metrics'."""
        return {
            name: var
            for name, var in self._variables.items()
            if name not in self.local_names
        }

    def _slice_views(self, name: str, variable) -> list[SliceView]:
        scope = name.rpartition("/")[0]
        views = []
        for suffix, start, end in getattr(variable, _SLICES_ATTRIBUTE, ()):
            view_name = f"{scope}/{suffix}" if scope else suffix
            self.created_in.setdefault(view_name, self.created_in.get(name, ""))
            views.append(SliceView(view_name, variable, start, end))
        return views

    def mark_local(self, metric) -> None:
        """Marks a metric's variables as local: reset per evaluation, never saved."""
        for variable in getattr(metric, "variables", []):
            name = self.name_of(variable)
            if name is not None:
                self.local_names.add(name)

    @contextlib.contextmanager
    def building(self, mode: str) -> Iterator[None]:
        """While active, requests for unknown variables create them (for ``mode``)."""
        self._mode = mode
        try:
            yield
        finally:
            self._mode = None

    def call(self, fn: Callable, *args, **kwargs):
        """Calls ``fn`` (a model_fn wrapper) with its variables taken from the store."""
        replica_id = local_replica_id()
        if replica_id == 0:
            self._sequence0 = []
        self._local.call = _Call(replica_id, tf.get_current_name_scope())
        uids = _fresh_keras_uids()
        try:
            with (
                tf.variable_creator_scope(self._creator),
                _private_default_seeds(replica_id > 0),
            ):
                return fn(*args, **kwargs)
        finally:
            _restore_keras_uids(uids)
            self._local.call = None

    def _creator(self, next_creator, **kwargs):
        if self._creating:
            return next_creator(**kwargs)
        call = getattr(self._local, "call", None)
        if call is None:
            return next_creator(**kwargs)
        name = self._request_name(call, kwargs)
        variable = self._variables.get(name)
        if variable is None:
            if self._mode is None:
                raise EstimatorSpecError(
                    f"model_fn asked for a new variable {name!r} in a later call than "
                    "the one that built the model. A model_fn must create the same "
                    "variables, with the same names, every time it is called in a "
                    "mode; give layers explicit names if their creation depends on "
                    "Python state."
                )
            self._pending.setdefault(name, kwargs)
            tf.distribute.get_replica_context().merge_call(self._create_pending)
            variable = self._variables[name]
        return variable

    def _request_name(self, call: _Call, kwargs: dict) -> str:
        index = call.index
        call.index += 1
        if call.replica_id > 0 and index < len(self._sequence0):
            return self._sequence0[index]
        base = _base_name(call, kwargs)
        count = call.seen[base]
        call.seen[base] += 1
        name = base if count == 0 else f"{base}_{count}"
        if call.replica_id == 0:
            self._sequence0.append(name)
        return name

    def _create_pending(self, strategy=None):
        for name, kwargs in list(self._pending.items()):
            del self._pending[name]
            if name in self._variables:
                continue
            variable = self._make(name, kwargs)
            self.add(name, variable, self._mode or "")

    def _make(self, name: str, kwargs: dict) -> tf.Variable:
        initial_value = kwargs.get("initial_value")
        if tf.is_tensor(initial_value) and not isinstance(initial_value, tf.Variable):
            static = tf.get_static_value(initial_value)
            if static is None:
                raise EstimatorSpecError(
                    f"variable {name!r} is initialized from a tensor computed in the "
                    "model_fn; create it from an initializer instead (a callable, "
                    "as Keras layers and add_weight do), e.g. "
                    "tf.Variable(lambda: tf.random.normal([3]), name=...)."
                )
            initial_value = static
        arguments = {
            "initial_value": initial_value,
            "trainable": kwargs.get("trainable"),
            "name": name,
            "dtype": kwargs.get("dtype"),
            "shape": kwargs.get("shape"),
            "constraint": kwargs.get("constraint"),
            "synchronization": kwargs.get("synchronization")
            or tf.VariableSynchronization.AUTO,
            "aggregation": kwargs.get("aggregation") or tf.VariableAggregation.NONE,
        }
        if arguments["trainable"] is None:
            arguments["trainable"] = (
                arguments["synchronization"] != tf.VariableSynchronization.ON_READ
            )
        self._creating = True
        try:
            with tf.init_scope(), _root_name_scope(), self.strategy.scope():
                return tf.Variable(**arguments)
        finally:
            self._creating = False


def _base_name(call: _Call, kwargs: dict) -> str:
    name = (kwargs.get("name") or "Variable").split(":")[0]
    if "/" in name:
        return _REPLICA_SCOPE.sub("", name)
    keras_path = _keras_path()
    if keras_path:
        return f"{keras_path}/{name}"
    scope = tf.get_current_name_scope()
    if call.base_scope and scope.startswith(call.base_scope):
        scope = scope[len(call.base_scope) :].lstrip("/")
    scope = _REPLICA_SCOPE.sub("", scope)
    return f"{scope}/{name}" if scope else name


def local_replica_id() -> int:
    """The replica's index among this worker's replicas (0 outside replicas).

    ``replica_id_in_sync_group`` counts over all workers under
    MultiWorkerMirroredStrategy (worker 1's first replica is 1 on one device per
    worker); per-process bookkeeping needs the local index.
    """
    context = tf.distribute.get_replica_context()
    if context is None:
        return 0
    value = tf.get_static_value(context.replica_id_in_sync_group)
    if not value:
        return 0
    local_replicas = len(context.strategy.extended.worker_devices)
    return int(value) % local_replicas


def _keras_path() -> str:
    from keras.src.backend.common.name_scope import current_path

    return current_path()


def _fresh_keras_uids():
    from keras.src.backend.common import global_state

    saved = global_state.get_global_attribute("object_name_uids")
    global_state.set_global_attribute("object_name_uids", collections.defaultdict(int))
    return saved


def _restore_keras_uids(saved) -> None:
    from keras.src.backend.common import global_state

    global_state.set_global_attribute("object_name_uids", saved)


class _ReplicaSeeds:
    """Stands in for the ``random`` module that Keras draws default seeds from.

    MirroredStrategy traces its replicas in threads that take turns at every
    ``merge_call``; an initializer built by replica 1 between two of replica 0's
    draws would shift replica 0's seeds, and with them the initial values (replica
    0's requests are the ones that create variables). Replicas after the first
    draw from a private generator instead, so the values are the same as under
    one replica for the same ``tf_random_seed``.
    """

    def __init__(self, module):
        self._module = module
        self._local = threading.local()

    @contextlib.contextmanager
    def private(self) -> Iterator[None]:
        previous = getattr(self._local, "generator", None)
        self._local.generator = self._module.Random(0)
        try:
            yield
        finally:
            self._local.generator = previous

    def __getattr__(self, name):
        generator = getattr(self._local, "generator", None)
        return getattr(generator if generator is not None else self._module, name)


_REPLICA_SEEDS: _ReplicaSeeds | None = None


def _private_default_seeds(private: bool):
    global _REPLICA_SEEDS
    if not private:
        return contextlib.nullcontext()
    if _REPLICA_SEEDS is None:
        from keras.src.random import seed_generator

        _REPLICA_SEEDS = _ReplicaSeeds(seed_generator.python_random)
        seed_generator.python_random = _REPLICA_SEEDS
    return _REPLICA_SEEDS.private()


def _root_name_scope():
    # The variable's own name is its full store name; the caller's scope would
    # repeat it (and Keras optimizers derive slot names from it).
    return tf.compat.v1.name_scope(None)
