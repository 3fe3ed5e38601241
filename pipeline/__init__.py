"""mlpipe's framework core: components, artifacts, pipelines, the store and the runners.

Everything a pipeline or a component needs is importable from here; nothing here
imports TensorFlow or Apache Beam at module level.

Example:
    >>> import tempfile
    >>> from pipeline import Pipeline, Input, Output, Parameter, Artifact, component
    >>> @component
    ... def write_number(number: Output[Artifact], value: Parameter[int] = 7):
    ...     open(number.uri + "/value.txt", "w").write(str(value))
    >>> @component
    ... def double_number(number: Input[Artifact], doubled: Output[Artifact]):
    ...     value = int(open(number.uri + "/value.txt").read())
    ...     open(doubled.uri + "/value.txt", "w").write(str(2 * value))
    >>> first = write_number()
    >>> second = double_number(number=first.outputs["number"])
    >>> root = tempfile.mkdtemp()
    >>> result = Pipeline("numbers", [first, second], root=root, store=root + "/m.sqlite").run()
    >>> open(result.artifact("double_number", "doubled").uri + "/value.txt").read()
    '14'
"""

from pipeline import fs
from pipeline.artifacts import (
    Artifact,
    ArtifactState,
    ExampleAnomalies,
    Examples,
    ExampleStatistics,
    Model,
    ModelBlessing,
    ModelEvaluation,
    ModelRun,
    PushedModel,
    Schema,
    TransformGraph,
)
from pipeline.channels import Channel
from pipeline.component import (
    LATEST_BLESSED_MODEL,
    Component,
    ExecutionContext,
    Input,
    InputPath,
    ModuleFile,
    Output,
    Parameter,
    Resolver,
    component,
    source_version,
)
from pipeline.dag import Pipeline
from pipeline.errors import (
    ArtifactStorageError,
    DefinitionError,
    ExecutionError,
    InputDataError,
    MetadataStoreError,
    MlpipeError,
    PipelineRunError,
    did_you_mean,
)
from pipeline.loader import load_pipeline
from pipeline.runners.beam import BeamDagRunner
from pipeline.runners.local import LocalRunner, RunResult

__version__ = "0.1.0"


def __getattr__(name: str):
    # The store pulls in SQLAlchemy; commands that never touch it (mlpipe --help) stay fast.
    if name == "MetadataStore":
        from pipeline.metadata import MetadataStore

        return MetadataStore
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")


__all__ = [
    "Artifact",
    "ArtifactState",
    "ArtifactStorageError",
    "BeamDagRunner",
    "Channel",
    "Component",
    "DefinitionError",
    "ExampleAnomalies",
    "ExampleStatistics",
    "Examples",
    "ExecutionContext",
    "ExecutionError",
    "Input",
    "InputDataError",
    "InputPath",
    "LATEST_BLESSED_MODEL",
    "LocalRunner",
    "MetadataStore",
    "MetadataStoreError",
    "MlpipeError",
    "Model",
    "ModelBlessing",
    "ModelEvaluation",
    "ModelRun",
    "ModuleFile",
    "Output",
    "Parameter",
    "Pipeline",
    "PipelineRunError",
    "PushedModel",
    "Resolver",
    "RunResult",
    "Schema",
    "TransformGraph",
    "component",
    "did_you_mean",
    "fs",
    "source_version",
    "load_pipeline",
]
