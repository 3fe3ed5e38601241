"""What every runner does around a run and around each component in it.

``run_pipeline`` opens the store, reclaims killed executions, records the run's start
and its end, and turns failures into ``PipelineRunError``; in between it calls the
runner's ``schedule``, which calls ``step`` once per component in dependency order.
``LocalRunner`` schedules in this process (in a loop or threads); ``BeamDagRunner``
schedules as the stages of a Beam pipeline. Both therefore record the same things.

``step`` is the error boundary: it skips a component whose upstream failed, reuses a
cached execution, or creates an execution, runs the component inside
``user_code_boundary`` and publishes its outputs. It never raises for a failed
component; it records the failure in the ``Run``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pipeline import cache, fs
from pipeline.artifacts import Artifact
from pipeline.component import Component, ExecutionContext
from pipeline.errors import (
    ArtifactStorageError,
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
class Run:
    """A run in progress, as the process that executes its components sees it.

    Attributes:
        pipeline: The pipeline being run.
        store: The open metadata store.
        run_id: The run's id in the store.
        enable_cache: Whether cached executions may be reused in this run.
        beam_pipeline_args: Beam options for every component, before its own.
        outputs: Each finished component's output artifacts by output name.
        executions: Each finished component's execution record.
        failures: The error of each failed component, in the order they failed.
        blocked: The ids of failed and skipped components.
        running: The execution id and outputs of each component running now.
    """

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


def run_pipeline(
    pipeline: Pipeline,
    schedule: Callable[[Run], None],
    *,
    store: str | MetadataStore | None,
    enable_cache: bool | None,
    beam_pipeline_args: list[str],
) -> RunResult:
    """Records a run of ``pipeline`` around ``schedule(run)``, which executes it.

    Args:
        pipeline: The pipeline.
        schedule: Calls ``step(run, component)`` for every component in dependency
            order, or otherwise leaves ``run`` as if it had.
        store: A store URL or ``MetadataStore`` over the pipeline's own.
        enable_cache: True or False over the pipeline's and components' choice.
        beam_pipeline_args: Beam options added after the pipeline's own.

    Returns:
        The ``RunResult``, when no component failed.

    Raises:
        PipelineRunError: After ``schedule`` returned, if a component failed.
        ArtifactStorageError, MetadataStoreError: The root or the store is unusable.
        BaseException: Whatever ``schedule`` raised; the run is then FAILED.
    """
    from pipeline.metadata import MetadataStore, RunState

    _ensure_progress_is_shown()
    fs.check_writable(pipeline.root)
    target = store if store is not None else pipeline.store
    opened = target if isinstance(target, MetadataStore) else MetadataStore(target)
    try:
        _clean_dead_executions(opened)
        started = time.monotonic()
        record = opened.start_run(pipeline.name, properties={"root": pipeline.root})
        run = Run(
            pipeline=pipeline,
            store=opened,
            run_id=record.run_id,
            enable_cache=(
                pipeline.enable_cache if enable_cache is None else enable_cache
            ),
            beam_pipeline_args=pipeline.beam_pipeline_args + beam_pipeline_args,
        )
        log.info(
            "Run %s of pipeline %r: %d components, root %s, store %s",
            run.run_id,
            pipeline.name,
            len(pipeline.components),
            pipeline.root,
            opened.url,
        )
        try:
            schedule(run)
        except BaseException:
            opened.finish_run(run.run_id, RunState.FAILED)
            raise
        state = RunState.FAILED if run.failures else RunState.COMPLETE
        opened.finish_run(run.run_id, state)
        duration = time.monotonic() - started
        log.info("Run %s %s in %.2fs", run.run_id, state.value, duration)
        if run.failures:
            raise _run_error(run)
        return RunResult(
            run_id=run.run_id,
            pipeline_name=pipeline.name,
            state=state.value,
            executions=run.executions,
            outputs=run.outputs,
            duration=duration,
        )
    finally:
        if opened is not target:
            opened.close()


def step(run: Run, node: Component) -> None:
    """Executes ``node``, or skips it when something upstream failed; records either.

    Upstream outputs are read from ``run.outputs``; this component's outcome goes into
    ``run.outputs``, ``run.executions``, ``run.failures`` and ``run.blocked``. Only an
    interruption (Ctrl-C, SIGTERM) or a store that fails while recording escapes.
    """
    failed_upstream = [other.id for other in node.upstream if other.id in run.blocked]
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
        _execute(run, node)
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


def _execute(run: Run, node: Component) -> None:
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
        name: spec.type(uri=fs.join(run.pipeline.root, node.id, name, str(record.id)))
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


def _run_error(run: Run) -> PipelineRunError:
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
    run: Run, node: Component, inputs: dict[str, Artifact | None]
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
        # Beam's Pipeline() calls logging.basicConfig(): from the first Beam
        # component on, the root logger would print every line a second time.
        log.propagate = False


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
