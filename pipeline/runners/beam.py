"""BeamDagRunner: the whole pipeline as one Beam pipeline, run by a Beam runner.

As in TFX's BeamDagRunner, the orchestrating Beam pipeline has a root
``beam.Create([None])`` and one stage per component, added in dependency order; each
stage takes the output of its upstream stages as side inputs, so Beam starts it only
after they finished. A stage opens the metadata store from its URL (a connection
cannot travel to a worker), reads what its upstream components recorded in this run,
and calls the same ``step`` as ``LocalRunner``: the store ends up with the same runs,
executions, artifacts, events, cache hits, failures and skips. A component's own Beam
work still builds its own Beam pipelines inside the stage, with the components' Beam
options; the orchestrating job has options of its own.

Example:
    >>> import tempfile
    >>> from pipeline import Pipeline, Output, Artifact, component
    >>> @component
    ... def write_greeting(greeting: Output[Artifact], text: str = "hi"):
    ...     open(greeting.uri + "/greeting.txt", "w").write(text)
    >>> folder = tempfile.mkdtemp()
    >>> greet = Pipeline("greet", [write_greeting()], root=folder, store=folder + "/m")
    >>> BeamDagRunner().run(greet).executions["write_greeting"].state.value
    'COMPLETE'
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
from typing import TYPE_CHECKING, Any

from pipeline.errors import DefinitionError, ExecutionError
from pipeline.runners._execution import Run, RunResult, run_pipeline, step

if TYPE_CHECKING:
    from pipeline.dag import Pipeline
    from pipeline.metadata import ExecutionRecord, MetadataStore

DEFAULT_RUNNER = "FnApiRunner"
"""The orchestrating job's Beam runner unless its options name one: Beam's local
FnApiRunner, in this process (``DirectRunner`` first tries to download Prism)."""

# run id -> component id -> the ExecutionError a stage raised in this process. A stage
# that runs in the driver's process (the default, in-memory FnApiRunner) hands its
# error over as it is, with the user's exception and traceback; one that ran elsewhere
# is rebuilt from the store's record.
_FAILURES_HERE: dict[str, dict[str, ExecutionError]] = {}


class BeamDagRunner:
    """Runs a pipeline as one Beam pipeline whose stages are its components.

    Args:
        store: A metadata store URL or ``MetadataStore``, over the pipeline's own. The
            stages open it again by URL, so it cannot be an in-memory store; with a
            runner that runs stages on other machines it must be a database they
            reach (PostgreSQL).
        enable_cache: True or False to force caching on or off for this run; None
            follows the pipeline and its components.
        beam_pipeline_args: Beam options for the components' own Beam pipelines,
            added after the pipeline's own (as for ``LocalRunner``).
        beam_orchestrator_args: Beam options for the orchestrating pipeline, e.g.
            ``["--runner=DataflowRunner", "--project=p", ...]``; default: Beam's
            FnApiRunner in this process.

    Example:
        >>> runner = BeamDagRunner(beam_orchestrator_args=["--runner=DataflowRunner"])
        >>> runner.beam_orchestrator_args
        ['--runner=DataflowRunner']
    """

    def __init__(
        self,
        *,
        store: str | MetadataStore | None = None,
        enable_cache: bool | None = None,
        beam_pipeline_args: list[str] | None = None,
        beam_orchestrator_args: list[str] | None = None,
    ):
        self.store = store
        self.enable_cache = enable_cache
        self.beam_pipeline_args = list(beam_pipeline_args or [])
        self.beam_orchestrator_args = list(beam_orchestrator_args or [])

    def run(self, pipeline: Pipeline) -> RunResult:
        """Runs every component of ``pipeline`` as a stage of one Beam pipeline.

        Returns:
            The ``RunResult`` of a complete run.

        Raises:
            PipelineRunError: One or more components failed; the others that could run
                did.
            DefinitionError: The store is in memory, which the stages cannot open.
            ArtifactStorageError: The pipeline root cannot be written.
            MetadataStoreError: The store cannot be opened.
        """
        store_url = _store_url(self.store if self.store is not None else pipeline.store)
        return run_pipeline(
            pipeline,
            functools.partial(self._run_stages, store_url=store_url),
            store=self.store,
            enable_cache=self.enable_cache,
            beam_pipeline_args=self.beam_pipeline_args,
        )

    def _run_stages(self, run: Run, *, store_url: str) -> None:
        import apache_beam as beam
        from apache_beam.options.pipeline_options import PipelineOptions

        from pipeline.metadata import ExecutionState

        args = list(self.beam_orchestrator_args)
        if not any(a == "--runner" or a.startswith("--runner=") for a in args):
            args.insert(0, f"--runner={DEFAULT_RUNNER}")
        # The stages get the pipeline without its store, which may be an open one.
        portable = copy.copy(run.pipeline)
        portable.store = None
        plan = _Plan(
            pipeline=portable,
            store_url=store_url,
            run_id=run.run_id,
            enable_cache=run.enable_cache,
            beam_pipeline_args=run.beam_pipeline_args,
        )
        _FAILURES_HERE[run.run_id] = {}
        try:
            dag = beam.Pipeline(options=PipelineOptions(args))
            start = dag | "Start" >> beam.Create([None])
            done: dict[str, Any] = {}
            for node in run.pipeline.order():
                upstream = [
                    beam.pvalue.AsIter(done[other.id]) for other in node.upstream
                ]
                done[node.id] = start | f"Run[{node.id}]" >> beam.Map(
                    _Stage(plan, node.id), *upstream
                )
            try:
                dag.run().wait_until_finish()
            except RuntimeError as exc:
                interruption = _interruption(exc)
                if interruption is None:
                    raise
                raise interruption from None
            _load_outcomes(run)
            handed_over = _FAILURES_HERE[run.run_id]
            for component_id, record in run.executions.items():
                if record.state is ExecutionState.FAILED:
                    run.failures[component_id] = handed_over.get(
                        component_id
                    ) or _failure_from_record(record)
        finally:
            _FAILURES_HERE.pop(run.run_id, None)


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What every stage needs, pickled into the orchestrating Beam pipeline."""

    pipeline: Pipeline
    store_url: str
    run_id: str
    enable_cache: bool
    beam_pipeline_args: list[str]


class _Stage:
    """One component as the function of a Beam stage; returns the component id."""

    def __init__(self, plan: _Plan, component_id: str):
        self.plan = plan
        self.component_id = component_id

    def __call__(self, _start, *upstream_done):  # no hints: Beam would check them
        from pipeline.metadata import MetadataStore

        plan = self.plan
        node = plan.pipeline.component(self.component_id)
        # A stage handles one element: open the store for it and close it after, as
        # Beam does not promise to call a DoFn's teardown.
        with MetadataStore(plan.store_url) as store:
            run = Run(
                pipeline=plan.pipeline,
                store=store,
                run_id=plan.run_id,
                enable_cache=plan.enable_cache,
                beam_pipeline_args=plan.beam_pipeline_args,
            )
            _load_outcomes(run, {other.id for other in node.upstream})
            step(run, node)
        handed_over = _FAILURES_HERE.get(plan.run_id)
        if handed_over is not None and node.id in run.failures:
            handed_over[node.id] = run.failures[node.id]
        return node.id


def _load_outcomes(run: Run, component_ids: set[str] | None = None) -> None:
    """Fills ``run`` with what the store recorded for its components (all, or some)."""
    from pipeline.metadata import ExecutionState

    for record in run.store.executions_of_run(run.run_id):
        component_id = record.component_id
        if component_ids is not None and component_id not in component_ids:
            continue
        run.executions[component_id] = record
        if record.state in (ExecutionState.COMPLETE, ExecutionState.CACHED):
            run.outputs[component_id] = run.store.outputs_of(record.id)
            run.blocked.discard(component_id)
        else:
            run.outputs.pop(component_id, None)
            run.blocked.add(component_id)


def _interruption(exc: BaseException) -> BaseException | None:
    """The Ctrl-C or SIGTERM that Beam re-raised as a RuntimeError, if it was one."""
    while exc is not None:
        if not isinstance(exc, Exception):
            return exc
        exc = exc.__context__
    return None


def _failure_from_record(record: ExecutionRecord) -> ExecutionError:
    """The error of a component that failed in another process, from its record."""
    where = f"Component {record.component_id!r}"
    text = (record.error or "").strip() or "no error was recorded"
    if not text.startswith(where):
        # A FAILED execution's error is the user's traceback; its last line says what.
        text = f"{where} (execution {record.id}) failed: {text.splitlines()[-1]}"
    return ExecutionError(
        text, component_id=record.component_id, execution_id=record.id
    )


def _store_url(target: str | os.PathLike | MetadataStore | None) -> str:
    """The URL by which every stage opens the store; refuses an in-memory store."""
    import sqlalchemy as sa

    from pipeline.metadata import MetadataStore, default_store_url

    if isinstance(target, MetadataStore):
        # ``store.url`` masks the password, which the stages need.
        url = target.connection_url()
    else:
        url = default_store_url() if target is None else os.fspath(target)
        if "://" not in url:
            url = os.path.abspath(os.path.expanduser(url))
    try:
        parsed = sa.make_url(url) if "://" in url else None
    except (sa.exc.ArgumentError, ValueError):
        return url  # opening the store names what is wrong with it
    if (
        parsed is not None
        and parsed.get_backend_name() == "sqlite"
        and parsed.database in (None, "", ":memory:")
    ):
        raise DefinitionError(
            "BeamDagRunner: the metadata store is in memory, which the Beam stages "
            "cannot open again. Use a SQLite file (store='path/metadata.sqlite') or "
            "a database URL."
        )
    return url
