"""Lineage: the executions and artifacts upstream or downstream of one artifact.

``MetadataStore.upstream`` answers "which data and code produced this model";
``MetadataStore.downstream`` answers "what was built from these examples". Both return
a ``Lineage``, a plain graph that prints as a tree (``render``) or JSON (``to_dict``).

Example:
    >>> from pipeline.artifacts import Examples
    >>> root = Examples(uri="/r/gen/examples/1", id=1, state="LIVE")
    >>> print(Lineage(root=root, artifacts={1: root}, executions={}, edges=[]).render())
    Examples #1 /r/gen/examples/1
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from pipeline.artifacts import Artifact, ArtifactState

if TYPE_CHECKING:
    from pipeline.metadata.store import ExecutionRecord

Edge = tuple[str, int, str, int, str]
"""``("artifact", id, "execution", id, path)`` for an input,
``("execution", id, "artifact", id, path)`` for an output; data flows left to right."""


@dataclasses.dataclass
class Lineage:
    """The executions and artifacts reachable from ``root`` in one direction.

    Cached executions are left out: they reused artifacts and produced nothing, and
    the execution they were cached from is already in the graph.

    Attributes:
        root: The artifact the walk started from.
        artifacts: Every artifact reached, the root included, by id.
        executions: Every execution reached, by id.
        edges: The events between them, in data-flow direction (see ``Edge``).
        direction: ``"upstream"`` (producers and their inputs) or ``"downstream"``
            (consumers and their outputs).

    Example:
        >>> from pipeline.artifacts import Examples
        >>> root = Examples(uri="/r/gen/examples/1", id=1, state="LIVE")
        >>> graph = Lineage(root=root, artifacts={1: root}, executions={}, edges=[])
        >>> graph.to_dict()["root"]
        1
    """

    root: Artifact
    artifacts: dict[int, Artifact]
    executions: dict[int, ExecutionRecord]
    edges: list[Edge]
    direction: str = "upstream"

    def to_dict(self) -> dict[str, Any]:
        """Returns the graph as JSON-ready values, artifacts and executions by id."""
        return {
            "root": self.root.id,
            "direction": self.direction,
            "artifacts": [self.artifacts[i].to_dict() for i in sorted(self.artifacts)],
            "executions": [
                self.executions[i].to_dict() for i in sorted(self.executions)
            ],
            "edges": [
                {
                    "from": {"kind": src_kind, "id": src_id},
                    "to": {"kind": dst_kind, "id": dst_id},
                    "path": path,
                }
                for src_kind, src_id, dst_kind, dst_id, path in self.edges
            ],
        }

    def render(self) -> str:
        """Returns the graph as an indented text tree, root first.

        Upstream, each artifact shows the execution that wrote it (``←``) and that
        execution its inputs; downstream, each artifact shows the executions that
        read it (``→``) and their outputs. A node met a second time is marked
        ``(shown above)`` and not expanded again.
        """
        children = self._children()
        lines = [_artifact_label(self.root)]
        shown: set[tuple[str, int]] = {("artifact", self.root.id)}

        def walk(kind: str, node_id: int, prefix: str) -> None:
            below = children.get((kind, node_id), [])
            for number, (child_kind, child_id, path) in enumerate(below):
                last = number == len(below) - 1
                if child_kind == "execution":
                    label = self._execution_label(child_id, path)
                else:
                    label = f"{path}: {_artifact_label(self.artifacts[child_id])}"
                seen = (child_kind, child_id) in shown
                lines.append(
                    f"{prefix}{'└── ' if last else '├── '}{label}"
                    + ("  (shown above)" if seen else "")
                )
                if not seen:
                    shown.add((child_kind, child_id))
                    walk(child_kind, child_id, prefix + ("    " if last else "│   "))

        walk("artifact", self.root.id, "")
        return "\n".join(lines)

    def _children(self) -> dict[tuple[str, int], list[tuple[str, int, str]]]:
        children: dict[tuple[str, int], list[tuple[str, int, str]]] = {}
        for src_kind, src_id, dst_kind, dst_id, path in self.edges:
            if self.direction == "upstream":
                parent, child = (dst_kind, dst_id), (src_kind, src_id)
            else:
                parent, child = (src_kind, src_id), (dst_kind, dst_id)
            children.setdefault(parent, []).append((*child, path))
        return children

    def _execution_label(self, execution_id: int, path: str) -> str:
        record = self.executions[execution_id]
        details = [f"execution {record.id}", record.component_type]
        if record.code_version:
            details.append(f"code {record.code_version[:12]}")
        if record.state.value != "COMPLETE":
            details.append(record.state.value)
        label = f"{record.component_id} ({', '.join(details)})"
        if self.direction == "upstream":
            return f"← {label}"
        return f"→ {label} as {path}"


def _artifact_label(artifact: Artifact) -> str:
    label = f"{artifact.TYPE_NAME} #{artifact.id} {artifact.uri}"
    if artifact.state is not ArtifactState.LIVE:
        label += f" [{artifact.state.value}]"
    return label
