"""The metadata store: what ran, what it read and wrote, and where it came from.

Example:
    >>> from pipeline.metadata import MetadataStore
    >>> with MetadataStore.in_memory() as store:
    ...     store.start_run("taxi", run_id="r1").state.value
    'RUNNING'
"""

from pipeline.metadata.lineage import Lineage
from pipeline.metadata.store import (
    ExecutionRecord,
    ExecutionState,
    MetadataStore,
    RunRecord,
    RunState,
    default_store_url,
)

__all__ = [
    "ExecutionRecord",
    "ExecutionState",
    "Lineage",
    "MetadataStore",
    "RunRecord",
    "RunState",
    "default_store_url",
]
