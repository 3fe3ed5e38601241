"""LocalRunner: runs a pipeline in this process and records everything in the store.

Three hops from ``run()`` to user code: the runner orders the components with
``graphlib``, calls ``component.execute(...)`` inside ``user_code_boundary`` and
records the outcome. A component's outputs become LIVE only after it returned and its
files are written; a failure abandons them and deletes their files, and every component
that depends on it is skipped while independent branches go on.

Example:
    >>> import tempfile
    >>> from pipeline import Pipeline, Output, Artifact, component
    >>> @component
    ... def say_hello(note: Output[Artifact]):
    ...     open(note.uri + "/hello.txt", "w").write("hello")
    >>> root = tempfile.mkdtemp()
    >>> result = Pipeline("hello", [say_hello()], root=root, store=root + "/m.sqlite").run()
    >>> result.state
    'COMPLETE'
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import graphlib
import json
import logging
import os
import time
import traceback
from typing import TYPE_CHECKING, Any

from pipeline import cache, fs
from pipeline.artifacts import Artifact
from pipeline.component import Component, ExecutionContext
from pipeline.errors import (
    ArtifactStorageError,
    DefinitionError,
    ExecutionError,
    MlpipeError,
    PipelineRunError,
    user_code_boundary,
)

if TYPE_CHECKING:
    from pipeline.dag import Pipeline
    from pipeline.metadata import ExecutionRecord, MetadataStore

log = logging.getLogger("mlpipe")


@dataclasses.dataclass
class RunResult:
    """What a run did.

    Attributes:
        run_id: The run's id in the metadata store.
        pipeline_name: The pipeline's name.
        state: "COMPLETE" or "FAILED".
        executions: Each component id's execution record (RUNNING never appears).
        outputs: Each component id's output artifacts by output name.
        duration: Wall time of the run in seconds.
    """

    run_id: str
    pipeline_name: str
    state: str
    executions: dict[str, ExecutionRecord]
    outputs: dict[str, dict[str, Artifact]]
    duration: float

    def artifact(self, component_id: str, output: str) -> Artifact:
        """The artifact that ``component_id`` wrote (or reused) as ``output``."""
        return self.outputs[component_id][output]


@dataclasses.dataclass
class _Run:
    pipeline: Pipeline
    store: MetadataStore
    run_id: str
    enable_cache: bool
    beam_pipeline_args: list[str]
    outputs: dict[str, dict[str, Artifact]] = dataclasses.field(default_factory=dict)
    executions: dict[str, ExecutionRecord] = dataclasses.field(default_factory=dict)
    failures: dict[str, ExecutionError] = dataclasses.field(default_factory=dict)
    blocked: set[str] = dataclasses.field(default_factory=set)
    running: dict[str, tuple[int, dict[str, Artifact]]] = dataclasses.field(
        default_factory=dict
    )


class LocalRunner:
    """Runs pipelines in the current process.

    Args:
        store: A metadata store URL or ``MetadataStore``, over the pipeline's own.
        enable_cache: True or False to force caching on or off for this run; None
            follows the pipeline and its components.
        parallelism: How many independent components may run at once (threads).
        beam_pipeline_args: Beam options added after the pipeline's own.
    """

    def __init__(
        self,
        *,
        store: str | MetadataStore | None = None,
        enable_cache: bool | None = None,
        parallelism: int = 1,
        beam_pipeline_args: list[str] | None = None,
    ):
        if not isinstance(parallelism, int) or parallelism < 1:
            raise DefinitionError(
                f"LocalRunner: parallelism must be a whole number of at least 1, "
                f"got {parallelism!r}."
            )
        self.store = store
        self.enable_cache = enable_cache
        self.parallelism = parallelism
        self.beam_pipeline_args = list(beam_pipeline_args or [])

    def run(self, pipeline: Pipeline) -> RunResult:
        """Runs every component of ``pipeline`` in dependency order.

        Returns:
            The ``RunResult`` of a complete run.

        Raises:
            PipelineRunError: One or more components failed; the others that could run did.
            ArtifactStorageError: The pipeline root cannot be written.
            MetadataStoreError: The store cannot be opened.
        """
        from pipeline.metadata import MetadataStore, RunState

        _ensure_progress_is_shown()
        fs.check_writable(pipeline.root)
        target = self.store if self.store is not None else pipeline.store
        store = target if isinstance(target, MetadataStore) else MetadataStore(target)
        try:
            self._clean_dead_executions(store)
            started = time.monotonic()
            record = store.start_run(pipeline.name, properties={"root": pipeline.root})
            run = _Run(
                pipeline=pipeline,
                store=store,
                run_id=record.run_id,
                enable_cache=(
                    pipeline.enable_cache
                    if self.enable_cache is None
                    else self.enable_cache
                ),
                beam_pipeline_args=pipeline.beam_pipeline_args
                + self.beam_pipeline_args,
            )
            log.info(
                "Run %s of pipeline %r: %d components, root %s, store %s",
                run.run_id,
                pipeline.name,
                len(pipeline.components),
                pipeline.root,
                store.url,
            )
            try:
                self._run_all(run)
            except BaseException:
                store.finish_run(run.run_id, RunState.FAILED)
                raise
            state = RunState.FAILED if run.failures else RunState.COMPLETE
            store.finish_run(run.run_id, state)
            duration = time.monotonic() - started
            log.info("Run %s %s in %.2fs", run.run_id, state.value, duration)
            if run.failures:
                raise self._run_error(run)
            return RunResult(
                run_id=run.run_id,
                pipeline_name=pipeline.name,
                state=state.value,
                executions=run.executions,
                outputs=run.outputs,
                duration=duration,
            )
        finally:
            if store is not target:
                store.close()

    @staticmethod
    def _clean_dead_executions(store: MetadataStore) -> None:
        for artifact in store.reclaim_dead_executions():
            if artifact.RESUMABLE:
                log.warning(
                    "Keeping %s left by a killed execution at %s: the next run of "
                    "the same component on the same inputs resumes from it",
                    artifact.TYPE_NAME,
                    artifact.uri,
                )
                continue
            log.warning(
                "Removing %s left by a killed execution at %s",
                artifact.TYPE_NAME,
                artifact.uri,
            )
            fs.remove_tree(artifact.uri)

    def _run_all(self, run: _Run) -> None:
        sorter = graphlib.TopologicalSorter(run.pipeline.graph())
        sorter.prepare()
        nodes = {node.id: node for node in run.pipeline.components}
        if self.parallelism == 1:
            while sorter.is_active():
                for node_id in sorter.get_ready():
                    self._step(run, nodes[node_id])
                    sorter.done(node_id)
            return
        pool = concurrent.futures.ThreadPoolExecutor(self.parallelism)
        try:
            running: dict[concurrent.futures.Future, str] = {}
            while sorter.is_active():
                for node_id in sorter.get_ready():
                    running[pool.submit(self._step, run, nodes[node_id])] = node_id
                done, _ = concurrent.futures.wait(
                    running, return_when=concurrent.futures.FIRST_COMPLETED
                )
                for future in done:
                    future.result()
                    sorter.done(running.pop(future))
        except BaseException as exc:
            # Threads cannot be stopped: abandon what they run now, so nothing they
            # finish later can become LIVE (the store refuses to publish it).
            pool.shutdown(wait=False, cancel_futures=True)
            for component_id, (execution_id, outputs) in list(run.running.items()):
                run.store.fail_execution(
                    execution_id, f"interrupted: {type(exc).__name__}", outputs=outputs
                )
                for artifact in outputs.values():
                    fs.remove_tree(artifact.uri)
                log.error(
                    "%s: FAILED: interrupted (%s)", component_id, type(exc).__name__
                )
            raise
        pool.shutdown(wait=True)

    def _step(self, run: _Run, node: Component) -> None:
        failed_upstream = [
            other.id for other in node.upstream if other.id in run.blocked
        ]
        if failed_upstream:
            reason = f"upstream component(s) {failed_upstream} failed or were skipped"
            run.executions[node.id] = run.store.record_skipped_execution(
                run_id=run.run_id,
                component_id=node.id,
                component_type=type(node).name,
                reason=reason,
            )
            run.blocked.add(node.id)
            log.warning("%s: SKIPPED: %s", node.id, reason)
            return
        try:
            self._execute(run, node)
        except ExecutionError as exc:
            run.failures[node.id] = exc
            run.blocked.add(node.id)
        except MlpipeError as exc:
            message = str(exc)
            if not message.startswith(f"Component {node.id!r}"):
                message = f"Component {node.id!r} failed: {message}"
            if node.id not in run.executions:  # it failed before its execution began
                record = run.store.create_execution(
                    run_id=run.run_id,
                    component_id=node.id,
                    component_type=type(node).name,
                    parameters=node.parameters,
                    fingerprint=None,
                    code_version=None,
                    inputs={},
                )
                run.executions[node.id] = run.store.fail_execution(record.id, message)
            error = ExecutionError(message, component_id=node.id)
            error.__cause__ = exc
            run.failures[node.id] = error
            run.blocked.add(node.id)
            log.error("%s: FAILED: %s", node.id, exc)

    def _execute(self, run: _Run, node: Component) -> None:
        store = run.store
        inputs: dict[str, Artifact | None] = {
            name: run.outputs[channel.producer.id][channel.output]
            for name, channel in node.inputs.items()
        }
        for name in node.spec.inputs:
            inputs.setdefault(name, None)
        _resolve_unwired_inputs(run, node, inputs)
        version = cache.code_version(node)
        fingerprint = cache.fingerprint(node, inputs, version)
        wired = {name: a for name, a in inputs.items() if a is not None}
        described = dict(
            run_id=run.run_id,
            component_id=node.id,
            component_type=type(node).name,
            parameters=node.parameters,
            fingerprint=fingerprint,
            code_version=version,
            inputs=wired,
        )
        if run.enable_cache and node.enable_cache is not False:
            hit = store.find_cached_execution(fingerprint)
            if hit is not None and all(fs.exists(a.uri) for a in hit[1].values()):
                earlier, outputs = hit
                record = store.record_cached_execution(
                    **described, outputs=outputs, cached_from=earlier.id
                )
                run.outputs[node.id] = outputs
                run.executions[node.id] = record
                log.info("%s: CACHED (reusing execution %d)", node.id, earlier.id)
                return
        record = store.create_execution(**described)
        outputs = {
            name: spec.type(
                uri=fs.join(run.pipeline.root, node.id, name, str(record.id))
            )
            for name, spec in node.spec.outputs.items()
        }
        started = time.monotonic()
        log.info("%s: started (execution %d)", node.id, record.id)
        try:
            _check_output_dirs_free(node, outputs)
        except ArtifactStorageError as exc:
            run.executions[node.id] = store.fail_execution(record.id, str(exc))
            raise
        run.running[node.id] = (record.id, outputs)
        try:
            store.register_outputs(record.id, outputs)
            _take_over_resumable_outputs(node, store, fingerprint, outputs)
            for artifact in outputs.values():
                fs.makedirs(artifact.uri)
            kwargs: dict[str, Any] = {**inputs, **outputs, **node.parameters}
            if node.spec.context_arg:
                kwargs[node.spec.context_arg] = ExecutionContext(
                    pipeline_name=run.pipeline.name,
                    pipeline_root=run.pipeline.root,
                    run_id=run.run_id,
                    component_id=node.id,
                    execution_id=record.id,
                    beam_pipeline_args=run.beam_pipeline_args
                    + (node.beam_pipeline_args or []),
                    log=logging.getLogger(f"mlpipe.{node.id}"),
                )
            with user_code_boundary(node.id, record.id):
                result = node.execute(**kwargs)
                _check_result(node, result)
            record = store.publish_execution(record.id, outputs, result=result)
        except BaseException as exc:
            run.running.pop(node.id, None)
            reason = (
                _error_text(exc)
                if isinstance(exc, Exception)
                else f"interrupted: {type(exc).__name__}"
            )
            run.executions[node.id] = store.fail_execution(
                record.id, reason, outputs=outputs
            )
            for artifact in outputs.values():
                fs.remove_tree(artifact.uri)
            log.error(
                "%s: FAILED after %.2fs (execution %d): %s",
                node.id,
                time.monotonic() - started,
                record.id,
                exc if isinstance(exc, Exception) else type(exc).__name__,
            )
            if isinstance(exc, MlpipeError) and not isinstance(exc, ExecutionError):
                error = ExecutionError(
                    f"Component {node.id!r} (execution {record.id}) failed: {exc}",
                    component_id=node.id,
                    execution_id=record.id,
                )
                raise error from exc
            raise
        run.running.pop(node.id, None)
        run.outputs[node.id] = outputs
        run.executions[node.id] = record
        log.info("%s: COMPLETE in %.2fs", node.id, time.monotonic() - started)

    @staticmethod
    def _run_error(run: _Run) -> PipelineRunError:
        lines = [f"Run {run.run_id} of pipeline {run.pipeline.name!r} failed:"]
        lines.extend(f"  - {error}" for error in run.failures.values())
        skipped = sorted(run.blocked - set(run.failures))
        if skipped:
            lines.append(f"  Skipped because of it: {', '.join(skipped)}.")
        lines.append(f"  Details: mlpipe show {run.run_id}")
        error = PipelineRunError(
            "\n".join(lines), run_id=run.run_id, failures=run.failures, skipped=skipped
        )
        first = next(iter(run.failures.values()))
        error.__cause__ = first.__cause__ or first
        return error


_FRAMEWORK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _error_text(exc: BaseException) -> str:
    """The user's own traceback: the cause of a wrapped error, from its first user frame."""
    if isinstance(exc, ExecutionError) and exc.__cause__ is not None:
        exc = exc.__cause__
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_FRAMEWORK_DIR):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))


def _resolve_unwired_inputs(
    run: _Run, node: Component, inputs: dict[str, Artifact | None]
) -> None:
    """Fills unwired inputs that declare a resolver (e.g. ``LATEST_BLESSED_MODEL``)
    from the store; they then join the cache key and the lineage like wired ones."""
    for name, spec in node.spec.inputs.items():
        if inputs[name] is not None or spec.resolver is None:
            continue
        if name in node.unresolved_inputs:
            continue
        found = spec.resolver.resolve(run.store, run.pipeline.name)
        if found is not None and any(
            a is not None and a.id == found.id for a in inputs.values()
        ):
            found = None  # never, say, a model as its own baseline
        inputs[name] = found
        if found is None:
            log.info(
                "%s: input %r: no %s yet", node.id, name, spec.resolver.description
            )
        else:
            log.info(
                "%s: input %r is %s: %s %d at %s",
                node.id,
                name,
                spec.resolver.description,
                found.TYPE_NAME,
                found.id,
                found.uri,
            )


def _take_over_resumable_outputs(
    node: Component, store: Any, fingerprint: str, outputs: dict[str, Artifact]
) -> None:
    """Moves the files of resumable outputs left by a killed execution of the same
    fingerprint into this execution's outputs (a Trainer resumes its checkpoints)."""
    for name, artifact in outputs.items():
        if not artifact.RESUMABLE:
            continue
        left = store.find_resumable_output(fingerprint, name)
        if left is None or not fs.exists(left.uri):
            continue
        fs.makedirs(artifact.uri.rstrip("/").rsplit("/", 1)[0])
        fs.rename(left.uri, artifact.uri)
        log.warning(
            "%s: resuming from %s %d left by a killed execution (moved %s to %s)",
            node.id,
            left.TYPE_NAME,
            left.id,
            left.uri,
            artifact.uri,
        )


def _ensure_progress_is_shown() -> None:
    # Python's last-resort handler prints only warnings; a run started from a script or
    # a notebook with no logging set up should still show each component's progress.
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S")
        )
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def _check_output_dirs_free(node: Component, outputs: dict[str, Artifact]) -> None:
    for name, artifact in outputs.items():
        if fs.exists(artifact.uri) and fs.listdir(artifact.uri):
            raise ArtifactStorageError(
                f"Component {node.id!r}: the folder for output {name!r}, {artifact.uri}, "
                f"already holds files that this metadata store does not know (was the "
                f"store replaced while the pipeline root was kept?). Use a new pipeline "
                f"root or delete that folder."
            )


def _check_result(node: Component, result: Any) -> None:
    if result is None:
        return
    if not isinstance(result, dict) or not all(isinstance(k, str) for k in result):
        raise TypeError(
            f"{type(node).name} returned {type(result).__name__}; a component returns None "
            f"or a dict with string keys of JSON values to record on the execution."
        )
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{type(node).name} returned a dict that is not JSON ({exc}); return only "
            f"numbers, strings, bools, lists, dicts and None."
        ) from None
