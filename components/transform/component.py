"""The Transform component: tensorflow-transform over Examples, on Beam."""

from __future__ import annotations

from typing import Any

from pipeline import (
    DefinitionError,
    Examples,
    ExecutionContext,
    Input,
    ModuleFile,
    Output,
    Parameter,
    Schema,
    TransformGraph,
    component,
    fs,
    source_version,
)

EXAMPLES_PATTERN = "data-*.tfrecord.gz"
_TEMP_DIR = ".temp"


@component(name="Transform", version=source_version("components.transform"))
def Transform(
    examples: Input[Examples],
    schema: Input[Schema],
    module_file: Parameter[ModuleFile],
    transform_graph: Output[TransformGraph],
    transformed_examples: Output[Examples],
    context: ExecutionContext,
    preprocessing_fn: str = "preprocessing_fn",
    analyze_splits: list[str] | None = None,
    transform_splits: list[str] | None = None,
    materialize: bool = True,
) -> dict[str, Any]:
    """Analyzes the train split with the user's ``preprocessing_fn``, transforms all.

    The analyzers of ``preprocessing_fn`` (``tft.mean``, ``tft.vocabulary``,
    ``tft.quantiles``, ...) see only ``analyze_splits``; the resulting transform is
    written to ``transform_graph`` and applied to every split of
    ``transform_splits``, which are written to ``transformed_examples`` in the same
    layout as ExampleGen's (``Split-<name>/data-*.tfrecord.gz``).

    Args:
        examples: Raw Examples, as ExampleGen writes them.
        schema: The raw examples' schema (SchemaGen's output): it decides how each
            feature reaches ``preprocessing_fn`` (a dense ``Tensor`` for a feature
            with a fixed ``shape``, a ``SparseTensor`` otherwise).
        module_file: A Python file defining ``preprocessing_fn(inputs)``, which
            takes and returns a dict of tensors. Its content is part of the cache key.
        transform_graph: Where tensorflow-transform's output goes:
            ``transform_fn/`` (the SavedModel), ``transformed_metadata/`` and the raw
            schema in ``metadata/schema.pbtxt``; ``tft.TFTransformOutput(uri)``
            reads it.
        transformed_examples: The transformed splits, ``Split-<name>/`` each.
        context: The run's context (its Beam pipeline options are used).
        preprocessing_fn: The name of the function in ``module_file``.
        analyze_splits: The splits the analyzers see; default ``["train"]``.
        transform_splits: The splits to transform; default every split.
        materialize: Write the transformed examples; with False only the transform
            graph is written and ``transformed_examples`` stays empty.

    Returns:
        ``{"analyzed_splits": [...], "transformed_examples": {split: count},
        "features": [...]}``, recorded on the execution.

    Raises:
        DefinitionError: The module file is missing, fails to import or lacks the
            function; ``preprocessing_fn`` reads a feature the schema does not have
            or applies an operation to a feature of the wrong type; a split name is
            unknown. Each message names the file, and the line and feature where
            there is one.
        FileNotFoundError: A split to read has no shards.

    Example:
        >>> from pipeline import Examples, Output, Schema, component
        >>> @component
        ... def make_examples(examples: Output[Examples], schema: Output[Schema]): ...
        >>> gen = make_examples()
        >>> transform = Transform(examples=gen.outputs["examples"],
        ...                       schema=gen.outputs["schema"],
        ...                       module_file="taxi_module.py", materialize=False)
        >>> transform.parameters["analyze_splits"], transform.parameters["materialize"]
        (None, False)
    """
    from components.stats import artifacts
    from components.transform import user_module
    from components.transform.legacy_keras import import_tensorflow_transform

    owner = f"Transform {context.component_id!r}"
    available = artifacts.artifact_splits(examples)
    if not available:
        raise FileNotFoundError(
            f"{owner}: the Examples artifact at {examples.uri} has no splits (no "
            f"split_names property and no Split-* folders). It must come from an "
            f"ExampleGen."
        )
    analyze = artifacts.choose_splits(
        owner,
        available,
        include=analyze_splits
        if analyze_splits is not None
        else _default_analyze_splits(owner, available),
        include_param="analyze_splits",
    )
    transform = (
        artifacts.choose_splits(
            owner, available, include=transform_splits, include_param="transform_splits"
        )
        if materialize
        else []
    )
    patterns = {}
    for split in dict.fromkeys([*analyze, *transform]):
        pattern = fs.join(examples.split_uri(split), EXAMPLES_PATTERN)
        if not fs.glob(pattern):
            raise FileNotFoundError(
                f"{owner}: split {split!r} has no example files: nothing matches "
                f"{pattern}. Examples hold gzip TFRecord shards named "
                f"data-*.tfrecord.gz in each Split-<name> folder."
            )
        patterns[split] = pattern
    raw_schema = artifacts.parse_schema(owner, schema.schema_path, param="schema")
    traced = user_module.load_preprocessing_fn(
        owner, module_file, preprocessing_fn, before_import=import_tensorflow_transform
    )
    context.log.info(
        "Analyzing splits %s and transforming %s of %s with %s from %s",
        analyze,
        transform,
        examples.uri,
        preprocessing_fn,
        module_file,
    )
    counts = _run(
        context,
        raw_schema,
        schema.schema_path,
        patterns,
        analyze,
        transform,
        traced,
        transform_graph,
        transformed_examples,
    )
    features = _transformed_features(transform_graph.uri)
    transformed_examples.split_names = list(transform)
    if counts is not None:
        transformed_examples.row_counts = counts
    context.log.info(
        "Transform graph in %s (%d output features); transformed examples: %s",
        transform_graph.uri,
        len(features),
        counts,
    )
    return {
        "analyzed_splits": list(analyze),
        "transformed_examples": counts if counts is not None else list(transform),
        "features": features,
    }


def _default_analyze_splits(owner: str, available: list[str]) -> list[str]:
    if "train" in available:
        return ["train"]
    raise DefinitionError(
        f"{owner}: the examples have no 'train' split to analyze (they have {available}); "
        f"name the splits the analyzers should see, e.g. "
        f"analyze_splits={available[:1]}."
    )


def _run(
    context: ExecutionContext,
    raw_schema: Any,
    schema_path: str,
    patterns: dict[str, str],
    analyze: list[str],
    transform: list[str],
    traced: Any,
    transform_graph: TransformGraph,
    transformed_examples: Examples,
) -> dict[str, int] | None:
    from components.beam_pipeline import job_label, make_beam_pipeline
    from components.transform import job, user_module

    temp_dir = fs.join(transform_graph.uri, _TEMP_DIR)
    spec = job.TransformJob(
        schema=raw_schema,
        patterns=patterns,
        analyze_splits=analyze,
        transform_splits=transform,
        preprocessing_fn=traced,
        transform_graph_dir=transform_graph.uri,
        output_dirs={s: transformed_examples.split_uri(s) for s in transform},
        temp_dir=temp_dir,
    )
    pipeline = make_beam_pipeline(
        context.beam_pipeline_args, job_label=job_label(context)
    )
    try:
        job.build(pipeline, spec)
    except Exception as exc:  # noqa: BLE001 - explained when it is the user's
        explained = user_module.explain_trace_error(
            exc, traced, raw_schema, schema_path
        )
        if explained is None:
            raise
        raise explained from exc
    result = pipeline.run()
    result.wait_until_finish()
    job.write_raw_schema(transform_graph.uri, raw_schema)
    fs.remove_tree(temp_dir)
    return job.example_counts(result, transform)


def _transformed_features(uri: str) -> list[str]:
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    path = fs.join(uri, "transformed_metadata", "schema.pbtxt")
    parsed = text_format.Parse(fs.read_text(path), schema_pb2.Schema())
    return sorted(f.name for f in parsed.feature)
