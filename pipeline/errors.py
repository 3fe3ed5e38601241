"""The errors mlpipe raises at its users, and the boundary around user code.

Every error the framework raises is an ``MlpipeError``; the tree is::

    MlpipeError
    ├── DefinitionError        a bad component, wiring or pipeline; raised before anything runs
    ├── ExecutionError         user code failed while a component ran (wraps the original)
    │   └── PipelineRunError   a run ended with failed components (names each of them)
    ├── MetadataStoreError     the metadata store cannot be opened, read or written
    ├── ArtifactStorageError   the artifact storage (pipeline root) cannot be used
    └── InputDataError         input data cannot be read as examples (names file and line)

Example:
    >>> from pipeline.errors import DefinitionError, MlpipeError
    >>> issubclass(DefinitionError, MlpipeError)
    True
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterable, Iterator


class MlpipeError(Exception):
    """The base of every error mlpipe raises on purpose."""


class DefinitionError(MlpipeError):
    """A component, its wiring or a pipeline is invalid; nothing has run yet."""


class ExecutionError(MlpipeError):
    """User code raised while a component executed.

    The user's exception is the ``__cause__``; its traceback is kept.

    Attributes:
        component_id: The id of the component instance that failed.
        execution_id: The id of its execution in the metadata store, when it had one.
    """

    def __init__(
        self, message: str, *, component_id: str = "", execution_id: int | None = None
    ):
        super().__init__(message)
        self.component_id = component_id
        self.execution_id = execution_id


class PipelineRunError(ExecutionError):
    """A pipeline run ended with one or more failed components.

    Attributes:
        run_id: The run that failed.
        failures: Maps each failed component id to the ``ExecutionError`` it raised.
        skipped: The ids of components that did not run because something upstream failed.
    """

    def __init__(
        self,
        message: str,
        *,
        run_id: str,
        failures: dict[str, ExecutionError],
        skipped: list[str],
    ):
        first = next(iter(failures.values()), None)
        super().__init__(
            message,
            component_id=first.component_id if first else "",
            execution_id=first.execution_id if first else None,
        )
        self.run_id = run_id
        self.failures = failures
        self.skipped = skipped


class MetadataStoreError(MlpipeError):
    """The metadata store cannot be opened, read or written."""


class ArtifactStorageError(MlpipeError):
    """Artifacts cannot be written or read under the pipeline root."""


class InputDataError(MlpipeError):
    """The input cannot be turned into examples: too many bad rows, no rows at all,
    or a corrupt file. The message names the file, the line and the reason."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Returns a ' Did you mean ...?' hint for a misspelt name, or ''.

    Example:
        >>> did_you_mean("exampels", ["examples", "schema"])
        " Did you mean 'examples'?"
    """
    matches = difflib.get_close_matches(name, list(choices), n=1)
    return f" Did you mean {matches[0]!r}?" if matches else ""


@contextlib.contextmanager
def user_code_boundary(
    component_id: str, execution_id: int | None = None
) -> Iterator[None]:
    """Turns any exception raised by user code inside the block into an ``ExecutionError``.

    ``MlpipeError``s pass through unchanged when they already name a component, so
    errors are never wrapped twice.

    Args:
        component_id: The component instance whose code runs in the block.
        execution_id: Its execution id in the metadata store, if any.

    Raises:
        ExecutionError: With the user's exception as ``__cause__``.

    Example:
        >>> try:
        ...     with user_code_boundary("trainer", 7):
        ...         raise KeyError("label")
        ... except ExecutionError as err:
        ...     print(err, "|", type(err.__cause__).__name__)
        Component 'trainer' (execution 7) failed: KeyError: 'label' | KeyError
    """
    try:
        yield
    except ExecutionError:
        raise
    except Exception as exc:  # noqa: BLE001 - the boundary exists to catch everything
        where = f"Component {component_id!r}"
        if execution_id is not None:
            where += f" (execution {execution_id})"
        raise ExecutionError(
            f"{where} failed: {type(exc).__name__}: {exc}",
            component_id=component_id,
            execution_id=execution_id,
        ) from exc
