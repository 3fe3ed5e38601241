"""LocalRunner: runs a pipeline in this process and records everything in the store.

Three hops from ``run()`` to user code: the runner orders the components with
``graphlib``, calls ``component.execute(...)`` inside ``user_code_boundary`` and
records the outcome. A component's outputs become LIVE only after it returned and its
files are written; a failure abandons them and deletes their files, and every component
that depends on it is skipped while independent branches go on. What happens around
the run and each component is ``pipeline.runners._execution``, shared with
``BeamDagRunner``; this module only decides the order (a loop, or threads).

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
import graphlib
import logging
from typing import TYPE_CHECKING

from pipeline import fs
from pipeline.errors import DefinitionError
from pipeline.runners._execution import Run, RunResult, run_pipeline, step

if TYPE_CHECKING:
    from pipeline.dag import Pipeline
    from pipeline.metadata import MetadataStore

__all__ = ["LocalRunner", "RunResult"]

log = logging.getLogger("mlpipe")


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
        return run_pipeline(
            pipeline,
            self._run_all,
            store=self.store,
            enable_cache=self.enable_cache,
            beam_pipeline_args=self.beam_pipeline_args,
        )

    def _run_all(self, run: Run) -> None:
        sorter = graphlib.TopologicalSorter(run.pipeline.graph())
        sorter.prepare()
        nodes = {node.id: node for node in run.pipeline.components}
        if self.parallelism == 1:
            while sorter.is_active():
                for node_id in sorter.get_ready():
                    step(run, nodes[node_id])
                    sorter.done(node_id)
            return
        pool = concurrent.futures.ThreadPoolExecutor(self.parallelism)
        try:
            running: dict[concurrent.futures.Future, str] = {}
            while sorter.is_active():
                for node_id in sorter.get_ready():
                    running[pool.submit(step, run, nodes[node_id])] = node_id
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
