"""Execution fingerprints: when two executions would compute the same thing.

The key is the component type, its code version (a hash of its source, plus the
content of every ``ModuleFile`` parameter), its parameters, the ids of its input
artifacts and, for ``InputPath`` parameters, the names, sizes and modification times of
the input files. Equal keys mean the earlier outputs can be reused.

Example:
    >>> from pipeline import Output, Examples, component
    >>> @component
    ... def make(rows: Output[Examples], count: int = 3): ...
    >>> fingerprint(make(count=3), {}) == fingerprint(make(count=3), {})
    True
    >>> fingerprint(make(count=3), {}) == fingerprint(make(count=4), {})
    False
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pipeline import fs
from pipeline.artifacts import Artifact
from pipeline.component import Component
from pipeline.errors import DefinitionError


def code_version(node: Component) -> str:
    """The component's source hash, extended by the content of its module files.

    Raises:
        DefinitionError: A ``ModuleFile`` parameter names a file that does not exist.
    """
    parts = [type(node).code_version()]
    for name, spec in sorted(type(node).spec.parameters.items()):
        path = node.parameters.get(name)
        if not spec.module_file or not path:
            continue
        try:
            content = fs.read_bytes(path)
        except OSError as exc:
            raise DefinitionError(
                f"Component {node.id!r}: module file {name}={path!r} cannot be read: {exc}. "
                f"Check the path (relative paths are taken from the current folder)."
            ) from exc
        parts.append(hashlib.sha256(content).hexdigest()[:16])
    if len(parts) == 1:
        return parts[0]
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:16]


def input_files_fingerprint(path: str) -> str:
    """A hash of the names, sizes and modification times of the files at ``path``.

    ``path`` is a file, a folder (searched recursively) or a glob pattern.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "a.csv").write_text("x\\n1\\n")
        >>> before = input_files_fingerprint(str(folder))
        >>> _ = (folder / "b.csv").write_text("x\\n2\\n")
        >>> before == input_files_fingerprint(str(folder))
        False
    """
    entries = [f"{name}:{size}:{mtime}" for name, size, mtime in fs.file_stats(path)]
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()[:16]


def fingerprint(
    node: Component, inputs: dict[str, Artifact | None], version: str | None = None
) -> str:
    """The cache key of executing ``node`` on ``inputs``.

    Args:
        node: The component instance.
        inputs: Its resolved input artifacts by name (None for an unwired optional input).
        version: Its ``code_version`` if already computed.
    """
    key: dict[str, Any] = {
        # The qualified name, not the module: the same file run as a script, through
        # `mlpipe run` or imported must share its cache.
        "component": type(node).__qualname__,
        "name": type(node).name,
        "code": version or code_version(node),
        "parameters": node.parameters,
        "inputs": {
            name: (a.id if a is not None else None) for name, a in inputs.items()
        },
        "input_files": {
            name: input_files_fingerprint(node.parameters[name])
            for name, spec in sorted(type(node).spec.parameters.items())
            if spec.input_path and node.parameters.get(name)
        },
    }
    text = json.dumps(key, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()
