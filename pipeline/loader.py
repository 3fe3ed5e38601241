"""Loading a pipeline from a Python file, as ``mlpipe run FILE`` does.

The file is imported under its own module name, so its ``if __name__ == "__main__":``
block does not run. Its folder joins ``sys.path`` so it can import its neighbours. The
pipeline is what ``create_pipeline()`` returns, or else the file's one module-level
``Pipeline``.

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.py"
    >>> _ = path.write_text(
    ...     "from pipeline import Pipeline\\n"
    ...     "def create_pipeline():\\n"
    ...     "    return Pipeline('tiny', [], root='/tmp/tiny')\\n"
    ... )
    >>> load_pipeline(str(path)).name
    'tiny'
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
from types import ModuleType

from pipeline.dag import Pipeline
from pipeline.errors import DefinitionError, MlpipeError, did_you_mean


def load_pipeline(
    path: str, name: str | None = None, root: str | None = None
) -> Pipeline:
    """Loads the pipeline defined by a Python file.

    Args:
        path: The pipeline file.
        name: Which pipeline to take when the file defines several (by pipeline name).
        root: A pipeline root to use instead of the file's own. A
            ``create_pipeline`` that takes a ``root`` argument gets it, so that
            whatever it derives from the root (a store, a serving folder) follows.

    Returns:
        The ``Pipeline``.

    Raises:
        DefinitionError: The file is missing, fails to import, or defines no pipeline
            (or several, with no ``name`` to choose).
    """
    module = _import_file(path)
    factory = getattr(module, "create_pipeline", None)
    if callable(factory):
        required = [
            p.name
            for p in inspect.signature(factory).parameters.values()
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        if required:
            raise DefinitionError(
                f"{path}: create_pipeline() must be callable without arguments to be run by "
                f"mlpipe, but it requires {required}. Give them defaults."
            )
        accepts_root = "root" in inspect.signature(factory).parameters
        try:
            found = (
                factory(root=root) if root is not None and accepts_root else factory()
            )
        except MlpipeError:
            raise
        except Exception as exc:
            raise DefinitionError(
                f"{path}: create_pipeline() raised {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(found, Pipeline):
            raise DefinitionError(
                f"{path}: create_pipeline() returned {type(found).__name__}, not a Pipeline."
            )
        candidates = [found]
    else:
        candidates = [v for v in vars(module).values() if isinstance(v, Pipeline)]
    if name is not None:
        chosen = [p for p in candidates if p.name == name]
        if not chosen:
            names = [p.name for p in candidates]
            raise DefinitionError(
                f"{path} defines no pipeline named {name!r}.{did_you_mean(name, names)} "
                f"It defines: {', '.join(names) or 'none'}."
            )
        if root is not None:
            chosen[0].root = root
        return chosen[0]
    if not candidates:
        raise DefinitionError(
            f"{path} defines no pipeline. Define create_pipeline() returning a Pipeline, or "
            f"a module-level Pipeline object."
        )
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise DefinitionError(
            f"{path} defines several pipelines ({names}); choose one with --pipeline NAME."
        )
    found = candidates[0]
    if root is not None:
        found.root = root
    return found


def _import_file(path: str) -> ModuleType:
    if not os.path.isfile(path):
        hint = ""
        if os.path.isdir(path):
            hint = " It is a folder; pass the pipeline's .py file."
        raise DefinitionError(f"Pipeline file {path!r} does not exist.{hint}")
    absolute = os.path.abspath(path)
    folder = os.path.dirname(absolute)
    module_name = "_mlpipe_pipeline_" + os.path.splitext(os.path.basename(absolute))[0]
    spec = importlib.util.spec_from_file_location(module_name, absolute)
    if spec is None or spec.loader is None:
        raise DefinitionError(f"Pipeline file {path!r} is not a Python file.")
    module = importlib.util.module_from_spec(spec)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except MlpipeError:
        sys.modules.pop(module_name, None)
        raise
    except BaseException as exc:
        sys.modules.pop(module_name, None)
        if not isinstance(exc, Exception):
            raise
        raise DefinitionError(
            f"Importing pipeline file {path!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    return module
