"""The metadata store: runs, executions, artifacts and their lineage in a database.

One ``MetadataStore`` API over SQLAlchemy Core: a SQLite file by default, any
SQLAlchemy URL otherwise (PostgreSQL for teams), and ``MetadataStore.in_memory()`` as
the twin for unit tests. Tables are created on first open, and a store written
by an older mlpipe is upgraded then (see ``schema`` and ``migrations``).

Several processes may write one SQLite file at once, and several threads may share
one store: SQLite runs in WAL mode, every write transaction starts with
``BEGIN IMMEDIATE`` (so two writers queue up instead of failing on upgrade from a
read lock), waits up to 30 s for the lock, and is retried with backoff if it still
finds the database locked.

Example:
    >>> from pipeline.artifacts import Examples
    >>> with MetadataStore.in_memory() as store:
    ...     run = store.start_run("taxi", run_id="r1")
    ...     ex = store.create_execution(
    ...         run_id="r1", component_id="gen", component_type="CsvExampleGen",
    ...         parameters={}, fingerprint="f1", code_version=None, inputs={})
    ...     examples = Examples(uri="/r/gen/examples/1")
    ...     store.register_outputs(ex.id, {"examples": examples})
    ...     done = store.publish_execution(ex.id, {"examples": examples})
    ...     print(done.state.value, examples.state.value, store.get_artifact(examples.id))
    COMPLETE LIVE Examples(id=1, uri='/r/gen/examples/1', state=LIVE)
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import enum
import functools
import json
import logging
import os
import random
import re
import secrets
import socket
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool, StaticPool

from pipeline import registry
from pipeline.artifacts import Artifact, ArtifactState, Model
from pipeline.errors import MetadataStoreError, did_you_mean
from pipeline.fs import mlpipe_home
from pipeline.metadata import migrations
from pipeline.metadata import schema as s
from pipeline.metadata.lineage import Edge, Lineage

log = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_TIMEOUT_S = 30
"""How long one SQLite statement waits for another process's write lock."""

_ATTEMPTS = 6
_SCHEMA_LOCK_KEY = int.from_bytes(b"mlpipe", "big")
_PROPERTY_TYPES = {t.__name__: t for t in (int, float, str, bool, list, dict)}
_STAND_IN_TYPES: dict[tuple[str, str], type[Artifact]] = {}


class ExecutionState(str, enum.Enum):
    """Where an execution is in its life.

    RUNNING: started, not finished. COMPLETE: finished; its outputs are LIVE.
    FAILED: raised or was killed; its outputs are ABANDONED. CACHED: reused the
    outputs of an earlier COMPLETE execution. SKIPPED: did not run because something
    upstream failed.
    """

    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    CACHED = "CACHED"
    SKIPPED = "SKIPPED"


class RunState(str, enum.Enum):
    """Where a pipeline run is: RUNNING, COMPLETE, or FAILED (a component failed)."""

    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"


@dataclasses.dataclass(frozen=True)
class ExecutionRecord:
    """One execution of a component, as the store recorded it.

    Attributes:
        id: The execution id.
        run_id: The run it belongs to.
        pipeline_name: The pipeline of that run.
        component_id: The component instance's id in the pipeline.
        component_type: The component's type name.
        state: Its ``ExecutionState``.
        parameters: The parameters it ran with.
        fingerprint: Its cache key, if it has one.
        code_version: A hash of the component's code, if known.
        start_time: When it started (seconds since the epoch).
        end_time: When it ended, or None while RUNNING.
        error: Why it failed (FAILED) or was skipped (SKIPPED).
        result: The JSON values the component returned.
        cached_from: For CACHED: the execution whose outputs it reused.
        pid: The process that ran it.
        host: The machine that ran it.

    Example:
        >>> with MetadataStore.in_memory() as store:
        ...     _ = store.start_run("taxi", run_id="r1")
        ...     rec = store.record_skipped_execution(
        ...         run_id="r1", component_id="pusher", component_type="Pusher",
        ...         reason="trainer failed")
        >>> rec.state.value, rec.error, rec.duration
        ('SKIPPED', 'trainer failed', 0.0)
    """

    id: int
    run_id: str
    pipeline_name: str
    component_id: str
    component_type: str
    state: ExecutionState
    parameters: dict[str, Any]
    fingerprint: str | None
    code_version: str | None
    start_time: float
    end_time: float | None
    error: str | None
    result: dict[str, Any] | None
    cached_from: int | None
    pid: int | None
    host: str | None

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, or None while it runs."""
        return None if self.end_time is None else self.end_time - self.start_time

    def to_dict(self) -> dict[str, Any]:
        """Returns the record as JSON-ready values."""
        return {**dataclasses.asdict(self), "state": self.state.value}


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One run of a pipeline.

    Attributes:
        run_id: The run's unique id, e.g. ``"20261122-193615-3f9a"``.
        pipeline_name: The pipeline it ran.
        state: Its ``RunState``.
        start_time: When it started (seconds since the epoch).
        end_time: When it finished, or None while RUNNING.
        properties: JSON values the runner attached (e.g. the pipeline root).

    Example:
        >>> with MetadataStore.in_memory() as store:
        ...     run = store.start_run("taxi", run_id="r1", properties={"root": "runs"})
        >>> run.state.value, run.properties, run.duration
        ('RUNNING', {'root': 'runs'}, None)
    """

    run_id: str
    pipeline_name: str
    state: RunState
    start_time: float
    end_time: float | None
    properties: dict[str, Any]

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, or None while it runs."""
        return None if self.end_time is None else self.end_time - self.start_time

    def to_dict(self) -> dict[str, Any]:
        """Returns the record as JSON-ready values."""
        return {**dataclasses.asdict(self), "state": self.state.value}


def default_store_url() -> str:
    """Returns the store URL to use when none is given.

    ``$MLPIPE_STORE`` if set, else the SQLite file ``metadata.sqlite`` in
    ``$MLPIPE_HOME`` (default ``~/.mlpipe``), whose folder is created.

    Raises:
        MetadataStoreError: The folder cannot be created.

    Example:
        >>> from unittest import mock
        >>> with mock.patch.dict("os.environ", {"MLPIPE_STORE": "postgresql://db/ml"}):
        ...     default_store_url()
        'postgresql://db/ml'
    """
    configured = os.environ.get("MLPIPE_STORE")
    if configured:
        return configured
    home = Path(mlpipe_home())
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MetadataStoreError(
            f"Cannot create the mlpipe home folder {home}: {exc.strerror or exc}. "
            f"Set MLPIPE_HOME to a writable folder, or MLPIPE_STORE to a store URL."
        ) from exc
    return f"sqlite:///{home / 'metadata.sqlite'}"


class MetadataStore:
    """Records runs, executions and artifacts, and answers lineage questions.

    Args:
        url: A SQLAlchemy database URL (``sqlite:///path/metadata.sqlite``,
            ``postgresql+psycopg://user:password@host/db``) or a plain path to a
            SQLite file; None means ``default_store_url()``. The parent folder of a
            SQLite file is created.

    Raises:
        MetadataStoreError: The store cannot be opened or created (bad URL, missing
            driver, unwritable folder, not a database, written by a newer mlpipe).

    Example:
        >>> import os, tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     with MetadataStore(os.path.join(folder, "new", "m.sqlite")) as store:
        ...         _ = store.start_run("taxi")
        ...         print(store.pipelines())
        ['taxi']
    """

    def __init__(self, url: str | os.PathLike[str] | None = None):
        raw = default_store_url() if url is None else os.fspath(url)
        self._url = _parse_url(raw)
        self._shown_url = self._url.render_as_string(hide_password=True)
        self._memory = _is_sqlite_memory(self._url)
        self._lock: Any = (
            threading.RLock() if self._memory else contextlib.nullcontext()
        )
        self._closed = False
        self._engine: Engine | None = None
        undo = _Undo()
        try:
            _prepare_sqlite_file(self._url, undo)
            self._engine = _create_engine(self._url, memory=self._memory)
            self._initialize()
        except BaseException as exc:
            if self._engine is not None:
                self._engine.dispose()
            undo.run()
            if isinstance(exc, MetadataStoreError) or not isinstance(exc, Exception):
                raise
            raise MetadataStoreError(
                _open_error(self._shown_url, self._url, exc)
            ) from exc
        if not self._memory:
            _dispose_in_forked_child(self._engine)

    @classmethod
    def in_memory(cls) -> MetadataStore:
        """Returns an empty store in memory, shared by the threads of this process.

        Example:
            >>> MetadataStore.in_memory().list_runs()
            []
        """
        return cls("sqlite://")

    @property
    def url(self) -> str:
        """The store's database URL, with any password masked as ``***``."""
        return self._shown_url

    def connection_url(self) -> str:
        """The URL to open this store from another process, password included.

        For handing to workers (the Beam DAG runner's stages); never log it: use
        ``url`` for messages.
        """
        return self._url.render_as_string(hide_password=False)

    def close(self) -> None:
        """Closes the database connections; an in-memory store loses its contents."""
        if not self._closed and self._engine is not None:
            self._closed = True
            self._engine.dispose()

    def __enter__(self) -> MetadataStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MetadataStore({self._shown_url!r})"

    # ---------------------------------------------------------------- runs

    def start_run(
        self,
        pipeline_name: str,
        *,
        run_id: str | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> RunRecord:
        """Records the start of a run of ``pipeline_name``.

        Args:
            pipeline_name: The pipeline's name; its context is created if new.
            run_id: The run's id; None generates a readable unique one from the UTC
                time and random hex, e.g. ``"20261122-193615-3f9a"``.
            properties: JSON values to keep with the run.

        Returns:
            The RUNNING run.

        Raises:
            MetadataStoreError: ``run_id`` is already taken.

        Example:
            >>> store = MetadataStore.in_memory()
            >>> store.start_run("taxi", run_id="first").run_id
            'first'
        """
        props = _to_json(dict(properties or {}), f"Run properties of {pipeline_name!r}")

        def write(conn: Connection) -> RunRecord:
            pipeline_id = _get_or_insert(
                conn,
                s.contexts,
                {"type": s.PIPELINE, "name": pipeline_name},
                {"properties": "{}", "start_time": time.time()},
            )
            name = run_id
            if name is not None and _find_context(conn, s.RUN, name) is not None:
                raise MetadataStoreError(
                    f"A run with id {name!r} already exists in {self.url}. "
                    f"Choose another run_id, or pass run_id=None to generate one."
                )
            while name is None or _find_context(conn, s.RUN, name) is not None:
                name = _new_run_id()
            context_id = _insert(
                conn,
                s.contexts,
                type=s.RUN,
                name=name,
                parent_id=pipeline_id,
                state=RunState.RUNNING.value,
                properties=props,
                pid=os.getpid(),
                host=socket.gethostname(),
                start_time=time.time(),
            )
            return _load_runs(conn, id=context_id)[0]

        return self._write("start a run", write)

    def finish_run(self, run_id: str, state: RunState | str) -> RunRecord:
        """Marks a run COMPLETE or FAILED and records its end time.

        Raises:
            MetadataStoreError: The run is unknown, or ``state`` is RUNNING.

        Example:
            >>> store = MetadataStore.in_memory()
            >>> _ = store.start_run("taxi", run_id="r1")
            >>> store.finish_run("r1", RunState.COMPLETE).state.value
            'COMPLETE'
        """
        state = RunState(state)
        if state is RunState.RUNNING:
            raise MetadataStoreError(
                f"finish_run({run_id!r}) needs RunState.COMPLETE or RunState.FAILED, "
                f"got RUNNING."
            )

        def write(conn: Connection) -> RunRecord:
            context_id = self._require_run(conn, run_id)
            conn.execute(
                sa.update(s.contexts)
                .where(s.contexts.c.id == context_id)
                .values(state=state.value, end_time=time.time())
            )
            return _load_runs(conn, id=context_id)[0]

        return self._write("finish a run", write)

    def get_run(self, run_id: str) -> RunRecord:
        """Returns the run with id ``run_id``.

        Raises:
            MetadataStoreError: No such run (the message suggests close run ids).

        Example:
            >>> store = MetadataStore.in_memory()
            >>> _ = store.start_run("taxi", run_id="r1")
            >>> store.get_run("r1").pipeline_name
            'taxi'
        """

        def read(conn: Connection) -> RunRecord:
            self._require_run(conn, run_id)
            return _load_runs(conn, run_id=run_id)[0]

        return self._read("read a run", read)

    def list_runs(
        self, *, pipeline_name: str | None = None, limit: int | None = 20
    ) -> list[RunRecord]:
        """Returns the most recent runs, newest first.

        Args:
            pipeline_name: Only runs of this pipeline.
            limit: At most this many; None for all.

        Example:
            >>> store = MetadataStore.in_memory()
            >>> for name in ("a", "b", "c"):
            ...     _ = store.start_run("taxi", run_id=name)
            >>> [r.run_id for r in store.list_runs(limit=2)]
            ['c', 'b']
        """
        return self._read(
            "list runs",
            lambda conn: _load_runs(conn, pipeline_name=pipeline_name, limit=limit),
        )

    def pipelines(self) -> list[str]:
        """Returns the names of all pipelines that have runs, sorted.

        Example:
            >>> store = MetadataStore.in_memory()
            >>> _ = store.start_run("taxi"), store.start_run("iris")
            >>> store.pipelines()
            ['iris', 'taxi']
        """
        query = (
            sa.select(s.contexts.c.name)
            .where(s.contexts.c.type == s.PIPELINE)
            .order_by(s.contexts.c.name)
        )
        return self._read("list pipelines", lambda c: list(c.scalars(query)))

    # ---------------------------------------------------------- executions

    def create_execution(
        self,
        *,
        run_id: str,
        component_id: str,
        component_type: str,
        parameters: Mapping[str, Any],
        fingerprint: str | None,
        code_version: str | None,
        inputs: Mapping[str, Artifact],
    ) -> ExecutionRecord:
        """Records that a component starts executing in a run.

        The execution is RUNNING and owned by this process (``pid`` and ``host``),
        so ``reclaim_dead_executions`` can tell if the process dies.

        Args:
            run_id: The run it belongs to.
            component_id: The component instance's id.
            component_type: The component's type name.
            parameters: Its JSON parameters.
            fingerprint: Its cache key.
            code_version: A hash of its code.
            inputs: The LIVE stored artifacts it reads, by input name.

        Returns:
            The RUNNING execution.

        Raises:
            MetadataStoreError: Unknown run, an input that is not a LIVE stored
                artifact, or parameters that are not JSON.

        Example:
            >>> store = MetadataStore.in_memory()
            >>> _ = store.start_run("taxi", run_id="r1")
            >>> store.create_execution(
            ...     run_id="r1", component_id="gen", component_type="CsvExampleGen",
            ...     parameters={"input_base": "data"}, fingerprint=None,
            ...     code_version=None, inputs={}).state.value
            'RUNNING'
        """
        params = _to_json(dict(parameters), f"Parameters of component {component_id!r}")
        input_ids = _ids_of(inputs, f"Input of component {component_id!r}")

        def write(conn: Connection) -> ExecutionRecord:
            run_context, pipeline_context = self._require_run_contexts(conn, run_id)
            _require_live(conn, input_ids.values(), f"Component {component_id!r}")
            now = time.time()
            execution_id = _insert(
                conn,
                s.executions,
                component_id=component_id,
                component_type=component_type,
                state=ExecutionState.RUNNING.value,
                parameters=params,
                fingerprint=fingerprint,
                code_version=code_version,
                start_time=now,
                pid=os.getpid(),
                host=socket.gethostname(),
            )
            _associate(conn, execution_id, (run_context, pipeline_context))
            _insert_events(conn, execution_id, s.INPUT, input_ids, now)
            return self._require_execution(conn, execution_id)

        return self._write("create an execution", write)

    def register_outputs(
        self, execution_id: int, outputs: Mapping[str, Artifact]
    ) -> None:
        """Stores a RUNNING execution's new output artifacts as PENDING.

        Sets ``id`` and ``state`` on the given artifacts, records OUTPUT events and
        attributes the artifacts to the run and its pipeline. An artifact type seen
        for the first time is registered with its property schema.

        Args:
            execution_id: A RUNNING execution.
            outputs: New artifacts (without ids), by output name.

        Raises:
            MetadataStoreError: Unknown or finished execution, an artifact that is
                already stored, or an output name registered twice.

        Example:
            >>> from pipeline.artifacts import Model
            >>> store = MetadataStore.in_memory()
            >>> _ = store.start_run("taxi", run_id="r1")
            >>> ex = store.create_execution(
            ...     run_id="r1", component_id="trainer", component_type="Trainer",
            ...     parameters={}, fingerprint=None, code_version=None, inputs={})
            >>> model = Model(uri="/r/trainer/model/1")
            >>> store.register_outputs(ex.id, {"model": model})
            >>> model.id, model.state.value
            (1, 'PENDING')
        """
        for name, artifact in outputs.items():
            if artifact.id is not None:
                raise MetadataStoreError(
                    f"register_outputs(execution {execution_id}): output {name!r} is "
                    f"already stored as {artifact!r}. Pass new artifacts without an id; "
                    f"reused artifacts belong in record_cached_execution."
                )

        def write(conn: Connection) -> dict[str, int]:
            _lock_running(conn, execution_id, "register outputs of")
            taken = set(_event_ids(conn, execution_id, s.OUTPUT))
            twice = sorted(taken & set(outputs))
            if twice:
                raise MetadataStoreError(
                    f"Execution {execution_id} already registered outputs {twice}; "
                    f"each output name is registered once."
                )
            now = time.time()
            ids = {}
            for name, artifact in outputs.items():
                ids[name] = _insert(
                    conn,
                    s.artifacts,
                    type_id=_ensure_type(conn, type(artifact)),
                    uri=artifact.uri,
                    state=ArtifactState.PENDING.value,
                    properties=_to_json(artifact.properties, repr(artifact)),
                    create_time=now,
                    update_time=now,
                )
            _insert_events(conn, execution_id, s.OUTPUT, ids, now)
            _attribute(conn, ids.values(), _contexts_of(conn, execution_id))
            return ids

        ids = self._write("register outputs", write)
        for name, artifact in outputs.items():
            artifact.id = ids[name]
            artifact.state = ArtifactState.PENDING

    def publish_execution(
        self,
        execution_id: int,
        outputs: Mapping[str, Artifact],
        *,
        result: Mapping[str, Any] | None = None,
    ) -> ExecutionRecord:
        """Completes an execution and makes its outputs LIVE, in one transaction.

        Each output's final ``uri`` and ``properties`` are written, and the given
        artifacts' ``state`` becomes LIVE. Readers never see a COMPLETE execution
        with a PENDING output, or a LIVE output of an unfinished execution.

        Args:
            execution_id: A RUNNING execution.
            outputs: Exactly the artifacts registered with ``register_outputs``.
            result: JSON values the component returned.

        Returns:
            The COMPLETE execution.

        Raises:
            MetadataStoreError: Unknown or finished execution, or ``outputs`` do not
                match the registered ones.

        Example:
            >>> from pipeline.artifacts import ModelBlessing
            >>> store = MetadataStore.in_memory()
            >>> _ = store.start_run("taxi", run_id="r1")
            >>> ex = store.create_execution(
            ...     run_id="r1", component_id="evaluator", component_type="Evaluator",
            ...     parameters={}, fingerprint=None, code_version=None, inputs={})
            >>> blessing = ModelBlessing(uri="/r/evaluator/blessing/1")
            >>> store.register_outputs(ex.id, {"blessing": blessing})
            >>> blessing.blessed = True
            >>> store.publish_execution(ex.id, {"blessing": blessing}).state.value
            'COMPLETE'
            >>> store.get_artifact(blessing.id).blessed
            True
        """
        result_json = None if result is None else _to_json(dict(result), "Result")
        values = {
            name: {
                "uri": artifact.uri,
                "properties": _to_json(artifact.properties, repr(artifact)),
            }
            for name, artifact in outputs.items()
        }

        def write(conn: Connection) -> ExecutionRecord:
            _lock_running(conn, execution_id, "publish")
            registered = _event_ids(conn, execution_id, s.OUTPUT)
            _check_outputs_match(execution_id, registered, outputs)
            now = time.time()
            for name, value in values.items():
                conn.execute(
                    sa.update(s.artifacts)
                    .where(s.artifacts.c.id == registered[name])
                    .values(**value, state=ArtifactState.LIVE.value, update_time=now)
                )
            conn.execute(
                sa.update(s.executions)
                .where(s.executions.c.id == execution_id)
                .values(
                    state=ExecutionState.COMPLETE.value,
                    end_time=now,
                    result=result_json,
                )
            )
            return self._require_execution(conn, execution_id)

        record = self._write("publish an execution", write)
        for artifact in outputs.values():
            artifact.state = ArtifactState.LIVE
        return record

    def fail_execution(
        self,
        execution_id: int,
        error: str,
        *,
        outputs: Mapping[str, Artifact] | None = None,
    ) -> ExecutionRecord:
        """Marks a RUNNING execution FAILED and abandons all its outputs.

        Args:
            execution_id: A RUNNING execution.
            error: Why it failed (a traceback is fine).
            outputs: The execution's artifact objects, whose ``state`` is set to
                ABANDONED too; the stored outputs are found by their events anyway.

        Returns:
            The FAILED execution.

        Raises:
            MetadataStoreError: Unknown or already finished execution.

        Example:
            >>> store = MetadataStore.in_memory()
            >>> _ = store.start_run("taxi", run_id="r1")
            >>> ex = store.create_execution(
            ...     run_id="r1", component_id="gen", component_type="CsvExampleGen",
            ...     parameters={}, fingerprint=None, code_version=None, inputs={})
            >>> store.fail_execution(ex.id, "ValueError: bad row").error
            'ValueError: bad row'
        """

        def write(conn: Connection) -> ExecutionRecord:
            _lock_running(conn, execution_id, "fail")
            _finish_failed(conn, execution_id, error)
            return self._require_execution(conn, execution_id)

        record = self._write("fail an execution", write)
        for artifact in (outputs or {}).values():
            artifact.state = ArtifactState.ABANDONED
        return record

    def record_cached_execution(
        self,
        *,
        run_id: str,
        component_id: str,
        component_type: str,
        parameters: Mapping[str, Any],
        fingerprint: str | None,
        code_version: str | None,
        inputs: Mapping[str, Artifact],
        outputs: Mapping[str, Artifact],
        cached_from: int,
    ) -> ExecutionRecord:
        """Records that a component reused the outputs of an earlier execution.

        The execution is CACHED and already finished; its OUTPUT events point at the
        reused artifacts, which are attributed to this run as well.

        Args:
            run_id: The run it belongs to.
            component_id: The component instance's id.
            component_type: The component's type name.
            parameters: Its JSON parameters.
            fingerprint: Its cache key.
            code_version: A hash of its code.
            inputs: The LIVE stored artifacts it would have read, by input name.
            outputs: The reused LIVE artifacts, by output name.
            cached_from: The execution that produced them.

        Returns:
            The CACHED execution.

        Raises:
            MetadataStoreError: Unknown run or ``cached_from``, or an artifact that
                is not LIVE and stored.

        Example:
            >>> store = MetadataStore.in_memory()
            >>> _ = store.start_run("taxi", run_id="r1")
            >>> ex = store.create_execution(
            ...     run_id="r1", component_id="gen", component_type="CsvExampleGen",
            ...     parameters={}, fingerprint="f", code_version=None, inputs={})
            >>> _ = store.publish_execution(ex.id, {})
            >>> _ = store.start_run("taxi", run_id="r2")
            >>> earlier, outputs = store.find_cached_execution("f")
            >>> store.record_cached_execution(
            ...     run_id="r2", component_id="gen", component_type="CsvExampleGen",
            ...     parameters={}, fingerprint="f", code_version=None, inputs={},
            ...     outputs=outputs, cached_from=earlier.id).state.value
            'CACHED'
        """
        params = _to_json(dict(parameters), f"Parameters of component {component_id!r}")
        what = f"Component {component_id!r}"
        input_ids = _ids_of(inputs, f"Input of component {component_id!r}")
        output_ids = _ids_of(outputs, f"Cached output of component {component_id!r}")

        def write(conn: Connection) -> ExecutionRecord:
            contexts = self._require_run_contexts(conn, run_id)
            self._require_execution(conn, cached_from)
            _require_live(conn, [*input_ids.values(), *output_ids.values()], what)
            now = time.time()
            execution_id = _insert(
                conn,
                s.executions,
                component_id=component_id,
                component_type=component_type,
                state=ExecutionState.CACHED.value,
                parameters=params,
                fingerprint=fingerprint,
                code_version=code_version,
                start_time=now,
                end_time=now,
                cached_from=cached_from,
                pid=os.getpid(),
                host=socket.gethostname(),
            )
            _associate(conn, execution_id, contexts)
            _insert_events(conn, execution_id, s.INPUT, input_ids, now)
            _insert_events(conn, execution_id, s.OUTPUT, output_ids, now)
            _attribute(conn, output_ids.values(), contexts)
            return self._require_execution(conn, execution_id)

        return self._write("record a cached execution", write)

    def record_skipped_execution(
        self, *, run_id: str, component_id: str, component_type: str, reason: str
    ) -> ExecutionRecord:
        """Records that a component did not run, and why (kept as ``error``).

        Raises:
            MetadataStoreError: Unknown run.

        Example:
            >>> store = MetadataStore.in_memory()
            >>> _ = store.start_run("taxi", run_id="r1")
            >>> store.record_skipped_execution(
            ...     run_id="r1", component_id="pusher", component_type="Pusher",
            ...     reason="trainer failed").state.value
            'SKIPPED'
        """

        def write(conn: Connection) -> ExecutionRecord:
            contexts = self._require_run_contexts(conn, run_id)
            now = time.time()
            execution_id = _insert(
                conn,
                s.executions,
                component_id=component_id,
                component_type=component_type,
                state=ExecutionState.SKIPPED.value,
                parameters="{}",
                start_time=now,
                end_time=now,
                error=reason,
                pid=os.getpid(),
                host=socket.gethostname(),
            )
            _associate(conn, execution_id, contexts)
            return self._require_execution(conn, execution_id)

        return self._write("record a skipped execution", write)

    def find_cached_execution(
        self, fingerprint: str
    ) -> tuple[ExecutionRecord, dict[str, Artifact]] | None:
        """Returns the newest reusable execution with this fingerprint, if any.

        Reusable means COMPLETE with every output LIVE; a FAILED execution, or one
        whose outputs were abandoned since, never matches.

        Returns:
            The execution and its outputs by output name, or None.

        Example:
            >>> MetadataStore.in_memory().find_cached_execution("no-such") is None
            True
        """
        not_live = (
            sa.select(s.events.c.id)
            .join(s.artifacts, s.artifacts.c.id == s.events.c.artifact_id)
            .where(
                s.events.c.execution_id == s.executions.c.id,
                s.events.c.type == s.OUTPUT,
                s.artifacts.c.state != ArtifactState.LIVE.value,
            )
        )
        query = (
            _EXECUTIONS.where(
                s.executions.c.fingerprint == fingerprint,
                s.executions.c.state == ExecutionState.COMPLETE.value,
                ~sa.exists(not_live),
            )
            .order_by(s.executions.c.id.desc())
            .limit(1)
        )

        def read(
            conn: Connection,
        ) -> tuple[ExecutionRecord, dict[str, Artifact]] | None:
            row = conn.execute(query).first()
            if row is None:
                return None
            return _execution_record(row), _event_artifacts(conn, row.id, s.OUTPUT)

        return self._read("look up the cache", read)

    def find_resumable_output(self, fingerprint: str, output: str) -> Artifact | None:
        """The output ``output`` left by the newest killed execution with this
        fingerprint, if it is of a ``RESUMABLE`` type.

        A killed execution's outputs are ABANDONED; a resumable one (a Trainer's
        checkpoints) keeps its files so that the next execution of the same
        component on the same inputs can start from them. The caller checks that
        the files are still there (a resumed execution takes them over).

        Example:
            >>> MetadataStore.in_memory().find_resumable_output("fp", "model_run") is None
            True
        """
        query = (
            sa.select(s.events.c.artifact_id)
            .join(s.executions, s.executions.c.id == s.events.c.execution_id)
            .join(s.artifacts, s.artifacts.c.id == s.events.c.artifact_id)
            .where(
                s.executions.c.fingerprint == fingerprint,
                s.executions.c.state == ExecutionState.FAILED.value,
                s.executions.c.error.like("killed:%"),
                s.events.c.type == s.OUTPUT,
                s.events.c.path == output,
                s.artifacts.c.state == ArtifactState.ABANDONED.value,
            )
            .order_by(s.executions.c.id.desc())
            .limit(1)
        )

        def read(conn: Connection) -> Artifact | None:
            artifact_id = conn.execute(query).scalar()
            if artifact_id is None:
                return None
            (artifact,) = _load_artifacts(conn, [artifact_id])
            return artifact if type(artifact).RESUMABLE else None

        return self._read("look for a resumable output", read)

    def reclaim_dead_executions(self) -> list[Artifact]:
        """Fails the RUNNING executions whose process on this machine has died.

        Each such execution becomes FAILED ("killed: process <pid> on <host> ended
        without finishing") and its outputs ABANDONED. A RUNNING run started by a
        dead process on this machine, with no RUNNING execution left and no
        execution by a live process or another machine, becomes FAILED too.
        Executions of live processes and of other machines are never touched.

        Returns:
            The abandoned artifacts, whose files the caller should delete.

        Example:
            >>> MetadataStore.in_memory().reclaim_dead_executions()
            []
        """
        host = socket.gethostname()
        running = _EXECUTIONS.where(
            s.executions.c.state == ExecutionState.RUNNING.value,
            s.executions.c.host == host,
        )
        runs = sa.select(s.contexts.c.id, s.contexts.c.name, s.contexts.c.pid).where(
            s.contexts.c.type == s.RUN,
            s.contexts.c.state == RunState.RUNNING.value,
            s.contexts.c.host == host,
        )

        def dead_executions(conn: Connection) -> list[ExecutionRecord]:
            return [
                _execution_record(row)
                for row in conn.execute(running)
                if row.pid is not None and not _pid_alive(row.pid)
            ]

        def dead_runs(conn: Connection) -> list[tuple[int, str]]:
            found = []
            for run in conn.execute(runs):
                if run.pid is None or _pid_alive(run.pid):
                    continue
                owners = conn.execute(
                    sa.select(
                        s.executions.c.state, s.executions.c.pid, s.executions.c.host
                    )
                    .join(s.associations)
                    .where(s.associations.c.context_id == run.id)
                ).all()
                if all(
                    state != ExecutionState.RUNNING.value
                    and owner_host == host
                    and pid is not None
                    and not _pid_alive(pid)
                    for state, pid, owner_host in owners
                ):
                    found.append((run.id, run.name))
            return found

        def look(conn: Connection) -> bool:
            return bool(dead_executions(conn) or dead_runs(conn))

        # A read first, so that the usual case (nothing to do) takes no write lock.
        if not self._read("look for dead executions", look):
            return []

        def write(conn: Connection) -> list[tuple[ExecutionRecord, list[Artifact]]]:
            reclaimed = []
            for record in dead_executions(conn):
                reason = (
                    f"killed: process {record.pid} on {record.host} ended without "
                    f"finishing"
                )
                artifact_ids = _finish_failed(conn, record.id, reason, ended=False)
                reclaimed.append((record, _load_artifacts(conn, artifact_ids)))
            for context_id, name in dead_runs(conn):
                # When the process died is unknown; its last sign of life is the
                # latest time any of its executions recorded.
                last_seen = conn.execute(
                    sa.select(
                        sa.func.max(s.executions.c.end_time),
                        sa.func.max(s.executions.c.start_time),
                        sa.select(s.contexts.c.start_time)
                        .where(s.contexts.c.id == context_id)
                        .scalar_subquery(),
                    )
                    .select_from(s.executions)
                    .join(s.associations)
                    .where(s.associations.c.context_id == context_id)
                ).one()
                conn.execute(
                    sa.update(s.contexts)
                    .where(s.contexts.c.id == context_id)
                    .values(
                        state=RunState.FAILED.value,
                        end_time=max(t for t in last_seen if t is not None),
                    )
                )
                log.warning("Run %s: its process ended without finishing; FAILED", name)
            return reclaimed

        reclaimed = self._write("reclaim dead executions", write)
        abandoned = []
        for record, artifacts in reclaimed:
            log.warning(
                "Execution %s (%s of run %s): process %s on %s ended without "
                "finishing; FAILED, %d output(s) abandoned",
                record.id,
                record.component_id,
                record.run_id,
                record.pid,
                record.host,
                len(artifacts),
            )
            abandoned.extend(artifacts)
        return abandoned

    def get_execution(self, execution_id: int) -> ExecutionRecord:
        """Returns the execution with id ``execution_id``.

        Raises:
            MetadataStoreError: No such execution.

        Example:
            >>> store = MetadataStore.in_memory()
            >>> _ = store.start_run("taxi", run_id="r1")
            >>> rec = store.record_skipped_execution(
            ...     run_id="r1", component_id="c", component_type="C", reason="r")
            >>> store.get_execution(rec.id).component_id
            'c'
        """
        return self._read(
            "read an execution",
            lambda conn: self._require_execution(conn, execution_id),
        )

    def executions_of_run(self, run_id: str) -> list[ExecutionRecord]:
        """Returns a run's executions in the order they were created.

        Raises:
            MetadataStoreError: No such run.

        Example:
            >>> store = MetadataStore.in_memory()
            >>> _ = store.start_run("taxi", run_id="r1")
            >>> store.executions_of_run("r1")
            []
        """

        def read(conn: Connection) -> list[ExecutionRecord]:
            self._require_run(conn, run_id)
            query = _EXECUTIONS.where(_RUN.c.name == run_id).order_by(s.executions.c.id)
            return [_execution_record(row) for row in conn.execute(query)]

        return self._read("read executions", read)

    # ----------------------------------------------------------- artifacts

    def get_artifact(self, artifact_id: int) -> Artifact:
        """Returns the stored artifact with id ``artifact_id``.

        It is an instance of the class registered for its type name; for a type
        that no loaded code defines, a stand-in class with the stored type name and
        property schema is made.

        Raises:
            MetadataStoreError: No such artifact.

        Example:
            >>> MetadataStore.in_memory().get_artifact(1)
            Traceback (most recent call last):
            ...
            pipeline.errors.MetadataStoreError: No artifact with id 1 in sqlite://.
        """

        def read(conn: Connection) -> Artifact:
            found = _load_artifacts(conn, [artifact_id])
            if not found:
                raise MetadataStoreError(
                    f"No artifact with id {artifact_id} in {self.url}."
                )
            return found[0]

        return self._read("read an artifact", read)

    def get_artifacts(
        self,
        *,
        type_name: str | None = None,
        pipeline_name: str | None = None,
        state: ArtifactState | str | None = ArtifactState.LIVE,
        limit: int | None = None,
    ) -> list[Artifact]:
        """Returns stored artifacts, newest first.

        Args:
            type_name: Only artifacts of this type, e.g. ``"Model"``.
            pipeline_name: Only artifacts written (or reused) by runs of this
                pipeline.
            state: Only artifacts in this state; None for any state.
            limit: At most this many; None for all.

        Example:
            >>> MetadataStore.in_memory().get_artifacts(type_name="Model")
            []
        """
        query = _ARTIFACTS.order_by(s.artifacts.c.id.desc()).limit(limit)
        if type_name is not None:
            query = query.where(s.artifact_types.c.name == type_name)
        if state is not None:
            query = query.where(s.artifacts.c.state == ArtifactState(state).value)
        if pipeline_name is not None:
            query = query.where(_attributed_to_pipeline(pipeline_name))
        return self._read(
            "read artifacts",
            lambda conn: [_artifact(row) for row in conn.execute(query)],
        )

    def inputs_of(self, execution_id: int) -> dict[str, Artifact]:
        """Returns the artifacts an execution read, by input name.

        Raises:
            MetadataStoreError: No such execution.

        Example:
            >>> from pipeline.artifacts import Examples
            >>> store = MetadataStore.in_memory()
            >>> _ = store.start_run("taxi", run_id="r1")
            >>> def execute(component_id, inputs, outputs):
            ...     ex = store.create_execution(
            ...         run_id="r1", component_id=component_id, component_type="C",
            ...         parameters={}, fingerprint=None, code_version=None,
            ...         inputs=inputs)
            ...     store.register_outputs(ex.id, outputs)
            ...     return store.publish_execution(ex.id, outputs)
            >>> examples = Examples(uri="/r/gen/examples/1")
            >>> gen = execute("gen", {}, {"examples": examples})
            >>> stats = execute("stats", {"examples": examples}, {})
            >>> store.inputs_of(stats.id)
            {'examples': Examples(id=1, uri='/r/gen/examples/1', state=LIVE)}
        """
        return self._read("read inputs", self._events_reader(execution_id, s.INPUT))

    def outputs_of(self, execution_id: int) -> dict[str, Artifact]:
        """Returns the artifacts an execution wrote (or reused), by output name.

        Raises:
            MetadataStoreError: No such execution.

        Example:
            >>> store = MetadataStore.in_memory()
            >>> _ = store.start_run("taxi", run_id="r1")
            >>> rec = store.record_skipped_execution(
            ...     run_id="r1", component_id="c", component_type="C", reason="r")
            >>> store.outputs_of(rec.id)
            {}
        """
        return self._read("read outputs", self._events_reader(execution_id, s.OUTPUT))

    def producer_of(self, artifact_id: int) -> ExecutionRecord | None:
        """Returns the execution that wrote an artifact (never a CACHED one).

        Raises:
            MetadataStoreError: No such artifact.

        Example:
            >>> from pipeline.artifacts import Examples
            >>> store = MetadataStore.in_memory()
            >>> _ = store.start_run("taxi", run_id="r1")
            >>> ex = store.create_execution(
            ...     run_id="r1", component_id="gen", component_type="CsvExampleGen",
            ...     parameters={}, fingerprint=None, code_version=None, inputs={})
            >>> store.register_outputs(ex.id, {"examples": Examples(uri="/e")})
            >>> store.producer_of(1).component_id
            'gen'
        """

        def read(conn: Connection) -> ExecutionRecord | None:
            self._require_artifact(conn, artifact_id)
            rows = _linked_executions(conn, [artifact_id], s.OUTPUT)
            return _execution_record(rows[0]) if rows else None

        return self._read("find a producer", read)

    def consumers_of(self, artifact_id: int) -> list[ExecutionRecord]:
        """Returns the executions that read an artifact, oldest first.

        CACHED executions are included: they stand for a read in their run.

        Raises:
            MetadataStoreError: No such artifact.

        Example:
            >>> from pipeline.artifacts import Examples
            >>> store = MetadataStore.in_memory()
            >>> _ = store.start_run("taxi", run_id="r1")
            >>> ex = store.create_execution(
            ...     run_id="r1", component_id="gen", component_type="CsvExampleGen",
            ...     parameters={}, fingerprint=None, code_version=None, inputs={})
            >>> store.register_outputs(ex.id, {"examples": Examples(uri="/e")})
            >>> store.consumers_of(1)
            []
        """

        def read(conn: Connection) -> list[ExecutionRecord]:
            self._require_artifact(conn, artifact_id)
            query = (
                _EXECUTIONS.join(s.events, s.events.c.execution_id == s.executions.c.id)
                .where(
                    s.events.c.artifact_id == artifact_id, s.events.c.type == s.INPUT
                )
                .order_by(s.executions.c.id)
            )
            return [_execution_record(row) for row in conn.execute(query)]

        return self._read("find consumers", read)

    def upstream(self, artifact_id: int) -> Lineage:
        """Returns everything an artifact was made from: which data and code.

        Walks from the artifact to the execution that produced it, to that
        execution's inputs, to their producers, and so on.

        Raises:
            MetadataStoreError: No such artifact.

        Example:
            >>> from pipeline.artifacts import Examples, Model
            >>> store = MetadataStore.in_memory()
            >>> _ = store.start_run("taxi", run_id="r1")
            >>> def execute(component_id, inputs, outputs):
            ...     ex = store.create_execution(
            ...         run_id="r1", component_id=component_id,
            ...         component_type=component_id.title(), parameters={},
            ...         fingerprint=None, code_version=None, inputs=inputs)
            ...     store.register_outputs(ex.id, outputs)
            ...     return store.publish_execution(ex.id, outputs)
            >>> examples, model = Examples(uri="/r/examples"), Model(uri="/r/model")
            >>> _ = execute("gen", {}, {"examples": examples})
            >>> _ = execute("trainer", {"examples": examples}, {"model": model})
            >>> print(store.upstream(model.id).render())
            Model #2 /r/model
            └── ← trainer (execution 2, Trainer)
                └── examples: Examples #1 /r/examples
                    └── ← gen (execution 1, Gen)
            >>> print(store.downstream(examples.id).render())
            Examples #1 /r/examples
            └── → trainer (execution 2, Trainer) as examples
                └── model: Model #2 /r/model
        """
        return self._read("trace lineage", self._lineage_reader(artifact_id, True))

    def downstream(self, artifact_id: int) -> Lineage:
        """Returns everything built from an artifact, transitively.

        Walks from the artifact to the executions that read it, to their outputs,
        to the executions that read those, and so on (see ``upstream`` for an
        example).

        Raises:
            MetadataStoreError: No such artifact.
        """
        return self._read("trace lineage", self._lineage_reader(artifact_id, False))

    def latest_blessed_model(self, pipeline_name: str) -> Artifact | None:
        """Returns the model of the newest blessing of a pipeline, if any.

        Looks at the LIVE ``ModelBlessing`` artifacts of the pipeline, newest first,
        for one with ``blessed == True``; the answer is the LIVE ``Model`` that the
        execution which wrote the blessing read: its input named ``model``, else
        its first ``Model`` input (so a baseline model is never taken for it).

        Example:
            >>> MetadataStore.in_memory().latest_blessed_model("taxi") is None
            True
        """
        blessings = (
            sa.select(s.artifacts.c.id, s.artifacts.c.properties)
            .join(s.artifact_types)
            .where(
                s.artifact_types.c.name == "ModelBlessing",
                s.artifacts.c.state == ArtifactState.LIVE.value,
                _attributed_to_pipeline(pipeline_name),
            )
            .order_by(s.artifacts.c.id.desc())
        )

        def read(conn: Connection) -> Artifact | None:
            for blessing_id, properties in conn.execute(blessings).all():
                if json.loads(properties).get("blessed") is not True:
                    continue
                producers = _linked_executions(conn, [blessing_id], s.OUTPUT)
                if not producers:
                    continue
                inputs = _event_artifacts(conn, producers[0].id, s.INPUT)
                models = [a for a in inputs.values() if isinstance(a, Model)]
                model = inputs.get("model")
                if not isinstance(model, Model):
                    model = models[0] if models else None
                if model is not None and model.state is ArtifactState.LIVE:
                    return model
            return None

        return self._read("find the latest blessed model", read)

    # ------------------------------------------------------------- helpers

    def _initialize(self) -> None:
        def prepare(conn: Connection) -> tuple[int | None, list[int]]:
            _lock_schema(conn)
            found = migrations.stored_version(conn)
            self._check_version(found)
            if found is None:
                s.metadata.create_all(conn)
                conn.execute(
                    sa.insert(s.schema_version).values(
                        version=s.SCHEMA_VERSION, written_at=time.time()
                    )
                )
                return found, []
            try:
                return found, migrations.upgrade(conn, found)
            except MetadataStoreError as exc:
                raise MetadataStoreError(
                    f"Cannot upgrade the metadata store {self.url} from schema "
                    f"version {found} to {s.SCHEMA_VERSION}: {exc}"
                ) from None

        # Read first: opening a store that is up to date then takes no write lock.
        found = self._transaction(
            "open", migrations.stored_version, write=False, wrap=False
        )
        self._check_version(found)
        if found == s.SCHEMA_VERSION:
            return
        what = "create the tables" if found is None else "upgrade the tables"
        try:
            before, reached = self._transaction(what, prepare, write=True, wrap=False)
        except MetadataStoreError:
            raise
        except Exception as exc:
            if found is not None:
                raise MetadataStoreError(
                    f"Cannot upgrade the metadata store {self.url} from schema version "
                    f"{found} to {s.SCHEMA_VERSION}: {_reason(exc)}. Nothing was "
                    f"changed: the store is still at version {found}, and the mlpipe "
                    f"that wrote it can still use it. Report this error to mlpipe."
                ) from exc
            if not isinstance(exc, sa_exc.DBAPIError):
                raise
            # Should two processes still race to create the tables (on a database
            # whose lock _lock_schema does not take), the loser finds the winner's.
            found = self._transaction(
                "open", migrations.stored_version, write=False, wrap=False
            )
            if found is None:
                raise
            self._check_version(found)
            return
        if reached:
            log.warning(
                "Upgraded the metadata store %s from schema version %d to %d; older "
                "mlpipe versions can no longer open it",
                self.url,
                before,
                reached[-1],
            )

    def _check_version(self, found: int | None) -> None:
        if found is not None and found > s.SCHEMA_VERSION:
            raise MetadataStoreError(
                f"The metadata store {self.url} has schema version {found}, newer "
                f"than this mlpipe knows ({s.SCHEMA_VERSION}): a newer mlpipe wrote "
                f"it. Upgrade mlpipe (pip install -U mlpipe) to use this store."
            )

    def _read(self, what: str, fn: Callable[[Connection], T]) -> T:
        return self._transaction(what, fn, write=False)

    def _write(self, what: str, fn: Callable[[Connection], T]) -> T:
        return self._transaction(what, fn, write=True)

    def _transaction(
        self,
        what: str,
        fn: Callable[[Connection], T],
        *,
        write: bool,
        wrap: bool = True,
    ) -> T:
        # fn may run several times (retries): it must only touch the database.
        if self._closed or self._engine is None:
            raise MetadataStoreError(
                f"The metadata store {self.url} is closed; open a new MetadataStore."
            )
        delay = 0.05
        started = time.monotonic()
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with self._lock, self._engine.connect() as conn:
                    conn.execution_options(mlpipe_write=write)
                    with conn.begin():
                        return fn(conn)
            except (sa_exc.SQLAlchemyError, sqlite3.Error) as exc:
                if not _is_busy(exc):
                    if not wrap:
                        raise
                    raise MetadataStoreError(
                        f"Metadata store {self.url}: could not {what}: {_reason(exc)}"
                    ) from exc
                if attempt == _ATTEMPTS:
                    raise MetadataStoreError(
                        f"Metadata store {self.url}: could not {what}: the database "
                        f"stayed locked for {time.monotonic() - started:.0f}s "
                        f"({attempt} attempts). Another process holds a long write "
                        f"transaction; try again when it has finished."
                    ) from exc
                log.debug(
                    "%s: database busy (%s); retry %d", what, _reason(exc), attempt
                )
                time.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    def _require_run(self, conn: Connection, run_id: str) -> int:
        context_id = _find_context(conn, s.RUN, run_id)
        if context_id is None:
            recent = conn.scalars(
                sa.select(s.contexts.c.name)
                .where(s.contexts.c.type == s.RUN)
                .order_by(s.contexts.c.id.desc())
                .limit(200)
            ).all()
            raise MetadataStoreError(
                f"No run {run_id!r} in the metadata store {self.url}."
                f"{did_you_mean(run_id, recent)} List the runs with `mlpipe runs`."
            )
        return context_id

    def _require_run_contexts(self, conn: Connection, run_id: str) -> tuple[int, int]:
        context_id = self._require_run(conn, run_id)
        parent = conn.scalar(
            sa.select(s.contexts.c.parent_id).where(s.contexts.c.id == context_id)
        )
        return context_id, parent

    def _require_execution(
        self, conn: Connection, execution_id: int
    ) -> ExecutionRecord:
        row = conn.execute(_EXECUTIONS.where(s.executions.c.id == execution_id)).first()
        if row is None:
            raise MetadataStoreError(
                f"No execution with id {execution_id} in {self.url}."
            )
        return _execution_record(row)

    def _require_artifact(self, conn: Connection, artifact_id: int) -> None:
        found = conn.scalar(
            sa.select(s.artifacts.c.id).where(s.artifacts.c.id == artifact_id)
        )
        if found is None:
            raise MetadataStoreError(
                f"No artifact with id {artifact_id} in {self.url}."
            )

    def _events_reader(
        self, execution_id: int, kind: str
    ) -> Callable[[Connection], dict[str, Artifact]]:
        def read(conn: Connection) -> dict[str, Artifact]:
            self._require_execution(conn, execution_id)
            return _event_artifacts(conn, execution_id, kind)

        return read

    def _lineage_reader(
        self, artifact_id: int, upstream: bool
    ) -> Callable[[Connection], Lineage]:
        def read(conn: Connection) -> Lineage:
            found = _load_artifacts(conn, [artifact_id])
            if not found:
                raise MetadataStoreError(
                    f"No artifact with id {artifact_id} in {self.url}."
                )
            return _walk(conn, found[0], upstream)

        return read


# ------------------------------------------------------------------ queries

_RUN = s.contexts.alias("run_context")
_PIPELINE = s.contexts.alias("pipeline_context")

_EXECUTIONS = sa.select(
    s.executions,
    _RUN.c.name.label("run_id"),
    _PIPELINE.c.name.label("pipeline_name"),
).select_from(
    s.executions.join(
        s.associations, s.associations.c.execution_id == s.executions.c.id
    )
    .join(_RUN, (_RUN.c.id == s.associations.c.context_id) & (_RUN.c.type == s.RUN))
    .join(_PIPELINE, _PIPELINE.c.id == _RUN.c.parent_id)
)

_ARTIFACTS = sa.select(
    s.artifacts,
    s.artifact_types.c.name.label("type_name"),
    s.artifact_types.c.property_schema,
).join(s.artifact_types, s.artifact_types.c.id == s.artifacts.c.type_id)


def _execution_record(row: Any) -> ExecutionRecord:
    return ExecutionRecord(
        id=row.id,
        run_id=row.run_id,
        pipeline_name=row.pipeline_name,
        component_id=row.component_id,
        component_type=row.component_type,
        state=ExecutionState(row.state),
        parameters=json.loads(row.parameters),
        fingerprint=row.fingerprint,
        code_version=row.code_version,
        start_time=row.start_time,
        end_time=row.end_time,
        error=row.error,
        result=None if row.result is None else json.loads(row.result),
        cached_from=row.cached_from,
        pid=row.pid,
        host=row.host,
    )


def _load_runs(
    conn: Connection,
    *,
    id: int | None = None,  # noqa: A002 - the column's name
    run_id: str | None = None,
    pipeline_name: str | None = None,
    limit: int | None = None,
) -> list[RunRecord]:
    query = (
        sa.select(_RUN, _PIPELINE.c.name.label("pipeline_name"))
        .join(_PIPELINE, _PIPELINE.c.id == _RUN.c.parent_id)
        .where(_RUN.c.type == s.RUN)
        .order_by(_RUN.c.id.desc())
        .limit(limit)
    )
    if id is not None:
        query = query.where(_RUN.c.id == id)
    if run_id is not None:
        query = query.where(_RUN.c.name == run_id)
    if pipeline_name is not None:
        query = query.where(_PIPELINE.c.name == pipeline_name)
    return [
        RunRecord(
            run_id=row.name,
            pipeline_name=row.pipeline_name,
            state=RunState(row.state),
            start_time=row.start_time,
            end_time=row.end_time,
            properties=json.loads(row.properties),
        )
        for row in conn.execute(query)
    ]


def _artifact(row: Any) -> Artifact:
    cls = _artifact_class(row.type_name, row.property_schema)
    artifact = cls(uri=row.uri, id=row.id, state=row.state)
    for name, value in json.loads(row.properties).items():
        if name in cls.PROPERTIES:
            artifact.set_property(name, value)
        else:
            log.warning(
                "%s #%s: ignoring stored property %r, which %s no longer declares",
                row.type_name,
                row.id,
                name,
                cls.__qualname__,
            )
    return artifact


def _artifact_class(type_name: str, property_schema: str) -> type[Artifact]:
    cls = registry.artifact_type(type_name)
    if cls is not None and not getattr(cls, "_stand_in", False):
        return cls
    key = (type_name, property_schema)
    if key not in _STAND_IN_TYPES:
        properties = {
            name: _PROPERTY_TYPES[kind]
            for name, kind in json.loads(property_schema).items()
        }
        # Defining the class registers it, so later loads find it by name.
        _STAND_IN_TYPES[key] = type(
            type_name,
            (Artifact,),
            {
                "TYPE_NAME": type_name,
                "PROPERTIES": properties,
                "_stand_in": True,
                "__module__": __name__,
                "__doc__": f"Stand-in for the artifact type {type_name!r}, "
                "which no loaded code defines.",
            },
        )
    return _STAND_IN_TYPES[key]


def _load_artifacts(conn: Connection, ids: Iterable[int]) -> list[Artifact]:
    wanted = list(ids)
    rows = conn.execute(_ARTIFACTS.where(s.artifacts.c.id.in_(wanted))).all()
    by_id = {row.id: _artifact(row) for row in rows}
    return [by_id[i] for i in wanted if i in by_id]


def _event_ids(conn: Connection, execution_id: int, kind: str) -> dict[str, int]:
    rows = conn.execute(
        sa.select(s.events.c.path, s.events.c.artifact_id)
        .where(s.events.c.execution_id == execution_id, s.events.c.type == kind)
        .order_by(s.events.c.id)
    )
    return {path: artifact_id for path, artifact_id in rows}


def _event_artifacts(
    conn: Connection, execution_id: int, kind: str
) -> dict[str, Artifact]:
    ids = _event_ids(conn, execution_id, kind)
    loaded = {a.id: a for a in _load_artifacts(conn, ids.values())}
    return {path: loaded[artifact_id] for path, artifact_id in ids.items()}


def _linked_executions(
    conn: Connection, artifact_ids: list[int], kind: str
) -> list[Any]:
    """Rows of the non-CACHED executions with a ``kind`` event on the artifacts."""
    query = (
        _EXECUTIONS.add_columns(
            s.events.c.artifact_id.label("event_artifact_id"),
            s.events.c.path.label("event_path"),
        )
        .join(s.events, s.events.c.execution_id == s.executions.c.id)
        .where(
            s.events.c.artifact_id.in_(artifact_ids),
            s.events.c.type == kind,
            s.executions.c.state != ExecutionState.CACHED.value,
        )
        .order_by(s.executions.c.id, s.events.c.id)
    )
    return conn.execute(query).all()


def _walk(conn: Connection, root: Artifact, upstream: bool) -> Lineage:
    # Upstream: artifact ← producer ← its inputs; downstream: artifact → consumers →
    # their outputs. One query per hop and kind, however wide the graph.
    to_execution, from_execution = (
        (s.OUTPUT, s.INPUT) if upstream else (s.INPUT, s.OUTPUT)
    )
    artifacts = {root.id: root}
    executions: dict[int, ExecutionRecord] = {}
    edges: list[Edge] = []
    frontier = [root.id]
    while frontier:
        new_executions = []
        for row in _linked_executions(conn, frontier, to_execution):
            link = ("execution", row.id, "artifact", row.event_artifact_id)
            if not upstream:
                link = ("artifact", row.event_artifact_id, "execution", row.id)
            edges.append((*link, row.event_path))
            if row.id not in executions:
                executions[row.id] = _execution_record(row)
                new_executions.append(row.id)
        rows = conn.execute(
            sa.select(s.events.c.execution_id, s.events.c.artifact_id, s.events.c.path)
            .where(
                s.events.c.execution_id.in_(new_executions),
                s.events.c.type == from_execution,
            )
            .order_by(s.events.c.execution_id, s.events.c.id)
        ).all()
        frontier = []
        for execution_id, artifact_id, path in rows:
            link = ("artifact", artifact_id, "execution", execution_id)
            if not upstream:
                link = ("execution", execution_id, "artifact", artifact_id)
            edges.append((*link, path))
            if artifact_id not in artifacts and artifact_id not in frontier:
                frontier.append(artifact_id)
        artifacts.update((a.id, a) for a in _load_artifacts(conn, frontier))
    direction = "upstream" if upstream else "downstream"
    return Lineage(root, artifacts, executions, edges, direction)


def _attributed_to_pipeline(pipeline_name: str) -> sa.ColumnElement[bool]:
    return sa.exists(
        sa.select(s.attributions.c.artifact_id)
        .join(s.contexts, s.contexts.c.id == s.attributions.c.context_id)
        .where(
            s.attributions.c.artifact_id == s.artifacts.c.id,
            s.contexts.c.type == s.PIPELINE,
            s.contexts.c.name == pipeline_name,
        )
    )


# ------------------------------------------------------------------- writes


def _insert(conn: Connection, table: sa.Table, **values: Any) -> int:
    return conn.execute(sa.insert(table).values(**values)).inserted_primary_key[0]


def _find_context(conn: Connection, kind: str, name: str) -> int | None:
    return conn.scalar(
        sa.select(s.contexts.c.id).where(
            s.contexts.c.type == kind, s.contexts.c.name == name
        )
    )


def _lock_schema(conn: Connection) -> None:
    # Creating or upgrading the tables must happen once, however many processes open
    # the store at once. SQLite's BEGIN IMMEDIATE already holds the write lock; on
    # PostgreSQL an advisory lock serializes them, even before any table exists.
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))


def _get_or_insert(
    conn: Connection, table: sa.Table, key: dict[str, Any], values: dict[str, Any]
) -> int:
    where = [table.c[name] == value for name, value in key.items()]
    found = conn.scalar(sa.select(table.c.id).where(*where))
    if found is not None:
        return found
    try:
        # A savepoint, because on PostgreSQL another session may insert the same
        # key between our select and insert; SQLite's BEGIN IMMEDIATE rules it out.
        with conn.begin_nested():
            return _insert(conn, table, **key, **values)
    except sa_exc.IntegrityError:
        return conn.scalar(sa.select(table.c.id).where(*where))


def _ensure_type(conn: Connection, cls: type[Artifact]) -> int:
    wanted = {name: kind.__name__ for name, kind in cls.PROPERTIES.items()}
    type_id = _get_or_insert(
        conn,
        s.artifact_types,
        {"name": cls.TYPE_NAME},
        {"property_schema": json.dumps(wanted, sort_keys=True)},
    )
    stored = json.loads(
        conn.scalar(
            sa.select(s.artifact_types.c.property_schema).where(
                s.artifact_types.c.id == type_id
            )
        )
    )
    # Types evolve: keep the union, so artifacts stored under either schema load.
    merged = {**stored, **wanted}
    if merged != stored:
        conn.execute(
            sa.update(s.artifact_types)
            .where(s.artifact_types.c.id == type_id)
            .values(property_schema=json.dumps(merged, sort_keys=True))
        )
    return type_id


def _insert_events(
    conn: Connection, execution_id: int, kind: str, ids: Mapping[str, int], now: float
) -> None:
    if ids:
        conn.execute(
            sa.insert(s.events),
            [
                {
                    "execution_id": execution_id,
                    "artifact_id": artifact_id,
                    "type": kind,
                    "path": path,
                    "time": now,
                }
                for path, artifact_id in ids.items()
            ],
        )


def _associate(conn: Connection, execution_id: int, contexts: Iterable[int]) -> None:
    conn.execute(
        sa.insert(s.associations),
        [{"context_id": c, "execution_id": execution_id} for c in contexts],
    )


def _attribute(
    conn: Connection, artifact_ids: Iterable[int], contexts: Iterable[int]
) -> None:
    wanted = {(c, a) for c in contexts for a in artifact_ids}
    if not wanted:
        return
    existing = conn.execute(
        sa.select(s.attributions.c.context_id, s.attributions.c.artifact_id).where(
            s.attributions.c.artifact_id.in_({a for _, a in wanted})
        )
    )
    for context_id, artifact_id in sorted(wanted - {tuple(row) for row in existing}):
        # A savepoint each: on PostgreSQL a concurrent run of the same pipeline may
        # attribute the same reused artifact first; one attribution is enough.
        with contextlib.suppress(sa_exc.IntegrityError), conn.begin_nested():
            conn.execute(
                sa.insert(s.attributions).values(
                    context_id=context_id, artifact_id=artifact_id
                )
            )


def _contexts_of(conn: Connection, execution_id: int) -> list[int]:
    return list(
        conn.scalars(
            sa.select(s.associations.c.context_id).where(
                s.associations.c.execution_id == execution_id
            )
        )
    )


def _lock_running(conn: Connection, execution_id: int, action: str) -> None:
    state = conn.scalar(
        sa.select(s.executions.c.state)
        .where(s.executions.c.id == execution_id)
        .with_for_update()
    )
    if state is None:
        raise MetadataStoreError(
            f"Cannot {action} execution {execution_id}: no such execution."
        )
    if state != ExecutionState.RUNNING.value:
        raise MetadataStoreError(
            f"Cannot {action} execution {execution_id}: it is {state}, not RUNNING. "
            f"Only a running execution can change; start a new execution instead."
        )


def _finish_failed(
    conn: Connection, execution_id: int, error: str, *, ended: bool = True
) -> list[int]:
    """Fails an execution and abandons its outputs; returns the abandoned ids.

    ``ended=False`` leaves the end time unknown (a killed process gave none).
    """
    output_ids = list(_event_ids(conn, execution_id, s.OUTPUT).values())
    now = time.time()
    if output_ids:
        conn.execute(
            sa.update(s.artifacts)
            .where(s.artifacts.c.id.in_(output_ids))
            .values(state=ArtifactState.ABANDONED.value, update_time=now)
        )
    conn.execute(
        sa.update(s.executions)
        .where(s.executions.c.id == execution_id)
        .values(
            state=ExecutionState.FAILED.value,
            end_time=now if ended else None,
            error=error,
        )
    )
    return output_ids


def _check_outputs_match(
    execution_id: int, registered: dict[str, int], outputs: Mapping[str, Artifact]
) -> None:
    missing = sorted(set(registered) - set(outputs))
    unknown = sorted(set(outputs) - set(registered))
    if missing or unknown:
        raise MetadataStoreError(
            f"publish_execution({execution_id}): the outputs do not match the "
            f"registered ones: missing {missing}, not registered {unknown}. Pass every "
            f"output given to register_outputs, and only those."
        )
    for name, artifact in outputs.items():
        if artifact.id != registered[name]:
            raise MetadataStoreError(
                f"publish_execution({execution_id}): output {name!r} is {artifact!r}, "
                f"but artifact {registered[name]} was registered under that name."
            )


def _ids_of(artifacts: Mapping[str, Artifact], what: str) -> dict[str, int]:
    for name, artifact in artifacts.items():
        if artifact.id is None:
            raise MetadataStoreError(
                f"{what} {name!r} ({artifact!r}) is not stored: it has no id. Only "
                f"artifacts registered with register_outputs (or loaded from the "
                f"store) can be recorded here."
            )
    return {name: artifact.id for name, artifact in artifacts.items()}


def _require_live(conn: Connection, artifact_ids: Iterable[int], what: str) -> None:
    wanted = set(artifact_ids)
    if not wanted:
        return
    states = dict(
        conn.execute(
            sa.select(s.artifacts.c.id, s.artifacts.c.state).where(
                s.artifacts.c.id.in_(wanted)
            )
        ).all()
    )
    for artifact_id in sorted(wanted):
        state = states.get(artifact_id)
        if state != ArtifactState.LIVE.value:
            found = "does not exist" if state is None else f"is {state}"
            raise MetadataStoreError(
                f"{what}: artifact {artifact_id} {found}; only LIVE artifacts (whose "
                f"execution completed) can be read or reused."
            )


def _to_json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise MetadataStoreError(
            f"{what} must hold only JSON values (str, int, float, bool, None, list, "
            f"dict with str keys): {exc}."
        ) from None


def _new_run_id() -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":
        # os.kill(pid, 0) would send CTRL_C_EVENT on Windows: never assume death.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ------------------------------------------------------------------ opening


class _Undo:
    """Files and folders created while opening, removed again if opening fails."""

    def __init__(self) -> None:
        self.files: list[Path] = []
        self.folders: list[Path] = []

    def run(self) -> None:
        for path in self.files:
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(OSError):
                    Path(f"{path}{suffix}").unlink()
        for folder in reversed(self.folders):
            with contextlib.suppress(OSError):
                folder.rmdir()


def _parse_url(raw: str) -> sa.URL:
    if "://" not in raw:
        if not raw.strip():
            raise MetadataStoreError(
                "The metadata store URL is empty. Pass a URL such as "
                "sqlite:///path/metadata.sqlite or a file path, or unset MLPIPE_STORE."
            )
        path = Path(raw).expanduser().absolute()
        return sa.URL.create("sqlite", database=str(path))
    try:
        return sa.make_url(raw)
    except (sa_exc.ArgumentError, ValueError) as exc:
        raise MetadataStoreError(
            f"Cannot open the metadata store {_mask(raw)}: not a database URL ({exc}). "
            f"Use dialect+driver://user:password@host/dbname, e.g. "
            f"postgresql+psycopg://mlpipe:***@db.example.com/mlpipe, or "
            f"sqlite:///path/metadata.sqlite, or a plain file path."
        ) from None


def _mask(raw: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", raw)


def _is_sqlite_memory(url: sa.URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _prepare_sqlite_file(url: sa.URL, undo: _Undo) -> None:
    if url.get_backend_name() != "sqlite" or _is_sqlite_memory(url):
        return
    if url.database.startswith("file:"):
        return
    path = Path(url.database)
    missing = [p for p in [path.parent, *path.parent.parents] if not p.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in path.parents if p.is_file()), None)
        reason = (
            f"{blocker} is a file, not a folder"
            if blocker
            else f"cannot create the folder {path.parent} ({exc.strerror or exc})"
        )
        raise MetadataStoreError(
            f"Cannot open the metadata store {url}: {reason}. Choose a writable "
            f"location with --store, MLPIPE_STORE or MLPIPE_HOME."
        ) from exc
    undo.folders = list(reversed(missing))
    if not path.exists():
        undo.files.append(path)


def _create_engine(url: sa.URL, *, memory: bool) -> Engine:
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    if memory:
        engine = sa.create_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        engine = sa.create_engine(
            url,
            poolclass=QueuePool,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S},
        )
    event.listen(
        engine, "connect", functools.partial(_on_sqlite_connect, wal=not memory)
    )
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, _record: Any, *, wal: bool) -> None:
    # SQLAlchemy's documented recipe: stop pysqlite from emitting its own BEGIN, so
    # that _on_sqlite_begin can choose the kind of BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if wal:
            (mode,) = cursor.execute("PRAGMA journal_mode").fetchone()
            if mode.lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    # IMMEDIATE takes the write lock up front: a deferred transaction that reads and
    # then writes fails at once with "database is locked" when another process wrote
    # in between, whatever the busy timeout.
    write = conn.get_execution_options().get("mlpipe_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _dispose_in_forked_child(engine: Engine) -> None:
    # A forked child must not use the parent's pooled connections (SQLAlchemy's
    # multiprocessing advice); it opens its own on first use.
    ref = weakref.ref(engine)

    def reset() -> None:
        forked = ref()
        if forked is not None:
            forked.dispose(close=False)

    os.register_at_fork(after_in_child=reset)


_BUSY_MESSAGES = (
    "database is locked",  # SQLite
    "database is busy",
    "database table is locked",
    "deadlock detected",  # PostgreSQL: the whole transaction was rolled back
    "could not serialize access",
)


def _is_busy(exc: BaseException) -> bool:
    if not isinstance(exc, (sa_exc.DBAPIError, sqlite3.Error)):
        return False
    text = str(getattr(exc, "orig", None) or exc).lower()
    return any(message in text for message in _BUSY_MESSAGES)


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return f"{type(orig).__name__}: {str(orig).rstrip('.')}"


def _open_error(shown: str, url: sa.URL, exc: BaseException) -> str:
    start = f"Cannot open the metadata store {shown}"
    text = str(getattr(exc, "orig", None) or exc)
    if isinstance(exc, sa_exc.NoSuchModuleError):
        return (
            f"{start}: unknown database kind {url.drivername!r}. Use a SQLAlchemy URL "
            f"such as sqlite:///path/metadata.sqlite or "
            f"postgresql+psycopg://user:password@host/dbname, or a plain file path."
        )
    if isinstance(exc, ImportError):
        return (
            f"{start}: its database driver is not installed ({exc}). Install it, e.g. "
            f"pip install 'mlpipe[postgres]' for PostgreSQL."
        )
    if "file is not a database" in text:
        return (
            f"{start}: {url.database} exists but is not a SQLite database. Point the "
            f"store (--store or MLPIPE_STORE) at another file, or move this one away."
        )
    if url.get_backend_name() == "sqlite" and "unable to open database file" in text:
        return (
            f"{start}: SQLite cannot open or create {url.database}. Check that it is "
            f"a file (not a folder) in a writable folder, or choose another location "
            f"with --store, MLPIPE_STORE or MLPIPE_HOME."
        )
    if isinstance(exc, sa_exc.DBAPIError) and url.get_backend_name() != "sqlite":
        return (
            f"{start}: {_reason(exc)}. Check that the database server is running and "
            f"reachable, and the user name, password and database name in the URL."
        )
    return f"{start}: {_reason(exc)}."
