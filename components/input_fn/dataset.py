"""tf.data input from Examples artifacts: datasets and the input_fns that make them.

The pipeline every builder makes, in order::

    shard files by worker (when there are enough files)
    -> shuffle the file list                        (training only)
    -> interleave TFRecord readers, in parallel
    -> shard records by worker (when there are too few files)
    -> shuffle records                              (training only)
    -> repeat for num_epochs
    -> batch, then parse the whole batch at once (tf.io.parse_example)
    -> split off the labels -> prefetch (AUTOTUNE)

Parsing a batch at once is several times faster than parsing records one by one (see
docs/input_fn.md for the figures).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pipeline import DefinitionError, Examples

ShardBy = Literal["auto", "file", "record"]

DEFAULT_BATCH_SIZE = 128
DEFAULT_SHUFFLE_BUFFER = 10_000
MAX_PARALLEL_READS = 8


def make_dataset(
    examples: Examples | str,
    *,
    split: str = "train",
    schema: Any = None,
    transform_graph: Any = None,
    feature_spec: Mapping[str, Any] | None = None,
    label_key: str | Sequence[str] | None = None,
    batch_size: int | None = None,
    global_batch_size: int | None = None,
    shuffle: bool = True,
    shuffle_buffer_size: int = DEFAULT_SHUFFLE_BUFFER,
    shuffle_seed: int | None = None,
    num_epochs: int | None = None,
    drop_remainder: bool = False,
    input_context: Any = None,
    shard_by: ShardBy = "auto",
    deterministic: bool | None = None,
    num_parallel_reads: int | None = None,
) -> Any:
    """A ``tf.data.Dataset`` of parsed batches from one split of an Examples artifact.

    Exactly one of ``schema`` (raw Examples), ``transform_graph`` (Transform's
    ``transformed_examples``) or ``feature_spec`` says how to parse.

    Args:
        examples: An ``Examples`` artifact or its URI.
        split: The split to read.
        schema: The raw schema (a ``Schema`` artifact, a ``schema.pbtxt`` path or
            a proto) for raw Examples.
        transform_graph: Transform's ``transform_graph`` (an artifact, its URI or a
            ``tft.TFTransformOutput``) for transformed Examples.
        feature_spec: A ``tf.io.parse_example`` feature spec to use instead.
        label_key: A feature to split off as the label: each element is then
            ``(features, label)``; a list of names gives ``(features, {name:
            label})``; None keeps ``features`` alone.
        batch_size: Examples per batch for each replica, as in tf.estimator: under a
            distribution strategy the global batch is ``batch_size`` times the
            replicas in sync. Default 128 (unless ``global_batch_size`` is given).
        global_batch_size: Instead of ``batch_size``: the batch over all replicas,
            divided by ``input_context.get_per_replica_batch_size``.
        shuffle: Shuffle the files and the records.
        shuffle_buffer_size: Records in the shuffle buffer.
        shuffle_seed: A seed for reproducible shuffling; None draws one.
        num_epochs: Passes over the data; None repeats forever (train by steps).
        drop_remainder: Drop the last batch when it is smaller than the others;
            default keep it.
        input_context: A ``tf.distribute.InputContext``: this input pipeline reads
            only its share of the data (see ``shard_by``).
        shard_by: ``"file"``: each pipeline reads every n-th file; ``"record"``:
            every pipeline reads every file, in a fixed order, and keeps every n-th
            record (the file list is then not shuffled; records still are, after
            sharding); ``"auto"`` (default): by file when there are at least as many
            files as pipelines, else by record.
        deterministic: Keep a stable element order (slower with parallel reads);
            default: True without shuffling or with a ``shuffle_seed`` (so a seed
            reproduces the order), False when shuffling without one.
        num_parallel_reads: Files read at once; default ``min(files, 8)``.

    Returns:
        The dataset; each element is ``features`` or ``(features, labels)``, where
        ``features`` maps names to ``Tensor`` / ``SparseTensor`` /
        ``RaggedTensor`` batches.

    Raises:
        DefinitionError: A bad argument: unknown split or label, batch sizes
            that do not fit, none or several of schema / transform_graph /
            feature_spec.
        FileNotFoundError: The split has no shards.

    Example:
        >>> import os, tempfile
        >>> import tensorflow as tf
        >>> from pipeline import Examples
        >>> examples = Examples(uri=tempfile.mkdtemp(), properties={"split_names": ["train"]})
        >>> os.makedirs(examples.split_uri("train"))
        >>> shard = examples.split_uri("train") + "/data-00000-of-00001.tfrecord.gz"
        >>> with tf.io.TFRecordWriter(shard, "GZIP") as writer:
        ...     for i in range(5):
        ...         x = tf.train.Feature(int64_list=tf.train.Int64List(value=[i]))
        ...         example = tf.train.Example(features=tf.train.Features(feature={"x": x}))
        ...         writer.write(example.SerializeToString())
        >>> spec = {"x": tf.io.FixedLenFeature([], tf.int64)}
        >>> dataset = make_dataset(examples, feature_spec=spec, batch_size=2,
        ...                        shuffle=False, num_epochs=1)
        >>> [batch["x"].numpy().tolist() for batch in dataset]
        [[0, 1], [2, 3], [4]]
    """
    import tensorflow as tf

    from components.input_fn import sources

    spec = sources.feature_spec(
        schema=schema, transform_graph=transform_graph, feature_spec=feature_spec
    )
    labels = _label_keys(label_key)
    sources.check_keys("label_key", labels, spec)
    per_replica = _per_replica_batch_size(batch_size, global_batch_size, input_context)
    if num_epochs is not None and (not isinstance(num_epochs, int) or num_epochs < 1):
        raise DefinitionError(
            f"num_epochs must be a positive int, or None to repeat forever; got "
            f"{num_epochs!r}."
        )
    if shard_by not in ("auto", "file", "record"):
        raise DefinitionError(
            f"shard_by must be 'auto', 'file' or 'record', got {shard_by!r}."
        )
    files = sources.split_files(examples, split)
    files, record_shard = _shard(files, input_context, shard_by)
    if deterministic is None:
        deterministic = not shuffle or shuffle_seed is not None
    compression = _compression(files)
    cycle = num_parallel_reads or min(len(files), MAX_PARALLEL_READS)
    # Sharding records needs every worker to read them in the same order: the files
    # in a fixed order, interleaved deterministically; shuffling comes after.
    ordered_reads = deterministic or record_shard is not None

    dataset = tf.data.Dataset.from_tensor_slices(files)
    if shuffle and len(files) > 1 and record_shard is None:
        dataset = dataset.shuffle(
            len(files), seed=shuffle_seed, reshuffle_each_iteration=True
        )
    parallel = {"num_parallel_calls": tf.data.AUTOTUNE} if cycle > 1 else {}
    if parallel:
        parallel["deterministic"] = ordered_reads
    dataset = dataset.interleave(
        lambda path: tf.data.TFRecordDataset(path, compression_type=compression),
        cycle_length=cycle,
        **parallel,
    )
    if record_shard is not None:
        dataset = dataset.shard(*record_shard)
    if shuffle:
        dataset = dataset.shuffle(
            shuffle_buffer_size, seed=shuffle_seed, reshuffle_each_iteration=True
        )
    if num_epochs != 1:
        dataset = dataset.repeat(num_epochs)
    dataset = dataset.batch(per_replica, drop_remainder=drop_remainder)
    dataset = dataset.map(
        _parse_fn(spec, labels, label_key),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=deterministic,
    )
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = deterministic
    if input_context is not None:
        # Sharded here already; a strategy must not shard it again.
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.OFF
        )
    return dataset.with_options(options)


def make_input_fn(examples: Examples | str, **kwargs: Any) -> Callable[..., Any]:
    """An ``input_fn(input_context=None)`` that returns ``make_dataset(...)``.

    The shape tf.estimator and this project's Estimator call: with no argument for
    one input pipeline, or with the ``tf.distribute.InputContext`` a strategy's
    ``distribute_datasets_from_function`` passes, which shards the data by worker
    and sets the per-replica batch.

    Args:
        examples: An ``Examples`` artifact or its URI.
        **kwargs: Any argument of ``make_dataset`` except ``input_context``.

    Raises:
        DefinitionError: As ``make_dataset``, checked when the input_fn is made.

    Example:
        >>> train_input_fn = make_input_fn(
        ...     "/runs/taxi/Transform/transformed_examples/4", split="train",
        ...     transform_graph="/runs/taxi/Transform/transform_graph/4",
        ...     label_key="big_tipper", batch_size=64)
        >>> train_input_fn.__name__  # nothing is read until it is called
        'input_fn'
    """
    if "input_context" in kwargs:
        raise DefinitionError(
            "make_input_fn: input_context is passed to the input_fn when it is "
            "called, not when it is made."
        )
    _label_keys(kwargs.get("label_key"))

    def input_fn(input_context: Any = None) -> Any:
        return make_dataset(examples, input_context=input_context, **kwargs)

    return input_fn


def make_eval_input_fn(
    examples: Examples | str,
    *,
    split: str = "eval",
    **kwargs: Any,
) -> Callable[..., Any]:
    """An input_fn for exact evaluation: one full pass, in a stable order.

    For an eval split of unknown size: no shuffling, one epoch, the last partial
    batch kept, and a deterministic read order, so every evaluation during training
    sees the same examples in the same order, each exactly once. Under a strategy
    each worker reads a disjoint share and the shares together are the whole split.

    Args:
        examples: An ``Examples`` artifact or its URI.
        split: The split to evaluate on.
        **kwargs: ``schema`` / ``transform_graph`` / ``feature_spec``,
            ``label_key``, ``batch_size``, ``global_batch_size``, ``shard_by``,
            ``num_parallel_reads``; the arguments that would break exactness
            (``shuffle``, ``num_epochs``, ``drop_remainder``, ``deterministic``)
            are refused.

    Raises:
        DefinitionError: An argument that would make the pass inexact.

    Example:
        >>> eval_input_fn = make_eval_input_fn(
        ...     "/runs/taxi/Transform/transformed_examples/4",
        ...     transform_graph="/runs/taxi/Transform/transform_graph/4",
        ...     label_key="big_tipper", batch_size=100)
    """
    refused = sorted(
        {"shuffle", "num_epochs", "drop_remainder", "deterministic"} & set(kwargs)
    )
    if refused:
        raise DefinitionError(
            f"make_eval_input_fn: {refused} cannot be set; an exact evaluation reads "
            f"every example once, in order. Use make_input_fn for anything else."
        )
    return make_input_fn(
        examples,
        split=split,
        shuffle=False,
        num_epochs=1,
        drop_remainder=False,
        deterministic=True,
        **kwargs,
    )


def _label_keys(label_key: str | Sequence[str] | None) -> list[str]:
    if label_key is None:
        return []
    if isinstance(label_key, str):
        return [label_key]
    keys = list(label_key)
    if not keys or not all(isinstance(k, str) for k in keys):
        raise DefinitionError(
            f"label_key must be a feature name, a non-empty list of them, or None; "
            f"got {label_key!r}."
        )
    return keys


def _per_replica_batch_size(
    batch_size: int | None, global_batch_size: int | None, input_context: Any
) -> int:
    if global_batch_size is not None:
        if batch_size is not None:
            raise DefinitionError(
                f"Pass batch_size (per replica) or global_batch_size, not both; got "
                f"batch_size={batch_size}, global_batch_size={global_batch_size}."
            )
        _check_positive("global_batch_size", global_batch_size)
        if input_context is None:
            return global_batch_size
        try:
            return input_context.get_per_replica_batch_size(global_batch_size)
        except ValueError:
            raise DefinitionError(
                f"global_batch_size={global_batch_size} cannot be split evenly over "
                f"{input_context.num_replicas_in_sync} replicas; use a multiple of "
                f"{input_context.num_replicas_in_sync}, or pass batch_size (per "
                f"replica)."
            ) from None
    if batch_size is None:
        return DEFAULT_BATCH_SIZE
    _check_positive("batch_size", batch_size)
    return batch_size


def _check_positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise DefinitionError(f"{name} must be a positive int, got {value!r}.")


def _shard(
    files: list[str], input_context: Any, shard_by: ShardBy
) -> tuple[list[str], tuple[int, int] | None]:
    """This pipeline's files, and (count, index) when records must be sharded."""
    if input_context is None or input_context.num_input_pipelines == 1:
        return files, None
    count, index = input_context.num_input_pipelines, input_context.input_pipeline_id
    if shard_by == "file" and len(files) < count:
        raise DefinitionError(
            f"shard_by='file' needs at least one file per input pipeline: "
            f"{len(files)} file(s) for {count} pipelines. Use shard_by='record' "
            f"(or 'auto'), or write more shards."
        )
    if shard_by == "record" or (shard_by == "auto" and len(files) < count):
        return files, (count, index)
    return files[index::count], None


def _compression(files: list[str]) -> str:
    gzipped = {f.endswith(".gz") for f in files}
    if len(gzipped) > 1:
        raise DefinitionError(
            f"The shards mix gzip (.gz) and uncompressed files: {files[:4]}...; "
            f"write them one way."
        )
    return "GZIP" if gzipped.pop() else ""


def _parse_fn(
    spec: Mapping[str, Any],
    labels: list[str],
    label_key: str | Sequence[str] | None,
) -> Callable[[Any], Any]:
    import tensorflow as tf

    spec = dict(spec)

    def parse(serialized: Any) -> Any:
        features = tf.io.parse_example(serialized, spec)
        if not labels:
            return features
        taken = {key: features.pop(key) for key in labels}
        if isinstance(label_key, str):
            return features, taken[label_key]
        return features, taken

    return parse
