"""The Evaluator component: a model's metrics, overall and per slice, and its blessing."""

from __future__ import annotations

from typing import Any

from pipeline import (
    LATEST_BLESSED_MODEL,
    DefinitionError,
    Examples,
    ExecutionContext,
    Input,
    InputDataError,
    Model,
    ModelBlessing,
    ModelEvaluation,
    ModuleFile,
    Output,
    Parameter,
    component,
    fs,
    source_version,
)

EXAMPLES_PATTERN = "data-*.tfrecord.gz"
_TEMP_DIR = ".temp"
_HEADLINE = {
    "classification": ("accuracy", "auc", "log_loss"),
    "regression": ("rmse", "mae"),
}


@component(name="Evaluator", version=source_version("components.evaluator"))
def Evaluator(
    examples: Input[Examples],
    model: Input[Model],
    evaluation: Output[ModelEvaluation],
    blessing: Output[ModelBlessing],
    context: ExecutionContext,
    baseline_model: Input[Model] = LATEST_BLESSED_MODEL,
    split: str = "eval",
    slicing_specs: list | None = None,
    thresholds: dict | None = None,
    metrics_module: Parameter[ModuleFile | None] = None,
    batch_size: int = 1000,
) -> dict[str, Any]:
    """Computes a model's metrics on a split, overall and per slice, and blesses it.

    One Beam pass reads the split, calls the model's evaluation SavedModel (and the
    baseline's) on batches of raw serialized examples, and folds the outputs into
    metrics per slice. The model is blessed when every threshold passes. Metrics,
    thresholds and the user-metric protocol are described in docs/evaluator.md.

    Args:
        examples: Examples with ``Split-<split>/data-*.tfrecord.gz`` shards of raw
            tf.Examples.
        model: The model to evaluate; its ``<uri>/Format-Eval`` SavedModel has an
            ``evaluate`` signature (serialized examples in; ``label`` and
            ``probabilities`` or ``predictions``, optionally ``weight`` and
            ``class_ids`` out).
        evaluation: Where ``metrics.json`` and ``report.html`` go.
        blessing: Set ``blessed`` and ``reasons``; holds a ``BLESSED`` or
            ``NOT_BLESSED`` file.
        context: The run's context (its Beam pipeline options are used).
        baseline_model: A model to compare with, evaluated in the same pass.
            Left unwired, the runner resolves it to the latest blessed model of
            this pipeline from the metadata store (none on a first run); pass
            ``None`` for no comparison.
        split: The split to evaluate.
        slicing_specs: Slicings besides the overall one: a list of lists of feature
            names, e.g. ``[["trip_start_hour"], ["payment_type", "company"]]``.
        thresholds: Bounds on the overall metrics, e.g. ``{"auc": {"lower_bound":
            0.7, "change_vs_baseline": {"min_absolute": -0.01}}}``.
        metrics_module: A Python file whose public functions
            ``name(labels, predictions, weights) -> float`` are added metrics. Its
            content is part of the cache key.
        batch_size: Examples per call of the model.

    Returns:
        ``{"examples": n, "slices": n, "blessed": bool}`` and the overall
        ``accuracy``, ``auc``, ``log_loss`` (classification) or ``rmse``, ``mae``
        (regression), recorded on the execution.

    Raises:
        DefinitionError: A bad parameter (slicing specs, thresholds, metric names,
            metrics module, a slicing feature no example has) or a model whose
            ``evaluate`` signature breaks the contract. All but the slicing
            feature are found before any example is read.
        FileNotFoundError: A model without ``Format-Eval``, or a split without
            shards.
        InputDataError: The split holds no examples.

    Example:
        >>> from pipeline import Examples, Model, Output, component
        >>> @component
        ... def train(examples: Output[Examples], model: Output[Model]): ...
        >>> trainer = train()
        >>> evaluator = Evaluator(
        ...     examples=trainer.outputs["examples"],
        ...     model=trainer.outputs["model"],
        ...     slicing_specs=[["trip_start_hour"]],
        ...     thresholds={"auc": {"lower_bound": 0.7}},
        ... )
        >>> sorted(evaluator.outputs), evaluator.parameters["split"]
        (['blessing', 'evaluation'], 'eval')
    """
    from components.evaluator import job, report, slicing, user_metrics
    from components.evaluator import metrics as metrics_lib
    from components.evaluator import thresholds as thresholds_lib
    from components.evaluator.model import read_signature

    owner = f"Evaluator {context.component_id!r}"
    if batch_size < 1:
        raise DefinitionError(
            f"{owner}: batch_size must be at least 1, got {batch_size}."
        )
    specs = slicing.check_slicing_specs(owner, slicing_specs)
    checks = thresholds_lib.parse_thresholds(owner, thresholds)
    pattern = _split_pattern(owner, examples, split)
    signatures = {"model": read_signature(owner, "model", model)}
    if baseline_model is not None:
        signatures["baseline_model"] = read_signature(
            owner, "baseline_model", baseline_model
        )
        _check_comparable(owner, *signatures.values())
    signature = signatures["model"]
    user = (
        user_metrics.load_metrics(
            owner,
            metrics_module,
            reserved=metrics_lib.CLASSIFICATION_METRICS
            + metrics_lib.REGRESSION_METRICS,
        )
        if metrics_module
        else {}
    )
    available, unavailable = _available_metrics(signature, metrics_lib)
    thresholds_lib.check_metric_names(owner, checks, [*available, *user], unavailable)

    where = f"split {split!r} of {examples.uri}"
    context.log.info(
        "Evaluating %s on %s%s, slicing by %s",
        model.uri,
        where,
        f" against the baseline {baseline_model.uri}" if baseline_model else "",
        [list(spec) for spec in specs] or "nothing",
    )
    temp_dir = fs.join(evaluation.uri, _TEMP_DIR)
    try:
        found = job.run(
            job.EvalJob(
                pattern=pattern,
                models=signatures,
                specs=specs,
                batch_size=batch_size,
                metrics_module=metrics_module,
                temp_dir=temp_dir,
                log_name=context.log.name,
            ),
            context.beam_pipeline_args,
        )
    finally:
        fs.remove_tree(temp_dir)
    if found.examples == 0:
        raise InputDataError(
            f"{owner}: {where} holds no examples (its shards match {pattern} but are "
            f"empty); evaluate a split with examples."
        )
    context.log.info(
        "Evaluated %d examples of %s in %.1fs: %.0f examples/s, Beam start-up included",
        found.examples,
        where,
        found.seconds,
        found.examples / found.seconds,
    )
    if any(name not in found.slicing_features for spec in specs for name in spec):
        slicing.check_features_seen(
            owner, specs, found.slicing_features, job.feature_names(pattern), where
        )

    overall = {role: results[0].metrics for role, results in found.slices.items()}
    outcomes = thresholds_lib.evaluate(
        checks, overall["model"], overall.get("baseline_model")
    )
    blessed, reasons = thresholds_lib.blessing(outcomes)
    document = report.document(
        split=split,
        examples_uri=examples.uri,
        signatures=signatures,
        specs=specs,
        slices=found.slices,
        outcomes=outcomes,
        reasons=reasons,
    )
    report.write_metrics(evaluation.metrics_path, document)
    report.write_report(evaluation.report_path, document)
    blessing.blessed = blessed
    blessing.reasons = reasons
    fs.write_text(fs.join(blessing.uri, "BLESSED" if blessed else "NOT_BLESSED"), "")
    context.log.info(
        "%s: %s", "BLESSED" if blessed else "NOT BLESSED", "; ".join(reasons)
    )
    headline = report.clean(overall["model"])
    return {
        "examples": found.examples,
        "slices": len(document["slices"]),
        "blessed": blessed,
        **{
            name: headline[name]
            for name in _HEADLINE[signature.model_type]
            if name in headline
        },
    }


def _split_pattern(owner: str, examples: Examples, split: str) -> str:
    from components.stats import artifacts

    available = artifacts.artifact_splits(examples)
    if not available:
        raise FileNotFoundError(
            f"{owner}: the Examples artifact at {examples.uri} has no splits (no "
            f"split_names property and no Split-* folders). It must come from an "
            f"ExampleGen."
        )
    artifacts.choose_splits(owner, available, include=[split], include_param="split")
    pattern = fs.join(examples.split_uri(split), EXAMPLES_PATTERN)
    if not fs.glob(pattern):
        raise FileNotFoundError(
            f"{owner}: split {split!r} has no example files: nothing matches "
            f"{pattern}. Examples hold gzip TFRecord shards named "
            f"data-*.tfrecord.gz in each Split-<name> folder."
        )
    return pattern


def _check_comparable(owner: str, model: Any, baseline: Any) -> None:
    if model.model_type != baseline.model_type:
        raise DefinitionError(
            f"{owner}: model ({model.uri}) is a {model.model_type} model but "
            f"baseline_model ({baseline.uri}) is a {baseline.model_type} model; "
            f"compare models of one kind, or leave baseline_model out."
        )
    if None not in (model.classes, baseline.classes) and (
        model.classes != baseline.classes
    ):
        raise DefinitionError(
            f"{owner}: model ({model.uri}) has {model.classes} classes but "
            f"baseline_model ({baseline.uri}) has {baseline.classes}; their metrics "
            f"cannot be compared. Leave baseline_model out, or pass a baseline "
            f"trained on the same classes."
        )


def _available_metrics(signature: Any, metrics_lib: Any) -> tuple[list[str], dict]:
    """The built-in metrics computed for this model, and those that are not, why."""
    names = list(metrics_lib.metric_names(signature.model_type))
    unavailable = {}
    other = (
        metrics_lib.REGRESSION_METRICS
        if signature.model_type == "classification"
        else metrics_lib.CLASSIFICATION_METRICS
    )
    for name in other:
        if name not in names:
            unavailable[name] = (
                f"it is a metric of "
                f"{'regression' if signature.model_type == 'classification' else 'classification'} "
                f"models, and this is a {signature.model_type} model"
            )
    if signature.classes is not None and signature.classes > 2:
        for name in metrics_lib.BINARY_ONLY_METRICS:
            names.remove(name)
            unavailable[name] = (
                f"it is computed for binary classifiers only, and this model has "
                f"{signature.classes} classes"
            )
    if "weight" not in signature.outputs:
        names.remove("weighted_example_count")
        unavailable["weighted_example_count"] = (
            "the model's evaluate signature returns no 'weight'"
        )
    return names, unavailable
