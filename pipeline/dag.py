"""Pipeline: a checked DAG of component instances.

Everything that can be checked without running is checked when the pipeline is built:
unique ids, producers that are part of the pipeline, no cycles, valid names. Order comes
from the standard library's ``graphlib``.

Example:
    >>> from pipeline import Pipeline, Output, Input, Examples, component
    >>> @component
    ... def make(rows: Output[Examples]): ...
    >>> @component
    ... def use(rows: Input[Examples]): ...
    >>> first = make()
    >>> p = Pipeline("demo", [use(rows=first.outputs["rows"]), first], root="/tmp/demo")
    >>> [c.id for c in p.order()]
    ['make', 'use']
"""

from __future__ import annotations

import graphlib
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pipeline.component import Component
from pipeline.errors import DefinitionError
from pipeline.fs import is_remote, mlpipe_home

if TYPE_CHECKING:
    from pipeline.metadata import MetadataStore
    from pipeline.runners.local import RunResult

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _absolute(root: str) -> str:
    # Stored URIs must not depend on the folder a run happened to start in.
    return root if is_remote(root) else os.path.abspath(root)


class Pipeline:
    """A named DAG of component instances, with where its artifacts and metadata live.

    Args:
        name: The pipeline's name: letters, digits, '_', '.', '-'.
        components: The component instances; any order.
        root: The folder (or gs:// URL) under which artifacts are written (a relative
            folder is made absolute), as
            ``<root>/<component id>/<output>/<execution id>/``. Default:
            ``$MLPIPE_HOME/pipelines/<name>``.
        store: A metadata store URL or ``MetadataStore``. Default: ``$MLPIPE_STORE``, else
            the SQLite file ``$MLPIPE_HOME/metadata.sqlite``.
        enable_cache: Reuse the outputs of identical earlier executions.
        beam_pipeline_args: Options for every component's Beam pipelines.

    Raises:
        DefinitionError: Two instances share an id, an input comes from an instance that is
            not in the pipeline, the graph has a cycle, or a name is invalid.
    """

    def __init__(
        self,
        name: str,
        components: Sequence[Component],
        *,
        root: str | os.PathLike | None = None,
        store: str | MetadataStore | None = None,
        enable_cache: bool = True,
        beam_pipeline_args: Sequence[str] | None = None,
    ):
        if not isinstance(name, str) or not _NAME_PATTERN.match(name):
            raise DefinitionError(
                f"Pipeline name {name!r} is not valid: use letters, digits, '_', '.' and '-', "
                f"starting with a letter or digit (it becomes part of paths)."
            )
        self.name = name
        self.components = list(components)
        self.root = _absolute(
            os.fspath(root) if root else os.path.join(mlpipe_home(), "pipelines", name)
        )
        self.store = store
        self.enable_cache = enable_cache
        self.beam_pipeline_args = list(beam_pipeline_args or [])
        self._order = self._validate()

    def _validate(self) -> list[Component]:
        where = f"Pipeline {self.name!r}"
        by_id: dict[str, Component] = {}
        for position, node in enumerate(self.components):
            if not isinstance(node, Component):
                hint = ""
                if isinstance(node, type) and issubclass(node, Component):
                    hint = f" Call it to make an instance: {node.name}(...)."
                raise DefinitionError(
                    f"{where}: item {position} of components is {node!r}, not a component "
                    f"instance.{hint}"
                )
            if node.id in by_id:
                if by_id[node.id] is node:
                    raise DefinitionError(f"{where}: {node!r} is listed twice.")
                raise DefinitionError(
                    f"{where}: two components have the id {node.id!r}. Give one a unique id "
                    f"with .with_id('...'), e.g. {type(node).name}(...).with_id("
                    f"'{node.id}_2')."
                )
            by_id[node.id] = node
        graph: dict[str, list[str]] = {}
        for node in self.components:
            for name, channel in node.inputs.items():
                producer = channel.producer
                if by_id.get(producer.id) is not producer:
                    raise DefinitionError(
                        f"{where}: component {node.id!r} reads input {name!r} from "
                        f"{channel!r}, but {producer.id!r} is not in the pipeline. Add it "
                        f"to the components list."
                    )
            for other in node.upstream:
                if by_id.get(other.id) is not other:
                    raise DefinitionError(
                        f"{where}: component {node.id!r} must run after {other.id!r}, "
                        f"which is not in the pipeline. Add it to the components list."
                    )
            graph[node.id] = [other.id for other in node.upstream]
        try:
            ordered = list(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError as exc:
            cycle = exc.args[1]
            raise DefinitionError(
                f"{where} has a cycle: {' -> '.join(reversed(cycle))}. Remove one of the "
                f"dependencies (an input or an .after())."
            ) from None
        return [by_id[node_id] for node_id in ordered]

    def order(self) -> list[Component]:
        """The component instances in an order where producers come before consumers."""
        return list(self._order)

    def graph(self) -> dict[str, list[str]]:
        """Maps each component id to the ids it depends on."""
        return {
            node.id: [other.id for other in node.upstream] for node in self.components
        }

    def component(self, component_id: str) -> Component:
        """The instance with ``component_id``.

        Raises:
            DefinitionError: No instance has that id.
        """
        from pipeline.errors import did_you_mean

        for node in self.components:
            if node.id == component_id:
                return node
        ids = [node.id for node in self.components]
        raise DefinitionError(
            f"Pipeline {self.name!r} has no component {component_id!r}."
            f"{did_you_mean(component_id, ids)} Its components: {', '.join(ids)}."
        )

    def run(self, runner: Any = "local", **options: Any) -> RunResult:
        """Runs the pipeline: in this process, or as one Beam pipeline.

        Args:
            runner: ``"local"`` for ``LocalRunner`` (components run in this process),
                ``"beam"`` for ``BeamDagRunner`` (the whole DAG as one Beam pipeline;
                see ``pipeline.runners.beam``), or a runner instance, i.e. anything
                with a ``run(pipeline)`` method.
            **options: Passed to the runner named: ``store``, ``enable_cache``,
                ``beam_pipeline_args``, and ``parallelism`` (local) or
                ``beam_orchestrator_args`` (beam).

        Returns:
            The run's ``RunResult``.

        Raises:
            PipelineRunError: A component failed (its original exception is chained).
            DefinitionError: An unknown runner name, or options beside a runner
                instance.
        """
        from pipeline.errors import did_you_mean

        if not isinstance(runner, str):
            if options:
                raise DefinitionError(
                    f"Pipeline {self.name!r}: run() got a runner instance and the "
                    f"options {sorted(options)}; pass the options to the runner's "
                    f"constructor instead."
                )
            return runner.run(self)
        if runner == "local":
            from pipeline.runners.local import LocalRunner

            return LocalRunner(**options).run(self)
        if runner == "beam":
            from pipeline.runners.beam import BeamDagRunner

            return BeamDagRunner(**options).run(self)
        raise DefinitionError(
            f"Pipeline {self.name!r}: unknown runner {runner!r}."
            f"{did_you_mean(runner, ['local', 'beam'])} Use 'local', 'beam' or a "
            f"runner instance."
        )

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, {[node.id for node in self._order]})"
