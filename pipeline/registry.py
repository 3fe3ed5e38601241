"""One registry that maps names to artifact types and components.

Three doors lead into it, and none runs at import time:

1. In process: defining an ``Artifact`` subclass or a component (``@component`` or a
   ``Component`` subclass) registers it under its name.
2. Built-ins: a ``(name, "module:attr")`` table resolved on first lookup.
3. Third parties: the entry-point group ``mlpipe.components``; each entry point names a
   component or artifact type (``name = "package.module:Attr"``). A package that fails to
   load is logged and skipped, never fatal.

Example:
    >>> from pipeline import registry
    >>> registry.artifact_type("Examples").TYPE_NAME
    'Examples'
"""

from __future__ import annotations

import importlib
import logging
import threading
from importlib import metadata
from typing import Any

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "mlpipe.components"

_BUILTIN_ARTIFACT_TYPES = {
    name: f"pipeline.artifacts:{name}"
    for name in (
        "Artifact",
        "Examples",
        "Schema",
        "ExampleStatistics",
        "ExampleAnomalies",
        "TransformGraph",
        "Model",
        "ModelRun",
        "ModelEvaluation",
        "ModelBlessing",
        "PushedModel",
    )
}

# The standard components join this table as later work adds them.
_BUILTIN_COMPONENTS: dict[str, str] = {
    "CsvExampleGen": "components.example_gen:CsvExampleGen",
    "ImportExampleGen": "components.example_gen:ImportExampleGen",
    "ParquetExampleGen": "components.example_gen:ParquetExampleGen",
    "TfdsExampleGen": "components.example_gen:TfdsExampleGen",
    "StatisticsGen": "components.statistics_gen:StatisticsGen",
    "SchemaGen": "components.schema_gen:SchemaGen",
    "ExampleValidator": "components.example_validator:ExampleValidator",
    "Transform": "components.transform:Transform",
}

_artifact_types: dict[str, type] = {}
_components: dict[str, Any] = {}
_component_origins: dict[str, str] = {}
_entry_points_loaded = False
_lock = threading.RLock()


def register_artifact_type(cls: type) -> None:
    """Registers an artifact type under its ``TYPE_NAME`` (the last definition wins)."""
    with _lock:
        _artifact_types[cls.TYPE_NAME] = cls


def register_component(component: Any, origin: str = "in process") -> None:
    """Registers a component class under its ``name``.

    Args:
        component: A component class (what ``@component`` returns).
        origin: Where it came from, shown by ``mlpipe components``.
    """
    with _lock:
        _components[component.name] = component
        _component_origins[component.name] = origin


def _resolve(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    obj = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _load_entry_points() -> None:
    global _entry_points_loaded
    with _lock:
        if _entry_points_loaded:
            return
        _entry_points_loaded = True
        for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                obj = entry_point.load()
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop mlpipe
                log.warning(
                    "Skipping plugin %r (%s) from entry-point group %r: %s: %s",
                    entry_point.name,
                    entry_point.value,
                    ENTRY_POINT_GROUP,
                    type(exc).__name__,
                    exc,
                )
                continue
            origin = f"entry point {entry_point.value}"
            if hasattr(obj, "TYPE_NAME"):
                register_artifact_type(obj)
            elif hasattr(obj, "spec") and hasattr(obj, "name"):
                register_component(obj, origin)
            else:
                log.warning(
                    "Skipping plugin %r (%s): it is neither a component nor an artifact type.",
                    entry_point.name,
                    entry_point.value,
                )


def reload_entry_points() -> None:
    """Reads the ``mlpipe.components`` entry points again (after installing a plugin)."""
    global _entry_points_loaded
    with _lock:
        _entry_points_loaded = False
    _load_entry_points()


def artifact_type(name: str) -> type | None:
    """Returns the artifact type registered as ``name``, or None if none is."""
    with _lock:
        if name in _artifact_types:
            return _artifact_types[name]
    if name in _BUILTIN_ARTIFACT_TYPES:
        return _resolve(_BUILTIN_ARTIFACT_TYPES[name])
    _load_entry_points()
    return _artifact_types.get(name)


def component(name: str) -> Any:
    """Returns the component class registered as ``name``.

    Raises:
        DefinitionError: No component has that name.
    """
    from pipeline.errors import DefinitionError, did_you_mean

    found = _lookup_component(name)
    if found is None:
        known = list(components())
        raise DefinitionError(
            f"No component named {name!r} is registered.{did_you_mean(name, known)} "
            f"Known components: {', '.join(sorted(known)) or 'none'}. Third-party components "
            f"register through the {ENTRY_POINT_GROUP!r} entry-point group."
        )
    return found


def _lookup_component(name: str) -> Any:
    with _lock:
        if name in _components:
            return _components[name]
    if name in _BUILTIN_COMPONENTS:
        found = _resolve(_BUILTIN_COMPONENTS[name])
        register_component(found, "built-in")
        return found
    _load_entry_points()
    return _components.get(name)


def components() -> dict[str, str]:
    """Returns every known component name with where it came from.

    Built-ins are listed without being imported.
    """
    _load_entry_points()
    found = {name: "built-in" for name in _BUILTIN_COMPONENTS}
    with _lock:
        for name, origin in _component_origins.items():
            found.setdefault(name, origin)
    return dict(sorted(found.items()))
