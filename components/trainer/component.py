"""The Trainer component: the user's Estimator, trained and evaluated, exported twice."""

from __future__ import annotations

import os
from typing import Any

from pipeline import (
    DefinitionError,
    Examples,
    ExecutionContext,
    Input,
    Model,
    ModelRun,
    ModuleFile,
    Output,
    Parameter,
    Schema,
    TransformGraph,
    component,
    did_you_mean,
    fs,
    source_version,
)

SAMPLE_EXAMPLES = 16
CHECKPOINT_FORMAT = "Format-Checkpoint"
_RESULT_KEYS = ("estimator", "train_spec", "eval_spec", "serving_receiver_fn")


@component(name="Trainer", version=source_version("components.trainer"))
def Trainer(
    examples: Input[Examples],
    module_file: Parameter[ModuleFile],
    model: Output[Model],
    model_run: Output[ModelRun],
    context: ExecutionContext,
    schema: Input[Schema] = None,
    transform_graph: Input[TransformGraph] = None,
    base_model: Input[Model] = None,
    trainer_fn: str = "trainer_fn",
    label_key: str | None = None,
    raw_label_keys: list[str] | None = None,
    train_steps: int | None = None,
    train_epochs: int | None = None,
    eval_steps: int | None = None,
    batch_size: int = 128,
    hyperparameters: dict | None = None,
    custom_config: dict | None = None,
    distribution: str = "default",
    train_split: str = "train",
    eval_split: str = "eval",
) -> dict[str, Any]:
    """Trains and evaluates the Estimator that the user's ``trainer_fn`` builds.

    The module file defines ``trainer_fn(args)``; ``args`` is a ``TrainerArgs`` with
    the input functions, the run config (model_dir and strategy), the schema, the
    transform output and the parameters. It returns the Estimator alone — the
    Trainer then trains on ``args.train_input_fn`` for ``train_steps`` (or
    ``train_epochs``), evaluates on ``args.eval_input_fn`` and exports with
    ``args.serving_receiver_fn`` — or a dict with ``estimator`` and any of
    ``train_spec``, ``eval_spec`` and ``serving_receiver_fn`` to replace those.

    Training runs ``train_and_evaluate`` in ``model_run`` (checkpoints, TensorBoard
    logs). A Trainer whose process was killed continues from its newest checkpoint
    when the pipeline runs again with the same code, parameters and inputs.

    Args:
        examples: The Examples to train on: raw (give ``schema``) or Transform's
            ``transformed_examples`` (give ``transform_graph``).
        module_file: The Python file defining ``trainer_fn``; its content is part of
            the cache key.
        model: ``Format-Serving/`` (serialized raw tf.Example in, the transform
            applied inside), ``Format-Eval/`` (the same plus the label, for the
            Evaluator), ``Format-Checkpoint/`` (the final checkpoint, to warm-start
            a later model) and, for raw examples, ``samples/`` (a few eval examples
            for smoke tests).
        model_run: The model_dir: checkpoints and TensorBoard event files.
        context: The run's context.
        schema: The raw schema (SchemaGen's output).
        transform_graph: Transform's output, when training on transformed examples.
        base_model: A Model whose final checkpoint becomes ``args.warm_start_from``.
        trainer_fn: The name of the function in ``module_file``.
        label_key: The label feature (of the examples trained on). The Trainer
            builds the input functions and the evaluation model with it.
        raw_label_keys: Raw features serving requests do not carry: default
            ``[label_key]`` for raw examples; required when the label is made by
            the transform (e.g. ``["tips"]`` for the taxi's ``big_tipper``).
        train_steps: The global step to train to (this run and any resumed one).
        train_epochs: Instead of ``train_steps``: passes over the train split.
        eval_steps: Batches per evaluation; None evaluates the whole eval split.
        batch_size: Examples per batch and replica for the built input functions.
        hyperparameters: Free-form values for ``trainer_fn`` (in the cache key).
        custom_config: More free-form values for ``trainer_fn`` (in the cache key).
        distribution: ``default``, ``mirrored`` (the local devices),
            ``multi_worker_mirrored`` or ``parameter_server`` (clusters from
            ``TF_CONFIG``), or ``tf_config`` (whichever ``TF_CONFIG`` describes).
        train_split: The split trained on.
        eval_split: The split evaluated on.

    Returns:
        ``{"global_step", "resumed_from_step", "eval": {metric: value},
        "distribution", "replicas", "model_type"}``, recorded on the execution.

    Raises:
        DefinitionError: Bad parameters, a module without ``trainer_fn``, a result
            of the wrong shape, or an Estimator whose model_dir is not
            ``args.model_dir``; each message says how to fix it.

    Example:
        >>> from pipeline import Examples, Output, Schema, component
        >>> @component
        ... def make_examples(examples: Output[Examples], schema: Output[Schema]): ...
        >>> gen = make_examples()
        >>> trainer = Trainer(examples=gen.outputs["examples"],
        ...                   schema=gen.outputs["schema"], module_file="iris_module.py",
        ...                   label_key="variety", train_steps=500)
        >>> sorted(trainer.outputs)
        ['model', 'model_run']
    """
    from components.trainer import args as args_module
    from components.trainer import strategy as strategies

    owner = f"Trainer {context.component_id!r}"
    strategies.check_distribution(owner, distribution)
    _check_lengths(owner, train_steps, train_epochs, eval_steps, batch_size)
    if schema is None and transform_graph is None:
        raise DefinitionError(
            f"{owner}: give schema= (raw examples) or transform_graph= (Transform's "
            f"transformed_examples) so the examples can be parsed."
        )
    user_fn = _load_trainer_fn(owner, module_file, trainer_fn)

    import tensorflow as tf

    from components import input_fn as inputs
    from components.trainer import estimator as tf_estimator
    from components.trainer.estimator import checkpoints

    strategy, kind = strategies.make_strategy(owner, distribution)
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    tft_output = (
        inputs.transform_output(transform_graph)
        if transform_graph is not None
        else None
    )
    parsing = (
        {"transform_graph": tft_output}
        if tft_output is not None
        else {"schema": schema.schema_path}
    )
    raw_spec = _raw_spec(owner, schema, tft_output)
    if label_key is not None:
        from components.trainer.eval_model import label_source

        label_source(owner, label_key, raw_spec, tft_output)
    excluded = _raw_label_keys(owner, label_key, raw_label_keys, raw_spec, tft_output)
    train_files = inputs.split_files(examples, train_split)
    eval_files = inputs.split_files(examples, eval_split)
    run_config = tf_estimator.RunConfig(
        model_dir=model_run.uri,
        train_distribute=strategy,
        save_checkpoints_secs=60,
        steps_per_loop=20,
        log_step_count_steps=100,
    )
    train_input_fn = eval_input_fn = None
    if label_key is not None:
        train_input_fn = inputs.make_input_fn(
            examples,
            split=train_split,
            label_key=label_key,
            batch_size=batch_size,
            num_epochs=train_epochs,
            **parsing,
        )
        eval_input_fn = inputs.make_eval_input_fn(
            examples,
            split=eval_split,
            label_key=label_key,
            batch_size=batch_size,
            **parsing,
        )
    serving_receiver_fn = inputs.build_parsing_serving_input_receiver_fn(
        raw_spec, transform_graph=tft_output, label_keys=excluded
    )
    args = args_module.TrainerArgs(
        examples_uri=examples.uri,
        train_split=train_split,
        eval_split=eval_split,
        train_files=train_files,
        eval_files=eval_files,
        schema_path=schema.schema_path if schema is not None else None,
        transform_graph_uri=transform_graph.uri
        if transform_graph is not None
        else None,
        label_key=label_key,
        train_steps=train_steps,
        train_epochs=train_epochs,
        eval_steps=eval_steps,
        batch_size=batch_size,
        hyperparameters=dict(hyperparameters or {}),
        custom_config=dict(custom_config or {}),
        model_dir=model_run.uri,
        serving_model_dir=model.serving_model_dir,
        warm_start_from=_warm_start_dir(owner, base_model),
        run_config=run_config,
        strategy=strategy,
        train_input_fn=train_input_fn,
        eval_input_fn=eval_input_fn,
        serving_receiver_fn=serving_receiver_fn,
        replicas=replicas,
    )
    built = _normalize_result(owner, trainer_fn, user_fn(args), args, tf_estimator)
    estimator = built["estimator"]
    start = checkpoints.latest_checkpoint(model_run.uri)
    resumed_from = checkpoints.checkpoint_step(start) if start else 0
    if resumed_from:
        context.log.info("Resuming from the checkpoint of step %d", resumed_from)
    context.log.info(
        "Training %s (%s, %d replica(s)) to %s in %s",
        type(estimator).__name__,
        kind,
        replicas,
        f"step {train_steps}" if train_steps else f"{train_epochs} epoch(s)",
        model_run.uri,
    )
    eval_result, _ = tf_estimator.train_and_evaluate(
        estimator, built["train_spec"], built["eval_spec"]
    )
    _export(estimator, built["serving_receiver_fn"], model)
    latest = checkpoints.latest_checkpoint(model_run.uri)
    _copy_checkpoint(latest, fs.join(model.uri, CHECKPOINT_FORMAT))
    from components.trainer import eval_model

    serving = tf.saved_model.load(model.serving_model_dir)
    predictions = eval_model.predict_signature(serving).structured_outputs
    model_type = "classification" if "probabilities" in predictions else "regression"
    if label_key is not None:
        outputs = eval_model.export_eval_model(
            serving,
            model.eval_model_dir,
            label_key=label_key,
            raw_spec=raw_spec,
            tft_output=tft_output,
        )
        context.log.info("Evaluation model in %s: %s", model.eval_model_dir, outputs)
        model.label_key = label_key
    if tft_output is None:
        _write_samples(eval_files, model.sample_examples_path)
    model.model_type = model_type
    model.signatures = sorted(serving.signatures)
    step = checkpoints.checkpoint_step(latest)
    metrics = {k: _number(v) for k, v in (eval_result or {}).items()}
    context.log.info("Trained to step %d; evaluation: %s", step, metrics)
    return {
        "global_step": step,
        "resumed_from_step": resumed_from,
        "eval": metrics,
        "distribution": kind,
        "replicas": replicas,
        "model_type": model_type,
    }


def _check_lengths(owner, train_steps, train_epochs, eval_steps, batch_size) -> None:
    if (train_steps is None) == (train_epochs is None):
        raise DefinitionError(
            f"{owner}: give exactly one of train_steps (the global step to train "
            f"to) and train_epochs (passes over the train split); got train_steps="
            f"{train_steps!r}, train_epochs={train_epochs!r}."
        )
    for name, value in (
        ("train_steps", train_steps),
        ("train_epochs", train_epochs),
        ("eval_steps", eval_steps),
        ("batch_size", batch_size),
    ):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise DefinitionError(
                f"{owner}: {name} must be a whole number of at least 1; got {value!r}."
            )


def _load_trainer_fn(owner: str, module_file: str, name: str) -> Any:
    from components.transform.user_module import (
        functions_defined_in,
        import_user_module,
    )

    module = import_user_module(owner, module_file, f"{name}(args)")
    found = getattr(module, name, None)
    if not callable(found):
        defined = functions_defined_in(module)
        raise DefinitionError(
            f"{owner}: module_file {module.__file__} has no function {name!r}."
            f"{did_you_mean(name, defined)} It defines: {defined or 'no functions'}. "
            f"Define {name}(args) returning an Estimator (or a dict with 'estimator' "
            f"and optionally {list(_RESULT_KEYS[1:])}), or pass trainer_fn=<name>."
        )
    return found


def _raw_spec(owner: str, schema: Any, tft_output: Any) -> dict[str, Any]:
    from components import input_fn as inputs

    if schema is not None:
        return inputs.raw_feature_spec(schema.schema_path)
    try:
        return dict(tft_output.raw_feature_spec())
    except (OSError, ValueError) as exc:
        raise DefinitionError(
            f"{owner}: the transform graph has no raw schema beside it ({exc}); pass "
            f"schema= (SchemaGen's output) as well."
        ) from exc


def _raw_label_keys(owner, label_key, raw_label_keys, raw_spec, tft_output) -> list:
    if raw_label_keys is not None:
        unknown = [key for key in raw_label_keys if key not in raw_spec]
        if unknown:
            raise DefinitionError(
                f"{owner}: raw_label_keys {unknown} are not raw features."
                f"{did_you_mean(unknown[0], raw_spec)} Raw features: {sorted(raw_spec)}."
            )
        return list(raw_label_keys)
    if label_key is None or label_key not in raw_spec:
        if label_key is not None and tft_output is not None:
            raise DefinitionError(
                f"{owner}: label_key {label_key!r} is made by the transform; name the "
                f"raw feature(s) it comes from with raw_label_keys=[...] (serving "
                f"requests do not carry them), e.g. raw_label_keys=['tips']."
            )
        return []
    return [label_key]


def _warm_start_dir(owner: str, base_model: Any) -> str | None:
    if base_model is None:
        return None
    folder = fs.join(base_model.uri, CHECKPOINT_FORMAT)
    if not fs.exists(folder):
        raise DefinitionError(
            f"{owner}: base_model {base_model.uri} has no {CHECKPOINT_FORMAT} folder "
            f"to warm-start from; pass a Model written by a Trainer."
        )
    return folder


def _normalize_result(owner, name, result, args, tf_estimator) -> dict[str, Any]:
    if isinstance(result, tf_estimator.Estimator):
        result = {"estimator": result}
    if not isinstance(result, dict) or "estimator" not in result:
        raise DefinitionError(
            f"{owner}: {name}(args) must return an Estimator or a dict with an "
            f"'estimator'; got {type(result).__name__} {str(result)[:80]}."
        )
    unknown = sorted(set(result) - set(_RESULT_KEYS))
    if unknown:
        raise DefinitionError(
            f"{owner}: {name}(args) returned unknown key(s) {unknown}."
            f"{did_you_mean(unknown[0], _RESULT_KEYS)} Known: {list(_RESULT_KEYS)}."
        )
    estimator = result["estimator"]
    if not isinstance(estimator, tf_estimator.Estimator):
        raise DefinitionError(
            f"{owner}: {name}(args)['estimator'] must be an Estimator; got "
            f"{type(estimator).__name__}."
        )
    if os.path.abspath(str(estimator.model_dir)) != os.path.abspath(args.model_dir):
        raise DefinitionError(
            f"{owner}: the Estimator's model_dir is {estimator.model_dir}, not "
            f"args.model_dir ({args.model_dir}). Build it with "
            f"config=args.run_config (or model_dir=args.model_dir), so that "
            f"checkpoints land in the ModelRun artifact and a killed run resumes."
        )
    built = dict(result)
    if "train_spec" not in built or "eval_spec" not in built:
        if args.label_key is None:
            missing = [k for k in ("train_spec", "eval_spec") if k not in built]
            raise DefinitionError(
                f"{owner}: without label_key the Trainer cannot build input "
                f"functions; give label_key=..., or return {missing} from {name}."
            )
    built.setdefault(
        "train_spec",
        tf_estimator.TrainSpec(args.train_input_fn, max_steps=args.train_steps),
    )
    built.setdefault(
        "eval_spec",
        tf_estimator.EvalSpec(
            args.eval_input_fn, steps=args.eval_steps, start_delay_secs=0
        ),
    )
    built.setdefault("serving_receiver_fn", args.serving_receiver_fn)
    return built


def _export(estimator: Any, receiver_fn: Any, model: Model) -> None:
    base = fs.join(model.uri, ".export")
    exported = estimator.export_saved_model(base, receiver_fn)
    if isinstance(exported, bytes):
        exported = exported.decode()
    fs.rename(exported, model.serving_model_dir)
    fs.remove_tree(base)


def _copy_checkpoint(checkpoint: str, folder: str) -> None:
    """Copies one checkpoint (its files and a ``checkpoint`` state file) to folder."""
    import tensorflow as tf

    fs.makedirs(folder)
    prefix = os.path.basename(checkpoint)
    for path in tf.io.gfile.glob(checkpoint + ".*"):
        tf.io.gfile.copy(path, fs.join(folder, os.path.basename(path)), overwrite=True)
    fs.write_text(
        fs.join(folder, "checkpoint"),
        f'model_checkpoint_path: "{prefix}"\nall_model_checkpoint_paths: "{prefix}"\n',
    )


def _write_samples(files: list[str], path: str) -> None:
    import tensorflow as tf

    fs.makedirs(path.rsplit("/", 1)[0])
    records = tf.data.TFRecordDataset(files, compression_type="GZIP").take(
        SAMPLE_EXAMPLES
    )
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record.numpy())


def _number(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
